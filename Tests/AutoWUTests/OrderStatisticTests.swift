import Testing
@testable import AutoWU

@Suite struct OrderStatisticTests {
    /// Every rank of random arrays, with and without repeated values, and of sorted and reversed ones.
    @Test func selectsWhatSortingWould() {
        var random = SubsetSampler(seed: 21)
        for count in [1, 2, 3, 7, 33, 100, 1_001] {
            let distinct = (0..<count).map { _ in Double(random.nextUniformBits() >> 11) }
            let repeated = (0..<count).map { _ in Double(random.next(below: 5)) }
            for values in [distinct, repeated, distinct.sorted(), distinct.sorted().reversed()] {
                let sorted = values.sorted()
                for rank in Set([0, count / 2, (count - 1) / 2, count - 1, random.next(below: count)]) {
                    var scratch = Array(values)
                    #expect(OrderStatistic.select(&scratch, rank: rank) == sorted[rank], "rank \(rank) of \(count)")
                    #expect(scratch.sorted() == sorted)
                }
            }
        }
    }

    /// Inputs a quickselect gets wrong or slow: all equal, pairs, infinities (the robust filter's residuals
    /// map to +inf), and a noiseless triangle, on which a middle-element pivot goes quadratic (the fallback to
    /// sorting bounds it; here only the answers are checked).
    @Test func selectsFromAwkwardInputs() {
        let triangle = (0..<10_001).map { Double(min($0, 10_000 - $0)) }
        let inputs: [[Double]] = [
            Array(repeating: 2.5, count: 50), [1, 1], [3, 1], [1, 3], [.infinity, 1, .infinity, -.infinity, 0],
            triangle, triangle.reversed(), (0..<4_000).map { Double(($0 * 7_919) % 4_000) },
        ]
        for values in inputs {
            let sorted = values.sorted()
            for rank in Set([0, (values.count - 1) / 2, values.count - 1]) {
                var scratch = values
                #expect(OrderStatistic.select(&scratch, rank: rank) == sorted[rank], "rank \(rank) of \(values.count)")
            }
        }
    }

    /// The robust filter's medians, on both sides of where it switches from insertion sort to selection.
    @Test func robustMediansAreTheSortedMiddle() {
        var random = SubsetSampler(seed: 4)
        for count in 1...70 {
            let values = (0..<count).map { _ in Double(random.next(below: 9)) - 4 }
            var scratch = values
            #expect(RobustLosses.median(&scratch) == values.sorted()[(count - 1) / 2], "\(values)")
        }
    }

    /// The robust test's subsets are the ones the sort by (key, index) they replaced gives, for populations
    /// with holes, and the generator moves on by the same one draw.
    @Test func keyedSubsetsAreThoseOfTheSortTheyReplaced() {
        func bySorting(_ population: [Int], size: Int, sampler: inout SubsetSampler) -> [Int] {
            guard population.count > size else { return population }
            let salt = sampler.nextUniformBits()
            func key(_ index: Int) -> UInt64 { SubsetSampler.mix(salt &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15) }
            return population.map { (key: key($0), index: $0) }
                .sorted { $0.key != $1.key ? $0.key < $1.key : $0.index < $1.index }
                .prefix(size).map(\.index).sorted()
        }
        var selecting = SubsetSampler(seed: 8), sorting = SubsetSampler(seed: 8)
        for (count, size) in [(600, 500), (4_200, 500), (4_200, 100), (150, 100), (2, 1)] {
            let population = (0..<count).filter { $0 % 7 != 3 }
            for _ in 0..<5 {
                let expected = bySorting(population, size: size, sampler: &sorting)
                #expect(selecting.keyedSubset(of: population, size: size) == expected, "\(count) -> \(size)")
                #expect(selecting.state == sorting.state)
            }
        }
        // An empty subset draws its salt and is empty, as the sort's prefix was.
        var a = SubsetSampler(seed: 2), b = a
        #expect(a.keyedSubset(of: [4, 5, 6], size: 0) == [] && bySorting([4, 5, 6], size: 0, sampler: &b) == [])
        #expect(a.state == b.state)
        // A repeated index (not a population the test makes) still gives the sort's subset.
        let repeated = [1, 1, 1, 2, 3, 5, 8, 8, 13]
        for size in 1..<repeated.count {
            var a = SubsetSampler(seed: UInt64(size)), b = a
            #expect(a.keyedSubset(of: repeated, size: size) == bySorting(repeated, size: size, sampler: &b))
        }
    }
}
