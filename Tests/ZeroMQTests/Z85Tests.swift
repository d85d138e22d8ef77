import Foundation
import Testing
import ZeroMQ

@Suite struct Z85Tests {
    /// The test vector of ZMQ RFC 32.
    @Test func encodesTheSpecificationVector() {
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(Z85.encode(bytes) == "HelloWorld")
        #expect(Z85.decode("HelloWorld") == bytes)
    }

    @Test func refusesMalformedInput() {
        #expect(Z85.encode([1, 2, 3]) == nil)
        #expect(Z85.decode("Hello!") == nil)
        #expect(Z85.decode("Hell\u{0}") == nil)
        #expect(Z85.decode("Hell~") == nil)
        #expect(Z85.encode([]) == "")
    }
}
