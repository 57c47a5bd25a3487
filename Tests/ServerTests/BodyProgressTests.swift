import Testing
@testable import Server

/// The clock behind evicting slow request bodies at the connection cap: only the time the
/// server was asking for bytes counts, less a second's grace.
@Suite("Body progress: the client's share of a body's time")
struct BodyProgressTests {
    static let second = 1_000_000_000

    @Test("time while the server holds the body back is not the client's; a wait under way is")
    func clockCountsOnlyAskedReads() throws {
        let progress = BodyProgress()
        #expect(progress.sample(at: 0) == nil, "no body yet")
        progress.received(500)  // before a head: not a body's bytes
        progress.bodyStarted(at: 0, readPending: false)
        progress.readAsked(at: Self.second)
        progress.readAsked(at: 2 * Self.second)  // a second ask keeps the first's start
        progress.received(100)
        progress.readAnswered(at: 3 * Self.second)
        var sample = try #require(progress.sample(at: 10 * Self.second))
        #expect(sample.bytes == 100)
        #expect(sample.waitedNanoseconds == 2 * Self.second, "7 s without a read asked do not count")
        progress.readAsked(at: 11 * Self.second)
        sample = try #require(progress.sample(at: 14 * Self.second))
        #expect(sample.waitedNanoseconds == 5 * Self.second, "the open wait counts")
        progress.readAnswered(at: 15 * Self.second)
        progress.received(7)
        sample = try #require(progress.sample(at: 20 * Self.second))
        #expect(sample == (107, 6 * Self.second))
        progress.bodyEnded()
        #expect(progress.sample(at: 21 * Self.second) == nil, "a body that ended is not slow")
        progress.bodyStarted(at: 30 * Self.second, readPending: true)
        sample = try #require(progress.sample(at: 32 * Self.second))
        #expect(sample == (0, 2 * Self.second), "a read asked before the head counts from the head")
    }

    @Test("slow means below the floor after a second's grace; the slowest of the slow is chosen")
    func slowAndSlowest() {
        let floor = 32 * 1024
        #expect(!BodyProgress.isSlow(bytes: 0, waitedNanoseconds: Self.second, floor: floor), "within the grace")
        #expect(BodyProgress.isSlow(bytes: 0, waitedNanoseconds: Self.second + 1_000_000, floor: floor))
        // 2 s waited: 32 KiB owed.
        #expect(BodyProgress.isSlow(bytes: floor - 1, waitedNanoseconds: 2 * Self.second, floor: floor))
        #expect(!BodyProgress.isSlow(bytes: floor, waitedNanoseconds: 2 * Self.second, floor: floor))
        #expect(!BodyProgress.isSlow(bytes: 0, waitedNanoseconds: 1000 * Self.second, floor: 0), "floor 0: never")
        #expect(!BodyProgress.isSlow(bytes: .max, waitedNanoseconds: 2 * Self.second, floor: .max / 2), "no overflow")
        #expect(BodyProgress.isSlow(bytes: 0, waitedNanoseconds: .max, floor: .max))

        let samples = [
            (bytes: 10 * floor, waitedNanoseconds: 5 * Self.second),  // keeps up
            (bytes: 1000, waitedNanoseconds: 3 * Self.second),  // slow, 333 B/s
            (bytes: 20, waitedNanoseconds: 2 * Self.second),  // slowest, 10 B/s
            (bytes: 0, waitedNanoseconds: Self.second / 2),  // in its grace
        ]
        #expect(BodyProgress.slowest(samples, floor: floor) == 2)
        #expect(BodyProgress.slowest([samples[0], samples[3]], floor: floor) == nil)
        #expect(BodyProgress.slowest(samples, floor: 0) == nil)
    }
}
