// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "spool",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spool", targets: ["spool"]),
        .library(name: "SpoolEngine", targets: ["SpoolEngine"]),
        .library(name: "Folksbase", targets: ["Folksbase"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "CSpoolSystem"),
        .target(
            name: "SpoolEngine",
            dependencies: ["CSpoolSystem", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Folksbase",
            dependencies: [
                "SpoolEngine",
                "CSQLite",
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
        .testTarget(name: "SpoolEngineTests", dependencies: ["SpoolEngine"], resources: [.copy("Fixtures")]),
        .testTarget(name: "FolksbaseTests", dependencies: ["Folksbase", "SpoolEngine"]),
        .testTarget(name: "SpoolEndToEndTests", dependencies: ["SpoolEngine"]),
    ],
    swiftLanguageModes: [.v6]
)
