import Foundation
import Testing
@testable import AutoWU

/// The climb limit (docs/decisions.md): under the hold policy the exponential ramp climbs at most one decade
/// per `stepsPerDecade` steps, so a short warmup starts above eta_min and still ends at eta_max at W.
@Suite struct ClimbLimitTests {
    static func configuration(totalSteps: Int, _ change: (inout AutoWUConfiguration) -> Void = { _ in }) -> AutoWUConfiguration {
        var configuration = AutoWUConfiguration(stepsPerEpoch: 4, totalSteps: totalSteps)
        change(&configuration)
        return configuration
    }

    @Test func aShortWarmupStartsWhereItCanClimbAtTheLimit() throws {
        // W = 80 steps at 40 steps per decade: two decades, from 1e-2 to 1.
        let ramp = try Self.configuration(totalSteps: 160).warmupSchedule()
        #expect(ramp.warmupSteps == 80)
        #expect(abs(ramp.minimumRate - 1e-2) < 1e-15)
        #expect(ramp.maximumRate == 1)
        #expect(abs(ramp.learningRate(at: 40) - 0.1) < 1e-12, "one decade per 40 steps")
        let controller = try WarmupController(configuration: Self.configuration(totalSteps: 160))
        #expect(controller.plan.learningRate(at: 0) == ramp.minimumRate, "the plan every rank gets starts there")
    }

    @Test func aLongWarmupKeepsThePapersStart() throws {
        // W = 200 is exactly five decades at 40 steps each: eta_min stays.
        #expect(try Self.configuration(totalSteps: 400).warmupSchedule().minimumRate == 1e-5)
        #expect(try Self.configuration(totalSteps: 5400).warmupSchedule().minimumRate == 1e-5)
        #expect(Self.configuration(totalSteps: 400).climbLimitedStart(warmupSteps: 200) == nil)
        #expect(Self.configuration(totalSteps: 398).climbLimitedStart(warmupSteps: 199) != nil)
    }

    @Test func thePapersPolicyTheLinearRampAndZeroIgnoreIt() throws {
        #expect(try AutoWUConfiguration.paper(stepsPerEpoch: 4, totalSteps: 160).warmupSchedule().minimumRate == 1e-5)
        #expect(try Self.configuration(totalSteps: 160) { $0.warmupShape = .linear }.warmupSchedule().minimumRate == 1e-5)
        #expect(try Self.configuration(totalSteps: 160) { $0.stepsPerDecade = 0 }.warmupSchedule().minimumRate == 1e-5)
    }

    @Test func itFollowsTheUsersRange() throws {
        // eta_max 0.1 over 80 steps: from 1e-3; a user's eta_min above that start wins.
        let lowered = try Self.configuration(totalSteps: 160) { $0.maximumRate = 0.1 }.warmupSchedule()
        #expect(abs(lowered.minimumRate - 1e-3) < 1e-16)
        #expect(try Self.configuration(totalSteps: 160) { $0.minimumRate = 0.05 }.warmupSchedule().minimumRate == 0.05)
        #expect(abs(try Self.configuration(totalSteps: 160) { $0.stepsPerDecade = 80 }.warmupSchedule().minimumRate - 0.1) < 1e-15)
    }

    @Test func aControllerPersistedBeforeItExistedKeepsItsRamp() throws {
        let controller = try WarmupController(configuration: Self.configuration(totalSteps: 160))
        var json = try #require(JSONSerialization.jsonObject(with: Data(controller.persisted())) as? [String: Any])
        var configuration = try #require(json["configuration"] as? [String: Any])
        #expect(configuration["stepsPerDecade"] as? Double == 40)
        configuration["stepsPerDecade"] = nil
        json["configuration"] = configuration
        let decoded = try WarmupController(persisted: Array(JSONSerialization.data(withJSONObject: json)))
        #expect(decoded.configuration.stepsPerDecade == 0)
        #expect(decoded.warmup == controller.warmup, "the stored ramp is the one the job runs")
    }

    @Test(arguments: [-1.0, .nan, .infinity, 1e7])
    func aBadLimitIsRefused(_ limit: Double) {
        #expect(throws: ConfigurationError.self) { try Self.configuration(totalSteps: 160) { $0.stepsPerDecade = limit }.validate() }
    }
}
