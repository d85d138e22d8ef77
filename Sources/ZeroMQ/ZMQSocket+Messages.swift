import CZMQ
import Foundation

extension ZMQSocket {
    // MARK: - Sending

    /// Sends one frame.
    ///
    /// - Parameters:
    ///   - more: Another frame of the same message follows; libzmq delivers the
    ///     frames of a message all together or not at all.
    ///   - dontWait: Return `false` instead of blocking when the message cannot
    ///     be queued now (high-water mark reached, or no peer for patterns that
    ///     need one).
    /// - Returns: Whether the frame was queued. Without `dontWait`, `false`
    ///   only when `.sndtimeo` expired.
    @discardableResult
    public func send(_ frame: [UInt8], more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        try sendFrame(frame, flags: Self.sendFlags(more: more, dontWait: dontWait))
    }

    /// Sends one frame; see `send(_:more:dontWait:)` for `[UInt8]`.
    @discardableResult
    public func send(_ frame: Data, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        try sendFrame(frame, flags: Self.sendFlags(more: more, dontWait: dontWait))
    }

    /// Sends the UTF-8 bytes of `text` as one frame; see `send(_:more:dontWait:)` for `[UInt8]`.
    @discardableResult
    public func send(_ text: String, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        try sendFrame(Array(text.utf8), flags: Self.sendFlags(more: more, dontWait: dontWait))
    }

    /// Sends a message of several frames, e.g. `[routingId, payload]` on a ROUTER.
    ///
    /// - Parameter dontWait: Return `false` instead of blocking when the message
    ///   cannot be queued now. The decision is taken on the first frame: once it
    ///   is queued, libzmq guarantees room for the rest.
    /// - Returns: Whether the message was queued.
    @discardableResult
    public func sendMultipart(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) -> Bool {
        try sendFrames(frames, dontWait: dontWait)
    }

    /// Sends a message of several frames; see `sendMultipart(_:dontWait:)` for `[[UInt8]]`.
    @discardableResult
    public func sendMultipart(_ frames: [Data], dontWait: Bool = false) throws(ZMQError) -> Bool {
        try sendFrames(frames, dontWait: dontWait)
    }

    private static func sendFlags(more: Bool, dontWait: Bool) -> Int32 {
        (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
    }

    private func sendFrames(_ frames: [some ContiguousBytes], dontWait: Bool) throws(ZMQError) -> Bool {
        guard !frames.isEmpty else {
            throw ZMQError(code: EINVAL)
        }
        for (index, frame) in frames.enumerated() {
            let isLast = index == frames.count - 1
            let queued = try sendFrame(frame, flags: Self.sendFlags(more: !isLast, dontWait: dontWait))
            if !queued {
                guard index == 0 else {
                    // libzmq does not refuse the rest of a message once its
                    // first frame is queued; treat it as the failure it would be.
                    throw ZMQError(code: EAGAIN)
                }
                return false
            }
        }
        return true
    }

    /// Sends one frame; `false` for `EAGAIN` (would block, or `.sndtimeo` expired).
    private func sendFrame(_ frame: some ContiguousBytes, flags: Int32) throws(ZMQError) -> Bool {
        let pointer = try openPointer()
        let result = frame.withUnsafeBytes { buffer in
            retryingInterrupts { zmq_send(pointer, buffer.baseAddress, buffer.count, flags) }
        }
        switch result {
        case .success:
            return true
        case .failure(let error) where error.code == EAGAIN:
            return false
        case .failure(let error):
            throw error
        }
    }

    // MARK: - Receiving

    /// Receives one frame.
    ///
    /// - Parameter dontWait: Return `nil` at once when nothing is waiting.
    /// - Returns: The frame, or `nil` when nothing arrived (with `dontWait`, or
    ///   when `.rcvtimeo` expired). Check `hasMore` for further frames of the
    ///   same message.
    public func receive(dontWait: Bool = false) throws(ZMQError) -> [UInt8]? {
        let flags = dontWait ? ZMQ_DONTWAIT : 0
        return try withMessage { message throws(ZMQError) in
            try receiveFrame(into: message, flags: flags) { [UInt8]($0) }?.frame
        }
    }

    /// Receives every frame of the next message (or the remaining frames of a
    /// message partly read with `receive(dontWait:)`).
    ///
    /// - Parameter dontWait: Return `nil` at once when nothing is waiting.
    /// - Returns: The frames, or `nil` when nothing arrived (with `dontWait`, or
    ///   when `.rcvtimeo` expired).
    public func receiveMultipart(dontWait: Bool = false) throws(ZMQError) -> [[UInt8]]? {
        try receiveFrames(dontWait: dontWait) { [UInt8]($0) }
    }

    /// Receives every frame of the next message as `Data`; see `receiveMultipart(dontWait:)`.
    public func receiveMultipartData(dontWait: Bool = false) throws(ZMQError) -> [Data]? {
        try receiveFrames(dontWait: dontWait) { Data($0) }
    }

    /// Whether the last frame received has more frames of the same message after it.
    public var hasMore: Bool {
        get throws(ZMQError) {
            try get(.rcvmore)
        }
    }

    private func receiveFrames<Frame>(
        dontWait: Bool,
        _ makeFrame: (UnsafeRawBufferPointer) -> Frame
    ) throws(ZMQError) -> [Frame]? {
        try withMessage { message throws(ZMQError) in
            let flags = dontWait ? ZMQ_DONTWAIT : 0
            guard let (first, firstHasMore) = try receiveFrame(into: message, flags: flags, makeFrame) else {
                return nil
            }
            var frames = [first]
            var more = firstHasMore
            while more {
                // libzmq delivers messages whole: once the first frame is here,
                // so are the others, so this never blocks.
                guard let (frame, frameHasMore) = try receiveFrame(into: message, flags: flags, makeFrame) else {
                    throw ZMQError(code: EAGAIN)
                }
                frames.append(frame)
                more = frameHasMore
            }
            return frames
        }
    }

    /// Lends a `zmq_msg_t` at a stable address (libzmq requires one).
    private func withMessage<Result>(
        _ body: (UnsafeMutablePointer<zmq_msg_t>) throws(ZMQError) -> Result
    ) throws(ZMQError) -> Result {
        let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        defer { message.deallocate() }
        return try body(message)
    }

    /// Receives one frame into `message`; `nil` for `EAGAIN`.
    private func receiveFrame<Frame>(
        into message: UnsafeMutablePointer<zmq_msg_t>,
        flags: Int32,
        _ makeFrame: (UnsafeRawBufferPointer) -> Frame
    ) throws(ZMQError) -> (frame: Frame, hasMore: Bool)? {
        let pointer = try openPointer()
        zmq_msg_init(message)
        defer { zmq_msg_close(message) }
        switch retryingInterrupts({ zmq_msg_recv(message, pointer, flags) }) {
        case .success:
            let bytes = UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message))
            return (makeFrame(bytes), zmq_msg_more(message) != 0)
        case .failure(let error) where error.code == EAGAIN:
            return nil
        case .failure(let error):
            throw error
        }
    }
}
