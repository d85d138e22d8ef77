import Foundation

/// `String(format: "%.Nf", value)` for the per-verdict log line without Foundation's formatter, which took
/// a third of the I/O thread's time of publishing a verdict at 5,000 jobs. A value within an ulp or so of a
/// tie in the last digit may round the other way (the scaling rounds first); otherwise the same text.
enum FixedDecimals {
    private static let scales: [Double] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]

    static func format(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : value < 0 ? "-inf" : "inf" }
        guard decimals >= 0, decimals < scales.count else { return String(format: "%.\(decimals)f", value) }
        let scaled = (abs(value) * scales[decimals]).rounded()
        guard scaled < 1e15 else { return String(format: "%.\(decimals)f", value) }
        let units = UInt64(scaled), scale = UInt64(scales[decimals])
        let sign = value < 0 && units != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(units) }
        let fraction = String(units % scale)
        return sign + String(units / scale) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
}
