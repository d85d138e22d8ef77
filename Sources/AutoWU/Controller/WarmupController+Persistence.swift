import Foundation

extension WarmupController {
    /// The controller's persisted form: JSON in which non-finite numbers (a divergence factor of infinity,
    /// a NaN baseline) are written as strings, since JSON has no literal for them.
    public func persisted() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]  // the same state, the same bytes
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try encoder.encode(self))
    }

    /// A controller from `persisted()`'s bytes.
    public init(persisted bytes: [UInt8]) throws {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        self = try decoder.decode(WarmupController.self, from: Data(bytes))
    }
}
