// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "spool",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spool", targets: ["spool"]),
        .executable(name: "spool-bench", targets: ["spool-bench"]),
        .library(name: "SpoolEngine", targets: ["SpoolEngine"]),
        .library(name: "Folksbase", targets: ["Folksbase"]),
        .library(name: "CurlClient", targets: ["CurlClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "CSpoolSystem"),
        // libcurl's headers at build time; the library itself is loaded on first use.
        .target(name: "CCurl"),
        .target(name: "CurlClient", dependencies: ["CCurl"]),
        .target(
            name: "SpoolEngine",
            dependencies: ["CSpoolSystem", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Folksbase",
            dependencies: [
                "SpoolEngine",
                "CSQLite",
                "CurlClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "spool",
            dependencies: [
                "SpoolEngine",
                "Folksbase",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "spool-bench",
            dependencies: [
                "SpoolEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SpoolEngineTests", dependencies: ["SpoolEngine", "TestServers"], resources: [.copy("Fixtures")]),
        .target(name: "TestServers", path: "Tests/TestServers"),
        .testTarget(name: "FolksbaseTests", dependencies: ["Folksbase", "SpoolEngine", "TestServers"]),
        .testTarget(name: "CurlClientTests", dependencies: ["CurlClient", "TestServers"]),
        .testTarget(name: "SpoolEndToEndTests", dependencies: ["SpoolEngine", "TestServers"]),
    ],
    swiftLanguageModes: [.v6]
)
