import CZlib
import Foundation

/// gzip decompression of whole files in memory (zlib through the `CZlib` shim).
public enum Gzip {
    /// Inflates `data` (one or more gzip members), refusing output above `maxBytes`.
    /// `path` only names the source in errors.
    public static func decompress(_ data: Data, maxBytes: Int = 1 << 30, path: String = "<memory>") throws(DatasetError) -> Data {
        var output: UnsafeMutablePointer<UInt8>?
        var length = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw in
            rada_gunzip(
                raw.bindMemory(to: UInt8.self).baseAddress, raw.count, maxBytes, &output, &length,
                &message, message.count)
        }
        guard status == Int32(RADA_GUNZIP_OK.rawValue), let output else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw .gzip(path: path, reason: text.isEmpty ? "gzip error \(status)" : text)
        }
        return Data(bytesNoCopy: output, count: length, deallocator: .free)
    }
}
