import CLinux
import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// Executed files passed to the detector as descriptors (SCM_RIGHTS), for YARA and hashing: the
/// detector may not open them itself. For every exec the sensor opens `/proc/PID/exe` (the exact
/// inode that ran) unless the record names a file passed within the last minute on this
/// connection (`PassedExecutables`): then an executable-file frame says "known" instead.
extension Sensor {
    /// Offsets in struct edr_exec_record (bpf/edr_events.h).
    static let execFixedSize = 168
    static let execScriptFlag: UInt32 = 16

    /// The executable (and, for a #! exec, the script) of an exec record, when `bytes` is one.
    func openExecutedFiles(_ bytes: UnsafeRawBufferPointer) -> (ReplayStore.Attachment, ReplayStore.Attachment) {
        guard bytes.count >= Self.execFixedSize, bytes.load(fromByteOffset: 0, as: UInt16.self) == 1 else {
            return (.none, .none)
        }
        // The kernel wrote the file's identity (bpf/edr_events.h): a file passed moments
        // ago is not opened again; the detector's verdict cache answers for it.
        let identity = RecordedFileIdentity(bytes, at: 104)
        let flags = bytes.loadUnaligned(fromByteOffset: 72, as: UInt32.self)
        let argsLen = Int(bytes.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
        let pathLen = Int(bytes.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
        let now = monotonicNanos()
        var executable = ReplayStore.Attachment.none
        if passedExecutables.passedRecently(identity, now: now) {
            executable = .known
            counters.executablesKnown += 1
        } else if heldFDs < maxHeldFDs {
            let pid = bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)
            var fd = open("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                // A process that lived a millisecond is gone before we look: open what the
                // kernel recorded, if it is still the very file that ran.
                fd = openRecordedFile(bytes, start: Self.execFixedSize + argsLen, length: pathLen, cut: flags & 2 != 0, identity)
                if fd >= 0 { counters.executablesByPath += 1 }
            }
            if fd >= 0 {
                heldFDs += 1
                passedExecutables.passed(identity, now: now)
                executable = .descriptor(fd)
            } else {
                counters.executablesUnavailable += 1
            }
        } else {
            counters.executablesUnavailable += 1
        }
        let script = flags & Self.execScriptFlag != 0 ? passScript(bytes, flags: flags, now: now) : .none
        return (executable, script)
    }

    /// A #! script's own file (the exec record's executable is its interpreter): opened by the
    /// path the kernel walked from the script's struct file and passed only with the recorded
    /// identity, like a one-shot executable; `.known` when passed moments ago.
    private func passScript(_ bytes: UnsafeRawBufferPointer, flags: UInt32, now: UInt64) -> ReplayStore.Attachment {
        let id = RecordedFileIdentity(bytes, at: 136)
        if passedExecutables.passedRecently(id, now: now) {
            counters.scriptsKnown += 1
            return .known
        }
        guard heldFDs < maxHeldFDs else { counters.scriptsUnavailable += 1; return .none }
        let start =
            Self.execFixedSize + Int(bytes.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
            + Int(bytes.loadUnaligned(fromByteOffset: 82, as: UInt16.self)) + Int(bytes.loadUnaligned(fromByteOffset: 84, as: UInt16.self))
        let length = Int(bytes.loadUnaligned(fromByteOffset: 86, as: UInt16.self))
        // Cut (32) or only the name execve was given (64): no path to trust.
        let fd = openRecordedFile(bytes, start: start, length: length, cut: flags & (32 | 64) != 0, id)
        guard fd >= 0 else { counters.scriptsUnavailable += 1; return .none }
        heldFDs += 1
        counters.scriptsByPath += 1
        passedExecutables.passed(id, now: now)
        return .descriptor(fd)
    }

    /// A file by the path in the exec record (components leaf first at `start`, `length` bytes;
    /// bpf/edr_events.h), opened O_PATH (no open side effect on whatever the path names now) and
    /// passed only if it is a regular file with the identity the kernel recorded at exec: device,
    /// inode, size and ctime. Then reopened for reading. -1 otherwise (a renamed, replaced or
    /// rewritten file, or a path the kernel cut).
    private func openRecordedFile(
        _ bytes: UnsafeRawBufferPointer, start: Int, length pathLen: Int, cut: Bool,
        _ id: RecordedFileIdentity
    ) -> Int32 {
        guard id.ctime != 0, !cut else { return -1 }
        guard pathLen > 0, start + pathLen <= bytes.count else { return -1 }
        var components: [Substring] = []
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + pathLen)]), as: UTF8.self)
        for c in text.split(separator: "\0", omittingEmptySubsequences: true) where c != "/" {
            components.append(c)
        }
        guard !components.isEmpty else { return -1 }
        let relative = components.reversed().joined(separator: "/")
        // Through the process's own root while it lives (its mount namespace: a container's
        // files), else init's, not this process's: under its unit the sensor has a private
        // /tmp and no /home (PrivateTmp=, ProtectHome=), where one-shot tools like to live.
        // Init's root can be closed even to root (a VM's init that is not dumpable): then our
        // own. The identity check makes every candidate safe to try.
        let pid = bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)
        for root in ["/proc/\(pid)/root/", "/proc/1/root/", "/"] {
            let pfd = open(root + relative, Int32(EDR_O_PATH) | O_NOFOLLOW | O_CLOEXEC)
            guard pfd >= 0 else { continue }
            defer { close(pfd) }
            var st = stat()
            guard fstat(pfd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let dev = userDevice(fromKernel: UInt64(id.device))
            let ctime = UInt64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ UInt64(st.st_ctim.tv_nsec)
            guard UInt64(st.st_dev) == dev, UInt64(st.st_ino) == id.inode, UInt64(st.st_size) == id.size, ctime == id.ctime else {
                continue
            }
            return open("/proc/self/fd/\(pfd)", O_RDONLY | O_CLOEXEC)
        }
        return -1
    }

    /// Closes a descriptor the sensor held for a frame (sent, acknowledged or dropped).
    func releaseHeld(_ fd: Int32) {
        close(fd)
        heldFDs -= 1
    }
}
