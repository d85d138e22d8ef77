import AutoWU
import Foundation

/// The controller as the store keeps it: JSON, with non-finite numbers written as the strings "inf",
/// "-inf" and "nan". Foundation's default refuses them, and a job may hold one legitimately:
/// `divergence_factor = inf` turns the explosion rule off. Records written before are read as before.
@_spi(Fuzzing) public enum ControllerCoding {
    public static func encode(_ controller: WarmupController) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try encoder.encode(controller))
    }

    public static func decode(_ bytes: [UInt8]) throws -> WarmupController {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(WarmupController.self, from: Data(bytes))
    }
}
