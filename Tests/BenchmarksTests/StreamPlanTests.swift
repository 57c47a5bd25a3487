import Testing
@testable import Benchmarks

@Suite struct StreamPlanTests {
    static let labels = (0..<500).map { $0 % 10 }

    @Test func perDomainIsFifteenResetStreamsOfShuffledPrefixes() throws {
        let plan = try StreamPlan.corrupted(.perDomain, labels: Self.labels, classes: 10, limit: 40, seed: 3)
        #expect(plan.domains.map(\.name) == Corruption.allCases.map(\.rawValue))
        #expect(plan.domains.allSatisfy { $0.resetsBefore && $0.items.count == 40 && $0.round == 0 })
        #expect(plan.domains.allSatisfy { d in d.items.allSatisfy { $0.severity == 5 && $0.corruption?.rawValue == d.name } })
        #expect(plan.domains.allSatisfy { Set($0.items.map(\.index)).count == 40 })
        #expect(plan.domains[0].items.map(\.index) != Array(0..<40)) // shuffled
        #expect(plan.domains[0].items.map(\.index) != plan.domains[1].items.map(\.index)) // per-domain order
        #expect(try StreamPlan.corrupted(.perDomain, labels: Self.labels, classes: 10, limit: 40, seed: 3) == plan)
        #expect(try StreamPlan.corrupted(.perDomain, labels: Self.labels, classes: 10, limit: 40, seed: 4) != plan)
        // --limit takes the first N of the same seeded shuffle.
        let full = try StreamPlan.corrupted(.perDomain, labels: Self.labels, classes: 10, seed: 3)
        #expect(Array(full.domains[2].items.prefix(40)) == plan.domains[2].items)
        #expect(full.domains[2].items.count == 500)
    }

    @Test func continualResetsOnlyAtTheStartAndLongRepeatsTenRounds() throws {
        let continual = try StreamPlan.corrupted(.continual, labels: Self.labels, classes: 10, limit: 10, seed: 0)
        #expect(continual.domains.map(\.resetsBefore) == [true] + [Bool](repeating: false, count: 14))
        let long = try StreamPlan.corrupted(.long, labels: Self.labels, classes: 10, limit: 10, seed: 0)
        #expect(long.domains.count == 150)
        #expect(long.domains.filter(\.resetsBefore).count == 1)
        #expect(long.domains.map(\.round) == (0..<10).flatMap { [Int](repeating: $0, count: 15) })
        #expect(Array(long.domains.prefix(15)) == continual.domains)
        #expect(long.domains[15].items != long.domains[0].items) // each round reshuffles
        #expect(long.imageCount == 1500)
    }

    /// Under a limit, `fresh` rounds draw other images; `same` rounds repeat round 1's images per
    /// domain in a new order, and round 1 is the same under both. Without a limit both are the
    /// whole split, in the same orders.
    @Test func longRoundsRepeatRoundOnesImagesWhenAsked() throws {
        let fresh = try StreamPlan.corrupted(.long, labels: Self.labels, classes: 10, limit: 40, seed: 5)
        let same = try StreamPlan.corrupted(.long, labels: Self.labels, classes: 10, limit: 40, roundImages: .same, seed: 5)
        #expect(Array(same.domains.prefix(15)) == Array(fresh.domains.prefix(15)))
        for round in 1..<10 {
            for position in 0..<15 {
                let first = same.domains[position].items, later = same.domains[round * 15 + position].items
                #expect(later.count == 40 && Set(later) == Set(first) && later != first, "round \(round + 1), domain \(position)")
                #expect(Set(fresh.domains[round * 15 + position].items) != Set(first), "round \(round + 1), domain \(position)")
            }
        }
        let whole = try StreamPlan.corrupted(.long, labels: Self.labels, classes: 10, roundImages: .same, seed: 5)
        #expect(whole == (try StreamPlan.corrupted(.long, labels: Self.labels, classes: 10, seed: 5)))
    }

    @Test func cleanIsOneUncorruptedDomain() throws {
        let clean = try StreamPlan.corrupted(.clean, labels: Self.labels, classes: 10, seed: 0)
        #expect(clean.domains.count == 1 && clean.domains[0].name == "clean")
        #expect(clean.domains[0].items.allSatisfy { $0.corruption == nil && $0.severity == 0 })
        #expect(Set(clean.domains[0].items.map(\.index)) == Set(0..<500))
    }

