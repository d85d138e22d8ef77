import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing
import ZeroMQ

@Suite struct CurveTests {
    /// With a CURVE key the daemon talks only to clients that know its public key.
    @Test func aCurveDaemonServesClientsWithItsKeyAndNoOneElse() throws {
        let keys = try CurveKeyPair.generate()
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-key-\(UUID().uuidString)").path
        try keys.secretKey.write(toFile: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let daemon = try DaemonProcess(arguments: ["--curve-secret-key-file", keyFile])
        var secure = daemon.endpoints
        secure.serverKey = keys.publicKey

        let trace = try Traces.losses("digits_bs512_seed0_spe3_ep120_W360.csv")
        let jobSpec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1)
        let client = try RankClient(options: RankClient.Options(endpoints: secure, jobID: "curve", rank: 0, spec: jobSpec))
        let rates = try play(client, trace: trace, from: 0, to: 300)
        client.close()
        #expect(rates.count == 300 && client.state.hasDecision)

        // Without the key, or with another daemon's key, nothing gets through.
        #expect(throws: ClientError.self) {
            _ = try DaemonQuery.request(.ping(.init()), endpoints: daemon.endpoints, timeoutSeconds: 1.5)
        }
        var wrong = daemon.endpoints
        wrong.serverKey = try CurveKeyPair.generate().publicKey
        #expect(throws: ClientError.self) {
            _ = try DaemonQuery.request(.ping(.init()), endpoints: wrong, timeoutSeconds: 1.5)
        }
        let reply = try DaemonQuery.request(.ping(.init()), endpoints: secure)
        #expect(reply.pong.counters["jobs.live"] == 1)
    }
}
