import Dispatch
import Testing
@testable import AutoWUDaemon

/// One queued entry per job, for its earliest timer: a later timer adds nothing, an earlier one supersedes,
/// and a job comes back once per visit however many timers it had.
@Suite struct JobTimersTests {
    final class FakeJob: TimedJob {
        let id: String
        var timerDue: DispatchTime?
        init(_ id: String) { self.id = id }
    }

    static func at(_ milliseconds: UInt64) -> DispatchTime { DispatchTime(uptimeNanoseconds: 1_000_000_000 + milliseconds * 1_000_000) }

    @Test func aLaterTimerAddsNoEntryAndTheJobIsVisitedOnceAtItsEarliest() {
        var timers = JobTimers<FakeJob>()
        let job = FakeJob("a")
        let jobs = ["a": job]
        for ms: UInt64 in [1000, 1200, 1000, 5000] { timers.add(job, due: Self.at(ms)) }
        #expect(timers.count == 1)
        #expect(timers.earliest == Self.at(1000))
        #expect(timers.popDue(now: Self.at(999), jobs: jobs).isEmpty)
        #expect(timers.popDue(now: Self.at(1000), jobs: jobs).map(\.id) == ["a"])
        #expect(job.timerDue == nil)
        #expect(timers.count == 0)
        // The visit arms the next timer; it fires at its own time.
        timers.add(job, due: Self.at(1200))
        #expect(timers.popDue(now: Self.at(1100), jobs: jobs).isEmpty)
        #expect(timers.popDue(now: Self.at(1300), jobs: jobs).map(\.id) == ["a"])
    }

    @Test func anEarlierTimerSupersedesAndTheLaterEntryIsSkipped() {
        var timers = JobTimers<FakeJob>()
        let job = FakeJob("a")
        let jobs = ["a": job]
        timers.add(job, due: Self.at(1000))
        timers.add(job, due: Self.at(50))
        #expect(timers.count == 2)
        #expect(timers.earliest == Self.at(50))
        #expect(timers.popDue(now: Self.at(60), jobs: jobs).map(\.id) == ["a"])
        // Not re-armed: the superseded entry pops and visits nothing.
        #expect(timers.popDue(now: Self.at(2000), jobs: jobs).isEmpty)
        #expect(timers.count == 0)
    }

    @Test func entriesOfRemovedOrReplacedJobsVisitNothing() {
        var timers = JobTimers<FakeJob>()
        let gone = FakeJob("gone"), old = FakeJob("again"), kept = FakeJob("kept")
        for job in [gone, old, kept] { timers.add(job, due: Self.at(100)) }
        // "gone" was removed; "again" was registered anew (a new object with no timer).
        let jobs = ["again": FakeJob("again"), "kept": kept]
        #expect(timers.popDue(now: Self.at(100), jobs: jobs).map(\.id) == ["kept"])
    }

    @Test func manyJobsComeBackEarliestFirstEachOnce() {
        var timers = JobTimers<FakeJob>()
        let all = (0..<100).map { FakeJob("job-\($0)") }
        let jobs = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
        for (index, job) in all.enumerated().reversed() {
            timers.add(job, due: Self.at(UInt64(index)))
            timers.add(job, due: Self.at(UInt64(index) + 500))
        }
        #expect(timers.count == 100)
        #expect(timers.popDue(now: Self.at(49), jobs: jobs).map(\.id) == (0..<50).map { "job-\($0)" })
        #expect(timers.popDue(now: Self.at(10_000), jobs: jobs).map(\.id) == (50..<100).map { "job-\($0)" })
    }
}
