/// One decision recorded for a job at an epoch; at most one per (job, epoch), never replaced.
public struct StoredVerdict: Sendable, Equatable {
    public var jobID: String
    public var epoch: Int64
    /// Protobuf bytes, opaque to the store.
    public var verdict: [UInt8]
    /// Seconds since 1970.
    public var recordedAt: Double

    public init(jobID: String, epoch: Int64, verdict: [UInt8], recordedAt: Double) {
        self.jobID = jobID
        self.epoch = epoch
        self.verdict = verdict
        self.recordedAt = recordedAt
    }
}
