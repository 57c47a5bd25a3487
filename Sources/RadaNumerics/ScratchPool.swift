import Synchronization

/// Large scratch buffers kept between passes of the towers, so that a pass does not fault in
/// fresh pages for them each time. glibc returns big freed blocks to the kernel (`munmap`, or a
/// trimmed heap top), and the next pass pays a page fault and a zeroing per 4 KiB touched: a
/// batch-8 ViT-B/32 pass faulted in about 19 MB (4 700 pages) every time (with the pool: about
/// 10; the patch embedding stage 1.2 → 0.6–0.7 ms per image and a third less system time on two
/// Zen 4 cores), and page faults in a multi-threaded process also contend for the address
/// space's lock.
///
/// Buffers of 64 KiB and more are rounded up to a power of two and kept on free lists by that
/// size; `limitBytes` caps what the lists hold (beyond it a returned buffer is freed). Smaller
/// buffers come from and go back to the allocator directly. Contents are not cleared between
/// uses: callers write before they read.
public final class ScratchPool: Sendable {
    /// The pool the towers use.
    public static let shared = ScratchPool(limitBytes: 256 << 20)

    /// Below this many bytes a buffer is not pooled (the allocator serves it from its heap
    /// without faults).
    public static let smallestPooledBytes = 64 << 10

    public let limitBytes: Int

    private struct State {
        /// Free buffers by size class (bytes), as addresses.
        var free: [Int: [UInt]] = [:]
        var heldBytes = 0
    }

    private let state = Mutex(State())

    public init(limitBytes: Int) {
        self.limitBytes = limitBytes
    }

    deinit {
        state.withLock { state in
            for address in state.free.values.joined() { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
        }
    }

    /// Bytes the free lists hold now.
    public var heldBytes: Int { state.withLock { $0.heldBytes } }

    /// An uninitialised buffer of at least `count` values (64-byte aligned when pooled). Give it
    /// back with `give(_:count:)` and the same `count`.
    public func take<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        precondition(!overflow, "ScratchPool.take: \(count) values overflow")
        guard let sizeClass = Self.sizeClass(bytes: bytes) else { return .allocate(capacity: max(count, 1)) }
        let reused = state.withLock { state -> UInt? in
            guard let address = state.free[sizeClass]?.popLast() else { return nil }
            state.heldBytes -= sizeClass
            return address
        }
        let raw = reused.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
            ?? UnsafeMutableRawPointer.allocate(byteCount: sizeClass, alignment: 64)
        return raw.bindMemory(to: T.self, capacity: sizeClass / MemoryLayout<T>.stride)
    }

    /// Returns a buffer from `take(_:count:)`; it must no longer be used.
    public func give<T>(_ pointer: UnsafeMutablePointer<T>, count: Int) {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        guard let sizeClass = Self.sizeClass(bytes: bytes) else {
            pointer.deallocate()
            return
        }
        let kept = state.withLock { state -> Bool in
            guard state.heldBytes + sizeClass <= limitBytes else { return false }
            state.free[sizeClass, default: []].append(UInt(bitPattern: pointer))
            state.heldBytes += sizeClass
            return true
        }
        if !kept { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    /// The power of two at or above `bytes`, nil below `smallestPooledBytes`.
    static func sizeClass(bytes: Int) -> Int? {
        guard bytes >= smallestPooledBytes else { return nil }
        return 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount)
    }
}
