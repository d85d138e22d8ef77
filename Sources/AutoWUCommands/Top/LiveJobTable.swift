import AutoWUProtocol

/// Every job of a daemon as the live view knows it: full lists from `Status`, updates from the events
/// socket, merged by the Clone rule (protocol/SPEC.md, section 5) so that an older reply never undoes a newer event.
struct LiveJobTable: Sendable, Equatable {
    private(set) var jobs: [String: Autowu_V1_JobState] = [:]

    /// The jobs by id, for drawing.
    var sorted: [Autowu_V1_JobState] { jobs.values.sorted { $0.jobID < $1.jobID } }

    /// Applies one state; returns whether it changed what is shown.
    @discardableResult
    mutating func apply(_ state: Autowu_V1_JobState) -> Bool {
        guard isNews(state) else { return false }
        jobs[state.jobID] = state
        return true
    }

    /// Whether `state` (or a notice of it) is newer than what the table holds.
    func isNews(_ state: Autowu_V1_JobState) -> Bool {
        guard let held = jobs[state.jobID] else { return true }
        return held.incarnation != state.incarnation || held.version < state.version
    }

    /// A full list: the daemon's word on which jobs exist (those it no longer lists have expired).
    mutating func replace(with list: [Autowu_V1_JobState]) {
        let listed = Set(list.map(\.jobID))
        jobs = jobs.filter { listed.contains($0.key) }
        for state in list { apply(state) }
    }
}

extension Autowu_V1_Phase {
    /// The phase as `autowu jobs` and `autowu top` print it.
    var label: String {
        switch self {
        case .warmup: "warmup"
        case .decay: "decay"
        case .expired: "expired"
        case .UNRECOGNIZED(let value): "phase \(value)"
        }
    }
}
