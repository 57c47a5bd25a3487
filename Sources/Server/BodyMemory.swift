import Synchronization

/// How much memory request bodies may hold while they are read and handled.
public struct BodyMemoryLimits: Sendable {
    /// Bytes all request bodies together may hold, server-wide.
    public var totalBytes = 1 << 30
    /// Bytes one client's bodies may hold (with API keys; without them there is one client).
    public var perClientBytes = 256 << 20
    /// The first bytes of every body are not counted: a connection's small requests never wait
    /// for the budget, and `--max-connections` × this bounds what they hold.
    public var exemptBytes = 64 << 10
    public init() {}
}

/// The server-wide budget of request-body memory. A body is collected whole before it is parsed,
/// so without a bound a client could hold `--max-client-requests` × `--max-body-mb` (4 GiB at the
/// defaults) by sending bodies and withholding their last byte, and a few clients the machine.
/// Each request reserves its body's bytes before they are read (its declared `Content-Length`,
/// all or nothing, so concurrent bodies never each hold a part and starve together; a chunked
/// body as it arrives) and gives them back when its handler has answered.
final class BodyMemory: Sendable {
    let limits: BodyMemoryLimits
    /// Whether the per-client share applies (with API keys: clients to be fair between).
    let perClient: Bool
    private let held = Mutex<(total: Int, clients: [String: Int])>((0, [:]))
    private let onChange: @Sendable (Int) -> Void

    init(limits: BodyMemoryLimits, perClient: Bool, onChange: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.limits = limits
        self.perClient = perClient
        self.onChange = onChange
    }

    /// One request's bytes; they go back when `release()` is called or it is dropped.
    final class Hold: Sendable {
        private let memory: BodyMemory
        private let client: String
        private let bytes = Mutex(0)

        fileprivate init(memory: BodyMemory, client: String) {
            self.memory = memory
            self.client = client
        }

        /// Raises the request's reservation to cover a body of `size` bytes (the exempt first
        /// bytes not counted); throws 429 over the client's share, 503 over the server's budget.
        func cover(_ size: Int) throws {
            try bytes.withLock { held in
                let wanted = max(0, size - memory.limits.exemptBytes)
                guard wanted > held else { return }
                try memory.take(wanted - held, client: client)
                held = wanted
            }
        }

        func release() {
            let given = bytes.withLock { held in
                defer { held = 0 }
                return held
            }
            if given > 0 { memory.give(given, client: client) }
        }

        deinit { release() }
    }

    func hold(client: String) -> Hold { Hold(memory: self, client: client) }

    private func take(_ bytes: Int, client: String) throws {
        let refusal: APIError? = held.withLock { held in
            let clientHeld = held.clients[client, default: 0]
            if perClient, clientHeld > limits.perClientBytes - bytes {
                return APIError.queueFull(
                    "client \"\(client)\" already holds \(clientHeld >> 20) MiB of request bodies in memory, and this one needs \(bytes >> 20) MiB more than its share of \(limits.perClientBytes >> 20) MiB allows (--client-body-memory-mb); retry after its other requests finish")
            }
            if held.total > limits.totalBytes - bytes {
                var error = APIError(
                    .serviceUnavailable, code: "unavailable",
                    "the server holds its limit of \(limits.totalBytes >> 20) MiB of request bodies in memory (--body-memory-mb); retry shortly")
                error.retryAfterSeconds = 1
                return error
            }
            held.total += bytes
            held.clients[client] = clientHeld + bytes
            onChange(held.total)
            return nil
        }
        if let refusal { throw refusal }
    }

    private func give(_ bytes: Int, client: String) {
        held.withLock { held in
            let remaining = held.clients[client, default: bytes] - bytes
            held.clients[client] = remaining > 0 ? remaining : nil
            held.total -= bytes
            onChange(held.total)
        }
    }
}
