import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUStore
import AutoWUTestKit
import Foundation
import Testing

/// The store's faults on real file systems (a tmpfs of a few MB, mounted by the test, filled to the last
/// byte or remounted read-only) and real files (a second daemon, a damaged record, an empty or foreign file).
@Suite(.serialized) struct StoreFaultTests {
    static let autowud = BuildProducts.executable("autowud")
    static let anyPorts = ["--control", "tcp://127.0.0.1:*", "--ingest", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"]

    func request(_ body: Autowu_V1_Request.OneOf_Body) -> Autowu_V1_Request {
        .with { $0.protocolVersion = 1; $0.requestID = UInt64.random(in: 1 ... 1 << 40); $0.body = body }
    }

    func register(_ raw: BadInputTests.RawControl, _ id: String, token: String = "", spec jobSpec: Autowu_V1_JobSpec) throws -> Autowu_V1_Reply? {
        try raw.request(request(.register(.with { $0.jobID = id; $0.token = token; $0.spec = jobSpec })))
    }

    @Test func aSecondDaemonOnTheSameDataDirectoryRefusesAndNamesTheHolder() throws {
        let first = try DaemonProcess()
        let holder = try #require(first.process?.processIdentifier)
        let second = try runProcess(Self.autowud, ["--data-dir", first.dataDirectory] + Self.anyPorts, timeoutSeconds: 20)
        #expect(second.status != 0)
        #expect(second.stdout.isEmpty, "never ready: \(second.stdout)")
        #expect(second.stderr.contains("is in use by another autowud (pid \(holder))"), "\(second.stderr)")
        #expect(try status(first).jobs.isEmpty, "the first daemon is unharmed")
        // The lock dies with its holder, even by kill -9: the directory is free again.
        first.kill()
        let third = try DaemonProcess(dataDirectory: first.dataDirectory)
        #expect(try status(third).daemon.counters["jobs.live"] == 0)
        #expect(DataDirectoryLock.holder(ofDirectory: first.dataDirectory) == third.process?.processIdentifier)
    }

    @Test(.enabled(if: TmpfsMount.isPermitted, Comment(rawValue: TmpfsMount.notPermittedReason)))
    func aReadOnlyStoreIsRefusedBeforeReadyAndServedAgainWhenWritable() throws {
        let mount = try TmpfsMount(megabytes: 4)
        let daemon = try DaemonProcess(dataDirectory: mount.path)
        let raw = try BadInputTests.RawControl(daemon.endpoints.control)
        #expect(try register(raw, "kept", spec: spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1))?.job.version == 1)
        #expect(daemon.stop() == 0)

        try mount.remount(readOnly: true)
        let refused = try runProcess(Self.autowud, ["--data-dir", mount.path] + Self.anyPorts, timeoutSeconds: 20)
        #expect(refused.status != 0)
        #expect(refused.stdout.isEmpty, "no ready line: \(refused.stdout)")
        #expect(refused.stderr.contains("is not writable") && refused.stderr.contains("Read-only file system"), "\(refused.stderr)")

        try mount.remount(readOnly: false)
        try daemon.start()
        #expect(try status(daemon).jobs.map(\.jobID) == ["kept"], "nothing was lost")
    }

    @Test(.enabled(if: TmpfsMount.isPermitted, Comment(rawValue: TmpfsMount.notPermittedReason)))
    func aFullDiskBacksOffTellsTheRanksAndLosesNothingWhenSpaceReturns() throws {
        let mount = try TmpfsMount(megabytes: 4)
        let daemon = try DaemonProcess(dataDirectory: mount.path)
        let endpoints = daemon.endpoints
        let trace = try Traces.losses("digits_bs512_seed0_spe3_ep120_W360.csv")
        let jobSpec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 2)
        let raw = try BadInputTests.RawControl(endpoints.control)
        #expect(try register(raw, "full", spec: jobSpec)?.job.version == 1)

        // The disk fills up before the first verdict can be recorded.
        try mount.fill()
        #expect(try register(raw, "newcomer", spec: jobSpec)?.error.message.contains("the store is full") == true,
                "a new job is refused with the reason")
        let ranks = Thread.detachNewThreadResult { () throws -> [[Double]] in
            try onThreads(2) { rank -> [Double] in
                var options = RankClient.Options(endpoints: endpoints, jobID: "full", rank: rank, spec: jobSpec)
                options.batchSize = 1
                options.waitBoundSeconds = 120
                let client = try RankClient(options: options)
                defer { client.close() }
                return try play(client, trace: trace, from: 0, to: 360)
            }
        }
        var failingSince: Date?
        let deadline = Date().addingTimeInterval(60)
        while failingSince == nil, Date() < deadline {
            if try status(daemon).daemon.counters["store.failing"] == 1 { failingSince = Date() } else { usleep(50_000) }
        }
        #expect(failingSince != nil, "the store failed to write: \(daemon.log.suffix(2000))")
        // A rank waiting at the gate is told why, with the code it retries on. (An empty `pending`: the store may
        // have failed on the refused newcomer before rank 0's losses are all in, and this is not about those.)
        let waiting = try #require(try raw.error(request(.snapshot(.with {
            $0.jobID = "full"; $0.needEpoch = 0; $0.waitMs = 300; $0.pending = .init() }))))
        #expect(waiting.code == .errorInternal && waiting.message.contains("the store is full"), "\(waiting)")
        #expect(waiting.job.jobID == "full", "with the job's state")

        // Back-off, not a busy loop: a few attempts in a few seconds, and a few log lines.
        Thread.sleep(forTimeInterval: 4)
        let counters = try status(daemon).daemon.counters
        let attempts = counters["store.failed_writes", default: 0]
        let seconds = Date().timeIntervalSince(failingSince ?? Date())
        #expect(attempts >= 3 && attempts <= 15, "\(attempts) failed writes in \(seconds) s")
        let storeLines = daemon.log.split(separator: "\n").filter { $0.contains("store") && $0.contains("written") }
        #expect(storeLines.count <= 2, "\(storeLines.count) log lines: \(storeLines.joined(separator: "\n"))")

        // Space returns: everything tested is recorded and published; the job ends as it would have.
        try mount.free()
        let rates = try ranks.value()
        #expect(rates[0].map(\.bitPattern) == rates[1].map(\.bitPattern), "the ranks agree on every step")
        let job = try #require(try status(daemon, job: "full").jobs.first)
        let expected = try #require(try expectedDecision(trace: trace, spec: jobSpec, jobID: "full"))
        #expect(job.decision.step == UInt64(expected.step) && job.decision.learningRate == expected.learningRate)
        #expect(try status(daemon).daemon.counters["store.failing"] == 0)
        #expect(daemon.log.contains("the store takes writes again"))
        #expect(daemon.stop() == 0)
        // Every verdict the ranks acted on is in the store, none missing.
        let stored = try JobStore(directory: mount.path).verdicts(jobID: "full").map(\.epoch)
        #expect(stored == Array(0 ... Int64(job.lastVerdict.epoch)), "\(stored)")
    }

    @Test func aDamagedJobRecordIsReportedBrokenToStatusAndRanksAndNeverDropped() throws {
        let daemon = try DaemonProcess()
        let jobSpec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1)
        let raw = try BadInputTests.RawControl(daemon.endpoints.control)
        #expect(try register(raw, "healthy", spec: jobSpec)?.job.version == 1)
        #expect(try register(raw, "damaged", token: "owner", spec: jobSpec)?.job.version == 1)
        #expect(daemon.stop() == 0)
        // A bad disk block or a bad copy: the controller's JSON is cut short.
        let file = daemon.dataDirectory + "/autowu.sqlite3"
        try SQLiteDatabase(path: file).execute("UPDATE jobs SET controller = x'7b22636f6e66' WHERE job_id = 'damaged'")

        try daemon.start()
        let list = try status(daemon)
        #expect(list.jobs.map(\.jobID) == ["healthy"])
        #expect(list.daemon.counters["jobs.broken"] == 1)
        #expect(daemon.log.contains("a stored job is broken"))
        let reported = try #require(try raw.error(request(.status(.with { $0.jobID = "damaged"; $0.token = "owner" }))))
        #expect(reported.code == .errorInternal)
        #expect(reported.message.contains("job \"damaged\" is broken in the store: its controller does not decode"), "\(reported.message)")
        // Its ranks are told, not sent away as if the job never existed.
        var options = RankClient.Options(endpoints: daemon.endpoints, jobID: "damaged", token: "owner", rank: 0, spec: jobSpec)
        options.waitBoundSeconds = 1
        #expect {
            _ = try RankClient(options: options)
        } throws: { error in
            guard case .refused(let code, let message)? = error as? ClientError else { return false }
            return code == .errorInternal && message.contains("broken in the store")
        }
        // Only its owner can clear it; the record stays until then.
        #expect(try raw.error(request(.expireJob(.with { $0.jobID = "damaged"; $0.token = "guess" })))?.code == .errorUnauthorized)
        #expect(try JobStore(directory: daemon.dataDirectory).job("damaged") != nil)
        let expired = try #require(try raw.request(request(.expireJob(.with { $0.jobID = "damaged"; $0.token = "owner" }))))
        #expect(expired.jobs.jobs.first?.phase == .expired)
        #expect(try JobStore(directory: daemon.dataDirectory).job("damaged") == nil)
        #expect(try register(raw, "damaged", token: "owner", spec: jobSpec)?.job.version == 1, "registered anew")
        #expect(try status(daemon).daemon.counters["jobs.broken"] == 0)
    }

    @Test func anEmptyOrForeignStoreFileKeepsTheDaemonFromStartingAndIsLeftAsItWas() throws {
        let foreign = FileManager.default.temporaryDirectory.appendingPathComponent("foreign-\(UUID().uuidString).db").path
        try SQLiteDatabase(path: foreign).execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        let cases: [(Data, String)] = [
            (Data(), "is an empty file (0 bytes)"),
            (Data("#!/bin/sh\necho this is a shell script\n".utf8), "is not an autowu store: it is not an SQLite database"),
            (try Data(contentsOf: URL(fileURLWithPath: foreign)), "is not an autowu store: it is an SQLite database without autowu's tables (tables invoices"),
        ]
        for (content, mentions) in cases {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-store-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let file = directory + "/autowu.sqlite3"
            try content.write(to: URL(fileURLWithPath: file))
            let result = try runProcess(Self.autowud, ["--data-dir", directory] + Self.anyPorts, timeoutSeconds: 20)
            #expect(result.status != 0 && result.stdout.isEmpty)
            #expect(result.stderr.contains(mentions), "\(result.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == content, "left as it was")
        }
    }

    @Test func aCleanShutdownLeavesTheStoreInOneFile() throws {
        let daemon = try DaemonProcess()
        let trace = try Traces.losses("digits_bs512_seed0_spe3_ep120_W360.csv")
        let client = try RankClient(options: RankClient.Options(endpoints: daemon.endpoints, jobID: "tidy", rank: 0,
                                                               spec: spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1)))
        _ = try play(client, trace: trace, from: 0, to: 90)
        client.close()
        let last = try #require(try status(daemon, job: "tidy").jobs.first?.lastVerdict.epoch)
        #expect(last >= 20)
        let log = daemon.dataDirectory + "/autowu.sqlite3-wal"
        #expect((try FileManager.default.attributesOfItem(atPath: log)[.size] as? NSNumber)?.intValue ?? 0 > 0, "the log was in use")
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("store checkpointed"))
        let size = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? NSNumber)?.intValue ?? 0
        #expect(size == 0, "the log is checkpointed and truncated: \(size) bytes")
        // The database file alone, copied without its log, holds everything.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-copy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: daemon.dataDirectory + "/autowu.sqlite3", toPath: copy + "/autowu.sqlite3")
        let verdicts = try JobStore(directory: copy).verdicts(jobID: "tidy")
        #expect(verdicts.count >= Int(last) + 1 && verdicts.map(\.epoch) == Array(0 ..< Int64(verdicts.count)))
        #expect(verdicts == (try JobStore(directory: daemon.dataDirectory).verdicts(jobID: "tidy")))
    }
}
