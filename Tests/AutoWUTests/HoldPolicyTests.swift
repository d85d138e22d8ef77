import Foundation
import Testing
@testable import AutoWU
@testable import AutoWUCommands

/// The hold policy: the ramp's clock stops while a positive streak is being confirmed.
@Suite struct HoldPolicyTests {
    static let ramp = try! WarmupSchedule(totalSteps: 2000)

    @Test func withoutHoldsThePathIsTheRampBitForBit() {
        let path = WarmupPath(ramp: Self.ramp)
        let plan = try! LearningRatePlan(pieces: path.pieces)
        for step in [0, 1, 17, 500, 999, 1000, 1500] {
            #expect(plan.learningRate(at: step).bitPattern == Self.ramp.learningRate(at: Double(step)).bitPattern)
            #expect(path.learningRate(at: Double(step)).bitPattern == Self.ramp.learningRate(at: Double(step)).bitPattern)
        }
    }

    @Test func aHoldStopsTheRampsClockAndTheRampResumesWhereItStopped() throws {
        var path = WarmupPath(ramp: Self.ramp)
        path.hold(from: 300)
        path.hold(from: 320)  // already holding: no second hold
        #expect(path.isHolding)
        path.resume(at: 340)
        path.hold(from: 500)
        path.resume(at: 510)
        let plan = try LearningRatePlan(pieces: path.pieces)
        let held = Self.ramp.learningRate(at: 300)
        for step in 300..<340 { #expect(plan.learningRate(at: step).bitPattern == held.bitPattern, "step \(step)") }
        for step in [340, 400, 499] {  // 40 steps behind the ramp
            #expect(plan.learningRate(at: step).bitPattern == Self.ramp.learningRate(at: Double(step - 40)).bitPattern)
        }
        for step in 500..<510 { #expect(plan.learningRate(at: step).bitPattern == Self.ramp.learningRate(at: 460).bitPattern) }
        for step in [510, 900, 1049] {  // 50 behind
            #expect(plan.learningRate(at: step).bitPattern == Self.ramp.learningRate(at: Double(step - 50)).bitPattern)
        }
        // The path at every integer step is the plan's (what Eq. 5 reads at t*).
        for step in stride(from: 0, to: 1100, by: 7) {
            #expect(path.learningRate(at: Double(step)).bitPattern == plan.learningRate(at: step).bitPattern, "step \(step)")
        }
    }

    @Test func aHoldThatNeverTookEffectIsDropped() {
        var path = WarmupPath(ramp: Self.ramp)
        path.hold(from: 300)
        path.resume(at: 300)
        #expect(path.holds.isEmpty)
    }

    /// Replaying a trace: the tests and the switch epoch are the paper policy's (the losses are the same);
    /// the plan holds from each positive test's gate, and the switch LR is read off the held path.
    @Test func onAReplayedTraceTheHoldChangesThePlanNotTheTests() throws {
        let trace = try Repository.trace("digits_bs512_seed0_spe3_ep120_W360.csv")
        var configuration = AutoWUConfiguration(stepsPerEpoch: 3, totalSteps: 720)
        configuration.decisionDelaySteps = 1
        configuration.policy = .paper
        let paper = try Replay(configuration: configuration, solver: .fast).run(trace)
        configuration.policy = .hold
        let hold = try Replay(configuration: configuration, solver: .fast).run(trace)
        #expect(paper.verdicts.map(\.check?.pMin) == hold.verdicts.map(\.check?.pMin))
        let decision = try #require(hold.decision)
        #expect(decision.epoch == paper.decision?.epoch && decision.step == paper.decision?.step)
        let positives = hold.verdicts.filter { $0.check?.positive == true && $0.decision == nil }
        #expect(!positives.isEmpty)
        for verdict in positives {
            #expect(verdict.holding)
            let gate = verdict.step + 1  // E = 3: the hold lasts at least until the next gate, 3 steps later
            #expect(hold.plan.learningRate(at: gate + 2) == hold.plan.learningRate(at: gate), "held after the gate of epoch \(verdict.epoch)")
            #expect(hold.plan.learningRate(at: gate + 2) < paper.plan.learningRate(at: gate + 2))
        }
        #expect(decision.learningRate <= paper.decision!.learningRate)
        #expect(hold.plan.learningRate(at: decision.step) == decision.learningRate)
    }

    @Test func aPersistedAndRestoredControllerWithHoldsDecidesBitIdentically() throws {
        let trace = try Repository.trace("digits_bs512_seed0_spe3_ep120_W360.csv").losses
        var configuration = AutoWUConfiguration(stepsPerEpoch: 3, totalSteps: 720)
        configuration.decisionDelaySteps = 1
        var uninterrupted = try WarmupController(configuration: configuration)
        var restored = try WarmupController(configuration: configuration)
        var epoch = 0
        while uninterrupted.isWarmingUp, (epoch + 1) * 3 <= trace.count {
            let losses = Array(trace[(epoch * 3)..<((epoch + 1) * 3)])
            let a = try uninterrupted.endEpoch(losses, solver: LowRankSolver())
            restored = try WarmupController(persisted: try restored.persisted())
            let b = try restored.endEpoch(losses, solver: LowRankSolver())
            #expect(a == b, "epoch \(epoch)")
            epoch += 1
        }
        #expect(uninterrupted == restored)
        #expect(!uninterrupted.path.holds.isEmpty, "the trace exercised a hold")
        #expect(try uninterrupted.persisted() == restored.persisted())
    }

    /// A controller stored by a daemon before the robust test and the hold policy existed decides as the
    /// paper's method it was created with.
    @Test func aControllerPersistedBeforeTheseOptionsDecodesAsThePapersMethod() throws {
        let current = try WarmupController(configuration: AutoWUConfiguration(stepsPerEpoch: 3, totalSteps: 720))
        var json = try JSONSerialization.jsonObject(with: Data(try current.persisted())) as! [String: Any]
        json["path"] = nil
        var configuration = json["configuration"] as! [String: Any]
        configuration["policy"] = nil
        var test = configuration["test"] as! [String: Any]
        test["kind"] = nil
        test["outlierWindow"] = nil
        test["outlierThreshold"] = nil
        configuration["test"] = test
        json["configuration"] = configuration
        let old = try WarmupController(persisted: Array(try JSONSerialization.data(withJSONObject: json)))
        #expect(old.configuration.policy == .paper)
        #expect(old.configuration.test.kind == .paper)
        #expect(old.path.holds.isEmpty)
    }

    @Test func anInfiniteDivergenceFactorPersists() throws {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 3, totalSteps: 720)
        configuration.divergenceFactor = .infinity
        let controller = try WarmupController(configuration: configuration)
        let restored = try WarmupController(persisted: try controller.persisted())
        #expect(restored.configuration.divergenceFactor == .infinity)
    }
}
