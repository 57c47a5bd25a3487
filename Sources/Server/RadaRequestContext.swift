import Hummingbird

/// Request context carrying the authenticated client.
public struct RadaRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client the bearer key names ("local" when the server runs without keys).
    public var client = ""
    /// This request's share of the request-body memory (`BodyMemory`), given back when its
    /// handler has answered.
    var bodyHold: BodyMemory.Hold?

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
