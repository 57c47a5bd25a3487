// swift-tools-version: 6.0
import PackageDescription

/// Optimise C kernels even in debug builds: they are the numeric inner loops that tests run.
let cOptimise: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno"])]

let package = Package(
    name: "RAdaServe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rada", targets: ["rada"]),
        .library(name: "Numerics", targets: ["Numerics"]),
        .library(name: "CLIP", targets: ["CLIP"]),
        .library(name: "Adaptation", targets: ["Adaptation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C: BLAS loaded at run time (so the core type can be chosen before OpenBLAS initialises)
        // plus vectorised element-wise kernels.
        .target(
            name: "CNumerics",
            cSettings: cOptimise,
            linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("m")]
        ),
        // C: libpng / libjpeg decoding with their longjmp error handling contained in C frames.
        .target(
            name: "CImageCodecs",
            cSettings: cOptimise,
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]
        ),
        .target(name: "Numerics", dependencies: ["CNumerics"]),
        .target(name: "CLIP", dependencies: ["Numerics", "CImageCodecs"]),
        .target(name: "Adaptation", dependencies: ["Numerics"]),
        .executableTarget(
            name: "rada",
            dependencies: [
                "CLIP", "Adaptation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP"]),
        .testTarget(name: "AdaptationTests", dependencies: ["Adaptation"]),
    ]
)
