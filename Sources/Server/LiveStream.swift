import Adaptation
import Foundation
import SafeTensors
import RadaNumerics
import StreamStore
import Synchronization

/// Why a stream's stored state could not be loaded; the message names no path (it is shown to
/// the stream's owner), the log gets the underlying error.
enum StreamLoadError: Error, CustomStringConvertible {
    case metadata(String)
    case noSnapshot(String)
    case journal(String)

    var description: String {
        switch self {
        case .metadata(let why): why
        case .noSnapshot(let why): "no snapshot passes validation: \(why)"
        case .journal(let why): "the journal is damaged: \(why)"
        }
    }

    /// The owner-facing reason for any error thrown while loading.
    static func reason(_ error: any Error) -> String {
        if case .damaged(let why)? = error as? StreamStoreError { return why }
        return (error as? StreamLoadError)?.description ?? "its files cannot be read"
    }
}

/// What a loaded stream uses of the server around it, the same for every stream.
struct StreamServices: Sendable {
    /// Where periodic snapshots are written, off the streams' locks.
    let snapshotWriter: WorkerPool
    /// Called once per write the store refused because another server took the stream over
    /// (counted in the server's metrics: a paused owner's late writes are visible there).
    let fencedWrite: @Sendable () -> Void
    /// Called when a periodic snapshot written off the lock ends.
    let snapshotWritten: @Sendable (SnapshotOutcome) -> Void
}

/// How a periodic snapshot written off the lock ended, for the metrics and the log.
struct SnapshotOutcome: Sendable {
    var client: String
    var stream: String
    /// Encoding and store write.
    var duration: Duration
    /// Why it did not land; nil when it did.
    var error: (any Error)?
    /// Journal records past the last stored snapshot, which a reload would replay.
    var journalRecords: UInt64
}

/// One stream held in memory: its engine state, its store handle, and the turnstile that makes its
/// requests apply one at a time in arrival order. All state changes go through `mutate`, which
/// runs under the stream's lock; durability (journal fsync or snapshot) happens there before
/// the caller can acknowledge. The periodic snapshot is the exception: it only starts under the
/// lock (a copy of the state, a new journal segment) and is written on the snapshot writer's
/// threads while the stream serves on; its requests are in the journal until it lands.
final class LiveStream: Sendable {
    let metadata: StreamMetadata
    /// Where the stream is written (journal, snapshots, checkpoints); used only under `inner`'s
    /// lock or the stream's turn, so one call at a time.
    let handle: any StreamHandle
    private let turnstile = Mutex(Turnstile())
    private let inner: Mutex<Inner>
    /// Bookkeeping the registry reads without ever waiting for `inner` (which a step holds for
    /// as long as it runs): refreshed whenever the state changes.
    private let cachedMemoryBytes: Atomic<Int>
    private let lastUsedNanoseconds = Atomic<Int64>(0)
    /// `memoryBytes` when the registry last had to look at this stream's growth (0: never).
    private let budgetedBytes = Atomic(0)
    private let lost = Atomic(false)
    /// Step cost of a 1-image and of a 64-image request (class set, dimension and policy never
    /// change for a stream, so neither does this), for scheduling without taking the lock.
    private let stepFLOPsOne: Double
    private let stepFLOPsPerImage: Double
    private let services: StreamServices
    /// Entered while this stream's periodic snapshot is being written: what must not run beside
    /// one (another snapshot, a reset's, deletion) waits on it outside the lock.
    private let snapshotWrites = DispatchGroup()
    private static let clockOrigin = ContinuousClock.now

    struct Inner: Sendable {
        var state: StreamState
        /// Sequence number of the next journal record; the last snapshot holds all below `snapshotSequence`.
        var nextSequence: UInt64
        var snapshotSequence: UInt64
        /// The sequence of the last periodic snapshot started: after one fails, the next waits
        /// for as many records again rather than being retried on every request.
        var snapshotAttemptSequence: UInt64 = 0
        var deleted = false
        /// The periodic snapshot being written off the lock, and the bytes its copy of the state
        /// may hold (once the live state has changed, the two no longer share storage).
        var snapshotInFlight: (sequence: UInt64, bytes: Int)?
        var history = StreamHistory()
        /// The stream's latest request when it carried an idempotency key, with its answer: a
        /// retry of it (same key) is answered again instead of applied again. Kept across a
        /// crash or takeover because that request's journal record stays in the store until the
        /// next request (see `process`).
        var lastKeyed: KeyedAnswer?
    }

