import Foundation

/// A fixed set of threads the server owns, running submitted jobs first come, first served.
///
/// Long, blocking numeric work (a stream's adaptation step can take seconds) must not run on
/// Swift's cooperative pool, whose few threads also run every request handler: one slow step
/// there stalls unrelated requests. Jobs here block only this pool's threads; with more threads
/// than one step needs, a long step on one stream leaves the others' threads to the OS
/// scheduler instead of queueing them behind it.
final class WorkerPool: @unchecked Sendable {
    // Unchecked Sendable: `jobs` and `stopping` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false
    let threadCount: Int

    init(name: String, threads: Int) {
        threadCount = max(1, threads)
        for index in 0..<threadCount {
            // Each thread keeps the pool alive until `shutdown()` lets it exit.
            let thread = Thread { self.work() }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    /// Queues `job`; it runs on one of the pool's threads.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `work` on one of the pool's threads and returns its result to the caller.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Jobs waiting for a thread.
    var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    /// Lets the threads finish the queued jobs and exit (the pool takes no new work after).
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count && !stopping { condition.wait() }
            if head == jobs.count {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            // Reclaim the consumed prefix now and then instead of shifting on every pop.
            if head >= 1024 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}
