/// Symmetric matrices held as full row-major arrays.
public enum Symmetric {
    /// Replaces both halves of the n×n row-major `a` by their mean: a blocked product need not
    /// round (i, j) and (j, i) alike, and a stored symmetric statistic must be exactly symmetric
    /// (checkpoint validation refuses one that is not).
    public static func average(_ a: inout [Double], dimension n: Int) {
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let v = (a[i * n + j] + a[j * n + i]) / 2
                a[i * n + j] = v
                a[j * n + i] = v
            }
        }
    }
}
