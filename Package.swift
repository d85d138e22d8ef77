// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "autowu",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AutoWU", targets: ["AutoWU"]),
        .executable(name: "autowu", targets: ["autowu"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev liblapacke-dev, libzmq3-dev).
        .systemLibrary(name: "CLinAlg", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CZMQ", providers: [.apt(["libzmq3-dev"])]),

        // The pure core: schedules, Gaussian process, minimum test, warmup controller.
        .target(name: "AutoWU", dependencies: ["CLinAlg"]),

        // Command-line front end.
        .target(
            name: "AutoWUCommands",
            dependencies: [
                "AutoWU",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "autowu", dependencies: ["AutoWUCommands"]),

        .testTarget(
            name: "AutoWUTests",
            dependencies: ["AutoWU", "AutoWUCommands"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
