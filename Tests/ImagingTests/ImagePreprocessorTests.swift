import Imaging
import Foundation
import Testing

@Suite struct ImagePreprocessorTests {
    /// Compared with transformers' CLIPImageProcessor output. Tolerance 1e-5 on normalised
    /// values; the implementation is meant to be bit-exact, so the count of differing values is
    /// also required to be 0 (the 224 configs are stored on every 4th row and column).
    @Test(arguments: ImageManifest.shared.preprocess)
    func matchesCLIPImageProcessor(_ entry: ImageManifest.Preprocess) throws {
        let preprocessor = try ImagePreprocessor(huggingFaceConfig: ImageFixture.data(entry.config))
        let image = try ImageDecoder.decode(ImageFixture.data(entry.image))
        let values = preprocessor.pixelValues(image)
        #expect([3, preprocessor.cropSize, preprocessor.cropSize] == entry.shape)
        let side = preprocessor.cropSize
        var sampled: [Float] = []
        for c in 0..<3 {
            for y in stride(from: 0, to: side, by: entry.stride) {
                for x in stride(from: 0, to: side, by: entry.stride) { sampled.append(values[(c * side + y) * side + x]) }
            }
        }
        let expected = try ImageFixture.floats(entry.values)
        #expect(sampled.count == expected.count)
        let diffs = zip(sampled, expected).map { abs($0 - $1) }
        let maxDiff = diffs.max() ?? 0
        let differing = diffs.filter { $0 != 0 }.count
        #expect(maxDiff <= 1e-5, "max |diff| \(maxDiff)")
        #expect(differing == 0, "\(differing) of \(expected.count) values differ, max \(maxDiff)")
    }

    /// `Image.resize(size, BICUBIC)` references: tolerance 0 (bit-exact), in both pass orders.
    @Test(arguments: ImageManifest.shared.resize)
    func resizesLikePillow(_ entry: ImageManifest.Resize) throws {
        let image = try ImageDecoder.decode(ImageFixture.data(entry.image))
        let resized = image.resizedBicubic(width: entry.width, height: entry.height)
        let expected = try [UInt8](ImageFixture.data(entry.rgb))
        #expect(resized.width == entry.width && resized.height == entry.height)
        let differing = zip(resized.pixels, expected).filter { $0 != $1 }.count
        #expect(resized.pixels.count == expected.count)
        #expect(differing == 0, "\(differing) of \(expected.count) bytes differ")
    }

    @Test func resizeSizesFollowTransformers() {
        let p = ImagePreprocessor(resizeShortestEdge: 224, cropSize: 224,
                                  mean: ImagePreprocessor.openAIMean, std: ImagePreprocessor.openAIStd)
        #expect(p.resizedSize(width: 50, height: 37) == (302, 224))  // int(224 * 50 / 37) = int(302.7)
        #expect(p.resizedSize(width: 37, height: 50) == (224, 302))
        #expect(p.resizedSize(width: 28, height: 28) == (224, 224))
        #expect(p.resizedSize(width: 3, height: 7) == (224, 522))    // int(522.67)
        #expect(p.resizedSize(width: 640, height: 480) == (298, 224)) // int(298.67)
        #expect(p.resizedSize(width: 1, height: 1) == (224, 224))
    }

    @Test func batchIsTheConcatenationOfSingles() throws {
        let p = ImagePreprocessor(resizeShortestEdge: 32, cropSize: 32,
                                  mean: ImagePreprocessor.openAIMean, std: ImagePreprocessor.openAIStd)
        let images = try ["png_rgb.png", "png_1x1.png", "jpeg_gray.jpg"].map {
            try ImageDecoder.decode(ImageFixture.data($0))
        }
        let batch = p.pixelValues(images)
        #expect(batch.count == 3 * p.valuesPerImage)
        #expect(batch == images.flatMap { p.pixelValues($0) })
        #expect(p.pixelValues([]).isEmpty)
    }

