import ArgumentParser
import AutoWU
import AutoWUClient
import AutoWUProtocol
import Foundation
import SwiftProtobuf

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List the daemon's jobs: phase, step, LR, last test, switch.")

    @Argument(help: "Show only this job.")
    var job: String?

    @Option(help: "The daemon's control endpoint tcp://HOST:PORT; default: AUTOWU_* or local defaults.")
    var endpoint: String?

    @Option(help: "A job's token (default: AUTOWU_TOKEN). A daemon shows a job to its token's holders, and to its owner and admins by their MUNGE credential, which is sent wherever munged runs.")
    var token = ProcessInfo.processInfo.environment["AUTOWU_TOKEN"] ?? ""

    @Flag(help: "Also print the daemon's counters (messages, drops, errors).")
    var counters = false

    @Flag(help: "Print the reply as JSON (the proto3 JSON mapping of autowu.v1.JobList).")
    var json = false

    @Flag(help: "Watch the jobs live, as `autowu top` does (q quits).")
    var watch = false

    @Option(help: "With --watch: seconds between frames.")
    var interval = 1.0

    func run() throws {
        if watch {
            // The same parsing and validation as `autowu top`.
            let arguments = ["--interval", "\(interval)", "--token", token] + (endpoint.map { ["--endpoint", $0] } ?? []) + (job.map { ["--", $0] } ?? [])
            let top = try TopCommand.parse(arguments)
            try top.run()
            return
        }
        let reply: Autowu_V1_Reply
        do {
            let endpoints = try DaemonEndpoints.fromEnvironment(base: endpoint)
            reply = try DaemonQuery.status(jobID: job ?? "", token: token, endpoints: endpoints)
        } catch {
            throw CommandFailure(message: "error: \(error)")
        }
        switch reply.body {
        case .jobs(let list)?:
            if json {
                print(try list.jsonString())
            } else {
                print(Self.table(list, counters: counters), terminator: "")
                if job == nil, let live = list.daemon.counters["jobs.live"], live > UInt64(list.jobs.count) {
                    print("(\(live - UInt64(list.jobs.count)) more jobs of this daemon are not shown: a job shows to its token (AUTOWU_TOKEN or --token), its owner's MUNGE credential and admins)")
                }
            }
        case .error(let error)?:
            throw CommandFailure(message: "error: \(error.code): \(error.message)")
        default:
            throw CommandFailure(message: "error: unexpected reply from the daemon")
        }
    }

    static func table(_ list: Autowu_V1_JobList, counters: Bool) -> String {
        var rows = [["JOB", "PHASE", "STEP", "LR", "LAST TEST", "SWITCH"]]
        for job in list.jobs {
            let plan = try? RankPlan(wire: job.plan)
            let step = Int(job.stepsSeen)
            let rate = plan.map { String(format: "%.4g", $0.schedule.learningRate(at: step)) } ?? "-"
            var last = "-"
            if job.hasLastVerdict, job.lastVerdict.tested {
                let v = job.lastVerdict
                last = "epoch \(v.epoch): \(v.votes)/\(v.pMin.count) votes, streak \(v.streak)"
                    + (v.diverged ? ", diverged" : "")
            }
            var decided = "-"
            if job.hasDecision {
                decided = "\(job.decision.reason) at step \(job.decision.step), lr \(String(format: "%.4g", job.decision.learningRate))"
            }
            rows.append([job.jobID, job.phase.label, "\(step)", rate, last, decided])
        }
        var out = format(rows)
        if list.jobs.isEmpty { out += "(no jobs)\n" }
        if counters {
            out += "\n" + format([["COUNTER", "VALUE"]] + list.daemon.counters.sorted { $0.key < $1.key }.map { [$0.key, "\($0.value)"] })
        }
        return out
    }

    private static func format(_ rows: [[String]]) -> String {
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }
}
