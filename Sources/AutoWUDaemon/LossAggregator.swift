/// Collects the ranks' loss reports of a job's open epochs and turns a finished epoch into one loss per step.
///
/// Values are kept per rank and averaged in rank order when the epoch closes, so the mean does not depend on
/// the order reports arrived in: a daemon that restarts and receives the same reports again computes the
/// same bits, and so the same decisions.
///
/// Storage is sparse: an epoch holds only the reports that arrived, keyed by (step, rank), and the per-rank
/// tallies of the ranks that reported. Memory grows with the reports received, never with the declared
/// `world_size x steps_per_epoch` (65536 x 65535 would be 34 GB dense); `bytes` is what it holds now.
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

    /// The reports of one open epoch.
    private struct EpochReports: Sendable {
        /// Slot (step in the epoch * ranks + rank) -> the first loss reported for it.
        var values: [Int: Double] = [:]
        /// Reports per rank, to tell a rank whether the daemon has all of its losses.
        var rankCounts: [Int: Int] = [:]

        /// Keeps the first report of a (rank, step); false for a duplicate.
        mutating func record(slot: Int, rank: Int, loss: Double) -> Bool {
            guard values.index(forKey: slot) == nil else { return false }
            values[slot] = loss
            rankCounts[rank, default: 0] += 1
            return true
        }

        /// The bytes of the two tables' storage (keys, values and their occupancy bitmaps).
        var bytes: Int {
            values.capacity * (MemoryLayout<Int>.stride + MemoryLayout<Double>.stride + 1)
                + rankCounts.capacity * (2 * MemoryLayout<Int>.stride + 1)
        }
    }

    let stepsPerEpoch: Int
    /// The ranks whose reports count: the world size, or 1 in rank-zero mode.
    let ranks: Int
    /// How many epochs past the first open one may hold reports.
    let lookahead: Int
    private(set) var firstOpenEpoch: Int
    private var epochs: [Int: EpochReports] = [:]

    /// Storage held for reports, in bytes (what a memory budget counts).
    var bytes: Int { epochs.values.reduce(0) { $0 + $1.bytes } }

    /// The most bytes one more accepted report can add (a table doubling its storage is counted when it
    /// happens, in `bytes`; this is the steady cost of a report).
    static let bytesPerReport = 2 * (MemoryLayout<Int>.stride + MemoryLayout<Double>.stride + 1)

    init(stepsPerEpoch: Int, ranks: Int, decisionDelaySteps: Int, firstOpenEpoch: Int) {
        self.stepsPerEpoch = stepsPerEpoch
        self.ranks = ranks
        // A rank runs at most to the gate of the first open epoch, (e+1)E + d - 1, before it must wait.
        self.lookahead = 1 + (decisionDelaySteps + stepsPerEpoch - 1) / stepsPerEpoch
        self.firstOpenEpoch = firstOpenEpoch
    }

    mutating func record(rank: Int, step: Int, loss: Double) -> Outcome {
        guard rank >= 0, rank < ranks else { return .ignoredRank }
        guard step >= 0 else { return .late }
        let epoch = step / stepsPerEpoch
        guard epoch >= firstOpenEpoch else { return .late }
        guard epoch - firstOpenEpoch <= lookahead else { return .tooFarAhead }
        // At most 65536 x 65536 slots per epoch (the protocol's limits): fits an Int.
        let slot = (step - epoch * stepsPerEpoch) * ranks + rank
        // Mutated in place through the dictionary's accessor: no copy of the epoch's table per report.
        let isNew = epochs[epoch, default: EpochReports()].record(slot: slot, rank: rank, loss: loss)
        return isNew ? .accepted : .duplicate
    }

    /// Every (rank, step) of the first open epoch has been reported.
    var isFirstOpenEpochComplete: Bool {
        (epochs[firstOpenEpoch]?.values.count ?? 0) == stepsPerEpoch * ranks
    }

    /// Reports held for the first open epoch.
    var firstOpenEpochReports: Int { epochs[firstOpenEpoch]?.values.count ?? 0 }

    /// Whether every loss `rank` owes for the epochs up to `epoch` has arrived (or no longer matters).
    func hasEverything(from rank: Int, through epoch: Int) -> Bool {
        guard rank >= 0, rank < ranks else { return true }
        guard epoch >= firstOpenEpoch else { return true }
        // Epochs past the lookahead never hold reports: the first of them already answers (no loop to Int.max).
        for open in firstOpenEpoch...min(epoch, firstOpenEpoch + lookahead + 1)
        where (epochs[open]?.rankCounts[rank] ?? 0) < stepsPerEpoch {
            return false
        }
        return true
    }

    /// Closes the first open epoch: the per-step mean over the ranks that reported (NaN where none did),
    /// and how many (rank, step) reports were missing.
    mutating func closeFirstOpenEpoch() -> (losses: [Double], missing: Int) {
        let reports = epochs.removeValue(forKey: firstOpenEpoch)
        firstOpenEpoch += 1
        guard let reports else { return (Array(repeating: .nan, count: stepsPerEpoch), stepsPerEpoch * ranks) }
        // Summed in slot order, which is rank order within each step: the same bits whatever the arrival order.
        var sums = [Double](repeating: 0, count: stepsPerEpoch)
        var counts = [Int](repeating: 0, count: stepsPerEpoch)
        for slot in reports.values.keys.sorted() {
            let step = slot / ranks
            sums[step] += reports.values[slot]!
            counts[step] += 1
        }
        let losses = (0..<stepsPerEpoch).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : .nan }
        return (losses, stepsPerEpoch * ranks - reports.values.count)
    }
}
