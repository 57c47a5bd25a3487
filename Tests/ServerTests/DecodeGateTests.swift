import Foundation
import Testing
@testable import Server

/// The server-wide decode budget on its own: deterministic, no images, no socket.
@Suite("Decode gate")
struct DecodeGateTests {
    static func budget(memory: Int = 100, workers: Int = 4, small: Int = 10, waiting: Int = 8, wait: Duration = .seconds(30)) -> DecodeBudget {
        var budget = DecodeBudget()
        budget.memoryBytes = memory
        budget.workers = workers
        budget.smallImageBytes = small
        budget.maxWaiting = waiting
        budget.maxWait = wait
        return budget
    }

    static func isBusy(_ error: any Error) -> Bool {
        if case .busy? = error as? ImageBudgetError { return true }
        return false
    }

    @Test("reservations never exceed the memory budget; a release admits the waiter that now fits")
    func bytesBound() async throws {
        let gate = DecodeGate(budget: Self.budget())
        let a = try await gate.acquire(bytes: 60)
        let waiter = Task { try await gate.acquire(bytes: 50) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(await gate.reservedBytes == 60, "50 more would exceed 100: it waits")
        await gate.release(a)
        let b = try await waiter.value
        #expect(await gate.reservedBytes == 50)
        await gate.release(b)
        #expect(await gate.reservedBytes == 0)
    }

    @Test("a full queue is refused at once; a wait longer than maxWait is refused with busy")
    func refusals() async throws {
        let gate = DecodeGate(budget: Self.budget(waiting: 1, wait: .seconds(30)))
        let held = try await gate.acquire(bytes: 100)
        let queued = Task { try await gate.acquire(bytes: 20) }
        try await Task.sleep(for: .milliseconds(20))
        // One waiter already: the next is refused without waiting (a 30 s wait would hang here).
        await #expect(performing: { try await gate.acquire(bytes: 20) }, throws: { Self.isBusy($0) })
        await gate.release(held)
        await gate.release(try await queued.value)
        #expect(await gate.reservedBytes == 0)

        let short = DecodeGate(budget: Self.budget(wait: .milliseconds(100)))
        let blocker = try await short.acquire(bytes: 100)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(performing: { try await short.acquire(bytes: 20) }, throws: { Self.isBusy($0) })
        #expect(clock.now - start >= .milliseconds(100))
        await short.release(blocker)
        await short.release(try await short.acquire(bytes: 100))
    }

    @Test("small images are admitted first and keep a worker of their own")
    func smallFirst() async throws {
        let gate = DecodeGate(budget: Self.budget(memory: 1000, workers: 2, small: 10))
        let large = try await gate.acquire(bytes: 300)
        // The second worker is kept for small images: another large one waits...
        let secondLarge = Task { try await gate.acquire(bytes: 300) }
        try await Task.sleep(for: .milliseconds(30))
        #expect(await gate.reservedBytes == 300)
        // ...while a small one goes straight through.
        let small = try await gate.acquire(bytes: 5)
        #expect(await gate.reservedBytes == 305)
        await gate.release(small)
        await gate.release(large)
        await gate.release(try await secondLarge.value)
        #expect(await gate.reservedBytes == 0)

        // Among waiters the smallest is admitted first.
        let one = DecodeGate(budget: Self.budget(memory: 1000, workers: 1, small: 10))
        let blocker = try await one.acquire(bytes: 500)
        let big = Task { try await one.acquire(bytes: 400) }
        try await Task.sleep(for: .milliseconds(20))
        let little = Task { try await one.acquire(bytes: 8) }
        try await Task.sleep(for: .milliseconds(20))
        await one.release(blocker)
        let first = try await little.value
        #expect(await one.reservedBytes == 8, "the small waiter went first")
        await one.release(first)
        await one.release(try await big.value)
    }

    @Test("a bulk request's small images count as large: they cannot take the worker kept for small ones")
    func bulkCountsAsLarge() async throws {
        let gate = DecodeGate(budget: Self.budget(memory: 1000, workers: 2, small: 10))
        let bulkA = try await gate.acquire(bytes: 5, large: true)
        let bulkB = Task { try await gate.acquire(bytes: 5, large: true) }
        try await Task.sleep(for: .milliseconds(30))
        #expect(await gate.reservedBytes == 5, "the second bulk image waits for the one large worker")
        let small = try await gate.acquire(bytes: 5)
        #expect(await gate.reservedBytes == 10, "a small request's image still goes straight through")
        await gate.release(small)
        await gate.release(bulkA)
        await gate.release(try await bulkB.value)
        #expect(await gate.reservedBytes == 0)
    }

    @Test("large bodies are parsed at a low CPU priority, small ones inline")
    func largeBodiesParsedAtLowPriority() async throws {
        var budget = DecodeBudget()
        budget.smallBodyBytes = 1000
        let pipeline = ImagePipeline(limits: ServerLimits(), budget: budget, preprocessor: TestServer.backend.preprocessor)
        let niceness: @Sendable () -> Int32 = { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
        let mine = niceness()
        let small = try await pipeline.parse(bodyBytes: 1000, niceness)
        let large = try await pipeline.parse(bodyBytes: 1001, niceness)
        #expect(small == mine)
        #expect(large == 19)
    }

    @Test("a refused image maps to its status: over the limits 413, unreadable 422, pixels the process could not allocate 503 with Retry-After")
    func statuses() {
        #expect(ImageBudgetError.image(index: 0, .tooLarge(width: 5000, height: 5000, limit: 100)).apiError.status == .contentTooLarge)
        #expect(ImageBudgetError.image(index: 0, .corrupt("bad")).apiError.status == .unprocessableContent)
        let memory = ImageBudgetError.image(index: 2, .outOfMemory(width: 4000, height: 4000)).apiError
        #expect(memory.status == .serviceUnavailable && memory.retryAfterSeconds == 1, "\(memory)")
    }
}
