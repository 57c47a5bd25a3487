import Adaptation
import Foundation
import Hummingbird
import Testing
@testable import Server

@Suite("Concurrency: ordering per stream, parallel streams, batching")
struct ConcurrencyTests {
    @Test("many streams × many concurrent requests equal replaying each stream alone in the order applied")
    func concurrentStreams() async throws {
        let streams = 6, requests = 8
        let server = TestServer {
            $0.maxBatchImages = 16
            $0.maxBatchWait = .milliseconds(3)
        }
        let replies = try await server.run { client -> [[ClassifyReply]] in
            for s in 0..<streams { _ = try await client.createStream("c\(s)") }
            return try await withThrowingTaskGroup(of: (Int, Int, ClassifyReply).self) { group in
                for s in 0..<streams {
                    for r in 0..<requests {
                        group.addTask { (s, r, try await client.classify("c\(s)", TestData.batch(r, stream: s))) }
                    }
                }
                var byStream = [[ClassifyReply?]](repeating: [ClassifyReply?](repeating: nil, count: requests), count: streams)
                for try await (s, r, reply) in group { byStream[s][r] = reply }
                return byStream.map { $0.map { $0! } }
            }
        }
        let metrics = server.metrics.exposition()
        func value(_ name: String) -> Double? { metricValue(name, in: metrics) }
        let images = (0..<streams).reduce(0) { total, s in total + (0..<requests).reduce(0) { $0 + TestData.batch($1, stream: s).count } }
        #expect(value("rada_backbone_batch_images_sum") == Double(images))
        let calls = try #require(value("rada_backbone_batch_images_count"))
        #expect(calls < Double(streams * requests), "concurrent requests shared backbone calls (\(calls) calls)")
        for s in 0..<streams {
            // Each reply names its place in the stream's order; replay in that order.
            let order = (0..<requests).sorted { replies[s][$0].request! < replies[s][$1].request! }
            #expect(order.map { replies[s][$0].request! } == Array(1...requests), "steps 1...n, each once")
            var twin = try await TestData.twin()
            for r in order {
                #expect(replies[s][r] == (try await TestData.expected(&twin, TestData.batch(r, stream: s))), "stream \(s) request \(r)")
            }
        }
    }

    @Test("requests sent one after another on a stream apply in that order")
    func sequentialOrder() async throws {
        try await TestServer().run { client in
            _ = try await client.createStream("o")
            var twin = try await TestData.twin()
            for r in 0..<6 {
                let reply = try await client.classify("o", TestData.batch(r))
                #expect(reply.request == r + 1)
                #expect(reply == (try await TestData.expected(&twin, TestData.batch(r))))
            }
        }
    }

    @Test("requests that arrive while their stream is being created use the created stream: every acknowledged request counted once, also after a restart")
    func requestsDuringCreation() async throws {
        let server = TestServer()
        let acknowledged = try await server.run { client in
            var acknowledged: [String: Int] = [:]
            for trial in 0..<12 {
                let id = "c\(trial)"
                let answers = try await withThrowingTaskGroup(of: Int?.self) { group in
                    group.addTask { _ = try await client.createStream(id); return nil }
                    // Requests from the moment the creation starts until well after it ends: a
                    // 404 before the stream exists is fine, an answer must be the created stream's.
                    for delay in [0, 1, 2, 3, 5, 8, 12, 20] {
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(delay + trial % 3))
                            let reply = try await client.send(.post, "/v1/streams/\(id)/classify", json: Client.imagesJSON(TestData.batch(delay % 4)))
                            guard reply.status == .ok else { return nil }
                            return try JSONDecoder().decode(ClassifyReply.self, from: Data(buffer: reply.body)).request
                        }
                    }
                    var requests: [Int] = []
                    for try await request in group { if let request { requests.append(request) } }
                    return requests
                }
                #expect(Set(answers).count == answers.count, "\(id): request numbers given twice: \(answers.sorted())")
                let info = try client.object(try await client.send(.get, "/v1/streams/\(id)"))
                #expect(info["requests"] as? Int == answers.count, "\(id): \(answers.count) acknowledged, stream counts \(info["requests"] ?? "none")")
                acknowledged[id] = answers.count
            }
            return acknowledged
        }
        // The journal holds each acknowledged request once, under one numbering.
        try await TestServer(dataDirectory: server.dataDirectory).run { client in
            for (id, count) in acknowledged {
                let info = try client.object(try await client.send(.get, "/v1/streams/\(id)"))
                #expect(info["requests"] as? Int == count, "\(id) after a restart")
            }
        }
    }
}
