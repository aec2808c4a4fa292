import EDRCore

/// One entry of the host's logs, parsed: what the Sigma `product: linux` services match on.
public struct HostLogEntry: Sendable, Equatable {
    /// The program that logged (syslog tag / SYSLOG_IDENTIFIER), e.g. "sshd", "CRON", "sudo".
    public var identifier: String
    public var pid: Int64?
    public var host: String?
    /// Seconds since the Unix epoch; 0 when the entry carries no usable time.
    public var timestamp: Double
    /// Syslog facility number (journal entries only: a file line does not say).
    public var facility: Int?
    public var priority: Int?
    /// The free text: what SigmaHQ's keyword rules search.
    public var message: String
    /// "journal", or the file's path.
    public var origin: String
}

public struct HostLogError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The field that is missing or malformed ("timestamp", "host", "tag", "MESSAGE", …).
    public let field: String
    public let reason: String
    public init(field: String, _ reason: String) { self.field = field; self.reason = reason }
    public var description: String { "\(field): \(reason)" }
}

/// Parses what edr-logs sends: syslog-style lines (RFC 3164 as rsyslog's traditional format
/// writes them, or with an RFC 3339 time as Debian 12's rsyslog does) and journal entries.
/// Never traps on any input; errors name the field.
public enum HostLogParser {
    public static func parse(_ record: LogRecord, now: Double = wallClockNow()) throws(HostLogError) -> HostLogEntry {
        switch record.source {
        case .file:
            guard let line = record.value("_LINE") else { throw HostLogError(field: "_LINE", "missing from a file record") }
            let origin = record.value("_SOURCE").map { String(decoding: $0, as: UTF8.self) } ?? "file"
            return try parse(line: String(decoding: line, as: UTF8.self), origin: origin, now: now)
        case .journal:
            return try parse(journal: record)
        }
    }

