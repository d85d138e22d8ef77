/// The multiply-shift hash's multiplier: random and odd, drawn once per process, so that keys chosen by a
/// client (steps and ranks) cannot be made to collide on purpose.
private let sparseTableMultiplier = UInt64.random(in: 0 ... .max) | 1

/// A hash table from non-negative integer keys to values, for the loss aggregator's hot path: open
/// addressing with linear probing and multiply-shift hashing, no per-entry allocation (with Swift's
/// Dictionary, which hashes with SipHash, a report cost 254 ns instead of 69; docs/decisions.md). Its
/// storage is a power of two at least 4/3 of its entries: it grows with what was put in, never with how
/// large a key is.
struct SparseTable<Value>: Sendable where Value: Sendable {
    private var keys: [Int] = []
    private var values: [Value] = []
    private(set) var count = 0
    /// 64 - log2(capacity).
    private var shift = 64
    private let placeholder: Value

    /// `placeholder` fills the value array's empty slots; it is never returned.
    init(placeholder: Value) {
        self.placeholder = placeholder
    }

    var capacity: Int { keys.count }

    /// The bytes of its storage.
    var bytes: Int { keys.capacity * MemoryLayout<Int>.stride + values.capacity * MemoryLayout<Value>.stride }

    private static func home(_ key: Int, shift: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(truncatingIfNeeded: key) &* sparseTableMultiplier) >> UInt64(shift))
    }

    /// The slot holding `key`, or the empty slot where it would go. Static, on the arrays passed in: a
    /// method on `self` called from a mutating one can keep a second reference to the arrays alive and make
    /// the following write copy them (measured: 1 µs per insert instead of 20 ns).
    private static func probe(_ key: Int, in keys: UnsafeBufferPointer<Int>, shift: Int) -> Int {
        let mask = keys.count - 1
        var index = home(key, shift: shift)
        while keys[index] != key, keys[index] >= 0 { index = (index + 1) & mask }
        return index
    }

    subscript(key: Int) -> Value? {
        guard !keys.isEmpty else { return nil }
        let index = keys.withUnsafeBufferPointer { Self.probe(key, in: $0, shift: shift) }
        return keys[index] == key ? values[index] : nil
    }

    /// Inserts `value` for `key` unless the key is present; false (and nothing changed) if it was.
    mutating func insertIfAbsent(_ key: Int, _ value: Value) -> Bool {
        precondition(key >= 0, "keys are non-negative")
        if (count + 1) * 4 > keys.count * 3 { grow() }
        let shift = self.shift
        let index = keys.withUnsafeBufferPointer { Self.probe(key, in: $0, shift: shift) }
        guard keys[index] < 0 else { return false }
        keys[index] = key
        values[index] = value
        count += 1
        return true
    }

    /// Updates the value of `key` in place, starting from `initial` when it is absent.
    mutating func update(_ key: Int, initial: Value, _ change: (inout Value) -> Void) {
        precondition(key >= 0, "keys are non-negative")
        if (count + 1) * 4 > keys.count * 3 { grow() }
        let shift = self.shift
        let index = keys.withUnsafeBufferPointer { Self.probe(key, in: $0, shift: shift) }
        if keys[index] < 0 {
            keys[index] = key
            values[index] = initial
            count += 1
        }
        change(&values[index])
    }

    /// Makes room for `entries` in all without growing again (an expectation from data seen, e.g. the
    /// previous epoch's count; never from a declared size).
    mutating func reserve(_ entries: Int) {
        while entries * 4 > keys.count * 3 { grow() }
    }

    /// Every entry, in no particular order.
    func entries() -> [(key: Int, value: Value)] {
        var entries: [(key: Int, value: Value)] = []
        entries.reserveCapacity(count)
        for index in keys.indices where keys[index] >= 0 { entries.append((keys[index], values[index])) }
        return entries
    }

    private mutating func grow() {
        let capacity = max(8, keys.count * 2)
        let shift = 64 - capacity.trailingZeroBitCount
        var newKeys = [Int](repeating: -1, count: capacity)
        var newValues = [Value](repeating: placeholder, count: capacity)
        newKeys.withUnsafeMutableBufferPointer { target in
            for index in keys.indices where keys[index] >= 0 {
                let slot = Self.probe(keys[index], in: UnsafeBufferPointer(target), shift: shift)
                target[slot] = keys[index]
                newValues[slot] = values[index]
            }
        }
        keys = newKeys
        values = newValues
        self.shift = shift
    }
}
