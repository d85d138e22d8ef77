import Foundation
import Logging
import ZeroMQ

/// The daemon's message handling without a network, for the fuzz targets (Sources/autowu-fuzz): a real
/// `DaemonServer` on a real store, its sockets bound to `inproc` endpoints nobody connects to (replies and
/// events go nowhere), fed frames as its sockets would hand them over. Use from one thread.
@_spi(Fuzzing)
public final class DaemonFuzzHarness {
    private let server: DaemonServer
    private let context: ZMQContext

    /// A daemon on the store in `directory` (created if missing), with a memory budget of `memoryBudgetBytes`.
    public init(directory: String, memoryBudgetBytes: Int? = 64 << 20) throws {
        var configuration = DaemonConfiguration(dataDirectory: directory, testWorkers: 1)
        let name = "fuzz-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        configuration.controlEndpoint = "inproc://\(name)-control"
        configuration.ingestEndpoint = "inproc://\(name)-ingest"
        configuration.eventsEndpoint = "inproc://\(name)-events"
        configuration.memoryBudgetBytes = memoryBudgetBytes
        configuration.closeTimeoutMilliseconds = 1
        configuration.allowAnonymous = true  // the harness exercises message handling, not access
        var logger = Logger(label: "autowud-fuzz")
        logger.logLevel = .critical
        server = try DaemonServer(configuration: configuration, logger: logger)
        context = try ZMQContext()
        try server.bind(context: context)
    }

    deinit {
        server.closeSockets()
        context.close()
    }

    /// Frames as the control ROUTER hands them over: the peer's routing id first.
    public func control(_ frames: [[UInt8]]) throws {
        try server.handleControl(frames)
    }

    /// Frames as the ingest SUB hands them over: the topic first.
    public func ingest(_ frames: [[UInt8]]) {
        server.handleIngest(frames)
    }

    /// The loop's timed work, then every test it started run to completion and stored.
    public func tick() {
        server.serviceTimersAndTests()
        server.settle()
    }

    /// Removes every job (from the store too): the next input starts from an empty daemon.
    public func reset() {
        tick()
        for job in Array(server.jobs.values) { _ = server.remove(job, reason: "fuzz input done") }
    }

    public var jobCount: Int { server.jobs.count }
}
