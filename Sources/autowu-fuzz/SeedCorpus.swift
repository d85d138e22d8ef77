import AutoWUProtocol
import Foundation
import SwiftProtobuf

/// The seed corpus: every message of protocol/vectors/messages.json for the protocol target (its kind
/// byte first), and for the daemon target each request and loss batch alone plus short scenarios that take
/// a job through registration, losses, a closed and tested epoch, waits, status and expiry.
enum SeedCorpus {
    static func write(vectors: String, to directory: String) throws -> (protocol: Int, daemon: Int) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: vectors))) as? [String: Any]
        let messages = json?["messages"] as? [[String: Any]] ?? []
        let protocolDirectory = directory + "/protocol", daemonDirectory = directory + "/daemon"
        for path in [protocolDirectory, daemonDirectory] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        var protocolSeeds = 0, daemonSeeds = 0
        func save(_ bytes: [UInt8], _ name: String, in path: String) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: "\(path)/\(name)"))
        }
        let kinds: [String: ProtocolTarget.Kind] = [
            "autowu.v1.Request": .request, "autowu.v1.Reply": .reply, "autowu.v1.LossBatch": .lossBatch,
            "autowu.v1.Event": .event]
        for message in messages {
            guard let name = message["name"] as? String, let type = message["type"] as? String,
                  let hex = message["binary_hex"] as? String, let kind = kinds[type] else { continue }
            let bytes = decodeHex(hex)
            try save([kind.rawValue] + bytes, name, in: protocolDirectory)
            protocolSeeds += 1
            // What a message carries is fuzzed as its own kind too.
            if kind == .reply, let reply = try? Autowu_V1_Reply(serializedBytes: bytes), case .job(let state)? = reply.body {
                try save([ProtocolTarget.Kind.jobState.rawValue] + (try state.serializedBytes()), name + "_state", in: protocolDirectory)
                try save([ProtocolTarget.Kind.plan.rawValue] + (try state.plan.serializedBytes()), name + "_plan", in: protocolDirectory)
                try save([ProtocolTarget.Kind.jobSpec.rawValue] + (try state.spec.serializedBytes()), name + "_spec", in: protocolDirectory)
                protocolSeeds += 3
            }
            if kind == .request {
                try save(record(0, bytes), name, in: daemonDirectory)
                daemonSeeds += 1
            } else if kind == .lossBatch {
                try save(record(2, bytes), name, in: daemonDirectory)
                daemonSeeds += 1
            }
        }
        for (name, scenario) in try scenarios() {
            try save(scenario, name, in: daemonDirectory)
            daemonSeeds += 1
        }
        return (protocolSeeds, daemonSeeds)
    }

    static func record(_ op: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [op, UInt8(payload.count & 0xFF), UInt8(payload.count >> 8 & 0xFF)] + payload
    }

    static func request(_ id: UInt64, _ body: Autowu_V1_Request.OneOf_Body) throws -> [UInt8] {
        record(0, try Autowu_V1_Request.with { $0.protocolVersion = 1; $0.requestID = id; $0.body = body }.serializedBytes())
    }

    static func losses(job: String, token: String = "", rank: UInt32, from first: UInt64, _ values: [Double]) throws -> [UInt8] {
        record(2, try Autowu_V1_LossBatch.with {
            $0.protocolVersion = 1; $0.jobID = job; $0.token = token; $0.rank = rank; $0.firstStep = first; $0.losses = values
        }.serializedBytes())
    }

    static let tick: [UInt8] = [3, 0, 0]

    static func scenarios() throws -> [(String, [UInt8])] {
        let twoRanks = Autowu_V1_JobSpec.with { $0.stepsPerEpoch = 3; $0.totalSteps = 60; $0.worldSize = 2 }
        let falling = (0..<12).map { 3.0 - 0.1 * Double($0) }
        var epochs = try request(1, .register(.with { $0.jobID = "s1"; $0.token = "t"; $0.spec = twoRanks }))
        for rank in 0..<2 { epochs += try losses(job: "s1", token: "t", rank: UInt32(rank), from: 0, falling) }
        epochs += tick + (try request(2, .snapshot(.with { $0.jobID = "s1"; $0.token = "t"; $0.needEpoch = 1; $0.waitMs = 0 })))
        epochs += tick + (try request(3, .status(.init()))) + (try request(4, .expireJob(.with { $0.jobID = "s1"; $0.token = "t" })))

        var rankZero = twoRanks
        rankZero.reporting = .reportingRankZero
        rankZero.hyperparameters.divergenceFactor = .infinity
        var diverging = try request(1, .register(.with { $0.jobID = "s2"; $0.spec = rankZero }))
        diverging += try losses(job: "s2", rank: 0, from: 0, [2, 1.9, 1.8, .nan, .infinity, .nan, 1e300, -.infinity, 0])
        diverging += tick + (try request(2, .snapshot(.with { $0.jobID = "s2"; $0.needEpoch = 0; $0.waitMs = 1 }))) + tick

        var pending = try request(1, .register(.with { $0.jobID = "s3"; $0.spec = twoRanks }))
        pending += try request(2, .snapshot(.with {
            $0.jobID = "s3"; $0.rank = 1; $0.needEpoch = 0; $0.waitMs = 5
            $0.pending = .with { $0.firstStep = 0; $0.losses = [1, 2, 3, 4] } }))
        pending += try losses(job: "s3", rank: 0, from: 0, [1, 2, 3]) + tick + tick

        let large = Autowu_V1_JobSpec.with { $0.stepsPerEpoch = 65_535; $0.totalSteps = 1 << 40; $0.worldSize = 65_536; $0.decisionDelaySteps = 0 }
        var bomb = try request(1, .register(.with { $0.jobID = "s4"; $0.spec = large }))
        bomb += try losses(job: "s4", rank: 65_535, from: 65_534, [1]) + (try losses(job: "s4", rank: 0, from: (1 << 40) - 2, [1, 2, 3]))
        bomb += try request(2, .snapshot(.with { $0.jobID = "s4"; $0.rank = 7; $0.needEpoch = Int64.max; $0.waitMs = 60_000 })) + tick
        return [("scenario_two_epochs", epochs), ("scenario_rank_zero_diverging", diverging),
                ("scenario_pending", pending), ("scenario_declared_sizes", bomb)]
    }

    static func decodeHex(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            if let byte = UInt8(hex[index..<next], radix: 16) { bytes.append(byte) }
            index = next
        }
        return bytes
    }
}
