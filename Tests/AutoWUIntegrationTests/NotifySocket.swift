import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The service manager's end of sd_notify for tests: a bound unix datagram socket whose address goes into a
/// daemon's `NOTIFY_SOCKET`, either a file path or an abstract name ('@' form).
final class NotifySocket {
    let address: String
    private let descriptor: Int32
    private let path: String?

    init(abstract: Bool) throws {
        let name = "autowud-notify-\(UUID().uuidString.prefix(8))"
        path = abstract ? nil : FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        address = path ?? "@" + name
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array((path ?? name).utf8)
        if path == nil { bytes.insert(0, at: 0) }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (path == nil ? 0 : 1))
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        // Only so that a daemon that never notifies fails the test instead of hanging it; no test measures time.
        var limit = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(descriptor)
        if let path { unlink(path) }
    }

    /// The next datagram as `KEY=VALUE` assignments; nil if none came.
    func receive() -> [String: String]? { read(flags: 0) }

    /// A datagram already waiting, without waiting for one.
    func pending() -> [String: String]? { read(flags: Int32(MSG_DONTWAIT)) }

    private func read(flags: Int32) -> [String: String]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, flags) }
        guard count > 0 else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return fields
    }
}
