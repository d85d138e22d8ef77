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
}
