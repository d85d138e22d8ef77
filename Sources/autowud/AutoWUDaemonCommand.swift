import ArgumentParser
import AutoWUDaemon
import AutoWUProtocol
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import ZeroMQ

@main
struct AutoWUDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autowud",
        abstract: "The AutoWU daemon: decides, per training job, when the learning-rate warmup ends.",
        discussion: """
            Training ranks report their losses on the ingest socket (SUB), register jobs and fetch plans on the \
            control socket (ROUTER), and receive plan updates on the events socket (PUB, one topic per job). \
            The protocol is protocol/SPEC.md. State lives in an SQLite database under --data-dir; after a \
            crash or restart every live job is reloaded. SIGTERM or SIGINT stops it cleanly.
            """,
        version: AutoWUVersion.string)

    @Option(help: "Control endpoint (ROUTER). Use tcp://HOST:* to pick a free port.")
    var control = "tcp://127.0.0.1:7740"

    @Option(help: "Ingest endpoint (SUB) for loss reports.")
    var ingest = "tcp://127.0.0.1:7741"

    @Option(help: "Events endpoint (PUB) for plan updates.")
    var events = "tcp://127.0.0.1:7742"

    @Option(help: "Directory of the SQLite store (created if missing).")
    var dataDir = Self.defaultDataDirectory

    @Option(help: "Tests running at once across all jobs (default: the number of cores).")
    var workers = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Milliseconds a waiting rank lets an incomplete epoch stay open before it is closed as it is.")
    var closeTimeoutMs = 5_000

    @Option(help: "Hours an idle job is kept for inspection before it expires.")
    var retentionHours = 24.0

    @Option(help: "Receive high-water mark of the ingest socket (messages); libzmq drops what exceeds it.")
    var ingestHwm = 1_000_000

    @Option(help: "File holding this daemon's CURVE secret key (Z85, 40 characters): encrypts and authenticates every socket.")
    var curveSecretKeyFile: String?

    @Option(help: "File holding this daemon's CURVE public key (default: the secret key file's name + .pub, if it exists): the daemon refuses to start unless it is the secret key's public half.")
    var curvePublicKeyFile: String?

    @Flag(help: ArgumentHelp(
        "Take jobs that bring neither a token nor a MUNGE credential: anyone who reaches the sockets may then act on them.",
        discussion: "For development on one machine: refused unless every endpoint is ipc://, inproc:// or loopback TCP."))
    var allowAnonymous = false

    @Option(help: ArgumentHelp(
        "A uid whose MUNGE credentials may read, register ranks of and expire every job (repeatable); the daemon's own user always may.",
        valueName: "uid"))
    var adminUid: [UInt32] = []

    @Option(help: "munged's socket (default: libmunge's, /run/munge/munge.socket.2).")
    var mungeSocket: String?

    @Option(help: ArgumentHelp(
        "Memory the jobs' buffers may hold in all, in MiB (reports of open epochs, loss histories, waiting requests); 0: no limit.",
        discussion: "When it is reached, new jobs and new losses are refused with an error that says so."))
    var memoryBudgetMb = DaemonConfiguration.defaultMemoryBudgetMegabytes

    @Option(help: ArgumentHelp(
        "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0: a free one); off unless given.",
        discussion: "A port that cannot be bound stops the start (exit status 2)."))
    var metricsAddress: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Log format on stderr: text (for people), or json (one object per line, for log shippers).")
    var logFormat: LogFormat = .text

    static var defaultDataDirectory: String {
        let base = ProcessInfo.processInfo.environment["XDG_STATE_HOME"]
            ?? (NSHomeDirectory() + "/.local/state")
        return base + "/autowu"
    }

    func validate() throws {
        guard ingestHwm >= 0 else { throw ValidationError("--ingest-hwm cannot be negative") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard closeTimeoutMs >= 1 else { throw ValidationError("--close-timeout-ms must be at least 1") }
        guard retentionHours > 0 else { throw ValidationError("--retention-hours must be positive") }
        guard memoryBudgetMb >= 0, memoryBudgetMb <= 1 << 30 else { throw ValidationError("--memory-budget-mb must be between 0 (no limit) and 2^30") }
        if let metricsAddress, MetricsAddress(metricsAddress) == nil {
            throw ValidationError("--metrics-address must be HOST:PORT, e.g. 127.0.0.1:9740")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        let exposed = EndpointReach.exposed([control, ingest, events])
        if allowAnonymous, !exposed.isEmpty {
            throw ValidationError("--allow-anonymous is for development on one machine, but \(exposed.joined(separator: ", ")) can be reached from other hosts: bind to 127.0.0.1 or ipc://, or give the jobs tokens (AUTOWU_TOKEN) instead")
        }
    }

    func run() async throws {
        // The store holds every job's state: what the daemon creates (data directory, database, keys, ipc://
        // sockets) is its user's alone, whatever the umask it was started with; Status is not the only door.
        umask(0o077)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat
        LoggingSystem.bootstrap { label in format.handler(label: label, level: level) }
        let logger = Logger(label: "autowud")
        // Under systemd (Type=notify): READY=1 once the sockets are bound and the store is open, STOPPING=1
        // when a graceful shutdown begins; elsewhere a no-op.
        let notifier = SystemdNotifier(logger: logger)
        var configuration = DaemonConfiguration(dataDirectory: dataDir, testWorkers: workers)
        configuration.controlEndpoint = control
        configuration.ingestEndpoint = ingest
        configuration.eventsEndpoint = events
        configuration.closeTimeoutMilliseconds = closeTimeoutMs
        configuration.retentionSeconds = retentionHours * 3600
        configuration.ingestHighWaterMark = ingestHwm
        configuration.memoryBudgetBytes = memoryBudgetMb == 0 ? nil : memoryBudgetMb << 20
        configuration.allowAnonymous = allowAnonymous
        configuration.adminUIDs = Set(adminUid)
        configuration.mungeSocket = mungeSocket
        AccessReport.log(configuration, logger: logger)
        if let file = curveSecretKeyFile {
            do {
                configuration.curveSecretKey = try CurveKeyFile.readSecret(path: file, publicKeyPath: curvePublicKeyFile).secretKey
            } catch {
                // Status 2 like every refused configuration, with the message alone (no usage text).
                FileHandle.standardError.write(Data("autowud: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        // Bound first: a taken port is a failed start (exit status 2), never a daemon without metrics.
        var metrics = DaemonMetrics.disabled()
        var metricsServer: MetricsServer?
        if let metricsAddress, let address = MetricsAddress(metricsAddress) {
            let registry = PrometheusCollectorRegistry()
            do {
                metricsServer = try await MetricsServer.bind(address, registry: registry)
            } catch {
                logger.critical("cannot serve metrics; is the port in use?", metadata: ["address": "\(metricsAddress)", "error": "\(error)"])
                throw ExitCode(2)
            }
            metrics = DaemonMetrics(factory: DescribedPrometheusFactory(registry: registry))
        }
        let metricsEndpoint = metricsServer.map { " metrics=\($0.address)" } ?? ""
        let service = try DaemonService(configuration: configuration, logger: logger, metrics: metrics) { control, ingest, events in
            let endpoints = "control=\(control) ingest=\(ingest) events=\(events)\(metricsEndpoint)"
            // One line on stdout, flushed at once, that scripts and tests wait for.
            FileHandle.standardOutput.write(Data("autowud ready \(endpoints)\n".utf8))
            notifier.ready(status: "listening \(endpoints)")
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = metricsServer.map { [.init(service: $0)] } ?? []
        services += [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup),
                     // Last: the group stops services in reverse order, so the notice goes out first.
                     .init(service: StoppingNotice(notifier: notifier))]
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

extension LogFormat: ExpressibleByArgument {}
