extension WarmupController {
    /// The posterior of the test behind `verdict`, which this controller (the state before it) made when
    /// given `epochLosses`; nil when that test found nothing to smooth or its fit failed.
    public func posterior(ofTestIn verdict: EpochVerdict, epochLosses: [Double], solver: SolverKind) -> TestPosterior? {
        guard let model = verdict.check?.model else { return nil }
        // A diverged epoch is left out: its test looked for the minimum in the history before it.
        let tested = verdict.diverged ? losses.values : losses.values + epochLosses
        switch solver {
        case .exact:
            return MinimumTest(settings: configuration.test, solver: DenseCholeskySolver())
                .pooledPosterior(losses: tested, model: model, sampler: sampler)
        case .fast:
            return MinimumTest(settings: configuration.test, solver: LowRankSolver())
                .pooledPosterior(losses: tested, model: model, sampler: sampler)
        }
    }
}
