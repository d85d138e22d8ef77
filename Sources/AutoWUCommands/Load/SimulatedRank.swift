/// One rank played by the load generator: where it is in its run and what it waits for. It holds no sockets
/// and no losses (a step's loss is a function of the step): tens of thousands of them fit one thread.
struct SimulatedRank {
    enum Phase: Equatable {
        case registering
        /// Stepping on its own clock.
        case running
        /// At a gate whose verdict has not come.
        case blocked(since: UInt64)
        /// Past its last step, waiting for the verdict of its last epoch.
        case finishing
        case done
        case failed
    }

    let job: Int
    let rank: Int
    var phase = Phase.registering
    /// Steps before `next` have run.
    var next = 0
    /// The first step whose loss has not been sent.
    var unsentFrom = 0
    /// Step `clockStep` starts at `clockTime` (uptime ns); the next ones follow every step interval. A gate
    /// wait moves the clock: a blocked rank does not catch up afterwards, as a real one would not.
    var clockStep = 0
    var clockTime: UInt64 = 0
    var decidedThrough = -1
    var isFinal = false
    /// The epoch whose verdict this rank asked for and has not received, and when it sent that epoch's last loss.
    var asking: Int?
    var lastLossSentAt: UInt64 = 0
    var verdicts = 0

    init(job: Int, rank: Int) {
        self.job = job
        self.rank = rank
    }

    func startTime(of step: Int, intervalNanoseconds: UInt64) -> UInt64 {
        clockTime + UInt64(step - clockStep) * intervalNanoseconds
    }

    /// Whether the plan held lets the rank run `step` (the gate rule).
    func allows(_ step: Int, shape: LoadJobShape) -> Bool {
        isFinal || !shape.isTested(decidedThrough + 1) || step < shape.gate(of: decidedThrough + 1)
    }

    /// The next step position, past `next`, where the rank has something to do: send a batch, stop at a
    /// gate, or end its run.
    func nextActionStep(shape: LoadJobShape) -> Int {
        var step = shape.flushPoint(from: unsentFrom)
        if !isFinal, shape.isTested(decidedThrough + 1) { step = min(step, shape.gate(of: decidedThrough + 1)) }
        return max(step, next + 1)
    }
}
