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
        // The `size` smallest keys by selection rather than by sorting all of them (that sort was a third of a
        // test at 4,200 losses). Distinct indices have distinct keys (mix is a bijection, salt + i * odd is
        // injective); equal keys (a repeated index) are taken in index order, so the subset is the one a sort by
        // (key, index) gives.
        guard size > 0 else { return [] }
        let keys = population.map(key)
        var scratch = keys
        let threshold = OrderStatistic.select(&scratch, rank: size - 1)
        var chosen: [Int] = [], ties: [Int] = []
        chosen.reserveCapacity(size)
        for (position, index) in population.enumerated() {
            if keys[position] < threshold { chosen.append(index) } else if keys[position] == threshold { ties.append(index) }
        }
        chosen += ties.sorted().prefix(size - chosen.count)
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
