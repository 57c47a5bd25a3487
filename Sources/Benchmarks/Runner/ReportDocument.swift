import Foundation

/// What a benchmark report shows, built once from a `BenchmarkReport`: the run's facts and its
/// tables with every number already formatted. `report.md` and `report.html` are two renderings
/// of this one value, so they cannot disagree on a number.
public struct ReportDocument: Sendable, Equatable {
    public struct Cell: Sendable, Equatable {
        public var text: String
        public var strong = false
    }

    /// A table whose first column names the row; the other columns are numbers.
    public struct Table: Sendable, Equatable {
        public var title: String
        public var header: [String]
        public var rows: [[Cell]]
    }

    public var streamProtocol: String
    public var batchSize: Int
    public var images: Int
    public var gitRevision: String
    public var machine: String?
    public var command: String
    /// "name=value", sorted by name.
    public var seeds: [String]
    public var tables: [Table]
    /// Sentences after the tables (the peak memory).
    public var notes: [String]
}

extension BenchmarkReport {
    public func document() -> ReportDocument {
        func cell(_ value: Double) -> ReportDocument.Cell { .init(text: String(format: "%.2f", value)) }
        func text(_ value: String, strong: Bool = false) -> ReportDocument.Cell { .init(text: value, strong: strong) }
        var accuracy: [[ReportDocument.Cell]] = domains.map { domain in
            [text(domain)] + methods.map { method in
                results.first { $0.method == method && $0.domain == domain }.map { cell($0.accuracy) } ?? text("–")
            }
        }
        accuracy.append([text("mean", strong: true)] + methods.map { .init(text: cell(mean[$0] ?? 0).text, strong: true) })
        accuracy.append([text("last 10 % (mean)")] + methods.map { cell(meanLast10[$0] ?? 0) })
        for r in Set(rounds.map(\.round)).sorted() {
            accuracy.append([text("round \(r + 1)")] + methods.map { method in
                rounds.first { $0.method == method && $0.round == r }.map { cell($0.accuracy) } ?? text("–")
            })
        }
        var tables: [ReportDocument.Table] = [.init(title: "Accuracy per domain (%)", header: ["domain"] + methods, rows: accuracy)]
        if let roundStates, let names = roundStates.first?.names {
            tables.append(.init(
                title: "Adaptation state per round (mean over the round's batches)", header: ["method, round"] + names,
                rows: roundStates.map { state in
                    [text("\(state.method), round \(state.round + 1)")] + state.means.map { text(String(format: "%.4g", $0)) }
                }))
        }
        // The count beside the rounded percentage: validation rules compare streams to a few images.
        let cost = timing.map { t in
            let (correct, seen) = results.filter { $0.method == t.method }.reduce((0, 0)) { ($0.0 + $1.correct, $0.1 + $1.n) }
            return [text(t.method)] + [
                String(format: "%.2f", t.overallAccuracy), "\(correct) / \(seen)", String(format: "%.3f", t.meanEntropy),
                String(format: "%.3f", t.backboneMsPerImage), String(format: "%.3f", t.adaptationMsPerImage),
                String(format: "%.1f", t.imagesPerSecond),
            ].map { text($0) }
        }
        return ReportDocument(
            streamProtocol: self.protocol, batchSize: batchSize, images: images, gitRevision: gitRevision, machine: machine,
            command: command, seeds: seeds.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            tables: tables + [
                .init(title: "Cost per method", header: [
                    "method", "accuracy (all images)", "correct", "mean entropy", "backbone ms/image", "adaptation ms/image", "images/s",
                ], rows: cost),
            ],
            notes: peakResidentBytes.map { [String(format: "Peak resident memory: %.1f MiB", Double($0) / 1_048_576)] } ?? [])
    }
}

extension ReportDocument {
    /// Markdown: a caption line, then each table (no titles), then the notes.
    public func markdown() -> String {
        var lines = ["Protocol `\(streamProtocol)`, batch size \(batchSize), \(images) images, git \(gitRevision)" + (machine.map { ", \($0)" } ?? "")]
        for table in tables {
            lines.append("")
            lines.append("| " + table.header.joined(separator: " | ") + " |")
            lines.append("|---|" + String(repeating: "---:|", count: max(0, table.header.count - 1)))
            for row in table.rows {
                lines.append("| " + row.map { $0.strong ? "**\($0.text)**" : $0.text }.joined(separator: " | ") + " |")
            }
        }
        for note in notes {
            lines.append("")
            lines.append(note)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A self-contained page (well-formed XHTML syntax, no script, nothing fetched): the run's
    /// facts, the tables, the notes, then `figures` (inline SVG) under their headings.
    public func html(figures: [(heading: String, svgs: [String])]) -> String {
        let e = BenchmarkReport.escape
        var page: [String] = []
        page.append("<!DOCTYPE html>")
        page.append("<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">")
        page.append("<head>")
        page.append("<meta charset=\"utf-8\"/>")
        page.append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"/>")
        page.append("<title>rada bench: \(e(streamProtocol)), \(images) images</title>")
        page.append("<style>" + Self.style + "</style>")
        page.append("</head>")
        page.append("<body>")
        page.append("<h1>rada bench: protocol \(e(streamProtocol))</h1>")
        page.append("<dl>")
        var facts: [(String, String)] = [
            ("command", "<code>\(e(command))</code>"), ("git revision", "<code>\(e(gitRevision))</code>"),
        ]
        if let machine { facts.append(("machine", e(machine))) }
        facts += [("protocol", e(streamProtocol)), ("batch size", "\(batchSize)"), ("images", "\(images)"),
                  ("seeds", e(seeds.joined(separator: ", ")))]
        for (term, value) in facts { page.append("<dt>\(term)</dt><dd>\(value)</dd>") }
        page.append("</dl>")
        for table in tables {
            page.append("<h2>\(e(table.title))</h2>")
            page.append("<table>")
            page.append("<thead><tr>" + table.header.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead>")
            page.append("<tbody>")
            for row in table.rows {
                let cells = row.enumerated().map { column, cell in
                    let content = cell.strong ? "<strong>\(e(cell.text))</strong>" : e(cell.text)
                    return column == 0 ? "<th scope=\"row\">\(content)</th>" : "<td>\(content)</td>"
                }
                page.append("<tr>" + cells.joined() + "</tr>")
            }
            page.append("</tbody>")
            page.append("</table>")
        }
        for note in notes { page.append("<p>\(e(note))</p>") }
        for figure in figures {
            page.append("<h2>\(e(figure.heading))</h2>")
            page.append("<div class=\"figures\">")
            page.append(contentsOf: figure.svgs)
            page.append("</div>")
        }
        page.append("</body>")
        page.append("</html>")
        return page.joined(separator: "\n") + "\n"
    }

    static let style = """
        body { font-family: sans-serif; margin: 2em; color: #222; } \
        table { border-collapse: collapse; margin: 1em 0; } \
        th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; } \
        td { text-align: right; font-variant-numeric: tabular-nums; } \
        th[scope=row] { text-align: left; font-weight: normal; } \
        dt { font-weight: bold; float: left; clear: left; width: 9em; } dd { margin-left: 10em; } \
        .figures { display: flex; flex-wrap: wrap; gap: 0.5em; } .legend { flex-basis: 100%; height: 20px; } \
        svg { max-width: 100%; height: auto; }
        """
}
