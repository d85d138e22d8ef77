import AutoWU

extension ScheduleSegment {
    public var wire: Autowu_V1_Segment.OneOf_Formula {
        switch self {
        case let .exponential(t0, t1, lr0, lr1):
            return .exponential(.with { $0.fromStep = UInt64(t0); $0.toStep = UInt64(t1); $0.fromRate = lr0; $0.toRate = lr1 })
        case let .linear(t0, t1, lr0, lr1):
            return .linear(.with { $0.fromStep = UInt64(t0); $0.toStep = UInt64(t1); $0.fromRate = lr0; $0.toRate = lr1 })
        case let .constant(rate):
            return .constant(.with { $0.rate = rate })
        case let .cosine(t0, t1, lr0):
            return .cosine(.with { $0.fromStep = UInt64(t0); $0.toStep = UInt64(t1); $0.fromRate = lr0 })
        }
    }

    public init(wire: Autowu_V1_Segment.OneOf_Formula?) throws {
        func step(_ value: UInt64) throws -> Int {
            guard value <= WireProtocol.maximumTotalSteps else { throw ProtocolError(.errorInvalidArgument, "a plan step exceeds 2^40") }
            return Int(value)
        }
        switch wire {
        case let .exponential(e)?:
            self = .exponential(fromStep: try step(e.fromStep), toStep: try step(e.toStep), fromRate: e.fromRate, toRate: e.toRate)
        case let .linear(l)?:
            self = .linear(fromStep: try step(l.fromStep), toStep: try step(l.toStep), fromRate: l.fromRate, toRate: l.toRate)
        case let .constant(c)?:
            self = .constant(rate: c.rate)
        case let .cosine(c)?:
            self = .cosine(fromStep: try step(c.fromStep), toStep: try step(c.toStep), fromRate: c.fromRate)
        case nil:
            throw ProtocolError(.errorMalformed, "a plan segment has no formula")
        }
    }
}

extension LearningRatePlan {
    public var wireSegments: [Autowu_V1_Segment] {
        pieces.map { piece in .with { $0.startStep = UInt64(piece.startStep); $0.formula = piece.segment.wire } }
    }

    public init(wireSegments: [Autowu_V1_Segment]) throws {
        let pieces = try wireSegments.map { segment -> Piece in
            guard segment.startStep <= WireProtocol.maximumTotalSteps else { throw ProtocolError(.errorInvalidArgument, "a plan step exceeds 2^40") }
            return Piece(startStep: Int(segment.startStep), segment: try ScheduleSegment(wire: segment.formula))
        }
        do {
            try self.init(pieces: pieces)
        } catch let error as ConfigurationError {
            throw ProtocolError(.errorMalformed, error.description)
        }
    }
}
