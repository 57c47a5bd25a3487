import Adaptation
import Foundation
import SafeTensors
import RadaNumerics
import Synchronization

/// Why a stream's files could not be loaded; the message names no path (it is shown to the
/// stream's owner), the log gets the underlying error.
enum StreamLoadError: Error, CustomStringConvertible {
    case metadata(String)
    case noSnapshot(String)

    var description: String {
        switch self {
        case .metadata(let why): why
        case .noSnapshot(let why): "no snapshot passes validation: \(why)"
        }
    }

    /// The owner-facing reason for any error thrown while loading.
    static func reason(_ error: any Error) -> String {
        (error as? StreamLoadError)?.description ?? "its files cannot be read"
    }
}

/// One stream held in memory: its engine state, its journal, and the turnstile that makes its
/// requests apply one at a time in arrival order. All state changes go through `mutate`, which
/// runs under the stream's lock; durability (journal fsync or snapshot) happens there before
/// the caller can acknowledge.
final class LiveStream: Sendable {
    let metadata: StreamMetadata
    let directory: StreamDirectory
    private let turnstile = Mutex(Turnstile())
    private let inner: Mutex<Inner>
    /// Bookkeeping the registry reads without ever waiting for `inner` (which a step holds for
    /// as long as it runs): refreshed whenever the state changes.
    private let cachedMemoryBytes: Atomic<Int>
    private let lastUsedNanoseconds = Atomic<Int64>(0)
    /// Step cost of a 1-image and of a 64-image request (class set, dimension and policy never
    /// change for a stream, so neither does this), for scheduling without taking the lock.
    private let stepFLOPsOne: Double
    private let stepFLOPsPerImage: Double
    private static let clockOrigin = ContinuousClock.now

    struct Inner: Sendable {
        var state: StreamState
        var journal: Journal
        /// Sequence number of the next journal record; the last snapshot holds all below `snapshotSequence`.
        var nextSequence: UInt64
        var snapshotSequence: UInt64
        var deleted = false
    }

