import AutoWU
import AutoWUProtocol
@_spi(Fuzzing) import AutoWUDaemon
import Foundation
import SwiftProtobuf

/// The first byte picks what the rest is decoded as; whatever decodes is encoded again and decoded again,
/// and must give the same bytes. What the daemon and clients build from a message is built too: job
/// parameters from a spec, a rank's plan and its LRs and gates from a plan, the controller from its JSON.
enum ProtocolTarget {
    enum Kind: UInt8, CaseIterable {
        case request, reply, lossBatch, event, jobSpec, plan, jobState, controller
    }

    static func run(_ input: UnsafeBufferPointer<UInt8>) {
        guard let first = input.first else { return }
        let kind = Kind.allCases[Int(first) % Kind.allCases.count]
        let bytes = Array(input.dropFirst())
        switch kind {
        case .request: roundTrip(Autowu_V1_Request.self, bytes)
        case .reply:
            if let reply = roundTrip(Autowu_V1_Reply.self, bytes), case .job(let state)? = reply.body { use(state) }
        case .lossBatch: roundTrip(Autowu_V1_LossBatch.self, bytes)
        case .event:
            if let event = roundTrip(Autowu_V1_Event.self, bytes) { use(event.job) }
        case .jobSpec:
            guard let spec = roundTrip(Autowu_V1_JobSpec.self, bytes) else { return }
            // What Register does with a spec: validate, normalise (idempotent), build the controller.
            guard let parameters = try? JobParameters(spec: spec, jobID: "fuzz"),
                  let normalized = try? spec.normalized(jobID: "fuzz") else { return }
            precondition((try? normalized.normalized(jobID: "fuzz")) == normalized, "normalising is idempotent")
            if let controller = try? WarmupController(configuration: parameters.configuration) {
                let encoded = try? controller.persisted()
                precondition(encoded != nil, "a valid job's controller can be stored")
                precondition((try? WarmupController(persisted: encoded!)) != nil, "and read back")
                _ = controller.plan.learningRate(at: controller.warmup.warmupSteps)
            }
        case .plan:
            if let plan = roundTrip(Autowu_V1_Plan.self, bytes) { use(plan) }
        case .jobState:
            if let state = roundTrip(Autowu_V1_JobState.self, bytes) { use(state) }
        case .controller:
            _ = try? WarmupController(persisted: bytes)
        }
    }

    /// Decodes, encodes, decodes again: the two encodings must be equal.
    @discardableResult
    static func roundTrip<M: SwiftProtobuf.Message>(_ type: M.Type, _ bytes: [UInt8]) -> M? {
        guard let message = try? M(serializedBytes: bytes) else { return nil }
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        guard let once: [UInt8] = try? message.serializedBytes(options: options) else {
            preconditionFailure("a decoded \(M.protoMessageName) does not encode")
        }
        guard let again = try? M(serializedBytes: once), let twice: [UInt8] = try? again.serializedBytes(options: options) else {
            preconditionFailure("a re-encoded \(M.protoMessageName) does not decode")
        }
        precondition(once == twice, "\(M.protoMessageName) does not encode to the same bytes twice")
        return message
    }

    /// What a rank does with a state: take its plan, its LRs and its gates.
    static func use(_ state: Autowu_V1_JobState) {
        use(state.plan)
    }

    static func use(_ wire: Autowu_V1_Plan) {
        guard let plan = try? RankPlan(wire: wire) else { return }
        let steps = [0, 1, plan.stepsPerEpoch - 1, plan.stepsPerEpoch, plan.stepsPerEpoch + plan.decisionDelaySteps,
                     plan.warmupSteps, plan.warmupSteps + 1, 1 << 40]
        for step in steps where step >= 0 {
            _ = plan.requiredEpoch(forStep: step)
            _ = plan.learningRate(at: step)
        }
    }
}
