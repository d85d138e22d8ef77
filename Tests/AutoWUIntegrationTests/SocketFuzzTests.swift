import AutoWU
import AutoWUClient
import AutoWUProtocol
import AutoWUTestKit
import Foundation
import Testing
import ZeroMQ

/// A short fuzz run at the sockets of a real daemon: the protocol's test vectors, mutated (bits flipped,
/// cut short, bytes inserted, chunks repeated, random bytes) and framed wrongly, thrown at the control and
/// ingest sockets while a real job trains. The daemon stays up and the job decides as the core does.
/// (The long campaign is libFuzzer's: scripts/fuzz.)
@Suite struct SocketFuzzTests {
    /// A seeded generator (the core's SplitMix64), so a failing run can be repeated.
    struct SplitMix: RandomNumberGenerator {
        var sampler: SubsetSampler
        init(state: UInt64) { sampler = SubsetSampler(seed: state) }
        mutating func next() -> UInt64 { sampler.nextUniformBits() }
    }

    static func vectors() throws -> (requests: [[UInt8]], batches: [[UInt8]]) {
        let url = BuildProducts.repository.appendingPathComponent("protocol/vectors/messages.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        var requests: [[UInt8]] = [], batches: [[UInt8]] = []
        for message in json?["messages"] as? [[String: Any]] ?? [] {
            guard let hex = message["binary_hex"] as? String, let type = message["type"] as? String else { continue }
            let bytes = stride(from: 0, to: hex.count - 1, by: 2).compactMap { offset -> UInt8? in
                let start = hex.index(hex.startIndex, offsetBy: offset)
                return UInt8(hex[start ..< hex.index(start, offsetBy: 2)], radix: 16)
            }
            if type == "autowu.v1.Request" { requests.append(bytes) }
            if type == "autowu.v1.LossBatch" { batches.append(bytes) }
        }
        return (requests, batches)
    }

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var bytes = input
        for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
            switch Int.random(in: 0 ..< 6, using: &rng) {
            case 0 where !bytes.isEmpty:  // flip a bit
                let index = Int.random(in: 0 ..< bytes.count, using: &rng)
                bytes[index] ^= 1 << UInt8.random(in: 0 ..< 8, using: &rng)
            case 1 where !bytes.isEmpty:  // cut short
                bytes.removeLast(Int.random(in: 1 ... bytes.count, using: &rng))
            case 2:  // insert random bytes
                let index = Int.random(in: 0 ... bytes.count, using: &rng)
                bytes.insert(contentsOf: (0 ..< Int.random(in: 1 ... 16, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }, at: index)
            case 3 where bytes.count > 2:  // repeat a chunk
                let start = Int.random(in: 0 ..< bytes.count - 1, using: &rng)
                let end = Int.random(in: start + 1 ... min(bytes.count, start + 64), using: &rng)
                bytes.insert(contentsOf: bytes[start ..< end], at: Int.random(in: 0 ... bytes.count, using: &rng))
            case 4 where !bytes.isEmpty:  // an extreme varint byte
                bytes[Int.random(in: 0 ..< bytes.count, using: &rng)] = [0x00, 0x7F, 0x80, 0xFF].randomElement(using: &rng)!
            default:  // random bytes altogether
                bytes = (0 ..< Int.random(in: 0 ... 200, using: &rng)).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            }
        }
        return bytes
    }

    /// Frames around a (mutated) body: mostly right, sometimes none, too many, empty or huge.
    static func frames(_ body: [UInt8], first: [UInt8], _ rng: inout SplitMix) -> [[UInt8]] {
        switch Int.random(in: 0 ..< 10, using: &rng) {
        case 0: return [body]
        case 1: return [first, body, body]
        case 2: return [[], [], first, body]
        case 3: return [first, [UInt8](repeating: 0x0A, count: Int.random(in: 1 ... 65_536, using: &rng))]
        default: return [first, body]
        }
    }

