#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging

/// The sd_notify protocol, without libsystemd: one datagram of `KEY=VALUE` lines to the unix socket named by
/// `$NOTIFY_SOCKET` (a path, or an abstract address written with a leading '@').
///
/// Without `NOTIFY_SOCKET` (not started by systemd with `Type=notify`) every call does nothing. A failure to
/// send never stops the daemon: systemd would then time the start out, which says more than an exit here.
/// The first failure is logged; later ones are not, so a broken socket cannot flood the log.
public final class SystemdNotifier: @unchecked Sendable {
    private let socketPath: String?
    private let logger: Logger
    // Guards `failureLogged`; sends may come from the I/O thread and from the service group's tasks.
    private let lock = NSLock()
    private var failureLogged = false

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        let path = environment["NOTIFY_SOCKET"] ?? ""
        self.socketPath = path.isEmpty ? nil : path
        self.logger = logger
    }

    public var isEnabled: Bool { socketPath != nil }

    /// `READY=1` with a `STATUS=` line for `systemctl status`.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// Sends `state` (newline-separated assignments); true if the datagram left.
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard let socketPath else { return true }
        do {
            try Self.sendDatagram(Array(state.utf8), to: socketPath)
            return true
        } catch {
            let first = lock.withLock {
                defer { failureLogged = true }
                return !failureLogged
            }
            if first {
                logger.warning("cannot notify systemd; further failures are not logged",
                               metadata: ["notify_socket": "\(socketPath)", "error": "\(error)"])
            }
            return false
        }
    }

    static func sendDatagram(_ payload: [UInt8], to path: String) throws(NotifyError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        guard abstract || pathBytes.first == UInt8(ascii: "/") else { throw .badAddress(path) }
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A path needs room for its terminating NUL; an abstract name is exactly its bytes.
        guard pathBytes.count + (abstract ? 0 : 1) <= capacity else { throw .badAddress(path) }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (abstract ? 0 : 1))

        #if canImport(Glibc)
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let flags = Int32(MSG_NOSIGNAL)
        #else
        let descriptor = socket(AF_UNIX, SOCK_DGRAM, 0)
        let flags: Int32 = 0
        #endif
        guard descriptor >= 0 else { throw .system("socket", errno) }
        defer { close(descriptor) }
        let sent = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, bytes.baseAddress, bytes.count, flags, $0, length)
                }
            }
        }
        guard sent == payload.count else { throw .system("sendto", sent < 0 ? errno : EMSGSIZE) }
    }

    enum NotifyError: Error, CustomStringConvertible {
        case badAddress(String)
        case system(String, Int32)

        var description: String {
            switch self {
            case .badAddress(let path): return "NOTIFY_SOCKET \(path) is neither an absolute path nor an abstract '@' name that fits a unix socket address"
            case .system(let call, let code): return "\(call): \(String(cString: strerror(code)))"
            }
        }
    }
}
