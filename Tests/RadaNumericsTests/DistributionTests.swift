import Foundation
import Testing
@testable import RadaNumerics

@Suite("Kernels: entropy, argmax, top-k, row softmax")
struct DistributionTests {
    @Test("entropy of a uniform K-vector is log K; of a one-hot, 0; zeros contribute nothing")
    func entropyOfProbabilities() {
        let uniform = [Float](repeating: 0.25, count: 4)
        let oneHot: [Float] = [0, 1, 0], halves: [Float] = [0.5, 0, 0.5]
        let (ln4, ln2) = (Float(log(4.0)), Float(log(2.0)))
        #expect(abs(Kernels.entropy(probabilities: uniform) - ln4) < 1e-6)
        #expect(Kernels.entropy(probabilities: oneHot) == 0)
        // -(0.5 ln 0.5 + 0.5 ln 0.5) = ln 2
        #expect(abs(Kernels.entropy(probabilities: halves) - ln2) < 1e-6)
    }

    @Test("entropy from logits equals the entropy of their softmax, also at large logits")
    func entropyOfLogits() {
        let logits: [Float] = [3, -1, 0.5, 2]
        let p: [Double] = Kernels.softmax(logits: logits)
        let direct: Double = -p.reduce(0.0) { $0 + $1 * log($1) }
        let shifted: [Float] = logits.map { $0 + 1000 }
        let total: Double = p.reduce(0, +)
        #expect(abs(Kernels.entropy(logits: logits) - direct) < 1e-12)
        // Shifting every logit by 1000 changes nothing and overflows nothing.
        #expect(abs(Kernels.entropy(logits: shifted) - direct) < 1e-9)
        #expect(abs(total - 1) < 1e-12)
        let flat: [Double] = Kernels.softmax(logits: [Float](repeating: 88, count: 3))
        let third: Double = 1.0 / 3
        #expect(flat == [third, third, third])
    }

    @Test("argmax takes the first of equal maxima (torch's rule) and counts from the slice's start")
    func argmax() {
        let ties: [Float] = [1, 5, 5, 2]
        let ids: [Int] = [3, 49406, 12, 49407, 0]
        #expect(Kernels.argmax(ties) == 1)
        let values: [Float] = [9, 9, 1, 7, 7]
        #expect(Kernels.argmax(values[2...]) == 1, "position within the slice, not the array")
        #expect(Kernels.argmax(ids) == 3, "token ids: the end-of-text id")
    }

    @Test("top-k: largest first, ties by lower position, k clipped to the count")
    func topK() {
        let values: [Float] = [0.1, 0.4, 0.4, 0.05, 0.05]
        #expect(Kernels.topK(values, 3) == [1, 2, 0])
        #expect(Kernels.topK(values, 10) == [1, 2, 0, 3, 4])
        #expect(Kernels.topK(values[1...], 2) == [0, 1])
        #expect(Kernels.topK(values, 0).isEmpty)
    }
}
