import EDRCore
import Foundation

/// Parses rule sources, applies filters, routes by logsource, compiles, resolves correlations.
struct SigmaLoader {
    let options: SigmaOptions

    private enum Ref { case rule(Int), corr(Int), rejected, inert }

    func build(_ sources: [(String, String?)]) -> SigmaEngine {
        var diags: [SigmaRuleDiagnostic] = []
        var rules: [(ParsedRule, Int)] = []
        var filters: [(ParsedFilter, Int)] = []
        var corrs: [(ParsedCorrelation, Int)] = []

        // Parse files in parallel (YAML parsing dominates load time); merge in file order.
        let parsedFiles = Self.parseAll(sources, options: options)
        for file in parsedFiles {
            for item in file {
                let di = diags.count
                diags.append(item.diag)
                switch item.parsed {
                case .rule(let r)?: rules.append((r, di))
                case .filter(let f)?: filters.append((f, di))
                case .correlation(let c)?: corrs.append((c, di))
                case nil: break
                }
            }
        }

        // Filters: rule AND NOT filter, for the rules they name (or all rules of their logsource).
        for (f, _) in filters {
            for k in rules.indices {
                let r = rules[k].0
                guard f.logsource.covers(r.info.logsource) else { continue }
                if !f.rules.isEmpty {
                    let named = f.rules.contains { $0 == r.info.id || ($0 == r.name && r.name != nil) }
                    if !named { continue }
                }
                rules[k].0.expr = .and([r.expr, .not(f.expr)])
            }
        }

        // Inert rules and compilation, grouped by logsource key.
        var builders: [LogSource: UnitBuilder] = [:]
        var builderOrder: [LogSource] = []
        let regexCache = RegexCache()
        var infos: [SigmaRuleInfo] = []
        var refs: [String: Ref] = [:]
        var possible: [LogSource: [String: Set<String>]] = [:]
        var members: [LogSource: [(Expr, Int)]] = [:]
        var kindsOf: [Int: Set<String>] = [:]  // engine rule → the schema kinds it can be true on
        for (r, di) in rules {
            var ref: Ref
            let verdict = judge(r)
            diags[di].logsource = r.info.logsource
            if let collected = options.collectedLogSources, !collected.contains(where: { r.info.logsource.appliesTo($0) }) {
                diags[di].status = .inert(reason: "logsource \(r.info.logsource) is not collected on this platform")
                ref = .inert
            } else if let verdict, !verdict.possible {
                diags[di].status = .inert(reason: "never true on \(r.info.logsource) events: " + verdict.reasons.joined(separator: "; "))
                ref = .inert
            } else {
                diags[di].neverTrue = verdict?.reasons ?? []
                if let d = domain(r) {
                    for field in d.values.keys { possible[d.logsource, default: [:]][field, default: []].formUnion(d.possibleValues(of: field, r.expr)) }
                }
                let ls = r.info.logsource
                let b: UnitBuilder
                if let x = builders[ls] {
                    b = x
                } else {
                    b = builder(ls, unselective: Set(domain(r)?.values.keys.map { $0 } ?? []), regexCache)
                    builders[ls] = b; builderOrder.append(ls)
                }
                do {
                    try b.addRule(r.expr, global: infos.count)
                    if let d = domain(r), let sc = d.schema, d.values[sc.field] != nil {
                        kindsOf[infos.count] = d.possibleValues(of: sc.field, r.expr)
                    }
                    members[ls, default: []].append((r.expr, infos.count))
                    ref = .rule(infos.count)
                    infos.append(r.info)
                } catch {
                    diags[di].status = .rejected(reason: (error as? RuleError)?.reason ?? "\(error)")
                    ref = .rejected
                }
            }
            if let id = r.info.id { refs[id] = ref }
            if let n = r.name { refs[n] = ref }
        }
        // The rules of a broader logsource (`product: linux` alone) apply to every event of a
        // narrower one (linux auditd records): they are compiled into the narrower unit too, so
        // that such an event is evaluated by one unit (one keyword pass, one scan per field, one
        // candidate list) and the broader unit serves only events no narrower unit takes
        // (`SigmaEngine.route`). A rule that matches in both is reported once (`evaluate`).
        var includes: [LogSource: [LogSource]] = [:]
        if options.foldBroaderUnits {
            for narrow in builderOrder {
                for broad in builderOrder where broad != narrow && broad.covers(narrow) {
                    var all = true
                    for (e, g) in members[broad] ?? [] {
                        do { try builders[narrow]!.addRule(e, global: g) } catch { all = false }
                    }
                    // A rule that did not compile here leaves the broader unit on the route.
                    if all { includes[narrow, default: []].append(broad) }
                }
            }
        }
        var units = builderOrder.map { CompiledUnit(builder: builders[$0]!) }
        for (i, ls) in builderOrder.enumerated() {
            units[i].includedUnits = (includes[ls] ?? []).compactMap { builderOrder.firstIndex(of: $0) }
        }
        // Per kind of event (an auditd record's `type`): a unit of the rules that can be true on
        // that kind, with the broader rules folded in as above. The whole unit stays for an event
        // of no known kind.
        if options.unitPerKind {
            for (i, ls) in builderOrder.enumerated() {
                guard let d = options.fieldDomains.first(where: { ls.covers($0.logsource) && $0.logsource.covers(ls) }),
                    let field = d.schema?.field, d.values[field] != nil
                else { continue }
                var perKind: [(String, UnitBuilder)] = []
                do {
                    for kind in d.kinds.sorted() where KindKey(kind) != nil {
                        let b = builder(ls, unselective: builders[ls]!.unselective, regexCache)
                        for (e, g) in members[ls] ?? [] where kindsOf[g]?.contains(kind) ?? true { try b.addRule(e, global: g) }
                        for broad in includes[ls] ?? [] { for (e, g) in members[broad] ?? [] { try b.addRule(e, global: g) } }
                        perKind.append((kind, b))
                    }
                } catch { continue }  // compiled in the whole unit, so not expected; the whole unit serves
                units[i].kindField = field
                for (kind, b) in perKind {
                    let u = CompiledUnit(builder: b)
                    u.kind = kind
                    units[i].kindUnits.append(KindKey(kind, unit: units.count)!)
                    units.append(u)
                }
            }
        }

        // Correlations.
        for (k, (c, _)) in corrs.enumerated() {
            if let id = c.info.id { refs[id] = .corr(k) }
            if let n = c.name { refs[n] = .corr(k) }
        }
        var status: [Ref] = Array(repeating: .rejected, count: corrs.count)
        var resolved: [[Int]] = Array(repeating: [], count: corrs.count)
        // Resolve iteratively so chains see the status of the correlations they reference.
        var pending = Set(corrs.indices)
        var progress = true
        while progress && !pending.isEmpty {
            progress = false
            for k in pending.sorted() {
                let (c, di) = corrs[k]
                var srcs: [Int] = []
                var verdict: Ref? = nil
                var wait = false
                for name in c.rules {
                    switch refs[name] {
                    case .rule(let g)?: srcs.append(g)
                    case .corr(let j)?:
                        if j == k { verdict = .rejected; diags[di].status = .rejected(reason: "correlation references itself"); break }
                        if pending.contains(j) {
                            wait = true
                        } else {
                            switch status[j] {
                            case .rule, .corr: srcs.append(infos.count + j)
                            case .inert: if verdict == nil { verdict = .inert; diags[di].status = .inert(reason: "references inert correlation '\(name)'") }
                            case .rejected: verdict = .rejected; diags[di].status = .rejected(reason: "references rejected correlation '\(name)'")
                            }
                        }
                    case .rejected?: verdict = .rejected; diags[di].status = .rejected(reason: "references rejected rule '\(name)'")
                    case .inert?: if verdict == nil { verdict = .inert; diags[di].status = .inert(reason: "references inert rule '\(name)'") }
                    case nil: verdict = .rejected; diags[di].status = .rejected(reason: "references unknown rule '\(name)'")
                    }
                    if case .rejected? = verdict { break }
                }
                if wait && verdict == nil { continue }
                pending.remove(k); progress = true
                if let v = verdict { status[k] = v } else { status[k] = .corr(k); resolved[k] = srcs }
            }
        }
        for k in pending {  // cycles
            status[k] = .rejected
            diags[corrs[k].1].status = .rejected(reason: "correlation chain forms a cycle")
        }

        var cList: [CorrelationEngine.Corr] = []
        var cInfos: [SigmaRuleInfo] = []
        var consumers: [Int: [(Int, Int)]] = [:]
        var generateFor: [Int: Bool] = [:]
        var corrIndexMap: [Int: Int] = [:]  // parsed index → engine index
        for k in corrs.indices { if case .corr = status[k] { corrIndexMap[k] = corrIndexMap.count } }
        for k in corrs.indices {
            guard let ek = corrIndexMap[k] else { continue }
            let c = corrs[k].0
            var groupFields: [[String]] = []
            var srcs: [Int] = []
            for (pos, name) in c.rules.enumerated() {
                var src = resolved[k][pos]
                if src >= infos.count { src = infos.count + corrIndexMap[src - infos.count]! }
                srcs.append(src)
                // Names a rule may be called by in aliases: the reference itself, its id, its name.
                var names: Set<String> = [name]
                if src < infos.count, let id = infos[src].id { names.insert(id) }
                for (r, _) in rules where r.info.id == name || r.name == name {
                    if let id = r.info.id { names.insert(id) }; if let n = r.name { names.insert(n) }
                }
                groupFields.append(
                    c.groupBy.map { g in
                        if let m = c.aliases[g] { for n in names { if let f = m[n] { return f } } }
                        return g
                    })
                consumers[src, default: []].append((ek, pos))
                generateFor[src] = (generateFor[src] ?? false) || c.generate
            }
            cList.append(
                CorrelationEngine.Corr(
                    info: c.info, type: c.type, groupBy: c.groupBy, groupFields: groupFields,
                    span: c.timespan, conds: c.conditions, field: c.field,
                    positions: c.rules.count, generate: c.generate))
            cInfos.append(c.info)
        }
        var suppressed = [Bool](repeating: false, count: infos.count)
        var suppressedCorr = [Bool](repeating: false, count: cList.count)
        for (src, gen) in generateFor where !gen {
            if src < infos.count { suppressed[src] = true } else { suppressedCorr[src - infos.count] = true }
        }
        let corrEngine =
            cList.isEmpty
            ? nil
            : CorrelationEngine(
                corrs: cList, consumers: consumers, ruleCount: infos.count, suppressed: suppressedCorr,
                maxGroups: options.correlationMaxGroups, maxEvents: options.correlationMaxEventsPerGroup)
        let engine = SigmaEngine(
            diagnostics: diags, rules: infos, correlationRules: cInfos, units: units,
            suppressed: suppressed, correlation: corrEngine)
        engine.possibleValues = possible
        return engine
    }
}

