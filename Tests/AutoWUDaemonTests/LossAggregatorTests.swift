import Testing
@testable import AutoWUDaemon

@Suite struct LossAggregatorTests {
    @Test func theMeanIsTheSameWhateverTheOrderReportsArriveIn() {
        func loss(_ rank: Int, _ step: Int) -> Double {
            let base: Double = 0.1 * Double(step + 1)
            return base + 1e-3 * Double(rank) * 0.37
        }
        let losses: [[Double]] = (0..<4).map { rank in (0..<6).map { step in loss(rank, step) } }
        var forward = LossAggregator(stepsPerEpoch: 6, ranks: 4, decisionDelaySteps: 1, firstOpenEpoch: 0)
        var backward = forward
        for rank in 0..<4 { for step in 0..<6 { #expect(forward.record(rank: rank, step: step, loss: losses[rank][step]) == .accepted) } }
        for rank in (0..<4).reversed() { for step in (0..<6).reversed() { _ = backward.record(rank: rank, step: step, loss: losses[rank][step]) } }
        #expect(forward.isFirstOpenEpochComplete && backward.isFirstOpenEpochComplete)
        let a = forward.closeFirstOpenEpoch(), b = backward.closeFirstOpenEpoch()
        #expect(a.losses.map(\.bitPattern) == b.losses.map(\.bitPattern))
        #expect(a.missing == 0)
        #expect(abs(a.losses[2] - (0.3 + 1e-3 * 0.37 * 1.5)) < 1e-15)
    }

    @Test func duplicatesKeepTheFirstValueAndLateOrForeignReportsAreRefused() {
        var aggregator = LossAggregator(stepsPerEpoch: 3, ranks: 2, decisionDelaySteps: 1, firstOpenEpoch: 0)
        #expect(aggregator.record(rank: 0, step: 1, loss: 5) == .accepted)
        #expect(aggregator.record(rank: 0, step: 1, loss: 9) == .duplicate)
        #expect(aggregator.record(rank: 2, step: 1, loss: 1) == .ignoredRank)
        #expect(aggregator.record(rank: -1, step: 1, loss: 1) == .ignoredRank)
        #expect(aggregator.record(rank: 1, step: -4, loss: 1) == .late)
        #expect(aggregator.record(rank: 1, step: 9, loss: 1) == .tooFarAhead)
        #expect(aggregator.record(rank: 1, step: 5, loss: 1) == .accepted, "the next epoch (within the gate) is open too")
        let closed = aggregator.closeFirstOpenEpoch()
        #expect(closed.losses[1] == 5, "the first report of (rank 0, step 1) counts")
        #expect(closed.losses[0].isNaN && closed.losses[2].isNaN, "steps nobody reported are NaN")
        #expect(closed.missing == 5)
        #expect(aggregator.record(rank: 0, step: 2, loss: 1) == .late, "epoch 0 is closed")
    }

    @Test func anEpochNamesTheRanksThatReportedNothingAndListsAtMost32() {
        var aggregator = LossAggregator(stepsPerEpoch: 2, ranks: 100, decisionDelaySteps: 1, firstOpenEpoch: 0)
        // Ranks 0..59 report one step each (not silent, though incomplete); ranks 60...99 report nothing, nor
        // does rank 7 of the next epoch count for this one.
        for rank in 0..<60 { _ = aggregator.record(rank: rank, step: rank % 2, loss: 1) }
        _ = aggregator.record(rank: 70, step: 2, loss: 1)
        let closed = aggregator.closeFirstOpenEpoch()
        #expect(closed.silent.count == 40)
        #expect(closed.silent.first == Array(60..<92))
        #expect(closed.missing == 200 - 60)
        for rank in 0..<100 { for step in 2..<4 where !(rank == 70 && step == 2) { _ = aggregator.record(rank: rank, step: step, loss: 1) } }
        let complete = aggregator.closeFirstOpenEpoch()
        #expect(complete.silent == LossAggregator.SilentRanks() && complete.missing == 0)
    }

    @Test func aRankKnowsWhetherTheDaemonHasAllOfItsLosses() {
        var aggregator = LossAggregator(stepsPerEpoch: 2, ranks: 2, decisionDelaySteps: 1, firstOpenEpoch: 0)
        _ = aggregator.record(rank: 0, step: 0, loss: 1)
        _ = aggregator.record(rank: 0, step: 1, loss: 1)
        _ = aggregator.record(rank: 1, step: 1, loss: 1)
        #expect(aggregator.hasEverything(from: 0, through: 0))
        #expect(!aggregator.hasEverything(from: 1, through: 0))
        #expect(!aggregator.hasEverything(from: 0, through: 1))
        #expect(aggregator.hasEverything(from: 7, through: 0), "ranks that do not count owe nothing")
        #expect(!aggregator.isFirstOpenEpochComplete)
        _ = aggregator.record(rank: 1, step: 0, loss: 1)
        #expect(aggregator.isFirstOpenEpochComplete)
    }

    @Test func rankZeroModeCountsOneRankOnly() {
        var aggregator = LossAggregator(stepsPerEpoch: 2, ranks: 1, decisionDelaySteps: 0, firstOpenEpoch: 3)
        #expect(aggregator.record(rank: 1, step: 6, loss: 1) == .ignoredRank)
        #expect(aggregator.record(rank: 0, step: 5, loss: 1) == .late, "restored at epoch 3")
        _ = aggregator.record(rank: 0, step: 6, loss: 2)
        _ = aggregator.record(rank: 0, step: 7, loss: .nan)
        #expect(aggregator.isFirstOpenEpochComplete)
        let closed = aggregator.closeFirstOpenEpoch()
        #expect(closed.losses[0] == 2 && closed.losses[1].isNaN && closed.missing == 0)
    }
}

@Suite struct LossAggregatorMemoryTests {
    /// The declared sizes of issue 11's memory bomb: 65536 ranks x 65535 steps would be 34 GB dense.
    @Test func memoryGrowsWithTheReportsReceivedNotWithTheDeclaredSizes() {
        var aggregator = LossAggregator(stepsPerEpoch: 65_535, ranks: 65_536, decisionDelaySteps: 0, firstOpenEpoch: 0)
        #expect(aggregator.bytes == 0)
        #expect(aggregator.record(rank: 65_535, step: 65_534, loss: 1) == .accepted)
        let one = aggregator.bytes
        #expect(one > 0 && one < 1_024, "one report: \(one) bytes")
        for index in 0..<10_000 {
            _ = aggregator.record(rank: (index * 7_919) % 65_536, step: index % 65_535, loss: Double(index))
        }
        let many = aggregator.bytes
        #expect(many < 10_001 * 4 * LossAggregator.bytesPerReport, "10,001 reports: \(many) bytes")
        #expect(many > 10_000 * (MemoryLayout<Int>.stride + MemoryLayout<Double>.stride), "the reports are held")
        let closed = aggregator.closeFirstOpenEpoch()
        #expect(closed.missing == 65_535 * 65_536 - 10_001)
        #expect(closed.losses[65_534] == 1)
        // The closed epoch's reports are let go; the next epoch has room for as many (data seen, not declared).
        #expect(aggregator.bytes <= many * 11 / 10, "\(aggregator.bytes) bytes after closing, \(many) before")
        _ = aggregator.closeFirstOpenEpoch()
        #expect(aggregator.bytes < 1_024, "an epoch without reports leaves the next one nothing to reserve")
    }

    @Test func aSparseEpochAveragesExactlyAsADenseOneWould() {
        // Ranks report in a scrambled order; the mean of each step is summed in rank order.
        let ranks = 5, steps = 7
        func loss(_ rank: Int, _ step: Int) -> Double { 1.0 / Double(3 + rank * 11 + step * 5) + 1e-3 * Double(step) }
        var aggregator = LossAggregator(stepsPerEpoch: steps, ranks: ranks, decisionDelaySteps: 1, firstOpenEpoch: 0)
        var order = (0..<(ranks * steps)).map { ($0 * 17) % (ranks * steps) }
        order.swapAt(0, order.count - 1)
        for slot in order where slot % 4 != 3 {
            _ = aggregator.record(rank: slot % ranks, step: slot / ranks, loss: loss(slot % ranks, slot / ranks))
        }
        let closed = aggregator.closeFirstOpenEpoch()
        for step in 0..<steps {
            var sum = 0.0, count = 0
            for rank in 0..<ranks where (step * ranks + rank) % 4 != 3 {
                sum += loss(rank, step)
                count += 1
            }
            #expect(closed.losses[step].bitPattern == (sum / Double(count)).bitPattern, "step \(step)")
        }
    }
}
