/// What the daemon has seen: messages in and out, and every kind of bad or dropped input, by name.
/// Kept by the I/O thread; shown by `Status` replies and `autowu jobs --counters`.
struct Counters {
    private(set) var values: [String: UInt64] = [:]

    mutating func add(_ name: String, _ amount: Int = 1) {
        values[name, default: 0] &+= UInt64(max(0, amount))
    }

    subscript(_ name: String) -> UInt64 { values[name] ?? 0 }
}