    struct KeyedAnswer: Sendable {
        var key: String
        var prediction: Prediction
    }

    private struct Turnstile {
        var issued = 0
        var serving = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private init(
        metadata: StreamMetadata, handle: any StreamHandle, inner: Inner, services: StreamServices
    ) {
        self.metadata = metadata
        self.handle = handle
        self.services = services
        cachedMemoryBytes = Atomic(inner.memoryBytes)
        stepFLOPsOne = inner.state.stepFLOPs(batch: 1)
        stepFLOPsPerImage = inner.state.stepFLOPs(batch: 64) / 64
        self.inner = Mutex(inner)
        touch()
    }

    private func touch() {
        let elapsed = Self.clockOrigin.duration(to: .now).components
        lastUsedNanoseconds.store(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000, ordering: .relaxed)
    }

    // MARK: Ordering

    /// A place in this stream's queue, taken when the request arrives.
    func takeTicket() -> Int {
        turnstile.withLock { t in
            defer { t.issued += 1 }
            return t.issued
        }
    }

    /// Returns when every earlier ticket has finished.
    func waitTurn(_ ticket: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = turnstile.withLock { t in
                if t.serving == ticket { return true }
                t.waiters[ticket] = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Passes the turn to the next ticket (call exactly once per ticket, after `waitTurn`).
    func finish(_ ticket: Int) {
        let next = turnstile.withLock { t -> CheckedContinuation<Void, Never>? in
            precondition(t.serving == ticket, "finish(\(ticket)) out of turn (serving \(t.serving))")
            t.serving += 1
            return t.waiters.removeValue(forKey: t.serving)
        }
        next?.resume()
    }

    /// Tickets issued and not yet finished: a stream with none may be evicted.
    var pending: Int { turnstile.withLock { $0.issued - $0.serving } }

    /// Whether a periodic snapshot is being written on the snapshot writer (it started in a
    /// request's turn, which has ended).
    var isWritingSnapshot: Bool { inner.withLock { $0.snapshotInFlight != nil } }

    // MARK: State

    /// Estimated floating-point operations of the optimiser steps of a request of `images`.
    func stepFLOPs(images: Int) -> Double { max(stepFLOPsOne, stepFLOPsPerImage * Double(images)) }

    /// Bytes of state held (as of the last change); never waits for a running step.
    var memoryBytes: Int { cachedMemoryBytes.load(ordering: .relaxed) }
    /// Whether the registry should check its memory budget after this stream's latest change:
    /// the first time it is asked after a load, then whenever the stream has grown by more than
    /// `slack` bytes since it last said so. Most requests leave a stream's size as it was (the
    /// history ring refills what it drops), so most need no check; the budget can be exceeded
    /// by at most `slack` per loaded stream. Called in the stream's turn (one caller at a time).
    func grewBeyondBudgeted(slack: Int) -> Bool {
        let now = memoryBytes, budgeted = budgetedBytes.load(ordering: .relaxed)
        if budgeted == 0 || now > budgeted + slack {
            budgetedBytes.store(now, ordering: .relaxed)
            return true
        }
        if now < budgeted { budgetedBytes.store(now, ordering: .relaxed) }  // growth counts from the lower size
        return false
    }

    /// Nanoseconds since an arbitrary origin at the last use; never waits for a running step.
    var lastUsed: Int64 { lastUsedNanoseconds.load(ordering: .relaxed) }

    /// Runs `body` on the live state under the lock; refuses once the stream is deleted. With
    /// `afterSnapshotLands`, first waits (outside the lock) until no periodic snapshot is being
    /// written: for what writes a snapshot itself or removes the stream.
    func mutate<T>(afterSnapshotLands: Bool = false, _ body: (inout Inner) throws -> T) throws -> T {
        defer { touch() }
        return try fenced {
            while true {
                if afterSnapshotLands { snapshotWrites.wait() }
                let outcome: T? = try inner.withLock { inner in
                    guard !inner.deleted else { throw APIError.notFound("stream \"\(metadata.id)\" was deleted") }
                    if afterSnapshotLands, inner.snapshotInFlight != nil { return nil }  // one started meanwhile
                    defer { cachedMemoryBytes.store(inner.memoryBytes, ordering: .relaxed) }
                    return try body(&inner)
                }
                if let outcome { return outcome }
            }
        }
    }

    /// Whether the store refused a write because another server took the stream over: this copy
    /// is stale and must never be written again (the registry drops it and loads the stream anew).
    var isLost: Bool { lost.load(ordering: .acquiring) }

    /// Runs a write, marking the stream lost for good when the store fences it off.
    private func fenced<T>(_ write: () throws -> T) throws -> T {
        guard !isLost else { throw StreamStoreError.fenced }
        do { return try write() } catch StreamStoreError.fenced {
            lost.store(true, ordering: .releasing)
            services.fencedWrite()
            throw StreamStoreError.fenced
        }
    }

    /// Runs a write through the store handle under the lock (checkpoints), fenced like a step.
    func write<T>(_ body: (any StreamHandle) throws -> T) throws -> T {
        try mutate { _ in try body(handle) }
    }

    func read<T>(_ body: (StreamState) throws -> T) throws -> T {
        try mutate { try body($0.state) }
    }

    func readHistory<T>(_ body: (StreamState, StreamHistory) throws -> T) throws -> T {
        try mutate { try body($0.state, $0.history) }
    }

    /// What a request's answer needs, known before its adaptation step has run.
    struct Prediction: Sendable {
        var probabilities: Matrix
        var labels: [String]
        /// The stream's request count after this request.
        var request: Int
        /// Optimiser steps taken before the answer; nil when they run after it (predict-then-adapt).
        var stepsTaken: Int?
    }

    /// Journals the request (fsynced), predicts and adapts per the policy, handing the prediction
    /// to `answer` as soon as it is final; starts a snapshot every `snapshotEvery` records (and,
    /// when they fail, writes one first once the journal is at its limit,
    /// `ServerConfiguration.journalLimit`: the request fails with its error if that fails). Under
    /// predict-then-adapt `answer` runs before the optimiser steps, so the caller can reply while
    /// they run; the stream's lock is held until they end (callers run this on the adaptation
    /// pool, never on the cooperative pool).
    ///
    /// With an idempotency key equal to the latest request's, nothing is applied: `answer` gets
    /// that request's prediction again and the result is nil.
    func process(
        _ features: Matrix, adapt: Bool, idempotencyKey: String? = nil, snapshotEvery: Int, answer: (Prediction) -> Void = { _ in }
    ) throws -> (StepResult?, StreamState) {
        try mutate { inner in
            if let idempotencyKey, let last = inner.lastKeyed, last.key == idempotencyKey {
                answer(last.prediction)
                return (nil, inner.state)
            }
            func due() -> Bool {
                inner.snapshotInFlight == nil && inner.nextSequence - max(inner.snapshotSequence, inner.snapshotAttemptSequence) >= UInt64(snapshotEvery)
            }
            // Periodic snapshots have failed this long (a full disk): a reload would replay the
            // whole journal, so it grows no further until one is stored. One in flight may land.
            if inner.snapshotInFlight == nil, inner.nextSequence - inner.snapshotSequence >= ServerConfiguration.journalLimit(snapshotEvery: snapshotEvery) {
                try snapshotNow(sequence: inner.nextSequence, data: inner.snapshotData())
                inner.snapshotSequence = inner.nextSequence
            }
            // A keyed request's record must outlive it in the journal (a reload learns its key
            // from there), so the snapshot it would be due for is taken before it, not after.
            if idempotencyKey != nil, due() { startSnapshot(&inner) }
            let record = JournalRecord(
                sequence: inner.nextSequence, adapt: adapt, features: features, time: StreamHistory.now(), idempotencyKey: idempotencyKey)
            try handle.append(sequence: record.sequence, payload: record.payload())
            inner.nextSequence += 1
            let result = try inner.apply(record, answer: answer)
            if idempotencyKey == nil, due() { startSnapshot(&inner) }
            return (result, inner.state)
        }
    }

    /// Starts the snapshot at the next sequence: a new journal segment and a copy of the state
    /// (shared storage until the state next changes) under the lock; the bytes are encoded and
    /// written on the snapshot writer, while requests go on into the new segment. The step is
    /// already durable in the journal, so a failed snapshot fails no request: the next one due
    /// retries it (the journal keeps growing meanwhile, and a reload replays it).
    private func startSnapshot(_ inner: inout Inner) {
        let sequence = inner.nextSequence
        guard (try? fenced({ try handle.prepareSnapshot(sequence: sequence) })) != nil else { return }
        let captured = inner
        inner.snapshotInFlight = (sequence, captured.memoryBytes)
        inner.snapshotAttemptSequence = sequence
        snapshotWrites.enter()
        services.snapshotWriter.submit { [self] in
            let clock = ContinuousClock(), start = clock.now
            var failure: (any Error)?
            do { try fenced { try handle.snapshot(sequence: sequence, data: captured.snapshotData()) } } catch { failure = error }
            let journalRecords = self.inner.withLock { inner in
                inner.snapshotInFlight = nil
                if failure == nil { inner.snapshotSequence = max(inner.snapshotSequence, sequence) }
                cachedMemoryBytes.store(inner.memoryBytes, ordering: .relaxed)
                return inner.nextSequence - inner.snapshotSequence
            }
            services.snapshotWritten(SnapshotOutcome(
                client: metadata.client, stream: metadata.id, duration: clock.now - start, error: failure, journalRecords: journalRecords))
            snapshotWrites.leave()
        }
    }

    /// Replaces the state wholesale (reset, restore; none for a checkpoint save), marks it in the
    /// history and snapshots it at once: such changes are not journaled, the snapshot is their
    /// durable record.
    func replaceState(marking mark: StreamHistory.Kind, checkpoint: String? = nil, _ change: (inout StreamState) throws -> Void) throws {
        try mutate(afterSnapshotLands: true) { inner in
            var copy = inner
            try change(&copy.state)
            copy.history.mark(mark, checkpoint: checkpoint)
            // Stored first: a refused or failed write leaves the stream as it was, so later
            // journal records never build on a state the store does not hold.
            let sequence = inner.nextSequence + 1
            try snapshotNow(sequence: sequence, data: copy.snapshotData())
            inner.state = copy.state
            inner.history = copy.history
            inner.nextSequence = sequence
            inner.snapshotSequence = sequence
            inner.lastKeyed = nil
        }
    }

    /// Writes a snapshot, under the lock, if the journal holds anything (eviction, shutdown): the
    /// store then drops the older snapshots and the journal records it holds.
    func snapshotIfNeeded() throws {
        do {
            try mutate(afterSnapshotLands: true) { inner in
                guard inner.nextSequence > inner.snapshotSequence else { return }
                try snapshotNow(sequence: inner.nextSequence, data: inner.snapshotData())
                inner.snapshotSequence = inner.nextSequence
            }
        } catch let error as APIError where error.status == .notFound {}  // deleted: nothing to keep
    }

    /// A snapshot written at once, under the lock (nothing is appended beside it).
    private func snapshotNow(sequence: UInt64, data: Data) throws {
        try handle.prepareSnapshot(sequence: sequence)
        try handle.snapshot(sequence: sequence, data: data)
    }

    /// Removes the stream from the store; later requests on this object get 404.
    func delete() throws {
        try mutate(afterSnapshotLands: true) { inner in
            try handle.delete()
            inner.deleted = true
        }
    }

    // MARK: Creation and recovery

    /// Stores a new stream (atomically: all of it or nothing); 409 when the id is taken, 409
    /// `quota_exceeded` when the client has `streamLimit` streams or its stored bytes and the
    /// stream's would pass `byteLimit`.
    static func create(
        metadata: StreamMetadata, state: StreamState, streamLimit: Int?, byteLimit: Int?, in store: any StreamStore, services: StreamServices
    ) throws -> LiveStream {
        let encoder = JSONEncoder()
        // '/' unescaped: a prompt of slashes stored escaped was twice its size on disk, and as slow
        // to read back as any other escape.
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let handle: any StreamHandle
        do {
            handle = try store.create(
                StreamKey(client: metadata.client, id: metadata.id), metadata: encoder.encode(metadata), snapshot: state.checkpointData(),
                streamLimit: streamLimit, byteLimit: byteLimit)
        } catch StreamStoreError.exists { throw APIError.conflict("stream \"\(metadata.id)\" already exists") }
        return LiveStream(
            metadata: metadata, handle: handle, inner: Inner(state: state, nextSequence: 0, snapshotSequence: 0), services: services)
    }

    /// The largest sequence a stored stream may hold: PostgreSQL keeps sequences as BIGINT, and
    /// a stream answering a million requests a second would take 290 000 years to reach it.
    static let maxSequence = UInt64(Int64.max)

    /// Loads the newest readable snapshot and replays the journal records after it through the
    /// same engine steps (the store has already dropped a torn last record: never acknowledged).
    static func load(
        _ key: StreamKey, from store: any StreamStore, services: StreamServices
    ) throws -> LiveStream {
        let opened = try store.open(key) { JournalRecord(payload: $0[...]) != nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let metadata: StreamMetadata
        do { metadata = try decoder.decode(StreamMetadata.self, from: opened.metadata) } catch {
            opened.handle.release()
            throw StreamLoadError.metadata("meta.json is not valid")
        }
        var loaded: (UInt64, StreamState, StreamHistory)?
        var lastError: (any Error)?
        for snapshot in opened.snapshots {
            do {
                // Sequences are counted from 0, one per request: never near the top of UInt64,
                // where the next one would overflow (a renamed or damaged file).
                guard snapshot.sequence <= Self.maxSequence else {
                    throw AdaptationError.invalidCheckpoint("snapshot sequence \(snapshot.sequence) is above \(Self.maxSequence)")
                }
                let data = try snapshot.read()
                let state = try StreamState(checkpoint: data)
                let stored = (try? SafeTensorsHeader(bytes: data, path: "snapshot", maxHeaderBytes: CheckpointBounds.maxHeaderBytes))?.metadata[StreamHistory.metadataKey]
                loaded = (snapshot.sequence, state, stored.flatMap { StreamHistory(stored: $0, classes: state.classes) } ?? StreamHistory())
                break
            } catch { lastError = error }
        }
        guard let loaded else {
            opened.handle.release()
            throw StreamLoadError.noSnapshot((lastError as? AdaptationError).map { "\($0)" } ?? (lastError == nil ? "none found" : "unreadable"))
        }
        let snapshotSequence = loaded.0
        var inner = Inner(state: loaded.1, nextSequence: snapshotSequence, snapshotSequence: snapshotSequence, history: loaded.2)
        for payload in opened.journal {
            guard let record = JournalRecord(payload: payload[...]), record.sequence >= snapshotSequence else { continue }
            // Records follow each other in sequence. One that goes back, repeats, or sits at the
            // top of the range is damage that passed its checksum: the stream is not loaded
            // (quarantined) rather than replayed out of order or overflowing its count.
            guard record.sequence >= inner.nextSequence, record.sequence < Self.maxSequence else {
                opened.handle.release()
                throw StreamLoadError.journal("record \(record.sequence) where \(inner.nextSequence) or a later one below \(Self.maxSequence) was due")
            }
            // Replay does what the live request did: `process` validates before it changes
            // anything, so a record it refused then (and answered with an error) is refused
            // again here and changes nothing (no history point either), exactly as it did live.
            // The same engine step gives the same answer: a keyed request's is rebuilt here.
            _ = try? inner.apply(record)
            inner.nextSequence = record.sequence + 1
        }
        return LiveStream(metadata: metadata, handle: opened.handle, inner: inner, services: services)
    }
}

extension LiveStream.Inner {
    /// One journaled request through the engine, its history point and, for a keyed request,
    /// the answer a retry gets: the same call serves a live request and its replay, so the
    /// replayed stream (history and keyed answer included) equals the one that was served.
    mutating func apply(_ record: JournalRecord, answer: (LiveStream.Prediction) -> Void = { _ in }) throws -> StepResult {
        let skippedBefore = state.counters.skippedSteps
        let (labels, request) = (state.labels, state.counters.batchesSeen + 1)
        var given: LiveStream.Prediction?
        let result = try state.process(record.features, adapt: record.adapt) { probabilities, stepsBefore in
            let prediction = LiveStream.Prediction(probabilities: probabilities, labels: labels, request: request, stepsTaken: stepsBefore)
            given = prediction
            answer(prediction)
        }
        history.record(result, adapt: record.adapt, skippedSteps: state.counters.skippedSteps - skippedBefore, time: record.time ?? StreamHistory.now())
        lastKeyed = record.idempotencyKey.flatMap { key in given.map { LiveStream.KeyedAnswer(key: key, prediction: $0) } }
        return result
    }

    /// The snapshot: the state's checkpoint with the history in its metadata.
    func snapshotData() throws -> Data {
        try state.checkpointData(extraMetadata: [StreamHistory.metadataKey: history.stored()])
    }

    var memoryBytes: Int { state.memoryBytes + history.usedBytes + (snapshotInFlight?.bytes ?? 0) }
}
