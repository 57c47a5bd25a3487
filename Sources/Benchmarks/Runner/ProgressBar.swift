import Foundation

/// A one-line progress bar on stderr, drawn only when stderr is a terminal (quiet in logs and
/// pipes), redrawn at most ten times a second.
struct ProgressBar {
    let total: Int
    let enabled: Bool
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled && isatty(STDERR_FILENO) == 1 && total > 0
    }

    mutating func update(done: Int, detail: String) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || done == total else { return }
        lastDraw = now
        FileHandle.standardError.write(Data(Self.line(done: done, total: total, seconds: Double(now - start) / 1e9, detail: detail).utf8))
    }

    mutating func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    /// "\r[#########...........]  45.0%  4500/10000  812 img/s  fog".
    static func line(done: Int, total: Int, seconds: Double, detail: String, width: Int = 30) -> String {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = seconds > 0 ? Double(done) / seconds : 0
        return "\r[\(bar)] " + String(format: "%5.1f%%  %d/%d  %.0f img/s  ", 100 * fraction, done, total, rate) + detail
            + "\u{1B}[K"
    }
}
