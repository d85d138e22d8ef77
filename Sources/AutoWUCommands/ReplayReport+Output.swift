import AutoWU
import Foundation

extension ReplayReport {
    /// Sorted keys and Swift's shortest round-tripping doubles: the same replay gives the same bytes.
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// One line per test, then the decision.
    public func timeline(configuration: AutoWUConfiguration) -> String {
        var out = "epoch   step          lr  P_min (one per subset)                    votes streak\n"
        for v in verdicts {
            guard let check = v.check else { continue }
            let p = check.pMin.map { format($0, "%.3f") }.joined(separator: " ")
            var flag = v.diverged ? "  diverged: minimum located in the history before this epoch" : ""
            if v.holding { flag += "  hold" }
            if check.outliers > 0 { flag += "  \(check.outliers) outliers set aside" }
            if let note = check.note { flag += "  (\(note))" }
            out += "\(pad(v.epoch, 5)) \(pad(v.step, 6)) \(format(v.learningRate, "%11.4e"))  \(p.padding(toLength: 40, withPad: " ", startingAt: 0)) \(pad(check.votes, 5)) \(pad(v.streak, 6))\(flag)\n"
        }
        if let d = decision {
            let why: String
            switch d.reason {
            case .gpTest: why = "\(configuration.patience) positive tests in a row"
            case .diverged: why = "the loss diverged"
            case .maxWarmup: why = "no minimum found by floor(rho_w * T)"
            case .rebound: why = "the loss climbed back more than half of the way it had come down"
            }
            out += "switch after epoch \(d.epoch) (\(why)): decay from step \(d.step) at lr \(format(d.learningRate, "%.6g"))"
            out += " (t* = \(format(d.minimumStep, "%.1f")))\n"
        } else {
            out += "no switch: the trace ends during the warmup (\(verdicts.count) epochs tested)\n"
        }
        if let start = try? configuration.warmupSchedule(), start.minimumRate > configuration.minimumRate {
            out += "note: the warmup has \(start.warmupSteps) steps, too few to climb from eta_min \(format(configuration.minimumRate, "%g")) "
            out += "at \(format(configuration.stepsPerDecade, "%g")) steps per decade, so its ramp starts at \(format(start.minimumRate, "%.6g")) "
            out += "(the climb limit; --steps-per-decade 0 for the paper's start). The LRs above are that ramp's; the "
            out += "losses were recorded on whatever ramp the trace ran.\n"
        }
        if let firstHold = verdicts.first(where: \.holding) {
            out += "note: the hold policy would have held the LR from step \(firstHold.step + configuration.decisionDelaySteps); "
            out += "this trace was recorded on the plain ramp, so its later losses are the ramp's. The decision is "
            out += "what the test concludes from these losses; its LR is read off the held path (halved after a rebound).\n"
        }
        return out
    }
}

private func format(_ value: Double, _ spec: String) -> String { String(format: spec, value) }
private func pad(_ value: Int, _ width: Int) -> String {
    let s = String(value)
    return String(repeating: " ", count: max(0, width - s.count)) + s
}
