/// Durations collected during a run (microseconds, 4 bytes each: millions fit), summarised at the end.
struct DurationSamples {
    private var micros: [UInt32] = []

    var count: Int { micros.count }

    mutating func add(nanoseconds: UInt64) {
        micros.append(UInt32(clamping: nanoseconds / 1_000))
    }

    /// p50, p99 and max in milliseconds; nil without samples.
    func summary() -> LoadReport.Percentiles? {
        guard !micros.isEmpty else { return nil }
        let sorted = micros.sorted()
        func quantile(_ q: Double) -> Double {
            Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) / 1_000
        }
        return LoadReport.Percentiles(p50_ms: quantile(0.5), p99_ms: quantile(0.99), max_ms: Double(sorted.last!) / 1_000)
    }
}
