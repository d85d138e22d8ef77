import AutoWUProtocol
import Foundation

/// One frame of `autowu top`, as lines of text: a pure function of what the view knows, so it is tested
/// without a daemon or a terminal.
struct TopFrame: Sendable {
    /// The latest `Status` reply's daemon figures; nil before the first.
    var daemon: Autowu_V1_DaemonStatus?
    /// The daemon's uptime now (the reply's, plus the time since it came).
    var uptimeMilliseconds: UInt64?
    /// Between the last two `Status` replies; nil until there are two.
    var rates: DaemonRates?
    /// Why the daemon's figures may be stale (it does not answer); shown in the header.
    var problem: String?
    var jobs: [Autowu_V1_JobState] = []
    /// The terminal's size; nil: no limit (the output is not a terminal).
    var width: Int?
    var height: Int?

    /// Job ids longer than this are cut so that the other columns stay on screen.
    static let jobColumnLimit = 40

    func lines() -> [String] {
        var header = [headline]
        if let problem { header.append("! \(problem)") }
        header.append("")
        var body = Self.table(jobs)
        if jobs.isEmpty { body.append("(no jobs)") }
        if let height, body.count > height - header.count, height - header.count >= 2 {
            // Keep the column titles and say how many rows did not fit.
            let shown = height - header.count - 2
            body = [body[0]] + body.dropFirst().prefix(shown) + ["+\(jobs.count - shown) more jobs"]
        }
        var all = header + body
        if let height { all = Array(all.prefix(max(0, height))) }
        guard let width else { return all }
        return all.map { Self.truncate($0, to: width) }
    }

    private var headline: String {
        guard let daemon else { return "autowud: no answer yet" }
        // Ping's version is the release ("0.1.0"); older daemons sent "autowud 1", name included.
        let version = daemon.version
        var parts = [version.hasPrefix("autowud") ? version : "autowud \(version)".trimmingCharacters(in: .whitespaces)]
        parts.append("up " + Self.duration(milliseconds: uptimeMilliseconds ?? daemon.uptimeMs))
        parts.append(jobs.count == 1 ? "1 job" : "\(jobs.count) jobs")
        if let rates {
            parts.append(String(format: "%.1f reports/s", rates.reportsPerSecond))
            parts.append(String(format: "%.2f tests/s", rates.testsPerSecond))
        } else {
            parts += ["- reports/s", "- tests/s"]
        }
        let errors = CounterSample(daemon).errors
        parts.append("\(errors) errors" + (rates.map { " (+\($0.newErrors))" } ?? ""))
        return parts.joined(separator: "  ")
    }

    private struct Column {
        var title: String
        var rightAligned = false
    }

    private static let columns = [
        Column(title: "JOB"), Column(title: "PHASE"), Column(title: "EPOCH", rightAligned: true),
        Column(title: "STEP", rightAligned: true), Column(title: "LR"), Column(title: "TESTED", rightAligned: true),
        Column(title: "VOTES", rightAligned: true), Column(title: "STREAK"), Column(title: "SWITCH"),
    ]

    /// Column titles and one row per job, columns as wide as their widest cell.
    static func table(_ jobs: [Autowu_V1_JobState]) -> [String] {
        let rows = [columns.map(\.title)] + jobs.map(cells)
        let widths = columns.indices.map { index in rows.map { $0[index].count }.max() ?? 0 }
        return rows.map { row in
            columns.indices.map { index in
                let cell = row[index], pad = String(repeating: " ", count: widths[index] - cell.count)
                return columns[index].rightAligned ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }

    static func cells(_ job: Autowu_V1_JobState) -> [String] {
        let step = Int(clamping: job.stepsSeen)
        let perEpoch = Int(clamping: job.spec.stepsPerEpoch)
        let epoch = perEpoch > 0 ? "\(step / perEpoch)" : "-"
        let rate = (try? RankPlan(wire: job.plan)).map { rateText($0.schedule.learningRate(at: step)) } ?? "-"
        var tested = "-", votes = "-", streak = "-"
        if job.hasLastVerdict, job.lastVerdict.tested {
            let verdict = job.lastVerdict
            tested = "\(verdict.epoch)"
            votes = "\(verdict.votes)/\(verdict.pMin.count)"
            streak = "\(verdict.streak)" + (verdict.holding ? " hold" : "") + (verdict.diverged ? " diverged" : "")
        }
        var decided = "-"
        if job.hasDecision {
            let decision = job.decision
            decided = "step \(decision.step)  lr \(rateText(decision.learningRate))  \(decision.reason)"
        }
        return [truncate(job.jobID, to: jobColumnLimit), job.phase.label, epoch, "\(step)", rate, tested, votes, streak, decided]
    }

    static func rateText(_ rate: Double) -> String { String(format: "%.4g", rate) }

    static func duration(milliseconds: UInt64) -> String {
        let seconds = milliseconds / 1000
        let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60)
        let clock = String(format: "%d:%02d:%02d", hours, minutes, seconds % 60)
        return days > 0 ? "\(days)d \(clock)" : clock
    }

    /// At most `width` characters; a cut line ends in "~" so that it is not taken for the whole.
    static func truncate(_ line: String, to width: Int) -> String {
        guard line.count > width else { return line }
        return width <= 0 ? "" : String(line.prefix(width - 1)) + "~"
    }
}
