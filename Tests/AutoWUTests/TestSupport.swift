import Foundation
@testable import AutoWU
import AutoWUCommands

/// Paths inside the repository, found from this file's location (tests run from any directory).
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static func trace(_ name: String) throws -> LossTrace { try LossTrace.read(path: path("traces/" + name)) }
}

/// A deterministic noise source for synthetic traces (not the controller's generator).
struct TestRandom {
    var sampler: SubsetSampler
    init(seed: UInt64) { sampler = SubsetSampler(seed: seed) }
    mutating func uniform() -> Double { Double(sampler.next() >> 11) / Double(1 << 53) }
    /// Standard normal by Box-Muller.
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
    mutating func integer(_ range: ClosedRange<Int>) -> Int { range.lowerBound + sampler.next(below: range.count) }
}

func relativeDifference(_ a: Double, _ b: Double) -> Double {
    abs(a - b) / max(abs(a), abs(b), 1e-300)
}
