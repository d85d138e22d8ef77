import AutoWU
import Foundation

/// The figure as SVG, in the spirit of the paper's Figures 1-2: three panels over one step axis.
extension WarmupFigure {
    private enum Palette {
        static let loss = "#4C72B0", lateLoss = "#A8B4C4", posterior = "#DD8452", warmup = "#2E8B57"
        static let decay = "#4C72B0", tentative = "#999999", minimum = "#8172B3", switchLine = "#C44E52"
        static let vote = "#C44E52", noVote = "#4C72B0", streak = "#8172B3", grid = "#E6E6E6", axis = "#444444"
    }

    private struct Panel {
        var id: String
        var title: String
        var top: Double
        var height: Double
        var bottom: Double { top + height }
    }

    /// A white outline keeps a label legible over the data it crosses.
    private static let halo = [("stroke", "white"), ("stroke-width", "3"), ("paint-order", "stroke")]
    private static let width = 1100.0, left = 90.0, right = 1010.0
    private static let panels = [
        Panel(id: "panel-loss", title: "(a) loss, GP posterior and warmup LR", top: 108, height: 300),
        Panel(id: "panel-pmin", title: "(b) P_min of the five subsets at each test", top: 470, height: 160),
        Panel(id: "panel-lr", title: "(c) LR schedule", top: 692, height: 160),
    ]

    public func svg() -> String {
        var canvas = SVGCanvas(width: Self.width, height: 912)
        canvas.text("\(name): \(decisionText)", Self.width / 2, 32, size: 18, anchor: .middle, weight: "bold", extra: [("id", "title")])
        canvas.text(subtitle, Self.width / 2, 54, size: 12, anchor: .middle, fill: "#555")
        let steps = PlotScale(lower: 0, upper: Double(max(totalSteps, losses.count, 1)), pixelLower: Self.left, pixelUpper: Self.right)
        let rates = learningRateScale()
        drawLossPanel(&canvas, Self.panels[0], steps: steps, rates: rates)
        drawPMinPanel(&canvas, Self.panels[1], steps: steps)
        drawSchedulePanel(&canvas, Self.panels[2], steps: steps, rates: rates)
        canvas.text("step", (Self.left + Self.right) / 2, Self.panels[2].bottom + 44, size: 13, anchor: .middle)
        return canvas.document
    }

    private var subtitle: String {
        var parts = ["\(tests.count) tests", "\(losses.count) losses", "T = \(totalSteps)"]
        if let d = decision { parts.append(String(format: "t* = %.1f", d.minimumStep)) }
        if let epoch = posteriorEpoch { parts.append("posterior of the epoch \(epoch) test") }
        let missing = losses.filter { !$0.isFinite }.count
        if missing > 0 { parts.append("\(missing) non-finite losses not drawn") }
        return parts.joined(separator: " · ")
    }

    // MARK: Panels

    private func drawLossPanel(_ canvas: inout SVGCanvas, _ panel: Panel, steps: PlotScale, rates: PlotScale) {
        canvas.open(group: [("id", panel.id)])
        // The warmup's losses set the scale: a loss that explodes after the switch is clipped at the top.
        let finite = losses.prefix(warmupEnd).filter(\.isFinite).sorted()
        var span = finite.isEmpty ? [0.0, 1.0] : [quantile(finite, 0.005), quantile(finite, 0.995)]
        span += posterior?.mean ?? []
        let (low, high) = PlotScale.range(of: span, padding: 0.08)
        let y = PlotScale(lower: low, upper: high, pixelLower: panel.bottom, pixelUpper: panel.top)
        let lr = PlotScale(lower: rates.lower, upper: rates.upper, pixelLower: panel.bottom, pixelUpper: panel.top, logarithmic: true)
        drawFrame(&canvas, panel, steps: steps, y: y, yTitle: "loss", right: lr, rightTitle: "warmup LR (log)")

        let end = warmupEnd
        let points = losses.indices.map { (steps.pixel(Double($0)), losses[$0].isFinite ? y.pixel(losses[$0]) : .nan) }
        canvas.polyline(Array(points[..<min(end, points.count)]), stroke: Palette.loss, width: 1, opacity: 0.85, extra: [("class", "loss")])
        if end < points.count {
            canvas.polyline(Array(points[max(0, end - 1)...]), stroke: Palette.lateLoss, width: 1, extra: [("class", "loss-after-switch")])
        }
        var legend: [(String, String, Bool)] = [(Palette.loss, "loss", false)]
        if end < points.count { legend.append((Palette.lateLoss, "loss after the switch", false)) }

        if let posterior {
            let x = posterior.steps.map(steps.pixel)
            canvas.band(upper: zip(x, zip(posterior.mean, posterior.deviation).map { y.pixel($0 + 2 * $1) }).map { ($0, $1) },
                        lower: zip(x, zip(posterior.mean, posterior.deviation).map { y.pixel($0 - 2 * $1) }).map { ($0, $1) },
                        fill: Palette.posterior, opacity: 0.25, extra: [("class", "posterior-band")])
            canvas.polyline(zip(x, posterior.mean.map(y.pixel)).map { ($0, $1) }, stroke: Palette.posterior, width: 2.2,
                            extra: [("class", "posterior-mean")])
            legend.append((Palette.posterior, "GP mean ± 2σ" + (posteriorEpoch.map { " (epoch \($0) test)" } ?? ""), false))
        }
        let rampSteps = sampleSteps(upTo: end)
        canvas.polyline(rampSteps.map { (steps.pixel(Double($0)), lr.pixel(plan.learningRate(at: $0))) },
                        stroke: Palette.warmup, width: 1.8, extra: [("class", "warmup-lr")])
        legend.append((Palette.warmup, "warmup LR (right axis)", false))
        legend += drawMarkers(&canvas, panel, steps: steps, labelled: true)
        drawLegend(&canvas, panel, legend)
        canvas.close()
    }

