// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Sotto",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sotto", targets: ["sotto"]),
        .library(name: "SottoCore", targets: ["SottoCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Thin C module maps over system libraries; no C code of our own beyond inline shims.
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2",
                       providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "CSottoShims"),
        .systemLibrary(name: "CFuse3", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        // FUSE over io_uring beside libfuse 3.14 (which predates it): the one C target with code,
        // because it drives io_uring's shared rings, which need C's atomics and layouts.
        .target(name: "CFuseRing", dependencies: ["CFuse3"],
                linkerSettings: [.linkedLibrary("uring")]),
        // The vault format and crypto. No FUSE dependency: the CLI uses it offline.
        .target(name: "SottoCore", dependencies: ["CLibCrypto", "CArgon2", "CSottoShims"]),
        // The FUSE adapter: a thin layer mapping kernel requests onto SottoCore.
        .target(name: "SottoFUSE", dependencies: ["SottoCore", "CFuse3", "CFuseRing", "CSottoShims"]),
        .executableTarget(name: "sotto", dependencies: [
            "SottoCore", "SottoFUSE", "CSottoShims",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fixtures are read in place (found through #filePath), not bundled.
        // Codec cost per block size, behind the block-size choice in docs/format.md.
        .executableTarget(name: "sotto-blockbench", dependencies: ["SottoCore"]),
        .testTarget(name: "SottoCoreTests", dependencies: ["SottoCore"], exclude: ["Fixtures"]),
        .testTarget(name: "SottoCLITests", dependencies: ["SottoCore"]),
        .testTarget(name: "SottoFUSETests", dependencies: ["SottoFUSE"]),
    ]
)
