/// Symmetric matrices held as full row-major arrays.
public enum Symmetric {
    /// Replaces both halves of the n×n row-major `a` by their mean: a blocked product need not
    /// round (i, j) and (j, i) alike, and a stored symmetric statistic must be exactly symmetric
    /// (checkpoint validation refuses one that is not).
    ///
    /// Tile by tile, the (j, i) side copied through a local 32 × 32 block: walked in place, that
    /// side steps through memory a row (4 kB at n = 512) at a time, and with n a power of two
    /// every such line falls in the same L1 set. At D = 512 the two calls of an adaptation step
    /// (the whitening's moment, the class Gaussians' scatter) took about 1.3 ms, a quarter of a
    /// K = 10, B = 1 step. Each pair is the same sum as before: the same bits.
    public static func average(_ a: inout [Double], dimension n: Int) {
        precondition(a.count >= n * n, "a \(n)×\(n) matrix needs \(n * n) values, got \(a.count)")
        let tile = 32
        let block = UnsafeMutablePointer<Double>.allocate(capacity: tile * tile)
        defer { block.deallocate() }
        a.withUnsafeMutableBufferPointer { buffer in
            guard let p = buffer.baseAddress else { return }
            for ib in stride(from: 0, to: n, by: tile) {
                let rows = min(tile, n - ib)
                // The diagonal tile in place: its mirror is itself.
                for i in ib..<(ib + rows) {
                    for j in (i + 1)..<max(i + 1, ib + rows) {
                        let v = (p[i * n + j] + p[j * n + i]) / 2
                        p[i * n + j] = v
                        p[j * n + i] = v
                    }
                }
                for jb in stride(from: ib + tile, to: n, by: tile) {
                    let cols = min(tile, n - jb)
                    // block[c][r] = a[jb + c][ib + r]: the tile's mirror, read row by row.
                    for c in 0..<cols { (block + c * tile).update(from: p + (jb + c) * n + ib, count: rows) }
                    for r in 0..<rows {
                        let i = ib + r, row = p + i * n + jb
                        for c in 0..<cols {
                            let v = (row[c] + block[c * tile + r]) / 2
                            row[c] = v
                            block[c * tile + r] = v
                        }
                    }
                    for c in 0..<cols { (p + (jb + c) * n + ib).update(from: block + c * tile, count: rows) }
                }
            }
        }
    }
}
