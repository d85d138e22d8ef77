import AutoWUProtocol

/// How an `autowud` runs: where it listens, where it keeps its state, and its time limits.
public struct DaemonConfiguration: Sendable {
    public var controlEndpoint = "tcp://127.0.0.1:\(WireProtocol.defaultControlPort)"
    public var ingestEndpoint = "tcp://127.0.0.1:\(WireProtocol.defaultIngestPort)"
    public var eventsEndpoint = "tcp://127.0.0.1:\(WireProtocol.defaultEventsPort)"
    /// Holds the SQLite store (autowu.sqlite3, WAL).
    public var dataDirectory: String
    /// Tests running at once across all jobs (default: the number of cores).
    public var testWorkers: Int
    /// How long a waiting snapshot lets an incomplete epoch stay open before it is closed as it is.
    public var closeTimeoutMilliseconds = 5_000
    /// Jobs idle for this long are expired.
    public var retentionSeconds: Double = 24 * 3600
    /// CURVE secret key (Z85); nil: plain TCP (fine on loopback and trusted networks only).
    public var curveSecretKey: String?
    /// Receive high-water mark of the ingest socket: reports beyond it would be dropped by libzmq.
    public var ingestHighWaterMark = 1_000_000
    public var maximumJobs = 100_000
    /// Take jobs with neither a token nor a MUNGE credential (development on loopback; `AccessPolicy`).
    public var allowAnonymous = false
    /// Uids whose MUNGE credentials may read and expire every job, besides the daemon's own.
    public var adminUIDs: Set<UInt32> = []
    /// munged's socket; nil: libmunge's default (/run/munge/munge.socket.2).
    public var mungeSocket: String?
    /// What the jobs' buffers may hold in all (`MemoryBudget`); nil: no limit.
    public var memoryBudgetBytes: Int? = DaemonConfiguration.defaultMemoryBudgetMegabytes << 20
    public static let defaultMemoryBudgetMegabytes = 4096

    public init(dataDirectory: String, testWorkers: Int) {
        self.dataDirectory = dataDirectory
        self.testWorkers = max(1, testWorkers)
    }
}
