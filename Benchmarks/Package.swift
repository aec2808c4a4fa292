// swift-tools-version:6.1
import PackageDescription

// The benchmarks, apart from the agent: the root package (`..`, by path) never builds this one,
// and package-benchmark stays out of its dependency graph. `make bench` builds and runs both
// parts in release mode:
//   - EDRMicro (Benchmarks/EDRMicro): package-benchmark microbenchmarks, one operation each
//     (`swift package benchmark`): Sigma per event, the detector per exec, an ECS alert line.
//   - edr-bench (Sources/edr-bench): the whole figures docs/benchmarks.md quotes (load time,
//     events/s per core, µs per exec, RSS), from the shared code in Sources/EDRBenchmarkKit.
// The whole-agent scripts (*.py, *.c) beside this file run the release binaries of the root.
//
// package-benchmark 1.38 names ordo-one/swift-runtime-interposer on Linux with Swift 6.3 (for
// its ARC counters) even with that trait off; it is not in the package mirror, so
// `RUNTIME_INTERPOSER_LOCAL_PATH=Stubs/swift-runtime-interposer` (the Makefile sets it) points
// it at an empty stand-in. Both interposer traits are off: no malloc or ARC counts, and no
// jemalloc is needed; the microbenchmarks report wall clock and CPU time.
let package = Package(
    name: "edr-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named: the identity of a path dependency is its directory name (a worktree differs).
        .package(name: "edr", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .target(
            name: "EDRBenchmarkKit",
            dependencies: [
                .product(name: "EDRCore", package: "edr"), .product(name: "EDRSystem", package: "edr"),
                .product(name: "EDRSigma", package: "edr"), .product(name: "EDRIOC", package: "edr"),
                .product(name: "EDRYara", package: "edr"), .product(name: "EDRDetect", package: "edr")
            ]),
        .executableTarget(
            name: "edr-bench",
            dependencies: [
                "EDRBenchmarkKit", .product(name: "EDRCore", package: "edr"),
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .executableTarget(
            name: "EDRMicro",
            dependencies: [
                "EDRBenchmarkKit", .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "EDRCore", package: "edr"), .product(name: "EDRSigma", package: "edr"),
                .product(name: "EDRDetect", package: "edr")
            ],
            path: "Benchmarks/EDRMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
