import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import SwiftProtobuf
import Testing
import ZeroMQ

/// Every kind of bad input on every socket: counted, answered with a clear error on the control socket,
/// and no effect on anything else.
@Suite(.serialized) struct BadInputTests {
    final class RawControl {
        let context: ZMQContext
        let socket: ZMQSocket
        init(_ endpoint: String) throws {
            context = try ZMQContext()
            socket = try context.socket(.dealer)
            try socket.connect(endpoint)
        }
        func send(_ frames: [[UInt8]]) throws { try socket.sendMultipart(frames) }
        func reply(timeout: Int = 3000) throws -> Autowu_V1_Reply? {
            var poller = ZMQPoller()
            poller.register(socket)
            guard try poller.poll(timeoutMilliseconds: timeout).isReadable(socket),
                  let frames = try socket.receiveMultipart(dontWait: true), let body = frames.last else { return nil }
            return try Autowu_V1_Reply(serializedBytes: body)
        }
        func request(_ request: Autowu_V1_Request) throws -> Autowu_V1_Reply? {
            try send([[], try request.serializedBytes()])
            return try reply()
        }
        func error(_ request: Autowu_V1_Request) throws -> Autowu_V1_Error? {
            guard case .error(let error)? = try self.request(request)?.body else { return nil }
            return error
        }
    }

    func request(_ body: Autowu_V1_Request.OneOf_Body, version: UInt32 = 1) -> Autowu_V1_Request {
        .with { $0.protocolVersion = version; $0.requestID = 77; $0.body = body }
    }

