/// Container ids from cgroup v2 names, as the kernel reports them (leaf and its parent):
/// docker (`docker-<id>.scope` with the systemd driver, `docker/<id>` with cgroupfs),
/// containerd (`cri-containerd-<id>.scope`, kubepods `.../<id>`), CRI-O (`crio-<id>.scope`),
/// podman (`libpod-<id>.scope`, `libpod-conmon-<id>.scope` is the monitor, not the container),
/// systemd-nspawn machines (`machine-<name>.scope`). A host process gets nil.
public enum ContainerID {
    public static func from(name: String, parent: String) -> String? {
        if let id = fromLeaf(name) { return id }
        // cgroupfs drivers: /docker/<id>, /kubepods/.../<id>, /machine.slice/libpod-<id>.scope/container
        if isHexID(name), parent == "docker" || parent.hasPrefix("kubepods") || parent.hasPrefix("pod") || parent == "containerd" {
            return name
        }
        if name == "container" || name == "init.scope", let id = fromLeaf(parent) { return id }
        return nil
    }

    static func fromLeaf(_ s: String) -> String? {
        guard s.hasSuffix(".scope") else { return nil }
        let base = String(s.dropLast(6))
        if base.hasPrefix("libpod-conmon-") { return nil }
        for prefix in ["docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"] where base.hasPrefix(prefix) {
            let id = String(base.dropFirst(prefix.count))
            return isHexID(id) ? id : nil
        }
        if base.hasPrefix("machine-") {
            // systemd escapes '-' in machine names as \x2d
            let n = String(base.dropFirst(8)).replacing("\\x2d", with: "-")
            return n.isEmpty ? nil : n
        }
        return nil
    }

    static func isHexID(_ s: String) -> Bool {
        s.utf8.count >= 12 && s.utf8.count <= 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}
