/// One decision recorded for a job at an epoch; at most one per (job, epoch), never replaced.
public struct StoredVerdict: Sendable, Equatable {
    public var jobID: String
    public var epoch: Int64
    /// Protobuf bytes, opaque to the store.
    public var verdict: [UInt8]
    /// Seconds since 1970.
    public var recordedAt: Double
    /// The test's fitted hyper-parameters (JSON bytes, opaque to the store); nil if none or not recorded.
    public var model: [UInt8]?
    /// The test's posterior for plots (JSON bytes, opaque to the store). Kept for the job's latest such
    /// verdict only: saving one clears the older ones, so a job holds at most one.
    public var posterior: [UInt8]?

    public init(jobID: String, epoch: Int64, verdict: [UInt8], recordedAt: Double, model: [UInt8]? = nil,
                posterior: [UInt8]? = nil) {
        self.jobID = jobID
        self.epoch = epoch
        self.verdict = verdict
        self.recordedAt = recordedAt
        self.model = model
        self.posterior = posterior
    }
}
