/// The k-th smallest of an array by selection, not by sorting it: the robust test takes a handful of order
/// statistics of a whole loss history per epoch, where sorting was most of the test's time.
enum OrderStatistic {
    /// The element that `values.sorted()[rank]` would be; reorders `values`. No NaN (it is unordered).
    ///
    /// Hoare's quickselect with a median-of-three pivot, and a sort of what is left when the range has not
    /// shrunk as fast as a fair pivot would shrink it (introselect): the losses are a client's, and a crafted
    /// curve must not make a test quadratic where the sort it replaced was n log n.
    static func select<Element: Comparable>(_ values: inout [Element], rank: Int) -> Element {
        precondition(values.indices.contains(rank), "rank \(rank) of \(values.count) values")
        return values.withUnsafeMutableBufferPointer { v in
            var low = 0, high = v.count - 1
            // A fair pivot halves the range: about log2(n) rounds; twice that and a few more before giving up.
            let budget = 2 * (Int.bitWidth - v.count.leadingZeroBitCount) + 4
            var rounds = 0
            while low < high {
                rounds += 1
                if rounds > budget {
                    var rest = UnsafeMutableBufferPointer(rebasing: v[low...high])
                    rest.sort()
                    return v[rank]
                }
                let middle = low + (high - low) / 2
                let pivot = medianOfThree(v[low], v[middle], v[high])
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

    private static func medianOfThree<Element: Comparable>(_ a: Element, _ b: Element, _ c: Element) -> Element {
        if a < b { return b < c ? b : (a < c ? c : a) }
        return a < c ? a : (b < c ? c : b)
    }
}
