import Synchronization
import Testing
@testable import Server

@Suite("Client turns: one quota'd store write per client at a time, clients side by side")
struct ClientTurnsTests {
    /// What the writes saw: per client, how many ran at once now and at most; which of alice's ran;
    /// whether bob's ran while one of alice's did.
    final class Record: Sendable {
        let state = Mutex<(inFlight: [String: Int], most: [String: Int], order: [Int], bobBeside: Bool)>(([:], [:], [], false))
    }

    @Test("twelve writes of one client run one at a time, each once; another client's write runs while they wait")
    func oneAtATimePerClient() async throws {
        let turns = ClientTurns()
        let record = Record()
        @Sendable func write(_ client: String, _ index: Int) async throws {
            try await turns.run(client) {
                record.state.withLock { state in
                    state.inFlight[client, default: 0] += 1
                    state.most[client] = max(state.most[client] ?? 0, state.inFlight[client]!)
                    if client == "bob", (state.inFlight["alice"] ?? 0) > 0 { state.bobBeside = true }
                    if client == "alice" { state.order.append(index) }
                }
                try await Task.sleep(for: .milliseconds(client == "alice" ? 20 : 5))
                record.state.withLock { $0.inFlight[client, default: 0] -= 1 }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<12 {
                group.addTask { try await write("alice", index) }
            }
            group.addTask { try await write("bob", 0) }
            try await group.waitForAll()
        }
        let seen = record.state.withLock { $0 }
        #expect(seen.most["alice"] == 1, "alice's writes overlapped")
        #expect(seen.order.sorted() == Array(0..<12), "every write ran once")
        #expect(seen.bobBeside, "bob waited for alice's writes")
    }
}
