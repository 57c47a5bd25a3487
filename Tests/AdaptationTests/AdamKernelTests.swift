import Foundation
import Testing
@testable import Adaptation
import RadaNumerics

/// The optimiser's Adam / AdamW update runs in vector lanes (`rada_adam_update`, one clone per
/// CPU family); these hold it to the scalar loop it replaced, bit for bit.
@Suite("Adam in vector lanes")
struct AdamKernelTests {
    /// The scalar update, written out as the optimiser wrote it (Float, left to right, no fused
    /// multiply-add), with its bounds.
    static func reference(_ theta: inout [Float], _ grad: [Float], _ m: inout [Float], _ v: inout [Float], _ range: Range<Int>,
                          _ s: Kernels.AdamStep) {
        for i in range {
            if s.decoupled != 1 { theta[i] *= s.decoupled }
            var g = grad[i]
            if s.coupled != 0 { g += s.coupled * theta[i] }
            m[i] = min(max(m[i] + (g - m[i]) * s.oneMinusB1, -s.firstMomentBound), s.firstMomentBound)
            v[i] = min(v[i] * s.b2 + s.oneMinusB2 * g * g, s.secondMomentBound)
            let denominator = v[i].squareRoot() / s.rootCorrection + s.eps
            theta[i] = min(max(theta[i] - s.stepSize * m[i] / denominator, -s.parameterBound), s.parameterBound)
        }
    }

    @Test("every length, offset, decay and bound: the same bits as the scalar loop",
          arguments: [(Float(1), Float(0)), (0.9993, 0), (1, 0.02), (0.97, 0.5)])
    func sameBits(decay: (decoupled: Float, coupled: Float)) {
        var generator = SeededGenerator(seed: 7)
        for n in [1, 7, 15, 16, 17, 31, 33, 64, 100, 1031] {
            for offset in [0, 1, 5] {
                let count = n + offset + 3
                // Magnitudes from 1e-30 to 1e3, some at or past the bounds below.
                func values(_ scale: ClosedRange<Float>) -> [Float] {
                    (0..<count).map { _ in Float.random(in: -1...1, using: &generator) * pow(10, Float.random(in: scale, using: &generator)) }
                }
                var theta = values(-3...2), m = values(-30...1), v = values(-30...2).map(abs)
                let grad = values(-20...2)
                theta[offset] = 2e3  // past the parameter bound below
                m[offset + n - 1] = -5e2
                let step = Kernels.AdamStep(
                    decoupled: decay.decoupled, coupled: decay.coupled, oneMinusB1: 0.1, b2: 0.999, oneMinusB2: 1 - 0.999,
                    rootCorrection: 0.3, eps: 1e-8, stepSize: 1e-2, parameterBound: 1e3, firstMomentBound: 2e2, secondMomentBound: 1e3)
                var (rt, rm, rv) = (theta, m, v)
                Self.reference(&rt, grad, &rm, &rv, offset..<(offset + n), step)
                theta.withUnsafeMutableBufferPointer { t in
                    m.withUnsafeMutableBufferPointer { mp in
                        v.withUnsafeMutableBufferPointer { vp in
                            grad.withUnsafeBufferPointer { g in
                                Kernels.adamUpdate(parameters: t.baseAddress! + offset, gradient: g.baseAddress! + offset, firstMoment: mp.baseAddress! + offset,
                                                   secondMoment: vp.baseAddress! + offset, count: n, step: step)
                            }
                        }
                    }
                }
                #expect(theta.map(\.bitPattern) == rt.map(\.bitPattern), "θ, n = \(n), offset \(offset)")
                #expect(m.map(\.bitPattern) == rm.map(\.bitPattern), "m, n = \(n), offset \(offset)")
                #expect(v.map(\.bitPattern) == rv.map(\.bitPattern), "v, n = \(n), offset \(offset)")
                #expect(theta.allSatisfy { abs($0) <= 1e3 } && m.allSatisfy { abs($0) <= 2e2 } && v.allSatisfy { $0 <= 1e3 }, "held within the bounds")
            }
        }
    }

    @Test("the optimiser's Float steps equal its Double path's rule in Float: AdamW with a partial decay, Adam with L2")
    func optimiserUsesTheKernel() {
        // Float and Double run the same rule; the Float path goes through the kernel, so a Float
        // state stepped a few times stays within Float rounding of the Double one.
        for settings in [OptimizerSettings(kind: .adamW, weightDecay: 5), OptimizerSettings(kind: .adam, weightDecay: 0.01)] {
            var generator = SeededGenerator(seed: 3)
            let count = 300
            var pf = (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }
            var pd = pf.map(Double.init)
            var sf = OptimizerState<Float>(parameterCount: count, settings: settings)
            var sd = OptimizerState<Double>(parameterCount: count, settings: settings)
            for _ in 0..<5 {
                let g = (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }
                sf.apply(settings, learningRate: 1e-3, parameters: &pf, gradient: g, images: 4, partialDecay: ([10..<50], 0.25))
                sd.apply(settings, learningRate: 1e-3, parameters: &pd, gradient: g.map(Double.init), images: 4, partialDecay: ([10..<50], 0.25))
            }
            let worst = zip(pf, pd).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst < 1e-5, "\(settings.kind): worst |Float − Double| \(worst)")
            #expect(sf.step == 5)
        }
    }
}
