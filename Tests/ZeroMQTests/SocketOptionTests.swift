import Foundation
import CZMQ
import Testing
import ZeroMQ

@Suite struct SocketOptionTests {
    @Test func typedOptionsRoundTrip() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.router)

        try socket.set(.sndhwm, 123)
        try socket.set(.rcvhwm, 456)
        try socket.set(.linger, 250)
        try socket.set(.rcvtimeo, 1500)
        try socket.set(.sndtimeo, 2500)
        try socket.set(.maxMessageSize, 1 << 33)
        try socket.set(.tcpKeepalive, 1)
        try socket.set(.immediate, true)
        try socket.set(.routingId, [0x42, 0x00, 0x43])
        try socket.set(.zapDomain, "global")

        #expect(try socket.get(.sndhwm) == 123)
        #expect(try socket.get(.rcvhwm) == 456)
        #expect(try socket.get(.linger) == 250)
        #expect(try socket.get(.rcvtimeo) == 1500)
        #expect(try socket.get(.sndtimeo) == 2500)
        #expect(try socket.get(.maxMessageSize) == 1 << 33)
        #expect(try socket.get(.tcpKeepalive) == 1)
        #expect(try socket.get(.immediate))
        #expect(try socket.get(.routingId) == [0x42, 0x00, 0x43])
        #expect(try socket.get(.zapDomain) == "global")
        #expect(try socket.lastEndpoint == "")
    }

    @Test func contextDefaultsToNoLinger() throws {
        #expect(try ZMQContext().socket(.push).get(.linger) == 0)
        #expect(try ZMQContext(blocky: true).socket(.push).get(.linger) == -1)
    }

    @Test func rawOptionsAreAnEscapeHatch() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.dealer)
        try socket.set(.int32(ZMQ_SNDBUF), 65536)
        #expect(try socket.get(.int32(ZMQ_SNDBUF)) == 65536)
        #expect(try socket.get(.int32(ZMQ_TYPE)) == Int(ZMQ_DEALER))
        try socket.set(.bool(ZMQ_CONFLATE), true)
        #expect(try socket.get(.bool(ZMQ_CONFLATE)))
    }

    @Test func invalidValuesAreRefused() throws {
        let context = try ZMQContext()
        let socket = try context.socket(.dealer)
        let tooBig = #expect(throws: ZMQError.self) { try socket.set(.sndhwm, Int(Int32.max) + 1) }
        #expect(tooBig?.code == EINVAL)
        let emptyId = #expect(throws: ZMQError.self) { try socket.set(.routingId, []) }
        #expect(emptyId?.code == EINVAL)
        #expect(emptyId?.message.isEmpty == false)
    }
}
