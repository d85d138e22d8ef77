import Foundation

/// Wakes the I/O thread from another thread: a pipe the I/O thread polls next to its sockets. Test
/// results and the stop request come through here, so no ZeroMQ socket is ever shared between threads.
final class Wakeup: @unchecked Sendable {
    // The fds are set once in init and only read after; the stop flag and the mail are behind the lock.
    let readDescriptor: Int32
    private let writeDescriptor: Int32
    private let lock = NSLock()
    private var mail: [Mail] = []
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

    /// What other threads hand to the I/O thread.
    enum Mail: Sendable {
        /// A test finished (not yet in the store).
        case tested(EpochTest.Result)
        /// A group commit finished: each result's store error, or nil where it landed.
        case persisted([EpochTest.Result], [String?])
    }

    func post(_ item: Mail) {
        lock.withLock { mail.append(item) }
        signal()
    }

    func requestStop() {
        lock.withLock { stopRequested = true }
        signal()
    }

    var isStopRequested: Bool { lock.withLock { stopRequested } }

    /// Empties the pipe and hands over the posted mail.
    func drain() -> [Mail] {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(readDescriptor, &buffer, buffer.count) > 0 {}
        return lock.withLock {
            defer { mail.removeAll() }
            return mail
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
