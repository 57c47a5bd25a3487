import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Threads owned by the image pipeline, for C decoding and resampling: long blocking work that
/// must stay off Swift's cooperative pool (whose few threads serve every request) and off the
/// backbone queue. Threads start on demand up to `maxThreads` and end after `idleTimeout`
/// without work, so an idle server (or a finished test server) holds none.
///
/// `nice` lowers the threads' CPU priority (Linux keeps a nice value per thread): large images
/// are decoded at nice 19, so that on a busy machine a client's single small image, its JSON
/// and its tower pass are scheduled ahead of someone else's decompression bomb rather than
/// sharing the CPU with it. On an idle CPU large images still get all of it; on a saturated
/// one they wait, and past the decode wait limit their requests get 503 (measured on 2 vCPUs:
/// nice 10 left the light client's p99 at 190-250 ms under bombs, nice 19 at 60-110 ms).
/// Concurrency is bounded by `DecodeGate`, not here.
final class ImageWorkers: @unchecked Sendable {  // all state is guarded by `condition`
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var threads = 0
    private var idle = 0
    private let maxThreads: Int
    private let nice: Int32
    private let name: String
    private let idleTimeout: TimeInterval

    init(name: String, maxThreads: Int, nice: Int32, idleTimeout: TimeInterval = 10) {
        self.name = name
        self.maxThreads = max(1, maxThreads)
        self.nice = nice
        self.idleTimeout = idleTimeout
    }

    /// Runs `job` on one of the threads.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        if idle == 0 && threads < maxThreads {
            threads += 1
            let thread = Thread { [self] in run() }
            thread.name = "\(name)-\(threads)"
            thread.start()
        } else {
            condition.signal()
        }
        condition.unlock()
    }

    /// `job`'s result, computed on one of the threads.
    func run<T: Sendable>(_ job: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: job()) }
        }
    }

    private func run() {
        #if canImport(Glibc)
        if nice != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }  // this thread only
        #endif
        condition.lock()
        while true {
            while jobs.isEmpty {
                idle += 1
                let woke = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
                idle -= 1
                if !woke && jobs.isEmpty {
                    threads -= 1
                    condition.unlock()
                    return
                }
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
            condition.lock()
        }
    }
}
