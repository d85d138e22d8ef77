import AutoWU
import AutoWUProtocol
import Foundation
import SwiftProtobuf
import Testing

/// The protocol's test vectors (protocol/vectors, made by the Python implementation): every LR bit for bit,
/// every gate, every message decoded and re-encoded to the same bytes.
@Suite struct VectorTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("protocol/vectors")

    static func load(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0 ..< $0 + 2], as: UTF8.self), radix: 16)! }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bits(_ hex: String) -> UInt64 { UInt64(hex.dropFirst(2), radix: 16)! }

    @Test func everyPlanGivesEveryLRBitForBit() throws {
        let plans = try #require(try Self.load("plans.json")["plans"] as? [[String: Any]])
        #expect(plans.count >= 12)
        var checked = 0
        for entry in plans {
            let name = entry["name"] as? String ?? "?"
            let binary = try Autowu_V1_Plan(serializedBytes: Self.bytes(hex: try #require(entry["plan_binary_hex"] as? String)))
            let json = try JSONSerialization.data(withJSONObject: try #require(entry["plan"]))
            #expect(try Autowu_V1_Plan(jsonUTF8Data: json) == binary, "\(name): JSON and binary forms differ")
            let plan = try RankPlan(wire: binary)
            for point in try #require(entry["lrs"] as? [[String: Any]]) {
                let step = try #require(point["step"] as? Int)
                let expected = Self.bits(try #require(point["lr"] as? String))
                let actual = plan.schedule.learningRate(at: step).bitPattern
                #expect(actual == expected, "\(name) step \(step): 0x\(String(actual, radix: 16)) vs 0x\(String(expected, radix: 16))")
                checked += 1
            }
        }
        #expect(checked >= 500)
    }

    @Test func everyGateIsWhereTheSpecSays() throws {
        let gates = try #require(try Self.load("gates.json")["gates"] as? [[String: Any]])
        for entry in gates {
            let name = entry["name"] as? String ?? "?"
            let plan = RankPlan(schedule: try LearningRatePlan(pieces: [.init(startStep: 0, segment: .constant(rate: 1))]),
                                stepsPerEpoch: try #require(entry["steps_per_epoch"] as? Int),
                                decisionDelaySteps: try #require(entry["decision_delay_steps"] as? Int),
                                warmupSteps: try #require(entry["warmup_steps"] as? Int),
                                decidedThroughEpoch: try #require(entry["decided_through_epoch"] as? Int),
                                isFinal: try #require(entry["final"] as? Bool))
            for point in try #require(entry["cases"] as? [[String: Any]]) {
                let step = try #require(point["step"] as? Int)
                #expect(plan.requiredEpoch(forStep: step) == point["required"] as? Int, "\(name) step \(step)")
                #expect(plan.permits(step: step) == point["permits"] as? Bool, "\(name) step \(step)")
            }
        }
    }

    @Test func everyMessageDecodesAndReencodesToTheSameBytes() throws {
        let messages = try #require(try Self.load("messages.json")["messages"] as? [[String: Any]])
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        for entry in messages {
            let name = entry["name"] as? String ?? "?"
            let bytes = Self.bytes(hex: try #require(entry["binary_hex"] as? String))
            let json = try JSONSerialization.data(withJSONObject: try #require(entry["json"]))
            // JSON cannot carry NaN payloads exactly: where losses are given as bit patterns, those are checked.
            let lossBits = (entry["losses_hex"] as? [String])?.map(Self.bits)
            let reencoded: [UInt8]
            switch entry["type"] as? String {
            case "autowu.v1.Request"?:
                let message = try Autowu_V1_Request(serializedBytes: bytes)
                if let lossBits {
                    #expect(message.snapshot.pending.losses.map(\.bitPattern) == lossBits, "\(name)")
                } else {
                    #expect(try Autowu_V1_Request(jsonUTF8Data: json) == message, "\(name)")
                }
                reencoded = try message.serializedBytes(options: options)
            case "autowu.v1.Reply"?:
                let message = try Autowu_V1_Reply(serializedBytes: bytes)
                #expect(try Autowu_V1_Reply(jsonUTF8Data: json) == message, "\(name)")
                reencoded = try message.serializedBytes(options: options)
            case "autowu.v1.Event"?:
                let message = try Autowu_V1_Event(serializedBytes: bytes)
                #expect(try Autowu_V1_Event(jsonUTF8Data: json) == message, "\(name)")
                reencoded = try message.serializedBytes(options: options)
            case "autowu.v1.LossBatch"?:
                let message = try Autowu_V1_LossBatch(serializedBytes: bytes)
                if let lossBits {
                    #expect(message.losses.map(\.bitPattern) == lossBits, "\(name)")
                } else {
                    #expect(try Autowu_V1_LossBatch(jsonUTF8Data: json) == message, "\(name)")
                }
                reencoded = try message.serializedBytes(options: options)
            default:
                Issue.record("\(name): unknown type \(String(describing: entry["type"]))")
                continue
            }
            #expect(Self.hex(reencoded) == Self.hex(bytes), "\(name): re-encoded bytes differ")
        }
    }
}
