import AutoWU
import AutoWUCommands
import Foundation
import Testing

/// `autowu plot` on a trace, run as users run it, and the SVG it writes read back as XML.
@Suite struct PlotTests {
    static let digits = Repository.path("traces/digits_bs128_seed0_spe12_ep80_W960.csv")
    static let shape = ["--steps-per-epoch", "12", "--total-steps", "1920"]

    struct ReplayJSON: Decodable {
        var switched: Bool
        var switch_epoch: Int?
        var switch_step: Int?
        var checks: [Check]
        struct Check: Decodable { var epoch: Int; var p_min: [Double] }
    }

    func temporaryPath(_ suffix: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("autowu-plot-\(UUID().uuidString)\(suffix)").path
    }

    func replay(_ trace: String) throws -> ReplayJSON {
        let run = try CommandRun.autowu(["replay", trace] + Self.shape + ["--json"])
        try #require(run.status == 0, "stderr: \(run.stderr)")
        return try JSONDecoder().decode(ReplayJSON.self, from: Data(run.stdout.utf8))
    }

    @Test func theTracePlotShowsTheReplayedDecision() throws {
        let output = temporaryPath(".svg")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let run = try CommandRun.autowu(["plot", Self.digits] + Self.shape + ["-o", output])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let expected = try replay(Self.digits)
        let switchStep = try #require(expected.switch_step), switchEpoch = try #require(expected.switch_epoch)
        let svg = try SVGDocument(path: output)

        for panel in ["panel-loss", "panel-pmin", "panel-lr"] {
            let markers = svg.all("line", class: "switch-marker", inGroup: panel)
            #expect(markers.map { $0.attributes["data-step"] } == ["\(switchStep)"], "panel \(panel)")
        }
        let title = try #require(svg.text(id: "title"))
        #expect(title.hasPrefix("digits_bs128_seed0_spe12_ep80_W960.csv: switch after epoch \(switchEpoch) at step \(switchStep), lr "))
        #expect(title.hasSuffix("(gp_test)"))

        // Five dots per test, each at its test's P_min, in the P_min panel only.
        let dots = svg.all("circle", class: "pmin")
        #expect(dots.count == 5 * expected.checks.count)
        #expect(svg.all("circle", class: "pmin", inGroup: "panel-pmin").count == dots.count)
        let drawn = dots.map { "\($0.attributes["data-epoch"] ?? "?"):\($0.attributes["data-value"] ?? "?")" }
        let replayed = expected.checks.flatMap { check in check.p_min.map { "\(check.epoch):\($0)" } }
        #expect(drawn == replayed)

        #expect(svg.all("line", class: "threshold", inGroup: "panel-pmin").first?.attributes["data-value"] == "0.95")
        #expect(svg.all("polygon", class: "posterior-band", inGroup: "panel-loss").count == 1)
        #expect(!svg.all("polyline", class: "posterior-mean", inGroup: "panel-loss").isEmpty)
        #expect(!svg.all("polyline", class: "warmup-lr", inGroup: "panel-loss").isEmpty)
        #expect(!svg.all("polyline", class: "schedule-decay", inGroup: "panel-lr").isEmpty)
        #expect(svg.all("line", class: "minimum-marker").count == 3)
    }

    @Test func aTraceThatEndsBeforeTheSwitchSaysNoSwitch() throws {
        let lines = try String(contentsOfFile: Self.digits, encoding: .utf8).split(whereSeparator: \.isNewline)
        let trace = temporaryPath(".csv"), output = temporaryPath(".svg")
        defer { for path in [trace, output] { try? FileManager.default.removeItem(atPath: path) } }
        try (lines.prefix(1 + 12 * 20).joined(separator: "\n") + "\n").write(toFile: trace, atomically: true, encoding: .utf8)
        let run = try CommandRun.autowu(["plot", trace] + Self.shape + ["-o", output])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let svg = try SVGDocument(path: output)
        #expect(try #require(svg.text(id: "title")).hasSuffix(": no switch"))
        #expect(svg.all("line", class: "switch-marker").isEmpty)
        #expect(svg.all("circle", class: "pmin").count == 5 * 20)
    }

    @Test func theDecisivePosteriorIsInTheLossesUnitsAndFollowsThem() throws {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 12, totalSteps: 1920)
        configuration.test.kind = .robust
        let trace = try LossTrace.read(path: Self.digits)
        let report = try Replay(configuration: configuration, solver: .fast).run(trace, keepingPosterior: true)
        let posterior = try #require(report.posterior)
        let decisive = try #require(report.verdicts.last { $0.check?.model != nil })
        #expect(posterior.steps.count == TestPosterior.maximumPoints)
        #expect(posterior.steps.first == 0 && posterior.steps.last == Double(decisive.step))
        // The mean at "now" sits within the last epoch's spread of losses, not on the standardised scale.
        let lastEpoch = trace.losses[(decisive.step - 12)..<decisive.step].sorted()
        #expect(posterior.mean.last! > lastEpoch.first! && posterior.mean.last! < lastEpoch.last!)
        #expect(posterior.deviation.allSatisfy { $0 > 0 && $0 < lastEpoch.last! - lastEpoch.first! })
        // Without asking, the report keeps none.
        #expect(try Replay(configuration: configuration, solver: .fast).run(trace).posterior == nil)
    }

    @Test func aPNGIsRenderedByRsvgConvertOrRefusedClearly() throws {
        let output = temporaryPath(".png")
        defer { try? FileManager.default.removeItem(atPath: output) }
        let run = try CommandRun.autowu(["plot", Self.digits] + Self.shape + ["-o", output])
        let installed = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/rsvg-convert") } ?? false
        if installed {
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let bytes = try #require(FileManager.default.contents(atPath: output))
            #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        } else {
            #expect(run.status == 2 && run.stderr.contains("librsvg2-bin"))
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }

    @Test(arguments: [
        ("step,loss\n0,nan\n1,nan\n2,nan\n", "no finite loss to plot"),
        ("step,loss\n0,0.5\n1,oops\n", ":3:"),
    ])
    func badTracesAreStatus2AndWriteNothing(contents: String, message: String) throws {
        let trace = temporaryPath(".csv"), output = temporaryPath(".svg")
        defer { for path in [trace, output] { try? FileManager.default.removeItem(atPath: path) } }
        try contents.write(toFile: trace, atomically: true, encoding: .utf8)
        let run = try CommandRun.autowu(["plot", trace] + Self.shape + ["-o", output])
        #expect(run.status == 2)
        #expect(run.stderr.contains(message), "stderr: \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
