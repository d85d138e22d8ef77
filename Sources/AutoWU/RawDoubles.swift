import Foundation

#if _endian(big)
#error("RawDoubles copies the host's bytes as the little-endian stored form: swap them on a big-endian host")
#endif

/// Doubles stored as their raw little-endian IEEE-754 bytes in one `Data` value, which JSONEncoder writes as
/// one base64 string: exact for every double, NaN and inf included, and far cheaper to encode than N numbers.
enum RawDoubles {
    /// How the same values were written before this form: a loss history as `Data`'s own coding (an array
    /// of byte values, 8 per double), a posterior as an array of numbers.
    enum Legacy {
        case byteArray
        case numberArray
    }

    static func encode(_ values: [Double], to encoder: any Encoder) throws {
        // One copy of the whole buffer: appending 8 bytes at a time took about an eighth of a test's time in
        // the daemon at 5,000 jobs.
        let bytes = values.withUnsafeBufferPointer { Data(buffer: $0) }
        // Through a single-value container: the encoder's data strategy applies (base64 in JSON), where
        // `bytes.encode(to:)` would write an array of byte values.
        var container = encoder.singleValueContainer()
        try container.encode(bytes)
    }

    static func decode(from decoder: any Decoder, legacy: Legacy) throws -> [Double] {
        if let bytes = try? decoder.singleValueContainer().decode(Data.self) {
            return try values(of: bytes, codingPath: decoder.codingPath)
        }
        switch legacy {
        case .byteArray: return try values(of: try Data(from: decoder), codingPath: decoder.codingPath)
        case .numberArray: return try decoder.singleValueContainer().decode([Double].self)
        }
    }

    private static func values(of bytes: Data, codingPath: [any CodingKey]) throws -> [Double] {
        guard bytes.count % 8 == 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(bytes.count) bytes are not a whole number of doubles"))
        }
        return [Double](unsafeUninitializedCapacity: bytes.count / 8) { buffer, count in
            count = bytes.copyBytes(to: buffer) / 8
        }
    }
}
