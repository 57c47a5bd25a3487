import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import Synchronization
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// The HTTP/1.1 child channel: Hummingbird's `HTTP1Channel` with `RequestGuard` in front of the
/// HTTP decoder and `RequestPhaseHandler` behind it.
///
/// Why a wrapper: Hummingbird's idle timeout alone cannot stop a slowloris client (each byte
/// resets it) and its decoder turns every malformed or oversized head into a bodiless 400. The
/// guard sees raw bytes, so it can time the head from its first byte, tell an over-long request
/// line (414) from oversized headers (431), and answer both with the API's JSON error.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    let metrics: ServerMetrics
    /// For 405s to methods the HTTP parser does not know (see `RequestGuard.unknownMethod`).
    let routes: RouteIndex
    /// Body bytes dropped at most after an early answer (`ServerLimits.largestBodyBytes`).
    let drainBytes: Int
    let connections = ConnectionTable()

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Called on the channel's event loop (the server's child channel initializer).
        let progress = BodyProgress()
        let admission = connections.admit(channel, progress: progress, limits: limits)
        channel.closeFuture.whenComplete { [connections, metrics] _ in
            metrics.openConnections.set(Double(connections.remove(channel)))
        }
        metrics.openConnections.set(Double(connections.count))
        if case let .admittedEvicting(victim, reason) = admission {
            metrics.recordRejected(reason: reason.rawValue)
            victim.close(promise: nil)
        }
        var refusal: APIError?
        if case .refused = admission {
            metrics.recordRejected(reason: "over_capacity")
            refusal = .unavailable("the server is at its limit of \(limits.maxConnections) busy connections; retry shortly")
            refusal?.retryAfterSeconds = 1
        }
        // A refused connection still gets the full pipeline (a failed set-up would be reported to
        // the server's accept loop); its guard answers and closes it at once.
        let requestGuard = RequestGuard(
            limits: limits, logger: logger, metrics: metrics, connections: connections, routes: routes, progress: progress,
            drainBytes: drainBytes, refusal: refusal)
        do {
            try channel.pipeline.syncOperations.addHandler(requestGuard, position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let bound = NIOLoopBound(requestGuard, eventLoop: channel.eventLoop)
        // NIO's own limits sit just above the guard's, so the guard always answers first; the
        // decoder's limit only matters for a pipelined head the guard could not scan (then 431).
        let decoder = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: limits.maxRequestLineBytes + limits.maxHeaderBytes + 1,
            maxHeaderListSize: limits.maxRequestLineBytes + limits.maxHeaderBytes + 1,
            maxHeaderFieldCount: 1000)
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestPhaseHandler(requestGuard: bound.value)],
            idleTimeout: TimeAmount(limits.idleTimeout),
            httpDecoderConfiguration: decoder)
        return HTTP1Channel(responder: responder, configuration: configuration).setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

/// The open connections, and which of them are idle (no request being handled: waiting for a
/// first head, between kept-alive requests, or trickling a head in), oldest idle first.
///
/// At the cap a new connection evicts the connection that has been idle longest, so idle or
/// slowloris connections cannot lock out real clients (with Hummingbird's accept back-pressure
/// a real request waited behind them in the listen backlog: 22 s with 15,000 idle sockets).
/// With none idle, it evicts the connection whose request body arrives slowest, if that is below
/// the floor (`ConnectionLimits.slowBodyBytesPerSecond`, `BodyProgress`): otherwise bodies
/// trickled just within the body timeout could hold every slot. A connection whose request is
/// being answered, or whose body keeps up, is never evicted; when every open connection is such,
/// the new one is answered 503 at once and closed, so file descriptors stay bounded by the cap.
final class ConnectionTable: Sendable {
    enum Eviction: String {
        case idle = "evicted_idle"
        case slowBody = "evicted_slow_body"
    }

    enum Admission {
        case admitted
        /// Admitted; close this connection to make room.
        case admittedEvicting(any Channel, Eviction)
        /// Over the cap with nothing to evict.
        case refused
    }

