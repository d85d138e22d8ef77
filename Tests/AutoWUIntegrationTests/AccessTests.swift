import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import SwiftProtobuf
import Testing
import ZeroMQ

/// Who may touch a job, against a daemon in its default configuration: each attack a neighbour on a shared
/// cluster could try, scripted, and refused with a message that says what to do.
@Suite(.serialized) struct AccessTests {
    typealias RawControl = BadInputTests.RawControl
    let twoRanks = spec(stepsPerEpoch: 10, totalSteps: 1000, worldSize: 2)

    func request(_ body: Autowu_V1_Request.OneOf_Body) -> Autowu_V1_Request {
        .with { $0.protocolVersion = 1; $0.requestID = 41; $0.body = body }
    }

    func register(_ raw: RawControl, _ job: String, token: String = "", credential: String = "", rank: UInt32 = 0) throws -> Autowu_V1_Reply? {
        try raw.request(request(.register(.with {
            $0.jobID = job; $0.token = token; $0.rank = rank; $0.spec = twoRanks; $0.mungeCredential = credential })))
    }

    @Test func aDefaultDaemonRefusesAnonymousJobsAndSaysWhatToDo() throws {
        let daemon = try DaemonProcess(anonymous: false)
        let raw = try RawControl(daemon.endpoints.control)
        let refused = try #require(try register(raw, "anonymous")?.error)
        #expect(refused.code == .errorUnauthorized)
        #expect(refused.message.contains("AUTOWU_TOKEN") && refused.message.contains("autowu token") && refused.message.contains("--allow-anonymous"))
        #expect(try raw.error(request(.status(.with { $0.jobID = "anonymous" })))?.code == .errorUnknownJob, "nothing was created")
        #expect(try register(raw, "tokened", token: "s3cret")?.job.version == 1)
    }

    @Test func aNeighbourWithoutTheTokenCanNeitherPoisonNorExpireNorReadAJob() throws {
        let daemon = try DaemonProcess(anonymous: false)
        let raw = try RawControl(daemon.endpoints.control)
        let context = try ZMQContext()
        let events = try context.socket(.sub)
        try events.subscribe(to: "job/")
        try events.connect(daemon.endpoints.events)
        Thread.sleep(forTimeInterval: 0.3)  // the subscription reaches the daemon before the first event
        #expect(try register(raw, "victim", token: "s3cret")?.job.version == 1)

        // Poison: infinite losses for every rank, without the token and with a guess.
        let pub = try context.socket(.pub)
        try pub.connect(daemon.endpoints.ingest)
        Thread.sleep(forTimeInterval: 0.3)
        for token in ["", "guess"] {
            for rank in 0..<2 {
                try pub.sendMultipart([Array("loss/victim/".utf8), try Autowu_V1_LossBatch.with {
                    $0.protocolVersion = 1; $0.jobID = "victim"; $0.token = token; $0.rank = UInt32(rank)
                    $0.losses = Array(repeating: .infinity, count: 30) }.serializedBytes()])
            }
        }
        var counters: [String: UInt64] = [:]
        for _ in 0..<50 where counters["ingest.unauthorized", default: 0] < 4 {
            Thread.sleep(forTimeInterval: 0.1)
            counters = try status(daemon).daemon.counters
        }
        #expect(counters["ingest.unauthorized"] == 4)
        #expect(try status(daemon, job: "victim", token: "s3cret").jobs.first?.stepsSeen == 0, "no forged loss landed")

        // Expire, read, or take over the registration without the token.
        for token in ["", "guess"] {
            let expire = try #require(try raw.error(request(.expireJob(.with { $0.jobID = "victim"; $0.token = token }))))
            #expect(expire.code == .errorUnauthorized && expire.message.contains("is not yours"))
            #expect(try raw.error(request(.status(.with { $0.jobID = "victim"; $0.token = token })))?.code == .errorUnauthorized)
            #expect(try register(raw, "victim", token: token)?.error.code == .errorUnauthorized)
        }
        // Raw: `status()` would add a MUNGE credential wherever munged runs, and this test runs as the daemon's admin.
        #expect(try raw.request(request(.status(.init())))?.jobs.jobs.isEmpty == true, "a list without the token shows no job")
        #expect(try status(daemon, token: "s3cret").jobs.map(\.jobID) == ["victim"])

        // Events are readable by anyone: they carry no state of a job with a token.
        var poller = ZMQPoller()
        poller.register(events)
        #expect(try poller.poll(timeoutMilliseconds: 3000).isReadable(events))
        let frames = try #require(try events.receiveMultipart(dontWait: true))
        let event = try Autowu_V1_Event(serializedBytes: frames[1])
        #expect(event.kind == .eventNotice && event.job.jobID == "victim" && event.job.version == 1 && event.job.incarnation != 0)
        #expect(!event.job.hasPlan && !event.job.hasSpec && event.job.stepsSeen == 0)
        pub.close()
        events.close()
        context.close()
    }

    @Test func aTokenJobRunsToTheSameDecisionOnNoticesAlone() throws {
        let daemon = try DaemonProcess(anonymous: false)
        let trace = "synth_a_parabola_min900_spe25_ep60_W1500.csv"
        let jobSpec = spec(stepsPerEpoch: 25, totalSteps: 3000, worldSize: 2)
        let (output, job) = try simulate(daemon, ["traces/\(trace)".repositoryPath, "--steps-per-epoch", "25", "--total-steps", "3000",
                                                  "--ranks", "2", "--job-id", "noticed", "--token", "s3cret"])
        let result = try #require(job, "simulate: \(output.stderr)")
        #expect(result.disagreements == 0 && result.switched)
        let expected = try #require(try expectedDecision(trace: try Traces.losses(trace), spec: jobSpec, jobID: "noticed"))
        #expect(result.switch_step == expected.step)
        let counters = try status(daemon).daemon.counters
        #expect(counters["events.published", default: 0] > 0)
    }

