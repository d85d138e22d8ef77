import CFuzzerDriver
import Foundation

/// `autowu-fuzz TARGET ...`: the libFuzzer targets of autowu.
///
/// - `protocol`: decoding every wire message (and what clients and the daemon build from them: job
///   parameters, plans, LRs, the stored controller), re-encoding, decoding again.
/// - `daemon`: the daemon's message handling: records of control frames, ingest frames and loop ticks fed to a
///   real daemon (real store, tests run), which is emptied after each input.
///
/// Built by scripts/fuzz with `-sanitize=fuzzer -DFUZZING`, the arguments after TARGET are libFuzzer's. A plain
/// build replays files instead (`autowu-fuzz TARGET FILE-OR-DIRECTORY...`: crash reproducers, the corpus), and
/// `autowu-fuzz seeds VECTORS.json DIRECTORY` writes the seed corpus from the protocol's test vectors.
@main
struct AutoWUFuzz {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else { usage() }
        let name = arguments[1]
        if name == "seeds" {
            guard arguments.count == 4 else { usage() }
            let written = try SeedCorpus.write(vectors: arguments[2], to: arguments[3])
            print("wrote \(written.protocol) protocol seeds and \(written.daemon) daemon seeds to \(arguments[3])")
            return
        }
        guard let target = FuzzTarget(rawValue: name) else { usage() }
        FuzzTarget.selected = target
        #if FUZZING
        // libFuzzer reads the remaining arguments (flags, corpus directories) itself.
        var argc = CommandLine.argc - 1
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv + 1
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzTarget.run(UnsafeBufferPointer(start: data, count: size))
            return 0
        })
        #else
        var count = 0
        for path in arguments.dropFirst(2) {
            for file in try files(at: path) {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
                bytes.withUnsafeBufferPointer { FuzzTarget.run($0) }
                count += 1
            }
        }
        print("replayed \(count) inputs through the \(name) target")
        #endif
    }

    static func files(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        guard isDirectory.boolValue else { return [path] }
        return try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" }
    }

    static func usage() -> Never {
        FileHandle.standardError.write(Data("""
            usage: autowu-fuzz protocol|daemon [libFuzzer arguments | FILE-OR-DIRECTORY...]
                   autowu-fuzz seeds protocol/vectors/messages.json DIRECTORY

            """.utf8))
        exit(2)
    }
}

enum FuzzTarget: String {
    case `protocol`
    case daemon

    /// Chosen once, before libFuzzer starts; read by the C callback, which can capture nothing.
    nonisolated(unsafe) static var selected = FuzzTarget.protocol

    static func run(_ input: UnsafeBufferPointer<UInt8>) {
        switch selected {
        case .protocol: ProtocolTarget.run(input)
        case .daemon: DaemonTarget.run(input)
        }
    }
}
