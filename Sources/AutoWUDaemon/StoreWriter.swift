import AutoWUStore
import Dispatch

/// Group commit off the I/O thread. The I/O loop hands over the tested outcomes gathered so far; one batch at
/// a time is written (one transaction, one fsync) on a queue of its own, and the commit's outcome comes back
/// through the `Wakeup`. Outcomes tested meanwhile gather for the next batch, so batches grow with the load
/// and the loop never waits for the disk (it did: at 5,000 jobs it spent 29% of its time in fdatasync,
/// committing about two outcomes at a time, and handed out no test meanwhile).
///
/// Used from the I/O thread only; the closure it queues captures nothing but Sendable values.
final class StoreWriter {
    /// A commit that has landed or failed: its batch, the store's answer per item (or the transaction's
    /// failure as a whole), and how long it took.
    struct Outcome: Sendable {
        var batch: [EpochTest.Result]
        var result: Result<[(any Error)?], any Error>
        var nanoseconds: UInt64
    }

    private let store: JobStore
    private let wakeup: Wakeup
    private let queue = DispatchQueue(label: "autowu.store-writer")
    /// The batch being written, until its outcome is handled.
    private(set) var inFlight = 0

    init(store: JobStore, wakeup: Wakeup) {
        self.store = store
        self.wakeup = wakeup
    }

    var isCommitting: Bool { inFlight > 0 }

    func commit(_ batch: [EpochTest.Result]) {
        precondition(!isCommitting, "one commit at a time: the next batch gathers meanwhile")
        inFlight = batch.count
        let store = self.store, wakeup = self.wakeup
        queue.async {
            let started = DispatchTime.now().uptimeNanoseconds
            let result = Result<[(any Error)?], any Error> { try store.saveAll(batch.compactMap(\.record)) }
            wakeup.post(Outcome(batch: batch, result: result, nanoseconds: DispatchTime.now().uptimeNanoseconds - started))
        }
    }

    /// The I/O thread has handled the outcome of the commit in flight.
    func landed() { inFlight = 0 }

    /// Blocks until the commit in flight, if any, has reached the store (its outcome is still to be handled):
    /// the I/O thread's own writes (a new job, a deletion) must come after it, or a late upsert could bring
    /// back a deleted job's row or overwrite a new one's.
    func waitUntilWritten() {
        if isCommitting { queue.sync {} }
    }
}
