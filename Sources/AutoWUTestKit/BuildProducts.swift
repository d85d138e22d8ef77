import Foundation

/// Finds the package's executables next to the running test bundle (`.build/<config>/`).
public enum BuildProducts {
    public static let directory: URL = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("autowud").path), directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    public static func executable(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// The repository root, from this file's location.
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A command's outcome.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Killed at the timeout.
    public var timedOut = false
}

/// Runs an executable to completion and captures its output. With `timeoutSeconds`, a process still running
/// then is killed (SIGKILL; its status is then 9 with `timedOut`), so that a test expecting an exit fails
/// instead of hanging when the program goes on running.
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                       timeoutSeconds: Double? = nil) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let killer = timeoutSeconds.map { seconds in
        let timer = DispatchSource.makeTimerSource()
        timer.schedule(deadline: .now() + seconds)
        timer.setEventHandler { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        timer.resume()
        return timer
    }
    defer { killer?.cancel() }
    // Read both pipes concurrently so neither can fill up and block the child.
    let errData = LockedData()
    let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errData.isSet { usleep(1000) }
    return ProcessOutput(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: errData.value, as: UTF8.self),
                         timedOut: process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ value: Data) { lock.withLock { data = value } }
    var isSet: Bool { lock.withLock { data != nil } }
    var value: Data { lock.withLock { data ?? Data() } }
}
