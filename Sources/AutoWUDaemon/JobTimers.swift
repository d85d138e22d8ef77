import Dispatch

/// When some job has a timer due (a waiting snapshot's deadline or incomplete check, a close deadline), earliest
/// first: a binary min-heap, so that the I/O loop visits only the jobs whose timers are due instead of every
/// waiting request after every message. An entry may outlive its timer (the snapshot was answered): visiting
/// that job finds nothing due, which is harmless.
struct JobTimers {
    private var heap: [(due: DispatchTime, job: String)] = []

    var earliest: DispatchTime? { heap.first?.due }

    mutating func add(_ job: String, due: DispatchTime) {
        heap.append((due, job))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes the entries due at `now` and returns their jobs, each once.
    mutating func popDue(now: DispatchTime) -> Set<String> {
        var due: Set<String> = []
        while let first = heap.first, first.due <= now {
            due.insert(first.job)
            let last = heap.removeLast()
            guard !heap.isEmpty else { break }
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
        }
        return due
    }
}
