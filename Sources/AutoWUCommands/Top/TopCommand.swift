import ArgumentParser
import AutoWUClient
import Foundation

/// `autowu top` (and `autowu jobs --watch`): every job of a daemon, live.
struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Watch a daemon's jobs live: phase, epoch, step, LR, the last test, the switch; the daemon's rates.",
        discussion: """
            Jobs are updated from the events socket as the daemon publishes them; the full list and the \
            daemon's counters are fetched with Status every max(2, --interval) seconds, and the rates in the \
            header are the counters' change between the last two. On a terminal the view takes the alternate \
            screen and quits on q, Ctrl-C or SIGTERM, restoring the terminal; otherwise (a pipe, a file) it \
            prints one frame per interval, frames separated by a blank line, lines not cut. A daemon that does \
            not answer is said so in the header and asked again.
            """)

    @Argument(help: "Show only this job.")
    var job: String?

    @Option(help: "The daemon's control endpoint tcp://HOST:PORT (events PORT+2); default: AUTOWU_* or local defaults.")
    var endpoint: String?

    @Option(help: "The control endpoint, when not derived from --endpoint.")
    var control: String?

    @Option(help: "The events endpoint, when not derived from --endpoint.")
    var events: String?

    @Option(help: "Seconds between frames.")
    var interval = 1.0

    @Option(help: "A job's token (default: AUTOWU_TOKEN). Shown: jobs this token opens, this uid's jobs by MUNGE (all of them for an admin), and anonymous jobs.")
    var token = ProcessInfo.processInfo.environment["AUTOWU_TOKEN"] ?? ""

    @Flag(help: "Print one frame and exit (status 1 when the daemon did not answer).")
    var once = false

    func validate() throws {
        guard interval.isFinite, interval >= 0.1, interval <= 3600 else {
            throw ValidationError("--interval must lie between 0.1 and 3600 seconds, got \(interval)")
        }
    }

    func run() throws {
        var endpoints: DaemonEndpoints
        do {
            endpoints = try endpoint.map { try DaemonEndpoints(base: $0) } ?? DaemonEndpoints.fromEnvironment()
        } catch {
            throw CommandFailure(message: "error: \(error)")
        }
        if let control { endpoints.control = control }
        if let events { endpoints.events = events }
        try Self.watch(LiveView(endpoints: endpoints, interval: interval, job: job, token: token), once: once)
    }

    static func watch(_ view: LiveView, once: Bool) throws {
        let terminal = isatty(STDOUT_FILENO) == 1
        if once {
            let size = terminal ? TerminalScreen.size() : nil
            let (lines, reachable) = view.once(width: size?.width, height: size?.height)
            print(lines.joined(separator: "\n"))
            if !reachable { throw ExitCode(1) }
            return
        }
        let screen = terminal ? TerminalScreen() : nil
        defer { screen?.restore() }
        try view.run(on: screen)
    }
}
