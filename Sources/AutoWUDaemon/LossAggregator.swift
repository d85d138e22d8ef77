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

    /// The ranks that reported nothing in a closed epoch: it was decided without them.
    struct SilentRanks: Equatable, Sendable {
        /// How many there were.
        var count = 0
        /// The first `listLimit` of them, ascending (a world of 65536 ranks must not make a verdict huge).
        var first: [Int] = []
        static let listLimit = 32
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
        var values = SparseTable<Double>(placeholder: 0)
        /// Reports per rank, to tell a rank whether the daemon has all of its losses.
        var rankCounts = SparseTable<Int>(placeholder: 0)

        /// Keeps the first report of a (rank, step); false for a duplicate.
        mutating func record(slot: Int, rank: Int, loss: Double) -> Bool {
            guard values.insertIfAbsent(slot, loss) else { return false }
            rankCounts.update(rank, initial: 0) { $0 += 1 }
            return true
        }

        var bytes: Int { values.bytes + rankCounts.bytes }
    }

    let stepsPerEpoch: Int
    /// The ranks whose reports count: the world size, or 1 in rank-zero mode.
    let ranks: Int
    /// How many epochs past the first open one may hold reports.
    let lookahead: Int
    private(set) var firstOpenEpoch: Int
    /// The first open epoch's reports, where nearly all of them go.
    private var first = EpochReports()
    /// Reports for the epochs after it (ranks run up to the gate, `decision_delay_steps` into the next).
    private var ahead: [Int: EpochReports] = [:]

    /// Storage held for reports, in bytes (what a memory budget counts).
    var bytes: Int { ahead.values.reduce(first.bytes) { $0 + $1.bytes } }

    /// What one more report costs at most, its tables half full after doubling: (key + value) / load 3/8,
    /// and as much again for a new rank's tally.
    static let bytesPerReport = 2 * 8 * (MemoryLayout<Int>.stride + MemoryLayout<Double>.stride) / 3

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
        // Mutated in place (through the dictionary's accessor for later epochs): no copy of a table per report.
        let isNew = epoch == firstOpenEpoch
            ? first.record(slot: slot, rank: rank, loss: loss)
            : ahead[epoch, default: EpochReports()].record(slot: slot, rank: rank, loss: loss)
        return isNew ? .accepted : .duplicate
    }

    private func reports(_ epoch: Int) -> EpochReports? {
        epoch == firstOpenEpoch ? first : ahead[epoch]
    }

    /// Every (rank, step) of the first open epoch has been reported.
    var isFirstOpenEpochComplete: Bool {
        first.values.count == stepsPerEpoch * ranks
    }

    /// Whether every loss `rank` owes for the epochs up to `epoch` has arrived (or no longer matters).
    func hasEverything(from rank: Int, through epoch: Int) -> Bool {
        guard rank >= 0, rank < ranks else { return true }
        guard epoch >= firstOpenEpoch else { return true }
        // Epochs past the lookahead never hold reports: the first of them already answers (no loop to Int.max).
        for open in firstOpenEpoch...min(epoch, firstOpenEpoch + lookahead + 1)
        where (reports(open)?.rankCounts[rank] ?? 0) < stepsPerEpoch {
            return false
        }
        return true
    }

    /// Closes the first open epoch: the per-step mean over the ranks that reported (NaN where none did),
    /// how many (rank, step) reports were missing, and the ranks that sent none.
    mutating func closeFirstOpenEpoch() -> (losses: [Double], missing: Int, silent: SilentRanks) {
        let reports = first
        firstOpenEpoch += 1
        first = ahead.removeValue(forKey: firstOpenEpoch) ?? EpochReports()
        // The next epoch will most likely get as many reports as this one did: room for them now, not by
        // doubling while they arrive.
        first.values.reserve(reports.values.count)
        first.rankCounts.reserve(reports.rankCounts.count)
        // Summed in rank order within each step: the same bits whatever the arrival order. The reports are
        // grouped by step (counting sort), then each step's few are sorted by rank.
        let entries = reports.values.entries()
        var starts = [Int](repeating: 0, count: stepsPerEpoch + 1)
        for entry in entries { starts[entry.key / ranks + 1] += 1 }
        for step in 0..<stepsPerEpoch { starts[step + 1] += starts[step] }
        var next = starts
        var grouped = [(key: Int, value: Double)](repeating: (0, 0), count: entries.count)
        for entry in entries {
            let step = entry.key / ranks
            grouped[next[step]] = entry
            next[step] += 1
        }
        var losses = [Double](repeating: .nan, count: stepsPerEpoch)
        for step in 0..<stepsPerEpoch where starts[step + 1] > starts[step] {
            grouped[starts[step] ..< starts[step + 1]].sort { $0.key < $1.key }
            var sum = 0.0
            for index in starts[step] ..< starts[step + 1] { sum += grouped[index].value }
            losses[step] = sum / Double(starts[step + 1] - starts[step])
        }
        var silent = SilentRanks()
        if reports.rankCounts.count < ranks {
            for rank in 0..<ranks where reports.rankCounts[rank] == nil {
                silent.count += 1
                if silent.first.count < SilentRanks.listLimit { silent.first.append(rank) }
            }
        }
        return (losses, stepsPerEpoch * ranks - reports.values.count, silent)
    }
}
