import Foundation
import Logging
import ServiceLifecycle
import ZeroMQ

/// `autowud` as a swift-service-lifecycle `Service`: the I/O loop runs on its own thread (ZeroMQ sockets
/// are not thread-safe and the loop blocks in zmq_poll); graceful shutdown (SIGTERM/SIGINT, handled by the
/// `ServiceGroup`) asks the loop to stop through the wakeup pipe.
public final class DaemonService: Service, @unchecked Sendable {
    // `server` is created in init and only touched again by the I/O thread; `wakeup` is thread-safe.
    private let server: DaemonServer
    private let logger: Logger
    private let ready: @Sendable (_ control: String, _ ingest: String, _ events: String) -> Void

    /// Opens the store and reloads the live jobs; `ready` is called once the sockets are bound.
    public init(configuration: DaemonConfiguration, logger: Logger, metrics: DaemonMetrics = .disabled(),
                ready: @escaping @Sendable (_ control: String, _ ingest: String, _ events: String) -> Void = { _, _, _ in }) throws {
        // Every connected rank holds three TCP connections, each a descriptor: the usual soft limit of 1024
        // would stop at about 330 ranks.
        let openFiles = OpenFileLimit.raiseToHardLimit()
        logger.info("open-file limit", metadata: ["limit": "\(openFiles)", "ranks_about": "\(max(0, openFiles - 64) / 3)"])
        self.server = try DaemonServer(configuration: configuration, logger: logger, metrics: metrics)
        self.logger = logger
        self.ready = ready
    }

    public func run() async throws {
        let wakeup = server.wakeup
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread { [self] in
                    do {
                        let context = try ZMQContext()
                        // zmq_ctx_term waits for every socket: close ours first, also when binding failed.
                        defer {
                            server.closeSockets()
                            context.close()
                        }
                        try server.bind(context: context)
                        let bound = server.endpoints
                        logger.notice("listening", metadata: ["control": "\(bound.control)", "ingest": "\(bound.ingest)",
                                                              "events": "\(bound.events)", "store": "\(server.store.path)"])
                        ready(bound.control, bound.ingest, bound.events)
                        try server.runLoop()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "autowud-io"
                thread.start()
            }
        } onGracefulShutdown: {
            wakeup.requestStop()
        }
        logger.notice("stopped")
    }
}
