// A child process for AutoWUStoreTests' crash tests; not part of the daemon.
//
//   store-crash-writer save <directory> <jobs>
//       Saves versions 1, 2, 3, ... of jobs "job-0" ... (resuming after what is stored), each with a verdict,
//       and prints "committed <job> <version>" after each save returns, until it is killed.
//   store-crash-writer die-in-transaction <directory>
//       Opens a raw connection, writes a large uncommitted transaction (spilling pages into the WAL),
//       prints "inside <wal bytes>", then kills itself with SIGKILL before COMMIT.
//
// Payloads follow a recipe the test re-derives (CrashTests.swift), so a torn row cannot go unnoticed.
import AutoWUStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `count` bytes repeating `value`'s little-endian bytes.
func payload(_ value: Int64, count: Int) -> [UInt8] {
    let word = withUnsafeBytes(of: value.littleEndian) { Array($0) }
    return (0..<count).map { word[$0 % 8] }
}

func say(_ line: String) {
    // Unbuffered write(2): a line the parent reads was really said before the kill.
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func save(directory: String, jobs: Int) throws {
    let store = try JobStore(directory: directory)
    let ids = (0..<jobs).map { "job-\($0)" }
    var versions = try ids.map { try store.job($0)?.version ?? 0 }
    while true {
        for (index, id) in ids.enumerated() {
            let version = versions[index] + 1
            let job = StoredJob(jobID: id, spec: Array("spec-\(id)".utf8), tokenHash: "0123abcd",
                                controller: Array("{\"version\":\(version)}".utf8),
                                state: payload(version, count: 20_000 + Int(version % 7) * 1_000),
                                version: version, phase: "warmup", updatedAt: 1_700_000_000 + Double(version))
            let verdict = StoredVerdict(jobID: id, epoch: version, verdict: payload(version &* 31, count: 3_000),
                                        recordedAt: 1_700_000_000 + Double(version))
            try store.save(job, verdict: verdict)
            versions[index] = version
            say("committed \(id) \(version)")
        }
    }
}

func dieInTransaction(directory: String) throws {
    let path = URL(fileURLWithPath: directory).appendingPathComponent("autowu.sqlite3").path
    let database = try SQLiteDatabase(path: path)
    // A tiny page cache makes SQLite write uncommitted pages to the WAL before COMMIT.
    try database.execute("PRAGMA cache_size = 8")
    try database.transaction {
        try database.execute("UPDATE jobs SET version = version + 1000, state = zeroblob(200000), controller = x'00'")
        for epoch in 1_000_000..<1_000_050 {
            try database.execute("INSERT INTO verdicts (job_id, epoch, verdict, recorded_at) SELECT job_id, \(epoch), zeroblob(20000), 0 FROM jobs")
        }
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        say("inside \(wal)")
        kill(getpid(), SIGKILL)
    }
}

let arguments = CommandLine.arguments
do {
    switch (arguments.count, arguments.dropFirst().first) {
    case (4, "save"):
        try save(directory: arguments[2], jobs: Int(arguments[3]) ?? 1)
    case (3, "die-in-transaction"):
        try dieInTransaction(directory: arguments[2])
    default:
        let usage = "usage: store-crash-writer save <dir> <jobs> | die-in-transaction <dir>\n"
        FileHandle.standardError.write(Data(usage.utf8))
        exit(64)
    }
} catch {
    FileHandle.standardError.write(Data("store-crash-writer: \(error)\n".utf8))
    exit(1)
}
