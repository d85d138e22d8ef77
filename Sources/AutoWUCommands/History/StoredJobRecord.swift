import AutoWU
import AutoWUProtocol
import AutoWUStore
import Foundation

/// A job as autowud stored it, decoded: its controller (configuration, losses, plan, decision) and every
/// verdict with what the store kept of its test. Read-only; the daemon may be running.
struct StoredJobRecord {
    struct Entry {
        var verdict: Autowu_V1_Verdict
        /// The test's fitted hyper-parameters; nil for stores from before they were kept.
        var model: GaussianProcessModel?
        /// Only the latest test's is kept.
        var posterior: TestPosterior?
    }

    var jobID: String
    var phase: String
    var controller: WarmupController
    var entries: [Entry]

    /// Any failure is a `CommandFailure`: no store, an unknown job, a record that does not decode.
    static func load(job jobID: String, dataDirectory: String) throws -> StoredJobRecord {
        do {
            let reader = try JobStoreReader(directory: dataDirectory)
            guard let job = try reader.job(jobID) else {
                throw CommandFailure(message: "error: no job '\(jobID)' in the store '\(reader.path)'")
            }
            let controller = try WarmupController(persisted: job.controller)
            let decoder = JSONDecoder()
            let entries = try reader.verdicts(jobID: jobID).map { stored in
                Entry(verdict: try Autowu_V1_Verdict(serializedBytes: stored.verdict),
                      model: try stored.model.map { try decoder.decode(GaussianProcessModel.self, from: Data($0)) },
                      posterior: try stored.posterior.map { try decoder.decode(TestPosterior.self, from: Data($0)) })
            }
            return StoredJobRecord(jobID: jobID, phase: job.phase, controller: controller, entries: entries)
        } catch let failure as CommandFailure {
            throw failure
        } catch let error as StoreError {
            throw CommandFailure(message: "error: \(error)")
        } catch {
            throw CommandFailure(message: "error: job '\(jobID)': a stored record does not decode (\(error))")
        }
    }
}
