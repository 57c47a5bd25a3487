import CNumerics

/// Subnormal floats (magnitude below 1.2e-38, or 2.2e-308 for Float64) flushed to zero. On x86
/// every operation that reads or writes one takes a microcode assist of about a hundred cycles:
/// a stream whose mask had served for thousands of steps spent 14× longer per image, the extra
/// all on values that round to nothing in any logit (Docs/rada.md, "Subnormal numbers"). Flushing
/// changes only such values, so results agree with unflushed ones to within FLT_MIN per term.
///
/// The mode belongs to a thread. `flushed` sets it for the calling thread's work, and
/// `BLAS.parallel` hands it to every part it runs on other threads.
public enum Subnormals {
    /// Runs `body` on the calling thread with subnormal inputs and results flushed to zero, then
    /// restores the thread's previous mode. `body` must not suspend (it is synchronous), so it
    /// ends on the thread it started on. Nesting is allowed.
    public static func flushed<R>(_ body: () throws -> R) rethrows -> R {
        try under(rada_fp_flushing(rada_fp_control()), body)
    }

    /// Whether the calling thread flushes subnormals now.
    public static var areFlushed: Bool {
        let control = rada_fp_control()
        return canFlush && rada_fp_flushing(control) == control
    }

    /// Whether this platform can flush them (x86-64 and arm64).
    public static var canFlush: Bool { rada_fp_flushing(0) != 0 }

    /// Runs `body` under `control` (a thread's `rada_fp_control`), then restores this thread's.
    static func under<R>(_ control: UInt32, _ body: () throws -> R) rethrows -> R {
        let previous = rada_fp_control()
        rada_fp_set_control(control)
        defer { rada_fp_set_control(previous) }
        return try body()
    }
}
