import CSodium
import Foundation

/// The tokens the daemon makes for jobs registered with a MUNGE credential and no token of their own. Each
/// rank proves its uid and gets the same token back, so it must be derivable again: a keyed BLAKE2b of the
/// job's id and incarnation under a secret key kept in the data directory (`job-token.key`, 0600), made on
/// the first start. A job registered anew (another incarnation) gets another token.
struct TokenMint: Sendable {
    static let fileName = "job-token.key"
    private let key: [UInt8]

    init(key: [UInt8]) {
        precondition(key.count == 32, "a token key has 32 bytes")
        self.key = key
    }

    /// The key in `directory`, made if there is none. A key file of another size is refused, not replaced:
    /// replacing it would change the token of every live job.
    init(directory: String) throws {
        let path = URL(fileURLWithPath: directory, isDirectory: true).appendingPathComponent(Self.fileName).path
        if let existing = FileManager.default.contents(atPath: path) {
            guard existing.count == 32 else {
                throw DaemonError.store("\(path) holds \(existing.count) bytes, not a 32-byte token key: restore it, or remove it (the live jobs registered by MUNGE then need registering anew)")
            }
            self.init(key: Array(existing))
            return
        }
        guard sodium_init() >= 0 else { throw DaemonError.system("libsodium failed to initialise") }
        var key = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&key, key.count)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DaemonError.store("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let written = key.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == key.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw DaemonError.store("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        self.init(key: key)
    }

    /// The token of job `jobID` in its incarnation `incarnation` (64 hex digits).
    func token(jobID: String, incarnation: UInt64) -> String {
        let message = Array("autowu job token\u{0}\(jobID)\u{0}\(incarnation)".utf8)
        var out = [UInt8](repeating: 0, count: 32)
        _ = crypto_generichash(&out, out.count, message, UInt64(message.count), key, key.count)
        return out.map { String(format: "%02x", $0) }.joined()
    }
}
