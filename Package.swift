// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Berth",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "berth-runtime", targets: ["berth-runtime"]),
        .executable(name: "berth-shim", targets: ["berth-shim"]),
        .executable(name: "berthd", targets: ["berthd"]),
        .executable(name: "berth", targets: ["berth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Syscall wrappers Swift's Glibc lacks; the only C in the package.
        .target(name: "CBerthLinux"),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        .target(name: "BerthSystem", dependencies: ["CBerthLinux"]),
        .target(name: "BerthOCI"),
        .target(name: "BerthCgroups", dependencies: ["BerthSystem", "BerthOCI", "CBerthLinux"]),
        .target(name: "BerthRuntimeCore", dependencies: ["BerthSystem", "BerthOCI", "BerthCgroups", "CSeccomp", "CBerthLinux"]),
        .target(name: "BerthRuntimeCLI", dependencies: ["BerthRuntimeCore", "BerthOCI", "BerthSystem"]),
        .target(name: "CRuntimeSeal"),
        .executableTarget(name: "berth-runtime", dependencies: ["BerthRuntimeCLI", "CRuntimeSeal"]),

        .target(name: "BerthShimProtocol", dependencies: ["BerthOCI"]),
        .target(name: "BerthShimCore", dependencies: ["BerthShimProtocol", "BerthRuntimeCore", "BerthCgroups", "BerthOCI", "BerthSystem", "CBerthLinux"]),
        .executableTarget(name: "berth-shim", dependencies: ["BerthShimCore", "BerthShimProtocol", "BerthSystem", "CBerthLinux"]),

        .target(name: "BerthAPI"),
        .target(name: "BerthNetwork", dependencies: ["BerthSystem", "CBerthLinux"]),
        .target(name: "BerthBuild"),
        .target(name: "BerthVolume", dependencies: ["BerthSystem"]),
        .target(name: "BerthEngine", dependencies: ["BerthAPI", "BerthBuild", "BerthContent", "BerthNetwork", "BerthVolume", "BerthImage", "BerthSnapshot", "BerthArchive", "BerthShimProtocol",
                                                    "BerthRuntimeCore", "BerthCgroups", "BerthOCI", "BerthSystem", "CBerthLinux"]),
        .target(name: "BerthServer", dependencies: ["BerthEngine", "BerthNetwork", "BerthRegistry", "BerthAPI", "BerthImage", "BerthShimProtocol", "BerthCgroups",
                                                    "BerthSystem", "BerthOCI", "CCrypto",
                                                    .product(name: "NIOCore", package: "swift-nio"),
                                                    .product(name: "NIOPosix", package: "swift-nio"),
                                                    .product(name: "NIOHTTP1", package: "swift-nio"),
                                                    .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]),
        .executableTarget(name: "berthd", dependencies: ["BerthServer", "BerthVolume", "BerthNetwork", "BerthEngine", "BerthRegistry", "BerthImage", "BerthSnapshot", "BerthSystem"]),
        .target(name: "BerthCLI", dependencies: ["BerthAPI", "BerthBuild", "BerthArchive", "BerthOCI", "BerthSystem"]),
        .executableTarget(name: "berth", dependencies: ["BerthCLI", "BerthSystem"]),
        .target(name: "BerthFuzz", dependencies: ["BerthAPI", "BerthArchive", "BerthBuild", "BerthOCI", "BerthSystem", "CBerthLinux"]),
        .executableTarget(name: "berth-fuzz", dependencies: ["BerthFuzz", "BerthSystem"]),
        .executableTarget(name: "berth-bench-extract", dependencies: ["BerthArchive", "BerthSystem"], path: "bench/extract"),
        .target(name: "BerthContent", dependencies: ["BerthOCI", "BerthSystem", "CCrypto", "CBerthLinux"]),
        .target(name: "BerthArchive", dependencies: ["BerthContent", "BerthOCI", "BerthSystem", "CArchive"]),
        .target(name: "BerthImage", dependencies: ["BerthSnapshot", "BerthArchive", "BerthContent", "BerthOCI", "BerthSystem"]),
        .target(name: "BerthSnapshot", dependencies: ["BerthArchive", "BerthContent", "BerthSystem", "CBerthLinux"]),
        .target(name: "BerthRegistry", dependencies: ["BerthImage", "BerthSnapshot", "BerthContent", "BerthAPI", "BerthOCI", "BerthSystem", "CCrypto", "CBerthLinux"]),

        .testTarget(name: "BerthOCITests", dependencies: ["BerthOCI"]),
        .testTarget(name: "BerthNetworkTests", dependencies: ["BerthNetwork"]),
        .testTarget(name: "BerthBuildTests", dependencies: ["BerthBuild"]),
        .testTarget(name: "BerthRegistryTests", dependencies: ["BerthRegistry", "BerthAPI", "BerthOCI"]),
        .testTarget(name: "BerthCLITests", dependencies: ["BerthCLI"]),
        .testTarget(name: "BerthSystemTests", dependencies: ["BerthSystem"]),
        .testTarget(name: "BerthCgroupsTests", dependencies: ["BerthCgroups", "BerthOCI"]),
        .testTarget(name: "BerthArchiveTests", dependencies: ["BerthTestSupport", "BerthArchive", "BerthContent", "BerthSystem"]),
        .target(name: "BerthTestSupport", dependencies: ["BerthArchive", "BerthSystem"], path: "Tests/BerthTestSupport"),
        .testTarget(name: "BerthImageTests", dependencies: ["BerthTestSupport", "BerthImage", "BerthSnapshot", "BerthArchive", "BerthContent", "BerthOCI", "BerthSystem"]),
        .testTarget(name: "BerthSnapshotTests", dependencies: ["BerthTestSupport", "BerthSnapshot", "BerthArchive", "BerthSystem"]),
        .testTarget(name: "BerthContentTests", dependencies: ["BerthContent", "BerthOCI", "BerthSystem"]),
        .testTarget(name: "BerthFuzzTests", dependencies: ["BerthFuzz"], resources: [.copy("Corpus")]),
        .testTarget(name: "BerthRuntimeCoreTests", dependencies: ["BerthRuntimeCore", "BerthRuntimeCLI", "BerthOCI"]),
    ]
)
