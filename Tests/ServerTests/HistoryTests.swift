import Adaptation
import Imaging
import Foundation
import Hummingbird
import RadaNumerics
import Testing
@testable import Server

extension Client {
    func history(_ id: String, query: String = "", key: String = "alice-key-123", sourceLocation: SourceLocation = #_sourceLocation) async throws -> HistoryResponse {
        let response = try await send(.get, "/v1/streams/\(id)/history\(query)", key: key)
        #expect(response.status == .ok, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        return try JSONDecoder().decode(HistoryResponse.self, from: Data(buffer: response.body))
    }
}

@Suite("Stream history: points, marks, bounds, persistence")
struct HistoryTests {
    /// Mean entropy and mean top-1 probability of a classify answer, as the history must report them.
    static func means(_ reply: ClassifyReply) -> (entropy: Float, confidence: Float) {
        let n = Float(reply.results.count)
        return (reply.results.map(\.entropy).reduce(0, +) / n, reply.results.map { $0.top[0].probability }.reduce(0, +) / n)
    }

    @Test("Each request is a point with the numbers of its answer; checkpoint, restore and reset are marks; reset clears")
    func pointsAndMarks() async throws {
        try await TestServer().run { client in
            _ = try await client.createStream("h")
            var replies: [ClassifyReply] = []
            for r in 0..<4 { replies.append(try await client.classify("h", TestData.batch(r), query: r == 2 ? "?adapt=false&top=5" : "?top=5")) }
            // Steps and skips as the engine takes them on the same features.
            var twin = try await TestData.twin()
            var expectedSteps: [(steps: Int, skipped: Int)] = []
            for r in 0..<4 {
                let features = try await TestServer.backend.embedImages(TestData.batch(r).map { try ImageDecoder.decode($0) })
                let skippedBefore = twin.counters.skippedSteps
                let result = try twin.process(features, adapt: r != 2)
                expectedSteps.append((result.stepsTaken, twin.counters.skippedSteps - skippedBefore))
            }
            let before = try await client.history("h")
            #expect(before.labels == TestData.labels)
            #expect(before.entries.map(\.seq) == [1, 2, 3, 4])
            #expect(before.latest == 4 && !before.more)
            for (r, (entry, reply)) in zip(before.entries, replies).enumerated() {
                let (entropy, confidence) = Self.means(reply)
                #expect(entry.kind == .request)
                #expect(entry.images == TestData.batch(r).count)
                #expect(abs((entry.meanEntropy ?? -1) - entropy) < 1e-4, "request \(r)")
                #expect(abs((entry.meanConfidence ?? -1) - confidence) < 1e-5, "request \(r)")
                // Every image's top-1 label is counted under its class.
                var counts: [Int: Int] = [:]
                for result in reply.results { counts[TestData.labels.firstIndex(of: result.top[0].label)!, default: 0] += 1 }
                #expect(entry.classes == counts.keys.sorted().map { StreamHistory.ClassCount(index: Int32($0), count: Int32(counts[$0]!)) }, "request \(r)")
                #expect(entry.adapted == (r != 2))
                #expect(entry.skipped == (r == 2 ? .notRequested : expectedSteps[r].skipped > 0 ? .filtered : nil))
                #expect(entry.steps == expectedSteps[r].steps)
                #expect(entry.automaticReset == false)
                #expect(abs(entry.time - StreamHistory.now()) < 60_000)
            }
            #expect(try await client.send(.post, "/v1/streams/h/checkpoints", json: "{\"name\":\"c1\"}").status == .created)
            _ = try await client.classify("h", TestData.batch(4))
            #expect(try await client.send(.post, "/v1/streams/h/checkpoints/c1/restore").status == .ok)
            let marked = try await client.history("h", query: "?since=4")
            #expect(marked.entries.map(\.kind) == [.checkpoint, .request, .restore])
            #expect(marked.entries.map(\.seq) == [5, 6, 7])
            #expect(marked.entries[0].checkpoint == "c1" && marked.entries[2].checkpoint == "c1")

            #expect(try await client.send(.post, "/v1/streams/h/reset").status == .ok)
            let reset = try await client.history("h")
            #expect(reset.entries.map(\.kind) == [.reset], "a reset clears every earlier entry and leaves its own mark")
            #expect(reset.entries.map(\.seq) == [8] && reset.latest == 8)
            _ = try await client.classify("h", TestData.batch(0))
            #expect(try await client.history("h").entries.map(\.seq) == [8, 9])
        }
    }

