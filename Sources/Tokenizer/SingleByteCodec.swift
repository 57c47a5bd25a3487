/// ftfy's single-byte encodings (CHARMAP_ENCODINGS): the code pages whose misreading of UTF-8
/// it knows how to undo. The "sloppy" Windows code pages decode their undefined bytes as the
/// Latin-1 C1 controls, and byte 1A as U+FFFD (a character lost on the way).
struct SingleByteCodec: Sendable {
    let name: String
    let scalars: [Unicode.Scalar]
    private let bytes: [UInt32: UInt8]

    init(name: String, table: [UInt32]) {
        self.name = name
        scalars = table.map { Unicode.Scalar($0)! }
        var bytes: [UInt32: UInt8] = [:]
        for (byte, value) in table.enumerated() { bytes[value] = UInt8(byte) }
        self.bytes = bytes
    }

    var isSloppy: Bool { name.hasPrefix("sloppy") }

    /// The bytes of `text`, or nil when a scalar is outside the code page
    /// (ftfy's `possible_encoding` followed by `str.encode`).
    func encode(_ text: [Unicode.Scalar]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        for scalar in text {
            if scalar.value < 0x80, scalar.value != 0x1A || !isSloppy {
                out.append(UInt8(scalar.value))
            } else if let byte = bytes[scalar.value] {
                out.append(byte)
            } else {
                return nil
            }
        }
        return out
    }

    static let all: [SingleByteCodec] = tables.map { SingleByteCodec(name: $0.name, table: $0.scalars) }
    static let sloppyWindows1252 = all.first { $0.name == "sloppy-windows-1252" }!

    /// Python's strict `windows-1252` decoding of `text` encoded as Latin-1 (every scalar below
    /// U+0100): C1 controls become Windows' punctuation; nil where a byte is undefined there.
    static func windows1252FromLatin1(_ text: [Unicode.Scalar]) -> [Unicode.Scalar]? {
        var out = text
        for (index, scalar) in text.enumerated() where (0x80...0x9F).contains(scalar.value) {
            let decoded = sloppyWindows1252.scalars[Int(scalar.value)]
            if decoded == scalar { return nil }
            out[index] = decoded
        }
        return out
    }
}
