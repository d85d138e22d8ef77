import CZMQ

/// The receiving end of a socket monitor: a PAIR socket connected to the `inproc://` endpoint on which
/// libzmq publishes the monitored socket's connection events.
///
/// Not `Sendable`, like every socket: start the monitor on the monitored socket's thread with
/// `ZMQSocket.startMonitor(events:)`, then open the receiving end with `init(context:endpoint:)` on the
/// thread that reads the events (which may be the same one).
public final class ZMQSocketMonitor {
    /// The PAIR socket, for a `ZMQPoller`.
    public let socket: ZMQSocket

    /// Connects to a monitor endpoint returned by `ZMQSocket.startMonitor(events:)`.
    public init(context: ZMQContext, endpoint: String) throws(ZMQError) {
        socket = try context.socket(.pair)
        try socket.set(.linger, 0)
        try socket.connect(endpoint)
    }

    /// Monitors `monitored` for `events`, read on the calling thread.
    public convenience init(monitoring monitored: ZMQSocket, events: ZMQSocketEvent.Kind) throws(ZMQError) {
        try self.init(context: monitored.context, endpoint: monitored.startMonitor(events: events))
    }

    /// The next event, or nil when none is queued (`dontWait`) or the frames are not an event.
    public func receive(dontWait: Bool = true) throws(ZMQError) -> ZMQSocketEvent? {
        guard let frames = try socket.receiveMultipart(dontWait: dontWait) else {
            return nil
        }
        return ZMQSocketEvent(frames: frames)
    }

    /// Every event queued now.
    public func drain() throws(ZMQError) -> [ZMQSocketEvent] {
        var events: [ZMQSocketEvent] = []
        while let event = try receive() {
            events.append(event)
        }
        return events
    }

    public func close() {
        socket.close()
    }
}

extension ZMQSocket {
    /// Starts publishing this socket's `events` on a fresh `inproc://` endpoint, which is returned; one
    /// monitor per socket. The monitor stops when the socket closes.
    public func startMonitor(events: ZMQSocketEvent.Kind) throws(ZMQError) -> String {
        let endpoint = "inproc://zmq-monitor-\(UInt64.random(in: 0 ... .max))"
        try check(zmq_socket_monitor(openPointer(), endpoint, events.rawValue))
        return endpoint
    }
}
