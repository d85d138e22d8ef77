@testable import AutoWUDaemon
import Testing

@Suite struct HandshakeFailureTallyTests {
    @Test func onePeerHostGetsOneLineAMinuteAndTheNextOneCountsWhatWasSkipped() {
        var tally = HandshakeFailureTally()
        #expect(tally.record(host: "tcp://10.0.0.5", at: 0) == 0)
        for second in 1 ..< 60 { #expect(tally.record(host: "tcp://10.0.0.5", at: Double(second)) == nil) }
        #expect(tally.record(host: "tcp://10.0.0.6", at: 30) == 0, "another host logs on its own")
        #expect(tally.record(host: "tcp://10.0.0.5", at: 60) == 59)
        #expect(tally.total == 62)
    }

    @Test func manyHostsCannotFloodTheLogEither() {
        var tally = HandshakeFailureTally()
        let logged = (0 ..< 1_000).filter { tally.record(host: "tcp://10.0.\($0 / 256).\($0 % 256)", at: 1) != nil }
        #expect(logged.count == tally.linesPerInterval)
        #expect(tally.record(host: "tcp://10.0.3.200", at: 61) == 1, "a host kept quiet logs later with its count")
    }

    @Test func theHostIsTheAddressWithoutItsPort() {
        #expect(HandshakeFailureTally.host(ofAddress: "tcp://10.0.0.5:41234") == "tcp://10.0.0.5")
        #expect(HandshakeFailureTally.host(ofAddress: "tcp://[::1]:41234") == "tcp://[::1]")
        #expect(HandshakeFailureTally.host(ofAddress: "ipc:///tmp/x") == "ipc:///tmp/x")
    }
}
