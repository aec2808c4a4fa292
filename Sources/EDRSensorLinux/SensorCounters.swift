import EDRCore

/// Counters of the sensor's user-space half, reported in stats frames beside the kernel's
/// (named after the place where a record can be lost or held).
struct SensorCounters {
    var recordsRead: UInt64 = 0
    var framesSent: UInt64 = 0
    var framesReplayed: UInt64 = 0
    var backpressurePauses: UInt64 = 0
    var connections: UInt64 = 0
    var executablesPassed: UInt64 = 0
    /// Execs of a file passed within the TTL: no descriptor, an executable-file frame that
    /// says "known" instead.
    var executablesKnown: UInt64 = 0
    var executablesUnavailable: UInt64 = 0
    /// Executables passed by the recorded path (the process was gone) after the identity check.
    var executablesByPath: UInt64 = 0
    /// Scripts (the file a #! exec named; its interpreter is the executable) passed by the
    /// recorded path after the identity check, and those that could not be.
    var scriptsByPath: UInt64 = 0
    var scriptsUnavailable: UInt64 = 0
    /// Scripts passed within the TTL: "known" frames, no descriptor.
    var scriptsKnown: UInt64 = 0

    /// The stats frame's entries: the kernel's per-family counters (in BPFPrograms.counters()
    /// order), then these.
    func entries(kernel: [UInt64]?, pendingFrames: Int, heldDescriptors: Int) -> [(String, UInt64)] {
        var entries: [(String, UInt64)] = []
        if let kernel {
            for (f, family) in KernelCounters.families.enumerated() {
                for (k, counter) in KernelCounters.counters.enumerated() {
                    entries.append(("kernel.\(family).\(counter)", kernel[f * KernelCounters.counters.count + k]))
                }
            }
        }
        entries += [
            ("sensor.records_read", recordsRead), ("sensor.frames_sent", framesSent),
            ("sensor.frames_replayed", framesReplayed), ("sensor.pending_frames", UInt64(pendingFrames)),
            ("sensor.backpressure_pauses", backpressurePauses),
            ("sensor.executables_passed", executablesPassed), ("sensor.executables_known", executablesKnown),
            ("sensor.executables_unavailable", executablesUnavailable), ("sensor.executables_by_path", executablesByPath),
            ("sensor.scripts_by_path", scriptsByPath), ("sensor.scripts_unavailable", scriptsUnavailable),
            ("sensor.scripts_known", scriptsKnown), ("sensor.connections", connections),
            ("sensor.held_descriptors", UInt64(heldDescriptors))
        ]
        return entries
    }
}
