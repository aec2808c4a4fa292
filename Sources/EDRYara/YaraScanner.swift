import CYara
import EDRCore
import EDRSystem
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A rule metadata value.
public enum YaraMetaValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        }
    }
}

/// Severity read from a rule's meta `severity`, `score` or `level` (first present wins).
public struct YaraSeverity: Sendable, Hashable {
    public enum Level: String, Sendable, Hashable, Comparable {
        case informational, low, medium, high, critical
        private var rank: Int { [.informational: 0, .low: 1, .medium: 2, .high: 3, .critical: 4][self]! }
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    }
    /// Normalized level. Numeric scores (THOR/LOKI 0–100): <40 low, <60 medium, <80 high, else critical.
    public var level: Level
    /// The numeric score when the meta value was a number.
    public var score: Int?
    /// The meta key it came from and its raw value.
    public var key: String
    public var raw: String

    static func from(meta: [YaraMeta]) -> YaraSeverity? {
        for key in ["severity", "score", "level"] {
            guard let m = meta.first(where: { $0.key.lowercased() == key }) else { continue }
            switch m.value {
            case .int(let i): return YaraSeverity(level: level(score: Int(i)), score: Int(i), key: m.key, raw: String(i))
            case .bool: continue
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces).lowercased()
                if let i = Int(t) { return YaraSeverity(level: level(score: i), score: i, key: m.key, raw: s) }
                let named: [String: Level] = [
                    "info": .informational, "informational": .informational, "low": .low,
                    "medium": .medium, "moderate": .medium, "warning": .medium,
                    "high": .high, "alert": .high, "critical": .critical
                ]
                if let l = named[t] { return YaraSeverity(level: l, score: nil, key: m.key, raw: s) }
            }
        }
        return nil
    }

    static func level(score: Int) -> Level {
        score < 40 ? .low : score < 60 ? .medium : score < 80 ? .high : .critical
    }
}

public struct YaraMeta: Sendable, Hashable {
    public var key: String
    public var value: YaraMetaValue
}

/// One matching rule.
public struct YaraMatch: Sendable, Hashable {
    public var rule: String
    public var namespace: String
    public var tags: [String]
    /// In the rule's order; keys may repeat.
    public var meta: [YaraMeta]
    public var severity: YaraSeverity?

    /// The first meta value with this key.
    public subscript(meta key: String) -> YaraMetaValue? { meta.first { $0.key == key }?.value }
}

/// How a scan ended.
public enum YaraScanStatus: Sendable, Hashable {
    case completed
    /// The file is larger than the size cap; not scanned.
    case skippedTooLarge
    /// Not a regular file (pipe, socket, device); not scanned.
    case skippedNotRegular
    /// The timeout hit; `matches` holds what matched before it.
    case timedOut
    /// fstat/mmap or libyara failed (yara error code, or -errno).
    case failed(Int32)
}

public struct YaraScanResult: Sendable {
    public var status: YaraScanStatus
    public var matches: [YaraMatch]
    /// fstat identity of the scanned fd (nil if fstat failed).
    public var identity: FileIdentity?
    /// Set when hashes were asked for and the file was within the cap.
    public var hashes: FileHashes?
    public var bytesScanned: Int64
}

public struct YaraScanOptions: Sendable {
    /// Files larger than this are skipped (neither scanned nor hashed). Default 64 MiB.
    public var maxFileSize: Int64 = 64 << 20
    /// libyara's timeout in whole seconds (0 = none). Default 10.
    public var timeoutSeconds: Int = 10
    /// Stop evaluating a string after its first match (yara -f): faster, same verdicts.
    public var fastMode: Bool = true
    public init(maxFileSize: Int64 = 64 << 20, timeoutSeconds: Int = 10, fastMode: Bool = true) {
        self.maxFileSize = maxFileSize
        self.timeoutSeconds = timeoutSeconds
        self.fastMode = fastMode
    }
}

/// Scans open file descriptors with a compiled rule set. Not thread-safe: use one scanner per
/// thread (they are cheap; the rules are shared).
public final class YaraScanner {
    public let rules: YaraRules
    public var options: YaraScanOptions
    private let scanner: UnsafeMutablePointer<YR_SCANNER>
    private let collector = MatchCollector()

