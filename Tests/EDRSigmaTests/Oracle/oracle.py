#!/usr/bin/env python3
"""Differential oracle for the EDRSigma engine.

For every Sigma rule under RULES_DIR this script
  1. converts the rule to SQL with pySigma's SQLite backend (an independent implementation),
  2. generates stimulus events from the rule's own detection items: positives for each search
     identifier and for the whole rule, near misses (one value mutated), case variants,
  3. puts every event of every rule into one SQLite table and runs each rule's query over it,
     keeping only rows whose logsource the rule applies to,
and writes JSON: {"events": [...], "rules": {path: {"matches": [row, ...]} | {"error": "..."}}}.

Known limits of the oracle (documented, not engine bugs):
  * SQLite LIKE/NOCASE fold ASCII only; generated values are ASCII.
  * cidr is converted textually (LIKE '10.%'); only octet-aligned networks are exact.
  * keyword searches match a '_raw' column that joins all values with U+001F.
  * regular expressions run through Python's `re` (close to PCRE for the corpus' patterns).

Usage: oracle.py RULES_DIR OUT.json
"""
import json
import os
import random
import re
import sqlite3
import sys
import time

try:
    import re._parser as sre_parse  # Python ≥ 3.11
except ImportError:  # pragma: no cover
    import sre_parse

from sigma.collection import SigmaCollection
from sigma.backends.sqlite import sqliteBackend
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma import types as T
from sigma.conditions import ConditionAND

RNG = random.Random(1234)
SEP = "\x1f"


# ---------------------------------------------------------------- value generation
def gen_regex(pattern, flags=0):
    """A string matching `pattern` (best effort), or None."""
    try:
        tree = sre_parse.parse(pattern, flags)
    except Exception:
        return None

    def walk(items):
        out = []
        for op, av in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(av))
            elif name == "NOT_LITERAL":
                out.append("a" if chr(av) != "a" else "b")
            elif name == "ANY":
                out.append("a")
            elif name == "IN":
                out.append(gen_in(av))
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                lo, hi, sub = av
                n = lo if lo > 0 else (1 if hi and hi >= 1 else 0)
                for _ in range(min(n, 50)):
                    out.append(walk(sub))
            elif name == "SUBPATTERN":
                out.append(walk(av[-1]))
            elif name in ("ATOMIC_GROUP",):
                out.append(walk(av))
            elif name == "BRANCH":
                out.append(walk(av[1][0]))
            elif name == "AT":
                pass
            elif name in ("ASSERT", "ASSERT_NOT", "GROUPREF", "GROUPREF_EXISTS"):
                raise ValueError("unsupported")
            elif name == "CATEGORY":
                out.append(gen_cat(str(av)))
            else:
                raise ValueError(name)
        return "".join(out)

    def gen_cat(c):
        if "DIGIT" in c:
            return "7" if "NOT" not in c else "a"
        if "SPACE" in c:
            return " " if "NOT" not in c else "a"
        if "WORD" in c:
            return "a" if "NOT" not in c else "-"
        return "a"

    def gen_in(items):
        neg = any(str(op) == "NEGATE" for op, _ in items)
        if neg:
            excluded = set()
            for op, av in items:
                if str(op) == "LITERAL":
                    excluded.add(chr(av))
            for ch in "aZ0-_ .x":
                if ch not in excluded and re.fullmatch(sre_pattern_of(items), ch):
                    return ch
            return "~"
        for op, av in items:
            n = str(op)
            if n == "LITERAL":
                return chr(av)
            if n == "RANGE":
                return chr(av[0])
            if n == "CATEGORY":
                return gen_cat(str(av))
        return "a"

    def sre_pattern_of(items):
        return "."  # conservative

    try:
        s = walk(tree)
    except Exception:
        return None
    try:
        if re.search(pattern, s, flags):
            return s
    except Exception:
        return None
    return None


def gen_sigma_string(s, wild="ZZ"):
    out = []
    for part in s.s:
        if isinstance(part, str):
            out.append(part)
        elif part == T.SpecialChars.WILDCARD_MULTI:
            out.append(wild)
        elif part == T.SpecialChars.WILDCARD_SINGLE:
            out.append("q")
        else:
            out.append("PH")
    return "".join(out)


