import Foundation

/// The IDX format of LeCun's MNIST files (and Fashion-MNIST's): a 4-byte magic number
/// (0, 0, type code, number of dimensions), the dimensions as big-endian UInt32, then the data.
/// Only unsigned bytes (type 0x08) are read: that is what (Fashion-)MNIST stores.
public struct IDXFile: Sendable, Equatable {
    public let dimensions: [Int]
    public let values: [UInt8]

    /// Parses an (already decompressed) IDX file. `expectedDimensions` (1 for labels, 3 for
    /// images) is checked; so are the type code and that the data has exactly the promised size.
    public init(_ data: Data, expectedDimensions: Int, path: String = "<memory>") throws(DatasetError) {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else {
            throw .invalidIDX(path: path, reason: "\(bytes.count) bytes, shorter than the 4-byte magic number")
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw .invalidIDX(path: path, reason: String(format: "magic number starts %02x %02x, expected 00 00", bytes[0], bytes[1]))
        }
        guard bytes[2] == 0x08 else {
            throw .invalidIDX(path: path, reason: String(format: "data type 0x%02x, only unsigned bytes (0x08) are supported", bytes[2]))
        }
        let rank = Int(bytes[3])
        guard rank == expectedDimensions else {
            throw .invalidIDX(path: path, reason: "\(rank) dimensions, expected \(expectedDimensions)")
        }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw .invalidIDX(path: path, reason: "truncated header: \(bytes.count) bytes, need \(headerSize)")
        }
        var dimensions: [Int] = []
        var count = 1
        for axis in 0..<rank {
            let offset = 4 + 4 * axis
            let size = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            dimensions.append(size)
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= 1 << 32 else {
                throw .invalidIDX(path: path, reason: "dimensions \(dimensions) are implausibly large")
            }
            count = product
        }
        let available = bytes.count - headerSize
        guard available >= count else {
            throw .invalidIDX(path: path, reason: "truncated: dimensions \(dimensions) need \(count) data bytes, the file has \(available)")
        }
        guard available == count else {
            throw .invalidIDX(path: path, reason: "\(available - count) unexpected bytes after the \(count) data bytes of dimensions \(dimensions)")
        }
        self.dimensions = dimensions
        self.values = Array(bytes[headerSize...])
    }

    /// Reads and parses a file, gunzipping it first when its name ends in `.gz`.
    public init(contentsOf url: URL, expectedDimensions: Int) throws(DatasetError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadable(path: url.path, reason: error.localizedDescription) }
        let raw = url.pathExtension == "gz" ? try Gzip.decompress(data, path: url.path) : data
        try self.init(raw, expectedDimensions: expectedDimensions, path: url.path)
    }
}
