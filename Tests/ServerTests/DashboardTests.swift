import Foundation
import Hummingbird
import Testing
@testable import Server

@Suite("Dashboard assets")
struct DashboardTests {
    @Test("/ui, its script and style sheet are served without a key, with their types and a strict Content-Security-Policy")
    func served() async throws {
        try await TestServer().run { client in
            for (path, type, marker) in [("/ui", "text/html", "<title>RAdaServe dashboard</title>"),
                                         ("/ui/app.js", "text/javascript", "'use strict';"),
                                         ("/ui/app.css", "text/css", ":root {")] {
                let reply = try await client.send(.get, path, key: nil)
                #expect(reply.status == .ok, "\(path)")
                #expect(reply.headers[.contentType]?.hasPrefix(type) == true, "\(path): \(reply.headers[.contentType] ?? "")")
                let policy = reply.headers[.contentSecurityPolicy] ?? ""
                #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"), "\(path): \(policy)")
                #expect(!policy.contains("unsafe"), "\(path)")
                #expect(reply.headers[.xContentTypeOptions] == "nosniff")
                #expect(String(buffer: reply.body).contains(marker), "\(path)")
            }
            #expect(try await client.send(.post, "/ui", key: nil).status == .methodNotAllowed)
            // The API behind the page still needs the key.
            #expect(try await client.send(.get, "/v1/streams", key: nil).status == .unauthorized)
        }
    }

    @Test("The page keeps to its policy: no inline script, style or handlers; the script never writes HTML, evaluates strings or stores the key beyond the tab")
    func keepsToThePolicy() throws {
        let page = Dashboard.html
        let scripts = Array(page.components(separatedBy: "<script").dropFirst())
        #expect(scripts.count == 1 && scripts[0].hasPrefix(" src=\"/ui/app.js\" defer></script>"), "one script, from its own file")
        #expect(!page.contains("<style") && !page.contains(" style=") && page.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil)
        #expect(page.contains("href=\"/ui/app.css\""))
        let script = Dashboard.javascript
        for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "setAttribute('style'"] {
            #expect(!script.contains(forbidden), "\(forbidden)")
        }
        #expect(script.contains("sessionStorage.setItem(KEY_STORAGE"))
        #expect(Set(Dashboard.assets.map(\.path)).isSubset(of: AuthMiddleware.publicPaths))
    }
}
