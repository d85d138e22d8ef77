import Testing
@testable import AutoWUDaemon

@Suite struct SparseTableTests {
    @Test func theFirstValueOfAKeyStaysAndEveryKeyIsFoundAgain() {
        var table = SparseTable<Double>(placeholder: 0)
        #expect(table[7] == nil && table.bytes == 0)
        // Keys as the aggregator makes them, up to 65535 x 65536 + 65535, in a scrambled order.
        let keys = (0..<50_000).map { ($0 &* 2_654_435_761) % (65_535 * 65_536) }
        var seen = Set<Int>()
        for (index, key) in keys.enumerated() { #expect(table.insertIfAbsent(key, Double(index)) == seen.insert(key).inserted) }
        let distinct = Set(keys)
        #expect(table.count == distinct.count)
        var first: [Int: Double] = [:]
        for (index, key) in keys.enumerated() where first[key] == nil { first[key] = Double(index) }
        for key in distinct { #expect(table[key] == first[key]) }
        #expect(!table.insertIfAbsent(keys[0], -1) && table[keys[0]] == 0, "a duplicate changes nothing")
        #expect(table[65_535 * 65_536 + 1] == nil)
        #expect(Set(table.entries().map(\.key)) == distinct)
        // Storage: a power of two at most 8/3 of the entries, whatever the keys' size.
        #expect(table.capacity.nonzeroBitCount == 1 && table.capacity * 3 <= distinct.count * 8)
    }

    @Test func updateCountsInPlace() {
        var counts = SparseTable<Int>(placeholder: 0)
        for rank in [3, 1, 3, 3, 65_535, 1] { counts.update(rank, initial: 0) { $0 += 1 } }
        #expect(counts[3] == 3 && counts[1] == 2 && counts[65_535] == 1 && counts[2] == nil && counts.count == 3)
        counts.reserve(1_000)
        #expect(counts.capacity >= 1_334 && counts[3] == 3, "reserving keeps the entries")
    }
}