    private struct Entry {
        let channel: any Channel
        let progress: BodyProgress
        /// When it last became idle (a sequence number), nil while busy.
        var idleSince: UInt64?
        /// Chosen for eviction; closing, no longer counted.
        var evicted = false
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var counted = 0
        var tick: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Counts `channel` (idle until it delivers a head) against `limits.maxConnections`.
    func admit(_ channel: any Channel, progress: BodyProgress, limits: ConnectionLimits) -> Admission {
        let now = BodyProgress.now
        return state.withLock { state in
            state.tick += 1
            let id = ObjectIdentifier(channel)
            let entry = Entry(channel: channel, progress: progress, idleSince: state.tick)
            guard state.counted >= limits.maxConnections else {
                state.entries[id] = entry
                state.counted += 1
                return .admitted
            }
            // Linear in the cap, and only at the cap: simpler than an ordered index, and cheap
            // next to the accept and the TLS-free HTTP parse that follow.
            var oldest: (id: ObjectIdentifier, since: UInt64)?
            for (key, entry) in state.entries where !entry.evicted {
                if let since = entry.idleSince, since < oldest?.since ?? .max { oldest = (key, since) }
            }
            if let oldest, let victim = state.entries[oldest.id] {
                state.entries[oldest.id]?.evicted = true
                state.entries[id] = entry
                return .admittedEvicting(victim.channel, .idle)
            }
            var bodies: [(id: ObjectIdentifier, sample: (bytes: Int, waitedNanoseconds: Int))] = []
            for (key, entry) in state.entries where !entry.evicted {
                if let sample = entry.progress.sample(at: now) { bodies.append((key, sample)) }
            }
            guard let slowest = BodyProgress.slowest(bodies.map(\.sample), floor: limits.slowBodyBytesPerSecond),
                  let victim = state.entries[bodies[slowest].id] else { return .refused }
            state.entries[bodies[slowest].id]?.evicted = true
            state.entries[id] = entry
            return .admittedEvicting(victim.channel, .slowBody)
        }
    }

    func setIdle(_ channel: any Channel, _ idle: Bool) {
        state.withLock { state in
            let id = ObjectIdentifier(channel)
            guard let entry = state.entries[id], (entry.idleSince != nil) != idle else { return }
            state.tick += 1
            state.entries[id]?.idleSince = idle ? state.tick : nil
        }
    }

    /// Forgets a closed connection; returns how many are still counted.
    @discardableResult
    func remove(_ channel: any Channel) -> Int {
        state.withLock { state in
            if let entry = state.entries.removeValue(forKey: ObjectIdentifier(channel)), !entry.evicted { state.counted -= 1 }
            return state.counted
        }
    }

    var count: Int { state.withLock { $0.counted } }
}

/// Counts a request head's bytes as they arrive: the request line against one limit (414), the
/// header lines against another (431), until the blank line that ends the head.
struct HeadScanner {
    enum Verdict: Equatable { case fine, requestLineTooLong, headersTooLarge, unsupportedTransferCoding(String) }

    /// The current header line while it may still be a `Transfer-Encoding` field (its first
    /// `transferEncodingBytes` bytes at most): the HTTP parser reads only `chunked`, and with any
    /// other coding it reported the head first and its error after, when the request was already
    /// with a handler and the connection could only close without an answer.
    private var headerLine: [UInt8] = []
    private var headerLineMayMatch = true
    private static let transferEncodingBytes = 256
    private static let transferEncodingName = Array("transfer-encoding:".utf8)

    private var inRequestLine = true
    private var requestLineBytes = 0
    /// The request line without CR/LF (at most the request-line limit), for answering a method
    /// the HTTP parser refuses.
    private(set) var requestLine: [UInt8] = []
    private var headerBytes = 0
    /// Bytes of the current line other than CR and LF.
    private var lineContent = 0
    private(set) var isComplete = false

