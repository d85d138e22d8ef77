import Foundation
import Testing
import AutoWUStore
#if canImport(Glibc)
import Glibc
#endif

/// Kills a real writer process (Sources/store-crash-writer) with SIGKILL and checks what survives.
@Suite struct CrashTests {
    static let writer: URL? = {
        // The writer is built next to the test bundle; on Linux argv[0] is the bundle itself.
        let starts = [URL(fileURLWithPath: CommandLine.arguments[0])] + Bundle.allBundles.map(\.bundleURL)
        for start in starts {
            var directory = start.resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent("store-crash-writer")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory.deleteLastPathComponent()
            }
        }
        return nil
    }()

    /// The writer's payload recipe (see its main.swift): `count` bytes repeating `value`, little-endian.
    static func payload(_ value: Int64, count: Int) -> [UInt8] {
        let word = withUnsafeBytes(of: value.littleEndian) { Array($0) }
        return (0..<count).map { word[$0 % 8] }
    }

    struct Run {
        var lines: [String]
        var process: Process
    }

    /// Runs the writer, calling `shouldKill` with each line it prints; SIGKILLs it when that returns true.
    static func run(_ arguments: [String], shouldKill: (String) -> Bool = { _ in false }) throws -> Run {
        let writer = try #require(writer, "store-crash-writer was not built next to the tests")
        let process = Process()
        process.executableURL = writer
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var lines: [String] = [], pending = Data(), killed = false
        while case let chunk = output.fileHandleForReading.availableData, !chunk.isEmpty {
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                lines.append(line)
                if !killed, shouldKill(line) {
                    kill(process.processIdentifier, SIGKILL)
                    killed = true
                }
            }
        }
        process.waitUntilExit()
        return Run(lines: lines, process: process)
    }

    /// Checks the file's integrity, then that each job is intact at a version within `acknowledged...+1`
    /// with exactly one verdict per version so far. Returns the stored versions.
    static func checkConsistentPrefix(_ directory: String, acknowledged: [String: Int64]) throws -> [String: Int64] {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("autowu.sqlite3").path
        #expect(try pragmaText(path, "PRAGMA integrity_check") == "ok")
        #expect(try pragmaText(path, "PRAGMA foreign_key_check") == "")
        let store = try JobStore(directory: directory)
        var stored: [String: Int64] = [:]
        for (id, floor) in acknowledged.sorted(by: { $0.key < $1.key }) {
            let job = try #require(try store.job(id))
            let version = job.version
            stored[id] = version
            // Every acknowledged commit survived; at most the one in flight at the kill also made it.
            #expect(version >= floor && version <= floor + 1, "\(id): stored \(version), acknowledged \(floor)")
            // The row is whole and from one single save.
            #expect(job.state == payload(version, count: 20_000 + Int(version % 7) * 1_000), "\(id) v\(version)")
            #expect(job.controller == Array("{\"version\":\(version)}".utf8))
            #expect(job.updatedAt == 1_700_000_000 + Double(version))
            #expect(job.spec == Array("spec-\(id)".utf8))
            let verdicts = try store.verdicts(jobID: id)
            #expect(verdicts.map(\.epoch) == Array(stride(from: 1, through: version, by: 1)))
            #expect(verdicts.allSatisfy { $0.verdict == payload($0.epoch &* 31, count: 3_000) })
        }
        return stored
    }

    @Test func killedMidSaveLeavesAConsistentPrefix() throws {
        let directory = try TemporaryDirectory()
        let ids = ["job-0", "job-1", "job-2"]
        var acknowledged = Dictionary(uniqueKeysWithValues: ids.map { ($0, Int64(0)) })
        // Several rounds: each writer resumes from what the previous kill left, so recovery is exercised too.
        for round in 0..<4 {
            let commitsBeforeKill = Int.random(in: 15...60)
            var commits = 0
            let run = try Self.run(["save", directory.path, "\(ids.count)"]) { _ in
                commits += 1
                return commits >= commitsBeforeKill
            }
            #expect(run.process.terminationReason == .uncaughtSignal, "round \(round)")
            #expect(run.process.terminationStatus == SIGKILL, "round \(round)")
            for line in run.lines {
                let words = line.split(separator: " ")
                guard words.count == 3, words[0] == "committed", let version = Int64(words[2]) else {
                    Issue.record("unexpected writer output: \(line)")
                    continue
                }
                acknowledged[String(words[1])] = version
            }
            #expect(run.lines.count >= commitsBeforeKill)
            acknowledged = try Self.checkConsistentPrefix(directory.path, acknowledged: acknowledged)
        }
    }

    @Test func killedInsideATransactionLeavesNoTrace() throws {
        let directory = try TemporaryDirectory()
        var before: [StoredJob] = []
        do {
            let store = try JobStore(directory: directory.path)
            for id in ["a", "b"] {
                for version: Int64 in 1...3 {
                    try store.save(makeJob(id, version: version), verdict: makeVerdict(id, epoch: version))
                }
            }
            before = try store.loadJobs()
        }
        let run = try Self.run(["die-in-transaction", directory.path])
        #expect(run.process.terminationReason == .uncaughtSignal)
        #expect(run.process.terminationStatus == SIGKILL)
        // The writer got as far as putting uncommitted pages in the WAL before it died.
        let walBytes = run.lines.first.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(run.lines.first?.hasPrefix("inside") == true)
        #expect(walBytes > 100_000)

        let path = directory.appending("autowu.sqlite3")
        #expect(try pragmaText(path, "PRAGMA integrity_check") == "ok")
        let store = try JobStore(directory: directory.path)
        #expect(try store.loadJobs() == before)
        for id in ["a", "b"] {
            #expect(try store.verdicts(jobID: id) == (1...3).map { makeVerdict(id, epoch: $0) })
        }
    }
}
