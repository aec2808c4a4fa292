// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "edr",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "edr", targets: ["edr"]),
        .executable(name: "edr-sensor", targets: ["edr-sensor"]),
        .executable(name: "edr-detect", targets: ["edr-detect"]),
        .executable(name: "edr-respond", targets: ["edr-respond"]),
        .executable(name: "edr-logs", targets: ["edr-logs"]),
        // For the benchmarks' nested package (Benchmarks/Package.swift depends on this one by
        // path); the agent's binaries link the same targets directly.
        .library(name: "EDRCore", targets: ["EDRCore"]),
        .library(name: "EDRSystem", targets: ["EDRSystem"]),
        .library(name: "EDRSigma", targets: ["EDRSigma"]),
        .library(name: "EDRIOC", targets: ["EDRIOC"]),
        .library(name: "EDRYara", targets: ["EDRYara"]),
        .library(name: "EDRDetect", targets: ["EDRDetect"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1")
    ],
    targets: [
        // Thin C shims: one per system library, plus the spawn helper.
        .target(name: "CLibBPF", linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]),
        .target(name: "CSeccomp", linkerSettings: [.linkedLibrary("seccomp")]),
        .target(name: "CCap", linkerSettings: [.linkedLibrary("cap")]),
        .target(name: "CSpawn"),
        .target(name: "CLinux"),
        .target(name: "CPCRE2", linkerSettings: [.linkedLibrary("pcre2-8")]),
        .target(name: "CYara", linkerSettings: [.linkedLibrary("yara")]),

        // Portable: the event model, wire protocol, configuration, alerts' JSON, logging. The
        // operating-system calls it makes are all in EDRCore/Platform.swift.
        .target(
            name: "EDRCore",
            dependencies: [
                .product(name: "TOMLKit", package: "TOMLKit"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto")
            ], swiftSettings: strict),
        // POSIX and Linux system code: Unix sockets, descriptors handed to children, systemd,
        // /proc. Confinement (seccomp, Landlock, no_new_privs) apart, in its own module.
        .target(name: "EDRSystem", dependencies: ["EDRCore", "CLinux"], swiftSettings: strict),
        .target(name: "EDRConfinement", dependencies: ["EDRCore", "EDRSystem", "CLinux", "CSeccomp"], swiftSettings: strict),
        // Windows only (named-pipe transport, token checks); empty elsewhere. This machine has
        // no Swift for Windows, so its body is not compiled here (docs/windows.md).
        .target(name: "EDRWindows", dependencies: ["EDRCore"], swiftSettings: strict),
        // Portable: the one PCRE2 wrapper (Sigma's `re`, IOC path regexes), JIT switch included.
        .target(name: "EDRRegex", dependencies: ["EDRCore", "CPCRE2"], swiftSettings: strict),
        .target(name: "EDRSigma", dependencies: ["EDRCore", "EDRRegex", .product(name: "Yams", package: "Yams")], swiftSettings: strict),
        .target(name: "EDRIOC", dependencies: ["EDRCore", "EDRRegex"], swiftSettings: strict),
        .target(name: "EDRYara", dependencies: ["EDRCore", "EDRSystem", "CYara", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // Portable: ETW records and Windows event logs decoded to Sysmon-named events.
        .target(name: "EDRWindowsEvents", dependencies: ["EDRCore"], swiftSettings: strict),
        .target(name: "EDRSensorLinux", dependencies: ["EDRCore", "EDRSystem", "CLibBPF", "CLinux"], swiftSettings: strict),
        .target(
            name: "EDRDetect", dependencies: ["EDRCore", "EDRSystem", "EDRSigma", "EDRWindowsEvents", "EDRIOC", "EDRYara", "CLinux"], swiftSettings: strict),
        .target(name: "EDRRespond", dependencies: ["EDRCore", "EDRSystem", "CLinux"], swiftSettings: strict),
        // edr-logs' reading: files by inode and offset, journalctl's export output, positions.
        .target(name: "EDRHostLogs", dependencies: ["EDRCore", "EDRSystem"], swiftSettings: strict),
        // The metrics exposition: swift-metrics with swift-prometheus as its one backend.
        .target(
            name: "EDRSupervisor",
            dependencies: [
                "EDRCore", "EDRSystem", "EDRConfinement", "CSpawn", "CSeccomp", "CCap", "CLinux",
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus")
            ], swiftSettings: strict),

        .executableTarget(
            name: "edr",
            dependencies: [
                "EDRCore", "EDRSystem", "EDRConfinement", "EDRSigma", "EDRDetect", "EDRSupervisor", "EDRIOC", "EDRYara", "EDRSensorLinux", "CLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ], swiftSettings: strict),
        .executableTarget(name: "edr-sensor", dependencies: ["EDRCore", "EDRSystem", "EDRConfinement", "EDRSensorLinux"], swiftSettings: strict),
        .executableTarget(name: "edr-detect", dependencies: ["EDRCore", "EDRSystem", "EDRConfinement", "EDRDetect", "CLinux"], swiftSettings: strict),
        .executableTarget(name: "edr-respond", dependencies: ["EDRCore", "EDRSystem", "EDRConfinement", "EDRRespond", "CLinux"], swiftSettings: strict),
        .executableTarget(name: "edr-logs", dependencies: ["EDRCore", "EDRSystem", "EDRConfinement", "EDRHostLogs", "CLinux"], swiftSettings: strict),

        .testTarget(name: "EDRCoreTests", dependencies: ["EDRCore", "EDRSystem"]),
        .testTarget(name: "EDRSigmaTests", dependencies: ["EDRSigma", "EDRCore", "EDRRegex"], exclude: ["Oracle"]),
        .testTarget(name: "EDRIOCTests", dependencies: ["EDRIOC", "EDRCore", "EDRRegex"]),
        .testTarget(name: "EDRYaraTests", dependencies: ["EDRYara", "EDRCore"]),
        .testTarget(
            name: "EDRDetectTests", dependencies: ["EDRDetect", "EDRCore", "EDRSystem", "EDRSigma", "EDRYara", "EDRIOC", "EDRWindowsEvents"], exclude: ["ECS"]),
        .testTarget(name: "EDRHostLogsTests", dependencies: ["EDRHostLogs", "EDRDetect", "EDRSigma", "EDRCore"]),
        .testTarget(name: "EDRWindowsEventsTests", dependencies: ["EDRWindowsEvents", "EDRDetect", "EDRSigma", "EDRCore"]),
        .testTarget(name: "EDRRegexTests", dependencies: ["EDRRegex", "EDRCore"]),
        .testTarget(name: "EDRSensorLinuxTests", dependencies: ["EDRSensorLinux", "EDRCore"]),
        .testTarget(name: "EDRRespondTests", dependencies: ["EDRRespond", "EDRCore", "EDRSystem"]),
        .testTarget(name: "EDRSupervisorTests", dependencies: ["EDRSupervisor", "EDRDetect", "EDRCore", "EDRSystem", "EDRConfinement"]),
        .testTarget(name: "EndToEndTests", dependencies: ["EDRCore", "EDRSystem", "CLinux"], exclude: ["Fixtures"])
    ],
    swiftLanguageModes: [.v6]
)
