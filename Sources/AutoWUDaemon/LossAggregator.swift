/// Collects the ranks' loss reports of a job's open epochs and turns a finished epoch into one loss per step.
///
/// Values are kept per rank and averaged in rank order when the epoch closes, so the mean does not depend on
/// the order reports arrived in: a daemon that restarts and receives the same reports again computes the
/// same bits, and so the same decisions.
struct LossAggregator: Sendable {
    enum Outcome: Equatable {
        case accepted
        case duplicate
        /// For an epoch already closed (or before step 0).
        case late
        /// Further ahead than any rank can legitimately be without the pending verdicts.
        case tooFarAhead
        /// From a rank that does not count (not rank 0 in rank-zero mode, or >= world size).
        case ignoredRank
    }

    struct Counts: Equatable {
        var accepted = 0, duplicate = 0, late = 0, tooFarAhead = 0, ignoredRank = 0

        mutating func add(_ outcome: Outcome) {
            switch outcome {
            case .accepted: accepted += 1
            case .duplicate: duplicate += 1
            case .late: late += 1
            case .tooFarAhead: tooFarAhead += 1
            case .ignoredRank: ignoredRank += 1
            }
        }
    }

    /// One open epoch: values[step * ranks + rank], `reported` marks which are set.
    private struct EpochBuffer: Sendable {
        var values: [Double]
        var reported: [Bool]
        var reportedCount = 0
        /// Reports per rank, to tell a rank whether the daemon has all of its losses.
        var rankCounts: [Int]

        /// Keeps the first report of a (rank, step); false for a duplicate.
        mutating func record(slot: Int, rank: Int, loss: Double) -> Bool {
            guard !reported[slot] else { return false }
            reported[slot] = true
            values[slot] = loss
            reportedCount += 1
            rankCounts[rank] += 1
            return true
        }
    }

    let stepsPerEpoch: Int
    /// The ranks whose reports count: the world size, or 1 in rank-zero mode.
    let ranks: Int
    /// How many epochs past the first open one may hold reports.
    let lookahead: Int
    private(set) var firstOpenEpoch: Int
    private var buffers: [Int: EpochBuffer] = [:]

    init(stepsPerEpoch: Int, ranks: Int, decisionDelaySteps: Int, firstOpenEpoch: Int) {
        self.stepsPerEpoch = stepsPerEpoch
        self.ranks = ranks
        // A rank runs at most to the gate of the first open epoch, (e+1)E + d - 1, before it must wait.
        self.lookahead = 1 + (decisionDelaySteps + stepsPerEpoch - 1) / stepsPerEpoch
        self.firstOpenEpoch = firstOpenEpoch
    }

    mutating func record(rank: Int, step: Int, loss: Double) -> Outcome {
        guard rank >= 0, rank < ranks else { return .ignoredRank }
        let epoch = step / stepsPerEpoch
        guard step >= 0, epoch >= firstOpenEpoch else { return .late }
        guard epoch <= firstOpenEpoch + lookahead else { return .tooFarAhead }
        let slot = (step - epoch * stepsPerEpoch) * ranks + rank
        let size = stepsPerEpoch * ranks, rankCount = ranks
        // Mutated in place through the dictionary's accessor: copying the buffer per report would make
        // ingest quadratic in the epoch's size.
        let isNew = buffers[epoch, default: EpochBuffer(values: Array(repeating: .nan, count: size),
                                                       reported: Array(repeating: false, count: size),
                                                       rankCounts: Array(repeating: 0, count: rankCount))]
            .record(slot: slot, rank: rank, loss: loss)
        return isNew ? .accepted : .duplicate
    }

    /// Every (rank, step) of the first open epoch has been reported.
    var isFirstOpenEpochComplete: Bool {
        (buffers[firstOpenEpoch]?.reportedCount ?? 0) == stepsPerEpoch * ranks
    }

    /// Whether every loss `rank` owes for the epochs up to `epoch` has arrived (or no longer matters).
    func hasEverything(from rank: Int, through epoch: Int) -> Bool {
        guard rank >= 0, rank < ranks else { return true }
        guard epoch >= firstOpenEpoch else { return true }
        for open in firstOpenEpoch...epoch where (buffers[open]?.rankCounts[rank] ?? 0) < stepsPerEpoch { return false }
        return true
    }

    /// Closes the first open epoch: the per-step mean over the ranks that reported (NaN where none did),
    /// and how many (rank, step) reports were missing.
    mutating func closeFirstOpenEpoch() -> (losses: [Double], missing: Int) {
        let buffer = buffers.removeValue(forKey: firstOpenEpoch)
        firstOpenEpoch += 1
        guard let buffer else { return (Array(repeating: .nan, count: stepsPerEpoch), stepsPerEpoch * ranks) }
        var losses = [Double](repeating: .nan, count: stepsPerEpoch)
        for step in 0..<stepsPerEpoch {
            var sum = 0.0, count = 0
            for rank in 0..<ranks where buffer.reported[step * ranks + rank] {
                sum += buffer.values[step * ranks + rank]
                count += 1
            }
            if count > 0 { losses[step] = sum / Double(count) }
        }
        return (losses, stepsPerEpoch * ranks - buffer.reportedCount)
    }
}
