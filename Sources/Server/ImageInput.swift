import CLIP
import Foundation
import Hummingbird
import MultipartKit

/// Extracts the image files of a request: multipart/form-data (every part is an image) or JSON
/// `{"images": [base64, ...]}`.
enum ImageInput {
    static func files(contentType: String?, body: ByteBuffer, limits: ServerLimits) throws -> [Data] {
        let type = (contentType ?? "").lowercased()
        let files: [Data]
        if type.hasPrefix("application/json") {
            struct Images: Decodable { var images: [String] }
            let request = try JSONDecoder().decode(Images.self, from: Data(buffer: body))
            try checkCount(request.images.count, limits)
            files = try base64(request.images)
        } else if type.hasPrefix("multipart/form-data") {
            files = try multipart(contentType: contentType ?? "", body: body)
        } else {
            throw APIError.unsupportedMediaType("send images as multipart/form-data or application/json {\"images\": [base64, ...]}, not \"\(contentType ?? "no content type")\"")
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

    static func multipart(contentType: String, body: ByteBuffer) throws -> [Data] {
        guard let boundary = contentType.split(separator: ";").lazy
            .map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { $0.lowercased().hasPrefix("boundary=") })
            .map({ String($0.dropFirst(9)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }),
            !boundary.isEmpty
        else { throw APIError.badRequest("multipart/form-data without a boundary parameter") }
        let parser = MultipartParser(boundary: boundary)
        var files: [Data] = []
        var current = Data()
        parser.onBody = { buffer in current.append(contentsOf: buffer.readableBytesView) }
        parser.onPartComplete = {
            files.append(current)
            current = Data()
        }
        do { try parser.execute(body) } catch { throw APIError.badRequest("malformed multipart/form-data body") }
        return files
    }
}
