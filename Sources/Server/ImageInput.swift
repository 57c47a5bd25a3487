import CLIP
import Foundation
import Hummingbird

/// Extracts the image files of a request: multipart/form-data (every part is an image) or JSON
/// `{"images": [base64, ...]}`.
enum ImageInput {
    static func files(contentType: String?, body: ByteBuffer, limits: ServerLimits) throws -> [Data] {
        let files: [Data]
        let media = ContentType(contentType ?? "")
        if let media, media.is(ContentType.json) {
            let fast: [Data]?
            do { fast = try body.withUnsafeReadableBytes { try JSONImageList.files($0, maxFiles: limits.maxImagesPerRequest) } } catch {
                throw APIError.tooLarge("more than \(limits.maxImagesPerRequest) images in one request; the limit is \(limits.maxImagesPerRequest)")
            }
            files = try fast ?? json(body, limits: limits)
        } else if let media, media.is(ContentType.formData) {
            files = try multipart(media, body: body, limits: limits)
        } else {
            throw APIError.unsupportedMediaType("send images as multipart/form-data or application/json {\"images\": [base64, ...]}, not \"\((contentType ?? "no content type").prefix(100))\"")
        }
        try checkCount(files.count, limits)
        return files
    }

    /// Any JSON body: `JSONDecoder`, then base64 with the tolerances of `decodeBase64`.
    static func json(_ body: ByteBuffer, limits: ServerLimits) throws -> [Data] {
        struct Images: Decodable { var images: [String] }
        try body.withUnsafeReadableBytes { try JSONShape.check($0, maxItems: JSONShape.maxItems(limits)) }
        let request = try JSONDecoder().decode(Images.self, from: Data(buffer: body))
        try checkCount(request.images.count, limits)
        return try base64(request.images)
    }

    static func checkCount(_ count: Int, _ limits: ServerLimits) throws {
        guard count > 0 else { throw APIError.badRequest("the request holds no images") }
        guard count <= limits.maxImagesPerRequest else {
            throw APIError.tooLarge("\(count) images in one request; the limit is \(limits.maxImagesPerRequest)")
        }
    }

    static func base64(_ strings: [String]) throws -> [Data] {
        try strings.enumerated().map { index, string in
            guard let data = decodeBase64(string) else { throw APIError.badRequest("images[\(index)] is not valid base64") }
            return data
        }
    }

    /// Standard base64, optionally after a `data:...,` prefix, with MIME-style line breaks and
    /// spaces allowed and anything else refused. Works on the UTF-8 bytes: a Character-level
    /// scan of a 200 kB image string cost more than decoding the image itself.
    static func decodeBase64(_ string: String) -> Data? {
        var utf8 = Substring(string).utf8[...]
        if utf8.starts(with: "data:".utf8), let comma = utf8.firstIndex(of: UInt8(ascii: ",")) {
            utf8 = utf8[utf8.index(after: comma)...]
        }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
        let bytes = utf8.contains(where: isSpace) ? Data(utf8.filter { !isSpace($0) }) : Data(utf8)
        return Data(base64Encoded: bytes)
    }

    /// Every part of a complete multipart/form-data body, or an error for the whole body: a
    /// truncated or malformed upload must not be applied minus the parts that went missing.
    static func multipart(_ media: ContentType, body: ByteBuffer, limits: ServerLimits) throws -> [Data] {
        guard let boundary = media.parameters["boundary"] else {
            throw APIError.badRequest("multipart/form-data without a boundary parameter")
        }
        let partLimits = MultipartFormData.Limits(maxParts: limits.maxImagesPerRequest)
        do {
            return try body.withUnsafeReadableBytes { bytes in
                try MultipartFormData.parse(bytes, boundary: boundary, limits: partLimits).map { Data(bytes[$0.content]) }
            }
        } catch let failure as MultipartFormData.Failure {
            if case let .tooManyParts(limit) = failure {
                throw APIError.tooLarge("more than \(limit) images in one request; the limit is \(limit)")
            }
            throw APIError.badRequest(failure.description)
        }
    }
}
