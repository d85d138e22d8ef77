import Foundation
import ZeroMQ

/// The result of work running on its own `Thread`, which the test waits for
/// with a bound so that a broken socket fails the test instead of hanging it.
final class ThreadOutcome<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private var value: Value?

    /// Starts `body` on a new thread; sockets it needs must be created inside it.
    init(_ body: @escaping @Sendable () -> Value) {
        Thread { [self] in
            let result = body()
            lock.lock()
            value = result
            lock.unlock()
            finished.signal()
        }.start()
    }

    /// The thread's result, or `nil` if it has not finished within `seconds`.
    func wait(seconds: Double) -> Value? {
        guard finished.wait(timeout: .now() + seconds) == .success else {
            return nil
        }
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// A signal from one thread to another: "my socket is bound", "I am about to block".
final class Signal: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    func fire() {
        semaphore.signal()
    }

    func wait(seconds: Double) -> Bool {
        semaphore.wait(timeout: .now() + seconds) == .success
    }
}

/// Repeats `attempt` until it returns a value or `seconds` pass.
func eventually<Value>(within seconds: Double, _ attempt: () throws -> Value?) rethrows -> Value? {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let value = try attempt() {
            return value
        }
    }
    return nil
}

/// A unique inproc endpoint, so tests running in parallel never collide.
func uniqueInprocEndpoint(_ name: String) -> String {
    "inproc://\(name)-\(UUID().uuidString)"
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
