// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "autowu",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AutoWU", targets: ["AutoWU"]),
        .library(name: "AutoWUClient", targets: ["AutoWUClient"]),
        .executable(name: "autowu", targets: ["autowu"]),
        .executable(name: "autowud", targets: ["autowud"]),
    ],
    // `from:` ranges (up to the next major): a package that depends on AutoWU or AutoWUClient shares these
    // with its own graph. Package.resolved (not in git) pins what a local build uses.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // /metrics: swift-metrics handles, exposed by swift-prometheus over a bare SwiftNIO HTTP/1 server.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev liblapacke-dev, libzmq3-dev, libsqlite3-dev).
        .systemLibrary(name: "CLinAlg", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CSodium", providers: [.apt(["libsodium-dev"])]),

        // The pure core: schedules, Gaussian process, minimum test, warmup controller. Numbers only.
        .target(name: "AutoWU", dependencies: ["CLinAlg"]),

        // The wire protocol: generated messages (protocol/autowu.proto) and their mapping to the core. Bytes only.
        .target(
            name: "AutoWUProtocol",
            dependencies: ["AutoWU", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),

        // Thin I/O edges: ZeroMQ sockets and the SQLite store.
        .target(name: "ZeroMQ", dependencies: ["CZMQ"]),
        .target(name: "AutoWUStore", dependencies: ["CSQLite"]),
        // MUNGE credentials (libmunge loaded at run time): who a Slurm cluster says a process runs as.
        .target(name: "CMunge", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "Munge", dependencies: ["CMunge"]),
        // Killed mid-write by the store's crash tests.
        .executableTarget(name: "store-crash-writer", dependencies: ["AutoWUStore"]),

        // The daemon: job registry, per-job test queues, store, sockets.
        .target(
            name: "AutoWUDaemon",
            dependencies: [
                "AutoWU", "AutoWUProtocol", "AutoWUStore", "ZeroMQ", "CSodium", "CSQLite", "Munge",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "autowud",
            dependencies: [
                "AutoWUDaemon", "AutoWUProtocol", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // The rank side of the protocol.
        .target(name: "AutoWUClient", dependencies: ["AutoWU", "AutoWUProtocol", "ZeroMQ", "Munge"]),

        // Command-line front end.
        .target(
            name: "AutoWUCommands",
            dependencies: [
                "AutoWU", "AutoWUProtocol", "AutoWUClient", "ZeroMQ", "AutoWUStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "autowu", dependencies: ["AutoWUCommands"]),

        // libFuzzer targets for the protocol's decoding and the daemon's message handling (scripts/fuzz builds
        // them with -sanitize=fuzzer -DFUZZING; a plain build replays inputs and writes the seed corpus).
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "autowu-fuzz",
            dependencies: ["AutoWU", "AutoWUProtocol", "AutoWUDaemon", "CFuzzerDriver",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),

        // The solver benchmark (issue: fast GP test): `swift run -c release autowu-bench`.
        .executableTarget(name: "autowu-bench", dependencies: ["AutoWU"]),

        // Real daemon processes for the integration tests.
        .target(name: "AutoWUTestKit", dependencies: ["AutoWUClient"]),

        .testTarget(name: "AutoWUTests", dependencies: ["AutoWU", "AutoWUCommands", "AutoWUStore", "AutoWUProtocol"]),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "CZMQ"]),
        .testTarget(
            name: "AutoWUProtocolTests",
            dependencies: ["AutoWU", "AutoWUProtocol", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .testTarget(
            name: "AutoWUDaemonTests",
            dependencies: ["AutoWUDaemon", "AutoWUProtocol", "AutoWUStore", "CSQLite",
                           .product(name: "MetricsTestKit", package: "swift-metrics")]
        ),
        .testTarget(name: "AutoWUStoreTests", dependencies: ["AutoWUStore", "store-crash-writer"]),
        .testTarget(
            name: "AutoWUIntegrationTests",
            dependencies: ["AutoWU", "AutoWUProtocol", "AutoWUClient", "AutoWUCommands", "AutoWUTestKit", "ZeroMQ",
                           "AutoWUStore", "autowud", "autowu", "autowu-fuzz"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
