import ArgumentParser
import AutoWUProtocol
import Foundation

/// `autowu`: the command-line front end.
public struct AutoWUCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "autowu",
        abstract: "Automated learning-rate warmup (AutoWU) for large-batch training.",
        version: AutoWUVersion.string,
        subcommands: [ReplayCommand.self, SimulateCommand.self, LoadCommand.self, JobsCommand.self, TopCommand.self, KeygenCommand.self, TokenCommand.self, RobustnessCommand.self, PlotCommand.self, HistoryCommand.self])

    public init() {}

    /// Runs the command line; a `CommandFailure` prints its message to stderr and exits with status 2.
    public static func runMain() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data((failure.message + "\n").utf8))
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}
