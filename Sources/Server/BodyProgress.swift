import NIOCore
import Synchronization

/// How fast one connection's request body arrives, in the time that is the client's to answer
/// for: while the server has asked the socket for bytes and none has come. While the server
/// holds the body back (its handler not yet reading, NIO's back-pressure withholding reads),
/// the clock stops, so a body that waits on the server never looks slow.
///
/// Written on the connection's event loop only (by `RequestGuard`); read from any event loop
/// when a new connection at the cap looks for one to close (`ConnectionTable`). The reader may
/// see the fields a moment apart; that moves a rate by one read's worth, which is all a
/// heuristic for choosing a victim needs.
final class BodyProgress: Sendable {
    /// Body bytes received since the head.
    private let bytes = Atomic<Int>(0)
    /// Nanoseconds the server spent asking for this body's bytes, over finished waits.
    private let waited = Atomic<Int>(0)
    /// Uptime in nanoseconds when the current wait began; 0 while none is under way.
    private let waitingSince = Atomic<Int>(0)
    private let inBody = Atomic<Bool>(false)

    /// A head was decoded; its body (if any) starts now. `readPending`: a read is already asked for.
    func bodyStarted(at now: Int, readPending: Bool) {
        bytes.store(0, ordering: .relaxed)
        waited.store(0, ordering: .relaxed)
        waitingSince.store(readPending ? now : 0, ordering: .relaxed)
        inBody.store(true, ordering: .releasing)
    }

    func bodyEnded() {
        inBody.store(false, ordering: .releasing)
        waitingSince.store(0, ordering: .relaxed)
    }

    func received(_ count: Int) {
        guard inBody.load(ordering: .relaxed) else { return }
        bytes.wrappingAdd(count, ordering: .relaxed)
    }

    /// The server asked the socket for bytes.
    func readAsked(at now: Int) {
        guard inBody.load(ordering: .relaxed), waitingSince.load(ordering: .relaxed) == 0 else { return }
        waitingSince.store(max(now, 1), ordering: .relaxed)
    }

    /// Bytes came (or the read ended): the client's turn is over until the next ask.
    func readAnswered(at now: Int) {
        let since = waitingSince.exchange(0, ordering: .relaxed)
        guard since != 0, inBody.load(ordering: .relaxed) else { return }
        waited.wrappingAdd(max(0, now - since), ordering: .relaxed)
    }

    /// Bytes received and the client's time so far, counting a wait still under way; nil when
    /// no body is arriving (waiting for a head, or the request is being answered).
    func sample(at now: Int) -> (bytes: Int, waitedNanoseconds: Int)? {
        guard inBody.load(ordering: .acquiring) else { return nil }
        let since = waitingSince.load(ordering: .relaxed)
        let open = since == 0 ? 0 : max(0, now - since)
        return (bytes.load(ordering: .relaxed), waited.load(ordering: .relaxed) + open)
    }

    /// The clock of every time given here: uptime in nanoseconds.
    static var now: Int { Int(clamping: NIODeadline.now().uptimeNanoseconds) }

    /// The client's time given free before its rate counts.
    static let graceNanoseconds = 1_000_000_000

    /// Whether a body with these figures is behind `floor` bytes per second after the grace.
    static func isSlow(bytes: Int, waitedNanoseconds: Int, floor: Int) -> Bool {
        guard floor > 0, waitedNanoseconds > graceNanoseconds else { return false }
        // Double: waited × floor can pass Int's range for long waits at absurd floors.
        let owed = Double(waitedNanoseconds - graceNanoseconds) / 1e9 * Double(floor)
        return Double(bytes) < owed
    }

    /// The index of the slowest body (fewest bytes per second of the client's time) among those
    /// that are slow, or nil.
    static func slowest(_ samples: [(bytes: Int, waitedNanoseconds: Int)], floor: Int) -> Int? {
        var best: (index: Int, rate: Double)?
        for (index, sample) in samples.enumerated() where isSlow(bytes: sample.bytes, waitedNanoseconds: sample.waitedNanoseconds, floor: floor) {
            let rate = Double(sample.bytes) / Double(sample.waitedNanoseconds)
            if rate < best?.rate ?? .infinity { best = (index, rate) }
        }
        return best?.index
    }
}
