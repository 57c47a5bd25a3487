import Foundation
import Testing
@testable import RadaNumerics

/// `Symmetric.inverseSquareRoot` against roots built from a known eigendecomposition, its
/// round count (what the scaling is for), and how its products are split.
@Suite struct SymmetricInverseSquareRootTests {
    /// Q·diag(λ)·Qᵀ with Q a product of three Householder reflections (full, not diagonal, and
    /// its eigendecomposition known exactly up to rounding).
    struct Spectral {
        let d: Int
        var reflections: [[Double]] = []

        init(dimension d: Int, seed: UInt64) {
            self.d = d
            var random = TestRandom(seed: seed)
            for _ in 0..<3 {
                let v = (0..<d).map { _ in Double(random.next()) }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                reflections.append(v.map { $0 / norm })
            }
        }

        /// Q·diag(values)·Qᵀ, Q = H₁·H₂·H₃ (each H = I − 2vvᵀ symmetric): H₁(H₂(H₃ Λ H₃)H₂)H₁.
        func matrix(_ values: [Double]) -> [Double] {
            var m = [Double](repeating: 0, count: d * d)
            for i in 0..<d { m[i * d + i] = values[i] }
            for v in reflections.reversed() {
                // H·M·H = M − 2v(vᵀM) − 2(Mv)vᵀ + 4(vᵀMv)vvᵀ
                let mv = (0..<d).map { i in (0..<d).reduce(0.0) { $0 + m[i * d + $1] * v[$1] } }
                let vmv = (0..<d).reduce(0.0) { $0 + v[$1] * mv[$1] }
                for i in 0..<d {
                    for j in 0..<d { m[i * d + j] += -2 * v[i] * mv[j] - 2 * mv[i] * v[j] + 4 * vmv * v[i] * v[j] }
                }
            }
            return m
        }
    }

    /// Spectra like a stream's shrunk covariance (eigenvalues ≥ 1 − ρ, the largest up to
    /// ρ·D): power laws, one spike (a young stream: two images), a cluster, the identity, and
    /// ρ = 0.99's extreme spread. The root within 1e-10 of the exact one (relative to its
    /// largest entry), exactly symmetric, and in at most the rounds stated (the plain
    /// iteration, scaled once by the largest row sum, took 11–13 on such matrices at D = 512).
    @Test(arguments: [
        ("power law 0.5", 0.7, 9), ("power law 1", 0.7, 9), ("power law 1.5", 0.7, 9),
        ("spike", 0.7, 9), ("cluster", 0.7, 8), ("identity", 1.0, 6), ("rho 0.99", 0.01, 12),
    ])
    func rootMatchesTheEigendecomposition(spectrum: String, lower: Double, maximumRounds: Int) throws {
        let d = 160
        let values: [Double] = (0..<d).map { i in
            switch spectrum {
            case "power law 0.5": 0.7 + 0.3 * Double(d) * pow(Double(i + 1), -0.5) / 10
            case "power law 1": 0.7 + 0.3 * Double(d) * pow(Double(i + 1), -1) / 4
            case "power law 1.5": 0.7 + 0.3 * Double(d) * pow(Double(i + 1), -1.5) / 2
            case "spike": i == 3 ? 0.7 + 0.3 * Double(d) : 0.7
            case "cluster": i < 5 ? 9 + Double(i) / 10 : 0.7 + Double(i) / Double(d)
            case "identity": 1
            default: 0.01 + 0.99 * Double(d) * pow(Double(i + 1), -1) / 5
            }
        }
        let spectral = Spectral(dimension: d, seed: 5)
        let a = spectral.matrix(values)
        let exact = spectral.matrix(values.map { 1 / $0.squareRoot() })
        let (root, rounds) = try #require(Symmetric.inverseSquareRoot(a, dimension: d, smallestEigenvalue: lower))
        let scale = exact.map(abs).max()!
        let error = zip(root, exact).map { abs($0 - $1) }.max()!
        #expect(error <= 1e-10 * scale, "\(spectrum): max error \(error)")
        #expect(rounds <= maximumRounds, "\(spectrum): \(rounds) rounds")
        #expect((0..<d).allSatisfy { i in (0..<i).allSatisfy { root[i * d + $0] == root[$0 * d + i] } })
    }

    /// Not positive definite, or NaN: nil (the caller keeps the identity), never a root.
    @Test func indefiniteOrNaNHasNoRoot() {
        let spectral = Spectral(dimension: 24, seed: 8)
        var values = [Double](repeating: 1, count: 24)
        values[7] = -3
        #expect(Symmetric.inverseSquareRoot(spectral.matrix(values), dimension: 24, smallestEigenvalue: 0.5) == nil)
        var nan = spectral.matrix([Double](repeating: 2, count: 24))
        nan[30] = .nan
        #expect(Symmetric.inverseSquareRoot(nan, dimension: 24, smallestEigenvalue: 0.5) == nil)
        #expect(Symmetric.inverseSquareRoot([Double](repeating: 0, count: 4), dimension: 2, smallestEigenvalue: 0.5) == nil)
    }

