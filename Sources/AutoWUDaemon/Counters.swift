/// What the daemon has seen: messages in and out, and every kind of bad or dropped input, by name.
/// Kept by the I/O thread; shown by `Status` replies and `autowu jobs --counters`.
struct Counters {
    private(set) var rare: [String: UInt64] = [:]
    /// The ingest path runs for every loss report (hundreds of thousands a second): plain fields there,
    /// not a hashed name per increment.
    var ingestMessages: UInt64 = 0
    var ingestLosses: UInt64 = 0
    var ingestAccepted: UInt64 = 0
    var ingestDuplicate: UInt64 = 0
    var ingestLate: UInt64 = 0
    var ingestTooFarAhead: UInt64 = 0
    var ingestIgnoredRank: UInt64 = 0

    mutating func add(_ name: String, _ amount: Int = 1) {
        rare[name, default: 0] &+= UInt64(max(0, amount))
    }

    mutating func add(_ tally: LossAggregator.Counts) {
        ingestAccepted &+= UInt64(tally.accepted)
        ingestDuplicate &+= UInt64(tally.duplicate)
        ingestLate &+= UInt64(tally.late)
        ingestTooFarAhead &+= UInt64(tally.tooFarAhead)
        ingestIgnoredRank &+= UInt64(tally.ignoredRank)
    }

    var values: [String: UInt64] {
        var all = rare
        all["ingest.messages"] = ingestMessages
        all["ingest.losses"] = ingestLosses
        all["ingest.accepted"] = ingestAccepted
        all["ingest.duplicate"] = ingestDuplicate
        all["ingest.late"] = ingestLate
        all["ingest.too_far_ahead"] = ingestTooFarAhead
        all["ingest.ignored_rank"] = ingestIgnoredRank
        return all
    }

    subscript(_ name: String) -> UInt64 { values[name] ?? 0 }
}
