/// One Prometheus family the daemon exports: its name, its HELP text and, for histograms, its buckets.
/// The exposition side registers handles with these (swift-metrics itself carries neither).
public struct MetricFamily: Sendable {
    public let name: String
    public let help: String
    /// Upper bounds of a histogram's buckets; nil for counters and gauges.
    public let buckets: [Duration]?

    public static let jobs = MetricFamily(
        name: "autowu_jobs", help: "Jobs the daemon holds, by phase (warmup, decay, failed: no more decisions, broken: does not decode).")
    public static let lossReportsReceived = MetricFamily(
        name: "autowu_loss_reports_received_total", help: "Losses in ingest batches that reached a known job.")
    public static let lossBatchesReceived = MetricFamily(
        name: "autowu_loss_batches_received_total", help: "Ingest messages (loss batches) received.")
    public static let lossReportsDropped = MetricFamily(
        name: "autowu_loss_reports_dropped_total",
        help: "Loss reports not used, by reason; reasons that reject a whole batch count batches.")
    public static let tests = MetricFamily(name: "autowu_tests_total", help: "End-of-epoch tests run to a verdict.")
    public static let testsFailed = MetricFamily(name: "autowu_tests_failed_total", help: "End-of-epoch tests that failed.")
    public static let testDuration = MetricFamily(
        name: "autowu_test_duration_seconds", help: "Time one end-of-epoch test took.", buckets: millisecondsToSeconds)
    public static let verdictLatency = MetricFamily(
        name: "autowu_verdict_latency_seconds", help: "Time from an epoch's close to the publication of its verdict.", buckets: millisecondsToSeconds)
    public static let storeCommitDuration = MetricFamily(
        name: "autowu_store_commit_duration_seconds", help: "Time one group commit of tested verdicts to the store took.",
        buckets: [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
                  .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                  .milliseconds(250), .seconds(1)])

    /// From 1 ms to 30 s: a test, and a verdict's way from close to publication.
    static let millisecondsToSeconds: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    public static let all: [MetricFamily] = [
        jobs, lossReportsReceived, lossBatchesReceived, lossReportsDropped, tests, testsFailed, testDuration,
        verdictLatency, storeCommitDuration,
    ]

    init(name: String, help: String, buckets: [Duration]? = nil) {
        self.name = name
        self.help = help
        self.buckets = buckets
    }
}
