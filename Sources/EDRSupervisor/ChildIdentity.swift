import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Who a child runs as. Each confined child has an identity no other process on the host has:
/// a uid shared with another daemon (like `nobody`) would let that daemon signal, trace or
/// impersonate the child.
public enum ChildIdentity {
    /// The range systemd uses for DynamicUser= (61184–65519): not given to regular accounts.
    public static let dynamicRange: ClosedRange<UInt32> = 61184...65519

    /// uids and gids any running process holds (real, effective, saved or filesystem).
    public static func idsInUse() -> (uids: Set<UInt32>, gids: Set<UInt32>) {
        var uids = Set<UInt32>(), gids = Set<UInt32>()
        forEachProcessStatus { _, st in
            uids.formUnion(st.uids)
            gids.formUnion(st.gids)
            return true
        }
        return (uids, gids)
    }

    /// Picks `count` distinct ids from the dynamic range that no account, group or running
    /// process has, starting at a random point (two agents starting together rarely collide).
    public static func allocate(count: Int, excluding: Set<UInt32> = []) throws -> [UInt32] {
        let inUse = idsInUse()
        let span = dynamicRange.upperBound - dynamicRange.lowerBound + 1
        var picked: [UInt32] = []
        let start = UInt32.random(in: 0..<span)
        for i in 0..<span {
            let id = dynamicRange.lowerBound + (start + i) % span
            if excluding.contains(id) || inUse.uids.contains(id) || inUse.gids.contains(id) { continue }
            if getpwuid(id) != nil || getgrgid(id) != nil { continue }
            picked.append(id)
            if picked.count == count { return picked }
        }
        throw EDRError("no free uid in \(dynamicRange.lowerBound)–\(dynamicRange.upperBound) for the agent's children")
    }

    /// The identity for `key` ("[detect] user"): the configured user, checked, or a dynamic
    /// uid (gid = uid) when `name` is empty.
    public static func resolve(_ name: String, key: String, dynamic: UInt32) throws -> (uid: uid_t, gid: gid_t, name: String) {
        if name.isEmpty { return (dynamic, dynamic, "dynamic uid \(dynamic)") }
        let u = try resolveUser(name)
        guard u.uid != 0 else { throw EDRError("\(key) \"\(name)\" is root: the child must not run as root") }
        guard u.uid != 65534 else {
            throw EDRError("\(key) \"\(name)\" is uid 65534 (nobody), which other daemons share: use a dedicated user (see systemd/edr.sysusers) or leave \(key) empty for a dynamic uid")
        }
        if let pid = firstProcess(uid: u.uid) {
            throw EDRError("\(key) \"\(name)\" (uid \(u.uid)) is already used by pid \(pid): each child needs a uid no other process has")
        }
        return (u.uid, u.gid, "\(name) (uid \(u.uid))")
    }

    static func firstProcess(uid: UInt32) -> Int32? {
        var found: Int32?
        forEachProcessStatus { pid, st in
            if st.uids.contains(uid) { found = pid }
            return found == nil
        }
        return found
    }
}

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
            throw EDRError("\(what) \(path)\(via) is writable by \(otherWrite ? "every user" : "group \(st.st_gid)") (mode \(String(st.st_mode & 0o7777, radix: 8))): whoever can edit it can blind the agent (chmod go-w)")
        }
        return st
    }
}
