import Foundation
import Testing
@testable import AutoWU

/// The lag correction (docs/decisions.md): the decay starts from the warmup path's LR `lagSteps` before t*;
/// the tests, t* and the switch step stay as they were.
@Suite struct LagCorrectionTests {
    static func decide(lag: Double, policy: WarmupPolicy = .hold) throws -> WarmupController {
        let trace = try Repository.trace("digits_bs512_seed0_spe3_ep120_W360.csv").losses
        var configuration = AutoWUConfiguration(stepsPerEpoch: 3, totalSteps: 720)
        configuration.decisionDelaySteps = 1
        configuration.policy = policy
        configuration.patience = AutoWUConfiguration.defaultPatience(policy)
        configuration.lagSteps = lag
        var controller = try WarmupController(configuration: configuration)
        var epoch = 0
        while controller.isWarmingUp, (epoch + 1) * 3 <= trace.count {
            _ = try controller.endEpoch(Array(trace[(epoch * 3)..<((epoch + 1) * 3)]), solver: LowRankSolver())
            epoch += 1
        }
        return controller
    }

    @Test func theDecayStartsFromTheRateLagStepsBeforeTheMinimum() throws {
        let plain = try #require(try Self.decide(lag: 0).decision)
        let lagged = try Self.decide(lag: 10)
        let decision = try #require(lagged.decision)
        #expect(decision.step == plain.step && decision.reason == plain.reason)
        #expect(decision.minimumStep.bitPattern == plain.minimumStep.bitPattern, "t* itself does not move")
        #expect(decision.learningRate.bitPattern == lagged.path.learningRate(at: max(0, decision.minimumStep - 10)).bitPattern)
        #expect(decision.learningRate < plain.learningRate)
        #expect(lagged.plan.learningRate(at: decision.step) == decision.learningRate)
        let huge = try #require(try Self.decide(lag: 1_000_000).decision)
        #expect(huge.learningRate == lagged.path.learningRate(at: 0), "clamped at step 0")
    }

    @Test func thePapersPolicyIgnoresIt() throws {
        #expect(try Self.decide(lag: 10, policy: .paper).decision == Self.decide(lag: 0, policy: .paper).decision)
    }

    @Test func aConfigurationStoredBeforeItExistedHasNoLag() throws {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 3, totalSteps: 720)
        configuration.lagSteps = 7
        var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(configuration)) as! [String: Any]
        #expect(json["lagSteps"] as? Double == 7)
        json["lagSteps"] = nil
        let decoded = try JSONDecoder().decode(AutoWUConfiguration.self, from: try JSONSerialization.data(withJSONObject: json))
        #expect(decoded.lagSteps == 0)
    }

    @Test(arguments: [-1, 2e6, Double.nan, Double.infinity])
    func aLagOutOfRangeIsRefused(lag: Double) {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 3, totalSteps: 720)
        configuration.lagSteps = lag
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }
}

/// Posteriors are stored as raw doubles now; the arrays of numbers stored before are still read.
@Suite struct StoredPosteriorTests {
    @Test func rawAndOldNumberArraysDecodeToTheSamePosterior() throws {
        let posterior = TestPosterior(steps: [0, 1.5, 3], mean: [2.25, -0.1, .ulpOfOne], deviation: [0.5, 0.25, 1e-300])
        let raw = try JSONEncoder().encode(posterior)
        #expect(!String(decoding: raw, as: UTF8.self).contains("2.25"), "no numbers in the raw form")
        #expect(try JSONDecoder().decode(TestPosterior.self, from: raw) == posterior)
        let old = #"{"steps":[0,1.5,3],"mean":[2.25,-0.1,2.220446049250313e-16],"deviation":[0.5,0.25,1e-300]}"#
        #expect(try JSONDecoder().decode(TestPosterior.self, from: Data(old.utf8)) == posterior)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TestPosterior.self, from: Data(#"{"steps":"AAAA","mean":[],"deviation":[]}"#.utf8)) }
    }

    @Test func theTestPoolsItsPosteriorOnAtMost200PointsOfItsGridBothEndsIncluded() {
        let pool = PosteriorPool(gridCount: 500)
        #expect(pool.indices.count == TestPosterior.maximumPoints && pool.indices.first == 0 && pool.indices.last == 499)
        #expect(zip(pool.indices, pool.indices.dropFirst()).allSatisfy { $0 < $1 })
        #expect(PosteriorPool(gridCount: 50).indices == Array(0..<50))
    }
}

/// A controller's losses are one base64 string in its JSON; histories stored as byte arrays are still read.
@Suite struct StoredLossHistoryTests {
    struct Box: Codable, Equatable { var losses: LossHistory }

    @Test func theHistoryIsOneStringAndTheOldByteArraysDecodeToTheSameLosses() throws {
        let box = Box(losses: LossHistory([1.5, .nan, .infinity, -0.0]))
        let json = String(decoding: try JSONEncoder().encode(box), as: UTF8.self)
        #expect(json.hasPrefix(#"{"losses":""#), "\(json)")
        #expect(try JSONDecoder().decode(Box.self, from: Data(json.utf8)) == box)
        // The stored form is fixed: 1.5's little-endian IEEE-754 bytes, in base64; no losses, an empty string.
        #expect(String(decoding: try JSONEncoder().encode(Box(losses: LossHistory([1.5]))), as: UTF8.self) == #"{"losses":"AAAAAAAA+D8="}"#)
        #expect(String(decoding: try JSONEncoder().encode(Box(losses: LossHistory([]))), as: UTF8.self) == #"{"losses":""}"#)
        #expect(try JSONDecoder().decode(Box.self, from: Data(#"{"losses":""}"#.utf8)).losses.values.isEmpty)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Box.self, from: Data(#"{"losses":"AAAA"}"#.utf8)) }
        let old = #"{"losses":[0,0,0,0,0,0,248,63]}"#  // 1.5 as Data's own coding wrote it
        #expect(try JSONDecoder().decode(Box.self, from: Data(old.utf8)).losses.values == [1.5])
    }
}
