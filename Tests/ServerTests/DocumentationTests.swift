import Foundation
import Testing
@testable import Server

@Suite("Documentation")
struct DocumentationTests {
    @Test("Docs/openapi.yaml is exactly the document the server serves, and names every route")
    func openAPIMatches() throws {
        let docs = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Docs/openapi.yaml")
        let text = try String(contentsOf: docs, encoding: .utf8)
        #expect(text == OpenAPIDocument.yaml, "regenerate with: swift run rada serve --print-openapi > Docs/openapi.yaml")
        for path in ["/v1/streams:", "/v1/streams/{id}:", "/v1/streams/{id}/classify:", "/v1/streams/{id}/reset:",
                     "/v1/streams/{id}/checkpoints:", "/v1/streams/{id}/checkpoints/{name}:",
                     "/v1/streams/{id}/checkpoints/{name}/restore:", "/v1/classify:", "/healthz:", "/readyz:", "/metrics:",
                     "/v1/streams/{id}/history:", "/ui:"] {
            #expect(text.contains("  \(path)\n"), "\(path) documented")
        }
    }

    @Test("API keys file: pairs, comments, and errors naming the line")
    func apiKeysFile() throws {
        let keys = try APIKeys(parsing: "# clients\nalice  alice-secret-1\n\nbob\tbob-secret-22\n", source: "keys.txt")
        #expect(keys.client(forKey: "alice-secret-1") == "alice")
        #expect(keys.client(forKey: "bob-secret-22") == "bob")
        #expect(keys.client(forKey: "bob-secret-2") == nil)
        #expect(throws: APIKeysError.self) { try APIKeys(parsing: "alice\n", source: "k") }
        #expect(throws: APIKeysError.self) { try APIKeys(parsing: "alice short\n", source: "k") }
        #expect(throws: APIKeysError.self) { try APIKeys(parsing: "a/b longenoughkey\n", source: "k") }
        #expect(try APIKeys(environmentValue: "x:xxxxxxxxxx,y:yyyyyyyyyy").clientCount == 2)
    }
}
