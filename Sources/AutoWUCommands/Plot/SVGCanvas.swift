import Foundation

/// A minimal SVG writer: elements are appended as text, numbers with two decimals (sub-pixel is enough).
struct SVGCanvas {
    let width: Double
    let height: Double
    private var body: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    var document: String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        <rect x="0" y="0" width="\(n(width))" height="\(n(height))" fill="white"/>
        \(body.joined(separator: "\n"))
        </svg>

        """
    }

    mutating func open(group attributes: [(String, String)]) { body.append("<g\(render(attributes))>") }
    mutating func close() { body.append("</g>") }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1,
                       dash: String? = nil, extra: [(String, String)] = []) {
        var attributes = [("x1", n(x1)), ("y1", n(y1)), ("x2", n(x2)), ("y2", n(y2)), ("stroke", stroke),
                          ("stroke-width", n(width))]
        if let dash { attributes.append(("stroke-dasharray", dash)) }
        body.append("<line\(render(attributes + extra))/>")
    }

    /// One polyline per run of finite points: a NaN leaves a gap.
    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5, opacity: Double = 1,
                           extra: [(String, String)] = []) {
        for run in finiteRuns(points) where run.count >= 2 {
            let coordinates = run.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
            body.append("<polyline\(render([("points", coordinates), ("fill", "none"), ("stroke", stroke), ("stroke-width", n(width)), ("stroke-opacity", n(opacity)), ("stroke-linejoin", "round")] + extra))/>")
        }
    }

    /// A closed filled area between an upper and a lower curve (a confidence band).
    mutating func band(upper: [(Double, Double)], lower: [(Double, Double)], fill: String, opacity: Double,
                       extra: [(String, String)] = []) {
        let outline = upper + lower.reversed()
        guard outline.count >= 3, outline.allSatisfy({ $0.0.isFinite && $0.1.isFinite }) else { return }
        let coordinates = outline.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
        body.append("<polygon\(render([("points", coordinates), ("fill", fill), ("fill-opacity", n(opacity)), ("stroke", "none")] + extra))/>")
    }

    mutating func circle(_ x: Double, _ y: Double, radius: Double, fill: String, stroke: String = "none",
                         opacity: Double = 1, extra: [(String, String)] = []) {
        body.append("<circle\(render([("cx", n(x)), ("cy", n(y)), ("r", n(radius)), ("fill", fill), ("fill-opacity", n(opacity)), ("stroke", stroke)] + extra))/>")
    }

    mutating func rect(_ x: Double, _ y: Double, _ width: Double, _ height: Double, fill: String, stroke: String = "none",
                       opacity: Double = 1, extra: [(String, String)] = []) {
        body.append("<rect\(render([("x", n(x)), ("y", n(y)), ("width", n(width)), ("height", n(height)), ("fill", fill), ("fill-opacity", n(opacity)), ("stroke", stroke)] + extra))/>")
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(_ content: String, _ x: Double, _ y: Double, size: Double = 12, anchor: Anchor = .start,
                       fill: String = "#222", weight: String = "normal", rotate: Double? = nil,
                       extra: [(String, String)] = []) {
        var attributes = [("x", n(x)), ("y", n(y)), ("font-size", n(size)), ("text-anchor", anchor.rawValue),
                          ("fill", fill), ("font-weight", weight)]
        if let rotate { attributes.append(("transform", "rotate(\(n(rotate)) \(n(x)) \(n(y)))")) }
        body.append("<text\(render(attributes + extra))>\(Self.escape(content))</text>")
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private func render(_ attributes: [(String, String)]) -> String {
        attributes.map { " \($0.0)=\"\(Self.escape($0.1))\"" }.joined()
    }

    private func finiteRuns(_ points: [(Double, Double)]) -> [[(Double, Double)]] {
        var runs: [[(Double, Double)]] = [[]]
        for point in points {
            if point.0.isFinite && point.1.isFinite { runs[runs.count - 1].append(point) } else if !runs[runs.count - 1].isEmpty { runs.append([]) }
        }
        return runs
    }
}

private func n(_ value: Double) -> String { String(format: "%.2f", value) }
