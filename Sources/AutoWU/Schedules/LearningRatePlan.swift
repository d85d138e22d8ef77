/// A learning-rate plan: segments, each in force from its start step until the next one starts.
///
/// A plan is what the daemon publishes instead of per-step numbers (Clone pattern): any rank holding the
/// same plan computes the same LR for every step, and the LR at step t is a pure function of (plan, t).
public struct LearningRatePlan: Sendable, Equatable, Codable {
    public struct Piece: Sendable, Equatable, Codable {
        public var startStep: Int
        public var segment: ScheduleSegment
        public init(startStep: Int, segment: ScheduleSegment) {
            self.startStep = startStep
            self.segment = segment
        }
    }

    /// Ordered by strictly increasing `startStep`; the first starts at step 0.
    public private(set) var pieces: [Piece]

    public init(pieces: [Piece]) throws {
        guard let first = pieces.first, first.startStep == 0 else {
            throw ConfigurationError.invalid("a plan must start with a segment at step 0")
        }
        for (a, b) in zip(pieces, pieces.dropFirst()) where b.startStep <= a.startStep {
            throw ConfigurationError.invalid("plan segments must start at strictly increasing steps (\(a.startStep), \(b.startStep))")
        }
        self.pieces = pieces
    }

    /// The LR of training step `step` (0-based). Steps before 0 use the first segment.
    public func learningRate(at step: Int) -> Double {
        piece(containing: step).segment.learningRate(at: Double(step))
    }

    func piece(containing step: Int) -> Piece {
        // Plans have a handful of pieces: a linear scan from the end is the fastest lookup.
        for piece in pieces.reversed() where piece.startStep <= step { return piece }
        return pieces[0]
    }

    /// This plan up to (not including) `step`, followed by `tail`.
    public func replacingTail(from step: Int, with tail: [Piece]) throws -> LearningRatePlan {
        try LearningRatePlan(pieces: pieces.filter { $0.startStep < step } + tail)
    }
}
