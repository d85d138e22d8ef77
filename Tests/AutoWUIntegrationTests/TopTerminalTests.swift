import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing

/// `autowu top` in a real terminal (a tmux pane): it follows a job to its switch and gives the terminal back.
@Suite(.serialized) struct TopTerminalTests {
    /// tmux from PATH.
    static let tmux = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        .map { "\($0)/tmux" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A tmux server of the test's own (`-L`), so that a user's sessions are never touched.
    struct Tmux {
        let executable: URL
        let server = "autowu-top-test-\(UUID().uuidString.prefix(8))"

        /// Runs a tmux client with posix_spawn and waitpid on its pid. Not `Process`: Foundation learns of a
        /// child's exit from a descriptor the child inherits, and the server the first call forks keeps it open.
        /// Output goes through files for the same reason.
        @discardableResult
        func callAsFunction(_ arguments: String...) throws -> String {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("\(server)-\(UUID().uuidString)")
            let outPath = base.path + ".out", errPath = base.path + ".err"
            defer { try? FileManager.default.removeItem(atPath: outPath); try? FileManager.default.removeItem(atPath: errPath) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            // The test's thread blocks signals and tmux would inherit that: its server and panes could then
            // not be stopped by kill-server. Start it with no signal blocked and the usual dispositions.
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t(), usual = sigset_t()
            sigemptyset(&none)
            sigemptyset(&usual)
            for number in [SIGHUP, SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&usual, number) }
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setsigdefault(&attributes, &usual)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            let argv = ([executable.path, "-L", server] + arguments).map { strdup($0) } + [nil]
            defer { for argument in argv { free(argument) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, executable.path, &actions, &attributes, argv, environ)
            guard spawned == 0 else { throw TmuxFailure(description: "posix_spawn tmux: \(String(cString: strerror(spawned)))") }
            // A tmux client answers at once; a hung one is killed rather than hanging the test.
            var status: Int32 = 0
            let deadline = Date().addingTimeInterval(30)
            while waitpid(pid, &status, WNOHANG) == 0 {
                if Date() > deadline { kill(pid, SIGKILL) }
                usleep(10_000)
            }
            let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            guard status == 0 else {
                let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
                throw TmuxFailure(description: "tmux \(arguments.joined(separator: " ")): wait status \(status): \(stderr)")
            }
            return stdout
        }

        func pane() throws -> String { try self("capture-pane", "-p", "-t", "top") }

        /// Polls the pane until `condition` holds on its text; returns the last text either way.
        func waitForPane(seconds: Double, until condition: (String) -> Bool) throws -> String {
            let deadline = Date().addingTimeInterval(seconds)
            var text = try pane()
            while !condition(text), Date() < deadline {
                usleep(200_000)
                text = try pane()
            }
            return text
        }
    }

    @Test(.enabled(if: tmux != nil, "tmux is not installed (Debian package tmux; scripts/install-dependencies --test)"))
    func topFollowsAJobToItsSwitchAndRestoresTheTerminalOnQ() throws {
        let daemon = try DaemonProcess()
        defer { daemon.stop() }
        let tmux = Tmux(executable: URL(fileURLWithPath: try #require(Self.tmux)))
        defer { _ = try? tmux("kill-server") }
        let autowu = BuildProducts.executable("autowu").path
        // The shell outlives `autowu top`, says how it ended and shows the terminal's modes after it.
        let command = "'\(autowu)' top --control \(daemon.endpoints.control) --events \(daemon.endpoints.events) --interval 0.5; "
            + "echo \"top exited with status $?\"; stty -a; sleep 600"
        try tmux("new-session", "-d", "-s", "top", "-x", "120", "-y", "30", command)
        // kill-server leaves its socket file behind.
        let socket = try tmux("display", "-p", "#{socket_path}").trimmingCharacters(in: .whitespacesAndNewlines)
        defer { try? FileManager.default.removeItem(atPath: socket) }

        let started = try tmux.waitForPane(seconds: 30) { $0.contains("autowud \(AutoWUVersion.string)  up ") && $0.contains("JOB") }
        #expect(started.contains("(no jobs)"), "\(started)")
        #expect(try tmux("display", "-p", "-t", "top", "#{alternate_on}").trimmingCharacters(in: .whitespacesAndNewlines) == "1",
                "top did not take the alternate screen")

        let job = "watched-in-tmux"
        let trace = BuildProducts.repository.appendingPathComponent("traces/digits_bs512_seed0_spe3_ep120_W360.csv").path
        let (output, simulated) = try simulate(daemon, [trace, "--steps-per-epoch", "3", "--total-steps", "720", "--ranks", "2",
                                                        "--job-id", job])
        #expect(output.status == 0, "\(output.stderr)")
        let report = try #require(simulated)
        let switchStep = try #require(report.switch_step)
        let rate = try #require(report.lr_after_switch)
        let expected = "step \(switchStep)  lr \(String(format: "%.4g", rate))  \(try #require(report.reason))"

        func row(_ pane: String) -> String? { pane.split(separator: "\n").first { $0.hasPrefix(job + " ") }.map(String.init) }
        let shown = try tmux.waitForPane(seconds: 60) { pane in
            row(pane).map { $0.contains(" decay ") && $0.hasSuffix(expected) } ?? false
        }
        let line = try #require(row(shown), "no row for \(job) in the pane:\n\(shown)")
        #expect(line.contains(" decay ") && line.hasSuffix(expected), "expected the switch \(expected):\n\(shown)")
        #expect(shown.split(separator: "\n").allSatisfy { $0.count <= 120 })
        print("autowu top in a 120x30 tmux pane:\n\(shown)")

        try tmux("send-keys", "-t", "top", "q")
        let after = try tmux.waitForPane(seconds: 20) { $0.contains("top exited with status") && $0.contains("speed") }
        #expect(after.contains("top exited with status 0"), "\(after)")
        #expect(try tmux("display", "-p", "-t", "top", "#{alternate_on} #{cursor_flag}").trimmingCharacters(in: .whitespacesAndNewlines) == "0 1",
                "the alternate screen is still on or the cursor hidden")
        // The keyboard's modes as before: canonical input and echo back on.
        let modes = after.split(whereSeparator: \.isWhitespace)
        #expect(modes.contains("icanon") && modes.contains("echo") && !modes.contains("-icanon") && !modes.contains("-echo"), "\(after)")
        #expect(!after.contains(job + " "), "the frame was drawn on the main screen:\n\(after)")
    }
}

struct TmuxFailure: Error, CustomStringConvertible {
    var description: String
}
