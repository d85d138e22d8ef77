/// The LR path of the warmup as it is actually run: the ramp of `WarmupSchedule` read through a clock that
/// can stop (a hold) or change its pace.
///
/// The path is a list of stretches. From its `start` step a stretch either holds the ramp's LR at its clock,
/// or runs the ramp from its clock to the end of the ramp (the maximum rate) by its `end` step. The hold
/// policy holds from the gate of a positive test until a negative test (the ramp resumes where it stopped,
/// at the pace it had); the flat pace (`AutoWUConfiguration.flatPace`) runs the ramp faster while the loss
/// has not moved, then spreads what is left of it over what is left of the warmup. With one stretch at pace
/// 1 this is the paper's ramp exactly, bit for bit; so are holds on it.
public struct WarmupPath: Sendable, Equatable, Codable {
    /// From `start` on: the ramp's LR at `clock` (held), or the ramp from `clock` to its end, reached at `end`.
    public struct Stretch: Sendable, Equatable, Codable {
        public var start: Int
        /// The ramp's clock at `start`, in ramp steps (0 ... warmupSteps).
        public var clock: Double
        /// The step at which the ramp reaches its maximum rate; nil while the LR is held.
        public var end: Int?
    }

    /// A hold from `start` (inclusive) to `end` (exclusive; nil while it lasts).
    public struct Hold: Sendable, Equatable, Codable {
        public var start: Int
        public var end: Int?
    }

    public let ramp: WarmupSchedule
    /// Ordered by start; the first starts at step 0.
    public private(set) var stretches: [Stretch]

    public init(ramp: WarmupSchedule) {
        self.ramp = ramp
        self.stretches = [Stretch(start: 0, clock: 0, end: ramp.warmupSteps)]
    }

    enum CodingKeys: String, CodingKey { case ramp, stretches, holds }

    /// Paths persisted before paces existed hold a list of holds on the plain ramp.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(ramp: try c.decode(WarmupSchedule.self, forKey: .ramp))
        if let stretches = try c.decodeIfPresent([Stretch].self, forKey: .stretches) {
            self.stretches = stretches
        } else {
            for hold in try c.decodeIfPresent([Hold].self, forKey: .holds) ?? [] {
                self.hold(from: hold.start)
                if let end = hold.end { resume(at: end) }
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ramp, forKey: .ramp)
        try c.encode(stretches, forKey: .stretches)
    }

    public var isHolding: Bool { stretches[stretches.count - 1].end == nil }

    /// The holds of the path, in order (only the last may be open).
    public var holds: [Hold] {
        stretches.indices.filter { stretches[$0].end == nil }.map { i in
            Hold(start: stretches[i].start, end: i + 1 < stretches.count ? stretches[i + 1].start : nil)
        }
    }

    /// Whether the ramp has run at other than its own pace (the flat pace was used).
    public var hasChangedPace: Bool {
        stretches.contains { $0.end != nil && !isPlainRamp($0) }
    }

    /// Starts a hold at `step` unless one is open already.
    mutating func hold(from step: Int) {
        guard !isHolding else { return }
        append(Stretch(start: step, clock: clock(at: step), end: nil))
    }

    /// Ends the open hold at `step`; the ramp resumes there at the pace it had before the hold. A hold that
    /// would end before it starts is dropped (it never took effect).
    mutating func resume(at step: Int) {
        guard isHolding else { return }
        let held = stretches[stretches.count - 1]
        guard step > held.start else {
            stretches.removeLast()
            if stretches.isEmpty { self = WarmupPath(ramp: ramp) }
            return
        }
        // The pace before the hold: the steps its ramp had left when the hold began (a hold from step 0
        // replaced the first stretch: the ramp's own pace).
        let remaining = stretches.count >= 2
            ? max(0, stretches[stretches.count - 2].end! - held.start)
            : ramp.warmupSteps - Int(held.clock)
        stretches.append(Stretch(start: step, clock: held.clock, end: step + remaining))
    }

    /// From `step` on, the ramp runs from where its clock is to its end, reached at `end` (> step). No
    /// effect while the LR is held or once the ramp has ended.
    mutating func setPace(from step: Int, reachingTheEndAt end: Int) {
        guard !isHolding, end > step else { return }
        let clock = clock(at: step)
        guard clock < Double(ramp.warmupSteps) else { return }
        append(Stretch(start: step, clock: clock, end: end))
    }

    /// The ramp's clock at `step`.
    public func clock(at step: Int) -> Double {
        let stretch = stretches[index(at: Double(step))]
        guard let end = stretch.end else { return stretch.clock }
        if isPlainRamp(stretch) { return min(stretch.clock + Double(step - stretch.start), Double(ramp.warmupSteps)) }
        let fraction = min(1, Double(step - stretch.start) / Double(end - stretch.start))
        return stretch.clock + (Double(ramp.warmupSteps) - stretch.clock) * fraction
    }

    /// The step at which the ramp (as paced now) reaches its end.
    public var rampEnd: Int? { stretches.last?.end }

    /// The warmup LR at a (possibly fractional) step, e.g. Eq. 5's t*: the plan's piece there.
    public func learningRate(at step: Double) -> Double {
        segment(stretches[index(at: step)]).learningRate(at: step)
    }

    /// The plan pieces of the warmup, one per stretch. A stretch at the ramp's own pace is the ramp shifted
    /// by an integer number of steps, which `ScheduleSegment` evaluates at t exactly as the ramp at t - shift.
    public var pieces: [LearningRatePlan.Piece] {
        stretches.map { LearningRatePlan.Piece(startStep: $0.start, segment: segment($0)) }
    }

    // MARK: - Stretches

    private mutating func append(_ stretch: Stretch) {
        if stretches[stretches.count - 1].start == stretch.start {
            stretches[stretches.count - 1] = stretch
        } else {
            precondition(stretch.start > stretches[stretches.count - 1].start, "stretches must be appended in order")
            stretches.append(stretch)
        }
    }

    private func index(at step: Double) -> Int {
        var i = 0
        while i + 1 < stretches.count, Double(stretches[i + 1].start) <= step { i += 1 }
        return i
    }

    /// Integer clock, one ramp step per step: the plain ramp shifted.
    private func isPlainRamp(_ stretch: Stretch) -> Bool {
        guard let end = stretch.end, stretch.clock == stretch.clock.rounded() else { return false }
        return Double(end - stretch.start) == Double(ramp.warmupSteps) - stretch.clock
    }

    private func segment(_ stretch: Stretch) -> ScheduleSegment {
        let rate = ramp.learningRate(at: stretch.clock)
        guard let end = stretch.end, stretch.clock < Double(ramp.warmupSteps) else { return .constant(rate: rate) }
        if isPlainRamp(stretch) { return ramp.shifted(by: stretch.start - Int(stretch.clock)) }
        switch ramp.shape {
        case .exponential:
            return .exponential(fromStep: stretch.start, toStep: end, fromRate: rate, toRate: ramp.maximumRate)
        case .linear:
            return .linear(fromStep: stretch.start, toStep: end, fromRate: rate, toRate: ramp.maximumRate)
        }
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
