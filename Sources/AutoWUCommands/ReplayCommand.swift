import ArgumentParser
import AutoWU
import Foundation

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Show what AutoWU decides on a recorded loss trace.",
        discussion: """
            TRACE is a CSV file with a header row and a `loss` column, one row per training step from step 0 \
            (other columns are ignored; nan and inf are allowed). The trace is fed epoch by epoch through the \
            warmup controller until it switches to the decay schedule. Exit status 2: the trace or a parameter \
            is unusable.
            """)

    @Argument(help: "The loss trace (CSV with a `loss` column).")
    var trace: String

    @Option(help: "Training steps per epoch: a test runs at the end of each epoch.")
    var stepsPerEpoch: Int

    @Option(help: "Total training steps T of the run the trace comes from.")
    var totalSteps: Int

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

    @Option(help: "Steps between an epoch's end and the step its verdict takes effect at: 1 as the daemon's jobs (default), 0 for Algorithm 1 exactly.")
    var decisionDelaySteps = 1

    @Option(help: "GP solver: \(SolverKind.allCases.map(\.rawValue).joined(separator: " or ")).")
    var solver: SolverKind = .fast

    @Flag(help: "Print one JSON object instead of the timeline.")
    var json = false

    func run() throws {
        var configuration = AutoWUConfiguration(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
        configuration.decay = decay.schedule
        configuration.warmupShape = warmup
        configuration.seed = seed
        configuration.test.kind = test
        configuration.policy = policy
        configuration.patience = patience ?? AutoWUConfiguration.defaultPatience(policy)
        configuration.flatPace = flatPace
        configuration.decisionDelaySteps = decisionDelaySteps
        let report: ReplayReport
        do {
            let loaded = try LossTrace.read(path: trace)
            report = try Replay(configuration: configuration, solver: solver).run(loaded)
        } catch let error as LossTrace.ParseError {
            throw CommandFailure(message: "error: \(error)")
        } catch let error as ConfigurationError {
            throw CommandFailure(message: "error: \(error)")
        }
        if json {
            print(try report.jsonString())
        } else {
            print(report.timeline(configuration: configuration), terminator: "")
        }
    }
}

enum DecayOption: String, ExpressibleByArgument, CaseIterable {
    case cosine
    case constantCosine = "constant-cosine"

    var schedule: DecaySchedule {
        switch self {
        case .cosine: return .cosine
        case .constantCosine: return .constantThenCosine
        }
    }
}

extension WarmupSchedule.Shape: ExpressibleByArgument {}
extension MinimumTestKind: ExpressibleByArgument {}
extension WarmupPolicy: ExpressibleByArgument {}
extension SolverKind: ExpressibleByArgument {}

/// A failure the user can fix: its message goes to stderr, nothing to stdout, exit status 2.
struct CommandFailure: Error {
    var message: String
}