    /// A journal entry's fields (journalctl -o export names).
    public static func parse(journal record: LogRecord) throws(HostLogError) -> HostLogEntry {
        func text(_ name: String) -> String? { record.value(name).map { String(decoding: $0, as: UTF8.self) } }
        guard let message = text("MESSAGE") else { throw HostLogError(field: "MESSAGE", "missing from a journal entry") }
        let identifier = text("SYSLOG_IDENTIFIER") ?? text("_COMM") ?? ""
        var pid: Int64?
        if let p = text("SYSLOG_PID") ?? text("_PID") {
            guard let n = Int64(p), n > 0 else { throw HostLogError(field: "_PID", "\"\(p.prefix(40))\" is not a process id") }
            pid = n
        }
        var timestamp = 0.0
        if let t = text("__REALTIME_TIMESTAMP") {
            guard let us = UInt64(t) else { throw HostLogError(field: "__REALTIME_TIMESTAMP", "\"\(t.prefix(40))\" is not microseconds since the epoch") }
            timestamp = Double(us) / 1e6
        }
        var facility: Int?
        if let f = text("SYSLOG_FACILITY") {
            guard let n = Int(f), (0...23).contains(n) else { throw HostLogError(field: "SYSLOG_FACILITY", "\"\(f.prefix(40))\" is not 0–23") }
            facility = n
        }
        var priority: Int?
        if let p = text("PRIORITY") {
            guard let n = Int(p), (0...7).contains(n) else { throw HostLogError(field: "PRIORITY", "\"\(p.prefix(40))\" is not 0–7") }
            priority = n
        }
        return HostLogEntry(
            identifier: identifier, pid: pid, host: text("_HOSTNAME"), timestamp: timestamp,
            facility: facility, priority: priority, message: message, origin: "journal")
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `TIME HOST TAG[PID]: MESSAGE`, TIME either `Mmm dd hh:mm:ss` (the year is the one that
    /// puts it no more than a day ahead of `now`) or RFC 3339.
    public static func parse(line raw: String, origin: String, now: Double = wallClockNow()) throws(HostLogError) -> HostLogEntry {
        let line = Substring(raw)
        guard !line.isEmpty else { throw HostLogError(field: "line", "empty") }
        var rest: Substring
        let timestamp: Double
        if let first = line.first, first.isNumber {
            guard let sp = line.firstIndex(of: " ") else { throw HostLogError(field: "timestamp", "no space after \"\(line.prefix(40))\"") }
            timestamp = try rfc3339(line[..<sp])
            rest = line[line.index(after: sp)...]
        } else {
            let stamp = line.prefix(15)
            guard stamp.count == 15, line.count > 16 else {
                throw HostLogError(field: "timestamp", "\"\(line.prefix(40))\" does not start with Mmm dd hh:mm:ss")
            }
            timestamp = try traditional(stamp, now: now)
            rest = line.dropFirst(16)
        }
        guard let hostEnd = rest.firstIndex(of: " "), hostEnd > rest.startIndex else {
            throw HostLogError(field: "host", "missing after the timestamp")
        }
        let host = String(rest[..<hostEnd])
        rest = rest[rest.index(after: hostEnd)...]
        // The tag ends at the first ':' (then a space, or the end); kernel lines have "kernel:".
        guard let colon = rest.firstIndex(of: ":") else { throw HostLogError(field: "tag", "no ':' after the program name in \"\(rest.prefix(40))\"") }
        let tag = rest[..<colon]
        var identifier = tag
        var pid: Int64?
        if let open = tag.firstIndex(of: "["), tag.last == "]" {
            identifier = tag[..<open]
            let digits = tag[tag.index(after: open)..<tag.index(before: tag.endIndex)]
            guard let n = Int64(digits), n > 0 else { throw HostLogError(field: "pid", "\"\(digits.prefix(20))\" is not a process id") }
            pid = n
        }
        guard !identifier.isEmpty, !identifier.contains(" ") else { throw HostLogError(field: "tag", "\"\(tag.prefix(40))\" is not a program name") }
        var message = rest[rest.index(after: colon)...]
        if message.first == " " { message = message.dropFirst() }
        return HostLogEntry(
            identifier: String(identifier), pid: pid, host: host, timestamp: timestamp,
            facility: nil, priority: nil, message: String(message), origin: origin)
    }

    private static func number(_ s: Substring, _ field: String) throws(HostLogError) -> Int {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(s) else {
            throw HostLogError(field: field, "\"\(s.prefix(20))\" is not a number")
        }
        return n
    }

    static func traditional(_ s: Substring, now: Double) throws(HostLogError) -> Double {
        let chars = Array(s)
        guard let month = months.firstIndex(of: String(chars[0..<3])) else {
            throw HostLogError(field: "timestamp", "unknown month \"\(String(chars[0..<3]))\"")
        }
        guard chars[3] == " ", chars[6] == " ", chars[9] == ":", chars[12] == ":" else {
            throw HostLogError(field: "timestamp", "\"\(s)\" is not Mmm dd hh:mm:ss")
        }
        let day = try number(Substring(String(chars[4..<6]).trimmingSpaces), "timestamp")
        let h = try number(Substring(String(chars[7..<9])), "timestamp")
        let m = try number(Substring(String(chars[10..<12])), "timestamp")
        let sec = try number(Substring(String(chars[13..<15])), "timestamp")
        guard (1...31).contains(day), h < 24, m < 60, sec < 61 else { throw HostLogError(field: "timestamp", "\"\(s)\" is out of range") }
        var year = civilYear(Int64(now))
        var t = unixSeconds(year: year, month: month + 1, day: day, hour: h, minute: m, second: sec)
        if t > now + 86_400 { year -= 1; t = unixSeconds(year: year, month: month + 1, day: day, hour: h, minute: m, second: sec) }
        return t
    }

    /// 2026-12-02T03:41:24.123456+00:00 (or Z).
    static func rfc3339(_ s: Substring) throws(HostLogError) -> Double {
        let c = Array(s.utf8)
        guard c.count >= 20, c[4] == 0x2D, c[7] == 0x2D, c[10] == 0x54 || c[10] == 0x20, c[13] == 0x3A, c[16] == 0x3A else {
            throw HostLogError(field: "timestamp", "\"\(s.prefix(40))\" is not RFC 3339")
        }
        func n(_ r: Range<Int>) throws(HostLogError) -> Int { try number(Substring(String(decoding: c[r], as: UTF8.self)), "timestamp") }
        let year = try n(0..<4), month = try n(5..<7), day = try n(8..<10), h = try n(11..<13), m = try n(14..<16), sec = try n(17..<19)
        guard (1...12).contains(month), (1...31).contains(day), h < 24, m < 60, sec < 61 else {
            throw HostLogError(field: "timestamp", "\"\(s)\" is out of range")
        }
        var i = 19
        var fraction = 0.0
        if i < c.count, c[i] == 0x2E {
            i += 1
            var scale = 0.1
            while i < c.count, c[i] >= 0x30, c[i] <= 0x39 { fraction += Double(c[i] - 0x30) * scale; scale /= 10; i += 1 }
        }
        var offset = 0
        if i < c.count, c[i] == 0x5A || c[i] == 0x7A {
            i += 1
        } else if i + 6 == c.count, c[i] == 0x2B || c[i] == 0x2D, c[i + 3] == 0x3A {
            let oh = try n((i + 1)..<(i + 3)), om = try n((i + 4)..<(i + 6))
            offset = (oh * 3600 + om * 60) * (c[i] == 0x2D ? -1 : 1)
            i += 6
        } else {
            throw HostLogError(field: "timestamp", "\"\(s.prefix(40))\" has no time zone (Z or ±hh:mm)")
        }
        guard i == c.count else { throw HostLogError(field: "timestamp", "trailing characters in \"\(s.prefix(40))\"") }
        return unixSeconds(year: year, month: month, day: day, hour: h, minute: m, second: sec) - Double(offset) + fraction
    }

    /// Days from civil (H. Hinnant), to seconds.
    public static func unixSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Double {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + hour * 3600 + minute * 60 + second)
    }

    static func civilYear(_ t: Int64) -> Int {
        // Start from an estimate and correct it with the exact conversion.
        var year = 1970 + Int(t / 31_556_952)
        while unixSeconds(year: year, month: 1, day: 1, hour: 0, minute: 0, second: 0) > Double(t) { year -= 1 }
        while unixSeconds(year: year + 1, month: 1, day: 1, hour: 0, minute: 0, second: 0) <= Double(t) { year += 1 }
        return year
    }
}

extension String {
    fileprivate var trimmingSpaces: String { String(drop(while: { $0 == " " })) }
}

/// Which Sigma `product: linux` services an entry belongs to, the most specific first. Every
/// entry is `syslog`; a program's own service (sshd, cron, sudo, vsftpd, clamav, guacamole)
/// and `auth` (the auth/authpriv facilities, or the programs that write /var/log/auth.log)
/// come on top.
public enum HostLogServices {
    public static let all = ["syslog", "sshd", "cron", "sudo", "auth", "vsftpd", "clamav", "guacamole"]

