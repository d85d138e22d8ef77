import AutoWU

extension WarmupFigure {
    /// The figure of a stored job: losses, plan and decision from its controller, tests from its verdicts,
    /// the posterior of the latest test that kept one (the decisive test).
    init(record: StoredJobRecord) {
        let configuration = record.controller.configuration
        let tests = record.entries.filter(\.verdict.tested).map { entry in
            let v = entry.verdict
            return Test(epoch: Int(v.epoch), step: Int(v.step), learningRate: v.lr, pMin: v.pMin, votes: Int(v.votes),
                        streak: Int(v.streak), outliers: Int(v.outliers), diverged: v.diverged,
                        note: v.note.isEmpty ? nil : v.note, model: entry.model)
        }
        let decisive = record.entries.last { $0.posterior != nil }
        self.init(name: record.jobID, losses: record.controller.losses.values, plan: record.controller.plan,
                  totalSteps: configuration.totalSteps, tests: tests, posterior: decisive?.posterior,
                  posteriorEpoch: decisive.map { Int($0.verdict.epoch) }, decision: record.controller.decision,
                  confidence: configuration.test.confidence)
    }
}
