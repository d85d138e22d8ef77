/// The losses of the warmup so far, one per step from step 0. Non-finite losses are kept (they hold their
/// index: x_j = j / N) and encoded as `null`, since JSON has no NaN; the test treats NaN and inf alike.
public struct LossHistory: Sendable, Equatable, Codable {
    public private(set) var values: [Double] = []

    public init(_ values: [Double] = []) { self.values = values }

    public var count: Int { values.count }

    mutating func append(contentsOf losses: [Double]) { values += losses }

    public init(from decoder: any Decoder) throws {
        values = try [Double?](from: decoder).map { $0 ?? .nan }
    }

    public func encode(to encoder: any Encoder) throws {
        try values.map { $0.isFinite ? $0 : nil }.encode(to: encoder)
    }

    public static func == (a: LossHistory, b: LossHistory) -> Bool {
        a.values.count == b.values.count
            && zip(a.values, b.values).allSatisfy { $0.bitPattern == $1.bitPattern || (!$0.isFinite && !$1.isFinite) }
    }
}