    mutating func scan(_ bytes: ByteBufferView, maxRequestLine: Int, maxHeaders: Int) -> Verdict {
        for byte in bytes {
            if isComplete { return .fine }
            let isLF = byte == UInt8(ascii: "\n")
            let isCR = byte == UInt8(ascii: "\r")
            if inRequestLine {
                if isLF {
                    // Empty lines before a request line are allowed (RFC 9112 §2.2) and skipped.
                    if lineContent > 0 { inRequestLine = false }
                    lineContent = 0
                    continue
                }
                requestLineBytes += 1
                if requestLineBytes > maxRequestLine { return .requestLineTooLong }
                if !isCR {
                    lineContent += 1
                    requestLine.append(byte)
                }
            } else {
                headerBytes += 1
                if headerBytes > maxHeaders { return .headersTooLarge }
                if isLF {
                    if lineContent == 0 { isComplete = true }
                    lineContent = 0
                    if headerLineMayMatch, let coding = Self.unsupportedCoding(headerLine) { return .unsupportedTransferCoding(coding) }
                    headerLine.removeAll(keepingCapacity: true)
                    headerLineMayMatch = true
                } else if !isCR {
                    lineContent += 1
                    // Only a line that is becoming `Transfer-Encoding:` is kept.
                    if headerLineMayMatch, headerLine.count < Self.transferEncodingBytes {
                        let at = headerLine.count
                        if at < Self.transferEncodingName.count, Self.lowercased(byte) != Self.transferEncodingName[at] {
                            headerLineMayMatch = false
                        } else {
                            headerLine.append(byte)
                        }
                    }
                }
            }
        }
        return .fine
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// The value of a `Transfer-Encoding` line unless it is `chunked` alone (case-insensitive,
    /// optional white space); nil for any other line.
    static func unsupportedCoding(_ line: [UInt8]) -> String? {
        guard line.count >= transferEncodingName.count, zip(line, transferEncodingName).allSatisfy({ lowercased($0) == $1 }) else { return nil }
        let value = line.dropFirst(transferEncodingName.count).map(lowercased)
        let trimmed = value.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
        if Array(trimmed) == Array("chunked".utf8) { return nil }
        return String(decoding: trimmed.prefix(64), as: UTF8.self)
    }
}

/// First handler of every connection (raw bytes): enforces the request-head and body timeouts
/// and the head size limits, and answers violations itself with the JSON error, then closes.
final class RequestGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Waiting for or receiving a head; `started` once its first byte (or the connection) arrived.
        case head(HeadScanner, started: Bool)
        /// The decoder produced a head; its body (if any) is arriving.
        case body
        /// We answered an error: input is read and dropped until the client closes or the linger ends.
        case rejected
        /// A response ended before its request's body: the rest is read and dropped, up to
        /// `drainBytes` and while it keeps coming, so that a client sending the whole body before
        /// reading gets the answer rather than a reset; then the connection closes.
        case draining(left: Int)
    }

    private let limits: ConnectionLimits
    private let logger: Logger
    private let metrics: ServerMetrics
    private var phase = Phase.head(HeadScanner(), started: false)
    /// Requests whose response has not ended yet: while any, the connection's bytes belong to
    /// Hummingbird's writer and the guard must not write a response of its own.
    private var responsesPending = 0
    /// The rest of the input was refused while requests were being answered: the connection
    /// ends once their answers are written.
    private var closeWhenAnswered = false
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    /// Where this connection's idleness is recorded (idle connections may be evicted at the cap).
    private let connections: ConnectionTable
    /// How fast this connection's request body arrives (slow ones may be evicted at the cap).
    private let progress: BodyProgress
    /// The server has asked the socket for bytes and none has come yet.
    private var readPending = false
    /// Most body bytes dropped after an early answer: the largest body any route takes, so an
    /// early answer never costs more reading than an accepted request.
    private let drainBytes: Int
    /// Longest pause of a body being dropped before the connection closes.
    static let drainPause: Duration = .seconds(5)

    /// Set when every connection was busy at accept: answered at once, then closed.
    private let refusal: APIError?
    private let routes: RouteIndex

