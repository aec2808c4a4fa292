import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// The processes that already run when a detector connects, as raw /proc bytes. The sensor
/// reads and forwards; the unprivileged detector parses (it may not read other users' /proc).
public enum ProcSnapshot {
    public enum Section: UInt8 { case stat = 1, status = 2, cmdline = 3, exe = 4, cwd = 5 }

    public static func frames() -> [Frame] {
        var frames: [Frame] = []
        guard let dir = opendir("/proc") else { return frames }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = UInt32(name) else { continue }
            if let payload = payload(pid: pid) { frames.append(Frame(type: .procSnapshot, payload: payload)) }
        }
        return frames
    }

    static func payload(pid: UInt32) -> [UInt8]? {
        var p = [UInt8]()
        p.appendLE(pid)
        guard let stat = try? readFile("/proc/\(pid)/stat", limit: 4096) else { return nil }  // gone already
        append(&p, .stat, stat)
        if let status = try? readFile("/proc/\(pid)/status", limit: 8192) { append(&p, .status, status) }
        if let cmdline = try? readFile("/proc/\(pid)/cmdline", limit: 8192) { append(&p, .cmdline, cmdline) }
        if let exe = link("/proc/\(pid)/exe") { append(&p, .exe, exe) }
        if let cwd = link("/proc/\(pid)/cwd") { append(&p, .cwd, cwd) }
        return p
    }

    private static func append(_ p: inout [UInt8], _ section: Section, _ bytes: [UInt8]) {
        p.append(section.rawValue)
        p.appendLE(UInt32(bytes.count))
        p.append(contentsOf: bytes)
    }

    private static func link(_ path: String) -> [UInt8]? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buf, 4096)
        guard n > 0 else { return nil }
        return buf[0..<n].map { UInt8(bitPattern: $0) }
    }
}
