import AutoWU
import Dispatch

/// When some job has a timer due (a waiting snapshot's deadline or incomplete check, a close deadline), earliest
/// first, so that the I/O loop visits only the jobs whose timers are due instead of every waiting request after
/// every message. An entry may outlive its timer (the snapshot was answered): visiting that job finds nothing
/// due, which is harmless.
struct JobTimers {
    private var queue = TimedQueue<String>()

    var earliest: DispatchTime? { queue.nextDue.map { DispatchTime(uptimeNanoseconds: $0) } }

    mutating func add(_ job: String, due: DispatchTime) {
        queue.insert(job, due: due.uptimeNanoseconds)
    }

    /// Removes the entries due at `now` and returns their jobs, each once.
    mutating func popDue(now: DispatchTime) -> Set<String> {
        var due: Set<String> = []
        while let entry = queue.popDue(now: now.uptimeNanoseconds) { due.insert(entry.item) }
        return due
    }
}
