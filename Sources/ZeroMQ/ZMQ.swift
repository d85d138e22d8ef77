import CZMQ

/// Facts about the libzmq library loaded at run time.
public enum ZMQ {
    /// A libzmq version, as reported by the loaded library (not the headers
    /// the package was compiled against).
    public struct Version: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var major: Int
        public var minor: Int
        public var patch: Int

        public init(major: Int, minor: Int, patch: Int) {
            self.major = major
            self.minor = minor
            self.patch = patch
        }

        public static func < (lhs: Version, rhs: Version) -> Bool {
            (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
        }

        public var description: String {
            "\(major).\(minor).\(patch)"
        }
    }

    /// The version of the loaded libzmq.
    public static var version: Version {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return Version(major: Int(major), minor: Int(minor), patch: Int(patch))
    }

    /// Whether libzmq was built with a capability: a transport ("ipc", "tipc",
    /// "norm") or a security mechanism ("curve", "gssapi"). Check "curve" before
    /// relying on encryption: a libzmq built without libsodium refuses CURVE keys.
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) != 0
    }
}
