import Foundation
import Testing
@testable import AutoWU

@Suite struct ScheduleTests {
    @Test func exponentialWarmupHitsItsEndsAndGrowsByGamma() throws {
        let w = try WarmupSchedule(totalSteps: 1000)
        #expect(w.warmupSteps == 500)
        #expect(w.learningRate(at: 0) == 1e-5)
        #expect(relativeDifference(w.learningRate(at: 500), 1.0) < 1e-15)
        #expect(w.learningRate(at: 700) == w.learningRate(at: 500), "clamped past floor(rho_w T)")
        let gamma = pow(1.0 / 1e-5, 1.0 / 500)
        for t in [1, 17, 250, 499] {
            #expect(relativeDifference(w.learningRate(at: Double(t)) / w.learningRate(at: Double(t - 1)), gamma) < 1e-12)
        }
        // Eq. 1 with floor: rho_w T = 0.5 * 1001 = 500.5 -> 500 steps.
        #expect(try WarmupSchedule(totalSteps: 1001).warmupSteps == 500)
    }

    @Test func linearWarmupFollowsEquation6() throws {
        let w = try WarmupSchedule(shape: .linear, maximumRate: 0.1, totalSteps: 400)
        #expect(w.learningRate(at: 0) == 1e-5)
        #expect(w.learningRate(at: 200) == 0.1)
        #expect(abs(w.learningRate(at: 100) - (1e-5 + (0.1 - 1e-5) * 0.5)) < 1e-17)
    }

    @Test func cosineDecayRunsFromTheSwitchRateToZero() {
        let pieces = DecaySchedule.cosine.pieces(switchStep: 100, rate: 0.02, totalSteps: 300)
        #expect(pieces.count == 1)
        let segment = pieces[0].segment
        #expect(segment.learningRate(at: 100) == 0.02)
        #expect(abs(segment.learningRate(at: 200) - 0.01) < 1e-17)
        #expect(segment.learningRate(at: 300) == 0)
        #expect(segment.learningRate(at: 299) > 0)
    }

    @Test func constantThenCosineKeepsTheRateUntilTheLastFifth() throws {
        let pieces = DecaySchedule.constantThenCosine.pieces(switchStep: 100, rate: 0.02, totalSteps: 1000)
        #expect(pieces.map(\.startStep) == [100, 800])
        let plan = try LearningRatePlan(pieces: [.init(startStep: 0, segment: .constant(rate: 1e-5))] + pieces)
        #expect(plan.learningRate(at: 99) == 1e-5)
        #expect(plan.learningRate(at: 100) == 0.02)
        #expect(plan.learningRate(at: 799) == 0.02)
        #expect(plan.learningRate(at: 800) == 0.02)
        #expect(abs(plan.learningRate(at: 900) - 0.01) < 1e-17)
        #expect(plan.learningRate(at: 1000) == 0)
        // A switch inside the last fifth has no constant part.
        let late = DecaySchedule.constantThenCosine.pieces(switchStep: 900, rate: 0.02, totalSteps: 1000)
        #expect(late.map(\.startStep) == [900])
    }

    @Test(arguments: [
        (1e-5, 1e-5, 0.5, 100, "eta_max"),
        (0.0, 1.0, 0.5, 100, "eta_min"),
        (1e-5, 1.0, 1.0, 100, "rho_w"),
        (1e-5, 1.0, 0.0, 100, "rho_w"),
        (1e-5, 1.0, 0.5, 0, "total steps"),
        (1e-5, 1.0, 0.5, 1, "floor(rho_w"),
        (1e-5, Double.nan, 0.5, 100, "eta_max"),
    ])
    func invalidParametersSayWhatIsWrong(etaMin: Double, etaMax: Double, rho: Double, total: Int, mentions: String) {
        do {
            _ = try WarmupSchedule(minimumRate: etaMin, maximumRate: etaMax, warmupFraction: rho, totalSteps: total)
            Issue.record("accepted eta_min \(etaMin), eta_max \(etaMax), rho_w \(rho), T \(total)")
        } catch {
            #expect("\(error)".contains(mentions), "message: \(error)")
        }
    }

    @Test func planPiecesMustStartAtZeroAndIncrease() {
        #expect(throws: ConfigurationError.self) { try LearningRatePlan(pieces: []) }
        #expect(throws: ConfigurationError.self) {
            try LearningRatePlan(pieces: [.init(startStep: 1, segment: .constant(rate: 1))])
        }
        #expect(throws: ConfigurationError.self) {
            try LearningRatePlan(pieces: [.init(startStep: 0, segment: .constant(rate: 1)), .init(startStep: 0, segment: .constant(rate: 2))])
        }
    }

    @Test func invalidDecayAndTestSettingsAreRejected() {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 10, totalSteps: 1000)
        configuration.decay = .constantThenCosine(cosineFraction: 1.5)
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration = AutoWUConfiguration(stepsPerEpoch: 0, totalSteps: 1000)
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration = AutoWUConfiguration(stepsPerEpoch: 10, totalSteps: 1000)
        configuration.test.confidence = 1.0
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        configuration.test.confidence = 0.95
        configuration.patience = 0
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }
}