    private func drawPMinPanel(_ canvas: inout SVGCanvas, _ panel: Panel, steps: PlotScale) {
        canvas.open(group: [("id", panel.id)])
        let y = PlotScale(lower: 0, upper: 1, pixelLower: panel.bottom, pixelUpper: panel.top)
        let streakMax = Double(max(3, tests.map(\.streak).max() ?? 0))
        let streak = PlotScale(lower: 0, upper: streakMax, pixelLower: panel.bottom, pixelUpper: panel.top)
        drawFrame(&canvas, panel, steps: steps, y: y, yTitle: "P_min", yTicks: [0, 0.25, 0.5, 0.75, 1],
                  right: streak, rightTitle: "streak", rightTicks: (0...Int(streakMax)).map(Double.init))
        canvas.line(Self.left, y.pixel(confidence), Self.right, y.pixel(confidence), stroke: Palette.switchLine, width: 1,
                    dash: "6 4", extra: [("class", "threshold"), ("data-value", "\(confidence)")])
        canvas.text("c = \(String(format: "%g", confidence))", Self.right - 6, y.pixel(confidence) + 14, size: 11, anchor: .end,
                    fill: Palette.switchLine, extra: Self.halo)
        var stairs: [(Double, Double)] = []
        for test in tests {
            let x = steps.pixel(Double(test.step))
            if let previous = stairs.last { stairs.append((x, previous.1)) }
            stairs.append((x, streak.pixel(Double(test.streak))))
        }
        canvas.polyline(stairs, stroke: Palette.streak, width: 1.5, opacity: 0.8, extra: [("class", "streak")])
        for test in tests {
            let x = steps.pixel(Double(test.step))
            for p in test.pMin {
                canvas.circle(x, y.pixel(p), radius: 2.6, fill: p > confidence ? Palette.vote : Palette.noVote, opacity: 0.7,
                              extra: [("class", "pmin"), ("data-epoch", "\(test.epoch)"), ("data-value", "\(p)")])
            }
        }
        var legend: [(String, String, Bool)] = [
            (Palette.noVote, "P_min, one dot per subset", true), (Palette.vote, "P_min > c (a vote)", true),
            (Palette.switchLine, "threshold c", false), (Palette.streak, "streak (right axis)", false),
        ]
        legend += drawMarkers(&canvas, panel, steps: steps, labelled: false)
        drawLegend(&canvas, panel, legend)
        canvas.close()
    }

    private func drawSchedulePanel(_ canvas: inout SVGCanvas, _ panel: Panel, steps: PlotScale, rates: PlotScale) {
        canvas.open(group: [("id", panel.id)])
        let y = PlotScale(lower: rates.lower, upper: rates.upper, pixelLower: panel.bottom, pixelUpper: panel.top, logarithmic: true)
        drawFrame(&canvas, panel, steps: steps, y: y, yTitle: "LR (log)", xLabels: true)
        let end = warmupEnd
        let all = sampleSteps(upTo: totalSteps)
        let point = { (step: Int) in (steps.pixel(Double(step)), y.pixel(plan.learningRate(at: step))) }
        canvas.polyline(all.filter { $0 < end }.map(point), stroke: Palette.warmup, width: 2, extra: [("class", "schedule-warmup")])
        let tail = all.filter { $0 >= end - 1 }.map(point)
        let decided = decision != nil
        canvas.polyline(tail, stroke: decided ? Palette.decay : Palette.tentative, width: 2,
                        extra: [("class", "schedule-decay")] + (decided ? [] : [("stroke-dasharray", "6 4")]))
        var legend: [(String, String, Bool)] = [
            (Palette.warmup, "warmup", false),
            (decided ? Palette.decay : Palette.tentative, decided ? "decay" : "decay from the warmup limit, if no test switches", false),
        ]
        legend += drawMarkers(&canvas, panel, steps: steps, labelled: false)
        drawLegend(&canvas, panel, legend)
        canvas.close()
    }

    // MARK: Pieces

