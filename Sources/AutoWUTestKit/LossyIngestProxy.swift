import Foundation
import ZeroMQ

/// A real lossy link for tests: a SUB that ranks publish their loss reports to, forwarding to the daemon's
/// ingest socket through a PUB, and dropping every `dropEvery`-th message on the way: drops that happen
/// for sure, unlike the high-water mark's.
public final class LossyIngestProxy: @unchecked Sendable {
    // `endpoint` is set before init returns; the counters and the stop flag are behind the lock.
    public private(set) var endpoint = ""
    private let lock = NSLock()
    private var forwardedCount = 0
    private var droppedCount = 0
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    public init(target: String, dropEvery: Int) throws {
        precondition(dropEvery >= 2)
        let ready = DispatchSemaphore(value: 0)
        let failure = LockedData()
        let thread = Thread { [self] in
            do {
                let context = try ZMQContext()
                let inbound = try context.socket(.sub)
                try inbound.set(.rcvhwm, 0)
                try inbound.subscribe(to: [UInt8]())
                try inbound.bind("tcp://127.0.0.1:*")
                let outbound = try context.socket(.pub)
                try outbound.set(.sndhwm, 0)
                try outbound.connect(target)
                lock.withLock { endpoint = (try? inbound.lastEndpoint) ?? "" }
                ready.signal()
                var poller = ZMQPoller()
                poller.register(inbound)
                var index = 0
                while !lock.withLock({ stopping }) {
                    guard try poller.poll(timeoutMilliseconds: 50).isReadable(inbound) else { continue }
                    while let frames = try inbound.receiveMultipart(dontWait: true) {
                        index += 1
                        if index % dropEvery == 0 {
                            lock.withLock { droppedCount += 1 }
                        } else {
                            try outbound.sendMultipart(frames)
                            lock.withLock { forwardedCount += 1 }
                        }
                    }
                }
                inbound.close()
                outbound.close()
                context.close()
            } catch {
                failure.set(Data("\(error)".utf8))
                ready.signal()
            }
            finished.signal()
        }
        thread.start()
        ready.wait()
        if failure.isSet { throw DaemonProcessError.notReady(log: String(decoding: failure.value, as: UTF8.self)) }
    }

    public var dropped: Int { lock.withLock { droppedCount } }
    public var forwarded: Int { lock.withLock { forwardedCount } }

    public func stop() {
        lock.withLock { stopping = true }
        finished.wait()
    }
}
