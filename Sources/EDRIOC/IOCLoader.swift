import EDRCore
import Foundation

/// What `IOCSet.load(directory:)` produced.
public struct IOCLoadResult: Sendable {
    public var set: IOCSet
    /// One entry per rejected line (file:line: why); those lines are skipped.
    public var diagnostics: [IOCDiagnostic]
    /// Files read, in order.
    public var files: [String]
}

/// Loading indicator directories: which files are read and how, parsed in parallel and merged.
extension IOCSet {
    /// Files `load(directory:)` reads, by name, and how their lines are parsed.
    public static let standardFiles: [(name: String, kind: IOCSetBuilder.LineKind)] = [
        ("domains.txt", .domain), ("ips.txt", .ip), ("hashes.txt", .hash), ("paths_regex.txt", .pathRegex)
    ]

    /// Loads domains.txt, ips.txt, hashes.txt and paths_regex.txt from `directory` (any may be
    /// absent). Other `.txt` files named like LOKI/signature-base lists are read too: a name
    /// containing "c2" → domains and IPs mixed, "hash" → digests, "filename" → path regexes
    /// (`regex;score[;exclude]`). Bad lines are reported and skipped.
    public static func load(directory: String) -> IOCLoadResult { load(directories: [directory]) }

    /// Several directories merged into one set (same file rules as `load(directory:)`); on a
    /// duplicate indicator the first directory's label wins. All files are parsed in parallel.
    public static func load(directories: [String]) -> IOCLoadResult {
        var builder = IOCSetBuilder()
        var diags: [IOCDiagnostic] = []
        var files: [String] = []
        var plan: [(String, IOCSetBuilder.LineKind)] = []
        for directory in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
                diags.append(IOCDiagnostic(file: directory, line: 0, message: "cannot read directory"))
                continue
            }
            let dir = directory as NSString
            for (name, kind) in standardFiles where names.contains(name) { plan.append((dir.appendingPathComponent(name), kind)) }
            for name in names.sorted() where name.hasSuffix(".txt") && !standardFiles.contains(where: { $0.name == name }) {
                let lower = name.lowercased()
                if lower.contains("c2") {
                    plan.append((dir.appendingPathComponent(name), .mixed))
                } else if lower.contains("hash") {
                    plan.append((dir.appendingPathComponent(name), .hash))
                } else if lower.contains("filename") {
                    plan.append((dir.appendingPathComponent(name), .pathRegex))
                }
            }
        }
        // Files are parsed in parallel, each into its own builder, then merged in order.
        final class Slot: @unchecked Sendable {
            var builder = IOCSetBuilder()
            var diags: [IOCDiagnostic] = []
            var read = false
        }
        let slots = plan.map { _ in Slot() }
        let work = plan
        DispatchQueue.concurrentPerform(iterations: plan.count) { k in
            let (path, kind) = work[k]
            // Mapped, not copied: large lists don't cost their size twice while parsing.
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
                slots[k].diags.append(IOCDiagnostic(file: path, line: 0, message: "cannot read file"))
                return
            }
            slots[k].read = true
            slots[k].diags = data.withUnsafeBytes { raw in
                slots[k].builder.load(bytes: raw.bindMemory(to: UInt8.self), kind: kind, fileName: path)
            }
            // Sort in parallel too; merging already-sorted single sources keeps them sorted.
            slots[k].builder.ips.finish()
        }
        for (k, slot) in slots.enumerated() {
            if slot.read { files.append(plan[k].0) }
            diags.append(contentsOf: slot.diags)
            if k == 0 { builder = slot.builder } else { builder.absorb(slot.builder) }
            slot.builder = IOCSetBuilder()
        }
        return IOCLoadResult(set: builder.build(), diagnostics: diags, files: files)
    }
}
