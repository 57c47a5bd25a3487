import HTTPTypes
import Hummingbird
import NIOCore

/// The dashboard at `/ui`: a page, its script and its style sheet, all compiled into the binary
/// and served without a key (they hold no data; the page asks for the key and sends it with
/// each API call it makes).
enum Dashboard {
    /// Same-origin script, style and API calls only; no inline script or style, no framing, no
    /// form posts; images only from the page's own blob URLs (previews of dropped files).
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// The assets by path, with their media types.
    static let assets: [(path: String, mediaType: String, body: String)] = [
        ("/ui", "text/html; charset=utf-8", html),
        ("/ui/app.js", "text/javascript; charset=utf-8", javascript),
        ("/ui/app.css", "text/css; charset=utf-8", css),
    ]

    static func response(mediaType: String, body: String) -> Response {
        var headers: HTTPFields = [.contentType: mediaType]
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
