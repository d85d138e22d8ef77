import Foundation
import Testing
@testable import AutoWU

/// A warmup too short for any test (the robust test needs 33 losses) still ends, at its limit or by rebound;
/// under the hold policy the decay then starts from the LR of the epoch whose median loss was lowest, not
/// from eta_max or from the LR the loss climbed back at.
@Suite struct MaxWarmupEstimateTests {
    /// 2 steps per epoch, W = 30: fifteen epochs, none with the 33 losses a test needs. The loss falls to its
    /// lowest in epoch 5 (steps 10 and 11) and climbs after: a little (`rise` 0.02 per epoch) or steeply.
    static func run(_ policy: WarmupPolicy, rise: Double = 0.02) throws -> (SwitchDecision, WarmupController) {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 2, totalSteps: 60)
        configuration.policy = policy
        configuration.patience = AutoWUConfiguration.defaultPatience(policy)
        var controller = try WarmupController(configuration: configuration)
        for epoch in 0..<15 where controller.isWarmingUp {
            let level = epoch <= 5 ? 3.0 - 0.2 * Double(epoch) : 2.0 + rise * Double(epoch - 5)
            let verdict = try controller.endEpoch([level, level + 0.01], solver: LowRankSolver())
            #expect(verdict.check?.votes ?? 0 == 0, "no test can vote on fewer than 33 losses")
        }
        return (try #require(controller.decision), controller)
    }

    @Test func theHoldPolicyDecaysFromTheLowestEpoch() throws {
        let (decision, controller) = try Self.run(.hold)
        #expect(decision.reason == .maxWarmup && decision.step == 30)
        #expect(decision.minimumStep == 10.5, "the middle of epoch 5 (steps 10 and 11)")
        #expect(decision.learningRate == controller.warmup.learningRate(at: 10.5))
        #expect(decision.learningRate < controller.warmup.maximumRate / 2)
    }

    @Test func aReboundWithoutATestDecaysFromTheLowestEpochToo() throws {
        let (decision, controller) = try Self.run(.hold, rise: 0.3)
        #expect(decision.reason == .rebound && decision.step < 30)
        #expect(decision.minimumStep == 10.5)
        #expect(decision.learningRate == 0.5 * controller.warmup.learningRate(at: 10.5), "the rebound's back-off")
    }

    /// The back-off is the configuration's; a controller persisted before it existed keeps deciding from the
    /// LR at t* itself, and a back-off outside (0, 1] is refused.
    @Test func aControllerStoredBeforeTheBackOffReboundsFromTheLRAtTheMinimum() throws {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 2, totalSteps: 60)
        #expect(configuration.reboundBackoff == 0.5)
        var json = try #require(try JSONSerialization.jsonObject(with: Data(try WarmupController(configuration: configuration).persisted())) as? [String: Any])
        var stored = try #require(json["configuration"] as? [String: Any])
        #expect(stored.removeValue(forKey: "reboundBackoff") as? Double == 0.5)
        json["configuration"] = stored
        var old = try WarmupController(persisted: Array(try JSONSerialization.data(withJSONObject: json)))
        #expect(old.configuration.reboundBackoff == 1)
        for epoch in 0..<15 where old.isWarmingUp {
            let level = epoch <= 5 ? 3.0 - 0.2 * Double(epoch) : 2.0 + 0.3 * Double(epoch - 5)
            _ = try old.endEpoch([level, level + 0.01], solver: LowRankSolver())
        }
        let decision = try #require(old.decision)
        #expect(decision.reason == .rebound && decision.learningRate == old.warmup.learningRate(at: 10.5))
        for bad in [0.0, -0.5, 1.5, .nan] {
            configuration.reboundBackoff = bad
            #expect(throws: (any Error).self) { try configuration.validate() }
        }
    }

    @Test func thePapersPolicyDecaysFromTheLRReached() throws {
        let (decision, _) = try Self.run(.paper)
        #expect(decision.reason == .maxWarmup && decision.minimumStep == 30)
        #expect(abs(decision.learningRate - 1) < 1e-12, "the LR the ramp reached")
    }

    @Test func anUntestedEpochDoesNotCount() throws {
        // W = 30 with E = 4: epochs 0-6 are tested, epoch 7 (steps 28-31) reaches W. Its losses, the lowest,
        // reach the controller only in a replay; the daemon never hands them over. The decision is the same.
        func decide(feedingTheLastEpoch: Bool) throws -> SwitchDecision {
            var controller = try WarmupController(configuration: AutoWUConfiguration(stepsPerEpoch: 4, totalSteps: 60))
            for epoch in 0..<7 { _ = try controller.endEpoch(Array(repeating: 3.0 - 0.1 * Double(epoch), count: 4), solver: LowRankSolver()) }
            if feedingTheLastEpoch { _ = try controller.endEpoch([0.5, 0.5, 0.5, 0.5], solver: LowRankSolver()) }
            let concluded = controller.concludeIfNoTestRemains()
            return try #require(controller.decision ?? concluded)
        }
        let daemon = try decide(feedingTheLastEpoch: false), replay = try decide(feedingTheLastEpoch: true)
        #expect(daemon == replay)
        #expect(daemon.minimumStep == 25.5, "the middle of epoch 6, the lowest tested one")
    }

    @Test func withoutAnyLossItIsTheLimitStill() throws {
        // No epoch can be tested at all (W = 3 < one epoch + the delay): decided before any loss.
        var configuration = AutoWUConfiguration(stepsPerEpoch: 4, totalSteps: 6)
        configuration.decisionDelaySteps = 1
        var controller = try WarmupController(configuration: configuration)
        let concluded = controller.concludeIfNoTestRemains()
        let decision = try #require(concluded)
        #expect(decision.minimumStep == 3 && abs(decision.learningRate - 1) < 1e-12)
    }

    @Test(arguments: [(2, 60, 0), (4, 160, 0), (4, 160, 1), (3, 240, 1), (100, 400, 1), (1, 100, 5), (4, 6, 1), (50, 90, 0)])
    func theTestsWithEnoughLossesAreCountedAsTheControllerTestsThem(_ e: Int, _ total: Int, _ delay: Int) throws {
        var configuration = AutoWUConfiguration(stepsPerEpoch: e, totalSteps: total)
        configuration.decisionDelaySteps = delay
        let controller = try WarmupController(configuration: configuration)
        let counted = (0..<(total / e + 1)).filter { controller.isTested(epoch: $0) && ($0 + 1) * e >= 33 }.count
        #expect(controller.testsWithEnoughLosses == counted)
    }
}

