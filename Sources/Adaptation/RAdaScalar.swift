import Foundation
import RadaNumerics

/// A floating-point type the mask network can run in: `Float` for serving (through `sgemm` and the
/// vectorised C kernels) and `Double` for finite-difference gradient checks (through `dgemm`).
///
/// The network, the objectives and the optimisers are written once, generic over this protocol;
/// only the BLAS call and the in-place softmax differ per type.
public protocol RAdaScalar: BinaryFloatingPoint, Codable, Sendable {
    /// Row-major `C = alpha · op(A) · op(B) + beta · C` with `op(A)` m×k and `op(B)` k×n.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Softmax of `count` contiguous values after multiplying them by `scale`, in place.
    static func softmax(_ x: UnsafeMutablePointer<Self>, count: Int, scale: Self)
    static func logarithm(_ x: Self) -> Self
    /// `log(1 + x)`, accurate for small x.
    static func logarithmOnePlus(_ x: Self) -> Self
    static func exponential(_ x: Self) -> Self
    /// The safetensors dtype name of this type ("F32", "F64").
    static var safetensorsDType: String { get }
}

// One conformance per scalar type: their bodies look alike but call each type's own BLAS routine
// and kernels, which generics cannot pick for them.
extension Float: RAdaScalar {
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        BLAS.sgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
            ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float) {
        Kernels.softmaxFlat(x, count: count, scale: scale)
    }

    public static func logarithm(_ x: Float) -> Float { Foundation.log(x) }
    public static func logarithmOnePlus(_ x: Float) -> Float { Foundation.log1p(x) }
    public static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    public static var safetensorsDType: String { "F32" }
}

extension Double: RAdaScalar {
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        BLAS.dgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
            ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    public static func softmax(_ x: UnsafeMutablePointer<Double>, count: Int, scale: Double) {
        guard count > 0 else { return }
        var maximum = -Double.infinity
        for i in 0..<count { maximum = Swift.max(maximum, x[i] * scale) }
        var sum = 0.0
        for i in 0..<count {
            let e = Foundation.exp(x[i] * scale - maximum)
            x[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<count { x[i] *= inverse }
    }

    public static func logarithm(_ x: Double) -> Double { Foundation.log(x) }
    public static func logarithmOnePlus(_ x: Double) -> Double { Foundation.log1p(x) }
    public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    public static var safetensorsDType: String { "F64" }
}
