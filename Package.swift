// swift-tools-version:6.0
import PackageDescription

// MARK: - Public products

let products: [Product] = [
    .library(name: "VisionKitLinux", targets: [
        "VisionCore", "VisionNN", "VisionOptim", "VisionImage", "VisionData", "VisionModels", "VisionTools",
    ]),
    .executable(name: "vision", targets: ["VisionCLI"]),
    .executable(name: "vision-bench", targets: ["VisionBench"]),
]

// MARK: - C libraries (each imported by exactly one Swift target)

let cTargets: [Target] = [
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                   providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                   providers: [.apt(["zlib1g-dev"])]),
    // libjpeg and libpng report errors by longjmp: the shims catch them in C.
    .target(name: "CJPEG", path: "Sources/CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
    // AVX-512 matrix product with the convolution's column matrix packed on the fly.
    .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"])]),
    .target(name: "CPNG", path: "Sources/CPNG",
            cSettings: [.unsafeFlags(["-I/usr/include/libpng16"])],
            linkerSettings: [.linkedLibrary("png16")]),
]

// MARK: - Swift libraries (each imports only those below it)

/// The numeric core drops bounds and precondition checks in release builds; the targets that parse
/// files, options and datasets keep them (`-O`), so bad input that slips past a check traps instead of
/// reading out of bounds.
let uncheckedSettings: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
let checkedSettings: [SwiftSetting] = []

let libraryTargets: [Target] = [
    .target(name: "VisionCore", dependencies: ["CBLAS", "CKernels"], swiftSettings: uncheckedSettings),
    .target(name: "VisionNN", dependencies: ["VisionCore"], swiftSettings: uncheckedSettings),
    .target(name: "VisionOptim", dependencies: ["VisionCore", "VisionNN"], swiftSettings: uncheckedSettings),
    .target(name: "VisionImage", dependencies: ["VisionCore", "CJPEG", "CPNG"], swiftSettings: checkedSettings),
    .target(name: "VisionData", dependencies: ["VisionCore", "VisionImage", "CZlib"], swiftSettings: checkedSettings),
    .target(name: "VisionModels", dependencies: ["VisionCore", "VisionNN"], swiftSettings: uncheckedSettings),
    .target(name: "VisionTools", dependencies: [
        "VisionCore", "VisionNN", "VisionOptim", "VisionImage", "VisionData", "VisionModels",
    ], swiftSettings: checkedSettings),
]

// MARK: - Executables

let executableTargets: [Target] = [
    .executableTarget(name: "VisionCLI", dependencies: [
        "VisionTools", "VisionCore", "VisionNN", "VisionOptim", "VisionImage", "VisionData", "VisionModels",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ], swiftSettings: checkedSettings),
    .executableTarget(name: "VisionBench", dependencies: [
        "VisionCore", "VisionNN", "VisionOptim", "VisionImage", "VisionData", "VisionModels", "VisionTools",
    ], swiftSettings: uncheckedSettings),
]

// MARK: - Tests

let testTargets: [Target] = [
    .target(name: "TestSupport", dependencies: ["VisionCore"], path: "Tests/TestSupport", linkerSettings: [.linkedFramework("XCTest", .when(platforms: [.macOS]))]),
    .testTarget(name: "VisionCoreTests", dependencies: ["VisionCore", "TestSupport"],
                resources: [.copy("Fixtures")]),
    .testTarget(name: "VisionNNTests", dependencies: ["VisionNN", "VisionCore", "TestSupport"]),
    .testTarget(name: "VisionOptimTests", dependencies: ["VisionOptim", "VisionNN", "VisionCore", "TestSupport"],
                resources: [.copy("Fixtures")]),
    .testTarget(name: "VisionImageTests", dependencies: ["VisionImage", "VisionCore", "TestSupport"]),
    .testTarget(name: "VisionDataTests", dependencies: ["VisionData", "VisionImage", "VisionCore", "TestSupport"],
                exclude: ["Fixtures"]),  // read from the source tree (packageRoot())
    .testTarget(name: "VisionModelsTests", dependencies: ["VisionModels", "VisionNN", "VisionCore", "TestSupport"],
                exclude: ["Fixtures"]),  // read from the source tree (packageRoot())
    .testTarget(name: "VisionToolsTests", dependencies: [
        "VisionTools", "VisionModels", "VisionData", "VisionImage", "VisionOptim", "VisionNN", "VisionCore", "TestSupport",
    ]),
    // Runs the built `vision` executable as a subprocess on data the tests write.
    .testTarget(name: "VisionCLITests", dependencies: ["VisionCLI", "VisionTools", "VisionImage", "VisionCore", "TestSupport"]),
]

let package = Package(
    name: "vision",
    products: products,
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: cTargets + libraryTargets + executableTargets + testTargets,
    swiftLanguageModes: [.v5]
)
