import AutoWUProtocol

/// One reply sent to many requests (a verdict to every rank waiting for it): serialized once, each copy
/// prefixed by its own request id. Protobuf parses concatenated messages as one merged message, so
/// `Reply{request_id}` followed by `Reply{protocol_version, body}` is that reply with both; serializing the
/// job's state once per job instead of once per waiting rank is most of what a verdict costs the I/O thread.
struct SharedReply {
    private let body: [UInt8]

    /// `reply` without a request id; the protocol version is set here.
    init(_ reply: Autowu_V1_Reply) throws {
        var reply = reply
        reply.protocolVersion = WireProtocol.version
        reply.requestID = 0
        body = try reply.serializedBytes()
    }

    func bytes(requestID: UInt64) -> [UInt8] {
        guard requestID != 0 else { return body }
        // Field 2, varint: the tag, then the id in 7-bit groups, least significant first.
        var bytes: [UInt8] = [0x10]
        var value = requestID
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes + body
    }
}
