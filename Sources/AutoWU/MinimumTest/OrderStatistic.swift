/// The k-th smallest of an array by selection (Hoare's quickselect), not by sorting it: the robust test takes
/// a handful of order statistics of a whole loss history per epoch, where sorting was most of the test's time.
enum OrderStatistic {
    /// The element that `values.sorted()[rank]` would be; reorders `values`. No NaN (it is unordered).
    static func select<Element: Comparable>(_ values: inout [Element], rank: Int) -> Element {
        precondition(values.indices.contains(rank), "rank \(rank) of \(values.count) values")
        return values.withUnsafeMutableBufferPointer { v in
            var low = 0, high = v.count - 1
            while low < high {
                // The middle element as the pivot: the keys are scrambled and the losses are in step order, where
                // the middle is as good a guess as any.
                let pivot = v[low + (high - low) / 2]
                var i = low, j = high
                while i <= j {
                    while v[i] < pivot { i += 1 }
                    while pivot < v[j] { j -= 1 }
                    if i <= j {
                        v.swapAt(i, j)
                        i += 1
                        j -= 1
                    }
                }
                // Now v[low...j] <= pivot <= v[i...high], and anything strictly between j and i equals the pivot.
                if rank <= j {
                    high = j
                } else if rank >= i {
                    low = i
                } else {
                    return v[rank]
                }
            }
            return v[rank]
        }
    }
}
