import ArgumentParser
import AutoWU
import Foundation

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a warmup: losses, the GP posterior, P_min at every test, the LR schedule.",
        discussion: """
            Either a trace (replayed as by `autowu replay`, with the same options) or a job stored by autowud \
            (--job with --data-dir; the store is only read, the daemon may be running). Writes one SVG; an \
            output ending in .png is rendered with rsvg-convert (Debian: librsvg2-bin). Exit status 2: the \
            input or a parameter is unusable, and nothing is written.
            """)

    @Argument(help: "A loss trace (CSV with a `loss` column), as for `autowu replay`.")
    var trace: String?

    @Option(help: "Training steps per epoch (trace mode).")
    var stepsPerEpoch: Int?

    @Option(help: "Total training steps T of the run the trace comes from (trace mode).")
    var totalSteps: Int?

    @OptionGroup var options: ReplayOptions

    @Option(help: "A job stored by autowud, instead of a trace.")
    var job: String?

    @Option(help: "The daemon's data directory (with --job).")
    var dataDir: String?

    @Option(name: [.short, .customLong("output")], help: "The file to write: .svg, or .png through rsvg-convert.")
    var output: String

    func validate() throws {
        switch (trace, job) {
        case (nil, nil): throw ValidationError("give a TRACE or --job JOB")
        case (.some, .some): throw ValidationError("give a TRACE or --job JOB, not both")
        case (.some, nil):
            guard stepsPerEpoch != nil, totalSteps != nil else {
                throw ValidationError("a trace needs --steps-per-epoch and --total-steps")
            }
        case (nil, .some):
            guard dataDir != nil else { throw ValidationError("--job needs --data-dir") }
        }
    }

    func run() throws {
        let figure: WarmupFigure
        if let trace, let stepsPerEpoch, let totalSteps {
            let (loaded, report, configuration) = try options.replay(trace: trace, stepsPerEpoch: stepsPerEpoch,
                                                                     totalSteps: totalSteps, keepingPosterior: true)
            guard loaded.losses.contains(where: \.isFinite) else {
                throw CommandFailure(message: "error: \(trace): no finite loss to plot")
            }
            figure = WarmupFigure(name: URL(fileURLWithPath: trace).lastPathComponent, trace: loaded, report: report,
                                  configuration: configuration)
        } else {
            figure = WarmupFigure(record: try StoredJobRecord.load(job: job ?? "", dataDirectory: dataDir ?? ""))
        }
        try FigureFile.write(figure.svg(), to: output)
    }
}
