import CImageCodecs
import Foundation
import RadaNumerics
import Testing

/// Small files that decode to huge images: 8-bit gray PNGs of one colour, which zlib shrinks
/// about a thousandfold (a 4000×4000 image is a 16 KB file and 48 MB of decoded RGB).
enum HostileImages {
    /// A `width` × `height` gray PNG, every pixel `value`, compressed by libpng.
    static func grayPNG(width: Int, height: Int, value: UInt8 = 77) throws -> Data {
        let pixels = [UInt8](repeating: value, count: width * height)
        var buffer = rada_buffer()
        var message = [CChar](repeating: 0, count: 256)
        let status = rada_encode_png(pixels, UInt32(width), UInt32(height), 1, &buffer, &message, message.count)
        defer { rada_buffer_free(&buffer) }
        try #require(status == Int32(RADA_IMAGE_OK.rawValue) && buffer.bytes != nil, "PNG encoder failed")
        return Data(bytes: buffer.bytes, count: buffer.length)
    }
}

/// The test process is the server, so the growth of its peak resident size during a request is
/// the server's.
enum ProcessMemory {
    /// Peak resident bytes above the resident size at the start, while `body` runs (the peak is
    /// reset first). Other tests running alongside can only make the growth look larger, never
    /// smaller.
    static func peakGrowth<T>(_ body: () async throws -> T) async throws -> (T, Int) {
        try ProcessResources.resetPeak()
        let start = try #require(ProcessResources.residentBytes)
        let result = try await body()
        let peak = try #require(ProcessResources.peakResidentBytes)
        return (result, max(0, peak - start))
    }
}
