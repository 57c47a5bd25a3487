import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Threads the server owns, for long blocking work that must stay off Swift's cooperative pool
/// (whose few threads serve every request handler) and off the backbone queue: C image
/// decoding, and streams' journal writes, predictions and optimiser steps. Jobs run first come,
/// first served; threads start on demand up to `maxThreads` and end after `idleTimeout` without
/// work, so an idle server (or a finished test server) holds none.
///
/// `nice` lowers the threads' CPU priority (Linux keeps a nice value per thread). Costly work
/// (large images, expensive optimiser steps) runs on a pool at nice 10-19, so that on a busy
/// machine a client's small request is scheduled ahead of someone else's heavy one instead of
/// sharing the CPU with it; on an idle CPU the heavy work still gets all of it. (Measured on 2
/// vCPUs: image bombs at nice 10 left a light client's p99 at 190-250 ms, at nice 19 60-110 ms.)
final class WorkerPool: @unchecked Sendable {  // all state is guarded by `condition`
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    /// Idle threads already signalled for a queued job: they are no longer free.
    private var signalled = 0
    let maxThreads: Int
    private let nice: Int32
    private let name: String
    private let idleTimeout: TimeInterval

    /// What a taken job's place in `jobs` holds until the prefix is reclaimed.
    private static let taken: @Sendable () -> Void = {}

    init(name: String, maxThreads: Int, nice: Int32 = 0, idleTimeout: TimeInterval = 10) {
        self.name = name
        self.maxThreads = max(1, maxThreads)
        self.nice = nice
        self.idleTimeout = idleTimeout
    }

    /// Runs `job` on one of the threads: a free one, else a new one while under `maxThreads`,
    /// else the first to finish its job.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        if idle > signalled {
            signalled += 1
            condition.signal()
        } else if threads < maxThreads {
            threads += 1
            let thread = Thread { [self] in work() }
            thread.name = "\(name)-\(threads)"
            thread.start()
        }
        condition.unlock()
    }

    /// `job`'s result, computed on one of the threads.
    func run<T: Sendable>(_ job: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try job() }) }
        }
    }

    /// `job`'s result, computed on one of the threads.
    func run<T: Sendable>(_ job: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: job()) }
        }
    }

    private func work() {
        #if canImport(Glibc)
        if nice != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }  // this thread only
        #endif
        condition.lock()
        while true {
            while head == jobs.count {
                idle += 1
                let woke = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
                idle -= 1
                if signalled > 0 { signalled -= 1 }
                if !woke && head == jobs.count {
                    threads -= 1
                    condition.unlock()
                    return
                }
            }
            let job = jobs[head]
            // A job taken must not stay in the queue: its captures (a request's body, its images)
            // would live until the prefix is reclaimed. They did, up to 255 jobs a pool: 28 MB
            // bodies parsed on the large-image workers held 27 MB each after their answers.
            jobs[head] = Self.taken
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 256 && head * 2 >= jobs.count {
                // Reclaim the consumed prefix now and then instead of shifting on every pop.
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
            condition.lock()
        }
    }
}