    /// Whatever symmetric matrix comes in (moments from a hostile checkpoint reach it: entries
    /// of either sign, spread over 40 orders of magnitude, a zero, an infinity or a NaN among
    /// them, and lower bounds that are wrong), the answer is nil or a finite, exactly symmetric,
    /// positive definite root R with R·A·R = I to 1e-8, within the 60 rounds. Half the cases are positive
    /// definite (Q·diag(λ)·Qᵀ) and must have a root.
    @Test func anySymmetricInputGivesARootOrNil() {
        var random = TestRandom(seed: 21)
        var roots = 0
        for case_ in 0..<240 {
            let d = 1 + case_ % 13
            var a = [Double](repeating: 0, count: d * d)
            let positive = case_ % 2 == 0
            if positive {
                let values = (0..<d).map { _ in pow(10, Double(random.next()) * 3) }
                a = Spectral(dimension: d, seed: UInt64(case_)).matrix(values)
            } else {
                for i in 0..<d {
                    for j in i..<d {
                        let v = Double(random.next()) * pow(10, Double(random.next()) * 20)
                        a[i * d + j] = v
                        a[j * d + i] = v
                    }
                }
                switch case_ % 8 {
                case 1: a[0] = 0
                case 3: a[d * d - 1] = .infinity
                case 5: a[d / 2] = .nan
                default: break
                }
            }
            let lower = positive ? 1e-3 : pow(10, Double(random.next()) * 4)
            guard let (root, rounds) = Symmetric.inverseSquareRoot(a, dimension: d, smallestEigenvalue: lower) else {
                #expect(!positive, "case \(case_): a positive definite matrix has a root")
                continue
            }
            roots += 1
            #expect(rounds <= 60 && root.allSatisfy(\.isFinite), "case \(case_)")
            #expect((0..<d).allSatisfy { i in (0..<i).allSatisfy { root[i * d + $0] == root[$0 * d + i] } }, "case \(case_)")
            var rar = [Double](repeating: 0, count: d * d)
            for i in 0..<d {
                for j in 0..<d {
                    var sum = 0.0
                    for k in 0..<d { for l in 0..<d { sum += root[i * d + k] * a[k * d + l] * root[l * d + j] } }
                    rar[i * d + j] = sum
                }
            }
            let error = (0..<(d * d)).map { abs(rar[$0] - ($0 % (d + 1) == 0 ? 1 : 0)) }.max()!
            #expect(error < 1e-8, "case \(case_): R·A·R − I reaches \(error)")
            // The principal root: positive definite (a root with a negative eigenvalue also
            // gives R·A·R = I).
            #expect(Cholesky.factorWithInverse(root, dimension: d) != nil, "case \(case_): not positive definite")
        }
        #expect(roots >= 120, "every positive definite case, and any other that has a root")
    }

    /// A product's parts have at least 256 rows (BLIS's faster path, the same bits either way):
    /// two parts at D = 512 with two threads, one at D = 384 or with one thread.
    @Test func productPartsKeepBLISOnItsFastPath() {
        #expect(BLAS.withThreads(2) { Symmetric.productParts(dimension: 512) } == 2)
        #expect(BLAS.withThreads(2) { Symmetric.productParts(dimension: 384) } == 1)
        #expect(BLAS.withThreads(1) { Symmetric.productParts(dimension: 512) } == 1)
        #expect(BLAS.withThreads(2) { Symmetric.productParts(dimension: 64) } == 1)
    }

    /// The tiled average against the plain row walk, bit for bit, at sizes around the tile's.
    @Test(arguments: [1, 2, 31, 32, 33, 64, 100, 512])
    func averageIsThePlainWalk(n: Int) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(n)
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(Int64(bitPattern: state >> 11)) / Double(1 << 52) - 1
        }
        let a = (0..<(n * n)).map { _ in next() }
        var plain = a
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let v = (plain[i * n + j] + plain[j * n + i]) / 2
                plain[i * n + j] = v
                plain[j * n + i] = v
            }
        }
        var tiled = a
        Symmetric.average(&tiled, dimension: n)
        let differing = zip(tiled, plain).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "\(differing) of \(n * n) values differ")
        #expect((0..<n).allSatisfy { i in (0..<n).allSatisfy { tiled[i * n + $0] == tiled[$0 * n + i] } })
    }
}
