/// One value of a normalized event field: what Sigma rules compare against and what the
/// ECS writer prints. Arrays hold scalars (Sigma matches if any element matches).
public enum FieldValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([FieldValue])

    /// Calls `body` with a native string's UTF-8 bytes in place; nil for other values (and for
    /// a string without contiguous UTF-8 storage).
    @inlinable
    public func withUTF8IfString<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard case .string(let s) = self else { return nil }
        return s.utf8.withContiguousStorageIfAvailable(body)
    }

    /// The value as Sigma sees it when comparing strings: numbers and booleans print plainly.
    public var stringValue: String? {
        switch self {
        case .null, .array: return nil
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return s
        }
    }
}

extension FieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// Sigma's logsource triple. A rule applies to an event when every key the rule names equals
/// the event's key of the same name.
public struct LogSource: Sendable, Hashable, CustomStringConvertible {
    public var product: String?
    public var category: String?
    public var service: String?

    public init(product: String? = nil, category: String? = nil, service: String? = nil) {
        self.product = product
        self.category = category
        self.service = service
    }

    public var description: String {
        [product.map { "product=\($0)" }, category.map { "category=\($0)" }, service.map { "service=\($0)" }]
            .compactMap { $0 }.joined(separator: " ")
    }
}

/// A normalized event with Sysmon field names, in insertion order. Events carry a dozen or
/// two fields, so lookup is a short linear scan with no hashing.
public struct Event: Sendable {
    public var logsource: LogSource
    /// Seconds since the Unix epoch.
    public var timestamp: Double
    public private(set) var names: [String]
    public private(set) var values: [FieldValue]

    public init(logsource: LogSource, timestamp: Double = 0, fields: [(String, FieldValue)] = []) {
        self.logsource = logsource
        self.timestamp = timestamp
        var names: [String] = []
        var values: [FieldValue] = []
        names.reserveCapacity(fields.count)
        values.reserveCapacity(fields.count)
        for (n, v) in fields {
            names.append(n)
            values.append(v)
        }
        self.names = names
        self.values = values
    }

    /// Parallel arrays, as built on hot paths: a constant `names` array is shared, not copied.
    public init(logsource: LogSource, timestamp: Double, names: [String], values: [FieldValue]) {
        precondition(names.count == values.count, "one value per field name")
        self.logsource = logsource
        self.timestamp = timestamp
        self.names = names
        self.values = values
    }

    public var count: Int { names.count }

    public subscript(field: String) -> FieldValue? {
        get {
            // Lengths first: a native string's UTF-8 count is stored, and most names differ in it.
            let n = field.utf8.count
            for i in names.indices where names[i].utf8.count == n && names[i] == field { return values[i] }
            return nil
        }
        set {
            if let i = names.firstIndex(of: field) {
                if let v = newValue { values[i] = v } else { names.remove(at: i); values.remove(at: i) }
            } else if let v = newValue {
                names.append(field)
                values.append(v)
            }
        }
    }

    public var fields: [(name: String, value: FieldValue)] {
        Array(zip(names, values)).map { (name: $0.0, value: $0.1) }
    }
}