    @Test func badControlRequestsGetClearErrorsAndChangeNothing() throws {
        let daemon = try DaemonProcess()
        let raw = try RawControl(daemon.endpoints.control)
        let good = spec(stepsPerEpoch: 10, totalSteps: 1000, worldSize: 2)

        // Garbage bytes, and garbage framing.
        try raw.send([[], Array("definitely not protobuf \u{1}\u{2}\u{3}".utf8) + [0xFF, 0xFF, 0xFF]])
        let garbage = try #require(try raw.reply())
        #expect(garbage.error.code == .errorMalformed)
        try raw.send([[], [1], [2], [3]])
        #expect(try raw.reply()?.error.code == .errorMalformed)
        // A request with no body; an unknown protocol version.
        #expect(try raw.error(.with { $0.protocolVersion = 1; $0.requestID = 5 })?.code == .errorMalformed)
        let version = try #require(try raw.error(request(.ping(.init()), version: 9)))
        #expect(version.code == .errorUnsupportedVersion && version.message.contains("9"))
        // Unknown job; a malformed job id.
        let unknown = try #require(try raw.error(request(.snapshot(.with { $0.jobID = "nope"; $0.needEpoch = -1 }))))
        #expect(unknown.code == .errorUnknownJob && unknown.message.contains("nope"))
        #expect(try raw.error(request(.register(.with { $0.jobID = "bad id!"; $0.spec = good })))?.code == .errorInvalidArgument)
        // Wrong parameters, each named in the message.
        for (mutate, mentions) in [
            ({ (s: inout Autowu_V1_JobSpec) in s.stepsPerEpoch = 0 }, "steps_per_epoch"),
            ({ (s: inout Autowu_V1_JobSpec) in s.worldSize = 1_000_000_000 }, "world_size"),
            ({ (s: inout Autowu_V1_JobSpec) in s.totalSteps = 1 << 50 }, "total_steps"),
            ({ (s: inout Autowu_V1_JobSpec) in s.hyperparameters.etaMin = .nan }, "eta_min"),
            ({ (s: inout Autowu_V1_JobSpec) in s.hyperparameters.etaMax = 1e-6 }, "eta_max"),
            ({ (s: inout Autowu_V1_JobSpec) in s.hyperparameters.rhoW = 1.5 }, "rho_w"),
            ({ (s: inout Autowu_V1_JobSpec) in s.hyperparameters.confidence = .infinity }, "confidence"),
            ({ (s: inout Autowu_V1_JobSpec) in s.hyperparameters.patience = 0 }, "patience"),
        ] as [((inout Autowu_V1_JobSpec) -> Void, String)] {
            var bad = good
            mutate(&bad)
            let error = try #require(try raw.error(request(.register(.with { $0.jobID = "params"; $0.spec = bad }))))
            #expect(error.code == .errorInvalidArgument && error.message.contains(mentions), "\(mentions): \(error.message)")
        }
        #expect(try status(daemon).jobs.isEmpty, "no bad registration created a job")

        // A real job with a token; then a conflicting spec, a wrong token.
        let registered = try #require(try raw.request(request(.register(.with { $0.jobID = "guarded"; $0.token = "s3cret"; $0.spec = good }))))
        #expect(registered.job.version == 1)
        var other = good
        other.totalSteps = 2000
        #expect(try raw.error(request(.register(.with { $0.jobID = "guarded"; $0.token = "s3cret"; $0.spec = other })))?.code == .errorConflict)
        #expect(try raw.error(request(.snapshot(.with { $0.jobID = "guarded"; $0.token = "wrong"; $0.needEpoch = -1 })))?.code == .errorUnauthorized)
        #expect(try raw.error(request(.expireJob(.with { $0.jobID = "guarded"; $0.token = "" })))?.code == .errorUnauthorized)
        // A rank waiting for an epoch it never reported is asked for its losses...
        let incomplete = try #require(try raw.error(request(.snapshot(.with {
            $0.jobID = "guarded"; $0.token = "s3cret"; $0.needEpoch = 3; $0.waitMs = 200 }))))
        #expect(incomplete.code == .errorIncomplete && incomplete.job.jobID == "guarded")
        // A wait shorter than the grace before that question ends at its own wait_ms, as a timeout.
        let short = try #require(try raw.error(request(.snapshot(.with {
            $0.jobID = "guarded"; $0.token = "s3cret"; $0.needEpoch = 3; $0.waitMs = 5 }))))
        #expect(short.code == .errorTimeout, "\(short.code): \(short.message)")
        // ...and with them, but rank 1 silent, the wait times out with the state attached.
        let timeout = try #require(try raw.error(request(.snapshot(.with {
            $0.jobID = "guarded"; $0.token = "s3cret"; $0.rank = 0; $0.needEpoch = 3; $0.waitMs = 200
            $0.pending = .with { $0.protocolVersion = 1; $0.firstStep = 0; $0.losses = Array(repeating: 2.0, count: 40) } }))))
        #expect(timeout.code == .errorTimeout && timeout.job.jobID == "guarded" && timeout.job.version == 1)
        // An oversized frame is refused by the socket itself; the daemon lives on.
        let huge = try RawControl(daemon.endpoints.control)
        try huge.send([[], [UInt8](repeating: 7, count: 2 << 20)])
        #expect(try huge.reply(timeout: 500) == nil)
        let after = try #require(try raw.request(request(.snapshot(.with { $0.jobID = "guarded"; $0.token = "s3cret"; $0.needEpoch = -1 }))))
        #expect(after.job.version == 1, "nothing changed the job")
        let counters = try status(daemon).daemon.counters
        #expect(counters["control.error.errorMalformed", default: 0] >= 3)
        #expect(counters["control.error.errorInvalidArgument", default: 0] >= 9)
    }

    @Test func garbageAndFloodsOnIngestAreCountedAndDisturbNoOtherJob() throws {
        let daemon = try DaemonProcess()
        let trace = try Traces.losses("digits_bs512_seed0_spe3_ep120_W360.csv")
        let jobSpec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 2)
        let endpoints = daemon.endpoints
        // A vandal floods the ingest socket while a real job trains.
        let vandal = Thread.detachNewThreadResult { () throws -> Int in
            let context = try ZMQContext()
            let pub = try context.socket(.pub)
            try pub.set(.sndhwm, 0)
            try pub.connect(endpoints.ingest)
            Thread.sleep(forTimeInterval: 0.2)
            var sent = 0
            for i in 0..<20_000 {
                switch i % 6 {
                case 0: try pub.sendMultipart([Array("loss/victim/".utf8), Array("garbage".utf8)])
                case 1: try pub.send([UInt8](repeating: 0xAB, count: 64))  // one frame
                case 2:  // a well-formed batch for a job that does not exist
                    try pub.sendMultipart([Array("loss/ghost/".utf8), try Autowu_V1_LossBatch.with {
                        $0.protocolVersion = 1; $0.jobID = "ghost"; $0.losses = [1, 2, 3] }.serializedBytes()])
                case 3:  // the victim's id without its token: forged reports
                    try pub.sendMultipart([Array("loss/victim/".utf8), try Autowu_V1_LossBatch.with {
                        $0.protocolVersion = 1; $0.jobID = "victim"; $0.token = "guess"; $0.firstStep = UInt64(i % 300); $0.losses = [1e9] }.serializedBytes()])
                case 4:  // an unknown protocol version
                    try pub.sendMultipart([Array("loss/victim/".utf8), try Autowu_V1_LossBatch.with {
                        $0.protocolVersion = 2; $0.jobID = "victim"; $0.token = "t"; $0.losses = [1e9] }.serializedBytes()])
                default:  // NaN/inf floods for a step far in the future
                    try pub.sendMultipart([Array("loss/victim/".utf8), try Autowu_V1_LossBatch.with {
                        $0.protocolVersion = 1; $0.jobID = "victim"; $0.token = "t"; $0.rank = 9; $0.firstStep = 1 << 39; $0.losses = [.nan, .infinity] }.serializedBytes()])
                }
                sent += 1
            }
            Thread.sleep(forTimeInterval: 0.5)
            pub.close()
            return sent
        }
        let rates = try onThreads(2) { rank -> [Double] in
            var options = RankClient.Options(endpoints: endpoints, jobID: "victim", token: "t", rank: rank, spec: jobSpec)
            options.batchSize = 1
            let client = try RankClient(options: options)
            defer { client.close() }
            return try play(client, trace: trace, from: 0, to: 360)
        }
        #expect(try vandal.value() == 20_000)
        #expect(rates[0].map(\.bitPattern) == rates[1].map(\.bitPattern))
        let job = try #require(try status(daemon, job: "victim", token: "t").jobs.first)
        let expected = try #require(try expectedDecision(trace: trace, spec: jobSpec, jobID: "victim"))
        #expect(job.decision.step == UInt64(expected.step), "the flood changed no decision")
        #expect(job.decision.learningRate == expected.learningRate)
        let counters = try status(daemon).daemon.counters
        for name in ["ingest.malformed", "ingest.unknown_job", "ingest.unauthorized", "ingest.unsupported_version"] {
            #expect(counters[name, default: 0] > 0, "\(name) counted")
        }
        #expect(counters["ingest.out_of_range", default: 0] + counters["ingest.ignored_rank", default: 0] > 0)
    }

    @Test func droppedLossMessagesCostNoDecisionAndNoDisagreement() throws {
        let daemon = try DaemonProcess()
        // The ranks' reports pass a link that loses every 7th message.
        let proxy = try LossyIngestProxy(target: daemon.endpoints.ingest, dropEvery: 7)
        defer { proxy.stop() }
        var lossy = daemon.endpoints
        lossy.ingest = proxy.endpoint
        let endpoints = lossy
        let trace = try Traces.losses("synth_a_parabola_min900_spe25_ep60_W1500.csv")
        let jobSpec = spec(stepsPerEpoch: 25, totalSteps: 3000, worldSize: 8)
        let rates = try onThreads(8) { rank -> [Double] in
            var options = RankClient.Options(endpoints: endpoints, jobID: "lossy", rank: rank, spec: jobSpec)
            options.batchSize = 1
            let client = try RankClient(options: options)
            defer { client.close() }
            return try play(client, trace: trace, from: 0, to: 1300)
        }
        for rank in 1..<8 { #expect(rates[rank].map(\.bitPattern) == rates[0].map(\.bitPattern)) }
        let list = try status(daemon, job: "lossy")
        let job = try #require(list.jobs.first)
        #expect(job.hasDecision, "the warmup ended")
        #expect(proxy.dropped > 500, "reports were lost on the way: \(proxy.dropped)")
        #expect(job.lastVerdict.reportsMissing == 0, "resent at the gate, no data point was lost")
        let expected = try #require(try expectedDecision(trace: trace, spec: jobSpec, jobID: "lossy"))
        #expect(job.decision.step == UInt64(expected.step), "the decision is the one without losses")
        #expect(job.decision.learningRate == expected.learningRate)
    }
}
