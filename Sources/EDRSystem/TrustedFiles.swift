import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Files that steer the agent (configuration, rules, indicators, the BPF object, the
/// executables) must be writable by root alone: whoever can edit a rule can blind the agent,
/// and whoever can replace edr-sensor runs code as root.
public enum TrustedFiles {
    /// Throws, naming the file, if `path`, anything beneath it, or a directory above it can be
    /// changed by an account other than root.
    public static func check(_ path: String, what: String) throws {
        var real = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &real) != nil else { throw SystemError("realpath", detail: "\(what) \(path)") }
        let resolved = String(cString: real)
        // Directories above: owned by root, not writable by others unless sticky (like /tmp).
        var parts = resolved.split(separator: "/").map(String.init)
        parts.removeLast()
        var dir = ""
        for p in [""] + parts {
            dir = p.isEmpty ? "/" : (dir == "/" ? "/" + p : dir + "/" + p)
            try checkOne(dir, what: what, origin: path, ancestor: true)
        }
        try walk(resolved, what: what, origin: path, depth: 0)
    }

    private static func walk(_ path: String, what: String, origin: String, depth: Int) throws {
        let st = try checkOne(path, what: what, origin: origin, ancestor: false)
        guard (st.st_mode & S_IFMT) == S_IFDIR, depth < 32, let d = opendir(path) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            try walk(path + "/" + name, what: what, origin: origin, depth: depth + 1)
        }
    }

    @discardableResult
    private static func checkOne(_ path: String, what: String, origin: String, ancestor: Bool) throws -> stat {
        var st = stat()
        guard stat(path, &st) == 0 else { throw SystemError("stat", detail: "\(what) \(path)") }
        let via = path == origin ? "" : " (for \(origin))"
        if st.st_uid != 0 {
            throw EDRError("\(what) \(path)\(via) is owned by uid \(st.st_uid): files and directories that steer the agent must be owned by root (chown root)")
        }
        let otherWrite = st.st_mode & S_IWOTH != 0
        let groupWrite = st.st_mode & S_IWGRP != 0 && st.st_gid != 0
        let sticky = st.st_mode & S_ISVTX != 0 && (st.st_mode & S_IFMT) == S_IFDIR
        if (otherWrite || groupWrite) && !(ancestor && sticky) {
            throw EDRError(
                "\(what) \(path)\(via) is writable by \(otherWrite ? "every user" : "group \(st.st_gid)") (mode \(String(st.st_mode & 0o7777, radix: 8))): whoever can edit it can blind the agent (chmod go-w)"
            )
        }
        return st
    }
}

/// A user name or numeric uid resolved to uid and primary gid.
public func resolveUser(_ name: String) throws -> (uid: uid_t, gid: gid_t) {
    if let uid = UInt32(name) {
        if let pw = getpwuid(uid) { return (uid, pw.pointee.pw_gid) }
        return (uid, uid)
    }
    guard let pw = getpwnam(name) else { throw EDRError("user \"\(name)\" does not exist (create it, or set a numeric uid)") }
    return (pw.pointee.pw_uid, pw.pointee.pw_gid)
}
