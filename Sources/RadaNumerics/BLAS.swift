import Foundation
import CNumerics
import Synchronization

/// Errors from the numeric core, with messages a user can act on.
public enum NumericsError: Error, CustomStringConvertible, Equatable, Sendable {
    case blasUnavailable(String)
    case invalidCPULimit(String)

    public var description: String {
        switch self {
        case .blasUnavailable(let why): "BLAS unavailable: \(why)"
        case .invalidCPULimit(let value):
            "unknown RADA_CPU_LIMIT '\(value)': use \(CPUModel.limitNames.joined(separator: ", ")) (the highest kernel family rada may use), or unset it"
        }
    }
}

/// The BLAS this process uses: OpenBLAS, opened at run time.
///
/// Loading is deferred so that `OPENBLAS_CORETYPE` can be chosen for this CPU before OpenBLAS
/// initialises (Debian's 0.3.21 otherwise falls back to its slowest "Prescott" kernels on
/// recent Intel cores). Set `OPENBLAS_CORETYPE` yourself to override, or
/// `RADA_BLAS_CORETYPE=library` to keep the library's own choice.
public enum BLAS {
    /// What was loaded and which kernels it runs.
    public struct Info: Sendable, Equatable {
        public var library: String
        public var coreName: String
        /// The core type this process chose, or nil when the user or the library chose.
        public var chosenCoreType: String?
        /// `OPENBLAS_THREAD_TIMEOUT` as OpenBLAS read it: its idle workers spin 2^value cycles
        /// after a call before sleeping.
        public var threadTimeout: String
        /// Whether rada set it (the user had not).
        public var threadTimeoutChosen: Bool
        public var threads: Int
        /// The single-threaded library used for products on their caller's thread, or nil.
        public var callerThreadLibrary: String?
        /// Its kernel configuration (BLIS's sub-configuration name), or nil when unknown.
        public var callerThreadConfig: String?
    }

    /// Loads the library if needed; throws a clear error when it is missing.
    public static func load() throws {
        // The cap also picks OpenBLAS's kernel family, so it is checked before the library loads.
        if rada_cpu_limit() == Int32(RADA_CPU_LIMIT_INVALID) {
            throw NumericsError.invalidCPULimit(ProcessInfo.processInfo.environment["RADA_CPU_LIMIT"] ?? "")
        }
        var buffer = [CChar](repeating: 0, count: 512)
        let status = rada_blas_load(&buffer, buffer.count)
        if status != 0 {
            let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw NumericsError.blasUnavailable(message)
        }
        _ = budgetApplied
    }

    /// The environment variables with which a user sets OpenBLAS's thread count themselves.
    static let threadCountVariables = ["OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"]

    /// Once, at the first load: no more kernel threads than the CPU budget, and no more BLAS
    /// threads unless the user chose their count (OpenBLAS starts one per core of the affinity
    /// mask, blind to a cgroup's quota). Later `setThreads` calls are the caller's choice.
    private static let budgetApplied: Void = {
        let budget = CPUBudget.current
        rada_pool_cap_cores(Int32(clamping: budget.cores))
        let environment = ProcessInfo.processInfo.environment
        if !threadCountVariables.contains(where: { environment[$0] != nil }), Int(rada_blas_get_threads()) > budget.cores {
            rada_blas_set_threads(Int32(clamping: budget.cores))
        }
    }()

    /// Loads the library or stops the process with the reason: every numeric path needs it.
    @inline(__always)
    static func ensureLoaded() {
        if loaded.load(ordering: .acquiring) { return }
        do { try load() } catch { fatalError("\(error)") }
        loaded.store(true, ordering: .releasing)
    }

    // Written once, read many times; a stale `false` only repeats an idempotent pthread_once.
    // Atomic, not a plain Bool: ThreadSanitizer reported the plain flag as a data race.
    private static let loaded = Atomic(false)

    public static var info: Info {
        ensureLoaded()
        let chosen = String(cString: rada_blas_chosen_coretype())
        var timeoutChosen: Int32 = 0
        let timeout = String(cString: rada_blas_thread_timeout(&timeoutChosen))
        return Info(
            library: String(cString: rada_blas_library()),
            coreName: String(cString: rada_blas_corename()),
            chosenCoreType: chosen.isEmpty ? nil : chosen,
            threadTimeout: timeout, threadTimeoutChosen: timeoutChosen != 0,
            threads: Int(rada_blas_get_threads()),
            callerThreadLibrary: rada_blas_serial_library().pointee == 0 ? nil : String(cString: rada_blas_serial_library()),
            callerThreadConfig: rada_blas_serial_config().pointee == 0 ? nil : String(cString: rada_blas_serial_config()))
    }

    /// Sets the number of BLAS threads for the whole process.
    public static func setThreads(_ threads: Int) {
        ensureLoaded()
        rada_blas_set_threads(Int32(max(1, threads)))
    }

    /// Row-major `C = alpha · op(A) · op(B) + beta · C` with `op(A)` m×k and `op(B)` k×n.
    @inlinable
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        gemmPrologue()
        rada_sgemm(
            transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
            Int32(ldb), beta, c, Int32(ldc))
    }

    /// Row-major double-precision GEMM, used where Float64 is needed (gradient checks). Kept
    /// beside `sgemm` rather than generic: one entry point per scalar type, as in BLAS itself.
    @inlinable
    public static func dgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Double = 1,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        gemmPrologue()
        rada_dgemm(
            transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b,
            Int32(ldb), beta, c, Int32(ldc))
    }

    /// Row-major symmetric rank-k update of the lower triangle of the n×n `c`:
    /// `C = alpha · op(A) · op(A)ᵀ + beta · C`, with `op(A)` = A (n×k) or, `transA`, Aᵀ (A k×n).
    /// Half a GEMM's work; the upper triangle is left as it was.
    public static func dsyrk(
        transA: Bool = false, n: Int, k: Int, alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        if n == 0 { return }
        gemmPrologue()
        rada_dsyrk(transA ? 1 : 0, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    /// Row-major triangular solve `B = alpha · B · L⁻ᵀ` (the X with X·Lᵀ = alpha·B) for B m×n and
    /// L n×n lower triangular with a non-zero diagonal (its upper triangle is not read).
    public static func dtrsmRightLowerTransposed(
        m: Int, n: Int, alpha: Double = 1, l: UnsafePointer<Double>, ldl: Int, b: UnsafeMutablePointer<Double>, ldb: Int
    ) {
        if m == 0 || n == 0 { return }
        gemmPrologue()
        rada_dtrsm_right_lower_t(Int32(m), Int32(n), alpha, l, Int32(ldl), b, Int32(ldb))
    }

    /// `dtrsmRightLowerTransposed` in single precision.
    public static func strsmRightLowerTransposed(
        m: Int, n: Int, alpha: Float = 1, l: UnsafePointer<Float>, ldl: Int, b: UnsafeMutablePointer<Float>, ldb: Int
    ) {
        if m == 0 || n == 0 { return }
        gemmPrologue()
        rada_strsm_right_lower_t(Int32(m), Int32(n), alpha, l, Int32(ldl), b, Int32(ldb))
    }

    @usableFromInline
    static func gemmPrologue() { ensureLoaded() }
}
