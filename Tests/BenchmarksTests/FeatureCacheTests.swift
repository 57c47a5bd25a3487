import Foundation
import RadaNumerics
import Testing
@testable import Benchmarks

@Suite("Feature cache and bench sources")
struct FeatureCacheTests {
    @Test("each (source, item) is embedded once; later batches and rounds reuse the rows in order")
    func embedsOnce() throws {
        var cache = FeatureCache(dimension: 2)
        var computed: [[StreamItem]] = []
        func embed(_ items: [StreamItem]) -> Matrix {
            computed.append(items)
            return Matrix(rows: items.count, cols: 2, storage: items.flatMap { [Float($0.index), Float($0.severity)] })
        }
        let items = (0..<4).map { StreamItem(index: $0, corruption: .gaussianNoise, severity: 3) }
        let domain = StreamDomain(name: "gaussian_noise", resetsBefore: true, items: items)
        let first = try cache.features(for: domain, batch: items[0..<2], compute: embed)
        #expect(first.features.storage == [0, 3, 1, 3])
        // A batch overlapping the first: only the new items reach the backbone.
        let second = try cache.features(for: domain, batch: items[1..<4], compute: embed)
        #expect(second.features.storage == [1, 3, 2, 3, 3, 3])
        #expect(computed.map { $0.map(\.index) } == [[0, 1], [2, 3]])
        // A later round of the same domain costs no backbone time at all.
        let again = try cache.features(for: StreamDomain(name: "gaussian_noise", round: 1, resetsBefore: false, items: items), batch: items[0..<4], compute: embed)
        #expect(again.backboneSeconds == 0 && computed.count == 2)
        // Another source's item 0 is another image.
        _ = try cache.features(for: StreamDomain(name: "other", source: 1, resetsBefore: true, items: items), batch: items[0..<1], compute: embed)
        #expect(computed.count == 3)
    }

    @Test("unknown datasets and splits are refused with the names that work")
    func unknownSources() {
        #expect(throws: DatasetError.unknown("dataset \"imagenet\": give fashion-mnist, folder:PATH or domains:PATH")) {
            try BenchSource(dataset: "imagenet", split: "test")
        }
        #expect(throws: DatasetError.unknown("split \"val\": Fashion-MNIST has train and test")) {
            try BenchSource(dataset: "fashion-mnist", split: "val")
        }
    }
}
