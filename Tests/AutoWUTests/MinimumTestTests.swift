import Foundation
import Testing
@testable import AutoWU

/// The paper's test (the robust one standardises first: RobustTestTests).
@Suite struct MinimumTestTests {
    let test = MinimumTest(settings: .paper, solver: DenseCholeskySolver())

    func run(_ losses: [Double], seed: UInt64 = 0) -> MinimumTestResult {
        var fit = HyperparameterFit(parameters: RawHyperparameters(constant: 0, initialNoise: 1e-3, noiseFloor: 1e-4),
                                    optimizer: AdamOptimizer(dimension: 3))
        var sampler = SubsetSampler(seed: seed)
        return test.run(losses: losses, fit: &fit, sampler: &sampler)
    }

    @Test func aCurveRisingAtTheEndHasItsMinimumInThePast() {
        var random = TestRandom(seed: 11)
        let losses = (0..<300).map { i -> Double in
            let x = Double(i) / 300
            return 3 * (x - 0.5) * (x - 0.5) + 0.02 * random.normal()
        }
        let result = run(losses)
        #expect(result.pMin.allSatisfy { $0 > 0.99 }, "\(result.pMin)")
        #expect(result.positive && result.votes == 5)
        #expect(result.argminX.allSatisfy { abs($0 - 0.5) < 0.08 }, "\(result.argminX)")
    }

    @Test func aSteadilyFallingCurveHasNot() {
        var random = TestRandom(seed: 12)
        let losses = (0..<300).map { i in 2 - 20 * Double(i) / 300 + 0.02 * random.normal() }
        let result = run(losses)
        #expect(result.pMin.allSatisfy { $0 < 0.05 }, "\(result.pMin)")
        #expect(!result.positive && result.votes == 0)
        #expect(result.argminX.allSatisfy { $0 > 0.99 })
        // The robust test sees the same line in units of its noise (a range of ~1000 deviations): less sure
        // that the minimum is "now", but it votes no more than the paper's.
        var fit = MinimumTest<LowRankSolver>.initialFit(MinimumTestSettings()), sampler = SubsetSampler(seed: 0)
        let robust = MinimumTest(settings: MinimumTestSettings(), solver: DenseCholeskySolver()).run(losses: losses, fit: &fit, sampler: &sampler)
        #expect(robust.votes == 0 && !robust.positive, "\(robust.pMin)")
    }

    @Test func nonFiniteLossesAreDroppedButKeepTheirIndex() {
        var random = TestRandom(seed: 13)
        var losses = (0..<300).map { i -> Double in
            let x = Double(i) / 300
            return 3 * (x - 0.5) * (x - 0.5) + 0.02 * random.normal()
        }
        let clean = run(losses)
        for i in stride(from: 5, to: 300, by: 7) { losses[i] = i % 2 == 0 ? .nan : .infinity }
        let holed = run(losses)
        #expect(holed.finitePoints == 300 - 43)
        #expect(holed.positive)
        // Had the holes shifted the indices, the minimum would move towards x = 0.5 * 257 / 300.
        #expect(zip(holed.argminX, clean.argminX).allSatisfy { abs($0 - $1) < 0.03 })
    }

    @Test func noFiniteLossIsNoEvidence() {
        let result = run(Array(repeating: .nan, count: 50))
        #expect(!result.positive && result.finitePoints == 0 && result.pMin == [0, 0, 0, 0, 0])
    }

    @Test func subsetsAreSortedDistinctAndReproducible() {
        var a = SubsetSampler(seed: 42), b = SubsetSampler(seed: 42), c = SubsetSampler(seed: 43)
        let population = Array(0..<2000)
        let first = a.sortedSubset(of: population, size: 500)
        #expect(first.count == 500 && Set(first).count == 500 && first == first.sorted())
        #expect(first == b.sortedSubset(of: population, size: 500))
        #expect(first != c.sortedSubset(of: population, size: 500))
        // A small population is taken whole and draws nothing.
        let before = a.state
        #expect(a.sortedSubset(of: [3, 9, 11], size: 5) == [3, 9, 11])
        #expect(a.state == before)
    }

    @Test func boundedDrawsAreUniform() {
        var sampler = SubsetSampler(seed: 5)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[sampler.next(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 }, "\(counts)")
    }

    /// Counts the posteriors asked of the fast solver.
    final class CountingSolver: GaussianProcessSolver, @unchecked Sendable {
        let inner = LowRankSolver()
        private(set) var posteriors = 0
        func marginalLogLikelihood(inputs: [Double], targets: [Double], lengthscale: Double) -> LowRankMarginalLogLikelihood {
            inner.marginalLogLikelihood(inputs: inputs, targets: targets, lengthscale: lengthscale)
        }
        func posterior(inputs: [Double], targets: [Double], model: GaussianProcessModel, grid: [Double]) -> GridPosterior {
            posteriors += 1
            return inner.posterior(inputs: inputs, targets: targets, model: model, grid: grid)
        }
    }

    /// With no more finite losses than |C_i| the five subsets are all the losses: one posterior is computed
    /// for them (the daemon's capacity), and the test votes exactly as with five computed ones.
    @Test func subsetsThatCoincideShareOnePosterior() {
        var random = TestRandom(seed: 14)
        for count in [300, 900] {
            let losses = (0..<count).map { i -> Double in
                let x = Double(i) / Double(count)
                return 3 * (x - 0.6) * (x - 0.6) + 0.02 * random.normal()
            }
            let settings = MinimumTestSettings()
            let solver = CountingSolver()
            var fit = MinimumTest<LowRankSolver>.initialFit(settings), sampler = SubsetSampler(seed: 3)
            let result = MinimumTest(settings: settings, solver: solver).run(losses: losses, fit: &fit, sampler: &sampler)
            #expect(solver.posteriors == (count <= settings.testSubsetSize ? 1 : settings.testCount), "\(count) losses")

            // The same draws, every subset's posterior computed on its own.
            var again = MinimumTest<LowRankSolver>.initialFit(settings), resampler = SubsetSampler(seed: 3)
            let robust = RobustLosses(losses, window: settings.outlierWindow, threshold: settings.outlierThreshold,
                                      targetNoiseVariance: settings.initialNoise)
            let direct = MinimumTest(settings: settings, solver: LowRankSolver())
            let finite = robust.values.indices.filter { robust.values[$0].isFinite }
            let subsets = direct.drawSubsets(finite: finite, sampler: &resampler)
            again.parameters.constant = finite.reduce(0.0) { $0 + robust.values[$1] } / Double(finite.count)
            let x = { (indices: [Int]) in indices.map { Double($0) / Double(count) } }
            let y = { (indices: [Int]) in indices.map { robust.values[$0] } }
            _ = again.run(on: LowRankSolver().marginalLogLikelihood(inputs: x(subsets.fit), targets: y(subsets.fit), lengthscale: settings.lengthscale),
                          steps: settings.fitSteps, lengthscale: settings.lengthscale, noiseFloor: settings.noiseFloor)
            let model = again.parameters.model(lengthscale: settings.lengthscale, noiseFloor: settings.noiseFloor)
            let expected = subsets.tests.map { subset in
                MinimumTest<LowRankSolver>.minimumEvidence(
                    LowRankSolver().posterior(inputs: x(subset), targets: y(subset), model: model, grid: settings.grid),
                    grid: settings.grid, jitter: settings.differenceJitter)
            }
            #expect(result.pMin == expected.map(\.pMin) && result.argminX == expected.map(\.argminX), "\(count) losses")
            #expect(result.positive, "\(result.pMin)")
        }
    }
}