    private struct Turnstile {
        var issued = 0
        var serving = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private init(metadata: StreamMetadata, directory: StreamDirectory, inner: Inner) {
        self.metadata = metadata
        self.directory = directory
        cachedMemoryBytes = Atomic(inner.state.memoryBytes)
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

    // MARK: State

    /// Estimated floating-point operations of the optimiser steps of a request of `images`.
    func stepFLOPs(images: Int) -> Double { max(stepFLOPsOne, stepFLOPsPerImage * Double(images)) }

    /// Bytes of state held (as of the last change); never waits for a running step.
    var memoryBytes: Int { cachedMemoryBytes.load(ordering: .relaxed) }
    /// Nanoseconds since an arbitrary origin at the last use; never waits for a running step.
    var lastUsed: Int64 { lastUsedNanoseconds.load(ordering: .relaxed) }

    /// Runs `body` on the live state under the lock; refuses once the stream is deleted.
    func mutate<T>(_ body: (inout Inner) throws -> T) throws -> T {
        defer { touch() }
        return try inner.withLock { inner in
            guard !inner.deleted else { throw APIError.notFound("stream \"\(metadata.id)\" was deleted") }
            defer { cachedMemoryBytes.store(inner.state.memoryBytes, ordering: .relaxed) }
            return try body(&inner)
        }
    }

    func read<T>(_ body: (StreamState) throws -> T) throws -> T {
        try mutate { try body($0.state) }
    }

    /// What a request's answer needs, known before its adaptation step has run.
    struct Prediction: Sendable {
        var probabilities: Matrix
        var labels: [String]
        /// The stream's request count after this request.
        var step: Int
        /// Optimiser steps taken before the answer; nil when they run after it (predict-then-adapt).
        var stepsTaken: Int?
    }

    /// Journals the request (fsynced), predicts and adapts per the policy, handing the prediction
    /// to `answer` as soon as it is final; snapshots every `snapshotEvery` records. Under
    /// predict-then-adapt `answer` runs before the optimiser steps, so the caller can reply while
    /// they run; the stream's lock is held until they end (callers run this on the adaptation
    /// pool, never on the cooperative pool).
    func process(
        _ features: Matrix, adapt: Bool, snapshotEvery: Int, answer: (Prediction) -> Void = { _ in }
    ) throws -> (StepResult, StreamState) {
        try mutate { inner in
            try inner.journal.append(JournalRecord(sequence: inner.nextSequence, adapt: adapt, features: features))
            inner.nextSequence += 1
            let (labels, step) = (inner.state.labels, inner.state.counters.batchesSeen + 1)
            let result = try inner.state.process(features, adapt: adapt) { probabilities, stepsBefore in
                answer(Prediction(probabilities: probabilities, labels: labels, step: step, stepsTaken: stepsBefore))
            }
            // The step is already durable in the journal: a failed snapshot must not fail the
            // request; it is retried on the next one (the journal keeps growing meanwhile).
            if inner.nextSequence - inner.snapshotSequence >= UInt64(snapshotEvery) { try? Self.snapshot(&inner, directory) }
            return (result, inner.state)
        }
    }

    /// Replaces the state wholesale (reset, restore) and snapshots it at once: such changes are
    /// not journaled, the snapshot is their durable record.
    func replaceState(_ change: (inout StreamState) throws -> Void) throws {
        try mutate { inner in
            var copy = inner.state
            try change(&copy)
            inner.state = copy
            inner.nextSequence += 1
            try Self.snapshot(&inner, directory)
        }
    }

    /// Writes a snapshot if the journal holds anything (eviction, shutdown).
    func snapshotIfNeeded() throws {
        try inner.withLock { inner in
            guard !inner.deleted, inner.nextSequence > inner.snapshotSequence else { return }
            try Self.snapshot(&inner, directory)
        }
    }

    /// Full state to `state-<next>.safetensors` atomically, then older snapshots and the journal go.
    private static func snapshot(_ inner: inout Inner, _ directory: StreamDirectory) throws {
        let sequence = inner.nextSequence
        try DurableFile.replace(directory.snapshotURL(sequence), with: inner.state.checkpointData())
        for old in directory.snapshots() where old.sequence < sequence { try? FileManager.default.removeItem(at: old.url) }
        try inner.journal.truncate()
        inner.snapshotSequence = sequence
    }

    func markDeleted() { inner.withLock { $0.deleted = true } }

    // MARK: Creation and recovery

    /// Creates the stream's directory atomically (built aside, renamed into place); 409 when the
    /// id is taken.
    static func create(metadata: StreamMetadata, state: StreamState, at directory: StreamDirectory) throws -> LiveStream {
        let parent = directory.url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let staging = StreamDirectory(url: parent.appendingPathComponent(".creating-\(metadata.id)-\(UInt32.random(in: 0...UInt32.max))"))
        try FileManager.default.createDirectory(at: staging.checkpointsURL, withIntermediateDirectories: true)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try DurableFile.replace(staging.metadataURL, with: encoder.encode(metadata))
            try DurableFile.replace(staging.snapshotURL(0), with: state.checkpointData())
            _ = FileManager.default.createFile(atPath: staging.journalURL.path, contents: nil)
            try DurableFile.syncDirectory(staging.url)
            guard rename(staging.url.path, directory.url.path) == 0 else {
                let exists = errno == EEXIST || errno == ENOTEMPTY
                throw exists ? APIError.conflict("stream \"\(metadata.id)\" already exists")
                    : DurableFile.failure("cannot create stream directory", directory.url.path)
            }
            try DurableFile.syncDirectory(parent)
        } catch {
            try? FileManager.default.removeItem(at: staging.url)
            throw error
        }
        let inner = Inner(state: state, journal: try Journal(url: directory.journalURL), nextSequence: 0, snapshotSequence: 0)
        return LiveStream(metadata: metadata, directory: directory, inner: inner)
    }

    /// Loads the newest readable snapshot and replays the journal records after it through the
    /// same engine steps; a torn last record (a crash mid-append, never acknowledged) is cut off.
    static func load(from directory: StreamDirectory) throws -> LiveStream {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let metadata: StreamMetadata
        do { metadata = try decoder.decode(StreamMetadata.self, from: Data(contentsOf: directory.metadataURL)) } catch {
            throw StreamLoadError.metadata(error is DecodingError ? "meta.json is not valid" : "meta.json cannot be read")
        }
        var loaded: (UInt64, StreamState)?
        var lastError: (any Error)?
        for snapshot in directory.snapshots() {
            do {
                loaded = (snapshot.sequence, try StreamState(checkpoint: Data(contentsOf: snapshot.url)))
                break
            } catch { lastError = error }
        }
        guard let loaded else {
            throw StreamLoadError.noSnapshot((lastError as? AdaptationError).map { "\($0)" } ?? (lastError == nil ? "none found" : "unreadable"))
        }
        let snapshotSequence = loaded.0
        var state = loaded.1
        let (records, validLength) = try Journal.read(directory.journalURL)
        if let size = try? FileManager.default.attributesOfItem(atPath: directory.journalURL.path)[.size] as? Int, size > validLength {
            try Journal.cut(directory.journalURL, to: validLength)
        }
        var nextSequence = snapshotSequence
        for record in records where record.sequence >= snapshotSequence {
            _ = try? state.process(record.features, adapt: record.adapt)
            nextSequence = record.sequence + 1
        }
        let inner = Inner(state: state, journal: try Journal(url: directory.journalURL), nextSequence: nextSequence, snapshotSequence: snapshotSequence)
        return LiveStream(metadata: metadata, directory: directory, inner: inner)
    }
}
