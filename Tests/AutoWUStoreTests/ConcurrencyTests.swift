import Foundation
import Testing
import AutoWUStore

/// Collects what worker threads report, for checking on the test's thread.
private final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []

    func add(_ value: String) {
        lock.lock()
        defer { lock.unlock() }
        values.append(value)
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}

@Suite struct ConcurrencyTests {
    @Test func concurrentSavesOnDifferentJobsAllLand() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        let threads = 8, saves = 25
        let failures = Outcomes()
        DispatchQueue.concurrentPerform(iterations: threads + 1) { worker in
            do {
                guard worker < threads else {
                    // A reader alongside the writers.
                    for _ in 0..<50 { _ = try store.loadJobs() }
                    return
                }
                for version in 1...Int64(saves) {
                    let id = "job-\(worker)"
                    try store.save(makeJob(id, version: version), verdict: makeVerdict(id, epoch: version))
                }
            } catch {
                failures.add("\(worker): \(error)")
            }
        }
        #expect(failures.all.isEmpty)
        let jobs = try store.loadJobs()
        #expect(jobs.map(\.jobID) == (0..<threads).map { "job-\($0)" })
        #expect(jobs.allSatisfy { $0.version == Int64(saves) })
        for job in jobs {
            #expect(try store.verdicts(jobID: job.jobID).map(\.epoch) == Array(1...Int64(saves)))
        }
    }

    @Test func racingSavesOfOneJobKeepTheHighestVersion() throws {
        let directory = try TemporaryDirectory()
        let store = try JobStore(directory: directory.path)
        let landed = Outcomes()
        DispatchQueue.concurrentPerform(iterations: 40) { index in
            let version = Int64(index + 1)
            do {
                try store.save(makeJob("a", version: version), verdict: makeVerdict("a", epoch: version))
                landed.add("\(version)")
            } catch StoreError.staleVersion {
                // Expected when a higher version got in first.
            } catch {
                landed.add("unexpected \(error)")
            }
        }
        let versions = landed.all.compactMap { Int64($0) }
        #expect(versions.count == landed.all.count)
        #expect(try store.job("a")?.version == 40)
        // Exactly the saves that landed left a verdict.
        #expect(try store.verdicts(jobID: "a").map(\.epoch) == versions.sorted())
    }
}