    public init(rules: YaraRules, options: YaraScanOptions = .init()) throws {
        YaraLibrary.ensureInitialized()
        var s: UnsafeMutablePointer<YR_SCANNER>?
        let rc = yr_scanner_create(rules.handle, &s)
        guard rc == edr_yr_error_success(), let s else { throw YaraError(code: rc, message: "yr_scanner_create failed") }
        self.rules = rules
        self.options = options
        self.scanner = s
        yr_scanner_set_callback(
            scanner,
            { _, message, data, user in
                guard let user else { return edr_yr_callback_continue() }
                let c = Unmanaged<MatchCollector>.fromOpaque(user).takeUnretainedValue()
                if message == edr_yr_callback_msg_rule_matching(), let data {
                    c.matches.append(YaraScanner.match(from: data.assumingMemoryBound(to: YR_RULE.self)))
                }
                return edr_yr_callback_continue()
            }, Unmanaged.passUnretained(collector).toOpaque())
    }

    deinit { yr_scanner_destroy(scanner) }

    /// Reads /etc/passwd for the `owner` external now (e.g. before a seccomp sandbox is on).
    public static func preloadOwnerNames() { _ = OwnerNames.shared }

    /// Scans the file open at `fd` from offset 0 (mapped read-only; the fd's offset is not
    /// moved and the file is never opened by path). `path` only feeds the filename/filepath/
    /// extension externals. With `computeHashes`, MD5/SHA-1/SHA-256 are computed in the same
    /// call (read with pread; the scan itself reads the mapping under libyara's SIGBUS guard).
    public func scan(fd: Int32, path: String? = nil, computeHashes: Bool = false, hashKinds: HashKinds = .all) -> YaraScanResult {
        guard let st = FileStat(fd: fd) else {
            return YaraScanResult(status: .failed(-errno), matches: [], identity: nil, hashes: nil, bytesScanned: 0)
        }
        guard st.isRegular else {
            return YaraScanResult(status: .skippedNotRegular, matches: [], identity: st.identity, hashes: nil, bytesScanned: 0)
        }
        guard st.identity.size <= options.maxFileSize else {
            return YaraScanResult(status: .skippedTooLarge, matches: [], identity: st.identity, hashes: nil, bytesScanned: 0)
        }
        guard let map = MappedFile(fd: fd, size: st.identity.size) else {
            return YaraScanResult(status: .failed(-errno), matches: [], identity: st.identity, hashes: nil, bytesScanned: 0)
        }
        // Hashed with pread, not from the mapping: if the file is truncated meanwhile, touching
        // the mapping past the new end raises SIGBUS, which libyara catches inside its scan
        // but nothing would catch here.
        let hashes = computeHashes ? FileHashes.compute(fd: fd, maxSize: options.maxFileSize, kinds: hashKinds) : nil
        if !rules.externalNames.isEmpty {
            var header = [UInt8](repeating: 0, count: 128)
            let n = max(0, pread(fd, &header, header.count, 0))
            header.withUnsafeBytes { setExternals(path: path, header: UnsafeRawBufferPointer(rebasing: $0[0..<n]), uid: st.uid) }
        }
        var result = scan(buffer: map.buffer)
        result.identity = st.identity
        result.hashes = hashes
        return result
    }

    /// Scans a memory buffer (externals keep their last values).
    public func scan(buffer: UnsafeRawBufferPointer) -> YaraScanResult {
        guard buffer.count <= options.maxFileSize else {
            return YaraScanResult(status: .skippedTooLarge, matches: [], identity: nil, hashes: nil, bytesScanned: 0)
        }
        var flags: Int32 = 0
        if options.fastMode { flags |= Int32(SCAN_FLAGS_FAST_MODE) }
        yr_scanner_set_flags(scanner, flags)
        yr_scanner_set_timeout(scanner, Int32(clamping: options.timeoutSeconds))
        collector.matches.removeAll(keepingCapacity: true)
        let empty: UInt8 = 0
        let rc: Int32 = withUnsafePointer(to: empty) { emptyPtr in
            let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPtr
            return yr_scanner_scan_mem(scanner, base, buffer.count)
        }
        let matches = collector.matches
        collector.matches.removeAll()
        let status: YaraScanStatus
        if rc == edr_yr_error_success() || rc == edr_yr_error_too_many_matches() {
            status = .completed
        } else if rc == edr_yr_error_scan_timeout() {
            status = .timedOut
        } else {
            status = .failed(rc)
        }
        return YaraScanResult(status: status, matches: matches, identity: nil, hashes: nil, bytesScanned: Int64(buffer.count))
    }

    /// Sets the externals for the next scan (only those defined at compile time).
    public func setExternal(_ name: String, _ value: String) {
        guard rules.externalNames.contains(name) else { return }
        _ = yr_scanner_define_string_variable(scanner, name, value)
    }

