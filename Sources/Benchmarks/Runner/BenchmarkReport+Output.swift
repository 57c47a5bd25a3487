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
    public func markdownTable() -> String {
        func cell(_ value: Double) -> String { String(format: "%.2f", value) }
        var lines: [String] = []
        lines.append("Protocol `\(self.protocol)`, batch size \(batchSize), \(images) images, git \(gitRevision)" + (machine.map { ", \($0)" } ?? ""))
        lines.append("")
        lines.append("| domain | " + methods.joined(separator: " | ") + " |")
        lines.append("|---|" + String(repeating: "---:|", count: methods.count))
        for domain in domains {
            let row = methods.map { method in
                results.first { $0.method == method && $0.domain == domain }.map { cell($0.accuracy) } ?? "–"
            }
            lines.append("| \(domain) | " + row.joined(separator: " | ") + " |")
        }
        lines.append("| **mean** | " + methods.map { "**" + cell(mean[$0] ?? 0) + "**" }.joined(separator: " | ") + " |")
        lines.append("| last 10 % (mean) | " + methods.map { cell(meanLast10[$0] ?? 0) }.joined(separator: " | ") + " |")
        let roundsPresent = Set(rounds.map(\.round)).sorted()
        for r in roundsPresent {
            let row = methods.map { method in rounds.first { $0.method == method && $0.round == r }.map { cell($0.accuracy) } ?? "–" }
            lines.append("| round \(r + 1) | " + row.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("| method | accuracy (all images) | mean entropy | backbone ms/image | adaptation ms/image | images/s |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for t in timing {
            lines.append("| \(t.method) " + String(
                format: "| %.2f | %.3f | %.3f | %.3f | %.1f |", t.overallAccuracy, t.meanEntropy,
                t.backboneMsPerImage, t.adaptationMsPerImage, t.imagesPerSecond))
        }
        if let peak = peakResidentBytes {
            lines.append("")
            lines.append(String(format: "Peak resident memory: %.1f MiB", Double(peak) / 1_048_576))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