extension SigmaLoader {
    /// An empty unit for `ls` with the options' settings.
    func builder(_ ls: LogSource, unselective: Set<String>, _ regexCache: RegexCache) -> UnitBuilder {
        let b = UnitBuilder(logsource: ls, regexCache: regexCache)
        b.unselective = unselective
        b.regexGates = options.regexGates
        b.keywordOnePass = options.keywordOnePass
        b.skipScan = options.skipScan
        b.literalSets = options.literalSets
        b.anchoredInAutomaton = options.anchoredInAutomaton
        return b
    }

    /// The verdict of the field domain of the rule's logsource, if one is declared.
    func judge(_ r: ParsedRule) -> (possible: Bool, reasons: [String])? {
        domain(r)?.judge(r.expr)
    }

    func domain(_ r: ParsedRule) -> SigmaFieldDomain? {
        options.fieldDomains.first { r.info.logsource.covers($0.logsource) && $0.logsource.covers(r.info.logsource) }
    }
}

struct ParsedItem {
    var diag: SigmaRuleDiagnostic
    var parsed: ParsedDocument?
}

extension SigmaLoader {
    static func parseFile(path: String, text: String?, options: SigmaOptions) -> [ParsedItem] {
        guard let text else {
            return [
                ParsedItem(
                    diag: SigmaRuleDiagnostic(path: path, ruleID: nil, title: nil, status: .rejected(reason: "file is unreadable or not UTF-8"), kind: .file),
                    parsed: nil)
            ]
        }
        let docs: [YV]
        do { docs = try YAMLLoader.documents(text) } catch {
            let msg = "\(error)".replacingOccurrences(of: "\n", with: " ")
            return [
                ParsedItem(
                    diag: SigmaRuleDiagnostic(path: path, ruleID: nil, title: nil, status: .rejected(reason: "invalid YAML: \(msg.prefix(300))"), kind: .file),
                    parsed: nil)
            ]
        }
        var out: [ParsedItem] = []
        for (i, doc) in docs.enumerated() {
            if case .null = doc { continue }
            let id = doc["id"]?.scalarText, title = doc["title"]?.scalarText
            var kind: SigmaRuleDiagnostic.Kind = .rule
            if doc["correlation"] != nil { kind = .correlation } else if doc["filter"] != nil && doc["detection"] == nil { kind = .filter }
            do {
                let parsed = try RuleParser.document(doc, path: path, index: i, options: options)
                out.append(
                    ParsedItem(diag: SigmaRuleDiagnostic(path: path, ruleID: id, title: title, status: .loaded, kind: kind, document: i), parsed: parsed))
            } catch {
                let reason = (error as? RuleError)?.reason ?? "\(error)"
                out.append(
                    ParsedItem(
                        diag: SigmaRuleDiagnostic(path: path, ruleID: id, title: title, status: .rejected(reason: reason), kind: kind, document: i), parsed: nil
                    ))
            }
        }
        return out
    }

    static func parseAll(_ sources: [(String, String?)], options: SigmaOptions) -> [[ParsedItem]] {
        let n = sources.count
        let results = UnsafeMutableBufferPointer<[ParsedItem]>.allocate(capacity: max(n, 1))
        results.initialize(repeating: [])
        defer { results.deallocate() }
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let chunk = (n + workers - 1) / max(workers, 1)
        let box = UnsafeSendable(results)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = w * chunk, hi = min(n, lo + chunk)
            if lo >= hi { return }
            for i in lo..<hi { box.value[i] = parseFile(path: sources[i].0, text: sources[i].1, options: options) }
        }
        return Array(results)
    }
}

/// Hands a buffer to worker threads that write disjoint elements.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

extension LogSource {
    /// Every key this logsource names equals the other's.
    func covers(_ other: LogSource) -> Bool {
        if let p = product, p != other.product { return false }
        if let c = category, c != other.category { return false }
        if let s = service, s != other.service { return false }
        return true
    }

    /// A rule with this logsource applies to events of `event` logsource.
    func appliesTo(_ event: LogSource) -> Bool {
        covers(LogSource(product: event.product?.lowercased(), category: event.category?.lowercased(), service: event.service?.lowercased()))
    }
}
