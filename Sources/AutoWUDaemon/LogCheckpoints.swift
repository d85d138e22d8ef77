import AutoWUStore
import Dispatch
import Foundation
import Logging

/// Checkpoints the store's write-ahead log on a queue of its own, asked after every group commit; requests
/// made while one is queued are merged. The commits themselves no longer checkpoint (they did every 1,000
/// pages, several times a second at thousands of jobs, and the verdicts of that commit waited for the copy).
///
/// `@unchecked Sendable`: the checkpointer's connection is used only on `queue`; `queued` only under `lock`.
final class LogCheckpoints: @unchecked Sendable {
    private let checkpointer: WALCheckpointer
    private let queue = DispatchQueue(label: "autowu.store-checkpoints")
    private let lock = NSLock()
    private var queued = false
    private var failing = false
    private let logger: Logger

    /// Takes over checkpointing from `store`'s commits.
    init(store: JobStore, logger: Logger) throws {
        checkpointer = try WALCheckpointer(of: store)
        self.logger = logger
        try store.stopAutomaticCheckpoints()
    }

    /// Checkpoints soon, off the caller's thread.
    func request() {
        lock.lock()
        defer { lock.unlock() }
        guard !queued else { return }
        queued = true
        queue.async { self.run() }
    }

    /// Waits for a checkpoint in progress (before the shutdown's own, which truncates the log).
    func finish() { queue.sync {} }

    private func run() {
        lock.withLock { queued = false }
        do {
            try checkpointer.checkpoint()
            if failing { logger.notice("the store's log is checkpointed again") }
            failing = false
        } catch {
            // The log grows meanwhile and nothing is lost; the next commit asks again.
            if !failing { logger.warning("the store's log could not be checkpointed", metadata: ["error": "\(error)"]) }
            failing = true
        }
    }
}
