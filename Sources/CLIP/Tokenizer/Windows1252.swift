/// The "sloppy" Windows-1252 code page that ftfy uses: Latin-1, except that bytes 0x80...0x9F
/// decode to Windows' punctuation; the five bytes Windows leaves undefined keep their C1 control.
enum Windows1252 {
    /// Scalars of bytes 0x80...0x9F.
    private static let high: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ]

    private static let byteForHighScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (offset, value) in high.enumerated() { map[value] = UInt8(0x80 + offset) }
        return map
    }()

    static func scalar(forByte byte: UInt8) -> Unicode.Scalar {
        (0x80...0x9F).contains(byte) ? Unicode.Scalar(high[Int(byte) - 0x80])! : Unicode.Scalar(byte)
    }

    /// The byte that decodes to `scalar`, or nil where the code page cannot encode it.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = scalar.value
        if value < 0x80 || (0xA0...0xFF).contains(value) { return UInt8(value) }
        return byteForHighScalar[value]
    }
}
