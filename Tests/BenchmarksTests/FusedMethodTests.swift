import Foundation
import RadaNumerics
import Testing
@testable import Benchmarks

@Suite("Fused methods: adjustments of zero-shot added")
struct FusedMethodTests {
    typealias D = DOTAMethodTests

    @Test("zero-shot fused with DOTA is DOTA; DOTA fused with itself doubles its adjustment; reset resets both")
    func fusion() throws {
        let (text, images, s): (Matrix, Matrix, Float) = (D.text, D.images, 20)
        let zeroShot = try ZeroShotMethod.logits(images, text, s)
        var alone = try DOTAMethod(textEmbeddings: text, logitScale: s)
        var withZeroShot = FusedMethod(ZeroShotMethod(textEmbeddings: text, logitScale: s), try DOTAMethod(textEmbeddings: text, logitScale: s),
                                       textEmbeddings: text, logitScale: s)
        var doubled = FusedMethod(try DOTAMethod(textEmbeddings: text, logitScale: s), try DOTAMethod(textEmbeddings: text, logitScale: s),
                                  textEmbeddings: text, logitScale: s)
        #expect(doubled.name == "dota+dota")
        for round in 0..<2 {
            let reference = try alone.process(features: images, labels: [])
            let fused = try withZeroShot.process(features: images, labels: [])
            let twice = try doubled.process(features: images, labels: [])
            for i in reference.storage.indices {
                #expect(abs(fused.storage[i] - reference.storage[i]) < 1e-5, "round \(round), logit \(i)")
                let expected = zeroShot.storage[i] + 2 * (reference.storage[i] - zeroShot.storage[i])
                #expect(abs(twice.storage[i] - expected) < 1e-4, "round \(round), logit \(i)")
            }
            // DOTA has learnt from the batch: the second round's logits differ from the first's.
            if round == 0 { #expect(try alone.process(features: images, labels: []) != reference) }
            alone.reset()
            withZeroShot.reset()
            doubled.reset()
        }
    }
}
