import AutoWU
import AutoWUProtocol
import AutoWUStore
import Dispatch
import Foundation

/// The end-of-epoch test of one job, run off the I/O thread on the job's queue. It works on a copy of the
/// controller and hands back the new state with its store records; the I/O thread has them written (group
/// commit) before it publishes anything: a verdict is never shown before it is durable.
enum EpochTest {
    struct Work: Sendable {
        var jobID: String
        var spec: Autowu_V1_JobSpec
        var access: JobAccess
        var controller: WarmupController
        var epoch: Job.ClosedEpoch
        var solver: SolverKind
        var version: UInt64
        var incarnation: UInt64
        var stepsSeen: UInt64
    }

    struct Result: Sendable {
        var jobID: String
        var epoch: Int
        var controller: WarmupController
        var state: Autowu_V1_JobState
        /// What the store must hold before `state` is published.
        var record: (job: StoredJob, verdict: StoredVerdict?)?
        /// The epoch's losses, to test it again if its outcome could not be stored.
        var closed: Job.ClosedEpoch
        var failure: String?
    }

    static func run(_ work: Work) -> Result {
        var controller = work.controller
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            var verdict = try controller.endEpoch(work.epoch.losses, solver: work.solver)
            if verdict.decision == nil { verdict.decision = controller.concludeIfNoTestRemains() }
            let micros = (DispatchTime.now().uptimeNanoseconds - started) / 1000
            let wireVerdict = verdict.wire(testMicros: micros, reportsMissing: work.epoch.missing,
                                             silentRanks: (work.epoch.silent.count, work.epoch.silent.first))
            var state = JobStateBuilder.state(jobID: work.jobID, spec: work.spec, controller: controller,
                                              version: work.version + 1, stepsSeen: work.stepsSeen, lastVerdict: wireVerdict)
            state.incarnation = work.incarnation
            let now = Date().timeIntervalSince1970
            let job = StoredJob(jobID: work.jobID, spec: try work.spec.serializedBytes(), tokenHash: work.access.tokenHash,
                                controller: try controller.persisted(), state: try state.serializedBytes(),
                                version: Int64(state.version), phase: controller.isWarmingUp ? "warmup" : "decay", updatedAt: now,
                                ownerUID: work.access.ownerUID)
            // For `autowu plot` and `autowu history`; the store keeps only the latest posterior.
            let posterior = verdict.posterior
            let stored = StoredVerdict(jobID: work.jobID, epoch: Int64(work.epoch.epoch),
                                       verdict: try wireVerdict.serializedBytes(), recordedAt: now,
                                       model: try verdict.check?.model.map { try json($0) }, posterior: try posterior.map { try json($0) })
            return Result(jobID: work.jobID, epoch: work.epoch.epoch, controller: controller, state: state,
                          record: (job, stored), closed: work.epoch, failure: nil)
        } catch {
            return Result(jobID: work.jobID, epoch: work.epoch.epoch, controller: work.controller,
                          state: Autowu_V1_JobState(), record: nil, closed: work.epoch, failure: "\(error)")
        }
    }

    private static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }
}
