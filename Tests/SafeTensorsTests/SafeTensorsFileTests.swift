import Foundation
import RadaNumerics
import Testing

@testable import SafeTensors

/// A fresh scratch directory per test, removed by the caller.
private func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("clip-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes a safetensors file from a literal header and `dataBytes` bytes of data (0, 1, 2, …).
func rawSafeTensors(_ header: String, dataBytes: Int, headerLength: UInt64? = nil, in directory: URL) throws -> URL {
    var bytes = [UInt8]()
    let json = Array(header.utf8)
    withUnsafeBytes(of: (headerLength ?? UInt64(json.count)).littleEndian) { bytes += $0 }
    bytes += json
    bytes += (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0) }
    let url = directory.appendingPathComponent("t-\(UUID().uuidString).safetensors")
    try Data(bytes).write(to: url)
    return url
}

@Suite("safetensors reader and writer")
struct CheckpointSafeTensorsTests {
    @Test("F32 round trip is exact; metadata, order and shapes survive")
    func roundTripF32() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.safetensors")
        let weights: [Float] = (0..<12).map { Float($0) * 0.37 - 2 }
        try SafeTensorsWriter.write(
            [("w", [3, 4], weights), ("scalar", [], [2.5]), ("empty", [0, 5], []), ("näme \"q\"", [2], [1, -1])],
            metadata: ["format": "pt", "note": "line\nbreak"], dtype: .f32, to: url)
        let file = try SafeTensorsFile(url: url)
        #expect(file.names == ["w", "scalar", "empty", "näme \"q\""])
        #expect(file.metadata == ["format": "pt", "note": "line\nbreak"])
        #expect(try file.floats("w") == weights)
        #expect(try file.matrix("w", rows: 3, cols: 4) == Matrix(rows: 3, cols: 4, storage: weights))
        #expect(file.info("scalar")?.shape == [])
        #expect(try file.floats("scalar") == [2.5])
        #expect(try file.floats("empty") == [])
        #expect(try file.floats("näme \"q\"") == [1, -1])
        #expect(file.info("w")?.byteRange == 0..<48)
        // Nothing but the destination is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.safetensors"])
    }

    @Test("Header strings: every control character, quote, backslash and non-ASCII character survives the writer's escaping")
    func headerStringEscaping() throws {
        var every = (0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }
        every += ["\"", "\\", "/", "\u{7F}", "é", "猫", "🐈‍⬛", "\u{2028}"]
        var random = SystemRandomNumberGenerator()
        for length in [0, 1, 2, 7, 64, 4_096] {
            let text = String((0..<length).map { _ in every.randomElement(using: &random)! })
            let literal = SafeTensorsWriter.jsonString(text)
            #expect(try JSONDecoder().decode(String.self, from: Data(literal.utf8)) == text)
            #expect(!literal.utf8.dropFirst().dropLast().contains { $0 < 0x20 })
        }
        #expect(SafeTensorsWriter.jsonString("a\"b\\c\nd\re\tf\u{1}g/") == #""a\"b\\c\nd\re\tf\u0001g/""#)
        // A whole file: the metadata value comes back as it went in.
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.safetensors")
        let value = String(every) + String(every.reversed())
        try SafeTensorsWriter.write([("w", [1], [1])], metadata: ["history": value], to: url)
        #expect(try SafeTensorsFile(url: url).metadata == ["history": value])
    }

    @Test("F16 round trip rounds to half precision (relative error ≤ 2^-11)")
    func roundTripF16() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("h.safetensors")
        let values: [Float] = (0..<1000).map { sin(Float($0) * 0.731) * Float(1 + $0 % 7) * 3 } + [0.5, -2, 1024, 0]
        try SafeTensorsWriter.write([("h", [values.count], values)], dtype: .f16, to: url)
        let file = try SafeTensorsFile(url: url)
        #expect(file.info("h")?.dtype == .f16)
        let read = try file.floats("h")
        for (a, b) in zip(values, read) { #expect(abs(a - b) <= abs(a) * 0.00049) }
        #expect(Array(read.suffix(4)) == [0.5, -2, 1024, 0])
        // Overwriting replaces the file atomically.
        try SafeTensorsWriter.write([("h", [1], [7])], dtype: .f16, to: url)
        #expect(try SafeTensorsFile(url: url).floats("h") == [7])
    }

    @Test("BF16 and unaligned F32 data are read correctly")
    func bfloat16AndAlignment() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Header of odd length so the data section starts unaligned.
        let header = #"{"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"f":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"# + " "
        var data: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data += $0 }
        data += Array(header.utf8)
        data += [0x80, 0x3F, 0x20, 0xC0]  // bf16 1.0, -2.5
        withUnsafeBytes(of: Float(3.25).bitPattern.littleEndian) { data += $0 }
        let url = dir.appendingPathComponent("b.safetensors")
        try Data(data).write(to: url)
        let file = try SafeTensorsFile(url: url)
        #expect(try file.floats("b") == [1, -2.5])
        #expect(try file.floats("f") == [3.25])
    }

    @Test("the writer refuses duplicate names and values that do not fill the shape")
    func writerValidation() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("bad.safetensors")
        #expect(throws: SafeTensorsError.duplicateTensor(file: url.path, tensor: "a")) {
            try SafeTensorsWriter.write([("a", [1], [1]), ("a", [1], [2])], to: url)
        }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsWriter.write([("a", [2, 2], [1, 2, 3])], to: url) }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test("missing tensors and wrong shapes name the tensor")
    func lookupErrors() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.safetensors")
        try SafeTensorsWriter.write([("w", [2, 3], [1, 2, 3, 4, 5, 6])], to: url)
        let file = try SafeTensorsFile(url: url)
        #expect(throws: SafeTensorsError.missingTensor(file: url.path, tensor: "nope")) { try file.floats("nope") }
        #expect(throws: SafeTensorsError.shapeMismatch(file: url.path, tensor: "w", expected: [3, 2], actual: [2, 3])) {
            try file.matrix("w", rows: 3, cols: 2)
        }
    }

    @Test("malformed files each fail with their own error")
    func malformed() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func entry(_ name: String, _ dtype: String = "F32", _ shape: String = "[2]", offsets: String) -> String {
            "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
        }
        func load(_ url: URL, limit: Int = SafeTensorsFile.defaultMaxHeaderBytes) throws { _ = try SafeTensorsFile(url: url, maxHeaderBytes: limit) }

        let tiny = dir.appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: tiny)
        #expect(throws: SafeTensorsError.fileTooSmall(file: tiny.path, size: 3)) { try load(tiny) }

        let valid = "{\(entry("a", offsets: "[0,8]"))}"
        let big = try rawSafeTensors(valid, dataBytes: 8, in: dir)
        #expect(throws: SafeTensorsError.headerTooLarge(file: big.path, headerBytes: UInt64(valid.utf8.count), limit: 16)) {
            try load(big, limit: 16)
        }
        let huge = try rawSafeTensors(valid, dataBytes: 8, headerLength: 1 << 62, in: dir)
        #expect(throws: SafeTensorsError.headerTooLarge(file: huge.path, headerBytes: 1 << 62, limit: SafeTensorsFile.defaultMaxHeaderBytes)) {
            try load(huge)
        }
        let beyond = try rawSafeTensors(valid, dataBytes: 0, headerLength: 500, in: dir)
        #expect(throws: SafeTensorsError.headerBeyondFile(file: beyond.path, headerBytes: 500, fileSize: 8 + valid.utf8.count)) {
            try load(beyond)
        }
        let notJSON = try rawSafeTensors("{\"a\": [1,", dataBytes: 0, in: dir)
        #expect { try load(notJSON) } throws: { ($0 as? SafeTensorsError).map { if case .invalidHeaderJSON = $0 { true } else { false } } ?? false }
        let notObject = try rawSafeTensors("[1, 2]", dataBytes: 0, in: dir)
        #expect(throws: SafeTensorsError.invalidHeaderJSON(file: notObject.path, reason: "the top level is not an object")) { try load(notObject) }

        let dtype = try rawSafeTensors("{\(entry("a", "F33", offsets: "[0,8]"))}", dataBytes: 8, in: dir)
        #expect(throws: SafeTensorsError.unknownDType(file: dtype.path, tensor: "a", dtype: "F33")) { try load(dtype) }
        let size = try rawSafeTensors("{\(entry("a", "F16", "[3]", offsets: "[0,8]"))}", dataBytes: 8, in: dir)
        #expect(throws: SafeTensorsError.sizeMismatch(file: size.path, tensor: "a", expectedBytes: 6, actualBytes: 8)) { try load(size) }
        let negative = try rawSafeTensors("{\(entry("a", "F32", "[-2]", offsets: "[0,8]"))}", dataBytes: 8, in: dir)
        #expect { try load(negative) } throws: { ($0 as? SafeTensorsError).map { if case .invalidTensorEntry(_, "a", _) = $0 { true } else { false } } ?? false }
        let reversed = try rawSafeTensors("{\(entry("a", offsets: "[8,0]"))}", dataBytes: 8, in: dir)
        #expect { try load(reversed) } throws: { ($0 as? SafeTensorsError).map { if case .invalidTensorEntry(_, "a", _) = $0 { true } else { false } } ?? false }
        let outside = try rawSafeTensors("{\(entry("a", offsets: "[8,16]"))}", dataBytes: 12, in: dir)
        #expect(throws: SafeTensorsError.offsetsOutOfBounds(file: outside.path, tensor: "a", end: 16, dataBytes: 12)) { try load(outside) }
        let overlap = try rawSafeTensors("{\(entry("a", offsets: "[0,8]")),\(entry("b", offsets: "[4,12]"))}", dataBytes: 12, in: dir)
        #expect(throws: SafeTensorsError.overlappingTensors(file: overlap.path, first: "a", second: "b")) { try load(overlap) }
        let duplicate = try rawSafeTensors("{\(entry("a", offsets: "[0,8]")),\(entry("a", offsets: "[8,16]"))}", dataBytes: 16, in: dir)
        #expect(throws: SafeTensorsError.duplicateTensor(file: duplicate.path, tensor: "a")) { try load(duplicate) }
        // The same name spelt with an escape is still a duplicate.
        let escaped = try rawSafeTensors("{\(entry("a", offsets: "[0,8]")),\(entry("\\u0061", offsets: "[8,16]"))}", dataBytes: 16, in: dir)
        #expect(throws: SafeTensorsError.duplicateTensor(file: escaped.path, tensor: "a")) { try load(escaped) }
        let metadata = try rawSafeTensors("{\"__metadata__\":{\"k\":1}}", dataBytes: 0, in: dir)
        #expect { try load(metadata) } throws: { ($0 as? SafeTensorsError).map { if case .invalidHeaderJSON = $0 { true } else { false } } ?? false }

        // A valid file cut short: the last tensor now runs past the end.
        let whole = dir.appendingPathComponent("whole.safetensors")
        try SafeTensorsWriter.write([("x", [4], [1, 2, 3, 4]), ("y", [4], [5, 6, 7, 8])], to: whole)
        let bytes = try Data(contentsOf: whole)
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        try bytes.prefix(bytes.count - 3).write(to: truncated)
        #expect(throws: SafeTensorsError.offsetsOutOfBounds(file: truncated.path, tensor: "y", end: 32, dataBytes: 29)) { try load(truncated) }
        let intact = dir.appendingPathComponent("intact.safetensors")
        try Data(bytes).write(to: intact)
        #expect(try SafeTensorsFile(url: intact).floats("y") == [5, 6, 7, 8])
    }

    @Test("the duplicate-key scanner sees keys only at the top level and skips strings")
    func keyScanner() {
        let json = #"{"a":{"a":1,"b":[{"c":2}]},"q\"{,":"x,\"y\":","b":[1,{"d":3}], "a" : 4}"#
        #expect(JSONKeyScanner.topLevelKeys(Array(json.utf8)) == ["a", "q\"{,", "b", "a"])
    }
}
