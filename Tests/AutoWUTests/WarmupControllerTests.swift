import Foundation
import Testing
@testable import AutoWU

@Suite struct WarmupControllerTests {
    func configuration(spe: Int, total: Int) -> AutoWUConfiguration {
        AutoWUConfiguration(stepsPerEpoch: spe, totalSteps: total)
    }

    func epochs(_ losses: [Double], _ spe: Int) -> [[Double]] {
        stride(from: 0, to: losses.count - spe + 1, by: spe).map { Array(losses[$0 ..< $0 + spe]) }
    }

    @Test func aControllerRestoredMidWarmupDecidesExactlyAsAnUninterruptedOne() throws {
        let trace = try Repository.trace("synth_a_parabola_min900_spe25_ep60_W1500.csv")
        let config = configuration(spe: 25, total: 3000)
        var uninterrupted = try WarmupController(configuration: config)
        var first = try WarmupController(configuration: config)
        let all = epochs(trace.losses, 25)
        var expected: [EpochVerdict] = []
        for epoch in all where uninterrupted.isWarmingUp {
            expected.append(try uninterrupted.endEpoch(epoch, solver: DenseCholeskySolver()))
        }
        for epoch in all.prefix(20) { _ = try first.endEpoch(epoch, solver: DenseCholeskySolver()) }

        let saved = try JSONEncoder().encode(first)
        var restored = try JSONDecoder().decode(WarmupController.self, from: saved)
        #expect(restored == first)
        var actual: [EpochVerdict] = Array(expected.prefix(20))
        for epoch in all.dropFirst(20) where restored.isWarmingUp {
            actual.append(try restored.endEpoch(epoch, solver: DenseCholeskySolver()))
        }
        #expect(actual == expected)
        #expect(restored.decision != nil && restored.decision == uninterrupted.decision)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(restored) == encoder.encode(uninterrupted))
    }

    @Test func nonFiniteLossesSurviveTheRoundTrip() throws {
        var controller = try WarmupController(configuration: configuration(spe: 4, total: 400))
        _ = try controller.endEpoch([1.0, .nan, .infinity, 0.9], solver: DenseCholeskySolver())
        let restored = try JSONDecoder().decode(WarmupController.self, from: JSONEncoder().encode(controller))
        #expect(restored.losses.values[0] == 1.0 && restored.losses.values[1].isNaN && !restored.losses.values[2].isFinite)
        #expect(restored == controller)
    }