    @Test func onePixelImagePreprocessesToAConstantPlane() {
        let p = ImagePreprocessor(resizeShortestEdge: 224, cropSize: 224,
                                  mean: ImagePreprocessor.openAIMean, std: ImagePreprocessor.openAIStd)
        let values = p.pixelValues(RGBImage(width: 1, height: 1, pixels: [200, 30, 90]))
        #expect(values.count == 3 * 224 * 224)
        for (c, v) in [200, 30, 90].enumerated() {
            let plane = values[(c * 224 * 224)..<((c + 1) * 224 * 224)]
            let expected = (Float(Double(v) / 255) - ImagePreprocessor.openAIMean[c]) / ImagePreprocessor.openAIStd[c]
            #expect(plane.allSatisfy { abs($0 - expected) <= 1e-6 })
        }
    }

    @Test func cropPadsWithZerosWhenTheImageIsSmaller() {
        // 4x2 image, shortest edge 2 (no resize), crop 4: rows -1 and 2 of the crop are padding;
        // columns fit exactly. transformers pads ceil((4-2)/2) = 1 row on top.
        let pixels = (0..<(4 * 2 * 3)).map { UInt8(10 + $0) }
        let p = ImagePreprocessor(resizeShortestEdge: 2, cropSize: 4, mean: [0, 0, 0], std: [1, 1, 1])
        let cropped = p.resizedAndCropped(RGBImage(width: 4, height: 2, pixels: pixels))
        #expect(cropped.pixels[0..<12].allSatisfy { $0 == 0 })
        #expect(Array(cropped.pixels[12..<36]) == pixels)
        #expect(cropped.pixels[36..<48].allSatisfy { $0 == 0 })
    }

    @Test func parsesHuggingFaceConfigs() throws {
        let openAI = try ImagePreprocessor(huggingFaceConfig: Data("""
            {"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
             "feature_extractor_type": "CLIPFeatureExtractor",
             "image_mean": [0.48145466, 0.4578275, 0.40821073],
             "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}
            """.utf8))
        #expect(openAI == ImagePreprocessor(resizeShortestEdge: 224, cropSize: 224,
                                            mean: ImagePreprocessor.openAIMean, std: ImagePreprocessor.openAIStd))
        let defaults = try ImagePreprocessor(huggingFaceConfig: Data("{}".utf8))
        #expect(defaults == openAI)
        let scalar = try ImagePreprocessor(huggingFaceConfig: Data("""
            {"size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336},
             "image_mean": 0.5, "image_std": 0.5, "do_rescale": false}
            """.utf8))
        #expect(scalar.resizeShortestEdge == 336 && scalar.cropSize == 336)
        #expect(scalar.mean == [0.5, 0.5, 0.5] && scalar.std == [0.5, 0.5, 0.5])
        #expect(scalar.rescaleFactor == 1)
        let raw = try ImagePreprocessor(huggingFaceConfig: Data(#"{"do_normalize": false, "do_center_crop": false}"#.utf8))
        #expect(raw.mean == [0, 0, 0] && raw.std == [1, 1, 1] && !raw.centerCrops)
    }

    @Test func refusesConfigsItCannotHonour() {
        let cases: [(String, ImagePreprocessorConfigError)] = [
            (#"[1, 2]"#, .notJSONObject),
            (#"{"resample": 2}"#, .unsupported(key: "resample", reason: "2; only 3 (bicubic) is implemented")),
            (#"{"crop_size": {"height": 224, "width": 200}}"#,
             .unsupported(key: "crop_size", reason: "224x200; only square crops are implemented")),
            (#"{"image_std": [1, 0, 1]}"#, .invalidValue(key: "image_std", reason: "channel 1 is zero")),
        ]
        for (json, expected) in cases {
            #expect(throws: expected) { try ImagePreprocessor(huggingFaceConfig: Data(json.utf8)) }
        }
        #expect(throws: ImagePreprocessorConfigError.self) {
            try ImagePreprocessor(huggingFaceConfig: Data(#"{"size": {"height": 224, "width": 224}}"#.utf8))
        }
    }
}
