/// What the load generator counts while it runs; `LoadReport` turns it into figures.
struct LoadTally {
    var registrations = 0
    var lossesSent = 0
    var batchesSent = 0
    /// Losses and batches sent while every job was running (from the last job's start to the first rank's end).
    var steadyLosses = 0
    var steadyBatches = 0
    var snapshotsSent = 0
    var snapshotsWithPending = 0
    /// (rank, epoch) verdicts asked for, and received in a reply that decides the epoch.
    var verdictsAsked = 0
    var verdictsReceived = 0
    var verdictLatency = DurationSamples()
    /// How late the generator ran each rank's scheduled action.
    var scheduleLag = DurationSamples()
    var gateWaits = 0
    var gateWaitNanoseconds: UInt64 = 0
    /// Error replies by code, and the generator's own troubles (no reply, a rank given up).
    var errors: [String: Int] = [:]
    /// Ranks of one job that were told different plan versions for the same epoch's verdict.
    var versionDisagreements = 0
    /// Replies naming another incarnation of a job than its registration did.
    var incarnationChanges = 0
    var eventsReceived = 0
    /// Ranks that did not receive the verdict of every epoch they played (before their job's warmup ended).
    var ranksMissingVerdicts = 0
    /// Jobs whose warmup ended during the run (their ranks ask for no more verdicts).
    var jobsSwitched = 0
    var failures: [String] = []

    mutating func count(_ error: String) { errors[error, default: 0] += 1 }
}
