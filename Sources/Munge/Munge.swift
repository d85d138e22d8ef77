import CMunge
import Foundation

/// MUNGE, the credential service Slurm clusters run (munged): a process asks for a credential, and anyone
/// who trusts the same munged learns from it, unforgeably, the uid and gid the process runs as.
public enum Munge {
    /// The uid and gid a credential was made by, and what it carries.
    public struct Identity: Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var payload: String
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// MUNGE's error number; -1: libmunge cannot be loaded.
        public var code: Int32
        public var message: String
        /// MUNGE refuses a credential decoded before: each message needs a fresh one.
        public var isReplay: Bool { code == 17 }
        /// What the error most likely means for whoever sent the credential, or nil.
        public var hint: String? {
            switch code {
            case 17: "a credential is good for one message: make a fresh one for each, retries included"
            case 6, 7: "the checking side cannot reach munged: is it running there (and its socket the one configured)?"
            case 15, 16: "too old or from the future: the clocks of the two hosts are apart, or it was sent long after it was made"
            case 8, 9, 10, 11, 12, 14: "not a credential of this cluster's MUNGE key"
            case 13: "another MUNGE realm"
            case -1: "libmunge is not installed where it is checked"
            default: nil
            }
        }
        public var description: String { message }
    }

    /// Why MUNGE cannot be used here, or nil if libmunge loads (munged may still be down: `probe`).
    public static var unavailableReason: String? {
        var message: UnsafePointer<CChar>?
        return autowu_munge_load(&message) == 0 ? nil : message.map { String(cString: $0) } ?? "libmunge cannot be loaded"
    }

    /// A fresh credential carrying `payload`. `socket`: munged's socket (nil: libmunge's default).
    public static func encode(payload: String, socket: String? = nil) throws(Failure) -> String {
        var credential: UnsafeMutablePointer<CChar>?
        var message: UnsafePointer<CChar>?
        let bytes = Array(payload.utf8CString)
        let code = bytes.withUnsafeBufferPointer { buffer in
            withOptionalCString(socket) { autowu_munge_encode(buffer.baseAddress, Int32(bytes.count - 1), $0, &credential, &message) }
        }
        defer { free(credential) }
        guard code == 0, let credential else { throw failure(code, message) }
        return String(cString: credential)
    }

    /// Verifies `credential` with munged and says whose it is.
    public static func decode(_ credential: String, socket: String? = nil) throws(Failure) -> Identity {
        var payload: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        var message: UnsafePointer<CChar>?
        let code = withOptionalCString(socket) { autowu_munge_decode(credential, $0, &payload, &length, &uid, &gid, &message) }
        defer { free(payload) }
        guard code == 0 else { throw failure(code, message) }
        let text = payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(length)), as: UTF8.self) } ?? ""
        return Identity(uid: uid, gid: gid, payload: text)
    }

    /// Whether munged answers: a credential made and checked. Nil when it does, else why not.
    public static func probe(socket: String? = nil) -> String? {
        do {
            let identity = try decode(try encode(payload: "autowu probe", socket: socket), socket: socket)
            return identity.payload == "autowu probe" ? nil : "munged returned another payload"
        } catch {
            return error.message
        }
    }

    private static func failure(_ code: Int32, _ message: UnsafePointer<CChar>?) -> Failure {
        Failure(code: code, message: message.map { String(cString: $0) } ?? "MUNGE error \(code)")
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }
}
