import Foundation

/// Wakes the I/O thread from another thread: a pipe the I/O thread polls next to its sockets. Test
/// results, commits that landed and the stop request come through here, so no ZeroMQ socket is ever shared between threads.
final class Wakeup: @unchecked Sendable {
    // The fds are set once in init and only read after; the stop flag and the results are behind the lock.
    let readDescriptor: Int32
    private let writeDescriptor: Int32
    private let lock = NSLock()
    private var results: [EpochTest.Result] = []
    private var commits: [StoreWriter.Outcome] = []
    private var stopRequested = false

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw DaemonError.system("pipe() failed: errno \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        readDescriptor = fds[0]
        writeDescriptor = fds[1]
    }

    deinit {
        close(readDescriptor)
        close(writeDescriptor)
    }

    /// Hands a finished test (not yet in the store) to the I/O thread.
    func post(_ result: EpochTest.Result) {
        lock.withLock { results.append(result) }
        signal()
    }

    /// Hands a landed (or failed) group commit to the I/O thread.
    func post(_ outcome: StoreWriter.Outcome) {
        lock.withLock { commits.append(outcome) }
        signal()
    }

    func requestStop() {
        lock.withLock { stopRequested = true }
        signal()
    }

    var isStopRequested: Bool { lock.withLock { stopRequested } }

    /// Empties the pipe and hands over the posted tests and commits.
    func drain() -> (tested: [EpochTest.Result], committed: [StoreWriter.Outcome]) {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(readDescriptor, &buffer, buffer.count) > 0 {}
        return lock.withLock {
            defer {
                results.removeAll()
                commits.removeAll()
            }
            return (results, commits)
        }
    }

    private func signal() {
        var byte: UInt8 = 1
        _ = write(writeDescriptor, &byte, 1)  // a full pipe already wakes the reader: ignore EAGAIN
    }
}

public enum DaemonError: Error, CustomStringConvertible {
    case system(String)
    case store(String)

    public var description: String {
        switch self {
        case .system(let message), .store(let message): return message
        }
    }
}
