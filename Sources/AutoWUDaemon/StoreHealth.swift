import AutoWUStore
import CSQLite
import Dispatch
import Foundation
import Logging

/// Whether the store takes writes, and when to try again after it did not: a full disk, a file system
/// remounted read-only, an I/O error.
///
/// While it fails, writes are retried with exponential back-off (50 ms doubling to 2 s), not on every loop
/// iteration; what could not be written is kept, not recomputed, and lands when the store takes writes
/// again. The log gets the first failure, a reminder at most once a minute, and the recovery.
struct StoreHealth {
    enum Condition: Sendable {
        case full, readOnly, failing
    }

    struct Failure {
        var condition: Condition
        /// SQLite's (or the system's) words for the last failure.
        var detail: String
        var since: DispatchTime
        var attempts: Int
    }

    /// What the caller should log after a failed write.
    enum LogAction: Equatable {
        case firstFailure, reminder, none
    }

    static let firstDelayMilliseconds = 50
    static let maximumDelayMilliseconds = 2_000
    static let reminderIntervalNanoseconds: UInt64 = 60_000_000_000

    private(set) var failure: Failure?
    private var delayMilliseconds = StoreHealth.firstDelayMilliseconds
    private(set) var nextAttempt = DispatchTime(uptimeNanoseconds: 0)
    private var lastLogged = DispatchTime(uptimeNanoseconds: 0)

    var isHealthy: Bool { failure == nil }

    /// Whether a write may be attempted now (always while healthy; after the back-off otherwise).
    func mayWrite(now: DispatchTime = .now()) -> Bool { failure == nil || now >= nextAttempt }

    /// Whether `error` says something about the store as a whole (so: back off and keep the data), rather
    /// than about one record (a stale version, a duplicate verdict).
    static func isStoreCondition(_ error: any Error) -> Bool {
        if let error = error as? SQLiteError { return condition(of: error) != nil }
        if case .notWritable? = error as? StoreError { return true }
        return false
    }

    private static func condition(of error: SQLiteError) -> Condition? {
        switch error.code {
        case SQLITE_FULL: return .full
        case SQLITE_READONLY: return .readOnly
        case SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_PROTOCOL, SQLITE_CORRUPT,
             SQLITE_NOTADB: return .failing
        default: return nil
        }
    }

    /// Records a failed write and schedules the next attempt.
    mutating func failed(_ error: any Error, now: DispatchTime = .now()) -> LogAction {
        var condition = Condition.failing
        if let sqlite = error as? SQLiteError, let known = Self.condition(of: sqlite) { condition = known }
        let detail = (error as? SQLiteError).map { "\($0.message) (SQLite error \($0.extendedCode))" } ?? "\(error)"
        let action: LogAction
        if var failure {
            failure.attempts += 1
            failure.condition = condition
            failure.detail = detail
            self.failure = failure
            delayMilliseconds = min(delayMilliseconds * 2, Self.maximumDelayMilliseconds)
            action = now.uptimeNanoseconds >= lastLogged.uptimeNanoseconds + Self.reminderIntervalNanoseconds ? .reminder : .none
        } else {
            failure = Failure(condition: condition, detail: detail, since: now, attempts: 1)
            delayMilliseconds = Self.firstDelayMilliseconds
            action = .firstFailure
        }
        if action != .none { lastLogged = now }
        nextAttempt = now + .milliseconds(delayMilliseconds)
        return action
    }

    /// Records a write that landed; returns the failure it ended, if any (to log the recovery).
    mutating func succeeded() -> Failure? {
        defer {
            failure = nil
            delayMilliseconds = Self.firstDelayMilliseconds
        }
        return failure
    }

    /// Records a failed write and logs it if it is the first or a minute has passed since the last line.
    mutating func failed(_ error: any Error, logger: Logger, unrecordedVerdicts: Int) {
        let action = failed(error)
        guard action != .none, let failure else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - failure.since.uptimeNanoseconds) / 1e9
        logger.error(action == .firstFailure ? "the store cannot be written; retrying with back-off" : "the store still cannot be written",
                     metadata: ["error": "\(message ?? "\(error)")", "attempts": "\(failure.attempts)",
                                "seconds": "\(String(format: "%.1f", seconds))", "unrecorded_verdicts": "\(unrecordedVerdicts)"])
    }

    /// Records a write that landed, and logs the recovery if the store had failed.
    mutating func succeeded(logger: Logger) {
        guard let ended = succeeded() else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - ended.since.uptimeNanoseconds) / 1e9
        logger.notice("the store takes writes again", metadata: [
            "failed_attempts": "\(ended.attempts)", "seconds": "\(String(format: "%.1f", seconds))"])
    }

    /// What ranks and operators are told while the store fails, e.g. "the store is full: database or disk
    /// is full (SQLite error 13); ...".
    var message: String? {
        guard let failure else { return nil }
        let what: String
        switch failure.condition {
        case .full: what = "the store is full"
        case .readOnly: what = "the store is read-only"
        case .failing: what = "the store cannot be written"
        }
        return "\(what): \(failure.detail); tested verdicts are kept and recorded as soon as it takes writes "
            + "again (retrying every \(delayMilliseconds) ms, \(failure.attempts) attempts so far)"
    }
}
