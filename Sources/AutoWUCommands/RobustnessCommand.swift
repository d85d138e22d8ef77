import ArgumentParser
import AutoWU
import Foundation

struct RobustnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "robustness",
        abstract: "How far spikes, bursts and rescalings move the decision, for the robust and the paper test.",
        discussion: """
            Each TRACE (a CSV as for `autowu replay`, named like `..._spe<E>_..._W<W>.csv`, so that steps per \
            epoch E and total steps T = 2W come from its name) is replayed clean and with single-step spikes \
            (x10, x1000, 1e300, -1e300) and a 3-step x10 burst at 25, 50 and 75 % of the clean switch step, \
            every loss rescaled (x0.01, x0.1, x10, x100) and shifted (+100). A perturbed decision is kept when \
            its switch epoch is within 2 epochs and its LR within a factor 1.25 of the clean one.
            """)

    @Argument(help: "Loss traces (CSV).")
    var traces: [String]

    @Option(help: "The warmup policy the decisions are replayed under.")
    var policy: WarmupPolicy = .paper

    @Option(help: "The robust test's outlier threshold, in robust noise deviations.")
    var outlierThreshold = MinimumTestSettings().outlierThreshold

    @Option(help: "The robust test's outlier window, in losses.")
    var outlierWindow = MinimumTestSettings().outlierWindow

    @Flag(help: "List every perturbation, not only the summary per trace.")
    var verbose = false

    func run() throws {
        var study = RobustnessStudy()
        study.policy = policy
        study.outlierThreshold = outlierThreshold
        study.outlierWindow = outlierWindow
        var totals: [MinimumTestKind: (kept: Int, all: Int)] = [:]
        print("trace                                          test    clean switch         kept  moved")
        for path in traces {
            let name = URL(fileURLWithPath: path).lastPathComponent
            guard let shape = RobustnessStudy.shape(fromName: name) else {
                throw CommandFailure(message: "error: \(path): the name does not say steps per epoch and W (expected ..._spe<E>_..._W<W>.csv)")
            }
            let trace: LossTrace
            do { trace = try LossTrace.read(path: path) } catch let error as LossTrace.ParseError {
                throw CommandFailure(message: "error: \(error)")
            }
            for test in MinimumTestKind.allCases {
                let outcomes = try study.run(trace: name, losses: trace.losses, stepsPerEpoch: shape.stepsPerEpoch,
                                             totalSteps: shape.totalSteps, test: test)
                let kept = outcomes.filter(\.kept).count
                totals[test, default: (0, 0)].kept += kept
                totals[test, default: (0, 0)].all += outcomes.count
                let moved = outcomes.filter { !$0.kept }.map(\.perturbation).joined(separator: ", ")
                print("\(name.padded(46)) \(test.rawValue.padded(7)) \(describe(outcomes.first?.clean).padded(20)) \(String(kept).leftPadded(2))/\(outcomes.count)  \(moved)")
                if verbose {
                    for o in outcomes {
                        print("    \(o.perturbation.padded(22)) \(describe(o.perturbed).padded(20)) \(o.kept ? "kept" : "MOVED")")
                    }
                }
            }
        }
        for test in MinimumTestKind.allCases {
            let t = totals[test, default: (0, 0)]
            print("\(test.rawValue) test: \(t.kept) of \(t.all) perturbed decisions within 2 epochs and x1.25 of the clean one")
        }
    }

    private func describe(_ decision: SwitchDecision?) -> String {
        guard let decision else { return "no switch" }
        return "e\(decision.epoch) lr \(String(format: "%.3g", decision.learningRate))"
    }
}

private extension String {
    func padded(_ width: Int) -> String { padding(toLength: max(width, count), withPad: " ", startingAt: 0) }
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
