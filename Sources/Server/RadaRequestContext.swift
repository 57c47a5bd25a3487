import Hummingbird

/// Request context carrying the authenticated client.
public struct RadaRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client the bearer key names ("local" when the server runs without keys).
    public var client = ""

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
