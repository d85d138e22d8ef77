/// The shape every simulated job shares: its epochs and gates (protocol/SPEC.md, section 7), how its ranks
/// batch their reports, and how far they run.
struct LoadJobShape: Sendable {
    let stepsPerEpoch: Int
    let decisionDelaySteps: Int
    /// W: epochs whose gate lies at or past it are never tested.
    let warmupSteps: Int
    let worldSize: Int
    /// Losses per ingest message (the Python client's default is 32); a batch also ends at every epoch end.
    let batchSize: Int
    /// Steps each rank plays: a whole number of epochs.
    let runSteps: Int

    /// g(e): the step the verdict of epoch `e` applies from.
    func gate(of epoch: Int) -> Int { (epoch + 1) * stepsPerEpoch + decisionDelaySteps }

    func isTested(_ epoch: Int) -> Bool { epoch >= 0 && gate(of: epoch) < warmupSteps }

    /// The step before which the losses unsent from `first` on go out: a full batch, the epoch's end, or the
    /// run's end, as the Python client flushes (`_update_flush_at`).
    func flushPoint(from first: Int) -> Int {
        min(first + batchSize, (first / stepsPerEpoch + 1) * stepsPerEpoch, runSteps)
    }

    var epochs: Int { runSteps / stepsPerEpoch }
}
