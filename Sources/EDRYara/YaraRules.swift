import CYara
import Foundation

/// libyara's process-wide state, initialized once on first use and never finalized.
enum YaraLibrary {
    private static let status: Int32 = yr_initialize()

    /// Initializes libyara if needed; returns false when yr_initialize failed.
    @discardableResult
    static func ensureInitialized() -> Bool { status == edr_yr_error_success() }
}

/// One message from the YARA compiler, with the file and line it concerns.
public struct YaraCompileDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Level: String, Sendable, Hashable { case error, warning }
    public var level: Level
    /// The rule file's path ("<source>" for in-memory sources).
    public var file: String
    /// 1-based line, 0 when unknown (unreadable file, combination failure).
    public var line: Int
    public var message: String

    public init(level: Level, file: String, line: Int, message: String) {
        self.level = level
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(level.rawValue): \(message)" }
}

/// Errors thrown by `YaraRules.compile(source:)` and scanner creation.
public struct YaraError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var diagnostics: [YaraCompileDiagnostic]
    public init(code: Int32, message: String, diagnostics: [YaraCompileDiagnostic] = []) {
        self.code = code
        self.message = message
        self.diagnostics = diagnostics
    }
    public var description: String {
        diagnostics.isEmpty
            ? "\(message) (yara error \(code))"
            : message + ": " + diagnostics.map(\.description).joined(separator: "; ")
    }
}

/// What a directory compile produced: the rules of every good file, and why the others failed.
public struct YaraCompileResult: Sendable {
    /// nil only when no file compiled (or none was found).
    public var rules: YaraRules?
    public var diagnostics: [YaraCompileDiagnostic]
    /// Rule files found under the directories, in compile order.
    public var files: [String]
    /// Files whose rules are in `rules`.
    public var compiledFiles: [String]
    /// Files left out, each with at least one error in `diagnostics`.
    public var failedFiles: [String]
    public var errors: [YaraCompileDiagnostic] { diagnostics.filter { $0.level == .error } }
}

/// A compiled, immutable YARA rule set. Safe to share between threads: each thread scans
/// through its own `YaraScanner`.
public final class YaraRules: @unchecked Sendable {
    let handle: UnsafeMutablePointer<YR_RULES>
    /// Number of rules compiled.
    public let ruleCount: Int
    /// Names of the external variables defined at compile time (set per scan).
    public let externalNames: [String]

    /// The externals the signature-base corpus uses, with LOKI's meaning, all empty by default.
    /// `YaraScanner` sets them per scan: filename (base name), filepath (full path),
    /// extension (".exe", lowercased), filetype ("EXE", "ELF", ...), owner (user name).
    public static let defaultExternals: [String: String] = [
        "filename": "", "filepath": "", "extension": "", "filetype": "", "owner": ""
    ]

    init(handle: UnsafeMutablePointer<YR_RULES>, externalNames: [String]) {
        self.handle = handle
        self.externalNames = externalNames
        var stats = YR_RULES_STATS()
        if yr_rules_get_stats(handle, &stats) == edr_yr_error_success() {
            ruleCount = Int(stats.num_rules)
        } else {
            ruleCount = 0
        }
    }

    deinit { yr_rules_destroy(handle) }

    /// Compiles every `.yar`/`.yara` file found recursively under `directories`.
    ///
    /// All files are first compiled together; if that fails, each file is compiled alone so
    /// every broken file is reported (file, line, message) and left out, and the good files
    /// are compiled together. Each file gets its own
    /// namespace (its path relative to its directory, extension removed) unless
    /// `namespacePerFile` is false, in which case all share "default".
    public static func compile(
        directories: [String],
        externals: [String: String] = defaultExternals,
        namespacePerFile: Bool = true,
        includeWarnings: Bool = false
    ) -> YaraCompileResult {
        var entries: [(path: String, namespace: String)] = []
        var diagnostics: [YaraCompileDiagnostic] = []
        for dir in directories {
            let found = ruleFiles(under: dir)
            if found == nil {
                diagnostics.append(.init(level: .error, file: dir, line: 0, message: "cannot read rule directory"))
            }
            for rel in found ?? [] {
                let ns = namespacePerFile ? String(rel[..<(rel.lastIndex(of: ".") ?? rel.endIndex)]) : "default"
                entries.append((path: (dir as NSString).appendingPathComponent(rel), namespace: ns))
            }
        }
        return compile(files: entries, externals: externals, includeWarnings: includeWarnings, initialDiagnostics: diagnostics)
    }

