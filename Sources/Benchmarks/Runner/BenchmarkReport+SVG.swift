import Foundation

extension BenchmarkReport {
    /// A self-contained SVG line plot of each method's running accuracy (trailing window) along
    /// the stream, with dashed lines at domain starts labelled by domain, labelled axes and a
    /// legend.
    public func svgPlot(width: Int = 960, height: Int = 480) -> String {
        let left = 64.0, right = 150.0, top = 30.0, bottom = 110.0
        let plotWidth = Double(width) - left - right
        let plotHeight = Double(height) - top - bottom
        let total = max(1, images)
        func x(_ position: Int) -> Double { left + plotWidth * Double(position) / Double(total) }
        func y(_ accuracy: Double) -> Double { top + plotHeight * (1 - min(max(accuracy, 0), 100) / 100) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        let colors = Self.plotColors
        var svg: [String] = []
        svg.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"12\">")
        svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        let window = curves.first?.window ?? 0
        svg.append("<text x=\"\(f(left + plotWidth / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">\(Self.escape("\(self.protocol), batch \(batchSize): accuracy over the last \(window) images"))</text>")
        // Grid and y axis.
        for tick in stride(from: 0, through: 100, by: 20) {
            let ty = y(Double(tick))
            svg.append("<line x1=\"\(f(left))\" y1=\"\(f(ty))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(ty))\" stroke=\"#e0e0e0\"/>")
            svg.append("<text x=\"\(f(left - 6))\" y=\"\(f(ty + 4))\" text-anchor=\"end\">\(tick)</text>")
        }
        // Domain boundaries, labelled below the axis (rotated so that 150 domains still fit).
        for (d, start) in domainStarts.enumerated() {
            let bx = x(start)
            if start > 0 {
                svg.append("<line x1=\"\(f(bx))\" y1=\"\(f(top))\" x2=\"\(f(bx))\" y2=\"\(f(top + plotHeight))\" stroke=\"#999\" stroke-dasharray=\"4,3\"/>")
            }
            if domainStarts.count <= 40, d < domains.count {
                let end = d + 1 < domainStarts.count ? domainStarts[d + 1] : total
                let mid = x((start + end) / 2)
                let ly = top + plotHeight + 24
                svg.append("<text x=\"\(f(mid))\" y=\"\(f(ly))\" transform=\"rotate(45 \(f(mid)) \(f(ly)))\" font-size=\"9\">\(Self.escape(domains[d]))</text>")
            }
        }
        svg.append("<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"black\"/>")
        // Curves.
        for (c, curve) in curves.enumerated() {
            let points = zip(curve.positions, curve.accuracy).map { "\(f(x($0))),\(f(y($1)))" }.joined(separator: " ")
            svg.append("<polyline fill=\"none\" stroke=\"\(colors[c % colors.count])\" stroke-width=\"1.5\" points=\"\(points)\"/>")
            let ly = top + 16 + Double(c) * 18
            svg.append("<line x1=\"\(f(left + plotWidth + 12))\" y1=\"\(f(ly))\" x2=\"\(f(left + plotWidth + 36))\" y2=\"\(f(ly))\" stroke=\"\(colors[c % colors.count])\" stroke-width=\"3\"/>")
            svg.append("<text x=\"\(f(left + plotWidth + 42))\" y=\"\(f(ly + 4))\">\(Self.escape(curve.method))</text>")
        }
        // Axis titles.
        svg.append("<text x=\"\(f(left + plotWidth / 2))\" y=\"\(height - 8)\" text-anchor=\"middle\">images seen (stream position; dashed: domain starts)</text>")
        svg.append("<text x=\"16\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(f(top + plotHeight / 2)))\">accuracy (%)</text>")
        // x ticks at quarters of the stream.
        for quarter in 0...4 {
            let position = total * quarter / 4
            let tx = x(position)
            svg.append("<line x1=\"\(f(tx))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(tx))\" y2=\"\(f(top + plotHeight + 4))\" stroke=\"black\"/>")
            svg.append("<text x=\"\(f(tx))\" y=\"\(f(top + plotHeight + 15))\" text-anchor=\"middle\" font-size=\"10\">\(position)</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    static let plotColors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// A small SVG of each method's accuracy so far within one domain (x: images of the domain
    /// seen), method colours as in `svgPlot`; each line carries its method in `data-method`.
    func domainPlot(_ domain: String, curves: [DomainCurve], width: Int = 300, height: Int = 190) -> String {
        let left = 36.0, right = 8.0, top = 22.0, bottom = 26.0
        let plotWidth = Double(width) - left - right
        let plotHeight = Double(height) - top - bottom
        let total = max(1, curves.map { $0.positions.last ?? 0 }.max() ?? 1)
        func x(_ position: Int) -> Double { left + plotWidth * Double(position) / Double(total) }
        func y(_ accuracy: Double) -> Double { top + plotHeight * (1 - min(max(accuracy, 0), 100) / 100) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg: [String] = []
        svg.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\" font-size=\"10\" data-domain=\"\(Self.escape(domain))\">")
        svg.append("<title>\(Self.escape(domain)): accuracy so far (%) per method</title>")
        svg.append("<text x=\"\(f(left + plotWidth / 2))\" y=\"14\" text-anchor=\"middle\" font-size=\"12\">\(Self.escape(domain))</text>")
        for tick in stride(from: 0, through: 100, by: 25) {
            let ty = y(Double(tick))
            svg.append("<line x1=\"\(f(left))\" y1=\"\(f(ty))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(ty))\" stroke=\"#e0e0e0\"/>")
            svg.append("<text x=\"\(f(left - 4))\" y=\"\(f(ty + 3))\" text-anchor=\"end\">\(tick)</text>")
        }
        svg.append("<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"black\"/>")
        for curve in curves {
            let color = Self.plotColors[(methods.firstIndex(of: curve.method) ?? 0) % Self.plotColors.count]
            let points = zip(curve.positions, curve.accuracy).map { "\(f(x($0))),\(f(y($1)))" }.joined(separator: " ")
            svg.append("<polyline data-method=\"\(Self.escape(curve.method))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points)\"><title>\(Self.escape(curve.method)): \(f(curve.accuracy.last ?? 0)) %</title></polyline>")
        }
        svg.append("<text x=\"\(f(left))\" y=\"\(height - 8)\">0</text>")
        svg.append("<text x=\"\(f(left + plotWidth))\" y=\"\(height - 8)\" text-anchor=\"end\">\(total) images</text>")
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    /// The methods' colours as in every plot, one row, for the small per-domain plots.
    func legendSVG() -> String {
        let widths = methods.map { 44 + 7 * $0.count }
        var svg = ["<svg class=\"legend\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(widths.reduce(0, +) + 8)\" height=\"20\" font-family=\"sans-serif\" font-size=\"11\">"]
        var x = 4
        for (m, method) in methods.enumerated() {
            let color = Self.plotColors[m % Self.plotColors.count]
            svg.append("<line x1=\"\(x)\" y1=\"10\" x2=\"\(x + 24)\" y2=\"10\" stroke=\"\(color)\" stroke-width=\"3\"/>")
            svg.append("<text x=\"\(x + 30)\" y=\"14\">\(Self.escape(method))</text>")
            x += widths[m]
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Writes `report.json`, `report.md`, `report.html` and `accuracy.svg` into `directory`
    /// (created if needed).
    public func write(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try json().write(to: directory.appendingPathComponent("report.json"), options: .atomic)
        try Data(markdownTable().utf8).write(to: directory.appendingPathComponent("report.md"), options: .atomic)
        try Data(html().utf8).write(to: directory.appendingPathComponent("report.html"), options: .atomic)
        try Data(svgPlot().utf8).write(to: directory.appendingPathComponent("accuracy.svg"), options: .atomic)
    }
}
