import AutoWUProtocol

/// The daemon's counters at one `Status` reply, timed by the daemon's own uptime (so rates do not depend on
/// how long the reply took to arrive).
struct CounterSample: Sendable, Equatable {
    var uptimeMilliseconds: UInt64
    var counters: [String: UInt64]

    init(uptimeMilliseconds: UInt64, counters: [String: UInt64]) {
        self.uptimeMilliseconds = uptimeMilliseconds
        self.counters = counters
    }

    init(_ status: Autowu_V1_DaemonStatus) {
        self.init(uptimeMilliseconds: status.uptimeMs, counters: status.counters)
    }

    /// Refused requests and inputs, failed tests and store writes. Not `errorTimeout` or `errorIncomplete`:
    /// those answer waiting snapshots in normal operation (SPEC section 4.2).
    var errors: UInt64 {
        counters.reduce(0) { sum, counter in
            Self.isError(counter.key) ? sum &+ counter.value : sum
        }
    }

    static func isError(_ name: String) -> Bool {
        if name.hasPrefix("control.error.") {
            return !name.hasSuffix(".errorTimeout") && !name.hasSuffix(".errorIncomplete")
        }
        return ["control.malformed", "ingest.malformed", "ingest.unsupported_version", "ingest.unauthorized",
                "tests.failed", "store.failed_saves", "store.failed_writes"].contains(name)
    }
}

/// What the daemon did between two samples, per second of its uptime.
struct DaemonRates: Sendable, Equatable {
    var reportsPerSecond: Double
    var testsPerSecond: Double
    /// Errors counted since the earlier sample.
    var newErrors: UInt64

    /// Nil when the samples are not in order, or the daemon restarted in between (its counters went back).
    init?(from earlier: CounterSample, to later: CounterSample) {
        guard later.uptimeMilliseconds > earlier.uptimeMilliseconds else { return nil }
        func delta(_ name: String) -> UInt64? {
            let before = earlier.counters[name] ?? 0, after = later.counters[name] ?? 0
            return after >= before ? after - before : nil
        }
        guard let losses = delta("ingest.losses"), let tests = delta("tests.run"), later.errors >= earlier.errors else {
            return nil
        }
        let seconds = Double(later.uptimeMilliseconds - earlier.uptimeMilliseconds) / 1000
        reportsPerSecond = Double(losses) / seconds
        testsPerSecond = Double(tests) / seconds
        newErrors = later.errors - earlier.errors
    }
}
