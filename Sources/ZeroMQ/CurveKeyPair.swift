import CZMQ

/// A CURVE (Curve25519) key pair, both keys as Z85 text (40 characters).
///
/// A CURVE server needs its secret key; each client needs its own pair plus the
/// server's public key, which it must learn out of band (a config file).
public struct CurveKeyPair: Sendable, Hashable {
    public let publicKey: String
    public let secretKey: String

    /// Generates a fresh key pair from the system's secure random source.
    ///
    /// - Throws: `ENOTSUP` when libzmq was built without CURVE (see `ZMQ.has("curve")`).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        // libzmq writes 40 Z85 characters and a NUL into each buffer.
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        try check(zmq_curve_keypair(&publicKey, &secretKey))
        return CurveKeyPair(publicKey: String(zmqBuffer: publicKey), secretKey: String(zmqBuffer: secretKey))
    }

    /// Rebuilds a key pair from a stored secret key, deriving its public key,
    /// so only the secret needs to be kept.
    ///
    /// - Throws: `EINVAL` when `secretKey` is not 40 Z85 characters; `ENOTSUP`
    ///   without CURVE support.
    public init(secretKey: String) throws(ZMQError) {
        // libzmq decodes the secret into a 32-byte buffer without checking its
        // length, so anything but 40 valid characters must be refused here.
        guard let decoded = Z85.decode(secretKey), decoded.count == 32 else {
            throw ZMQError(code: EINVAL)
        }
        var publicKey = [CChar](repeating: 0, count: 41)
        try check(zmq_curve_public(&publicKey, secretKey))
        self.init(publicKey: String(zmqBuffer: publicKey), secretKey: secretKey)
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }
}
