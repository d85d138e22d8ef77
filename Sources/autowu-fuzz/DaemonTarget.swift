@_spi(Fuzzing) import AutoWUDaemon
import Foundation

/// An input is a sequence of records `[op: UInt8][length: UInt16 LE][payload]` (the last one takes what is
/// left), played against one real daemon (a real store on /dev/shm, tests run for real):
///
/// | op % 8 | what |
/// |---|---|
/// | 0, 6 | control frames `[peer, "", payload]` (peer = op / 8 % 4) |
/// | 1 | control frames `[peer, payload]` |
/// | 2, 7 | ingest frames `[topic, payload]` |
/// | 3 | a loop tick: deadlines, tests run to completion, group commit |
/// | 4 | control frames `[peer] + payload split at 0xFF 0x00` |
/// | 5 | ingest frames: payload split at 0xFF 0x00 |
///
/// After each input the daemon is ticked and emptied, so inputs do not depend on each other.
enum DaemonTarget {
    nonisolated(unsafe) static let harness: DaemonFuzzHarness = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let directory = "\(base)/autowu-fuzz-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        do {
            return try DaemonFuzzHarness(directory: directory)
        } catch {
            fatalError("cannot start the daemon harness in \(directory): \(error)")
        }
    }()

    struct Record {
        var op: UInt8
        var payload: [UInt8]
    }

    static func records(_ input: UnsafeBufferPointer<UInt8>) -> [Record] {
        var records: [Record] = []
        var index = 0
        while index < input.count, records.count < 256 {
            let op = input[index]
            index += 1
            var length = input.count - index
            if index + 2 <= input.count {
                length = min(Int(input[index]) | Int(input[index + 1]) << 8, input.count - index - 2)
                index += 2
            }
            records.append(Record(op: op, payload: Array(input[index ..< index + length])))
            index += length
        }
        return records
    }

    static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        var frames: [[UInt8]] = [[]]
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0xFF, index + 1 < bytes.count, bytes[index + 1] == 0x00 {
                frames.append([])
                index += 2
            } else {
                frames[frames.count - 1].append(bytes[index])
                index += 1
            }
        }
        return frames
    }

    static func run(_ input: UnsafeBufferPointer<UInt8>) {
        let harness = Self.harness
        for record in records(input) {
            let peer: [UInt8] = [0, 0x80, 0, 0, UInt8(record.op / 8 % 4)]
            switch record.op % 8 {
            case 0, 6: try? harness.control([peer, [], record.payload])
            case 1: try? harness.control([peer, record.payload])
            case 2, 7: harness.ingest([Array("loss/fuzz/".utf8), record.payload])
            case 3: harness.tick()
            case 4: try? harness.control([peer] + split(record.payload))
            default: harness.ingest(split(record.payload))
            }
        }
        harness.reset()
        precondition(harness.jobCount == 0, "every job was removed")
    }
}