    static let byProgram: [String: String] = [
        "sshd": "sshd", "sshd-session": "sshd", "sshd-auth": "sshd",
        "cron": "cron", "crond": "cron", "anacron": "cron", "crontab": "cron",
        "sudo": "sudo", "vsftpd": "vsftpd",
        "clamd": "clamav", "freshclam": "clamav", "clamav-milter": "clamav", "clamscan": "clamav", "clamdscan": "clamav",
        "clamonacc": "clamav", "guacd": "guacamole", "guacamole": "guacamole"
    ]
    /// Programs whose messages go to the auth facilities (Debian's /var/log/auth.log).
    static let authPrograms: Set<String> = [
        "sshd", "sshd-session", "sshd-auth", "sudo", "su", "login", "passwd", "chpasswd", "chage", "chsh", "chfn",
        "useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod", "gpasswd", "newgrp", "systemd-logind",
        "polkitd", "unix_chkpwd", "pkexec", "doas", "cron", "crond"
    ]

    public static func services(for e: HostLogEntry) -> [String] {
        let program = e.identifier.lowercased()
        var out: [String] = []
        if let s = byProgram[program] ?? (program.contains("guacamole") ? "guacamole" : nil) { out.append(s) }
        let authFacility = e.facility.map { $0 == 4 || $0 == 10 }
        let authFile = e.origin.hasSuffix("/auth.log") || e.origin.hasSuffix("/secure")
        if authFacility ?? (authFile || authPrograms.contains(program)) { out.append("auth") }
        out.append("syslog")
        return out
    }

    /// The events evaluated for one entry: one per service, with the same fields.
    public static func events(for e: HostLogEntry) -> [Event] {
        var fields: [(String, FieldValue)] = [("Message", .string(e.message)), ("SyslogIdentifier", .string(e.identifier))]
        if let p = e.pid { fields.append(("ProcessId", .int(p))) }
        if let h = e.host { fields.append(("Hostname", .string(h))) }
        if let f = e.facility { fields.append(("Facility", .int(Int64(f)))) }
        if let p = e.priority { fields.append(("Priority", .int(Int64(p)))) }
        fields.append(("LogOrigin", .string(e.origin)))
        return services(for: e).map { Event(logsource: LogSource(product: "linux", service: $0), timestamp: e.timestamp, fields: fields) }
    }

    public static var logSources: [LogSource] { all.map { LogSource(product: "linux", service: $0) } }
}
