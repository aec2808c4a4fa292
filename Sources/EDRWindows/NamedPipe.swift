#if os(Windows)
import EDRCore
import WinSDK

/// The detector's end of the sensor's named pipe (Windows' counterpart of the socket the
/// supervisor hands the detector on Linux). Everything after the bytes — FrameDecoder, hello,
/// acks, replay — is the shared code in EDRCore.
///
/// Not compiled on the Linux build machine (no Swift for Windows there): see docs/windows.md.
public final class NamedPipeClient {
    public let handle: HANDLE

    /// Connects to `\\.\pipe\<name>` for reading and writing. SECURITY_IDENTIFICATION keeps
    /// the server from impersonating the detector's token beyond identifying it; the pipe's
    /// server must be a process running as LocalSystem (a squatter that created the pipe name
    /// first is refused).
    public init(name: String) throws {
        let path = "\\\\.\\pipe\\\(name)"
        let h = path.withCString(encodedAs: UTF16.self) {
            CreateFileW(
                $0, DWORD(GENERIC_READ) | DWORD(GENERIC_WRITE), 0, nil, DWORD(OPEN_EXISTING),
                DWORD(SECURITY_SQOS_PRESENT) | DWORD(SECURITY_IDENTIFICATION), nil)
        }
        guard let h, h != INVALID_HANDLE_VALUE else { throw WindowsError("CreateFileW", detail: path) }
        handle = h
        var mode = DWORD(PIPE_READMODE_BYTE)
        guard SetNamedPipeHandleState(handle, &mode, nil, nil) else {
            let e = WindowsError("SetNamedPipeHandleState", detail: path)
            CloseHandle(handle)
            throw e
        }
        var serverPID: ULONG = 0
        guard GetNamedPipeServerProcessId(handle, &serverPID) else {
            let e = WindowsError("GetNamedPipeServerProcessId", detail: path)
            CloseHandle(handle)
            throw e
        }
        guard TokenCheck.processRunsAsLocalSystem(pid: DWORD(serverPID)) else {
            CloseHandle(handle)
            throw EDRError("\(path): the pipe's server (pid \(serverPID)) is not LocalSystem; refusing it")
        }
    }

    deinit { CloseHandle(handle) }

    /// Reads what is available (blocking); 0 at end of stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var got: DWORD = 0
        if !ReadFile(handle, buffer.baseAddress, DWORD(buffer.count), &got, nil) {
            let code = GetLastError()
            if code == DWORD(ERROR_BROKEN_PIPE) { return 0 }
            throw WindowsError("ReadFile", code: code)
        }
        return Int(got)
    }

    /// Writes all bytes (acks, hello).
    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            var put: DWORD = 0
            let ok = bytes.withUnsafeBytes { b in
                WriteFile(handle, b.baseAddress! + offset, DWORD(bytes.count - offset), &put, nil)
            }
            guard ok else { throw WindowsError("WriteFile") }
            offset += Int(put)
        }
    }
}

/// What the detector checks about its own token before it reads any input (the Windows
/// counterpart of the Linux ConfinementProbe): low integrity, no enabled privilege except
/// SeChangeNotifyPrivilege, and running inside a job object. It refuses to start otherwise.
public enum TokenCheck {
    public struct Report: Sendable {
        public var integrityRID: UInt32
        public var enabledPrivileges: [String]
        public var inJob: Bool
        public var restricted: Bool
    }

    public static func current() throws -> Report {
        var token: HANDLE?
        guard OpenProcessToken(GetCurrentProcess(), DWORD(TOKEN_QUERY), &token), let token else {
            throw WindowsError("OpenProcessToken")
        }
        defer { CloseHandle(token) }
        let integrity = try tokenInformation(token, TokenIntegrityLevel) { p in
            let label = p.assumingMemoryBound(to: TOKEN_MANDATORY_LABEL.self).pointee
            let count = GetSidSubAuthorityCount(label.Label.Sid).pointee
            return UInt32(GetSidSubAuthority(label.Label.Sid, DWORD(count - 1)).pointee)
        }
        let privileges = try tokenInformation(token, TokenPrivileges) { p -> [String] in
            let list = p.assumingMemoryBound(to: TOKEN_PRIVILEGES.self)
            let count = Int(list.pointee.PrivilegeCount)
            return withUnsafeMutablePointer(to: &list.pointee.Privileges) { first in
                first.withMemoryRebound(to: LUID_AND_ATTRIBUTES.self, capacity: count) { entries in
                    (0..<count).compactMap { i -> String? in
                        guard entries[i].Attributes & DWORD(SE_PRIVILEGE_ENABLED) != 0 else { return nil }
                        var luid = entries[i].Luid
                        var name = [WCHAR](repeating: 0, count: 128)
                        var size = DWORD(name.count)
                        guard LookupPrivilegeNameW(nil, &luid, &name, &size) else { return "LUID \(luid.LowPart)" }
                        return String(decoding: name.prefix(Int(size)), as: UTF16.self)
                    }
                }
            }
        }
        var inJob: WindowsBool = false
        _ = IsProcessInJob(GetCurrentProcess(), nil, &inJob)
        return Report(
            integrityRID: integrity, enabledPrivileges: privileges, inJob: inJob.boolValue,
            restricted: IsTokenRestricted(token))
    }

    /// The checks the detector makes; each failure is named.
    public static func detectorProblems(_ r: Report) -> [String] {
        var out: [String] = []
        if r.integrityRID > UInt32(SECURITY_MANDATORY_LOW_RID) { out.append("integrity level 0x\(String(r.integrityRID, radix: 16)) is above low") }
        let extra = r.enabledPrivileges.filter { $0 != "SeChangeNotifyPrivilege" }
        if !extra.isEmpty { out.append("privileges enabled: \(extra.joined(separator: ", "))") }
        if !r.inJob { out.append("not in a job object") }
        if !r.restricted { out.append("token is not restricted") }
        return out
    }

    /// Whether the process with this pid runs as S-1-5-18.
    public static func processRunsAsLocalSystem(pid: DWORD) -> Bool {
        guard let process = OpenProcess(DWORD(PROCESS_QUERY_LIMITED_INFORMATION), false, pid) else { return false }
        defer { CloseHandle(process) }
        var token: HANDLE?
        guard OpenProcessToken(process, DWORD(TOKEN_QUERY), &token), let token else { return false }
        defer { CloseHandle(token) }
        return
            (try? tokenInformation(token, TokenUser) { p in
                IsWellKnownSid(p.assumingMemoryBound(to: TOKEN_USER.self).pointee.User.Sid, WinLocalSystemSid)
            }) ?? false
    }

    static func tokenInformation<T>(_ token: HANDLE, _ kind: TOKEN_INFORMATION_CLASS, _ body: (UnsafeMutableRawPointer) -> T) throws -> T {
        var size: DWORD = 0
        _ = GetTokenInformation(token, kind, nil, 0, &size)
        guard size > 0 else { throw WindowsError("GetTokenInformation") }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Int(size), alignment: 16)
        defer { buffer.deallocate() }
        guard GetTokenInformation(token, kind, buffer, size, &size) else { throw WindowsError("GetTokenInformation") }
        return body(buffer)
    }
}

/// A failed Win32 call: which, on what, and GetLastError's code.
public struct WindowsError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: DWORD
    public let detail: String?

    public init(_ call: String, code: DWORD = GetLastError(), detail: String? = nil) {
        self.call = call
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(call)\(detail.map { " (\($0))" } ?? ""): Win32 error \(code)" }
}
#endif
