import AutoWUClient
import Foundation

/// A real `autowud` process for tests: started on free loopback ports with its own data directory,
/// stopped gracefully, or killed with SIGKILL and started again on the same ports and data.
public final class DaemonProcess: @unchecked Sendable {
    // Mutated only by the test that owns it, one call at a time.
    public let dataDirectory: String
    public private(set) var endpoints: DaemonEndpoints
    /// `HOST:PORT` of `/metrics` as bound, when started with `--metrics-address`.
    public private(set) var metricsAddress: String?
    public private(set) var process: Process?
    public let extraArguments: [String]
    /// Set in the daemon's environment on top of the test's own.
    public let extraEnvironment: [String: String]
    private var logPath: String

    /// Starts a daemon on `tcp://127.0.0.1:*` ports and waits until it is ready. `anonymous`: with
    /// `--allow-anonymous`, so tests about other things need no tokens; false: the default configuration.
    public init(dataDirectory: String? = nil, arguments: [String] = [], environment: [String: String] = [:], anonymous: Bool = true) throws {
        let directory = dataDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("autowud-test-\(UUID().uuidString)").path
        self.dataDirectory = directory
        self.extraArguments = (anonymous ? ["--allow-anonymous"] : []) + arguments
        self.extraEnvironment = environment
        self.logPath = directory + ".log"
        self.endpoints = DaemonEndpoints(control: "tcp://127.0.0.1:*", ingest: "tcp://127.0.0.1:*", events: "tcp://127.0.0.1:*")
        try start()
    }

    deinit { stop() }

    /// (Re)starts the daemon on the current endpoints (the first start resolves the `*` ports).
    public func start() throws {
        let process = Process()
        process.executableURL = BuildProducts.executable("autowud")
        process.arguments = ["--data-dir", dataDirectory, "--control", endpoints.control, "--ingest", endpoints.ingest,
                             "--events", endpoints.events, "--close-timeout-ms", "3000"] + extraArguments
        // A test run under systemd must not let its daemons report to the test's own service manager.
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { environment.removeValue(forKey: key) }
        process.environment = environment.merging(extraEnvironment) { _, own in own }
        let out = Pipe()
        process.standardOutput = out
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        try process.run()
        self.process = process
        // The ready line names the bound endpoints.
        let handle = out.fileHandleForReading
        var buffer = Data()
        let deadline = Date().addingTimeInterval(30)
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty {
                guard Date() < deadline, process.isRunning else {
                    throw DaemonProcessError.notReady(log: (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
                }
                usleep(10_000)
                continue
            }
            buffer += chunk
        }
        let line = String(decoding: buffer, as: UTF8.self)
        func value(_ key: String) throws -> String {
            guard let range = line.range(of: key + "=") else { throw DaemonProcessError.notReady(log: line) }
            return String(line[range.upperBound...].prefix { !$0.isWhitespace })
        }
        endpoints = DaemonEndpoints(control: try value("control"), ingest: try value("ingest"), events: try value("events"))
        metricsAddress = try? value("metrics")
    }

    /// kill -9: no chance to flush or close anything.
    public func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        guard let process else { return 0 }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The control endpoint as `tcp://HOST:PORT`, the base form `autowu --endpoint` takes when the ports are
    /// consecutive; tests pass the three endpoints explicitly through the environment instead.
    public var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["AUTOWU_CONTROL"] = endpoints.control
        environment["AUTOWU_INGEST"] = endpoints.ingest
        environment["AUTOWU_EVENTS"] = endpoints.events
        environment.removeValue(forKey: "AUTOWU_ENDPOINT")
        // A daemon that takes anonymous jobs: the tools' jobs are anonymous too (simulate would make a token).
        if extraArguments.contains("--allow-anonymous") { environment["AUTOWU_TOKEN"] = "" }
        return environment
    }
}

public enum DaemonProcessError: Error, CustomStringConvertible {
    case notReady(log: String)
    public var description: String {
        switch self {
        case .notReady(let log): return "autowud did not become ready; its log:\n\(log)"
        }
    }
}
