import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing
import ZeroMQ

/// Issue 11, item 3: keys from `autowu keygen`, key files the daemon refuses, a wrong server key reported
/// as such, and `--endpoint` keeping AUTOWU_SERVER_KEY.
@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct CurveDiagnosticsTests {
    static let autowu = BuildProducts.executable("autowu")
    static let autowud = BuildProducts.executable("autowud")

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `autowu keygen` → a daemon started with its secret file serves `autowu jobs --endpoint` with the
    /// public key in AUTOWU_SERVER_KEY (the endpoint option used to drop it).
    @Test func keygenKeysServeTheCommandsWithEndpointAndTheServerKeyFromTheEnvironment() throws {
        let directory = try temporaryDirectory()
        let made = try runProcess(Self.autowu, ["keygen", "--out-dir", directory])
        #expect(made.status == 0, "\(made.stderr)")
        let publicKey = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let secretFile = directory + "/autowud.key"
        let secret = try String(contentsOfFile: secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(publicKey.count == 40 && !made.stdout.contains(secret), "the secret never goes to stdout")
        let mode = try FileManager.default.attributesOfItem(atPath: secretFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try CurveKeyPair(secretKey: secret).publicKey == publicKey)
        let again = try runProcess(Self.autowu, ["keygen", "--out-dir", directory])
        #expect(again.status == 2 && again.stderr.contains("--force"), "an existing key is not replaced silently")

        // Consecutive ports, so that --endpoint tcp://HOST:PORT names all three sockets.
        let port = Int.random(in: 20_000 ..< 60_000)
        let daemon = try DaemonProcess(arguments: [
            "--curve-secret-key-file", secretFile, "--control", "tcp://127.0.0.1:\(port)",
            "--ingest", "tcp://127.0.0.1:\(port + 1)", "--events", "tcp://127.0.0.1:\(port + 2)"])
        var environment = ProcessInfo.processInfo.environment
        environment["AUTOWU_SERVER_KEY"] = publicKey
        for key in ["AUTOWU_ENDPOINT", "AUTOWU_CONTROL", "AUTOWU_INGEST", "AUTOWU_EVENTS"] { environment.removeValue(forKey: key) }
        // The job's token, for `jobs` to see it: no test may depend on a munged running on the host.
        environment["AUTOWU_TOKEN"] = "keygen-test-token"
        let endpoint = "tcp://127.0.0.1:\(port)"
        let simulated = try runProcess(Self.autowu, [
            "simulate", BuildProducts.repository.appendingPathComponent("traces/digits_bs512_seed0_spe3_ep120_W360.csv").path,
            "--steps-per-epoch", "3", "--total-steps", "30", "--ranks", "1", "--job-id", "keygen", "--endpoint", endpoint, "--wait-bound", "60"],
            environment: environment, timeoutSeconds: 300)
        #expect(simulated.status == 0, "\(simulated.stdout)\(simulated.stderr)")
        let jobs = try runProcess(Self.autowu, ["jobs", "--endpoint", endpoint], environment: environment, timeoutSeconds: 60)
        #expect(jobs.status == 0 && jobs.stdout.contains("keygen"), "\(jobs.stdout)\(jobs.stderr)")
        _ = daemon.stop()
    }

    /// The daemon refuses key files that cannot be its secret key, with exit status 2 and what to do.
    @Test func theDaemonRefusesAMalformedKeyAndAPublicKeyGivenAsTheSecret() throws {
        let directory = try temporaryDirectory()
        let keys = try CurveKeyPair.generate()
        try CurveKeyFile.write(keys, secretKeyPath: directory + "/autowud.key")
        func start(_ arguments: [String]) throws -> ProcessOutput {
            try runProcess(Self.autowud, ["--data-dir", directory + "/data-\(UUID().uuidString)", "--control", "tcp://127.0.0.1:*",
                                          "--ingest", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"] + arguments,
                           timeoutSeconds: 30)
        }
        let publicFile = try start(["--curve-secret-key-file", directory + "/autowud.key.pub"])
        #expect(publicFile.status == 2 && publicFile.stderr.contains("is a CURVE public key, not the secret key"), "\(publicFile.stderr)")

        // The public key's text copied into a file with a secret's name, its .pub beside it.
        try FileManager.default.createDirectory(atPath: directory + "/copied", withIntermediateDirectories: true)
        try CurveKeyFile.write(keys, secretKeyPath: directory + "/copied/server.key")
        try FileManager.default.removeItem(atPath: directory + "/copied/server.key")
        try (keys.publicKey + "\n").write(toFile: directory + "/copied/server.key", atomically: true, encoding: .utf8)
        let copied = try start(["--curve-secret-key-file", directory + "/copied/server.key"])
        #expect(copied.status == 2 && copied.stderr.contains("is a CURVE public key, not the secret key"), "\(copied.stderr)")

        let other = try CurveKeyPair.generate()
        try (other.publicKey + "\n").write(toFile: directory + "/other.pub", atomically: true, encoding: .utf8)
        let mismatch = try start(["--curve-secret-key-file", directory + "/autowud.key", "--curve-public-key-file", directory + "/other.pub"])
        #expect(mismatch.status == 2 && mismatch.stderr.contains("is not the public key of the secret key"), "\(mismatch.stderr)")

        for text in ["tooShort", String(repeating: "~", count: 39) + "\u{7F}", String(repeating: "\"", count: 40)] {
            try text.write(toFile: directory + "/bad.key", atomically: true, encoding: .utf8)
            let malformed = try start(["--curve-secret-key-file", directory + "/bad.key"])
            #expect(malformed.status == 2 && malformed.stderr.contains("does not hold a CURVE key") && malformed.stderr.contains("autowu keygen"),
                    "\(text): \(malformed.stderr)")
        }
    }

    /// A client with the wrong server key learns so within about one attempt, not after its whole wait
    /// bound (60 s here: the check is a bound, not a benchmark), and the daemon logs the failed handshake.
    @Test func aWrongServerKeyFailsFastWithAHandshakeErrorAndADaemonLogLine() throws {
        let directory = try temporaryDirectory()
        let keys = try CurveKeyPair.generate()
        try CurveKeyFile.write(keys, secretKeyPath: directory + "/autowud.key")
        let daemon = try DaemonProcess(arguments: ["--curve-secret-key-file", directory + "/autowud.key"])
        var right = daemon.endpoints
        right.serverKey = keys.publicKey
        #expect(throws: Never.self) { try DaemonQuery.request(.ping(.init()), endpoints: right) }

        var wrong = daemon.endpoints
        wrong.serverKey = try CurveKeyPair.generate().publicKey
        let started = Date()
        #expect(throws: ClientError.handshakeFailed(endpoint: wrong.control)) {
            try DaemonQuery.request(.ping(.init()), endpoints: wrong, timeoutSeconds: 60)
        }
        #expect(Date().timeIntervalSince(started) < 15, "one attempt (1 s) plus slack, far below the 60 s bound")
        #expect(ClientError.handshakeFailed(endpoint: "tcp://h:1").description
            == "CURVE handshake with tcp://h:1 failed: wrong server key (AUTOWU_SERVER_KEY)?")

        let deadline = Date().addingTimeInterval(10)
        while !daemon.log.contains("CURVE handshake failed"), Date() < deadline { usleep(50_000) }
        #expect(daemon.log.contains("CURVE handshake failed") && daemon.log.contains("is not this daemon's public key"), "\(daemon.log)")
        // Rate-limited: a second wrong client from the same host adds no line within the minute.
        _ = try? DaemonQuery.request(.ping(.init()), endpoints: wrong, timeoutSeconds: 60)
        usleep(500_000)
        #expect(daemon.log.components(separatedBy: "CURVE handshake failed").count - 1 == 1, "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }
}
