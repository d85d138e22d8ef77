import Dispatch
import Foundation
import Logging
import Synchronization
import ZeroMQ

/// Logs failed CURVE handshakes on the daemon's sockets (ZeroMQ socket monitors): without it a client
/// with the wrong server key just times out and the daemon says nothing. Lines are rate-limited by
/// `HandshakeFailureTally`.
///
/// The monitors start on the I/O thread (libzmq sockets stay on their thread); their events are read on
/// a thread of its own, so the I/O loop is untouched.
final class HandshakeLog: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Call on the thread that owns `sockets`, before they bind.
    init(context: ZMQContext, sockets: [(name: String, socket: ZMQSocket)], logger: Logger) throws {
        let endpoints = try sockets.map { ($0.name, try $0.socket.startMonitor(events: .handshakeFailures)) }
        let thread = Thread { [self] in
            defer { finished.signal() }
            do {
                try readEvents(context: context, endpoints: endpoints, logger: logger)
            } catch {
                logger.warning("handshake monitor stopped; failed CURVE handshakes are no longer logged", metadata: ["error": "\(error)"])
            }
        }
        thread.name = "autowud-handshakes"
        thread.start()
    }

    /// Stops the reader and closes its sockets; call once, before the context is closed.
    func stop() {
        stopRequested.store(true, ordering: .relaxed)
        finished.wait()
    }

    private func readEvents(context: ZMQContext, endpoints: [(String, String)], logger: Logger) throws {
        let monitors = try endpoints.map { (name: $0.0, monitor: try ZMQSocketMonitor(context: context, endpoint: $0.1)) }
        defer { for entry in monitors { entry.monitor.close() } }
        var tally = HandshakeFailureTally()
        while !stopRequested.load(ordering: .relaxed) {
            var poller = ZMQPoller()
            for entry in monitors { poller.register(entry.monitor.socket) }
            // The timeout bounds how long `stop` waits.
            _ = try poller.poll(timeoutMilliseconds: 200)
            let now = DispatchTime.now().uptimeNanoseconds
            for entry in monitors {
                for event in try entry.monitor.drain() where !event.kind.intersection(.handshakeFailures).isEmpty {
                    let host = HandshakeFailureTally.host(ofAddress: event.address)
                    guard let suppressed = tally.record(host: host, at: Double(now) / 1e9) else { continue }
                    let metadata: Logger.Metadata = ["socket": "\(entry.name)", "peer": "\(event.address)", "reason": "\(Self.reason(event))",
                                                     "suppressed_since_last": "\(suppressed)", "failures_total": "\(tally.total)"]
                    if event.kind == .handshakeFailedNoDetail {
                        logger.info("CURVE handshake failed", metadata: metadata)
                    } else {
                        logger.warning("CURVE handshake failed", metadata: metadata)
                    }
                }
            }
        }
    }

    private static func reason(_ event: ZMQSocketEvent) -> String {
        if event.isCryptographicFailure {
            return "the client's server key (AUTOWU_SERVER_KEY) is not this daemon's public key"
        }
        switch event.kind {
        case .handshakeFailedProtocol where event.value == 0x1100_0002:  // ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
            return "the client does not use CURVE (AUTOWU_SERVER_KEY unset?)"
        case .handshakeFailedProtocol:
            return "protocol error 0x\(String(UInt32(bitPattern: event.value), radix: 16))"
        case .handshakeFailedAuth:
            return "authentication refused (ZAP status \(event.value))"
        default:
            return "the connection closed during the handshake (errno \(event.value))"
        }
    }
}
