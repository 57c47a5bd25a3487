import Foundation
import Synchronization
import Testing
@testable import Server

/// A pool's finished jobs release what they captured as soon as they end.
@Suite struct WorkerPoolTests {
    final class Payload: Sendable {
        let bytes = [UInt8](repeating: 1, count: 1024)
    }

    @Test("a job's captures are released when it ends, not when 256 jobs have run", arguments: [1, 3, 300])
    func finishedJobsReleaseTheirCaptures(jobs: Int) async throws {
        let pool = WorkerPool(name: "test-release", maxThreads: 2)
        weak var last: Payload?
        for i in 0..<jobs {
            let payload = Payload()
            if i == jobs - 1 { last = payload }
            let sum = await pool.run { payload.bytes.reduce(0) { $0 + Int($1) } }
            #expect(sum == 1024)
        }
        // The thread that ran the last job may still be between its return and its next wait.
        for _ in 0..<100 where last != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(last == nil, "the last of \(jobs) jobs still holds its payload")
    }
}
