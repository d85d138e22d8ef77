/// What is due when, earliest first: a binary min-heap, so that one thread can run tens of thousands of
/// timers without scanning them all (the daemon's jobs with a timer due, `autowu load`'s simulated ranks).
public struct TimedQueue<Item> {
    private var heap: [(due: UInt64, item: Item)] = []

    public init() {}

    public var isEmpty: Bool { heap.isEmpty }
    public var count: Int { heap.count }
    /// The earliest due time (uptime ns), if anything is queued.
    public var nextDue: UInt64? { heap.first?.due }

    public mutating func insert(_ item: Item, due: UInt64) {
        heap.append((due, item))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest item if it is due at `now`.
    public mutating func popDue(now: UInt64) -> (due: UInt64, item: Item)? {
        guard let first = heap.first, first.due <= now else { return nil }
        let last = heap.removeLast()
        guard !heap.isEmpty else { return first }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count, heap[right].due < heap[smallest].due { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