    @Test func badEpochsAreRejectedWithoutChangingState() throws {
        var controller = try WarmupController(configuration: configuration(spe: 5, total: 1000))
        let before = controller
        #expect(throws: WarmupController.Error.wrongEpochLength(expected: 5, got: 4)) {
            try controller.endEpoch([1, 1, 1, 1], solver: DenseCholeskySolver())
        }
        #expect(controller == before)
    }

    @Test(arguments: WarmupPolicy.allCases)
    func aLossThatKeepsFallingEndsTheWarmupAtItsLimit(policy: WarmupPolicy) throws {
        let spe = 10, total = 400  // W = 200: tests after epochs 0..18, epoch 19 reaches W
        var config = configuration(spe: spe, total: total)
        config.policy = policy
        var controller = try WarmupController(configuration: config)
        var verdicts: [EpochVerdict] = []
        for e in 0..<20 {
            let losses = (0..<spe).map { 5.0 - 0.02 * Double(e * spe + $0) }
            verdicts.append(try controller.endEpoch(losses, solver: DenseCholeskySolver()))
        }
        #expect(verdicts.dropLast().allSatisfy { $0.decision == nil && $0.check != nil })
        let decision = try #require(verdicts.last?.decision)
        #expect(decision.reason == .maxWarmup && decision.step == 200 && decision.epoch == 19)
        // The paper decays from the LR reached at W; the hold policy from the last test's estimate of the
        // minimum, here "now" at that test (step 190).
        let expected = policy == .paper ? 1.0 : controller.warmup.learningRate(at: 190)
        #expect(relativeDifference(decision.learningRate, expected) < 1e-14, "\(decision.learningRate)")
        #expect(verdicts.last?.check == nil)
        #expect(throws: WarmupController.Error.self) { try controller.endEpoch(Array(repeating: 1, count: spe), solver: DenseCholeskySolver()) }
        #expect(controller.plan.learningRate(at: 200) == decision.learningRate)
    }

    @Test func anEpochOfNaNEndsTheWarmupWithTheMinimumOfTheFiniteHistory() throws {
        let spe = 20
        var controller = try WarmupController(configuration: configuration(spe: spe, total: 4000))
        var random = TestRandom(seed: 2)
        // Falling, bottoming out around step 300, rising a little, then NaN from step 400 on.
        func loss(_ t: Int) -> Double {
            let u = Double(t - 300) / 300
            return 1 + 0.5 * u * u * (u < 0 ? 1 : 4) + 0.01 * random.normal()
        }
        var decision: SwitchDecision?
        var epoch = 0
        while decision == nil, epoch < 40 {
            let losses = (0..<spe).map { i -> Double in
                let t = epoch * spe + i
                return t >= 400 ? (t % 3 == 0 ? .infinity : .nan) : loss(t)
            }
            decision = try controller.endEpoch(losses, solver: DenseCholeskySolver()).decision
            epoch += 1
        }
        let d = try #require(decision)
        #expect(d.epoch <= 20, "switched by epoch 20 at the latest (the first NaN epoch)")
        if d.reason == .diverged {
            #expect(d.epoch == 20 && d.step == 420)
        }
        #expect(abs(d.minimumStep - 300) < 60, "t* near the minimum: \(d.minimumStep)")
        #expect(d.learningRate == controller.warmup.learningRate(at: d.minimumStep))
    }

    @Test func anExplodingLossIsDivergence() throws {
        let spe = 10
        var controller = try WarmupController(configuration: configuration(spe: spe, total: 4000))
        var verdict: EpochVerdict?
        for e in 0..<8 {
            // Flat at 2 with tiny noise (no minimum to find), then a sudden blow-up to 1e4 in epoch 7.
            let losses = (0..<spe).map { i in e < 7 ? 2.0 + 0.001 * Double((e * 7 + i * 3) % 5) : 1e4 }
            verdict = try controller.endEpoch(losses, solver: DenseCholeskySolver())
            if verdict?.decision != nil { break }
        }
        let d = try #require(verdict?.decision)
        #expect(d.reason == .diverged && d.epoch == 7 && d.step == 80)
        #expect(d.minimumStep <= 70)
        #expect(verdict?.diverged == true)
    }

    @Test func theDivergenceRuleNeedsAMajorityOrAnExplosion() {
        let rule = DivergenceRule(factor: 100)
        #expect(!rule.hasDiverged(epochLosses: [1, .nan, 2, .nan], baseline: 2), "half is not a majority")
        #expect(rule.hasDiverged(epochLosses: [1, .nan, .infinity, .nan], baseline: 2))
        #expect(!rule.hasDiverged(epochLosses: [150, 190, 1e9], baseline: 2))
        #expect(rule.hasDiverged(epochLosses: [250, 300, 1e9], baseline: 2))
        #expect(!rule.hasDiverged(epochLosses: [250, 300, 1e9], baseline: nil))
        #expect(DivergenceRule.baseline(of: [.nan, 3, 1, 2]) == 2)
    }

    @Test func thePlanFollowsTheDecision() throws {
        var config = configuration(spe: 3, total: 720)
        config.decay = .constantThenCosine
        config.policy = .paper  // no holds: the warmup is one segment (HoldPolicyTests has the held plans)
        let trace = try Repository.trace("digits_bs512_seed0_spe3_ep120_W360.csv")
        var controller = try WarmupController(configuration: config)
        let before = controller.plan
        #expect(before.pieces.map(\.startStep) == [0, 360, 576])
        for epoch in epochs(trace.losses, 3) where controller.isWarmingUp {
            _ = try controller.endEpoch(epoch, solver: DenseCholeskySolver())
        }
        let d = try #require(controller.decision)
        let plan = controller.plan
        #expect(plan.pieces.map(\.startStep) == [0, d.step, 576])
        #expect(plan.learningRate(at: d.step - 1) == before.learningRate(at: d.step - 1), "the past is unchanged")
        #expect(plan.learningRate(at: d.step) == d.learningRate)
        #expect(plan.learningRate(at: 575) == d.learningRate)
        #expect(plan.learningRate(at: 720) == 0)
    }
}
