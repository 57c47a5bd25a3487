// swift-tools-version: 6.0
import PackageDescription

/// Optimise C kernels even in debug builds: they are the numeric inner loops that tests run.
let cOptimise: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno"])]

let package = Package(
    name: "RAdaServe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rada", targets: ["rada"]),
        .library(name: "RadaNumerics", targets: ["RadaNumerics"]),
        .library(name: "SafeTensors", targets: ["SafeTensors"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "CLIP", targets: ["CLIP"]),
        .library(name: "Adaptation", targets: ["Adaptation"]),
        .library(name: "Benchmarks", targets: ["Benchmarks"]),
        .library(name: "Server", targets: ["Server"]),
        .library(name: "StreamStore", targets: ["StreamStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Tests only: Yams reads Docs/openapi.yaml to compare it with the route table; the
        // OpenAPI generator builds a client from it that the tests drive a live server with.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client", from: "1.5.0"),
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
        // C: base64 decoding with AVX2 (the JSON image bodies), canonical text only.
        .target(name: "CBase64", cSettings: cOptimise),
        // C: gzip decompression through zlib (the benchmark's Fashion-MNIST files are .gz).
        .target(name: "CZlib", cSettings: cOptimise, linkerSettings: [.linkedLibrary("z")]),
        .target(name: "RadaNumerics", dependencies: ["CNumerics"]),
        // The one reader and writer of the safetensors format: model weights and stream checkpoints.
        .target(name: "SafeTensors", dependencies: ["RadaNumerics"]),
        // CLIP's byte-level BPE tokenizer with its text cleaning (an ftfy port): text in, token ids out.
        .target(name: "Tokenizer"),
        // Image files in, model inputs out: header probing, bounded decoding, resize and crop.
        .target(name: "Imaging", dependencies: ["CImageCodecs"]),
        // The model: checkpoint formats, the towers, and the encoder that ties them together.
        .target(name: "CLIP", dependencies: ["RadaNumerics", "SafeTensors", "Tokenizer", "Imaging"]),
        .target(name: "Adaptation", dependencies: ["RadaNumerics", "SafeTensors"]),
        .target(name: "Benchmarks", dependencies: ["CLIP", "Imaging", "Adaptation", "CImageCodecs", "CZlib"]),
        // Where streams persist: the store interface and the local directory store (no dependency
        // beyond Foundation, so the embedded default needs nothing new).
        .target(name: "StreamStore", dependencies: ["SafeTensors"]),
        // The PostgreSQL store: journal and snapshots as rows, leases with fencing epochs.
        .target(
            name: "PostgresStreamStore",
            dependencies: ["StreamStore", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .target(
            name: "Server",
            dependencies: [
                "CLIP", "Imaging", "Adaptation", "SafeTensors", "StreamStore", "PostgresStreamStore", "CBase64",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "rada",
            dependencies: [
                "CLIP", "Imaging", "Adaptation", "Benchmarks", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer target of the checkpoint upload path (`make fuzz-checkpoint`); a plain build
        // is its replay tool.
        .executableTarget(name: "rada-fuzz-checkpoint", dependencies: ["Adaptation", "RadaNumerics"], path: "Fuzz/Checkpoint"),
        .testTarget(name: "RadaNumericsTests", dependencies: ["RadaNumerics"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "SafeTensors"]),
        .testTarget(name: "AdaptationTests", dependencies: ["Adaptation", "SafeTensors"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Adaptation", "RadaNumerics"]),
        // The API client generated from Docs/openapi.yaml, for the tests only.
        .target(
            name: "RadaAPIClient",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            path: "Tests/APIClient",
            // Generated code: its warnings (unused imports) are the generator's, not ours.
            swiftSettings: [.unsafeFlags(["-suppress-warnings"])],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Imaging", "RadaNumerics", "SafeTensors", "StreamStore", "PostgresStreamStore", "RadaAPIClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
            ]
        ),
    ]
)
