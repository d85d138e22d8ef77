import AutoWU
import Testing
@testable import AutoWUProtocol

/// A spec's parameters as the daemon reads and stores them.
@Suite struct JobParametersTests {
    static func spec(_ configure: (inout Autowu_V1_Hyperparameters) -> Void = { _ in }) -> Autowu_V1_JobSpec {
        .with {
            $0.stepsPerEpoch = 4
            $0.totalSteps = 160
            $0.worldSize = 1
            configure(&$0.hyperparameters)
        }
    }

    @Test func theFlatPaceReachesTheControllerAndSurvivesNormalisation() throws {
        let paced = Self.spec { $0.flatPace = 2 }
        #expect(try JobParameters(spec: paced, jobID: "j").configuration.flatPace == 2)
        let normalized = try paced.normalized(jobID: "j")
        #expect(normalized.hyperparameters.hasFlatPace && normalized.hyperparameters.flatPace == 2)
        #expect(try JobParameters(spec: normalized, jobID: "j").configuration.flatPace == 2)
    }

    @Test func withoutAFlatPaceTheNormalisedSpecIsTheOneStoredBeforeItExisted() throws {
        let plain = try Self.spec().normalized(jobID: "j")
        #expect(!plain.hyperparameters.hasFlatPace)
        #expect(try Self.spec { $0.flatPace = 1 }.normalized(jobID: "j") == plain)
    }

    @Test(arguments: [0.5, 0, -1, 101, Double.nan, Double.infinity])
    func aFlatPaceOutOfRangeIsAnInvalidArgument(pace: Double) {
        #expect(throws: ProtocolError.self) { try JobParameters(spec: Self.spec { $0.flatPace = pace }, jobID: "j") }
    }
}
