import CSodium
import Foundation

/// Job tokens are stored and compared as BLAKE2b-256 digests (libsodium, which libzmq already uses for
/// CURVE), compared in constant time so that a wrong guess learns nothing from the timing.
enum TokenHash {
    private static let ready: Bool = sodium_init() >= 0

    /// Hex digest of `token`; "" for the empty token (a job without a token).
    static func digest(_ token: String) -> String {
        guard !token.isEmpty else { return "" }
        precondition(ready, "libsodium failed to initialise")
        var out = [UInt8](repeating: 0, count: 32)
        let bytes = Array(token.utf8)
        _ = crypto_generichash(&out, out.count, bytes, UInt64(bytes.count), nil, 0)
        return out.map { String(format: "%02x", $0) }.joined()
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.isEmpty || sodium_memcmp(a, b, a.count) == 0
    }

    /// Whether `token` matches the stored digest.
    static func matches(_ token: String, digest stored: String) -> Bool {
        constantTimeEqual(Array(digest(token).utf8), Array(stored.utf8))
    }
}