    /// Compiles the given files (path, namespace) with the same per-file isolation as
    /// `compile(directories:)`.
    public static func compile(
        files entries: [(path: String, namespace: String)],
        externals: [String: String] = defaultExternals,
        includeWarnings: Bool = false,
        initialDiagnostics: [YaraCompileDiagnostic] = []
    ) -> YaraCompileResult {
        YaraLibrary.ensureInitialized()
        var diagnostics = initialDiagnostics
        // Fast path: everything compiles together (the usual case) — one compiler pass.
        if !entries.isEmpty {
            let all = runCompiler(externals: externals, sources: entries.map { .file($0.path, $0.namespace) }, keep: true)
            if let r = all.rules {
                diagnostics.append(contentsOf: all.diagnostics.filter { includeWarnings || $0.level == .error })
                return YaraCompileResult(
                    rules: r, diagnostics: diagnostics, files: entries.map(\.path),
                    compiledFiles: entries.map(\.path), failedFiles: [])
            }
        }
        // Some file is bad: compile each file alone to find every bad one (libyara stops at
        // the first error), then compile the good ones together.
        var good: [(path: String, namespace: String)] = []
        var failed: [String] = []
        for entry in entries {
            let attempt = runCompiler(externals: externals, sources: [.file(entry.path, entry.namespace)], keep: false)
            let relevant = attempt.diagnostics.filter { includeWarnings || $0.level == .error }
            diagnostics.append(contentsOf: relevant)
            if attempt.ok {
                good.append(entry)
            } else {
                failed.append(entry.path)
                if !attempt.diagnostics.contains(where: { $0.level == .error }) {
                    diagnostics.append(.init(level: .error, file: entry.path, line: 0, message: attempt.failure ?? "compile failed"))
                }
            }
        }
        // Files that compile alone can still clash together (same rule name in one namespace):
        // drop the files the combined compile blames and retry.
        var rules: YaraRules?
        var attempts = 0
        while !good.isEmpty && attempts < 16 {
            attempts += 1
            let attempt = runCompiler(externals: externals, sources: good.map { .file($0.path, $0.namespace) }, keep: true)
            if let r = attempt.rules {
                rules = r
                break
            }
            let blamed = Set(attempt.diagnostics.filter { $0.level == .error }.map(\.file))
            for d in attempt.diagnostics where d.level == .error {
                diagnostics.append(.init(level: .error, file: d.file, line: d.line, message: "when compiled with the other files: " + d.message))
            }
            let before = good.count
            good.removeAll { blamed.contains($0.path) }
            failed.append(contentsOf: blamed.filter { b in !failed.contains(b) })
            if good.count == before {
                diagnostics.append(.init(level: .error, file: "<combined>", line: 0, message: attempt.failure ?? "combined compile failed"))
                good.removeAll()
            }
        }
        return YaraCompileResult(
            rules: rules, diagnostics: diagnostics, files: entries.map(\.path),
            compiledFiles: rules == nil ? [] : good.map(\.path), failedFiles: failed)
    }

    /// Compiles rules from a string (tests, inline rules). Throws with the diagnostics on error.
    public static func compile(
        source: String, namespace: String = "default",
        externals: [String: String] = defaultExternals
    ) throws -> YaraRules {
        YaraLibrary.ensureInitialized()
        let attempt = runCompiler(externals: externals, sources: [.string(source, namespace)], keep: true)
        if let r = attempt.rules { return r }
        throw YaraError(
            code: -1, message: attempt.failure ?? "compile failed",
            diagnostics: attempt.diagnostics.filter { $0.level == .error })
    }

