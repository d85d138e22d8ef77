/// The LR path of the warmup as it is actually run: the ramp of `WarmupSchedule`, whose clock stops while
/// the LR is held.
///
/// Under the hold policy the controller holds the LR from the gate of a positive test until a negative test
/// (the ramp resumes where it stopped) or the switch. Outside holds the LR at step s is the ramp's at
/// s - (steps held before s); during a hold it is the ramp's LR where the hold began. Without holds this is
/// the paper's ramp exactly, bit for bit.
public struct WarmupPath: Sendable, Equatable, Codable {
    /// A hold from `start` (inclusive) to `end` (exclusive; nil while it lasts).
    public struct Hold: Sendable, Equatable, Codable {
        public var start: Int
        public var end: Int?
    }

    public let ramp: WarmupSchedule
    /// Ordered, disjoint; only the last may be open.
    public private(set) var holds: [Hold] = []

    public init(ramp: WarmupSchedule) { self.ramp = ramp }

    public var isHolding: Bool { holds.last.map { $0.end == nil } ?? false }

    /// Starts a hold at `step` unless one is open already.
    mutating func hold(from step: Int) {
        guard !isHolding else { return }
        precondition(holds.last.map { step >= $0.end! } ?? true, "holds must not overlap")
        holds.append(Hold(start: step, end: nil))
    }

    /// Ends the open hold at `step`; the ramp resumes there. A hold that would end before it starts is
    /// dropped (it never took effect).
    mutating func resume(at step: Int) {
        guard isHolding else { return }
        if step <= holds[holds.count - 1].start { holds.removeLast() } else { holds[holds.count - 1].end = step }
    }

    /// Steps held before `step` (the ramp's clock lag there); an open hold counts up to `step`.
    func heldSteps(before step: Double) -> Int {
        var total = 0
        for hold in holds where Double(hold.start) < step {
            let end = hold.end.map { min(Double($0), step) } ?? step
            total += Int((end - Double(hold.start)).rounded(.up))
        }
        return total
    }

    /// The warmup LR at a (possibly fractional) step, e.g. Eq. 5's t*.
    public func learningRate(at step: Double) -> Double {
        for hold in holds where Double(hold.start) <= step && hold.end.map({ step < Double($0) }) ?? true {
            return ramp.learningRate(at: Double(hold.start - heldSteps(before: Double(hold.start))))
        }
        return ramp.learningRate(at: step - Double(heldSteps(before: step)))
    }

    /// The plan pieces of the warmup: the ramp, then per hold a constant piece and a ramp piece shifted by
    /// the steps held so far. `ScheduleSegment` evaluates a shifted ramp at t exactly as the ramp at
    /// t - shift (integer shifts, exact in doubles).
    public var pieces: [LearningRatePlan.Piece] {
        var pieces = [LearningRatePlan.Piece(startStep: 0, segment: ramp.segment)]
        var lag = 0
        for hold in holds {
            let rate = ramp.learningRate(at: Double(hold.start - lag))
            if hold.start == 0 {
                pieces[0] = .init(startStep: 0, segment: .constant(rate: rate))
            } else {
                pieces.append(.init(startStep: hold.start, segment: .constant(rate: rate)))
            }
            guard let end = hold.end else { break }
            lag += end - hold.start
            pieces.append(.init(startStep: end, segment: ramp.shifted(by: lag)))
        }
        return pieces
    }
}

extension WarmupSchedule {
    /// The ramp started `steps` later: its LR at t is this ramp's at t - steps.
    func shifted(by steps: Int) -> ScheduleSegment {
        switch shape {
        case .exponential:
            return .exponential(fromStep: steps, toStep: warmupSteps + steps, fromRate: minimumRate, toRate: maximumRate)
        case .linear:
            return .linear(fromStep: steps, toStep: warmupSteps + steps, fromRate: minimumRate, toRate: maximumRate)
        }
    }
}
