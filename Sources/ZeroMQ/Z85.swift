import CZMQ

/// Z85, the ZeroMQ Base-85 text encoding (ZMQ RFC 32): how CURVE keys are
/// written in configuration files and passed to socket options.
public enum Z85 {
    /// Encodes `bytes`, whose count must be a multiple of 4.
    ///
    /// - Returns: 5 characters per 4 bytes, or `nil` when the count is not a
    ///   multiple of 4.
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else {
            return nil
        }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        let encoded = bytes.withUnsafeBufferPointer { input in
            text.withUnsafeMutableBufferPointer { output in
                zmq_z85_encode(output.baseAddress, input.baseAddress, input.count) != nil
            }
        }
        return encoded ? String(zmqBuffer: text) : nil
    }

    /// Decodes Z85 text, whose length must be a multiple of 5.
    ///
    /// - Returns: 4 bytes per 5 characters, or `nil` when the length is not a
    ///   multiple of 5 or a character is outside the Z85 alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        // libzmq reads a C string: an embedded NUL would silently shorten it.
        guard characters.count % 5 == 0, !characters.contains(0) else {
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: characters.count / 5 * 4)
        let decoded = bytes.withUnsafeMutableBufferPointer { output in
            zmq_z85_decode(output.baseAddress, text) != nil
        }
        return decoded ? bytes : nil
    }
}