    /// The detected minimum t* and the switch step, as vertical lines; their legend entries.
    private func drawMarkers(_ canvas: inout SVGCanvas, _ panel: Panel, steps: PlotScale, labelled: Bool) -> [(String, String, Bool)] {
        guard let d = decision else { return [] }
        let minimum = steps.pixel(d.minimumStep), switchX = steps.pixel(Double(d.step))
        canvas.line(minimum, panel.top, minimum, panel.bottom, stroke: Palette.minimum, width: 1.5, dash: "4 3",
                    extra: [("class", "minimum-marker"), ("data-step", String(format: "%.1f", d.minimumStep))])
        canvas.line(switchX, panel.top, switchX, panel.bottom, stroke: Palette.switchLine, width: 1.8,
                    extra: [("class", "switch-marker"), ("data-step", "\(d.step)")])
        if labelled {
            canvas.text(String(format: "t* = %.0f", d.minimumStep), minimum - 4, panel.top + 14, size: 11, anchor: .end,
                        fill: Palette.minimum, extra: Self.halo)
            canvas.text("switch at \(d.step)", switchX + 4, panel.top + 14, size: 11, fill: Palette.switchLine, extra: Self.halo)
        }
        return [(Palette.minimum, "t* (minimum)", false), (Palette.switchLine, "switch", false)]
    }

    /// Grid, axes, ticks and axis titles of one panel (x tick labels only where asked).
    private func drawFrame(_ canvas: inout SVGCanvas, _ panel: Panel, steps: PlotScale, y: PlotScale, yTitle: String,
                           yTicks: [Double]? = nil, right: PlotScale? = nil, rightTitle: String = "",
                           rightTicks: [Double]? = nil, xLabels: Bool = true) {
        for tick in steps.ticks(count: 10) {
            let x = steps.pixel(tick)
            canvas.line(x, panel.top, x, panel.bottom, stroke: Palette.grid)
            if xLabels { canvas.text(steps.label(tick), x, panel.bottom + 16, size: 11, anchor: .middle, fill: Palette.axis) }
        }
        for tick in yTicks ?? y.ticks(count: 5) {
            let py = y.pixel(tick)
            canvas.line(Self.left, py, Self.right, py, stroke: Palette.grid)
            canvas.text(y.label(tick), Self.left - 6, py + 4, size: 11, anchor: .end, fill: Palette.axis)
        }
        canvas.rect(Self.left, panel.top, Self.right - Self.left, panel.height, fill: "none", stroke: Palette.axis)
        let middle = (panel.top + panel.bottom) / 2
        canvas.text(yTitle, Self.left - 58, middle, size: 13, anchor: .middle, rotate: -90)
        if let right {
            for tick in rightTicks ?? right.ticks(count: 5) {
                let py = right.pixel(tick)
                canvas.line(Self.right, py, Self.right + 4, py, stroke: Palette.axis)
                canvas.text(right.label(tick), Self.right + 7, py + 4, size: 11, fill: Palette.axis)
            }
            canvas.text(rightTitle, Self.right + 62, middle, size: 13, anchor: .middle, rotate: 90)
        }
    }

    /// The panel's title and a legend in one row above the plot area, where it hides no data.
    private func drawLegend(_ canvas: inout SVGCanvas, _ panel: Panel, _ entries: [(color: String, label: String, dot: Bool)]) {
        canvas.text(panel.title, Self.left, panel.top - 28, size: 14, weight: "bold")
        var x = Self.left
        let y = panel.top - 10
        for entry in entries {
            if entry.dot {
                canvas.circle(x + 8, y - 4, radius: 3.5, fill: entry.color, opacity: 0.8)
            } else {
                canvas.line(x, y - 4, x + 18, y - 4, stroke: entry.color, width: 2.5)
            }
            canvas.text(entry.label, x + 23, y, size: 11, fill: Palette.axis)
            x += 23 + Double(entry.label.count) * 6.2 + 16
        }
    }

    // MARK: Numbers

    /// The LR axis: whole decades around the schedule's positive rates (at most 7 decades below the peak).
    private func learningRateScale() -> PlotScale {
        // The cosine's last steps fall towards 0: they set no floor, the start of the ramp does.
        let rates = sampleSteps(upTo: totalSteps * 95 / 100).map { plan.learningRate(at: $0) }.filter { $0 > 0 && $0.isFinite }
        let peak = rates.max() ?? 1
        let floorRate = max(rates.min() ?? peak / 10, peak * 1e-7)
        let low = pow(10, floor(log10(floorRate))), high = pow(10, ceil(log10(peak)))
        return PlotScale(lower: low, upper: high > low ? high : low * 10, pixelLower: 0, pixelUpper: 1, logarithmic: true)
    }

    /// At most about 1500 steps from 0 to `end` (inclusive of end - 1), enough for a smooth line.
    private func sampleSteps(upTo end: Int) -> [Int] {
        guard end > 0 else { return [] }
        let stride = max(1, end / 1500)
        var steps = Array(Swift.stride(from: 0, to: end, by: stride))
        if steps.last != end - 1 { steps.append(end - 1) }
        return steps
    }

    private func quantile(_ sorted: [Double], _ q: Double) -> Double {
        sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count - 1) * q).rounded())))]
    }
}
