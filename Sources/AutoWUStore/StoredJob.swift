/// One job as the store keeps it: the latest saved state, replaced by each newer version.
public struct StoredJob: Sendable, Equatable {
    public var jobID: String
    /// Protobuf bytes, opaque to the store.
    public var spec: [UInt8]
    /// Hex; "" when the job has no token.
    public var tokenHash: String
    /// The uid a MUNGE credential proved the job's first rank runs as; nil: no owner.
    public var ownerUID: UInt32?
    /// JSON bytes, opaque to the store.
    public var controller: [UInt8]
    /// Protobuf bytes, opaque to the store.
    public var state: [UInt8]
    /// Increases with every save; the store refuses a save that does not increase it.
    public var version: Int64
    /// "warmup" | "decay" | "expired".
    public var phase: String
    /// Seconds since 1970.
    public var updatedAt: Double

    public init(jobID: String, spec: [UInt8], tokenHash: String, controller: [UInt8], state: [UInt8],
                version: Int64, phase: String, updatedAt: Double, ownerUID: UInt32? = nil) {
        self.jobID = jobID
        self.spec = spec
        self.tokenHash = tokenHash
        self.ownerUID = ownerUID
        self.controller = controller
        self.state = state
        self.version = version
        self.phase = phase
        self.updatedAt = updatedAt
    }

    /// The phases a job can be in; anything else is refused on save.
    static let phases: Set<String> = ["warmup", "decay", "expired"]
}
