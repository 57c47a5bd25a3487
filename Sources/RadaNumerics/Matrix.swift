/// A dense row-major Float32 matrix: the currency of the numeric code.
public struct Matrix: Sendable, Equatable {
    public private(set) var rows: Int
    public private(set) var cols: Int
    /// Row-major storage, `rows * cols` values.
    public var storage: [Float]

    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && cols >= 0, "negative matrix size")
        self.rows = rows
        self.cols = cols
        self.storage = [Float](repeating: value, count: rows * cols)
    }

    public init(rows: Int, cols: Int, storage: [Float]) {
        precondition(storage.count == rows * cols, "storage has \(storage.count) values, need \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.storage = storage
    }

    @inlinable
    public subscript(row: Int, col: Int) -> Float {
        get { storage[row * cols + col] }
        set { storage[row * cols + col] = newValue }
    }

    /// One row as an array.
    public func row(_ r: Int) -> [Float] { Array(storage[(r * cols)..<((r + 1) * cols)]) }
}

extension Matrix {
    /// `self · other` (optionally with either transposed), through BLAS.
    public func matmul(_ other: Matrix, transposeSelf: Bool = false, transposeOther: Bool = false) -> Matrix {
        let m = transposeSelf ? cols : rows
        let k = transposeSelf ? rows : cols
        let k2 = transposeOther ? other.cols : other.rows
        let n = transposeOther ? other.rows : other.cols
        precondition(k == k2, "matmul inner sizes \(k) and \(k2) differ")
        var out = Matrix(rows: m, cols: n)
        storage.withUnsafeBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                out.storage.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(
                        transA: transposeSelf, transB: transposeOther, m: m, n: n, k: k,
                        a: a.baseAddress!, lda: cols, b: b.baseAddress!, ldb: other.cols,
                        c: c.baseAddress!, ldc: n)
                }
            }
        }
        return out
    }

    /// Divides every row by its L2 norm (rows of zeros stay zero).
    public mutating func normalizeRows() {
        let cols = self.cols
        storage.withUnsafeMutableBufferPointer { buffer in
            for r in 0..<rows {
                var sum: Float = 0
                for c in 0..<cols { sum += buffer[r * cols + c] * buffer[r * cols + c] }
                guard sum > 0 else { continue }
                let inv = 1 / sum.squareRoot()
                for c in 0..<cols { buffer[r * cols + c] *= inv }
            }
        }
    }
}
