import CoreMetrics
import Dispatch

/// The daemon's metric handles (swift-metrics), fed by the I/O thread through a few hooks: events (a test
/// done, a verdict published, a store commit) as they happen; job phases and `Counters` at most once a
/// second. `Counters` stays the one place where loss reports and tests are counted: the exported counters
/// follow its values, so the two never disagree.
public final class DaemonMetrics {
    /// Without a factory (no `--metrics-address`): every hook returns at once.
    private let isEnabled: Bool
    private let factory: any MetricsFactory
    private let testDuration: Timer
    private let verdictLatency: Timer
    private let storeCommitDuration: Timer
    private let jobs: [String: Gauge]
    /// `Counters` names and the counters that follow them, created when a name is first seen.
    private var followers: [String: Counter] = [:]
    private var exported: [String: UInt64] = [:]
    private var nextSample = DispatchTime(uptimeNanoseconds: 0)
    static let sampleIntervalNanoseconds: UInt64 = 1_000_000_000
    static let phases = ["warmup", "decay", "failed", "broken"]

    public convenience init(factory: any MetricsFactory) {
        self.init(factory: factory, enabled: true)
    }

    /// Hooks that do nothing: the daemon without `--metrics-address`.
    public static func disabled() -> DaemonMetrics {
        DaemonMetrics(factory: NOOPMetricsHandler.instance, enabled: false)
    }

    private init(factory: any MetricsFactory, enabled: Bool) {
        self.isEnabled = enabled
        self.factory = factory
        testDuration = Timer(label: MetricFamily.testDuration.name, factory: factory)
        verdictLatency = Timer(label: MetricFamily.verdictLatency.name, factory: factory)
        storeCommitDuration = Timer(label: MetricFamily.storeCommitDuration.name, factory: factory)
        // Every phase from the start, zeros included: a dashboard shows 0, not "no data".
        var jobs: [String: Gauge] = [:]
        for phase in Self.phases {
            jobs[phase] = Gauge(label: MetricFamily.jobs.name, dimensions: [("phase", phase)], factory: factory)
        }
        self.jobs = jobs
        // The families `Counters` names only once they happen, present (at 0) from the first scrape.
        for name in ["tests.run", "tests.failed", "ingest.losses", "ingest.messages"] { _ = follower(of: name) }
    }

    // MARK: - hooks

    func testRun(micros: UInt64) {
        guard isEnabled else { return }
        testDuration.recordMicroseconds(micros)
    }

    func verdictPublished(closedAt: UInt64) {
        guard isEnabled else { return }
        verdictLatency.recordNanoseconds(DispatchTime.now().uptimeNanoseconds &- closedAt)
    }

    /// A group commit landed after `nanoseconds`.
    func storeCommitted(nanoseconds: UInt64) {
        guard isEnabled else { return }
        storeCommitDuration.recordNanoseconds(nanoseconds)
    }

    /// Job phases and the counters; cheap to call on every loop iteration (it samples once a second).
    func sample(jobs: some Sequence<Job>, brokenJobs: Int, counters: Counters, now: DispatchTime = .now()) {
        guard isEnabled else { return }
        guard now.uptimeNanoseconds >= nextSample.uptimeNanoseconds else { return }
        nextSample = now + .nanoseconds(Int(Self.sampleIntervalNanoseconds))
        var byPhase = ["broken": brokenJobs]
        for job in jobs {
            byPhase[job.failure != nil ? "failed" : job.isWarmingUp ? "warmup" : "decay", default: 0] += 1
        }
        for (phase, gauge) in self.jobs { gauge.record(byPhase[phase] ?? 0) }
        for (name, value) in counters.values {
            guard let counter = follower(of: name) else { continue }
            let delta = value &- exported[name, default: 0]
            if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
            exported[name] = value
        }
    }

    /// The counter that exports `Counters` name `name`, if it is one that is exported.
    private func follower(of name: String) -> Counter? {
        if let counter = followers[name] { return counter }
        let counter: Counter
        switch name {
        case "tests.run": counter = Counter(label: MetricFamily.tests.name, factory: factory)
        case "tests.failed": counter = Counter(label: MetricFamily.testsFailed.name, factory: factory)
        case "ingest.losses": counter = Counter(label: MetricFamily.lossReportsReceived.name, factory: factory)
        case "ingest.messages": counter = Counter(label: MetricFamily.lossBatchesReceived.name, factory: factory)
        case "ingest.accepted": return nil
        case _ where name.hasPrefix("ingest."):
            counter = Counter(label: MetricFamily.lossReportsDropped.name,
                              dimensions: [("reason", String(name.dropFirst("ingest.".count)))], factory: factory)
        default: return nil
        }
        followers[name] = counter
        return counter
    }
}
