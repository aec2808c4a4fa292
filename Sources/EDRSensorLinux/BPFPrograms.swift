import CLibBPF
import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// One kernel hook and what became of it.
public struct HookStatus: Sendable, CustomStringConvertible {
    public var program: String
    public var attachPoint: String
    public var attached: Bool
    public var reason: String?

    public var description: String {
        attached ? "\(program) attached (\(attachPoint))" : "\(program) missing (\(attachPoint)): \(reason ?? "unknown")"
    }
}

/// The BPF object: opened, loaded (programs the kernel refuses are left out, not fatal),
/// attached one hook at a time.
public final class BPFPrograms {
    private var object: OpaquePointer?
    private var links: [OpaquePointer] = []
    public private(set) var hooks: [HookStatus] = []
    public let path: String

    public init(objectPath: String, ringBufferBytes: UInt32) throws {
        self.path = objectPath
        edr_libbpf_set_verbose(0)
        guard access(objectPath, R_OK) == 0 else { throw EDRError("BPF object \(objectPath) is not readable (build it with `make bpf`)") }

        // Load everything; if the kernel refuses a program, find which ones and load without them.
        var refused: [String: String] = [:]
        var obj = try Self.open(objectPath, ringBufferBytes: ringBufferBytes, disabled: [])
        if bpf_object__load(obj) != 0 {
            let allError = String(cString: edr_libbpf_last_error())
            bpf_object__close(obj)
            for name in try Self.programNames(objectPath) {
                let others = try Self.programNames(objectPath).filter { $0 != name }
                let single = try Self.open(objectPath, ringBufferBytes: ringBufferBytes, disabled: Set(others))
                if bpf_object__load(single) != 0 {
                    refused[name] = oneLine(String(cString: edr_libbpf_last_error()))
                }
                bpf_object__close(single)
            }
            if refused.isEmpty { throw EDRError("loading \(objectPath) failed: \(allError)") }
            obj = try Self.open(objectPath, ringBufferBytes: ringBufferBytes, disabled: Set(refused.keys))
            guard bpf_object__load(obj) == 0 else {
                let e = String(cString: edr_libbpf_last_error())
                bpf_object__close(obj)
                throw EDRError("loading \(objectPath) failed even without \(refused.keys.sorted()): \(e)")
            }
        }
        object = obj

        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            let name = String(cString: bpf_program__name(p))
            let section = String(cString: bpf_program__section_name(p))
            if let why = refused[name] {
                hooks.append(HookStatus(program: name, attachPoint: section, attached: false, reason: "refused by the kernel: \(why)"))
            } else if let link = bpf_program__attach(p), libbpf_get_error(UnsafeRawPointer(link)) == 0 {
                links.append(link)
                hooks.append(HookStatus(program: name, attachPoint: section, attached: true, reason: nil))
            } else {
                let err = errno
                hooks.append(
                    HookStatus(
                        program: name, attachPoint: section, attached: false,
                        reason: "attach failed: \(String(cString: strerror(err)))"))
            }
            prog = bpf_object__next_program(obj, p)
        }
    }

    deinit {
        for l in links { bpf_link__destroy(l) }
        if let object { bpf_object__close(object) }
    }

    public func mapFD(_ name: String) throws -> Int32 {
        guard let m = bpf_object__find_map_by_name(object, name) else { throw EDRError("BPF map \(name) not found in \(path)") }
        return bpf_map__fd(m)
    }

    /// The BPF side's `edr_consumer` flag (1: the reader sleeps a batch delay, records ask for no
    /// wake-up), mapped into this process so that setting it costs no system call. Unmap with
    /// `munmap(_, getpagesize())`.
    public func mapConsumerFlag() throws -> UnsafeMutablePointer<UInt32> {
        let fd = try mapFD("edr_consumer")
        let page = mmap(nil, Int(getpagesize()), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let page, page != MAP_FAILED else { throw SystemError("mmap", detail: "edr_consumer") }
        return page.assumingMemoryBound(to: UInt32.self)
    }

    /// Marks processes whose events the kernel side drops (the agent's own).
    public func addAgentPID(_ pid: Int32) throws {
        let fd = try mapFD("edr_agent_pids")
        var key = UInt32(bitPattern: pid)
        var one: UInt8 = 1
        guard bpf_map_update_elem(fd, &key, &one, UInt64(BPF_ANY)) == 0 else { throw SystemError("bpf_map_update_elem", detail: "edr_agent_pids") }
    }

    /// Sums the per-CPU loss counters: index family * KernelCounters.counters.count + counter.
    public func counters() throws -> [UInt64] {
        let fd = try mapFD("edr_counters")
        let cpus = Int(libbpf_num_possible_cpus())
        var values = [UInt64](repeating: 0, count: max(cpus, 1))
        var out = [UInt64](repeating: 0, count: KernelCounters.familySlots * KernelCounters.counters.count)
        for i in 0..<out.count {
            var key = UInt32(i)
            if bpf_map_lookup_elem(fd, &key, &values) == 0 {
                out[i] = values.reduce(0, &+)
            }
        }
        return out
    }

    private static func open(_ path: String, ringBufferBytes: UInt32, disabled: Set<String>) throws -> OpaquePointer {
        guard let obj = bpf_object__open_file(path, nil), libbpf_get_error(UnsafeRawPointer(obj)) == 0 else {
            throw EDRError("cannot open BPF object \(path): \(String(cString: edr_libbpf_last_error()))")
        }
        if let rb = bpf_object__find_map_by_name(obj, "edr_events") {
            bpf_map__set_max_entries(rb, ringBufferBytes)
        }
        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            if disabled.contains(String(cString: bpf_program__name(p))) { bpf_program__set_autoload(p, false) }
            prog = bpf_object__next_program(obj, p)
        }
        return obj
    }

    private static func programNames(_ path: String) throws -> [String] {
        let obj = try open(path, ringBufferBytes: 4096 * 16, disabled: [])
        defer { bpf_object__close(obj) }
        var names: [String] = []
        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            names.append(String(cString: bpf_program__name(p)))
            prog = bpf_object__next_program(obj, p)
        }
        return names
    }
}

/// libbpf messages end with a newline; the hook report wants one line.
private func oneLine(_ s: String) -> String {
    String(s.reversed().drop(while: { $0.isNewline || $0 == " " }).reversed())
}