    /// The libFuzzer targets in a plain build: the seed corpus from the vectors replays through both.
    @Test func theFuzzTargetsReplayTheirSeedCorpus() throws {
        let fuzz = BuildProducts.executable("autowu-fuzz")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autowu-seeds-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let vectors = BuildProducts.repository.appendingPathComponent("protocol/vectors/messages.json").path
        let seeds = try runProcess(fuzz, ["seeds", vectors, directory], timeoutSeconds: 60)
        #expect(seeds.status == 0, "\(seeds.stderr)")
        for target in ["protocol", "daemon"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(target)")
            #expect(files.count >= 10, "\(target): \(files.count) seeds")
            let replay = try runProcess(fuzz, [target, "\(directory)/\(target)"], timeoutSeconds: 120)
            #expect(replay.status == 0 && replay.stdout.contains("replayed \(files.count) inputs"), "\(target): \(replay.stdout) \(replay.stderr.suffix(2000))")
        }
    }

    @Test func mutatedFramesAtControlAndIngestLeaveTheDaemonServingARealJob() throws {
        let daemon = try DaemonProcess()
        let endpoints = daemon.endpoints
        let (requests, batches) = try Self.vectors()
        #expect(requests.count >= 9 && batches.count >= 2)
        let messages = 20_000
        let vandal = Thread.detachNewThreadResult { () throws -> (control: Int, ingest: Int, replies: Int) in
            var rng = SplitMix(state: 0x00A7_0FA2_2011)
            let context = try ZMQContext()
            defer { context.close() }
            let control = try context.socket(.dealer)
            let ingest = try context.socket(.pub)
            defer { control.close(); ingest.close() }
            for socket in [control, ingest] { try socket.set(.linger, 0) }
            try control.connect(endpoints.control)
            try ingest.connect(endpoints.ingest)
            Thread.sleep(forTimeInterval: 0.2)
            var sent = (control: 0, ingest: 0, replies: 0)
            for index in 0 ..< messages {
                if index % 3 == 0 {
                    let body = Self.mutate(requests.randomElement(using: &rng)!, &rng)
                    // The DEALER adds no routing id: the ROUTER does. An empty delimiter is the first frame.
                    if try control.sendMultipart(Self.frames(body, first: [], &rng), dontWait: true) { sent.control += 1 }
                } else {
                    let body = Self.mutate(batches.randomElement(using: &rng)!, &rng)
                    let topic = Array("loss/\(["slurm-4242", "fuzzed", "", "x/y"].randomElement(using: &rng)!)/".utf8)
                    if try ingest.sendMultipart(Self.frames(body, first: topic, &rng), dontWait: true) { sent.ingest += 1 }
                }
                while try control.receiveMultipart(dontWait: true) != nil { sent.replies += 1 }
                if index % 500 == 0 { usleep(1_000) }
            }
            Thread.sleep(forTimeInterval: 0.5)
            while try control.receiveMultipart(dontWait: true) != nil { sent.replies += 1 }
            return sent
        }
        // A real job trains meanwhile.
        let trace = try Traces.losses("digits_bs512_seed0_spe3_ep120_W360.csv")
        let jobSpec = spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 2)
        let rates = try onThreads(2) { rank -> [Double] in
            var options = RankClient.Options(endpoints: endpoints, jobID: "steady", token: "own", rank: rank, spec: jobSpec)
            options.batchSize = 4
            let client = try RankClient(options: options)
            defer { client.close() }
            return try play(client, trace: trace, from: 0, to: 360)
        }
        let sent = try vandal.value()
        #expect(sent.control + sent.ingest >= messages / 2, "\(sent)")
        #expect(sent.replies > 0, "the daemon answered the vandal too")
        #expect(daemon.process?.isRunning == true, "the daemon stayed up: \(daemon.log.suffix(2000))")
        #expect(rates[0].map(\.bitPattern) == rates[1].map(\.bitPattern))
        let job = try #require(try status(daemon, job: "steady", token: "own").jobs.first)
        let expected = try #require(try expectedDecision(trace: trace, spec: jobSpec, jobID: "steady"))
        #expect(job.decision.step == UInt64(expected.step) && job.decision.learningRate == expected.learningRate,
                "the fuzz changed no decision")
        let counters = try status(daemon).daemon.counters
        #expect(counters["control.error.errorMalformed", default: 0] > 0)
        #expect(counters["ingest.malformed", default: 0] > 0)
        // And it still serves a new job after it all.
        let late = try RankClient(options: RankClient.Options(endpoints: endpoints, jobID: "late", rank: 0, spec: spec(stepsPerEpoch: 3, totalSteps: 720, worldSize: 1)))
        #expect(try play(late, trace: trace, from: 0, to: 30).count == 30)
        late.close()
    }
}
