import CNumerics
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import RadaNumerics

/// rada's kernel threads (`rada_pool_run`, behind `BLAS.parallel`): every part runs once, on
/// no more threads than cores, whether the threads were spinning or asleep, and callers that find
/// the pool busy (other threads, nested splits) still get all their parts run.
@Suite struct KernelThreadTests {
    /// What a part records: the thread it ran on, and how often it ran.
    final class Record: Sendable {
        let threads = Mutex([Int: [pthread_t]]())
        func note(_ part: Int) { threads.withLock { $0[part, default: []].append(pthread_self()) } }
    }

    /// How often each part of many calls ran.
    final class Counts: Sendable {
        let values: Mutex<[Int]>
        init(_ count: Int) { values = Mutex([Int](repeating: 0, count: count)) }
        func add(_ index: Int) { values.withLock { $0[index] += 1 } }
    }

    /// The cores this process may run on, as the pool counts them.
    static var cores: Int { Int(rada_pool_cores()) }

    /// Runs `parts` parts straight on the pool from a thread of its own (the caller), each part
    /// sleeping `onCaller` when the caller runs it and `offCaller` when a pool thread does,
    /// retrying while another test holds the pool. Returns the caller's thread, or nil if that
    /// did not finish within 10 s: a lost wake-up fails the test instead of hanging it.
    static func runOnPool(parts: Int, record: Record, onCaller: Duration = .zero, offCaller: Duration = .zero) -> pthread_t? {
        struct Job {
            let record: Record
            let caller: pthread_t
            let onCaller: Duration
            let offCaller: Duration
        }
        let finished = DispatchSemaphore(value: 0)
        let callerThread = Mutex<pthread_t?>(nil)
        let thread = Thread {
            var job = Job(record: record, caller: pthread_self(), onCaller: onCaller, offCaller: offCaller)
            while true {
                let ran = withUnsafeMutablePointer(to: &job) { job in
                    rada_pool_run(Int32(parts), { context, part in
                        let job = context!.assumingMemoryBound(to: Job.self).pointee
                        let delay = pthread_equal(pthread_self(), job.caller) != 0 ? job.onCaller : job.offCaller
                        if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.components.attoseconds) * 1e-18) }
                        job.record.note(Int(part))
                    }, job)
                }
                if ran == 1 { break }
                Thread.sleep(forTimeInterval: 0.001)
            }
            callerThread.withLock { $0 = pthread_self() }
            finished.signal()
        }
        thread.start()
        guard finished.wait(timeout: .now() + 10) == .success else { return nil }
        return callerThread.withLock { $0 }
    }

    @Test func eachPartRunsOnceOnAtMostOneThreadPerCore() throws {
        for parts in [2, 3, 4, 8, 2] {
            let record = Record()
            _ = try #require(Self.runOnPool(parts: parts, record: record))
            let threads = record.threads.withLock { $0 }
            #expect(threads.keys.sorted() == Array(0..<parts))
            #expect(threads.values.allSatisfy { $0.count == 1 })
            let distinct = Set(threads.values.map { $0[0] })
            #expect(distinct.count <= min(parts, Self.cores))
        }
    }

    /// With two cores or more, pool threads take parts of a slow job (an asleep one may be beaten
    /// to the first parts by the caller, not to all of them).
    @Test func poolThreadsTakeParts() throws {
        guard Self.cores >= 2 else { return }
        Thread.sleep(forTimeInterval: 0.02)  // the pool threads fall asleep: they must be woken
        let record = Record()
        let caller = try #require(Self.runOnPool(parts: 4, record: record, onCaller: .milliseconds(2), offCaller: .milliseconds(2)))
        let threads = record.threads.withLock { $0.values.map { $0[0] } }
        #expect(threads.contains { pthread_equal($0, caller) == 0 })
    }

    /// Past the spin (200 µs by default) the pool threads sleep, and so does a caller waiting
    /// for a slow part; both are woken.
    @Test func sleepingThreadsAndCallerAreWoken() throws {
        for _ in 0..<5 {
            Thread.sleep(forTimeInterval: 0.02)  // the pool threads fall asleep
            let record = Record()
            // The caller's part gives a pool thread time to wake and take the other, which then
            // outlasts the caller's spin, so the caller sleeps too.
            _ = try #require(Self.runOnPool(parts: 2, record: record, onCaller: .milliseconds(2), offCaller: .milliseconds(10)))
            #expect(record.threads.withLock { $0.keys.sorted() } == [0, 1])
        }
    }

    /// Many callers at once, each part splitting again: the ones that find the pool busy run
    /// their parts on Dispatch's threads; every part of every call runs exactly once.
    @Test func concurrentAndNestedCallsRunEveryPart() async {
        let callers = 6, calls = 200, outer = 3, inner = 2
        let counts = Counts(callers * calls * outer * inner)
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    for call in 0..<calls {
                        BLAS.parallel(parts: outer) { o in
                            BLAS.parallel(parts: inner) { i in
                                counts.add(((caller * calls + call) * outer + o) * inner + i)
                            }
                        }
                    }
                }
            }
        }
        #expect(counts.values.withLock { $0.allSatisfy { $0 == 1 } })
    }
}
