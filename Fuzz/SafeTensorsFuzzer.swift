import Foundation

/// libFuzzer entry for the safetensors header parser: any byte string must either parse into a
/// validated header or throw a `SafeTensorsError`, never crash, trap or read out of bounds.
/// Built by `make fuzz-safetensors` together with the parser's own sources.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensorsHeader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if let header = try? SafeTensorsHeader(bytes: bytes, path: "fuzz", maxHeaderBytes: 1 << 20) {
        // A header that parsed must describe ranges inside the input.
        for tensor in header.tensors {
            precondition(tensor.byteRange.lowerBound >= 0 && tensor.byteRange.upperBound <= size)
        }
    }
    return 0
}
