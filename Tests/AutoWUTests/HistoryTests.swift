import AutoWU
import AutoWUCommands
import AutoWUProtocol
import AutoWUStore
import Foundation
import Testing

/// `autowu history` and `autowu plot --job` on a real store, written with the real JobStore the way the
/// daemon writes it (EpochTest: the controller after the test, the wire verdict, the fit and the posterior).
@Suite struct HistoryTests {
    struct Written {
        var directory: String
        var store: JobStore
        var verdicts: [EpochVerdict]
        var decision: SwitchDecision
    }

    /// Plays the digits trace through a controller and stores every epoch as autowud does.
    static func writeStore(job: String) throws -> Written {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-history-\(UUID().uuidString)").path
        let store = try JobStore(directory: directory)
        let trace = try LossTrace.read(path: PlotTests.digits)
        var controller = try WarmupController(configuration: AutoWUConfiguration(stepsPerEpoch: 12, totalSteps: 1920))
        var verdicts: [EpochVerdict] = []
        let encoder = JSONEncoder()
        for (version, start) in stride(from: 0, to: trace.losses.count, by: 12).enumerated() where controller.isWarmingUp {
            let epoch = Array(trace.losses[start..<start + 12])
            let verdict = try controller.endEpoch(epoch, solver: .fast)
            verdicts.append(verdict)
            let posterior = verdict.posterior
            try store.save(
                StoredJob(jobID: job, spec: [], tokenHash: "", controller: try controller.persisted(), state: [],
                          version: Int64(version + 1), phase: controller.isWarmingUp ? "warmup" : "decay", updatedAt: 1_700_000_000),
                verdict: StoredVerdict(jobID: job, epoch: Int64(verdict.epoch), verdict: try verdict.wire().serializedBytes(),
                                       recordedAt: 1_700_000_000, model: try verdict.check?.model.map { Array(try encoder.encode($0)) },
                                       posterior: try posterior.map { Array(try encoder.encode($0)) }))
        }
        return Written(directory: directory, store: store, verdicts: verdicts, decision: try #require(controller.decision))
    }

    struct HistoryJSON: Decodable {
        var job_id: String
        var decision: Decision?
        var tests: [Test]
        struct Decision: Decodable { var step: Int; var epoch: Int; var reason: String }
        struct Test: Decodable {
            var epoch: Int; var p_min: [Double]; var streak: Int; var posterior_kept: Bool; var model: Model?
        }
        struct Model: Decodable { var constant: Double; var outputscale: Double; var noise: Double }
    }

    @Test func historyPrintsEveryStoredTestWithItsFit() throws {
        let written = try Self.writeStore(job: "digits-1")
        defer { try? FileManager.default.removeItem(atPath: written.directory) }
        // The writer stays open, as a running daemon's would.
        let run = try CommandRun.autowu(["history", "digits-1", "--data-dir", written.directory, "--json"])
        try #require(run.status == 0, "stderr: \(run.stderr)")
        let history = try JSONDecoder().decode(HistoryJSON.self, from: Data(run.stdout.utf8))
        #expect(history.job_id == "digits-1")
        #expect(history.decision?.step == written.decision.step && history.decision?.reason == "gp_test")
        #expect(history.tests.map(\.epoch) == written.verdicts.map(\.epoch))
        #expect(history.tests.map(\.p_min) == written.verdicts.map { $0.check?.pMin ?? [] })
        #expect(history.tests.map(\.model?.noise) == written.verdicts.map { $0.check?.model?.likelihood.noise })
        // Only the latest test keeps its posterior: the store stays bounded.
        #expect(history.tests.map(\.posterior_kept) == history.tests.indices.map { $0 == history.tests.count - 1 })

        let table = try CommandRun.autowu(["history", "digits-1", "--data-dir", written.directory])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first == "job digits-1 (decay): switch after epoch \(written.decision.epoch) at step \(written.decision.step), lr \(String(format: "%.6g", written.decision.learningRate)) (gp_test, t* = \(String(format: "%.1f", written.decision.minimumStep)))")
        #expect(lines.count == 2 + written.verdicts.count)
        #expect(lines.last?.hasSuffix("posterior kept") == true)
    }

    @Test func theJobPlotShowsTheStoredDecisionAndPosterior() throws {
        let written = try Self.writeStore(job: "digits-2")
        defer { try? FileManager.default.removeItem(atPath: written.directory) }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-plot-\(UUID().uuidString).svg").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let run = try CommandRun.autowu(["plot", "--job", "digits-2", "--data-dir", written.directory, "-o", output])
        try #require(run.status == 0, "stderr: \(run.stderr)")
        let svg = try SVGDocument(path: output)
        let title = try #require(svg.text(id: "title"))
        #expect(title.hasPrefix("digits-2: switch after epoch \(written.decision.epoch) at step \(written.decision.step)"))
        #expect(svg.all("line", class: "switch-marker").map { $0.attributes["data-step"] } == Array(repeating: "\(written.decision.step)", count: 3))
        #expect(svg.all("circle", class: "pmin").count == 5 * written.verdicts.count)
        #expect(svg.all("polygon", class: "posterior-band", inGroup: "panel-loss").count == 1)
    }