    @Test func allowAnonymousIsRefusedWhereOtherHostsCanConnect() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-exposed-\(UUID().uuidString)").path
        let refused = try runProcess(BuildProducts.executable("autowud"), [
            "--allow-anonymous", "--data-dir", directory, "--control", "tcp://0.0.0.0:0"], timeoutSeconds: 30)
        #expect(refused.status != 0 && !refused.timedOut)
        #expect(refused.stderr.contains("--allow-anonymous is for development") && refused.stderr.contains("tcp://0.0.0.0:0"))
    }

    @Test func anExposedBindWithoutCurveIsWarnedAboutLoudly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowud-exposed-\(UUID().uuidString)").path
        let run = try runProcess(BuildProducts.executable("autowud"), [
            "--data-dir", directory, "--control", "tcp://0.0.0.0:*", "--ingest", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*"],
            timeoutSeconds: 4)
        #expect(run.stdout.contains("autowud ready"), "it starts: \(run.stderr)")
        #expect(run.stderr.contains("WARNING: tcp://0.0.0.0:* can be reached from other hosts and CURVE is off"))
        #expect(run.stderr.contains("autowu keygen"))
    }

    @Test(.enabled(if: MungeDaemon.unavailableReason == nil, "needs munged, munge, runuser and root"))
    func mungeBindsAJobToTheUIDThatRegisteredIt() throws {
        let munge = try MungeDaemon()
        let daemon = try DaemonProcess(arguments: ["--munge-socket", munge.socket], anonymous: false)
        let raw = try RawControl(daemon.endpoints.control)
        let root = { (payload: String) in try munge.credential(payload: payload, asUser: "root") }
        let nobody = { (payload: String) in try munge.credential(payload: payload, asUser: "nobody") }

        // Two ranks prove their uid and bring no token: the daemon makes one, the same for both.
        let first = try root("u0:train")
        let rank0 = try #require(try register(raw, "u0:train", credential: first))
        #expect(rank0.job.version == 1 && rank0.jobToken.count == 64)
        let rank1 = try #require(try register(raw, "u0:train", credential: try root("u0:train"), rank: 1))
        #expect(rank1.jobToken == rank0.jobToken)
        // The owner's uid with a token of its own: refused now, not at its first gate with its losses dropped.
        let mismatched = try #require(try register(raw, "u0:train", token: "mine", credential: try root("u0:train"), rank: 1)?.error)
        #expect(mismatched.code == .errorUnauthorized && mismatched.message.contains("another token than the one this rank brings"))
        let snapshot = try raw.request(request(.snapshot(.with { $0.jobID = "u0:train"; $0.token = rank0.jobToken; $0.needEpoch = -1 })))
        #expect(snapshot?.job.jobID == "u0:train", "the made token works for the ranks' other messages")

        // A replayed credential; one made for another job.
        let replayed = try #require(try register(raw, "u0:train", credential: first)?.error)
        #expect(replayed.code == .errorUnauthorized && replayed.message.contains("fresh"))
        let elsewhere = try #require(try register(raw, "u0:train", credential: try root("u0:other"))?.error)
        #expect(elsewhere.code == .errorUnauthorized && elsewhere.message.contains("made for \"u0:other\""))

        // Another uid: cannot join, squat an id of uid 0, read, or expire; its own namespace is its own.
        let stranger = try #require(try register(raw, "u0:train", credential: try nobody("u0:train"), rank: 1)?.error)
        #expect(stranger.code == .errorUnauthorized && stranger.message.contains("uid 0") && stranger.message.contains("65534"))
        let squat = try #require(try register(raw, "u0:next", credential: try nobody("u0:next"))?.error)
        #expect(squat.code == .errorUnauthorized && squat.message.contains("belong to uid 0"))
        #expect(try register(raw, "u0:next", token: "guess")?.error.code == .errorUnauthorized, "nor with a token alone")
        #expect(try register(raw, "u65534:mine", credential: try nobody("u65534:mine"))?.job.version == 1)
        let theirs = try #require(try raw.request(request(.status(.with { $0.mungeCredential = try! nobody("") }))))
        #expect(theirs.jobs.jobs.map(\.jobID) == ["u65534:mine"])
        #expect(try raw.error(request(.expireJob(.with { $0.jobID = "u0:train"; $0.mungeCredential = try! nobody("u0:train") })))?.code == .errorUnauthorized)

        // The daemon's own user (root here) is an admin: it reads and expires every job.
        let all = try #require(try raw.request(request(.status(.with { $0.mungeCredential = try! root("") }))))
        #expect(all.jobs.jobs.map(\.jobID) == ["u0:train", "u65534:mine"])
        let expired = try #require(try raw.request(request(.expireJob(.with { $0.jobID = "u65534:mine"; $0.mungeCredential = try! root("u65534:mine") }))))
        #expect(expired.jobs.jobs.first?.phase == .expired)

        // The owner survives a restart: the store keeps it, and the made token is made again the same.
        _ = daemon.stop()
        try daemon.start()
        let again = try RawControl(daemon.endpoints.control)
        #expect(try register(again, "u0:train", credential: try root("u0:train"))?.jobToken == rank0.jobToken)
        #expect(try register(again, "u0:train", credential: try nobody("u0:train"))?.error.code == .errorUnauthorized)
    }
}

private extension String {
    var repositoryPath: String { BuildProducts.repository.appendingPathComponent(self).path }
}
