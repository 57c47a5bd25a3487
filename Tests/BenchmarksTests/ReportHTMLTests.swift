import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Benchmarks

/// `report.html` against `report.md` from the same run: every number of the Markdown is a cell
/// of the page, the page is well-formed and offline, and each domain has one curve per method.
@Suite struct ReportHTMLTests {
    let stream = SyntheticStream()
    let info = RunInfo(command: "rada bench --protocol long --out x&y", gitRevision: "abc123", seeds: ["order": 5, "mask": 9],
                       machine: "Test CPU <x>; towers in fp32")

    func written(_ kind: StreamProtocol) throws -> (BenchmarkReport, markdown: String, html: String) {
        let plan = try StreamPlan.folders(kind, names: ["clean", "shifted"], labels: stream.labels, classes: 3, seed: 5)
        var runner = BenchmarkRunner(plan: plan, batchSize: 16, methods: [
            ZeroShotMethod(textEmbeddings: stream.text, logitScale: 100), SpyMethod(name: "always-0", constant: 0),
        ])
        runner.showsProgress = false
        let report = try runner.run(labels: stream.labels, info: info) { stream.batch($0, $1) }
        let directory = try temporaryDirectory("report-html")
        defer { try? FileManager.default.removeItem(at: directory) }
        try report.write(to: directory)
        return (report,
                try String(contentsOf: directory.appendingPathComponent("report.md"), encoding: .utf8),
                try String(contentsOf: directory.appendingPathComponent("report.html"), encoding: .utf8))
    }

    /// The cells of the Markdown tables' rows (not the header or alignment lines), bold removed.
    static func markdownCells(_ markdown: String) -> [[String]] {
        let lines = markdown.split(separator: "\n").filter { $0.hasPrefix("|") && !$0.hasPrefix("|---") }
        return lines.map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "**", with: "") }
        }
    }

    @Test(arguments: [StreamProtocol.perDomain, .long])
    func everyNumberOfTheMarkdownIsACellOfThePage(_ kind: StreamProtocol) throws {
        let (report, markdown, html) = try written(kind)
        let numbers = Self.markdownCells(markdown).flatMap { $0.dropFirst() }.filter { Double($0) != nil }
        // Accuracy: (domains + mean + last 10 % + rounds) × methods; cost: methods × 5.
        let rounds = kind == .long ? 10 : 0
        #expect(numbers.count == (report.domains.count + 2 + rounds) * 2 + 2 * 5)
        for number in numbers {
            #expect(html.contains("<td>\(number)</td>") || html.contains("<td><strong>\(number)</strong></td>"), "\(number) missing")
        }
        // Row labels too: every domain, the mean, each round.
        for row in Self.markdownCells(markdown) { #expect(html.contains(">\(BenchmarkReport.escape(row[0]))</"), "\(row[0]) missing") }
        let peak = try #require(markdown.split(separator: "\n").first { $0.hasPrefix("Peak resident memory") })
        #expect(html.contains("<p>\(peak)</p>"))
        #expect(html.contains("<dd>\(report.images)</dd>") && html.contains("<dd>16</dd>"))
        #expect(html.contains("<code>rada bench --protocol long --out x&amp;y</code>"))
        #expect(html.contains("<code>abc123</code>") && html.contains("Test CPU &lt;x&gt;; towers in fp32"))
        #expect(html.contains("mask=9, order=5"))
        // Each method's count of correct answers, over every image, beside its percentage.
        for timing in report.timing {
            let correct = report.results.filter { $0.method == timing.method }.reduce(0) { $0 + $1.correct }
            #expect(String(format: "%.2f", 100 * Double(correct) / Double(report.images)) == String(format: "%.2f", timing.overallAccuracy))
            #expect(markdown.contains("| \(String(format: "%.2f", timing.overallAccuracy)) | \(correct) / \(report.images) |"))
            #expect(html.contains("<td>\(correct) / \(report.images)</td>"))
        }
    }

    @Test func thePageParsesAndNeedsNothingFromOutside() throws {
        let (_, _, html) = try written(.perDomain)
        let document = try XMLDocument(data: Data(html.utf8))
        #expect(document.rootElement()?.name == "html")
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
        let withoutNamespaces = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
            .replacingOccurrences(of: "xmlns=\"http://www.w3.org/1999/xhtml\"", with: "")
        #expect(!withoutNamespaces.contains("://"))
        #expect(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"))
    }

    @Test func eachDomainHasOneCurvePerMethodEndingAtItsAccuracy() throws {
        let (report, _, html) = try written(.perDomain)
        let curves = try #require(report.domainCurves)
        #expect(curves.count == report.results.count)
        for result in report.results {
            let curve = try #require(curves.first { $0.method == result.method && $0.domain == result.domain })
            #expect(curve.positions.last == result.n)
            #expect(curve.accuracy.last == result.accuracy)
            #expect(curve.positions.count == curve.accuracy.count && curve.positions.count <= StreamTally.domainCurvePoints + 1)
            #expect(zip(curve.positions, curve.positions.dropFirst()).allSatisfy { $0 < $1 })
        }
        let svgs = html.components(separatedBy: "<svg ").dropFirst()
        let perDomain = svgs.filter { $0.contains("data-domain=") }
        #expect(perDomain.count == report.domains.count)
        for (svg, domain) in zip(perDomain, report.domains) {
            #expect(svg.hasPrefix("xmlns=\"http://www.w3.org/2000/svg\"") && svg.contains("data-domain=\"\(domain)\""))
            for method in report.methods {
                #expect(svg.components(separatedBy: "data-method=\"\(method)\"").count == 2, "\(domain)/\(method)")
            }
        }
        // The whole-stream plot is there too, one line per method.
        let whole = try #require(svgs.first)
        #expect(!whole.contains("data-domain=") && whole.components(separatedBy: "<polyline").count == 3)
    }

    @Test func aReportWithoutDomainCurvesStillRendersItsTables() throws {
        let run = try written(.perDomain)
        var report = run.0
        let markdown = run.markdown
        report.domainCurves = nil
        let html = report.html()
        #expect(!html.contains("data-domain="))
        for number in Self.markdownCells(markdown).flatMap({ $0.dropFirst() }).filter({ Double($0) != nil }) {
            #expect(html.contains(">\(number)<"))
        }
    }
}
