import Foundation

extension BenchmarkReport {
    /// Pretty-printed JSON with sorted keys (stable diffs between runs).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// A Markdown report: accuracy per domain (rows) and method (columns) with the mean, the
    /// last-10 % mean, per-round accuracy for the long protocol, and the cost per method.
    public func markdownTable() -> String { document().markdown() }

    /// The same report as a self-contained HTML page: the run's facts and the Markdown report's
    /// tables, the whole-stream plot, and one plot per domain of each method's accuracy so far.
    public func html() -> String {
        var figures: [(heading: String, svgs: [String])] = [("Accuracy along the stream", [svgPlot()])]
        if let domainCurves, !domainCurves.isEmpty {
            let plots = domains.map { domain in domainPlot(domain, curves: domainCurves.filter { $0.domain == domain }) }
            figures.append(("Accuracy within each domain (% of the domain's images so far)", [legendSVG()] + plots))
        }
        return document().html(figures: figures)
    }
}