    /// Dirichlet(0.1) blocks give long class runs: i.i.d. order over 10 balanced classes gives
    /// runs of 1.11 on average; the label-shift order must give runs above 5.
    @Test func labelShiftIsAPermutationWithLongClassRuns() throws {
        let labels = (0..<2000).map { $0 % 10 }
        let plan = try StreamPlan.corrupted(.labelShift, labels: labels, classes: 10, corruptions: [.fog], seed: 9)
        #expect(plan.domains.count == 1 && plan.domains[0].name == "fog")
        let order = plan.domains[0].items.map(\.index)
        #expect(order.sorted() == Array(0..<2000))
        let classes = order.map { labels[$0] }
        var runs = 1
        for i in 1..<classes.count where classes[i] != classes[i - 1] { runs += 1 }
        let meanRun = Double(classes.count) / Double(runs)
        #expect(meanRun > 5, "mean class run \(meanRun)")
        let iid = try StreamPlan.corrupted(.perDomain, labels: labels, classes: 10, corruptions: [.fog], seed: 9)
        let iidClasses = iid.domains[0].items.map { labels[$0.index] }
        var iidRuns = 1
        for i in 1..<iidClasses.count where iidClasses[i] != iidClasses[i - 1] { iidRuns += 1 }
        #expect(Double(iidClasses.count) / Double(iidRuns) < 1.5)
    }

    @Test func batchesCoverADomainInOrderWithoutCrossingIt() throws {
        let plan = try StreamPlan.corrupted(.continual, labels: Self.labels, classes: 10, limit: 70, seed: 1)
        let batches = plan.domains[0].batches(of: 16)
        #expect(batches.map(\.count) == [16, 16, 16, 16, 6])
        #expect(batches.flatMap { $0 } == plan.domains[0].items)
        #expect(plan.domains[0].batches(of: 1).count == 70)
    }

    @Test func badPlansAreRefused() {
        #expect(throws: StreamPlanError.badLimit(0)) { try StreamPlan.corrupted(.clean, labels: Self.labels, classes: 10, limit: 0, seed: 0) }
        #expect(throws: StreamPlanError.self) { try StreamPlan.corrupted(.clean, labels: [], classes: 10, seed: 0) }
        #expect(throws: StreamPlanError.badLabel(12, classes: 10)) {
            try StreamPlan.corrupted(.labelShift, labels: [1, 12], classes: 10, seed: 0)
        }
    }

    @Test func folderDomainsKeepTheirSourceIndex() throws {
        let plan = try StreamPlan.folders(.continual, names: ["photo", "sketch"], labels: [[0, 1, 0], [1, 1]], classes: 2, seed: 2)
        #expect(plan.domains.map(\.name) == ["photo", "sketch"])
        #expect(plan.domains.map(\.source) == [0, 1])
        #expect(plan.domains.map { $0.items.count } == [3, 2])
        #expect(plan.domains.map(\.resetsBefore) == [true, false])
    }
}

@Suite struct BenchmarkRandomTests {
    @Test func keyedStreamsAreReproducibleAndOrderSensitive() {
        var a = BenchmarkRandom(keys: 1, 2, 3)
        var b = BenchmarkRandom(keys: 1, 2, 3)
        var c = BenchmarkRandom(keys: 2, 1, 3)
        let xs = (0..<4).map { _ in a.next() }
        #expect(xs == (0..<4).map { _ in b.next() })
        #expect(xs != (0..<4).map { _ in c.next() })
    }

    /// Moments within 5 standard errors (n = 20 000).
    @Test func distributionsHaveTheirMoments() {
        var random = BenchmarkRandom(keys: 42)
        let n = 20_000
        let normals = (0..<n).map { _ in random.normal() }
        let mean = normals.reduce(0, +) / Double(n)
        let variance = normals.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        #expect(abs(mean) < 5 / Double(n).squareRoot())
        #expect(abs(variance - 1) < 5 * (2.0 / Double(n)).squareRoot())
        for shape in [0.1, 0.5, 2.0, 7.5] {
            let draws = (0..<n).map { _ in random.gamma(shape: shape) }
            let m = draws.reduce(0, +) / Double(n)
            #expect(abs(m - shape) < 5 * (shape / Double(n)).squareRoot(), "Gamma(\(shape)) mean \(m)")
        }
        for lambda in [3.0, 50.0] {
            let draws = (0..<n).map { _ in random.poisson(lambda) }
            let m = draws.reduce(0, +) / Double(n)
            #expect(abs(m - lambda) < 5 * (lambda / Double(n)).squareRoot(), "Poisson(\(lambda)) mean \(m)")
        }
    }

    /// Dirichlet(0.1) over 10 classes concentrates on one class (E[max] ≈ 0.7); Dirichlet(100)
    /// is nearly uniform.
    @Test func dirichletConcentration() {
        var random = BenchmarkRandom(keys: 5)
        var sparseMax = 0.0
        var denseMax = 0.0
        for _ in 0..<500 {
            let sparse = random.dirichlet(concentration: 0.1, count: 10)
            #expect(abs(sparse.reduce(0, +) - 1) < 1e-9)
            sparseMax += sparse.max()! / 500
            denseMax += random.dirichlet(concentration: 100, count: 10).max()! / 500
        }
        #expect(sparseMax > 0.55, "mean max \(sparseMax)")
        #expect(denseMax < 0.15, "mean max \(denseMax)")
    }
}
