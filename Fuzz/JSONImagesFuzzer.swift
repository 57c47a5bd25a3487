import Foundation

/// libFuzzer entry for the JSON image list's fast path (`JSONImageList.files`), differential:
/// whenever it returns files, `JSONDecoder` with Foundation's base64 must accept the same body
/// and give the same files; it must never crash, trap or read out of bounds. Built by
/// `make fuzz-json-images` from this file, Sources/Server/JSONImageList.swift and the base64
/// decoder it calls (Sources/CBase64).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONImages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = UnsafeRawBufferPointer(start: data, count: size)
    guard let fast = JSONImageList.files(body) else { return 0 }
    struct Images: Decodable { var images: [String] }
    let general = try? JSONDecoder().decode(Images.self, from: Data(body)).images.map { Data(base64Encoded: $0) }
    precondition(general?.count == fast.count, "the fast path accepted a body the general path refuses")
    for (mine, theirs) in zip(fast, general!) { precondition(mine == theirs, "the fast path decoded an image differently") }
    return 0
}
