import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// `GET /metrics` in the Prometheus text format, on SwiftNIO's shared event loop (the daemon's I/O thread
/// blocks in zmq_poll). Bound before the daemon reports ready, so a taken port stops the start instead of
/// leaving a daemon without metrics.
final class MetricsServer: Service {
    private let channel: any Channel
    /// The bound address, `HOST:PORT` (the port resolved when 0 was asked for).
    let address: String

    private init(channel: any Channel) {
        self.channel = channel
        let local = channel.localAddress
        let host = local?.ipAddress ?? "?"
        self.address = (host.contains(":") ? "[\(host)]" : host) + ":\(local?.port ?? 0)"
    }

    static func bind(_ address: MetricsAddress, registry: PrometheusCollectorRegistry) async throws -> MetricsServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(registry: registry))
                }
            }
            .bind(host: address.host, port: address.port).get()
        return MetricsServer(channel: channel)
    }

    func run() async throws {
        // Served until the group stops; it is the first service, so it stops last.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: { [channel] in
            channel.close(promise: nil)
        }
    }
}
