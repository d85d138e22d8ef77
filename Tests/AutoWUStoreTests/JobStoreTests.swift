import Foundation
import Testing
@testable import AutoWUStore

@Suite struct JobStoreTests {
    @Test func jobsAndVerdictsRoundTrip() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        #expect(store.path == directory.appending("autowu.sqlite3"))
        #expect(try store.loadJobs().isEmpty)

        // Empty blobs and an empty token hash must come back empty, not fail NOT NULL.
        let bare = StoredJob(jobID: "ジョブ/β 1", spec: [], tokenHash: "", controller: [], state: [],
                             version: 0, phase: "decay", updatedAt: 0.5)
        try store.save(bare)
        var job = makeJob("slurm-1234", version: 1, state: Array(repeating: 0xEE, count: 100_000))
        try store.save(job, verdict: makeVerdict("slurm-1234", epoch: 3))
        // Epochs arrive out of order; they come back by epoch.
        for (version, epoch) in [(2, 1), (3, 2)] as [(Int64, Int64)] {
            job.version = version
            try store.save(job, verdict: makeVerdict("slurm-1234", epoch: epoch))
        }

        #expect(try store.loadJobs() == [job, bare].sorted { $0.jobID < $1.jobID })
        #expect(try store.job("slurm-1234") == job)
        #expect(try store.job(bare.jobID) == bare)
        #expect(try store.job("missing") == nil)
        #expect(try store.verdicts(jobID: "slurm-1234") == [1, 2, 3].map { makeVerdict("slurm-1234", epoch: $0) })
        #expect(try store.verdicts(jobID: bare.jobID).isEmpty)
    }

    @Test func saveReplacesTheStoredJob() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        try store.save(makeJob("a", version: 1))
        let newer = StoredJob(jobID: "a", spec: [9], tokenHash: "ABCDEF", controller: [8], state: [7],
                              version: 7, phase: "decay", updatedAt: 1_800_000_000)
        try store.save(newer)
        #expect(try store.loadJobs() == [newer])
    }

    @Test func staleVersionIsRefusedAndChangesNothing() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        let current = makeJob("a", version: 5, state: [5])
        try store.save(current, verdict: makeVerdict("a", epoch: 1))

        for version: Int64 in [5, 4, -1] {
            #expect(throws: StoreError.staleVersion(jobID: "a", stored: 5, attempted: version)) {
                try store.save(makeJob("a", version: version, state: [0]), verdict: makeVerdict("a", epoch: 2))
            }
        }
        #expect(try store.job("a") == current)
        #expect(try store.verdicts(jobID: "a") == [makeVerdict("a", epoch: 1)])
        // The refused saves left no transaction or statement behind.
        try store.save(makeJob("a", version: 6), verdict: makeVerdict("a", epoch: 2))
        #expect(try store.job("a")?.version == 6)
    }

    @Test func aFailedVerdictInsertRollsBackTheJobUpdate() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        let first = makeJob("a", version: 1, state: [1])
        try store.save(first, verdict: makeVerdict("a", epoch: 1, bytes: [1]))

        #expect(throws: StoreError.duplicateVerdict(jobID: "a", epoch: 1)) {
            try store.save(makeJob("a", version: 2, state: [2]), verdict: makeVerdict("a", epoch: 1, bytes: [2]))
        }
        #expect(try store.job("a") == first)
        #expect(try store.verdicts(jobID: "a") == [makeVerdict("a", epoch: 1, bytes: [1])])
        // The same version goes through once its verdict is new: the failed attempt did not consume it.
        try store.save(makeJob("a", version: 2, state: [2]), verdict: makeVerdict("a", epoch: 2))
        #expect(try store.job("a")?.state == [2])
    }

    @Test func aGroupCommitLandsEachItemOrNoneOfIt() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        try store.save(makeJob("b", version: 3, state: [3]), verdict: makeVerdict("b", epoch: 1))
        let outcomes = try store.saveAll([
            (makeJob("a", version: 1, state: [1]), makeVerdict("a", epoch: 1)),
            (makeJob("b", version: 2, state: [2]), makeVerdict("b", epoch: 2)),   // stale
            (makeJob("c", version: 1, state: [9]), makeVerdict("c", epoch: 4)),
            (makeJob("a", version: 2, state: [2]), makeVerdict("a", epoch: 1)),   // duplicate verdict
        ])
        #expect(outcomes.map { $0 == nil } == [true, false, true, false])
        #expect(outcomes[1] as? StoreError == .staleVersion(jobID: "b", stored: 3, attempted: 2))
        #expect(outcomes[3] as? StoreError == .duplicateVerdict(jobID: "a", epoch: 1))
        #expect(try store.job("a")?.state == [1], "the failed item rolled back to its savepoint only")
        #expect(try store.job("b")?.state == [3])
        #expect(try store.job("c")?.state == [9])
        #expect(try store.verdicts(jobID: "a") == [makeVerdict("a", epoch: 1)])
        #expect(try store.verdicts(jobID: "b") == [makeVerdict("b", epoch: 1)])
        // The connection is usable afterwards: no transaction or savepoint was left open.
        try store.save(makeJob("a", version: 3, state: [3]), verdict: makeVerdict("a", epoch: 2))
        #expect(try store.job("a")?.version == 3)
    }

    @Test func theFileIsInWALModeAtTheCurrentSchema() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        #expect(try pragmaText(store.path, "PRAGMA journal_mode") == "wal")
        #expect(try pragmaText(store.path, "PRAGMA user_version") == "3")
        #expect(try pragmaText(store.path, "PRAGMA integrity_check") == "ok")
        #expect(try pragmaText(store.path, "PRAGMA foreign_key_check") == "")
    }

    @Test func reopeningSeesEverything() throws {
        let directory = try TemporaryDirectory()
        var saved: [StoredJob] = []
        do {
            let store = try JobStore(directory: directory.path)
            for index in 0..<20 {
                let job = makeJob("job-\(index)", version: Int64(index), phase: index % 2 == 0 ? "warmup" : "decay")
                try store.save(job, verdict: makeVerdict(job.jobID, epoch: Int64(index)))
                saved.append(job)
            }
        }
        // The last connection closed cleanly: it checkpointed and removed the WAL.
        #expect(!FileManager.default.fileExists(atPath: directory.appending("autowu.sqlite3-wal")))
        let store = try JobStore(directory: directory.path)
        #expect(try store.loadJobs() == saved.sorted { $0.jobID < $1.jobID })
        for job in saved {
            #expect(try store.verdicts(jobID: job.jobID) == [makeVerdict(job.jobID, epoch: job.version)])
        }
    }

    @Test func twoConnectionsToOneFileAgreeOnVersions() throws {
        let directory = try TemporaryDirectory()
        let one = try JobStore(directory: directory.path)
        let two = try JobStore(directory: directory.path)
        try one.save(makeJob("a", version: 1))
        #expect(try two.job("a")?.version == 1)
        try two.save(makeJob("a", version: 2))
        #expect(throws: StoreError.staleVersion(jobID: "a", stored: 2, attempted: 2)) {
            try one.save(makeJob("a", version: 2))
        }
    }

    @Test func expiredPhaseIsKeptButNotLoaded() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        try store.save(makeJob("live", version: 1))
        try store.save(makeJob("done", version: 1, phase: "expired"))
        #expect(try store.loadJobs().map(\.jobID) == ["live"])
        #expect(try store.job("done")?.phase == "expired")
    }

    @Test func expireDeletesOldJobsAndTheirVerdicts() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        for (id, time) in [("c", 100.0), ("a", 200.0), ("b", 250.0), ("d", 300.0)] {
            try store.save(makeJob(id, version: 1, updatedAt: time), verdict: makeVerdict(id, epoch: 1))
            try store.save(makeJob(id, version: 2, updatedAt: time), verdict: makeVerdict(id, epoch: 2))
        }
        #expect(try store.expire(olderThan: 250) == ["a", "c"])
        #expect(try store.loadJobs().map(\.jobID) == ["b", "d"])
        #expect(try store.verdicts(jobID: "a").isEmpty)
        #expect(try store.verdicts(jobID: "b").count == 2)
        #expect(try pragmaText(store.path, "SELECT count(*) FROM verdicts") == "4")
        #expect(try store.expire(olderThan: 250).isEmpty)
        #expect(throws: StoreError.self) { try store.expire(olderThan: .nan) }
        #expect(try store.expire(olderThan: .infinity) == ["b", "d"])
    }

    @Test func deleteRemovesTheJobAndItsVerdictsOnly() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        for id in ["a", "b"] {
            try store.save(makeJob(id, version: 1), verdict: makeVerdict(id, epoch: 1))
        }
        try store.delete(jobID: "a")
        try store.delete(jobID: "never-existed")
        #expect(try store.job("a") == nil)
        #expect(try store.verdicts(jobID: "a").isEmpty)
        #expect(try store.job("b") != nil)
        #expect(try store.verdicts(jobID: "b").count == 1)
        // A deleted job can start over from any version.
        try store.save(makeJob("a", version: 1), verdict: makeVerdict("a", epoch: 1))
    }

    @Test func createsMissingParentDirectories() throws {
        let directory = try TemporaryDirectory()
        let nested = directory.appending("x/y/z")
        let store = try JobStore(directory: nested)
        try store.save(makeJob("a", version: 1))
        #expect(FileManager.default.fileExists(atPath: nested + "/autowu.sqlite3"))
    }

    @Test func directoriesThatCannotBeCreatedGiveAClearError() throws {
        let directory = try TemporaryDirectory()
        let file = directory.appending("plain-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))

        let below = #expect(throws: StoreError.self) { try JobStore(directory: file + "/data") }
        guard case .cannotCreateDirectory(let path, let reason)? = below else {
            Issue.record("unexpected \(String(describing: below))")
            return
        }
        #expect(path == file + "/data")
        #expect(reason.localizedCaseInsensitiveContains("not a directory"))
        #expect(below?.description.hasPrefix("cannot create the store directory '\(file)/data': ") == true)

        #expect(throws: StoreError.cannotCreateDirectory(path: file, reason: "it exists and is not a directory")) {
            try JobStore(directory: file)
        }
        #expect(throws: StoreError.cannotCreateDirectory(path: "", reason: "the path is empty")) {
            try JobStore(directory: "")
        }
    }

    @Test func aFileThatIsNotADatabaseIsRefusedAndLeftAsItWas() throws {
        let directory = try TemporaryDirectory()
        let file = directory.appending("autowu.sqlite3")
        let content = Data(repeating: 0x42, count: 8192)
        try content.write(to: URL(fileURLWithPath: file))
        let error = #expect(throws: StoreError.self) { try JobStore(directory: directory.path) }
        guard case .foreignFile(let path, let reason)? = error else {
            Issue.record("unexpected \(String(describing: error))")
            return
        }
        #expect(path == file && reason.contains("not an SQLite database") && reason.contains("file is not a database"))
        #expect("\(error!)".contains("is not an autowu store"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == content, "not a byte changed")
    }

    @Test func anotherApplicationsSQLiteDatabaseIsRefusedAndLeftAsItWas() throws {
        // One with tables of its own, and one marked as another application's (PRAGMA application_id).
        for (setup, mentions) in [("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", "without autowu's tables (tables users"),
                                  ("PRAGMA application_id = 1179602756", "another application (application_id 0x464f4f44)")] {
            let directory = try TemporaryDirectory()
            let file = directory.appending("autowu.sqlite3")
            try SQLiteDatabase(path: file).execute(setup)
            let before = try Data(contentsOf: URL(fileURLWithPath: file))
            let error = #expect(throws: StoreError.self) { try JobStore(directory: directory.path) }
            #expect("\(error.map { "\($0)" } ?? "")".contains(mentions), "\(String(describing: error))")
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "not a byte changed")
            #expect(try pragmaText(file, "PRAGMA journal_mode") == "delete", "still in its own journal mode")
        }
    }

    @Test func aZeroLengthStoreIsRefusedNotTakenForANewOne() throws {
        let directory = try TemporaryDirectory()
        let file = directory.appending("autowu.sqlite3")
        FileManager.default.createFile(atPath: file, contents: Data())
        #expect(throws: StoreError.emptyFile(path: file)) { try JobStore(directory: directory.path) }
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber == 0, "left as it was")
        #expect("\(StoreError.emptyFile(path: file))".contains("empty file (0 bytes)"))
    }

    @Test func storesAreMarkedAsAutowusAndOlderUnmarkedStoresStillOpen() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        try store.save(makeJob("kept", version: 1))
        #expect(try pragmaText(store.path, "PRAGMA application_id") == "\(0x4157_5531)")
        // A store written before the mark existed: autowu's tables, no application id.
        try SQLiteDatabase(path: store.path).execute("PRAGMA application_id = 0")
        let reopened = try JobStore(directory: directory.path)
        #expect(try reopened.loadJobs().map(\.jobID) == ["kept"])
        #expect(try pragmaText(store.path, "PRAGMA application_id") == "\(0x4157_5531)", "marked on open")
    }

    @Test func checkpointLeavesAnEmptyLogAndEverythingInTheFile() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        for index in 0..<50 { try store.save(makeJob("job-\(index)", version: 1), verdict: makeVerdict("job-\(index)", epoch: 0)) }
        let log = store.path + "-wal"
        #expect((try FileManager.default.attributesOfItem(atPath: log)[.size] as? NSNumber)?.intValue ?? 0 > 0)
        #expect(try store.checkpoint())
        #expect((try FileManager.default.attributesOfItem(atPath: log)[.size] as? NSNumber)?.intValue == 0)
        // The file alone (copied without its log) holds every job.
        let copy = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: store.path, toPath: copy.appending("autowu.sqlite3"))
        #expect(try JobStore(directory: copy.path).loadJobs().count == 50)
    }

    @Test func writabilityIsCheckedByARealWrite() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        try store.save(makeJob("a", version: 1))
        try store.checkWritable()
        #expect(try store.job("a")?.version == 1, "the check changes nothing")
        #expect(try pragmaText(store.path, "PRAGMA user_version") == "3")
        // A read-only or full file system: tested on real mounts (AutoWUIntegrationTests/StoreFaultTests).
    }

    @Test func aNewerSchemaIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = try JobStore(directory: directory.path).path
        try SQLiteDatabase(path: path).execute("PRAGMA user_version = 99")
        #expect(throws: StoreError.unsupportedSchemaVersion(found: 99, supported: 3)) {
            try JobStore(directory: directory.path)
        }
    }

    @Test func malformedJobsAreRefusedAndNotStored() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        var noID = makeJob("", version: 1)
        noID.jobID = ""
        var badPhase = makeJob("p", version: 1)
        badPhase.phase = "Warmup"
        var badTime = makeJob("t", version: 1)
        badTime.updatedAt = .nan
        var rawToken = makeJob("k", version: 1)
        rawToken.tokenHash = "hunter2"
        for job in [noID, badPhase, badTime, rawToken] {
            #expect(throws: StoreError.self) { try store.save(job) }
        }
        #expect(throws: StoreError.self) {
            try store.save(makeJob("a", version: 1), verdict: makeVerdict("b", epoch: 1))
        }
        var badVerdictTime = makeVerdict("a", epoch: 1)
        badVerdictTime.recordedAt = .infinity
        #expect(throws: StoreError.self) { try store.save(makeJob("a", version: 1), verdict: badVerdictTime) }
        #expect(try pragmaText(store.path, "SELECT count(*) FROM jobs") == "0")
    }
}