    @Test func aStoreFromBeforeSchema2IsReadAndThenMigrated() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-history-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/autowu.sqlite3"
        // Schema 1 exactly as released, with one job and one verdict.
        var controller = try WarmupController(configuration: AutoWUConfiguration(stepsPerEpoch: 12, totalSteps: 1920))
        let trace = try LossTrace.read(path: PlotTests.digits)
        let verdict = try controller.endEpoch(Array(trace.losses[0..<12]), solver: .fast)
        do {
            let old = try SQLiteDatabase(path: path)
            try old.execute("""
                PRAGMA journal_mode = WAL;
                CREATE TABLE jobs (job_id TEXT PRIMARY KEY NOT NULL, spec BLOB NOT NULL, token_hash TEXT NOT NULL,
                    controller BLOB NOT NULL, state BLOB NOT NULL, version INTEGER NOT NULL, phase TEXT NOT NULL,
                    updated_at REAL NOT NULL);
                CREATE INDEX jobs_by_updated_at ON jobs (updated_at);
                CREATE TABLE verdicts (job_id TEXT NOT NULL REFERENCES jobs ON DELETE CASCADE, epoch INTEGER NOT NULL,
                    verdict BLOB NOT NULL, recorded_at REAL NOT NULL, PRIMARY KEY (job_id, epoch));
                PRAGMA user_version = 1;
                PRAGMA application_id = \(0x4157_5531);
                """)
            let insertJob = try old.prepare("INSERT INTO jobs VALUES ('old', x'', '', ?1, x'', 1, 'warmup', 1.0)")
            try insertJob.bind(try controller.persisted(), at: 1)
            try insertJob.run()
            let insertVerdict = try old.prepare("INSERT INTO verdicts VALUES ('old', 0, ?1, 1.0)")
            try insertVerdict.bind(try verdict.wire().serializedBytes() as [UInt8], at: 1)
            try insertVerdict.run()
        }
        let run = try CommandRun.autowu(["history", "old", "--data-dir", directory])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.split(separator: "\n").count == 3)
        #expect(run.stdout.contains("            -           -         -"), "no fit stored: \(run.stdout)")
        #expect(try pragma(path, "PRAGMA user_version") == 1, "the reader never migrates")

        let store = try JobStore(directory: directory)
        #expect(try pragma(path, "PRAGMA user_version") == 3)
        #expect(try store.verdicts(jobID: "old").map(\.model) == [nil])
        #expect(try store.job("old")?.ownerUID == nil, "a job from before owners has none")
        #expect(try store.verdicts(jobID: "old").map(\.verdict) == [try verdict.wire().serializedBytes()])
    }

    @Test func anUnknownJobOrAMissingDataDirectoryIsStatus2AndChangesNothing() throws {
        let written = try Self.writeStore(job: "digits-3")
        defer { try? FileManager.default.removeItem(atPath: written.directory) }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-plot-\(UUID().uuidString).svg").path
        let before = try FileManager.default.contentsOfDirectory(atPath: written.directory).sorted()

        let unknown = try CommandRun.autowu(["history", "nope", "--data-dir", written.directory])
        #expect(unknown.status == 2 && unknown.stdout.isEmpty && unknown.stderr.contains("no job 'nope'"))
        let unknownPlot = try CommandRun.autowu(["plot", "--job", "nope", "--data-dir", written.directory, "-o", output])
        #expect(unknownPlot.status == 2 && unknownPlot.stderr.contains("no job 'nope'"))
        #expect(!FileManager.default.fileExists(atPath: output))

        let missing = written.directory + "/absent"
        let noDirectory = try CommandRun.autowu(["history", "digits-3", "--data-dir", missing])
        #expect(noDirectory.status == 2 && noDirectory.stderr.contains("the data directory does not exist"))
        #expect(!FileManager.default.fileExists(atPath: missing))
        #expect(try FileManager.default.contentsOfDirectory(atPath: written.directory).sorted() == before)
    }

    func pragma(_ path: String, _ sql: String) throws -> Int64 {
        let statement = try SQLiteDatabase(path: path, readOnly: true).prepare(sql)
        return try statement.step() ? statement.int64(column: 0) : -1
    }
}