    @Test("since and limit page through the entries; bad values are 400; another key sees 404")
    func queryAndOwnership() async throws {
        try await TestServer().run { client in
            _ = try await client.createStream("p")
            for r in 0..<5 { _ = try await client.classify("p", TestData.batch(r)) }
            let page = try await client.history("p", query: "?since=1&limit=2")
            #expect(page.entries.map(\.seq) == [2, 3] && page.more && page.latest == 5)
            let rest = try await client.history("p", query: "?since=3&limit=1000")
            #expect(rest.entries.map(\.seq) == [4, 5] && !rest.more)
            #expect(try await client.history("p", query: "?since=5").entries.isEmpty)
            for bad in ["?limit=0", "?limit=1001", "?since=-1", "?since=x", "?limit=9999999999999999999999"] {
                let response = try await client.send(.get, "/v1/streams/p/history\(bad)")
                #expect(response.status == .badRequest && response.errorCode == "bad_request", "\(bad)")
            }
            let foreign = try await client.send(.get, "/v1/streams/p/history", key: "bob-key-4567")
            #expect(foreign.status == .notFound)
            #expect(try await client.send(.get, "/v1/streams/p/history", key: nil).status == .unauthorized)
        }
    }

    @Test("The history of an evicted stream comes back unchanged when it is loaded again")
    func survivesEviction() async throws {
        let perStream = try await TestData.twin().memoryBytes
        let server = TestServer { $0.memoryBudgetBytes = 2 * perStream + perStream / 2 }
        try await server.run { client in
            for s in 0..<4 {
                _ = try await client.createStream("e\(s)")
                for r in 0..<3 { _ = try await client.classify("e\(s)", TestData.batch(r, stream: s), query: r == 1 ? "?adapt=false" : "") }
            }
            func evictions() async throws -> Double {
                try await client.metric("rada_streams_evicted_total") ?? 0
            }
            var first: [HistoryResponse] = []
            for s in 0..<4 { first.append(try await client.history("e\(s)")) }
            let evictedBefore = try await evictions()
            // With room for two, reading four streams in turn reloads each from its snapshot.
            for s in 0..<4 { #expect(try await client.history("e\(s)") == first[s], "stream e\(s)") }
            #expect(try await evictions() - evictedBefore >= 3)
            #expect(first.allSatisfy { $0.entries.count == 3 && $0.entries[1].skipped == .notRequested })
        }
    }

    @Test("History survives a restart from the journal alone (no snapshot since the requests), times included")
    func survivesRestartFromJournal() async throws {
        let first = TestServer { $0.snapshotEveryRecords = 1000 }
        let (before, crashed) = try await first.run { client in
            _ = try await client.createStream("j")
            for r in 0..<5 { _ = try await client.classify("j", TestData.batch(r)) }
            let history = try await client.history("j")
            // What a kill -9 now would leave: the creation snapshot and five journal records.
            return (history, try DurabilityTests.crashImage(of: first.dataDirectory))
        }
        try await TestServer(dataDirectory: crashed).run { client in
            let after = try await client.history("j")
            #expect(after == before)
        }
    }

    @Test("PostgreSQL store: another server taking the stream over serves the same history",
          .enabled(if: ScratchPostgres.url != nil, ScratchPostgres.skipReason))
    func survivesMoveOnPostgres() async throws {
        let url = try ScratchPostgres.isolatedURL()
        let before = try await TestServer.postgres(url) { $0.snapshotEveryRecords = 3 }.run { client in
            _ = try await client.createStream("pg")
            for r in 0..<4 { _ = try await client.classify("pg", TestData.batch(r)) }
            #expect(try await client.send(.post, "/v1/streams/pg/checkpoints", json: "{\"name\":\"c\"}").status == .created)
            _ = try await client.classify("pg", TestData.batch(4))
            return try await client.history("pg")
        }
        #expect(before.entries.map(\.kind) == [.request, .request, .request, .request, .checkpoint, .request])
        try await TestServer.postgres(url).run { client in
            let after = try await client.history("pg")
            #expect(after == before)
        }
    }

    @Test("SIGKILL: the restarted process serves the same history (snapshot plus replayed journal) and continues its seq",
          .enabled(if: radaExecutable != nil, "needs the rada executable (swift build --build-tests)"))
    func survivesKillNine() async throws {
        let executable = try #require(radaExecutable)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("rada-history-kill-\(UUID().uuidString)")
        let port = try KillTests.freePort()
        func history() async throws -> Data {
            let (status, body) = try await KillTests.send(port, .get, "/v1/streams/k/history")
            #expect(status == .ok)
            return body
        }
        let first = try KillTests.launch(executable, port: port, data: data, snapshotEvery: 4)
        try await KillTests.waitReady(port)
        #expect(try await KillTests.send(port, .post, "/v1/streams", json: "{\"id\":\"k\",\"labels\":[\"a\",\"b\",\"c\"]}").0 == .created)
        for r in 0..<3 { #expect(try await KillTests.send(port, .post, "/v1/streams/k/classify", json: Client.imagesJSON(TestData.batch(r))).0 == .ok) }
        #expect(try await KillTests.send(port, .post, "/v1/streams/k/checkpoints", json: "{\"name\":\"mid\"}").0 == .created)
        // Five more: one snapshot on the way, the rest only in the journal at the kill.
        for r in 3..<8 { #expect(try await KillTests.send(port, .post, "/v1/streams/k/classify", json: Client.imagesJSON(TestData.batch(r))).0 == .ok) }
        let before = try await history()
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal)

        let second = try KillTests.launch(executable, port: port, data: data, snapshotEvery: 4)
        defer {
            second.terminate()
            second.waitUntilExit()
        }
        try await KillTests.waitReady(port)
        let after = try await history()
        #expect(after == before, "\(String(decoding: after, as: UTF8.self))")
        let decoded = try JSONDecoder().decode(HistoryResponse.self, from: after)
        #expect(decoded.entries.map(\.kind) == [.request, .request, .request, .checkpoint] + Array(repeating: .request, count: 5))
        #expect(decoded.entries.map(\.seq) == Array(1...9))
        #expect(try await KillTests.send(port, .post, "/v1/streams/k/classify", json: Client.imagesJSON(TestData.batch(9))).0 == .ok)
        #expect(try JSONDecoder().decode(HistoryResponse.self, from: try await history()).latest == 10)
    }

    /// The costliest request point there can be: 64 images, each of another class, with the
    /// longest class indexes of a 100 000-class stream and floats that print long.
    static func worstEntry() -> StreamHistory.Entry {
        StreamHistory.Entry(
            seq: 0, time: 9_999_999_999_999, kind: .request, images: 64, meanEntropy: 1.2345678e-05, meanConfidence: 0.12345679,
            classes: (0..<64).map { StreamHistory.ClassCount(index: Int32(99_936 + $0), count: 1) }, adapted: true, steps: 1_000_000,
            skipped: .filtered, automaticReset: true)
    }

    @Test("The ring never holds more than 64 KiB, stored or in memory, and its stored form loads back equal")
    func boundHolds() throws {
        var history = StreamHistory()
        #expect(history.budgetBytes == 65_536)
        for i in 0..<5_000 {
            history.append(Self.worstEntry())
            if i % 7 == 0 { history.mark(.checkpoint, checkpoint: String(repeating: "n", count: 64)) }
            #expect(history.usedBytes <= 65_536)
        }
        let stored = history.stored()
        let entriesJSON = try JSONEncoder().encode(history.entries)
        #expect(entriesJSON.count <= 65_536, "stored entries: \(entriesJSON.count) bytes")
        #expect(stored.utf8.count <= 65_536 + 32, "with its seq counter: \(stored.utf8.count) bytes")
        #expect(history.entries.count >= 80, "worst-case points kept: \(history.entries.count)")
        #expect(history.entries.last?.seq == history.nextSeq - 1)
        let loaded = try #require(StreamHistory(stored: stored, classes: 100_000))
        #expect(loaded.entries == history.entries && loaded.nextSeq == history.nextSeq && loaded.usedBytes == history.usedBytes)
    }

    @Test("An entry's JSON and the stored form, written without JSONEncoder, are the bytes it writes")
    func writtenJSONIsEncodedJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var random = SeededGenerator(seed: 5)
        // Floats across every exponent, integral ones and the documented ranges' ends.
        var floats: [Float] = [0, 1, 100, 12_345_678, .leastNonzeroMagnitude, 1e-7, 0.1, 2.5e-5, 1e16, 1e21, .greatestFiniteMagnitude, -0.0, 0.33333334]
        for _ in 0..<2_000 {
            let bits = UInt32.random(in: 0...UInt32.max, using: &random)
            let value = Float(bitPattern: bits)
            if value.isFinite { floats.append(value) }
            floats.append(Float.random(in: 0...3, using: &random))
        }
        var checked = 0
        var history = StreamHistory(budgetBytes: 1 << 30)
        let names = ["nightly", "a/b", "quote\"d", "tab\there", "naïve 猫", ""]
        for (i, value) in floats.enumerated() {
            let classes = (0..<(i % 5)).map { StreamHistory.ClassCount(index: Int32(i * 37 % 100_000 + $0), count: Int32(1 + $0 * 999)) }
            let entry = StreamHistory.Entry(
                seq: i * 7919, time: Int64(i) * 123_456_789, kind: i % 11 == 0 ? .reset : .request, images: i % 3 == 0 ? nil : i % 1000,
                meanEntropy: i % 4 == 0 ? nil : value, meanConfidence: floats[(i * 13) % floats.count], classes: i % 6 == 0 ? nil : classes,
                adapted: i % 2 == 0 ? nil : i % 4 == 1, steps: i % 5 == 0 ? nil : i * 3 - 1, skipped: [nil, .notRequested, .filtered][i % 3],
                automaticReset: i % 7 == 0 ? nil : i % 3 == 0)
            let encoded = try encoder.encode(entry)
            let same = StreamHistory.json(entry) == Array(encoded)
            #expect(same && StreamHistory.jsonLength(entry) == encoded.count, "\(String(decoding: encoded, as: UTF8.self))")
            checked += 1
            if i % 9 == 0 {
                let mark = StreamHistory.Entry(seq: i, time: Int64(i), kind: .checkpoint, checkpoint: names[i % names.count])
                let same = StreamHistory.json(mark) == Array(try encoder.encode(mark))
                #expect(same, "\(mark)")
            }
            history.append(entry)
        }
        #expect(checked > 3_000)
        // The stored form: the same bytes as encoding the whole history.
        struct Stored: Encodable { var nextSeq: Int; var entries: [StreamHistory.Entry] }
        let whole = try encoder.encode(Stored(nextSeq: history.nextSeq, entries: history.entries))
        #expect(history.entries.count == floats.count)
        #expect(history.stored() == String(decoding: whole, as: UTF8.self))
        // A non-finite number is left to the encoder, which refuses it.
        #expect(StreamHistory.json(StreamHistory.Entry(seq: 1, time: 1, kind: .request, meanEntropy: .nan)) == nil)
    }

    @Test("Typical cost: a 10-class stream with 8-image requests keeps at least 280 of them")
    func typicalCapacity() async throws {
        let labels = (0..<10).map { "class \($0)" }
        var state = try await TestData.twin(labels: labels)
        var history = StreamHistory()
        var random = SeededGenerator(seed: 17)
        for _ in 0..<1_000 {
            let features = Matrix(rows: 8, cols: state.dimension, storage: (0..<(8 * state.dimension)).map { _ in Float.random(in: -1...1, using: &random) })
            history.record(try state.process(features), adapt: true, skippedSteps: 0, time: StreamHistory.now())
        }
        #expect(history.usedBytes <= 65_536)
        #expect(history.entries.count >= 280, "kept \(history.entries.count) points")
    }

    @Test("A stored history that this server could not have written is dropped, not trusted")
    func storedHistoryIsValidated() throws {
        var history = StreamHistory()
        history.mark(.reset, time: 1)
        history.append(StreamHistory.Entry(seq: 0, time: 2, kind: .request, images: 3, meanEntropy: 0.5, meanConfidence: 0.7,
                                           classes: [.init(index: 0, count: 2), .init(index: 4, count: 1)], adapted: true, steps: 1))
        let good = history.stored()
        #expect(StreamHistory(stored: good, classes: 5)?.entries == history.entries)
        #expect(StreamHistory(stored: good, classes: 4) == nil, "class index beyond the stream's classes")
        for bad in [good.replacingOccurrences(of: "[4,1]", with: "[4,2]"),        // counts do not add up to the images
                    good.replacingOccurrences(of: "\"seq\":2", with: "\"seq\":1"),  // seq not increasing
                    good.replacingOccurrences(of: "\"nextSeq\":3", with: "\"nextSeq\":2"),
                    good.replacingOccurrences(of: "[0,2]", with: "[0,2,9]"),
                    "{\"nextSeq\":1,\"entries\":[]", "[]"] {
            #expect(StreamHistory(stored: bad, classes: 5) == nil, "\(bad)")
        }
    }

    @Test("Journal records carry their time; records from before the history still load (no time)")
    func journalTime() {
        let features = Matrix(rows: 1, cols: 2, storage: [0.5, -1])
        let timed = JournalRecord(sequence: 7, adapt: true, features: features, time: 1_764_483_458_123)
        #expect(JournalRecord(payload: timed.payload()[...]) == timed)
        let old = JournalRecord(sequence: 7, adapt: false, features: features)
        #expect(old.payload().count == 17 + 8)
        #expect(JournalRecord(payload: old.payload()[...]) == old)
        #expect(JournalRecord(payload: (timed.payload() + [0])[...]) == nil)
    }
}
