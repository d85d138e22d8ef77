import ZeroMQ

/// Watches one client socket's security handshakes (a socket monitor on the same thread), so that a
/// CURVE key that does not fit is reported as such instead of as silence.
final class HandshakeWatch {
    private let monitor: ZMQSocketMonitor
    private var failures = 0
    private var successes = 0

    /// Call before `socket.connect`, so the first handshake is seen.
    init(_ socket: ZMQSocket) throws {
        monitor = try ZMQSocketMonitor(monitoring: socket, events: [.handshakeSucceeded, .handshakeFailures])
    }

    /// Whether a handshake failed and none succeeded so far. A daemon that is only down or slow fails
    /// no handshake (there is no connection), so this does not mistake an outage for a wrong key.
    func failedWithoutSuccess() throws -> Bool {
        for event in try monitor.drain() {
            if event.kind == .handshakeSucceeded {
                successes += 1
            } else {
                failures += 1
            }
        }
        return failures > 0 && successes == 0
    }

    func close() {
        monitor.close()
    }
}
