import AutoWUStore
import CSQLite
import Dispatch
import Testing
@testable import AutoWUDaemon

@Suite struct StoreHealthTests {
    let full = SQLiteError(code: SQLITE_FULL, message: "database or disk is full")

    func at(_ milliseconds: Int) -> DispatchTime { DispatchTime(uptimeNanoseconds: 1_000_000_000 + UInt64(milliseconds) * 1_000_000) }

    @Test func failuresBackOffFrom50MillisecondsDoublingTo2Seconds() {
        var health = StoreHealth()
        #expect(health.isHealthy && health.mayWrite(now: at(0)) && health.message == nil)
        var now = 0
        var delays: [Int] = []
        for _ in 0..<9 {
            _ = health.failed(full, now: at(now))
            let next = Int((health.nextAttempt.uptimeNanoseconds - at(now).uptimeNanoseconds) / 1_000_000)
            #expect(!health.mayWrite(now: at(now + next - 1)) && health.mayWrite(now: at(now + next)))
            delays.append(next)
            now += next
        }
        #expect(delays == [50, 100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000])
    }

    @Test func theLogGetsTheFirstFailureThenAReminderAMinuteThenTheRecovery() {
        var health = StoreHealth()
        #expect(health.failed(full, now: at(0)) == .firstFailure)
        #expect(health.failed(full, now: at(2_000)) == .none)
        #expect(health.failed(full, now: at(59_999)) == .none)
        #expect(health.failed(full, now: at(60_000)) == .reminder)
        #expect(health.failed(full, now: at(61_000)) == .none)
        let ended = health.succeeded()
        #expect(ended?.attempts == 5 && ended?.condition == .full)
        #expect(health.isHealthy && health.succeeded() == nil, "a recovery is reported once")
        #expect(health.failed(full, now: at(62_000)) == .firstFailure, "a new failure starts over")
    }

    @Test func ranksAreToldWhatIsWrong() {
        var health = StoreHealth()
        _ = health.failed(full, now: at(0))
        let message = health.message ?? ""
        #expect(message.hasPrefix("the store is full: database or disk is full (SQLite error 13)"), "\(message)")
        #expect(message.contains("recorded as soon as it takes writes again"))
        _ = health.failed(SQLiteError(code: SQLITE_READONLY, message: "attempt to write a readonly database"), now: at(100))
        #expect(health.message?.hasPrefix("the store is read-only") == true)
    }

    @Test func onlyFailuresOfTheStoreAsAWholeCount() {
        #expect(StoreHealth.isStoreCondition(full))
        #expect(StoreHealth.isStoreCondition(SQLiteError(code: SQLITE_IOERR, message: "disk I/O error")))
        #expect(!StoreHealth.isStoreCondition(StoreError.staleVersion(jobID: "a", stored: 3, attempted: 2)))
        #expect(!StoreHealth.isStoreCondition(StoreError.duplicateVerdict(jobID: "a", epoch: 1)))
        #expect(!StoreHealth.isStoreCondition(SQLiteError(code: SQLITE_CONSTRAINT, message: "UNIQUE constraint failed")))
    }
}

@Suite struct MemoryBudgetTests {
    @Test func itCountsWhatEachJobHoldsNowAndRefusesBeyondTheLimit() {
        var budget = MemoryBudget(limitBytes: 1_000)
        budget.update("a", bytes: 400)
        budget.update("b", bytes: 300)
        budget.update("a", bytes: 600)  // grew: counted once, at its new size
        #expect(budget.usedBytes == 900)
        #expect(budget.allows(100) && !budget.allows(101))
        budget.release("a")
        #expect(budget.usedBytes == 300 && budget.allows(700))
        budget.release("unknown")
        #expect(budget.usedBytes == 300)
        #expect(MemoryBudget(limitBytes: nil).allows(.max))
    }

    @Test func theRefusalSaysWhatAndHowMuch() {
        var budget = MemoryBudget(limitBytes: 512 << 20)
        budget.update("a", bytes: 512 << 20)
        #expect(budget.refusal("a new job") == "the daemon's memory budget is used up (its jobs hold 512 MB of 512 MB, --memory-budget-mb): a new job refused until jobs finish or expire")
    }
}
