import Foundation

/// Maps data values to pixels along one axis, linearly or by log10, and chooses its ticks.
struct PlotScale {
    var lower: Double
    var upper: Double
    /// Pixel positions of `lower` and `upper` (a y axis runs downwards: pixelLower > pixelUpper).
    var pixelLower: Double
    var pixelUpper: Double
    var logarithmic = false

    func pixel(_ value: Double) -> Double {
        let (a, b, v) = logarithmic ? (log10(lower), log10(upper), value > 0 ? log10(value) : -.infinity) : (lower, upper, value)
        guard b > a else { return (pixelLower + pixelUpper) / 2 }
        // Out-of-range values are drawn on the frame's edge, not outside it.
        let clamped = min(max(v, a), b)
        return pixelLower + (clamped - a) / (b - a) * (pixelUpper - pixelLower)
    }

    func contains(_ value: Double) -> Bool { value >= lower && value <= upper }

    /// Decades on a log axis; 1, 2 or 5 times a power of ten on a linear one, about `count` of them.
    func ticks(count: Int = 6) -> [Double] {
        if logarithmic {
            let first = Int(ceil(log10(lower) - 1e-9)), last = Int(floor(log10(upper) + 1e-9))
            guard first <= last else { return [] }
            let stride = max(1, (last - first + count - 1) / count)
            return Swift.stride(from: first, through: last, by: stride).map { pow(10, Double($0)) }
        }
        guard upper > lower else { return [lower] }
        let raw = (upper - lower) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = ceil(lower / step - 1e-9) * step
        return Swift.stride(from: first, through: upper + step * 1e-9, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    func label(_ value: Double) -> String {
        if logarithmic { return "1e\(Int(log10(value).rounded()))" }
        return String(format: "%g", value)
    }

    /// A linear range covering `values`, padded by `padding` of its span; [0, 1] when there is nothing.
    static func range(of values: [Double], padding: Double = 0.05) -> (Double, Double) {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else { return (0, 1) }
        let span = high > low ? high - low : max(abs(high), 1)
        return (low - padding * span, high + padding * span)
    }
}
