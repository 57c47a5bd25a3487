/// libFuzzer entry for the server's multipart/form-data parser (`MultipartFormData.parse`, the
/// one function every multipart upload goes through): any boundary and body must either parse
/// into parts that lie inside the body, in order, each followed by a delimiter, or throw a
/// `MultipartFormData.Failure`; never crash, trap or read out of bounds.
/// Input layout: byte 0 is the boundary's length (mod 71), the next bytes the boundary, the rest
/// the body. Built by `make fuzz-multipart` from this file and Sources/Server/MultipartFormData.swift.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let boundaryLength = min(Int(data[0]) % 71, size - 1)
    let boundary = String(decoding: UnsafeBufferPointer(start: data + 1, count: boundaryLength), as: UTF8.self)
    let body = UnsafeRawBufferPointer(start: data + 1 + boundaryLength, count: size - 1 - boundaryLength)
    let limits = MultipartFormData.Limits(maxParts: 16, maxHeaderBytes: 256, maxHeaderLines: 8)
    guard let parts = try? MultipartFormData.parse(body, boundary: boundary, limits: limits) else { return 0 }
    precondition(parts.count <= limits.maxParts)
    let delimiter = Array("\r\n--\(boundary)".utf8)
    var previousEnd = 0
    for part in parts {
        precondition(part.content.lowerBound >= previousEnd && part.content.upperBound <= body.count, "part outside the body or out of order")
        precondition(part.headers.count <= limits.maxHeaderLines)
        // Every part is closed by a delimiter: the bytes after its content are CRLF "--boundary".
        precondition(body.count - part.content.upperBound >= delimiter.count)
        for (i, byte) in delimiter.enumerated() { precondition(body[part.content.upperBound + i] == byte, "part not followed by its delimiter") }
        previousEnd = part.content.upperBound + delimiter.count
    }
    // Parsing is a pure function of its input.
    precondition((try? MultipartFormData.parse(body, boundary: boundary, limits: limits)) == parts)
    return 0
}
