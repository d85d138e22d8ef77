@testable import AutoWUCommands
import AutoWUProtocol
import Foundation
import Testing

/// `autowu top`'s frames, drawn from made-up states: no daemon, no terminal.
struct TopFrameTests {
    /// A job of E = 12, T = 1920, W = 960 at `step`; decided at 625 with LR 0.00919236 when `decided`.
    static func job(_ id: String, step: UInt64, decided: Bool = false, holding: Bool = false) -> Autowu_V1_JobState {
        .with {
            $0.jobID = id
            $0.version = 3
            $0.incarnation = 7
            $0.spec.stepsPerEpoch = 12
            $0.spec.totalSteps = 1920
            $0.stepsSeen = step
            $0.plan.stepsPerEpoch = 12
            $0.plan.decisionDelaySteps = 1
            $0.plan.warmupSteps = 960
            $0.plan.decidedThroughEpoch = Int64(step / 12) - 1
            $0.plan.segments = [.with {
                $0.startStep = 0
                $0.exponential = .with { $0.fromStep = 0; $0.toStep = 960; $0.fromRate = 1e-5; $0.toRate = 1 }
            }]
            $0.lastVerdict = .with {
                $0.tested = step >= 12
                $0.epoch = Int64(step / 12) - 1
                $0.pMin = [0.99, 0.99, 0.98, 0.97, 0.5]
                $0.votes = 4
                $0.streak = decided ? 2 : 1
                $0.holding = holding
            }
            if decided {
                $0.phase = .decay
                $0.plan.final = true
                $0.plan.segments.append(.with {
                    $0.startStep = 625
                    $0.cosine = .with { $0.fromStep = 625; $0.toStep = 1920; $0.fromRate = 0.00919236 }
                })
                $0.decision = .with { $0.reason = "gp_test"; $0.epoch = 51; $0.step = 625; $0.learningRate = 0.00919236 }
            }
        }
    }

    static let daemon = Autowu_V1_DaemonStatus.with {
        $0.version = "autowud 1"
        $0.uptimeMs = 3_723_000
        $0.counters = ["ingest.losses": 5000, "tests.run": 40, "control.error.errorUnauthorized": 2]
    }

    @Test func columnsLineUpAndNumbersAlignRight() {
        let lines = TopFrame(daemon: Self.daemon, jobs: [Self.job("a", step: 100), Self.job("a-much-longer-job-id", step: 7)]).lines()
        #expect(lines[0] == "autowud 1  up 1:02:03  2 jobs  - reports/s  - tests/s  2 errors")
        #expect(lines[1] == "")
        let table = Array(lines[2...])
        #expect(table.count == 3)
        // Every column starts at the same offset in every row: LR is left-aligned, STEP right-aligned before it.
        // LR now is the plan's LR at steps_seen, 1e-5 * 1e5^(step / 960).
        let lrColumn = table[0].range(of: "LR")!.lowerBound.utf16Offset(in: table[0])
        for (row, step) in zip(table.dropFirst(), [100.0, 7]) {
            #expect(row.dropFirst(lrColumn).hasPrefix(TopFrame.rateText(1e-5 * pow(1e5, step / 960)) + " "), "\(row)")
        }
        #expect(table[1].hasPrefix("a                     warmup"))
        let stepEnd = table[0].range(of: "STEP")!.upperBound.utf16Offset(in: table[0])
        #expect(table[1].prefix(stepEnd).hasSuffix(" 100"))
        #expect(table[2].prefix(stepEnd).hasSuffix("   7"))
    }

