import AutoWU
import Foundation

/// The CPU of one verdict in the daemon, part by part: the end-of-epoch test (`endEpoch`), the controller's
/// persisted form and the posterior's, for a job whose history holds `epochs` epochs of `stepsPerEpoch`
/// losses. The daemon's capacity is bounded by their sum (docs: README "Capacity").
struct VerdictCost {
    var test: Double
    var persistController: Double
    var persistPosterior: Double
    var controllerBytes: Int
    var posteriorBytes: Int

    static func measure(stepsPerEpoch: Int, epochs: Int, repetitions: Int) throws -> VerdictCost {
        let configuration = AutoWUConfiguration(stepsPerEpoch: stepsPerEpoch, totalSteps: 1_000_000)
        var controller = try WarmupController(configuration: configuration)
        var random = SubsetSampler(seed: 11)
        func epochLosses(_ epoch: Int) -> [Double] {
            (0..<stepsPerEpoch).map { i in
                let step = Double(epoch * stepsPerEpoch + i)
                return 2.3 * exp(-step / 400) + 0.2 + 0.05 * (Double(random.nextUniformBits() >> 11) / Double(1 << 53) - 0.5)
            }
        }
        for epoch in 0..<(epochs - 1) { _ = try controller.endEpoch(epochLosses(epoch), solver: .fast) }
        let last = epochLosses(epochs - 1)

        var test: [Double] = [], persist: [Double] = [], posterior: [Double] = []
        var controllerBytes = 0, posteriorBytes = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for _ in 0..<repetitions {
            var copy = controller
            let t0 = DispatchTime.now().uptimeNanoseconds
            let verdict = try copy.endEpoch(last, solver: .fast)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let bytes = try copy.persisted()
            let t2 = DispatchTime.now().uptimeNanoseconds
            let pooled = try verdict.posterior.map { try encoder.encode($0) }
            let t3 = DispatchTime.now().uptimeNanoseconds
            test.append(Double(t1 - t0) / 1000)
            persist.append(Double(t2 - t1) / 1000)
            posterior.append(Double(t3 - t2) / 1000)
            controllerBytes = bytes.count
            posteriorBytes = pooled?.count ?? 0
        }
        func median(_ values: [Double]) -> Double { percentile(values.sorted(), 0.5) }
        return VerdictCost(test: median(test), persistController: median(persist), persistPosterior: median(posterior),
                           controllerBytes: controllerBytes, posteriorBytes: posteriorBytes)
    }

    static func report(quick: Bool) throws {
        print("one verdict's CPU in the daemon (median us): the test, the controller's and the posterior's persisted forms")
        print("losses   test us   controller us (bytes)   posterior us (bytes)   total us")
        for (steps, epochs) in [(100, 3), (100, 10), (500, 10)] {
            let cost = try measure(stepsPerEpoch: steps, epochs: epochs, repetitions: quick ? 20 : 200)
            print(String(format: "%6d %9.1f %15.1f (%6d) %14.1f (%6d) %10.1f", steps * epochs, cost.test,
                         cost.persistController, cost.controllerBytes, cost.persistPosterior, cost.posteriorBytes,
                         cost.test + cost.persistController + cost.persistPosterior))
        }
    }
}
