import ArgumentParser
import AutoWU

/// The controller's options shared by `replay` and `plot`: the same flags give the same decision.
struct ReplayOptions: ParsableArguments {
    @Option(help: "Decay schedule after the switch: cosine or constant-cosine.")
    var decay: DecayOption = .cosine

    @Option(help: "Warmup shape: exponential (the method) or linear (the paper's ablation).")
    var warmup: WarmupSchedule.Shape = .exponential

    @Option(help: "Seed of the subset generator (the daemon's default is 0 too).")
    var seed: UInt64 = 0

    @Option(help: "The minimum test: robust (default: outliers set aside, scale-free) or paper (the paper's test exactly).")
    var test: MinimumTestKind = .robust

    @Option(help: "The warmup policy: hold (default: the LR is held while a positive streak is confirmed) or paper (Algorithm 1).")
    var policy: WarmupPolicy = .hold

    @Option(help: "Consecutive positive tests needed to switch (default: 2 with the hold policy, 3 with the paper's).")
    var patience: Int?

    @Option(help: "The hold policy's flat pace: how many times faster the ramp runs while the loss has not moved (1: the paper's pace). The trace was recorded on some ramp; its losses are read as they are.")
    var flatPace: Double = AutoWUConfiguration(stepsPerEpoch: 1, totalSteps: 1).flatPace

    @Option(help: "The hold policy's lag correction: the decay starts from the LR this many steps before the minimum t*.")
    var lagSteps: Double = AutoWUConfiguration(stepsPerEpoch: 1, totalSteps: 1).lagSteps

    @Option(help: "The hold policy's climb limit: the exponential ramp climbs at most one decade per this many steps, so a short warmup starts above eta_min (0: off, the paper's ramp).")
    var stepsPerDecade: Double = AutoWUConfiguration.defaultStepsPerDecade

    @Option(help: "Steps between an epoch's end and the step its verdict takes effect at: 1 as the daemon's jobs (default), 0 for Algorithm 1 exactly.")
    var decisionDelaySteps = 1

    @Option(help: "GP solver: \(SolverKind.allCases.map(\.rawValue).joined(separator: " or ")).")
    var solver: SolverKind = .fast

    func configuration(stepsPerEpoch: Int, totalSteps: Int) -> AutoWUConfiguration {
        var configuration = AutoWUConfiguration(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
        configuration.decay = decay.schedule
        configuration.warmupShape = warmup
        configuration.seed = seed
        configuration.test.kind = test
        configuration.policy = policy
        configuration.patience = patience ?? AutoWUConfiguration.defaultPatience(policy)
        configuration.flatPace = flatPace
        configuration.lagSteps = lagSteps
        configuration.stepsPerDecade = stepsPerDecade
        configuration.decisionDelaySteps = decisionDelaySteps
        return configuration
    }

    /// Reads and replays `trace`; an unreadable trace or an unusable parameter is a `CommandFailure`.
    func replay(trace: String, stepsPerEpoch: Int, totalSteps: Int, keepingPosterior: Bool = false) throws
        -> (LossTrace, ReplayReport, AutoWUConfiguration) {
        let configuration = configuration(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
        do {
            let loaded = try LossTrace.read(path: trace)
            let report = try Replay(configuration: configuration, solver: solver).run(loaded, keepingPosterior: keepingPosterior)
            return (loaded, report, configuration)
        } catch let error as LossTrace.ParseError {
            throw CommandFailure(message: "error: \(error)")
        } catch let error as ConfigurationError {
            throw CommandFailure(message: "error: \(error)")
        }
    }
}
