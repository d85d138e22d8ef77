import Foundation
import Testing
@testable import AutoWU

/// The flat pace (docs/decisions.md): a ramp whose clock runs faster while the loss has not moved, then
/// spreads what is left of it over what is left of the warmup.
@Suite struct FlatPaceTests {
    static let ramp = try! WarmupSchedule(totalSteps: 2000)  // 1000 warmup steps

    static func relativeGap(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(a), abs(b)) }

    @Test func aPacedStretchIsContinuousReachesTheEndWhereToldAndPlansAsThePathReads() throws {
        var path = WarmupPath(ramp: Self.ramp)
        path.setPace(from: 100, reachingTheEndAt: 550)  // 900 ramp steps in 450: twice as fast
        #expect(path.clock(at: 100) == 100 && abs(path.clock(at: 325) - 550) < 1e-9)
        path.setPace(from: 300, reachingTheEndAt: 1000)  // the rest over the rest of the warmup
        let plan = try LearningRatePlan(pieces: path.pieces)
        for step in stride(from: 0, through: 1000, by: 5) {
            #expect(plan.learningRate(at: step).bitPattern == path.learningRate(at: Double(step)).bitPattern, "step \(step)")
        }
        for boundary in [100, 300] {
            #expect(Self.relativeGap(plan.learningRate(at: boundary), plan.learningRate(at: boundary - 1)) < 0.05,
                    "no jump at \(boundary)")
        }
        #expect(plan.learningRate(at: 300) > Self.ramp.learningRate(at: 300) * 2, "ahead of the plain ramp after the fast stretch")
        #expect(Self.relativeGap(plan.learningRate(at: 1000), Self.ramp.maximumRate) < 1e-12)
        #expect(plan.learningRate(at: 999) < Self.ramp.maximumRate * (1 - 1e-4))
        // Growth per step: twice the ramp's while fast, less than the ramp's once spread.
        let plainGrowth = Self.ramp.learningRate(at: 11) / Self.ramp.learningRate(at: 10)
        let fastGrowth = plan.learningRate(at: 201) / plan.learningRate(at: 200)
        let slowGrowth = plan.learningRate(at: 601) / plan.learningRate(at: 600)
        #expect(abs(log(fastGrowth) / log(plainGrowth) - 2) < 1e-6)
        #expect(slowGrowth < plainGrowth)
    }

    @Test func aHoldOnAPacedRampResumesAtThatPace() throws {
        var path = WarmupPath(ramp: Self.ramp)
        path.setPace(from: 100, reachingTheEndAt: 550)
        path.hold(from: 200)
        path.resume(at: 260)
        #expect(path.holds == [WarmupPath.Hold(start: 200, end: 260)])
        let plan = try LearningRatePlan(pieces: path.pieces)
        for step in 200..<260 { #expect(plan.learningRate(at: step) == plan.learningRate(at: 200)) }
        for k in [0, 1, 50, 200] {  // 60 steps later than without the hold, at the same pace
            #expect(Self.relativeGap(plan.learningRate(at: 260 + k), path.learningRate(at: 200) * pow(Self.ramp.maximumRate / path.learningRate(at: 200), Double(k) / 350)) < 1e-12, "k = \(k)")
        }
        #expect(path.rampEnd == 610)
    }

    @Test func pathsStoredAsHoldsDecodeToTheSamePlanBitForBit() throws {
        var current = WarmupPath(ramp: Self.ramp)
        current.hold(from: 300)
        current.resume(at: 340)
        current.hold(from: 500)
        let ramp = String(decoding: try JSONEncoder().encode(Self.ramp), as: UTF8.self)
        let old = #"{"ramp":\#(ramp),"holds":[{"start":300,"end":340},{"start":500}]}"#
        let decoded = try JSONDecoder().decode(WarmupPath.self, from: Data(old.utf8))
        #expect(decoded == current)
        #expect(!decoded.hasChangedPace)
        let plan = try LearningRatePlan(pieces: decoded.pieces)
        for step in [0, 299, 300, 339, 340, 499, 500, 900] {
            let plain = step < 300 ? step : step < 340 ? 300 : step - 40
            let expected = step >= 500 ? Self.ramp.learningRate(at: 460) : Self.ramp.learningRate(at: Double(plain))
            #expect(plan.learningRate(at: step).bitPattern == expected.bitPattern, "step \(step)")
        }
    }

    /// Flat for 30 epochs, then a valley around epoch 55 of 80: with a flat pace of 2 the LR runs ahead while
    /// flat, the ramp still ends at floor(rho_w T), and the controller persists and restores bit-identically.
    @Test func theControllerSpeedsUpWhileFlatAndSpreadsTheRestOnceTheLossMoves() throws {
        let stepsPerEpoch = 10, epochs = 80
        var random = TestRandom(seed: 11)
        let losses = (0..<(stepsPerEpoch * epochs)).map { i -> Double in
            let x = Double(i) / Double(stepsPerEpoch)
            let valley = x < 30 ? 0 : -1.5 * sin(min(x - 30, 40) / 40 * Double.pi)
            return 2.3 + valley + 0.01 * random.normal()
        }
        var configuration = AutoWUConfiguration(stepsPerEpoch: stepsPerEpoch, totalSteps: 2 * losses.count)
        configuration.decisionDelaySteps = 1
        configuration.flatPace = 2
        var plain = configuration
        plain.flatPace = 1
        var paced = try WarmupController(configuration: configuration)
        var restored = try WarmupController(configuration: configuration)
        var unpaced = try WarmupController(configuration: plain)
        var epoch = 0
        while paced.isWarmingUp, epoch < epochs {
            let slice = Array(losses[(epoch * stepsPerEpoch)..<((epoch + 1) * stepsPerEpoch)])
            let a = try paced.endEpoch(slice, solver: LowRankSolver())
            restored = try WarmupController(persisted: try restored.persisted())
            #expect(try restored.endEpoch(slice, solver: LowRankSolver()) == a, "epoch \(epoch)")
            if unpaced.isWarmingUp { _ = try unpaced.endEpoch(slice, solver: LowRankSolver()) }
            epoch += 1
        }
        #expect(paced == restored)
        #expect(paced.path.hasChangedPace && paced.lossHasMoved)
        #expect(!unpaced.path.hasChangedPace)
        let step = 200  // flat: the paced ramp is ahead
        #expect(paced.path.learningRate(at: Double(step)) > 1.5 * unpaced.path.learningRate(at: Double(step)))
        if paced.path.holds.isEmpty {
            #expect(paced.path.rampEnd == paced.warmup.warmupSteps, "the rest of the ramp ends at floor(rho_w T)")
        }
    }
}
