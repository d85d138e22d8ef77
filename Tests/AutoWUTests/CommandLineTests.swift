import Foundation
import Testing

/// Runs the real `autowu` executable, as users do.
struct CommandRun {
    var status: Int32
    var stdout: String
    var stderr: String

    static let executable: URL = {
        // The test bundle lives next to the package's executables in the build directory.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("autowu").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("autowu")
    }()

    static func autowu(_ arguments: [String]) throws -> CommandRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandRun(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite struct CommandLineTests {
    func temporaryFile(_ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-\(UUID().uuidString).csv").path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [
        ("step,loss\n1,0.5\n2,oops\n", ":3:"),
        ("step,lr\n1,0.5\n", ":1:"),
        ("step,loss\n1,0.5,7\n", ":2:"),
        ("", ":1:"),
    ])
    func malformedTracesExitWithStatus2AndSayWhere(contents: String, location: String) throws {
        let path = try temporaryFile(contents)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try CommandRun.autowu(["replay", path, "--steps-per-epoch", "1", "--total-steps", "10", "--json"])
        #expect(run.status == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains(path + location), "stderr: \(run.stderr)")
    }

    @Test func aMissingFileAndBadParametersAreStatus2Too() throws {
        let missing = try CommandRun.autowu(["replay", "/nonexistent/trace.csv", "--steps-per-epoch", "5", "--total-steps", "100"])
        #expect(missing.status == 2 && missing.stdout.isEmpty && missing.stderr.contains("/nonexistent/trace.csv"))
        let path = try temporaryFile("loss\n1\n2\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bad = try CommandRun.autowu(["replay", path, "--steps-per-epoch", "0", "--total-steps", "100"])
        #expect(bad.status == 2 && bad.stdout.isEmpty && bad.stderr.contains("steps per epoch"))
        let rho = try CommandRun.autowu(["replay", path, "--steps-per-epoch", "1", "--total-steps", "1"])
        #expect(rho.status == 2 && rho.stderr.contains("floor(rho_w"))
    }

    @Test func replayPrintsTheJSONContract() throws {
        let run = try CommandRun.autowu(["replay", Repository.path("traces/digits_bs512_seed0_spe3_ep120_W360.csv"),
                                         "--steps-per-epoch", "3", "--total-steps", "720", "--json"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["switched"] as? Bool == true)
        #expect(object["reason"] as? String == "gp_test")
        let epoch = try #require(object["switch_epoch"] as? Int)
        #expect(object["switch_step"] as? Int == (epoch + 1) * 3 + 1, "the daemon's decision delay, d = 1, by default")
        #expect(object["lr_after_switch"] as? Double != nil)
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.count == epoch + 1)
        for key in ["epoch", "step", "lr", "p_min", "votes", "positive", "argmin_x", "holding", "outliers"] {
            #expect(checks[0][key] != nil, "missing \(key)")
        }
        #expect((checks[0]["p_min"] as? [Double])?.count == 5 && (checks[0]["argmin_x"] as? [Double])?.count == 5)
    }

    @Test func theFastSolverIsTheDefaultAndDecidesAsTheExactOne() throws {
        let arguments = ["replay", Repository.path("traces/synth_a_parabola_min900_spe25_ep60_W1500.csv"),
                         "--steps-per-epoch", "25", "--total-steps", "3000", "--json"]
        let fast = try CommandRun.autowu(arguments)
        let exact = try CommandRun.autowu(arguments + ["--solver", "exact"])
        let explicit = try CommandRun.autowu(arguments + ["--solver", "fast"])
        #expect(fast.status == 0 && exact.status == 0)
        #expect(fast.stdout == explicit.stdout, "fast is the default")
        let a = try #require(try JSONSerialization.jsonObject(with: Data(fast.stdout.utf8)) as? [String: Any])
        let b = try #require(try JSONSerialization.jsonObject(with: Data(exact.stdout.utf8)) as? [String: Any])
        #expect(a["switch_step"] as? Int == b["switch_step"] as? Int)
        #expect(a["reason"] as? String == b["reason"] as? String)
        let ra = try #require(a["lr_after_switch"] as? Double), rb = try #require(b["lr_after_switch"] as? Double)
        #expect(abs(ra - rb) <= 1e-9 * rb)
    }

    @Test func replayPrintsATimeline() throws {
        let run = try CommandRun.autowu(["replay", Repository.path("traces/digits_bs512_seed0_spe3_ep120_W360.csv"),
                                         "--steps-per-epoch", "3", "--total-steps", "720", "--decay", "constant-cosine"])
        #expect(run.status == 0)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("epoch") == true)
        #expect(lines.contains { $0.hasPrefix("switch after epoch") })
        // The trace was recorded on the plain ramp; the default hold policy says what its replay means.
        #expect(lines.contains { $0.contains("  hold") })
        #expect(lines.last?.hasPrefix("note: the hold policy would have held the LR from step") == true)
        #expect(lines.count > 80)
        let paper = try CommandRun.autowu(["replay", Repository.path("traces/digits_bs512_seed0_spe3_ep120_W360.csv"),
                                           "--steps-per-epoch", "3", "--total-steps", "720", "--policy", "paper",
                                           "--test", "paper", "--decision-delay-steps", "0"])
        #expect(paper.stdout.split(separator: "\n").last?.hasPrefix("switch after epoch 85") == true, "the paper's method, Algorithm 1")
        #expect(!paper.stdout.contains("hold"))
    }
}
