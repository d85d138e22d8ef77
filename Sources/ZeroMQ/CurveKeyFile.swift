import Foundation

/// CURVE keys on disk, as `autowu keygen` writes them and `autowud --curve-secret-key-file` reads them:
/// the secret key in a file of its own (mode 0600), the public key beside it in `<secret file>.pub`
/// (mode 0644), each file one line of 40 Z85 characters.
///
/// Reading a secret key refuses what a person most likely got wrong, each with what to do instead:
/// - not 40 Z85 characters that decode to 32 bytes: not a key at all;
/// - a file named `*.pub` or `*.public`: the public half given where the secret is expected (the shape
///   of the two halves is the same, so only the name or a comparison can tell them apart);
/// - a public key file given with it (explicitly, or found as `<secret file>.pub`) that is not the
///   public half of this secret: the secret and public keys were swapped or come from different pairs.
public enum CurveKeyFile {
    /// The public key's file for a secret key file.
    public static func publicKeyPath(forSecretKeyPath path: String) -> String {
        path + ".pub"
    }

    /// Writes `keys`: the secret to `secretKeyPath` (mode 0600), the public key to its `.pub` file (0644).
    /// Refuses to replace existing files unless `overwrite`.
    public static func write(_ keys: CurveKeyPair, secretKeyPath: String, overwrite: Bool = false) throws(CurveKeyFileError) {
        let publicPath = publicKeyPath(forSecretKeyPath: secretKeyPath)
        for path in [secretKeyPath, publicPath] where FileManager.default.fileExists(atPath: path) {
            guard overwrite else {
                throw .exists(path)
            }
            // Removed, not truncated: a new file gets the mode below, whatever the old one had.
            try? FileManager.default.removeItem(atPath: path)
        }
        try create(secretKeyPath, contents: keys.secretKey + "\n", mode: 0o600)
        try create(publicPath, contents: keys.publicKey + "\n", mode: 0o644)
    }

    /// Reads a secret key and checks it as the type's documentation says; returns the whole pair.
    public static func readSecret(path: String, publicKeyPath explicitPublicPath: String? = nil) throws(CurveKeyFileError) -> CurveKeyPair {
        let name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".pub") || name.hasSuffix(".public") {
            throw .publicKeyGivenAsSecret(path, reason: "its name says it holds a public key")
        }
        let secret = try readKey(path)
        guard let keys = try? CurveKeyPair(secretKey: secret) else {
            throw .malformed(path)
        }
        let publicPath = explicitPublicPath ?? publicKeyPath(forSecretKeyPath: path)
        guard explicitPublicPath != nil || FileManager.default.fileExists(atPath: publicPath) else {
            return keys
        }
        let expected = try readKey(publicPath)
        if expected == secret {
            throw .publicKeyGivenAsSecret(path, reason: "it holds the same key as \(publicPath)")
        }
        guard expected == keys.publicKey else {
            throw .mismatch(secretKeyPath: path, publicKeyPath: publicPath)
        }
        return keys
    }

    /// The file's one key: its text without surrounding white space, checked for shape only.
    private static func readKey(_ path: String) throws(CurveKeyFileError) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .unreadable(path)
        }
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard key.utf8.count == 40, Z85.decode(key)?.count == 32 else {
            throw .malformed(path)
        }
        return key
    }

    private static func create(_ path: String, contents: String, mode: mode_t) throws(CurveKeyFileError) {
        // O_EXCL with the mode at creation: the secret is never readable by others, not even for a moment.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw .unwritable(path, String(cString: strerror(errno)))
        }
        defer { _ = Foundation.close(descriptor) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw .unwritable(path, String(cString: strerror(errno)))
        }
    }
}

/// Why a CURVE key file cannot be used; each message says what to do.
public enum CurveKeyFileError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case malformed(String)
    case publicKeyGivenAsSecret(String, reason: String)
    case mismatch(secretKeyPath: String, publicKeyPath: String)
    case exists(String)
    case unwritable(String, String)

    public var description: String {
        switch self {
        case .unreadable(let path):
            return "cannot read the CURVE key file \(path): check the path and its permissions"
        case .malformed(let path):
            return "\(path) does not hold a CURVE key (one line of 40 Z85 characters); make a key pair with `autowu keygen`"
        case let .publicKeyGivenAsSecret(path, reason):
            return "\(path) is a CURVE public key, not the secret key (\(reason)): give the daemon the secret key file "
                + "(autowu keygen writes it without .pub), and the clients the public key (AUTOWU_SERVER_KEY)"
        case let .mismatch(secret, publicPath):
            return "\(publicPath) is not the public key of the secret key in \(secret): the files come from different key pairs "
                + "or were swapped; give the matching pair, or make a new one with `autowu keygen`"
        case .exists(let path):
            return "\(path) exists: keep it, or pass --force to replace it (clients with the old public key then stop working)"
        case let .unwritable(path, reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
