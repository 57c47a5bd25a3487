/// CLIP's (and GPT-2's) reversible byte <-> printable-scalar map.
///
/// BPE runs on strings of printable scalars, one per UTF-8 byte: printable Latin-1 bytes map to
/// themselves, the other 68 bytes (controls, space, NBSP, soft hyphen) to U+0100 upwards in byte
/// order, so that no symbol is whitespace or a control character.
enum ByteSymbols {
    /// The scalar standing for each byte value.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each symbol scalar stands for (inverse of `scalarForByte`).
    static let byteForScalar: [UInt32: UInt8] = {
        var inverse: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarForByte.enumerated() { inverse[scalar.value] = UInt8(byte) }
        return inverse
    }()

    /// `!`...`~`, `¡`...`¬`, `®`...`ÿ` keep their own code point.
    private static func isPrintable(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The symbol string for one byte, as vocab.json spells it.
    static func symbol(for byte: UInt8) -> String { String(Character(scalarForByte[Int(byte)])) }
}
