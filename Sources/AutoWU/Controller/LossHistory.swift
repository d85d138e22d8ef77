import Foundation

/// The losses of the warmup so far, one per step from step 0. Non-finite losses are kept (they hold their
/// index: x_j = j / N).
///
/// Encoded as `RawDoubles`: exact, and saving a long warmup stays cheap (histories stored as arrays of byte
/// values before are read too).
public struct LossHistory: Sendable, Equatable, Codable {
    public private(set) var values: [Double] = []

    public init(_ values: [Double] = []) { self.values = values }

    public var count: Int { values.count }

    mutating func append(contentsOf losses: [Double]) { values += losses }

    public init(from decoder: any Decoder) throws {
        values = try RawDoubles.decode(from: decoder, legacy: .byteArray)
    }

    public func encode(to encoder: any Encoder) throws {
        try RawDoubles.encode(values, to: encoder)
    }

    public static func == (a: LossHistory, b: LossHistory) -> Bool {
        a.values.count == b.values.count
            && zip(a.values, b.values).allSatisfy { $0.bitPattern == $1.bitPattern || (!$0.isFinite && !$1.isFinite) }
    }
}
