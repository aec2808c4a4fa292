/// A failed system call: which call, on what, and errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32
    public let detail: String?

    public init(_ call: String, errno: Int32 = Platform.lastError, detail: String? = nil) {
        self.call = call
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        let what = detail.map { " (\($0))" } ?? ""
        return "\(call)\(what): \(Platform.errorDescription(errno))"
    }
}

/// Runs a call, retrying on EINTR; throws SystemError on -1.
@discardableResult
public func syscallRetrying<T: FixedWidthInteger>(_ name: String, detail: String? = nil, _ body: () -> T) throws -> T {
    while true {
        let r = body()
        if r == -1 {
            if Platform.lastError == Platform.interrupted { continue }
            throw SystemError(name, detail: detail)
        }
        return r
    }
}

/// A general error a user can meet, with what to do about it.
public struct EDRError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
