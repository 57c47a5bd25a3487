import CNumerics
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import RadaNumerics

/// rada's kernel threads (`rada_pool_run`, behind `BLAS.parallel`): every part runs once, on its
/// own pool thread, whether the threads were spinning or asleep, and callers that find the pool
/// busy (other threads, nested splits) still get all their parts run.
@Suite struct KernelThreadTests {
    /// What a part records: the thread it ran on, and how often it ran.
    final class Record: @unchecked Sendable {
        let threads = Mutex([Int: [pthread_t]]())
        let caller = Mutex<pthread_t?>(nil)
        func note(_ part: Int) { threads.withLock { $0[part, default: []].append(pthread_self()) } }

        final class Counts: Sendable {
            let values: Mutex<[Int]>
            init(_ count: Int) { values = Mutex([Int](repeating: 0, count: count)) }
            func add(_ index: Int) { values.withLock { $0[index] += 1 } }
        }
    }

    /// Runs `parts` parts straight on the pool from a thread of its own, each after
    /// `delay(part)`, retrying while another test holds the pool. False if that did not finish
    /// within 10 s: a lost wake-up fails the test instead of hanging it.
    static func runOnPool(parts: Int, record: Record, delay: @escaping @Sendable (Int) -> Duration = { _ in .zero }) -> Bool {
        struct Job {
            let record: Record
            let delay: (Int) -> Duration
        }
        let finished = DispatchSemaphore(value: 0)
        let caller = Thread {
            var job = Job(record: record, delay: delay)
            while true {
                let ran = withUnsafeMutablePointer(to: &job) { job in
                    rada_pool_run(Int32(parts), { context, part in
                        let job = context!.assumingMemoryBound(to: Job.self).pointee
                        let wait = job.delay(Int(part))
                        if wait > .zero { Thread.sleep(forTimeInterval: Double(wait.components.attoseconds) * 1e-18) }
                        job.record.note(Int(part))
                    }, job)
                }
                if ran == 1 { break }
                Thread.sleep(forTimeInterval: 0.001)
            }
            record.caller.withLock { $0 = pthread_self() }
            finished.signal()
        }
        caller.start()
        return finished.wait(timeout: .now() + 10) == .success
    }

    @Test func eachPartRunsOnceOnItsOwnThread() throws {
        var workers = [Int: pthread_t]()
        for parts in [2, 3, 4, 2] {
            let record = Record()
            try #require(Self.runOnPool(parts: parts, record: record))
            let threads = record.threads.withLock { $0 }
            #expect(threads.keys.sorted() == Array(0..<parts))
            #expect(threads.values.allSatisfy { $0.count == 1 })
            let caller = try #require(record.caller.withLock { $0 })
            #expect(pthread_equal(threads[0]![0], caller) != 0)
            for part in 1..<parts {
                let thread = threads[part]![0]
                #expect(pthread_equal(thread, caller) == 0)
                // Part i always goes to the same pool thread: the threads are owned, not borrowed.
                if let earlier = workers[part] { #expect(pthread_equal(earlier, thread) != 0) }
                workers[part] = thread
            }
        }
    }

    /// Past the spin (200 µs by default) the pool threads sleep, and so does a caller waiting
    /// for a slow part; both are woken.
    @Test func sleepingThreadsAndCallerAreWoken() throws {
        for _ in 0..<5 {
            Thread.sleep(forTimeInterval: 0.02)  // the pool threads fall asleep
            let record = Record()
            // Part 1 outlasts the spin, so the caller sleeps too.
            try #require(Self.runOnPool(parts: 3, record: record) { $0 == 1 ? .milliseconds(5) : .zero })
            #expect(record.threads.withLock { $0.keys.sorted() } == [0, 1, 2])
        }
    }

    /// Many callers at once, each part splitting again: the ones that find the pool busy run
    /// their parts on Dispatch's threads; every part of every call runs exactly once.
    @Test func concurrentAndNestedCallsRunEveryPart() async {
        let callers = 6, calls = 200, outer = 3, inner = 2
        let counts = Record.Counts(callers * calls * outer * inner)
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
