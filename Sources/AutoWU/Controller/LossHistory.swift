import Foundation

/// The losses of the warmup so far, one per step from step 0. Non-finite losses are kept (they hold their
/// index: x_j = j / N).
///
/// Encoded as the raw little-endian IEEE-754 bytes in one `Data` value (base64 in JSON): exact for every
/// double, NaN and inf included, and a single string instead of N numbers keeps saving a long warmup cheap.
public struct LossHistory: Sendable, Equatable, Codable {
    public private(set) var values: [Double] = []

    public init(_ values: [Double] = []) { self.values = values }

    public var count: Int { values.count }

    mutating func append(contentsOf losses: [Double]) { values += losses }

    public init(from decoder: any Decoder) throws {
        let bytes = try Data(from: decoder)
        guard bytes.count % 8 == 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "loss history of \(bytes.count) bytes is not a whole number of doubles"))
        }
        values = stride(from: 0, to: bytes.count, by: 8).map { offset in
            var bits: UInt64 = 0
            for index in 0..<8 { bits |= UInt64(bytes[bytes.startIndex + offset + index]) << (8 * index) }
            return Double(bitPattern: bits)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var bytes = Data(capacity: values.count * 8)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        try bytes.encode(to: encoder)
    }

    public static func == (a: LossHistory, b: LossHistory) -> Bool {
        a.values.count == b.values.count
            && zip(a.values, b.values).allSatisfy { $0.bitPattern == $1.bitPattern || (!$0.isFinite && !$1.isFinite) }
    }
}