    /// Relative paths of rule files under `dir`, sorted; nil when the directory can't be read.
    static func ruleFiles(under dir: String) -> [String]? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue,
            let e = FileManager.default.enumerator(atPath: dir)
        else { return nil }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            let lower = rel.lowercased()
            guard lower.hasSuffix(".yar") || lower.hasSuffix(".yara") else { continue }
            var sub: ObjCBool = false
            if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(rel), isDirectory: &sub), !sub.boolValue {
                out.append(rel)
            }
        }
        return out.sorted()
    }

    private enum Source {
        case file(String, String)
        case string(String, String)
    }

    private final class DiagnosticSink {
        var diagnostics: [YaraCompileDiagnostic] = []
        var currentFile = "<source>"
    }

    private struct Attempt {
        var ok: Bool
        var rules: YaraRules?
        var diagnostics: [YaraCompileDiagnostic]
        var failure: String?
    }

    private static func runCompiler(externals: [String: String], sources: [Source], keep: Bool) -> Attempt {
        var compiler: UnsafeMutablePointer<YR_COMPILER>?
        guard yr_compiler_create(&compiler) == edr_yr_error_success(), let compiler else {
            return Attempt(ok: false, diagnostics: [], failure: "yr_compiler_create failed")
        }
        defer { yr_compiler_destroy(compiler) }
        let sink = DiagnosticSink()
        let names = externals.keys.sorted()
        for name in names {
            let rc = yr_compiler_define_string_variable(compiler, name, externals[name] ?? "")
            if rc != edr_yr_error_success() {
                return Attempt(ok: false, diagnostics: [], failure: "cannot define external \(name) (yara error \(rc))")
            }
        }
        let box = Unmanaged.passUnretained(sink).toOpaque()
        yr_compiler_set_callback(
            compiler,
            { level, fileName, line, _, message, userData in
                guard let userData else { return }
                let sink = Unmanaged<DiagnosticSink>.fromOpaque(userData).takeUnretainedValue()
                let file = fileName.map { String(cString: $0) } ?? sink.currentFile
                sink.diagnostics.append(
                    .init(
                        level: level == edr_yr_error_level_warning() ? .warning : .error,
                        file: file, line: Int(line),
                        message: message.map { String(cString: $0) } ?? "unknown error"))
            }, box)
        var errors: Int32 = 0
        for source in sources {
            switch source {
            case .file(let path, let ns):
                sink.currentFile = path
                let n = edr_yr_compiler_add_path(compiler, path, ns)
                if n < 0 {
                    sink.diagnostics.append(
                        .init(
                            level: .error, file: path, line: 0,
                            message: "cannot open: \(String(cString: strerror(errno)))"))
                    errors += 1
                } else {
                    errors += n
                }
            case .string(let text, let ns):
                sink.currentFile = "<source>"
                errors += yr_compiler_add_string(compiler, text, ns)
            }
            // libyara refuses further input once a compile error occurred.
            if errors > 0 { break }
        }
        withExtendedLifetime(sink) {}
        if errors > 0 {
            return Attempt(ok: false, diagnostics: sink.diagnostics, failure: "\(errors) error(s)")
        }
        guard keep else { return Attempt(ok: true, diagnostics: sink.diagnostics) }
        var rules: UnsafeMutablePointer<YR_RULES>?
        let rc = yr_compiler_get_rules(compiler, &rules)
        guard rc == edr_yr_error_success(), let rules else {
            return Attempt(ok: false, diagnostics: sink.diagnostics, failure: "yr_compiler_get_rules failed (yara error \(rc))")
        }
        return Attempt(ok: true, rules: YaraRules(handle: rules, externalNames: names), diagnostics: sink.diagnostics)
    }
}
