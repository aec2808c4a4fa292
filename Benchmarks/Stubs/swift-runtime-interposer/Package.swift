// swift-tools-version:5.9
import PackageDescription

// An empty stand-in for ordo-one/swift-runtime-interposer, which package-benchmark 1.38 names
// on Linux with Swift 6.3 but which is not in the package mirror (see ../../Package.swift).
// Its only product is used behind the `RuntimeInterposer` trait, which the benchmarks turn off.
let package = Package(
    name: "swift-runtime-interposer",
    products: [.library(name: "SwiftRuntimeInterposerSwift", targets: ["SwiftRuntimeInterposerSwift"])],
    targets: [.target(name: "SwiftRuntimeInterposerSwift")]
)
