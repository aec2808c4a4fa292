import Crypto
import Synchronization

/// The host and agent an alert comes from (ECS host.*, agent.*), read once at start.
///
/// host.id is /etc/machine-id as it is (what `hostnamectl` and journald show); agent.id is
/// derived from it the way systemd derives application-specific ids
/// (`sd_id128_get_machine_app_specific`: HMAC-SHA256 keyed with the machine id over a fixed
/// application id, as a version-4 UUID), so `systemd-id128 machine-id --app-specific=
/// 5c3d0e1f8a7b4e2c9d6f1a0b3c4d5e6f` prints it. It stays the same for as long as the
/// installation keeps its machine id, and a fleet can tell agents apart without the alert
/// repeating an identifier systemd asks not to expose under other names.
public struct HostIdentity: Sendable {
    public var name: String
    public var id: String
    public var agentID: String
    public var agentVersion = AgentVersion.version
    public var osType = Platform.osType
    public var kernel: String?
    public var architecture = Platform.architecture
    public var os: OSRelease?

    /// The application id agent.id is derived with (never change it: agent ids would change).
    public static let agentApplicationID: [UInt8] = [
        0x5c, 0x3d, 0x0e, 0x1f, 0x8a, 0x7b, 0x4e, 0x2c,
        0x9d, 0x6f, 0x1a, 0x0b, 0x3c, 0x4d, 0x5e, 0x6f
    ]

    public init(name: String, id: String) {
        self.name = name
        self.id = id
        agentID = Self.agentID(machineID: id) ?? ""
    }

    /// The kernel's host name (or the configured one), /etc/machine-id (or the one given,
    /// as the supervisor passes it to a confined child), the kernel release and, if given
    /// or readable, /etc/os-release.
    public static func local(nameOverride: String = "", machineID: String? = nil, os: OSRelease? = nil) -> HostIdentity {
        let id = machineID ?? (try? readTextFile("/etc/machine-id"))?.filter { !$0.isWhitespace } ?? ""
        var h = HostIdentity(name: nameOverride.isEmpty ? Platform.hostName() : nameOverride, id: id)
        h.kernel = Platform.kernelRelease()
        h.os = os ?? OSRelease.local()
        return h
    }

    /// The application-specific id systemd would give: nil unless `machineID` is 32 hex digits.
    public static func agentID(machineID: String) -> String? {
        let hex = Array(machineID.utf8)
        guard hex.count == 32 else { return nil }
        var key = [UInt8]()
        key.reserveCapacity(16)
        var i = 0
        while i < 32 {
            guard let hi = hexValue(hex[i]), let lo = hexValue(hex[i + 1]) else { return nil }
            key.append(hi << 4 | lo)
            i += 2
        }
        var b = Array(HMAC<SHA256>.authenticationCode(for: agentApplicationID, using: SymmetricKey(data: key)).prefix(16))
        b[6] = (b[6] & 0x0F) | 0x40  // version 4
        b[8] = (b[8] & 0x3F) | 0x80  // RFC 4122 variant
        var s = [UInt8]()
        for (n, byte) in b.enumerated() {
            if n == 4 || n == 6 || n == 8 || n == 10 { s.append(UInt8(ascii: "-")) }
            s.append(hexDigits[Int(byte >> 4)])
            s.append(hexDigits[Int(byte & 15)])
        }
        return String(decoding: s, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The host and agent objects as JSON members (`"host":{…},"agent":{…}`), rendered once.
    public var rendered: [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        write(&w)
        w.endObject()
        return w.memberBytes
    }

    /// ECS host and agent objects.
    public func write(_ w: inout JSONWriter) {
        w.key("host"); w.beginObject()
        w.field("name", name)
        w.field("hostname", name)
        if !id.isEmpty { w.field("id", id) }
        w.field("architecture", architecture)
        w.key("os"); w.beginObject()
        w.field("type", osType)
        w.field("kernel", kernel)
        if let os {
            w.field("name", os.name)
            w.field("version", os.version)
            w.field("family", os.family)
            w.field("platform", os.platform)
            w.field("full", os.full)
        }
        w.endObject()
        w.endObject()
        w.key("agent"); w.beginObject()
        if !agentID.isEmpty { w.field("id", agentID) }
        w.field("name", "edr")
        w.field("type", "edr")
        w.field("version", agentVersion)
        w.endObject()
    }
}

let hexDigits = Array("0123456789abcdef".utf8)

/// What /etc/os-release says (ECS host.os.*): NAME, VERSION_ID, ID_LIKE's first word (or ID),
/// ID and PRETTY_NAME.
public struct OSRelease: Sendable, Equatable {
    public var name: String?
    public var version: String?
    public var family: String?
    public var platform: String?
    public var full: String?

    public init(name: String? = nil, version: String? = nil, family: String? = nil, platform: String? = nil, full: String? = nil) {
        self.name = name
        self.version = version
        self.family = family
        self.platform = platform
        self.full = full
    }

    /// /etc/os-release, else /usr/lib/os-release; nil if neither is readable (a confined
    /// child: read it before confinement and pass it on).
    public static func local() -> OSRelease? {
        if Platform.isWindows { return nil }
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            if let text = try? readTextFile(path) { return parse(text) }
        }
        return nil
    }

    public static func parse(_ text: String) -> OSRelease {
        var values: [Substring: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "="), !line.hasPrefix("#") else { continue }
            var v = line[line.index(after: eq)...]
            if v.count >= 2, let q = v.first, q == "\"" || q == "'", v.last == q { v = v.dropFirst().dropLast() }
            values[line[..<eq]] = String(v)
        }
        let platform = values["ID"]
        let family = values["ID_LIKE"].flatMap { $0.split(separator: " ").first.map(String.init) } ?? platform
        return OSRelease(
            name: values["NAME"], version: values["VERSION_ID"], family: family, platform: platform,
            full: values["PRETTY_NAME"])
    }
}

/// event.id: unique per alert, across restarts and hosts. 64 random bits drawn once per
/// process, then a counter, written as a UUID-shaped string ("3f2a…-…-0000-00000000002a").
public enum AlertID {
    private static let instance = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(0)

    /// Draws the random half now (before a seccomp filter, if it would forbid getrandom).
    public static func prepare() { _ = instance }

    public static func next() -> (high: UInt64, low: UInt64) {
        (instance, counter.wrappingAdd(1, ordering: .relaxed).newValue)
    }
}

extension JSONWriter {
    /// A 128-bit id as a UUID-shaped string, written without an intermediate String.
    public mutating func uuid(_ id: (high: UInt64, low: UInt64)) {
        var text: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)  // 40 bytes, 38 used
        withUnsafeMutableBytes(of: &text) { t in
            t[0] = UInt8(ascii: "\"")
            t[37] = UInt8(ascii: "\"")
            var pos = 1
            for n in 0..<32 {
                if n == 8 || n == 12 || n == 16 || n == 20 { t[pos] = UInt8(ascii: "-"); pos += 1 }
                let word = n < 16 ? id.high : id.low
                let nibble = UInt8(truncatingIfNeeded: (word >> UInt64(60 - 4 * (n & 15))) & 15)
                t[pos] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
                pos += 1
            }
            raw(UnsafeRawBufferPointer(rebasing: t[0..<38]))
        }
    }
}
