import AutoWU
import Foundation

extension StoredJobRecord {
    /// The job, its decision, then one line per stored verdict.
    func historyTable() -> String {
        var out = "job \(jobID) (\(phase)): \(decisionText)\n"
        out += "epoch   step          lr  P_min (one per subset)          votes streak outliers  fit: constant outputscale     noise  note\n"
        for entry in entries {
            let v = entry.verdict
            var line = "\(pad(v.epoch, 5)) \(pad(v.step, 6)) \(String(format: "%11.4e", v.lr))  "
            guard v.tested else {
                out += line + "no test (past the warmup limit)\n"
                continue
            }
            line += v.pMin.map { String(format: "%.3f", $0) }.joined(separator: " ").padding(toLength: 30, withPad: " ", startingAt: 0)
            line += " \(pad(v.votes, 5)) \(pad(v.streak, 6)) \(pad(v.outliers, 8))  "
            if let model = entry.model {
                line += String(format: "%13.4g %11.4g %9.3g", model.mean.constant, model.kernel.outputscale, model.likelihood.noise)
            } else {
                line += "            -           -         -"
            }
            var notes: [String] = []
            if v.diverged { notes.append("diverged") }
            if v.holding { notes.append("hold") }
            if !v.note.isEmpty { notes.append(v.note) }
            if entry.posterior != nil { notes.append("posterior kept") }
            out += notes.isEmpty ? line + "\n" : line + "  " + notes.joined(separator: "; ") + "\n"
        }
        if entries.isEmpty { out += "(no tests yet)\n" }
        return out
    }

    var decisionText: String {
        guard let d = controller.decision else { return "no switch" }
        return "switch after epoch \(d.epoch) at step \(d.step), lr \(String(format: "%.6g", d.learningRate)) (\(d.reason.rawValue), t* = \(String(format: "%.1f", d.minimumStep)))"
    }

    /// The same as one JSON object (snake_case keys, sorted).
    func historyJSON() throws -> String {
        struct Model: Encodable { var constant, outputscale, lengthscale, noise: Double }
        struct Test: Encodable {
            var epoch: Int64, step: UInt64, lr: Double, tested: Bool, p_min: [Double], votes: UInt32, positive: Bool
            var streak: UInt32, outliers: UInt32, diverged: Bool, holding: Bool, note: String?, model: Model?
            var posterior_kept: Bool
        }
        struct Decision: Encodable { var reason: String, epoch: Int, step: Int, lr: Double, minimum_step: Double }
        struct History: Encodable { var job_id: String, phase: String, decision: Decision?, tests: [Test] }
        let tests = entries.map { entry in
            let v = entry.verdict
            return Test(epoch: v.epoch, step: v.step, lr: v.lr, tested: v.tested, p_min: v.pMin, votes: v.votes,
                        positive: v.positive, streak: v.streak, outliers: v.outliers, diverged: v.diverged,
                        holding: v.holding, note: v.note.isEmpty ? nil : v.note,
                        model: entry.model.map { Model(constant: $0.mean.constant, outputscale: $0.kernel.outputscale,
                                                       lengthscale: $0.kernel.lengthscale, noise: $0.likelihood.noise) },
                        posterior_kept: entry.posterior != nil)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let history = History(job_id: jobID, phase: phase, decision: controller.decision.map {
            Decision(reason: $0.reason.rawValue, epoch: $0.epoch, step: $0.step, lr: $0.learningRate, minimum_step: $0.minimumStep)
        }, tests: tests)
        return String(decoding: try encoder.encode(history), as: UTF8.self)
    }
}

private func pad(_ value: some BinaryInteger, _ width: Int) -> String {
    let s = String(value)
    return String(repeating: " ", count: max(0, width - s.count)) + s
}
