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

    @OptionGroup var options: ReplayOptions

    @Flag(help: "Print one JSON object instead of the timeline.")
    var json = false

    func run() throws {
        let (_, report, configuration) = try options.replay(trace: trace, stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
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