def gen_value(v, fields):
    """A (field value or None for 'absent') satisfying one Sigma value."""
    if isinstance(v, T.SigmaExpansion):
        return gen_value(RNG.choice(v.values), fields)
    if isinstance(v, T.SigmaRegularExpression):
        flags = 0
        for f in getattr(v, "flags", set()) or set():
            name = str(f).upper()
            if "IGNORECASE" in name:
                flags |= re.I
            if "MULTILINE" in name:
                flags |= re.M
            if "DOTALL" in name:
                flags |= re.S
        return gen_regex(str(v.regexp), flags) if hasattr(v, "regexp") else None
    if isinstance(v, T.SigmaCIDRExpression):
        net = v.network
        return str(net.network_address + (1 if net.num_addresses > 2 else 0))
    if isinstance(v, T.SigmaString):
        return gen_sigma_string(v)
    if isinstance(v, T.SigmaNumber):
        return str(v.number)
    if isinstance(v, T.SigmaBool):
        return "true" if v.boolean else "false"
    if isinstance(v, T.SigmaNull):
        return None
    if isinstance(v, T.SigmaCompareExpression):
        n = v.number.number
        op = str(v.op)
        if "LTE" in op or "GTE" in op:
            return str(n)
        if "LT" in op:
            return str(n - 1)
        return str(n + 1)
    if isinstance(v, T.SigmaExists):
        return "present" if v.exists else None
    if isinstance(v, T.SigmaFieldReference):
        fields.setdefault(v.field, "refval")
        return fields[v.field]
    return "unknownvalue"


def assign_item(item, fields, keywords):
    """Adds field values that make one detection item true."""
    vals = item.value
    if not vals:
        return
    if item.value_linking is ConditionAND and len(vals) > 1:
        parts = [gen_value(v, fields) for v in vals]
        parts = [p for p in parts if p is not None]
        value = " ".join(parts)
    else:
        value = gen_value(RNG.choice(vals), fields)
    if item.field is None:
        if value is not None:
            keywords.append(value)
        return
    if value is None:
        fields.pop(item.field, None)
        fields[item.field] = None
    else:
        fields[item.field] = value


def assign_detection(det, fields, keywords):
    """Makes a search identifier true (first alternative of OR lists, all of AND maps)."""
    items = det.detection_items
    if det.item_linking is ConditionAND or (len(items) == 1):
        for it in items:
            if isinstance(it, SigmaDetection):
                assign_detection(it, fields, keywords)
            else:
                assign_item(it, fields, keywords)
    else:
        it = RNG.choice(items)
        if isinstance(it, SigmaDetection):
            assign_detection(it, fields, keywords)
        else:
            assign_item(it, fields, keywords)


def cidr_fields(det, out):
    for it in det.detection_items:
        if isinstance(it, SigmaDetection):
            cidr_fields(it, out)
        elif it.field is not None and any(isinstance(v, T.SigmaCIDRExpression) for v in it.value):
            out.add(it.field)


def item_fields(det, out):
    for it in det.detection_items:
        if isinstance(it, SigmaDetection):
            item_fields(it, out)
        elif it.field is not None:
            out.add(it.field)
            for v in it.value:
                if isinstance(v, T.SigmaFieldReference):
                    out.add(v.field)


def mutate(s):
    if not s:
        return "x"
    i = RNG.randrange(len(s))
    ch = s[i]
    repl = "Q" if ch.lower() != "q" else "W"
    return s[:i] + repl + s[i + 1:]


def events_for_rule(rule):
    ls = {k: getattr(rule.logsource, k) for k in ("product", "category", "service")}
    dets = rule.detection.detections
    all_fields, ip_fields = set(), set()
    for d in dets.values():
        item_fields(d, all_fields)
        cidr_fields(d, ip_fields)
    out = []

    def make(names, variant=None):
        fields, keywords = {}, []
        for f in sorted(all_fields):
            fields[f] = "filler"
        for n in names:
            assign_detection(dets[n], fields, keywords)
        if variant == "upper":
            fields = {k: (v.upper() if isinstance(v, str) else v) for k, v in fields.items()}
            keywords = [k.upper() for k in keywords]
        ev = {k: v for k, v in fields.items() if v is not None}
        if keywords:
            ev["Message"] = " ".join(keywords)
        return ev

    names = list(dets)
    main = [n for n in names if not n.startswith("filter")]
    for _ in range(2):
        out.append(make(main))
        out.append(make(names))
    for n in names:
        out.append(make([n]))
    out.append(make(main, "upper"))
    base = make(main)
    for f in list(base):
        if f in ip_fields:
            # cidr is textual in the oracle: near misses must stay valid addresses.
            out.append({**base, f: "2001:db8::9" if ":" in str(base[f]) else "203.0.113.9"})
            continue
        if isinstance(base[f], str) and base[f] != "filler":
            e = dict(base)
            e[f] = mutate(base[f])
            out.append(e)
            e2 = dict(base)
            del e2[f]
            out.append(e2)
            out.append({**base, f: base[f] + "x"})   # breaks endswith / exact
            out.append({**base, f: "x" + base[f]})   # breaks startswith / exact
    return [(ls, e) for e in out]


