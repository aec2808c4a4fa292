import EDRCore

/// Builds records byte for byte as bpf/edr_events.h lays them out: the decoder's tests and
/// the pipeline benchmark (Benchmarks/) feed the detector with these (the kernel writes the real ones).
public enum KernelRecordLayout {
    public static func header(kind: UInt16, size: Int, bootNanos: UInt64 = 123) -> [UInt8] {
        var b = [UInt8]()
        b.appendLE(kind); b.appendLE(UInt16(1)); b.appendLE(UInt32(size)); b.appendLE(bootNanos)
        return b
    }

    /// struct edr_task_ids: pid, tid, ppid, uid, euid, gid, egid, loginuid, start, parent start.
    /// Each field has its own parameter so a test can give every one a distinct value (a
    /// decoder that swapped two of them must not go unnoticed); left out, tid is the pid and
    /// euid, gid and egid are the uid (a single-threaded process without set-id bits).
    public static func ids(
        pid: UInt32, tid: UInt32? = nil, ppid: UInt32, uid: UInt32, euid: UInt32? = nil, gid: UInt32? = nil,
        egid: UInt32? = nil, start: UInt64, parentStart: UInt64, loginuid: UInt32 = UInt32.max
    ) -> [UInt8] {
        var b = [UInt8]()
        for v in [pid, tid ?? pid, ppid, uid, euid ?? uid, gid ?? uid, egid ?? uid, loginuid] { b.appendLE(v) }
        b.appendLE(start)
        b.appendLE(parentStart)
        return b
    }

    public static func comm(_ s: String) -> [UInt8] {
        Array((Array(s.utf8) + [UInt8](repeating: 0, count: 16)).prefix(16))
    }

    public static func fork(
        pid: UInt32, tid: UInt32? = nil, ppid: UInt32, uid: UInt32 = 0, euid: UInt32? = nil, gid: UInt32? = nil,
        egid: UInt32? = nil, loginuid: UInt32 = UInt32.max, start: UInt64, parentStart: UInt64,
        comm name: String = "fork", bootNanos: UInt64 = 123
    ) -> [UInt8] {
        var b = header(kind: 3, size: 80, bootNanos: bootNanos)
        b += ids(
            pid: pid, tid: tid, ppid: ppid, uid: uid, euid: euid, gid: gid, egid: egid, start: start, parentStart: parentStart,
            loginuid: loginuid)
        b += comm(name)
        return b
    }

    public static func exit(
        pid: UInt32, tid: UInt32? = nil, ppid: UInt32, uid: UInt32 = 0, euid: UInt32? = nil, gid: UInt32? = nil,
        egid: UInt32? = nil, loginuid: UInt32 = UInt32.max, start: UInt64, parentStart: UInt64, code: UInt32 = 0,
        comm name: String = "exit", bootNanos: UInt64 = 123
    ) -> [UInt8] {
        var b = header(kind: 2, size: 88, bootNanos: bootNanos)
        b += ids(
            pid: pid, tid: tid, ppid: ppid, uid: uid, euid: euid, gid: gid, egid: egid, start: start, parentStart: parentStart,
            loginuid: loginuid)
        b.appendLE(code); b.appendLE(UInt32(0))
        b += comm(name)
        return b
    }

    /// An exec record. The executable's identity defaults to inode 4242, 35,000 bytes, ctime
    /// 1,700,000,000.123456789 s, device 8:1 (kernel dev_t). A `script` adds its path (as
    /// components, or as the raw name with `scriptNameOnly`) and, unless it is name-only, an
    /// identity with `scriptInode`, 777 bytes, ctime 1,700,000,001.5 s, device 8:2; `environment`
    /// is envp, each entry NUL-terminated.
    public static func exec(
        pid: UInt32, tid: UInt32? = nil, ppid: UInt32, uid: UInt32 = 0, euid: UInt32? = nil, gid: UInt32? = nil,
        egid: UInt32? = nil, loginuid: UInt32 = UInt32.max, start: UInt64, parentStart: UInt64,
        args: [String], path: String, cwd: String, flags: UInt32 = 0, cgroup: UInt64 = 777,
        comm name: String = "comm", inode: UInt64 = 4242, bootNanos: UInt64 = 123,
        script: String? = nil, scriptNameOnly: Bool = false, scriptInode: UInt64 = 5151,
        environment: [String] = [], environmentBytes: [UInt8]? = nil
    ) -> [UInt8] {
        func components(_ p: String) -> [UInt8] {
            var out: [UInt8] = []
            for c in p.split(separator: "/").reversed() { out += Array(c.utf8); out.append(0) }
            return out
        }
        var a: [UInt8] = []
        for s in args { a += Array(s.utf8); a.append(0) }
        var e: [UInt8] = []
        for s in environment { e += Array(s.utf8); e.append(0) }
        if let environmentBytes { e = environmentBytes }
        let pc = components(path), cc = components(cwd)
        var sc: [UInt8] = []
        var f = flags
        if let script {
            f |= ExecRecord.script
            if scriptNameOnly {
                f |= ExecRecord.scriptNameOnly
                sc = Array(script.utf8) + [0]
            } else {
                sc = components(script)
            }
        }
        var b = header(kind: 1, size: 168 + a.count + pc.count + cc.count + sc.count + e.count, bootNanos: bootNanos)
        b += ids(
            pid: pid, tid: tid, ppid: ppid, uid: uid, euid: euid, gid: gid, egid: egid, start: start, parentStart: parentStart,
            loginuid: loginuid)
        b.appendLE(cgroup)
        b.appendLE(f); b.appendLE(UInt32(args.count))
        b.appendLE(UInt16(a.count)); b.appendLE(UInt16(pc.count)); b.appendLE(UInt16(cc.count)); b.appendLE(UInt16(sc.count))
        b += comm(name)
        b.appendLE(inode); b.appendLE(UInt64(35_000)); b.appendLE(UInt64(1_700_000_000_123_456_789))
        b.appendLE(UInt32(8 << 20 | 1)); b.appendLE(UInt32(0))
        if script != nil && !scriptNameOnly {
            b.appendLE(scriptInode); b.appendLE(UInt64(777)); b.appendLE(UInt64(1_700_000_001_500_000_000))
            b.appendLE(UInt32(8 << 20 | 2))
        } else {
            b += [UInt8](repeating: 0, count: 28)
        }
        b.appendLE(UInt16(e.count)); b.appendLE(UInt16(0))
        b += a
        b += pc
        b += cc
        b += sc
        b += e
        return b
    }
}
