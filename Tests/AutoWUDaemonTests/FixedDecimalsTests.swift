import Foundation
import Testing
@testable import AutoWUDaemon

@Suite struct FixedDecimalsTests {
    /// The text printf gives, for values of the log line's ranges (P_min in [0, 1], milliseconds), signs,
    /// zeros and non-finite values; ties in the last digit are left out (they may round either way).
    @Test func writesWhatPrintfWrites() {
        var generator = SplitMix(state: 2_026)
        var values: [Double] = [0, -0.0, 1, 0.9995, 0.0004, 12.345678, -3.21, 1e-9, 123_456.789, 0.05, 0.5, 999.999]
        for _ in 0..<2_000 {
            values.append(Double.random(in: 0...1, using: &generator))
            values.append(Double.random(in: -5_000...5_000, using: &generator))
        }
        for value in values {
            for decimals in [0, 2, 3] {
                let printf = String(format: "%.\(decimals)f", value)
                let scaled = abs(value) * pow(10, Double(decimals))
                if abs(scaled - scaled.rounded(.down) - 0.5) < 1e-6 { continue }
                // printf writes -0.000 for small negatives; the log line has no use for a signed zero.
                let expected = printf.hasPrefix("-") && printf.allSatisfy({ "-0.".contains($0) }) ? String(printf.dropFirst()) : printf
                #expect(FixedDecimals.format(value, decimals: decimals) == expected, "\(value) with \(decimals) decimals")
            }
        }
        #expect(FixedDecimals.format(.nan, decimals: 3) == "nan")
        #expect(FixedDecimals.format(-.infinity, decimals: 2) == "-inf")
        #expect(FixedDecimals.format(1e20, decimals: 2) == String(format: "%.2f", 1e20))
    }

    /// Seeded, so that a failure names values that come back on the next run.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