def _is_ip(v):
    import ipaddress
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- main
def main():
    rules_dir, out_path = sys.argv[1], sys.argv[2]
    backend = sqliteBackend(fulltext_field="_raw")
    paths = []
    for root, _, files in os.walk(rules_dir):
        for f in files:
            if f.endswith((".yml", ".yaml")):
                paths.append(os.path.join(root, f))
    paths.sort()
    results, queries, events, rule_fields = {}, {}, [], {}
    global_ip_fields = set()
    for p in paths:
        try:
            coll = SigmaCollection.load_ruleset([p], collect_errors=False)
            rules = [r for r in coll.rules if isinstance(r, SigmaRule)]
            if len(rules) != 1:
                raise ValueError(f"{len(rules)} detection rules in file")
            rule = rules[0]
            q = backend.convert_rule(rule)
            if len(q) != 1:
                raise ValueError(f"{len(q)} queries")
            queries[p] = (q[0], {k: getattr(rule.logsource, k) for k in ("product", "category", "service")})
            evs = events_for_rule(rule)
            for d in rule.detection.detections.values():
                cidr_fields(d, global_ip_fields)
            rule_fields[p] = {f for _, e in evs for f in e}
            events.extend(evs)
        except Exception as ex:  # the oracle's own limits
            results[p] = {"error": f"{type(ex).__name__}: {ex}"[:300]}
    # SQLite column names are case-insensitive: one spelling per name; rules spelling a field
    # differently from the first spelling seen are left out (an oracle limit).
    canon = {}
    for _, e in events:
        for f in e:
            canon.setdefault(f.lower(), f)
    for p, fs in rule_fields.items():
        if any(canon[f.lower()] != f for f in fs):
            queries.pop(p, None)
            results[p] = {"error": "field name differs only in case from another rule's (SQLite limit)"}
    events = [(ls, {canon[k.lower()]: v for k, v in e.items()}) for ls, e in events]
    cols = sorted(set(canon.values()))
    db = sqlite3.connect(":memory:")

    def regexp(pattern, value):
        if value is None:
            return False
        try:
            return re.search(pattern, str(value)) is not None
        except re.error:
            return False

    db.create_function("REGEXP", 2, regexp)

    def q(c):
        return "`" + c.replace("`", "``") + "`"

    db.execute("CREATE TABLE logs (__product TEXT, __category TEXT, __service TEXT, _raw TEXT COLLATE NOCASE"
               + "".join(f", {q(c)} TEXT COLLATE NOCASE" for c in cols if c != "_raw") + ")")
    out_events = []
    for ls, e in events:
        raw = SEP.join(str(v) for v in e.values())
        row = {"__product": ls["product"], "__category": ls["category"], "__service": ls["service"], "_raw": raw}
        row.update(e)
        keys = list(row)
        db.execute(f"INSERT INTO logs ({', '.join(q(k) for k in keys)}) VALUES ({', '.join('?' for _ in keys)})",
                   [row[k] for k in keys])
        # cidr is textual in the oracle: an address-like value that is not an address (another
        # rule's near miss such as "127.0.0.1x") may match a network there and not here.
        unsure = any(k in global_ip_fields and isinstance(v, str) and re.match(r"^[0-9a-fA-F:.]+", v)
                     and not _is_ip(v) for k, v in e.items())
        out_events.append({"logsource": ls, "fields": e, "oracle_unsure": unsure})
    sql_started = time.perf_counter()
    for p, (query, ls) in queries.items():
        try:
            rows = [r[0] for r in db.execute(query.replace("SELECT *", "SELECT rowid", 1))]
        except Exception as ex:
            results[p] = {"error": f"sqlite: {ex}"[:300]}
            continue
        ok = []
        for rid in rows:
            ev_ls = out_events[rid - 1]["logsource"]
            if all(ls[k] is None or ls[k] == ev_ls[k] for k in ls):
                ok.append(rid - 1)
        results[p] = {"matches": ok, "query": query[:2000]}
    sql_seconds = time.perf_counter() - sql_started
    print(f"pysigma->sqlite: {len(out_events)} events through {len(queries)} rule queries in {sql_seconds:.4f} s "
          f"({len(out_events) / max(sql_seconds, 1e-9):.0f} events/s)")
    with open(out_path, "w") as f:
        json.dump({"events": out_events, "rules": results}, f)
    conv = sum(1 for r in results.values() if "matches" in r)
    print(f"oracle: {len(paths)} rules, {conv} converted, {len(out_events)} events, {len(cols)} fields")


if __name__ == "__main__":
    main()