    @Test func aDecidedJobShowsItsSwitchAndAnUndecidedOneADash() {
        let rows = TopFrame.table([Self.job("done", step: 638, decided: true), Self.job("held", step: 613, holding: true)])
        #expect(rows[0].hasSuffix("SWITCH"))
        #expect(rows[1].hasPrefix("done  decay"))
        #expect(rows[1].hasSuffix("2       step 625  lr 0.009192  gp_test"), "\(rows[1])")
        #expect(rows[2].hasPrefix("held  warmup"))
        #expect(rows[2].hasSuffix("1 hold  -"), "\(rows[2])")
        let cells = TopFrame.cells(Self.job("done", step: 638, decided: true))
        #expect(cells == ["done", "decay", "53", "638", TopFrame.rateText(0.00919236 * 0.5 * (1 + cos(Double.pi * 13 / 1295))),
                          "52", "4/5", "2", "step 625  lr 0.009192  gp_test"])
    }

    @Test func linesAreCutToTheTerminalsWidthAndHeight() {
        let jobs = (0..<30).map { Self.job(String(format: "job-%02d", $0), step: UInt64($0 * 12), decided: $0 % 2 == 0) }
        let lines = TopFrame(daemon: Self.daemon, jobs: jobs, width: 50, height: 10).lines()
        #expect(lines.count == 10)
        #expect(lines.allSatisfy { $0.count <= 50 })
        #expect(lines[3].count == 50 && lines[3].hasSuffix("~"), "a decided row is longer than 50: \(lines[3])")
        #expect(lines[2].hasPrefix("JOB"))
        #expect(lines[3].hasPrefix("job-00"))
        // Header (2) + titles + 6 rows + the rest counted.
        #expect(lines[8].hasPrefix("job-05"))
        #expect(lines[9] == "+24 more jobs")
        // Not a terminal: nothing cut.
        let all = TopFrame(daemon: Self.daemon, jobs: jobs).lines()
        #expect(all.count == 2 + 1 + 30 && all.contains { $0.count > 50 })
        // A long job id is cut in its column, so the rest of the row stays.
        let long = TopFrame.cells(Self.job(String(repeating: "x", count: 128), step: 12))[0]
        #expect(long.count == TopFrame.jobColumnLimit && long.hasSuffix("~"))
        #expect(TopFrame.truncate("abc", to: 3) == "abc" && TopFrame.truncate("abcd", to: 3) == "ab~" && TopFrame.truncate("abcd", to: 0).isEmpty)
    }

    @Test func ratesComeFromTwoCounterSnapshots() throws {
        let earlier = CounterSample(uptimeMilliseconds: 10_000, counters: [
            "ingest.losses": 1_000, "tests.run": 10, "control.error.errorUnauthorized": 1, "control.error.errorTimeout": 5])
        let later = CounterSample(uptimeMilliseconds: 12_000, counters: [
            "ingest.losses": 2_480, "tests.run": 12, "control.error.errorUnauthorized": 3, "control.error.errorTimeout": 50,
            "ingest.malformed": 1])
        let rates = try #require(DaemonRates(from: earlier, to: later))
        #expect(rates.reportsPerSecond == 740)
        #expect(rates.testsPerSecond == 1)
        // Timeouts answer waiting snapshots: not errors.
        #expect(later.errors == 4 && rates.newErrors == 3)
        // A restarted daemon (uptime or counters back to small numbers) gives no rate, not a negative one.
        #expect(DaemonRates(from: later, to: earlier) == nil)
        #expect(DaemonRates(from: later, to: CounterSample(uptimeMilliseconds: 13_000, counters: ["ingest.losses": 5])) == nil)

        var daemon = Self.daemon
        daemon.counters = later.counters
        let header = TopFrame(daemon: daemon, rates: rates).lines()[0]
        #expect(header == "autowud 1  up 1:02:03  0 jobs  740.0 reports/s  1.00 tests/s  4 errors (+3)")
    }

    @Test func anUnreachableDaemonIsSaidSoInTheHeader() {
        let lines = TopFrame(problem: "autowud at tcp://127.0.0.1:1 is not reachable (no reply); retrying").lines()
        #expect(lines == ["autowud: no answer yet", "! autowud at tcp://127.0.0.1:1 is not reachable (no reply); retrying", "",
                          "JOB  PHASE  EPOCH  STEP  LR  TESTED  VOTES  STREAK  SWITCH", "(no jobs)"])
    }

    @Test func theTableKeepsTheNewestStateOfEachJob() {
        var table = LiveJobTable()
        var state = Self.job("a", step: 12)
        let first = table.apply(state)
        #expect(first)
        var older = state
        older.version = 2
        older.stepsSeen = 1
        let stale = table.apply(older)
        #expect(!stale)
        #expect(table.jobs["a"]?.stepsSeen == 12)
        // Another incarnation is another job under the same id, whatever its version.
        older.incarnation = 8
        let reborn = table.apply(older)
        #expect(reborn)
        #expect(table.jobs["a"]?.stepsSeen == 1)
        state.jobID = "b"
        table.apply(state)
        // A full list drops the jobs it no longer holds (expired).
        table.replace(with: [state])
        #expect(table.sorted.map(\.jobID) == ["b"])
    }
}
