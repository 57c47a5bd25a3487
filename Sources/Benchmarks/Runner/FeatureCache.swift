import Foundation
import RadaNumerics

/// Each stream image's features, computed once per run: the backbone is frozen, so the long
/// protocol's later rounds and every method reuse them.
public struct FeatureCache {
    private struct Key: Hashable { var source: Int; var item: StreamItem }
    public let dimension: Int
    private var rows: [Key: [Float]] = [:]

    public init(dimension: Int) { self.dimension = dimension }

    public mutating func features(
        for domain: StreamDomain, batch: ArraySlice<StreamItem>, compute: ([StreamItem]) throws -> Matrix
    ) throws -> BatchFeatures {
        let missing = batch.filter { rows[Key(source: domain.source, item: $0)] == nil }
        var seconds = 0.0
        if !missing.isEmpty {
            let clock = ContinuousClock()
            let start = clock.now
            let computed = try compute(Array(missing))
            seconds = (clock.now - start).seconds
            for (i, item) in missing.enumerated() { rows[Key(source: domain.source, item: item)] = computed.row(i) }
        }
        var storage: [Float] = []
        storage.reserveCapacity(batch.count * dimension)
        for item in batch { storage += rows[Key(source: domain.source, item: item)]! }
        return BatchFeatures(features: Matrix(rows: batch.count, cols: dimension, storage: storage), backboneSeconds: seconds)
    }
}
