import Foundation
import Testing
import ZeroMQ

@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct CurveTests {
    @Test func onlyAClientWithTheServerKeyReceives() throws {
        let context = try ZMQContext()
        let serverKeys = try CurveKeyPair.generate()

        let server = try context.socket(.pub)
        try server.set(.curveServer, true)
        try server.set(.curveSecretKey, serverKeys.secretKey)
        try server.set(.zapDomain, "autowu")
        try server.bind("tcp://127.0.0.1:*")
        let endpoint = try server.lastEndpoint

        func client(serverKey: String?) throws -> ZMQSocket {
            let socket = try context.socket(.sub)
            if let serverKey {
                let keys = try CurveKeyPair.generate()
                try socket.set(.curveServerKey, serverKey)
                try socket.set(.curvePublicKey, keys.publicKey)
                try socket.set(.curveSecretKey, keys.secretKey)
            }
            try socket.set(.rcvtimeo, 10)
            try socket.subscribe()
            try socket.connect(endpoint)
            return socket
        }
        let trusted = try client(serverKey: serverKeys.publicKey)
        let plain = try client(serverKey: nil)
        let impostor = try client(serverKey: try CurveKeyPair.generate().publicKey)

        let first = try eventually(within: 5) { () throws(ZMQError) -> [UInt8]? in
            try server.send("secret")
            return try trusted.receive()
        }
        #expect(first == "secret".bytes)

        // Give the other two as long again as the trusted one needed, publishing all along.
        for _ in 0..<20 {
            try server.send("secret")
            #expect(try plain.receive() == nil)
        }
        #expect(try plain.receive(dontWait: true) == nil)
        #expect(try impostor.receive(dontWait: true) == nil)
        #expect(try trusted.receive(dontWait: true) == "secret".bytes)
    }

    @Test func keyPairsAndZ85() throws {
        let keys = try CurveKeyPair.generate()
        #expect(keys.publicKey.utf8.count == 40)
        #expect(keys.secretKey.utf8.count == 40)
        #expect(keys.publicKey != keys.secretKey)
        #expect(try CurveKeyPair(secretKey: keys.secretKey) == keys)
        #expect(try CurveKeyPair.generate() != keys)

        let wrongLength = #expect(throws: ZMQError.self) { try CurveKeyPair(secretKey: "tooShort") }
        #expect(wrongLength?.code == EINVAL)

        let raw = try #require(Z85.decode(keys.publicKey))
        #expect(raw.count == 32)
        #expect(Z85.encode(raw) == keys.publicKey)
    }

    @Test func curveKeyOptionsReadBackAsZ85() throws {
        let context = try ZMQContext()
        let keys = try CurveKeyPair.generate()
        let socket = try context.socket(.dealer)
        try socket.set(.curvePublicKey, keys.publicKey)
        try socket.set(.curveSecretKey, keys.secretKey)
        try socket.set(.curveServerKey, keys.publicKey)
        #expect(try socket.get(.curvePublicKey) == keys.publicKey)
        #expect(try socket.get(.curveSecretKey) == keys.secretKey)
        #expect(try socket.get(.curveServerKey) == keys.publicKey)
        let error = #expect(throws: ZMQError.self) { try socket.set(.curveServerKey, "short") }
        #expect(error?.code == EINVAL)
    }
}
