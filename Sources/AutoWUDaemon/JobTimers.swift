import AutoWU
import Dispatch

/// When some job has a timer due (a waiting snapshot's deadline or incomplete check, a close deadline), earliest
/// first, so that the I/O loop visits only the jobs whose timers are due instead of every waiting request after
/// every message.
///
/// One entry per job: the job's earliest timer (`Job.timerDue`). A later timer adds nothing; the visit at the
/// earliest one arms the next (`Job.nextTimerDue`). At 5,000 jobs the queue held an entry per waiting request
/// and per check (tens of thousands), most of them for requests answered long before, and popping them took a
/// tenth of the I/O thread. An entry whose job has meanwhile armed an earlier one is skipped when it pops.
struct JobTimers<Owner: TimedJob> {
    private var queue = TimedQueue<String>()

    var earliest: DispatchTime? { queue.nextDue.map { DispatchTime(uptimeNanoseconds: $0) } }
    var count: Int { queue.count }

    /// Makes sure the job is visited at `due` or earlier.
    mutating func add(_ job: Owner, due: DispatchTime) {
        if let armed = job.timerDue, armed <= due { return }
        job.timerDue = due
        queue.insert(job.id, due: due.uptimeNanoseconds)
    }

    /// Removes the entries due at `now` and returns their jobs (as `jobs` holds them now), each once. The caller
    /// visits each and arms its next timer.
    mutating func popDue(now: DispatchTime, jobs: [String: Owner]) -> [Owner] {
        var due: [Owner] = []
        while let entry = queue.popDue(now: now.uptimeNanoseconds) {
            guard let job = jobs[entry.item], job.timerDue?.uptimeNanoseconds == entry.due else { continue }
            job.timerDue = nil
            due.append(job)
        }
        return due
    }
}

/// What `JobTimers` needs of a job: its id, and a place for its earliest queued timer.
protocol TimedJob: AnyObject {
    var id: String { get }
    var timerDue: DispatchTime? { get set }
}