    init(
        limits: ConnectionLimits, logger: Logger, metrics: ServerMetrics, connections: ConnectionTable, routes: RouteIndex,
        progress: BodyProgress = BodyProgress(), drainBytes: Int, refusal: APIError? = nil
    ) {
        self.progress = progress
        self.drainBytes = drainBytes
        self.limits = limits
        self.logger = logger
        self.metrics = metrics
        self.connections = connections
        self.routes = routes
        self.refusal = refusal
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { connectionStarted(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionStarted(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    /// A new connection must deliver its first head within the header timeout, counted from accept.
    private func connectionStarted(_ context: ChannelHandlerContext) {
        guard case .head(let scanner, started: false) = phase else { return }
        if let refusal {
            // No linger here: under a flood of refusals every open descriptor counts, and a
            // client whose request is unread may see a reset instead of the 503.
            phase = .rejected
            context.writeAndFlush(wrapOutboundOut(Self.rawResponse(refusal)), promise: nil)
            context.close(promise: nil)
            return
        }
        phase = .head(scanner, started: true)
        schedule(limits.headerTimeout, context) { $0.timedOut(.requestTimeout("the request head did not arrive within \($0.limits.headerTimeout)")) }
    }

    /// Reads pass here last on their way to the socket: NIO's back-pressure withholds them
    /// further up while the handler is not taking the body, so a read seen here is the server
    /// asking, and the time until bytes come is the client's.
    func read(context: ChannelHandlerContext) {
        if !readPending {
            readPending = true
            progress.readAsked(at: BodyProgress.now)
        }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if readPending {
            readPending = false
            progress.readAnswered(at: BodyProgress.now)
        }
        let buffer = unwrapInboundIn(data)
        switch phase {
        case .rejected:
            return
        case .draining(let left):
            let remaining = left - buffer.readableBytes
            guard remaining >= 0 else {
                logger.debug("dropped \(drainBytes) body bytes after an early answer; closing")
                context.close(promise: nil)
                return
            }
            phase = .draining(left: remaining)
            schedule(Self.drainPause, context) { $0.context?.close(promise: nil) }
            return
        case .head(var scanner, let started):
            if !started {
                // The first byte of a keep-alive connection's next request starts its head timer.
                schedule(limits.headerTimeout, context) { $0.timedOut(.requestTimeout("the request head did not arrive within \($0.limits.headerTimeout)")) }
            }
            switch scanner.scan(buffer.readableBytesView, maxRequestLine: limits.maxRequestLineBytes, maxHeaders: limits.maxHeaderBytes) {
            case .requestLineTooLong:
                reject(.uriTooLong(limit: limits.maxRequestLineBytes), context)
                return
            case .headersTooLarge:
                reject(.headersTooLarge(limit: limits.maxHeaderBytes), context)
                return
            case .unsupportedTransferCoding(let coding):
                reject(.badRequest("Transfer-Encoding \"\(coding)\" is not supported: send the body with Content-Length or Transfer-Encoding: chunked"), context)
                return
            case .fine:
                phase = .head(scanner, started: true)
            }
        case .body:
            // A body may take long in total but must keep moving.
            schedule(limits.bodyTimeout, context) { $0.timedOut(nil) }
        }
        context.fireChannelRead(data)
    }

    // MARK: From RequestPhaseHandler (after the decoder)

    func decodedHead() {
        responsesPending += 1
        updateIdleness()
        guard case .head = phase, let context else { return }
        phase = .body
        progress.bodyStarted(at: BodyProgress.now, readPending: readPending)
        schedule(limits.bodyTimeout, context) { $0.timedOut(nil) }
    }

    func decodedBody(bytes: Int) {
        progress.received(bytes)
    }

    func decodedEnd() {
        guard case .body = phase else { return }
        progress.bodyEnded()
        cancelTimer()
        // Bytes of a pipelined next head that arrived with this request were passed on
        // unscanned; the scanner starts with the next read (NIO's decoder limit still applies).
        phase = .head(HeadScanner(), started: false)
        updateIdleness()
    }

    func responseEnded() {
        responsesPending -= 1
        updateIdleness()
    }

    /// Whether the answer whose end is being written is the last one before the connection ends
    /// (`closeWhenAnswered`); then `answersWritten` follows once it is on the wire.
    var endsWithThisAnswer: Bool { closeWhenAnswered && responsesPending == 0 }

    /// Output closed after the last answer, as after a rejection; the input a moment later.
    func answersWritten() {
        guard let context else { return }
        cancelTimer()
        closeOutputThenInput(context)
    }

    /// Closes the output at once and the whole connection 2 s later (should half-closure fail,
    /// the timer still closes it): closing with unread input would make the kernel send a reset,
    /// and the client could lose the answer just written.
    private func closeOutputThenInput(_ context: ChannelHandlerContext) {
        context.close(mode: .output, promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
    }

    /// Whether a request body is still arriving (its end not yet decoded).
    var isReadingBody: Bool {
        if case .body = phase { return true }
        return false
    }

    /// A response was written in full while its request's body was still arriving (an early
    /// 401, 404 or 413): nothing will read the rest. Hummingbird would read all of it to keep the
    /// connection (8.5 GB in 3 s of a declared 10 GB on loopback, a core's worth); instead the
    /// output closes, and the rest is dropped up to `drainBytes` while it keeps coming (the
    /// connection counts as idle meanwhile), then the connection closes.
    func answeredBeforeBody() {
        guard case .body = phase, responsesPending == 0, let context else { return }
        logger.debug("answered before the request body arrived; dropping the rest, then closing")
        phase = .draining(left: drainBytes)
        progress.bodyEnded()
        context.close(mode: .output, promise: nil)
        schedule(Self.drainPause, context) { $0.context?.close(promise: nil) }
        updateIdleness()
    }

    /// Idle (evictable at the cap) while no request is being read or answered.
    private func updateIdleness() {
        guard let context else { return }
        var waitingForHead = false
        switch phase {
        case .head, .draining: waitingForHead = true
        case .body, .rejected: break
        }
        connections.setIdle(context.channel, responsesPending == 0 && waitingForHead)
    }

    /// A head the decoder refused (malformed, or oversized where the guard could not scan it).
    func decoderFailed(_ error: HTTPParserError) {
        guard let context else { return }
        if case .headerOverflow = error {
            reject(.headersTooLarge(limit: limits.maxHeaderBytes), context)
        } else if case .invalidMethod = error, case let .head(scanner, _) = phase, let answer = Self.unknownMethod(scanner.requestLine, routes) {
            reject(answer, context)
        } else {
            reject(.badRequest("the request is not valid HTTP/1.1 (\(error))"), context)
        }
    }

    /// The answer to a well-formed request line whose method the HTTP parser does not know
    /// (`FOO /v1/streams HTTP/1.1`): like any other method the path does not list, 405 with
    /// `Allow` (404 for an unknown path). nil when the line is not `token SP target SP version`.
    static func unknownMethod(_ line: [UInt8], _ routes: RouteIndex) -> APIError? {
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte), parts[1].first == UInt8(ascii: "/"),
              parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let path = String(decoding: parts[1].prefix { $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }, as: UTF8.self)
        let allowed = routes.allowedMethods(for: path)
        return allowed.isEmpty ? .notFound("no such route") : .methodNotAllowed(allowed: allowed)
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    // MARK: Timeouts and rejection

    private func schedule(_ delay: Duration, _ context: ChannelHandlerContext, _ action: @escaping (RequestGuard) -> Void) {
        cancelTimer()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
            timer = nil
            action(self)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    /// A head timeout is answered with 408 when no response is in flight; a stalled body only
    /// closes (its request is with a handler, which owns the response).
    private func timedOut(_ error: APIError?) {
        guard let context else { return }
        if let error {
            logger.debug("request head timed out; closing")
            reject(error, context)
        } else {
            logger.debug("request body stalled; closing")
            metrics.recordRejected(reason: "body_timeout")
            phase = .rejected
            context.close(promise: nil)
        }
    }

    /// Answers `error` (when no other response is being written) and closes. Output is closed
    /// first and input drained for a moment: closing with unread input would make the kernel
    /// send a reset, and a client still sending its oversized head would lose the answer.
    private func reject(_ error: APIError, _ context: ChannelHandlerContext) {
        if case .rejected = phase { return }
        let readingBody = isReadingBody
        phase = .rejected
        cancelTimer()
        metrics.recordRejected(reason: error.code)
        guard responsesPending == 0 else {
            // Bytes that cannot be parsed after whole requests (a pipelined request followed
            // by junk): those requests are answered, then the connection ends. It used to end
            // at once, and a valid request sent with junk after it got no answer. A request
            // whose own body cannot be parsed has no answer coming: that ends at once.
            if readingBody {
                context.close(promise: nil)
            } else {
                closeWhenAnswered = true
                schedule(limits.bodyTimeout, context) { $0.context?.close(promise: nil) }
            }
            return
        }
        context.writeAndFlush(wrapOutboundOut(Self.rawResponse(error)), promise: nil)
        closeOutputThenInput(context)
    }

    /// The error as a complete HTTP/1.1 response, written below Hummingbird's encoder.
    static func rawResponse(_ error: APIError) -> ByteBuffer {
        let body = error.body
        var head = "HTTP/1.1 \(error.status.code) \(error.status.reasonPhrase)\r\n"
        for field in error.headers { head += "\(field.name.rawName): \(field.value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        var buffer = ByteBuffer(string: head)
        buffer.writeBytes(body)
        return buffer
    }
}

/// Behind the decoder: tells the guard where each request and response starts and ends, and
/// turns decoder errors into the guard's JSON answer instead of Hummingbird's empty 400.
final class RequestPhaseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let requestGuard: RequestGuard

    init(requestGuard: RequestGuard) {
        self.requestGuard = requestGuard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: requestGuard.decodedHead()
        case .end: requestGuard.decodedEnd()
        case .body(let buffer): requestGuard.decodedBody(bytes: buffer.readableBytes)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        requestGuard.responseEnded()
        // The last answer before the connection ends (the rest of the input was refused), or
        // one ended before its request's body: once it is on the wire, end the connection.
        let endsConnection = requestGuard.endsWithThisAnswer, beforeBody = requestGuard.isReadingBody
        guard endsConnection || beforeBody else {
            context.write(data, promise: promise)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        let bound = NIOLoopBound(requestGuard, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in endsConnection ? bound.value.answersWritten() : bound.value.answeredBeforeBody() }
        written.futureResult.cascade(to: promise)
        context.write(data, promise: written)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError {
            requestGuard.decoderFailed(error)
            return
        }
        context.fireErrorCaught(error)
    }
}
