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
            struct Images: Decodable { var images: [String] }
            let request = try JSONDecoder().decode(Images.self, from: Data(buffer: body))
            try checkCount(request.images.count, limits)
            files = try base64(request.images)
        } else if let media, media.is(ContentType.formData) {
            files = try multipart(media, body: body, limits: limits)
        } else {
            throw APIError.unsupportedMediaType("send images as multipart/form-data or application/json {\"images\": [base64, ...]}, not \"\((contentType ?? "no content type").prefix(100))\"")
        }
        try checkCount(files.count, limits)
        return files
    }

    static func checkCount(_ count: Int, _ limits: ServerLimits) throws {
        guard count > 0 else { throw APIError.badRequest("the request holds no images") }
        guard count <= limits.maxImagesPerRequest else {
            throw APIError.tooLarge("\(count) images in one request; the limit is \(limits.maxImagesPerRequest)")
        }
    }

    static func base64(_ strings: [String]) throws -> [Data] {
        try strings.enumerated().map { index, string in
            // Tolerate a data URL prefix; the payload itself must be standard base64.
            let payload = string.firstIndex(of: ",").map { string.hasPrefix("data:") ? String(string[string.index(after: $0)...]) : string } ?? string
            // Line breaks and spaces (MIME-style wrapping) are allowed; anything else is an error.
            guard let data = Data(base64Encoded: payload.filter { !$0.isWhitespace }) else {
                throw APIError.badRequest("images[\(index)] is not valid base64")
            }
            return data
        }
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
