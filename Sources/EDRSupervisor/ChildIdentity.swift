import EDRCore
import EDRSystem
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
            throw EDRError(
                "\(key) \"\(name)\" is uid 65534 (nobody), which other daemons share: use a dedicated user (see systemd/edr.sysusers) or leave \(key) empty for a dynamic uid"
            )
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
