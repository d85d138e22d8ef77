/// The seeded generator behind the subsets C0..C5: SplitMix64, whose whole state is one UInt64, so a
/// persisted controller resumes the exact same stream of subsets.
public struct SubsetSampler: Sendable, Equatable, Codable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits (also for callers that need a seeded stream of their own).
    public mutating func nextUniformBits() -> UInt64 { next() }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// SplitMix64's finaliser: a bijective scramble of 64 bits.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound, without modulo bias (Lemire's multiply-and-reject).
    mutating func next(below bound: Int) -> Int {
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// `size` elements of `population` (distinct step indices), uniformly without replacement, in increasing
    /// order, chosen as the `size` with the smallest keys under one fresh random salt. The key of an index
    /// does not depend on the rest of the population, so setting one loss aside changes a subset by at most
    /// that one index (the robust test's draw; `sortedSubset` redraws everything instead).
    public mutating func keyedSubset(of population: [Int], size: Int) -> [Int] {
        guard population.count > size else { return population }
        let salt = next()
        func key(_ index: Int) -> UInt64 { Self.mix(salt &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15) }
        // Ties between keys (probability ~n^2 / 2^64) fall back to the index: still deterministic.
        let chosen = population.map { (key: key($0), index: $0) }
            .sorted { $0.key != $1.key ? $0.key < $1.key : $0.index < $1.index }
            .prefix(size).map(\.index)
        return chosen.sorted()
    }

    /// `size` distinct elements of `population`, uniformly without replacement, in increasing order.
    /// A population no larger than `size` is returned whole and draws nothing.
    public mutating func sortedSubset(of population: [Int], size: Int) -> [Int] {
        guard population.count > size else { return population }
        var pool = population
        for i in 0..<size {  // partial Fisher-Yates
            pool.swapAt(i, i + next(below: pool.count - i))
        }
        return pool[0..<size].sorted()
    }
}
