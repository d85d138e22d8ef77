import AutoWUStore
import Foundation
import Testing

/// The daemon's commits stop checkpointing and a second connection does it (docs/decisions.md, Durability).
@Suite struct WALCheckpointerTests {
    static func walBytes(_ store: JobStore) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: store.path + "-wal")[.size] as? Int) ?? 0
    }

    /// Jobs whose controllers are 40 KB each: 10 pages a job, so 200 jobs are twice SQLite's automatic
    /// checkpoint threshold of 1,000 pages.
    static func write(_ store: JobStore, jobs: Int, version: Int64) throws {
        for index in 0..<jobs {
            var job = makeJob("job-\(index)", version: version)
            job.controller = Array(repeating: UInt8(truncatingIfNeeded: index &+ Int(version)), count: 40_000)
            try store.save(job)
        }
    }

    @Test func commitsLeaveTheLogToTheCheckpointerAndItCopiesAllOfIt() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        try store.stopAutomaticCheckpoints()
        let checkpointer = try WALCheckpointer(of: store)
        try Self.write(store, jobs: 200, version: 1)
        let grown = Self.walBytes(store)
        #expect(grown > 2_000 * 4096 * 9 / 10, "no commit checkpointed: the log holds every page written (\(grown) bytes)")
        let (logPages, copied) = try checkpointer.checkpoint()
        #expect(logPages >= 1_800 && copied == logPages, "\(copied) of \(logPages) pages copied")
        // A copied log is reused from its start: round after round of writes and checkpoints, it stays bounded.
        for round in 2...6 {
            try Self.write(store, jobs: 200, version: Int64(round))
            try checkpointer.checkpoint()
        }
        #expect(Self.walBytes(store) < 3 * grown, "\(Self.walBytes(store)) bytes after six rounds of \(grown)")
        // Every job reads back as last written, through a connection that never saw the log's pages.
        let reopened = try JobStoreReader(directory: directory.path)
        #expect(try reopened.job("job-7")?.version == 6)
    }

    @Test func withoutItTheCommitsCheckpointAsBefore() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        try Self.write(store, jobs: 200, version: 1)
        #expect(Self.walBytes(store) < 1_400 * 4096, "the automatic checkpoint kept the log near 1,000 pages")
    }
}
