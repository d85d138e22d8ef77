/// The daemon's memory budget (`--memory-budget-mb`): the bytes its jobs hold, per job and in all, and
/// whether more may be taken.
///
/// What is counted is each job's actual buffers (`Job.memoryBytes`): its open epochs' reports, closed epochs
/// waiting for their test, the loss history its controller keeps, its waiting requests, and a fixed cost per
/// job. When the budget is reached, new jobs and new data are refused with `refusal`; what is held already
/// is kept, so no job loses anything, and room comes back as jobs finish, move past their warmup, or expire.
struct MemoryBudget {
    /// nil: no limit.
    let limitBytes: Int?
    private(set) var usedBytes = 0
    private var perJob: [String: Int] = [:]

    init(limitBytes: Int?) {
        self.limitBytes = limitBytes
    }

    /// Whether `additional` bytes more stay within the budget.
    func allows(_ additional: Int) -> Bool {
        guard let limitBytes else { return true }
        return usedBytes + max(0, additional) <= limitBytes
    }

    /// Sets what `job` holds now.
    mutating func update(_ job: String, bytes: Int) {
        usedBytes += bytes - (perJob.updateValue(bytes, forKey: job) ?? 0)
    }

    mutating func release(_ job: String) {
        usedBytes -= perJob.removeValue(forKey: job) ?? 0
    }

    /// The clear error for something refused because the budget is used up.
    func refusal(_ what: String) -> String {
        let limit = limitBytes.map { Self.megabytes($0) } ?? "unlimited"
        return "the daemon's memory budget is used up (its jobs hold \(Self.megabytes(usedBytes)) of \(limit), "
            + "--memory-budget-mb): \(what) refused until jobs finish or expire"
    }

    static func megabytes(_ bytes: Int) -> String {
        let value = Double(bytes) / 1_048_576
        return value < 10 ? "\((value * 100).rounded() / 100) MB" : "\(Int(value.rounded())) MB"
    }
}
