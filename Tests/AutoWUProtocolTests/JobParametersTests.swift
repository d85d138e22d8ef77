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

/// The lag correction's field, as the flat pace's.
@Suite struct LagStepsParameterTests {
    @Test func theLagReachesTheControllerAndSurvivesNormalisation() throws {
        let lagged = JobParametersTests.spec { $0.lagSteps = 10 }
        #expect(try JobParameters(spec: lagged, jobID: "j").configuration.lagSteps == 10)
        let normalized = try lagged.normalized(jobID: "j")
        #expect(normalized.hyperparameters.hasLagSteps && normalized.hyperparameters.lagSteps == 10)
        #expect(!(try JobParametersTests.spec().normalized(jobID: "j")).hyperparameters.hasLagSteps, "0 is not spelled out")
        #expect(try JobParametersTests.spec { $0.lagSteps = 0 }.normalized(jobID: "j") == JobParametersTests.spec().normalized(jobID: "j"))
    }

    @Test(arguments: [-1, 2e6, Double.nan, Double.infinity])
    func aLagOutOfRangeIsAnInvalidArgument(lag: Double) {
        #expect(throws: ProtocolError.self) { try JobParameters(spec: JobParametersTests.spec { $0.lagSteps = lag }, jobID: "j") }
    }
}

/// The climb limit's field: default 40, spelled out only when it differs, 0 turns it off.
@Suite struct StepsPerDecadeParameterTests {
    @Test func theLimitReachesTheControllerAndSurvivesNormalisation() throws {
        #expect(try JobParameters(spec: JobParametersTests.spec(), jobID: "j").configuration.stepsPerDecade == 40)
        let off = JobParametersTests.spec { $0.stepsPerDecade = 0 }
        #expect(try JobParameters(spec: off, jobID: "j").configuration.stepsPerDecade == 0)
        let normalized = try off.normalized(jobID: "j")
        #expect(normalized.hyperparameters.hasStepsPerDecade && normalized.hyperparameters.stepsPerDecade == 0)
        #expect(!(try JobParametersTests.spec().normalized(jobID: "j")).hyperparameters.hasStepsPerDecade, "40 is not spelled out")
        #expect(try JobParametersTests.spec { $0.stepsPerDecade = 40 }.normalized(jobID: "j") == JobParametersTests.spec().normalized(jobID: "j"))
        #expect(try off.normalized(jobID: "j") != JobParametersTests.spec().normalized(jobID: "j"))
    }

    @Test(arguments: [-1, 2e6, Double.nan, Double.infinity])
    func aLimitOutOfRangeIsAnInvalidArgument(limit: Double) {
        #expect(throws: ProtocolError.self) { try JobParameters(spec: JobParametersTests.spec { $0.stepsPerDecade = limit }, jobID: "j") }
    }
}
