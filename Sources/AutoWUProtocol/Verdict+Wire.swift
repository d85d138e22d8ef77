import AutoWU

extension EpochVerdict {
    public func wire(testMicros: UInt64 = 0, reportsMissing: Int = 0,
                     silentRanks: (count: Int, first: [Int]) = (0, [])) -> Autowu_V1_Verdict {
        .with {
            $0.epoch = Int64(epoch)
            $0.step = UInt64(step)
            $0.lr = learningRate
            $0.streak = UInt32(streak)
            $0.diverged = diverged
            $0.testMicros = testMicros
            $0.reportsMissing = UInt32(clamping: reportsMissing)
            $0.holding = holding
            $0.silentRankCount = UInt32(clamping: silentRanks.count)
            $0.silentRanks = silentRanks.first.map { UInt32(clamping: $0) }
            if let check {
                $0.tested = true
                $0.pMin = check.pMin
                $0.argminX = check.argminX
                $0.votes = UInt32(check.votes)
                $0.positive = check.positive
                $0.finitePoints = UInt32(check.finitePoints)
                $0.outliers = UInt32(clamping: check.outliers)
                $0.note = check.note ?? ""
            }
        }
    }
}

extension SwitchDecision {
    public var wire: Autowu_V1_Decision {
        .with {
            $0.reason = reason.rawValue
            $0.epoch = Int64(epoch)
            $0.step = UInt64(step)
            $0.learningRate = learningRate
            $0.minimumStep = minimumStep
        }
    }
}