    private func setExternals(path: String?, header: UnsafeRawBufferPointer, uid: UInt32) {
        guard !rules.externalNames.isEmpty else { return }
        let p = path ?? ""
        let base = p.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        var ext = ""
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { ext = String(base[dot...]).lowercased() }
        setExternal("filename", base)
        setExternal("filepath", p)
        setExternal("extension", ext)
        setExternal("filetype", FileType.detect(header))
        setExternal("owner", FileType.owner(uid: uid))
    }

    static func match(from rule: UnsafePointer<YR_RULE>) -> YaraMatch {
        let name = edr_yr_rule_identifier(rule).map { String(cString: $0) } ?? ""
        let ns = edr_yr_rule_namespace(rule).map { String(cString: $0) } ?? ""
        var tags: [String] = []
        if var t = edr_yr_rule_tags(rule) {
            while t.pointee != 0 {
                let s = String(cString: t)
                tags.append(s)
                t += strlen(t) + 1
            }
        }
        var meta: [YaraMeta] = []
        var m = edr_yr_rule_first_meta(rule)
        while let cur = m {
            let key = edr_yr_meta_identifier(cur).map { String(cString: $0) } ?? ""
            let type = edr_yr_meta_type(cur)
            let value: YaraMetaValue
            if type == edr_yr_meta_type_integer() {
                value = .int(edr_yr_meta_integer(cur))
            } else if type == edr_yr_meta_type_boolean() {
                value = .bool(edr_yr_meta_integer(cur) != 0)
            } else {
                value = .string(edr_yr_meta_string(cur).map { String(cString: $0) } ?? "")
            }
            meta.append(YaraMeta(key: key, value: value))
            m = edr_yr_meta_next(cur)
        }
        return YaraMatch(rule: name, namespace: ns, tags: tags, meta: meta, severity: YaraSeverity.from(meta: meta))
    }
}

private final class MatchCollector {
    var matches: [YaraMatch] = []
}

/// LOKI-style `filetype` values from the first bytes of a file.
enum FileType {
    static func detect(_ b: UnsafeRawBufferPointer) -> String {
        func starts(_ sig: [UInt8]) -> Bool {
            guard b.count >= sig.count else { return false }
            for i in sig.indices where b[i] != sig[i] { return false }
            return true
        }
        if starts([0x4D, 0x5A]) { return "EXE" }
        if starts([0x7F, 0x45, 0x4C, 0x46]) { return "ELF" }
        if starts([0xFE, 0xED, 0xFA, 0xCE]) || starts([0xFE, 0xED, 0xFA, 0xCF]) || starts([0xCE, 0xFA, 0xED, 0xFE])
            || starts([0xCF, 0xFA, 0xED, 0xFE]) || starts([0xCA, 0xFE, 0xBA, 0xBE])
        {
            return "MACH-O"
        }
        if starts(Array("MDMP".utf8)) { return "MDMP" }
        if starts(Array("{\\rtf".utf8)) { return "RTF" }
        if starts(Array("%PDF".utf8)) { return "PDF" }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return "ZIP" }
        if starts(Array("Rar!".utf8)) { return "RAR" }
        if starts([0x1F, 0x8B]) { return "GZIP" }
        if starts([0xD0, 0xCF, 0x11, 0xE0]) { return "OLE" }
        if starts(Array("<?php".utf8)) { return "PHP" }
        if starts(Array("<%".utf8)) { return "JSP" }
        if starts(Array("#!".utf8)) {
            let line = b.prefix(128).prefix { $0 != 0x0A }
            let text = String(decoding: line, as: UTF8.self)
            if text.contains("python") { return "Python" }
            if text.contains("perl") { return "PERL" }
            return "SH"
        }
        return ""
    }

    /// Owner name for the `owner` external, from a uid → name table read from /etc/passwd
    /// once (plain file read, no NSS: safe under the detector's seccomp policy; call
    /// `YaraScanner.preloadOwnerNames()` before entering the sandbox). Unknown uids give
    /// the number.
    static func owner(uid: UInt32) -> String {
        OwnerNames.shared.table[uid] ?? String(uid)
    }
}

final class OwnerNames: Sendable {
    static let shared = OwnerNames()
    let table: [UInt32: String]

    init(path: String = "/etc/passwd") {
        var t: [UInt32: String] = [:]
        if let text = path == "/etc/passwd" ? SystemFiles.passwd() : FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) {
            for line in text.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count >= 3, let uid = UInt32(f[2]), t[uid] == nil { t[uid] = String(f[0]) }
            }
        }
        table = t
    }
}
