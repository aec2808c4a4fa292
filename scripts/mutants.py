#!/usr/bin/env python3
"""Mutation check: deliberate breakages of the product, one at a time, each of which the
named tests must catch.

    scripts/mutants.py               # every mutant (make mutants)
    scripts/mutants.py uid normal    # only mutants whose name contains one of the words
    scripts/mutants.py --list        # the table

How it works. The working tree (tracked and untracked, not ignored files) is mirrored into a
scratch copy, .build/mutants/src by default (MUTANTS_DIR to change it), which has its own
.build and is kept between runs so that only what changed is rebuilt. Your tree is never
written to: a mutation happens only in the scratch copy, and every run starts by making the
copy equal to your tree again, so an interrupted run leaves nothing behind that matters.

First the baseline: the unmutated copy is built and every mutant's tests are run; they must
pass, or a "killed" would mean nothing. Then for each mutant: apply it (its `find` text must
occur exactly once in its file, else the run stops: the source moved and the mutant must be
updated), build, run its tests, restore the file. A failing test run is KILLED, a passing one
SURVIVED. A mutant that does not compile is an error in the table. The exit status is 0 only
when every mutant was killed.

Adding a mutant: append a Mutant(...) to MUTANTS (keep the name unique and say in `why`
what the breakage stands for). `tests` is a `swift test --filter` regular expression: the
smallest set of tests that ought to catch it (only unit tests: the scratch copy has no BPF
object, so end-to-end tests cannot run there).
"""

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.environ.get("MUTANTS_DIR", os.path.join(REPO, ".build", "mutants"))
SRC = os.path.join(WORK, "src")
SWIFT = os.environ.get("SWIFT", "swift")
BUILD_TIMEOUT = 3600
TEST_TIMEOUT = 1200


@dataclasses.dataclass
class Mutant:
    name: str    # unique, short, kebab-case
    file: str    # path relative to the repository root
    find: str    # exact text, must occur exactly once in `file`
    replace: str
    tests: str   # swift test --filter expression
    why: str     # the bug this stands for


MUTANTS = [
    # --- kernel record decoder (Sources/EDRDetect/KernelRecords.swift) ---
    Mutant(
        name="decoder-swaps-uid-euid",
        file="Sources/EDRDetect/KernelRecords.swift",
        find="uid: p.readLE(UInt32.self, at: 28),\n                euid: p.readLE(UInt32.self, at: 32)",
        replace="uid: p.readLE(UInt32.self, at: 32),\n                euid: p.readLE(UInt32.self, at: 28)",
        tests="KernelRecordTests|TelemetryRecordTests",
        why="the real and effective uid trade places: a set-uid program's user is reported wrong"),
    Mutant(
        name="decoder-reads-tid-as-pid",
        file="Sources/EDRDetect/KernelRecords.swift",
        find="TaskIDs(pid: Int32(bitPattern: p.readLE(UInt32.self, at: 16))",
        replace="TaskIDs(pid: Int32(bitPattern: p.readLE(UInt32.self, at: 20))",
        tests="KernelRecordTests|TelemetryRecordTests",
        why="the thread id is taken for the process id (identical in a single-threaded fixture)"),

    # --- normalizer (Sources/EDRDetect/Normalizer.swift) ---
    Mutant(
        name="normalizer-drops-parent",
        file="Sources/EDRDetect/Normalizer.swift",
        find="let parent = cache.lookup(pid: r.ids.ppid, startTicks: r.ids.parentStartTicks)\n            ?? cache.lookup(pid: r.ids.ppid)",
        replace="let parent: ProcessEntry? = nil",
        tests="KernelRecordTests",
        why="the parent is never found: ParentImage and ParentCommandLine are missing"),
    Mutant(
        name="normalizer-empties-parent-pid",
        file="Sources/EDRDetect/Normalizer.swift",
        find="values.append(.int(Int64(p.ppid)))",
        replace="values.append(.int(0))",
        tests="KernelRecordTests",
        why="ParentProcessId is written as 0"),

    # --- telemetry normalizer (Sources/EDRDetect/TelemetryNormalizer.swift) ---
    Mutant(
        name="dns-server-is-the-local-address",
        file="Sources/EDRDetect/TelemetryNormalizer.swift",
        find='f.append(("DnsServer", .string(r.remoteIP)))',
        replace='f.append(("DnsServer", .string(r.localIP)))',
        tests="TelemetryNormalizerTests",
        why="DnsServer names the querying socket instead of the resolver"),
    Mutant(
        name="io-uring-mark-dropped",
        file="Sources/EDRDetect/TelemetryNormalizer.swift",
        find='guard let op = IoUring.opcode(flags) else { return }',
        replace='guard let op = IoUring.opcode(flags), op == 0 else { return }',
        tests="TelemetryNormalizerTests",
        why="operations done through io_uring look like syscalls (no IoUring/IoUringOp)"),
    Mutant(
        name="io-uring-opcode-from-wrong-byte",
        file="Sources/EDRDetect/TelemetryRecords.swift",
        find='flags & requested != 0 ? UInt8(truncatingIfNeeded: flags >> 8) : nil',
        replace='flags & requested != 0 ? UInt8(truncatingIfNeeded: flags >> 16) : nil',
        tests="TelemetryRecordTests",
        why="the io_uring opcode is read from the wrong bits of the record's flags"),

    # --- Sigma (Sources/EDRSigma/Modifiers.swift) ---
    Mutant(
        name="sigma-contains-is-case-sensitive",
        file="Sources/EDRSigma/Modifiers.swift",
        find="return .lit(mode, fold(b), cased: cased)",
        replace="return .lit(mode, mode == .contains ? b : fold(b), cased: cased || mode == .contains)",
        tests="modifierCase|TeamRuleTests",
        why="'contains' loses Sigma's default case-insensitivity"),

    # --- detector loss accounting (Sources/EDRDetect/Detector.swift) ---
    Mutant(
        name="detector-stops-counting-record-errors",
        file="Sources/EDRDetect/Detector.swift",
        find="            counters.recordErrors += 1\n            Log.warning(\"frame \\(sequence): \\(error)\")",
        replace="            Log.warning(\"frame \\(sequence): \\(error)\")",
        tests="DetectorCounterTests|FuzzTests",
        why="records the detector cannot decode are no longer counted as lost"),
    Mutant(
        name="reconcile-drops-ring-full",
        file="Sources/EDRDetect/Detector.swift",
        find='ringFull += s["kernel.\\(f).ring_full"] ?? 0',
        replace='_ = s["kernel.\\(f).ring_full"]',
        tests="DetectorCounterTests",
        why="the kernel's ring-full drops leave the loss sum"),

    # --- privilege boundary (Sources/EDRCore, EDRSupervisor, EDRRespond) ---
    # The confinement probes spawn the scratch copy's own edr-detect (built by --build-tests).
    Mutant(
        name="detector-allowlist-admits-execve",
        file="Sources/EDRCore/Seccomp.swift",
        find="        try f.add(allow, runtime)\n",
        replace="        try f.add(allow, runtime + (role == .detector ? [\"execve\"] : []))\n",
        tests="detectorProbeIsDeniedConfinedAndWorksUnconfined",
        why="a compromised detector can run any program"),
    Mutant(
        name="detector-allowlist-admits-fsetfl",
        file="Sources/EDRCore/Seccomp.swift",
        find="for cmd in [F_DUPFD, F_GETFD, F_SETFD, F_GETFL, 1030 /* F_DUPFD_CLOEXEC */] as [Int32] {",
        replace="for cmd in [F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, 1030 /* F_DUPFD_CLOEXEC */] as [Int32] {",
        tests="detectorProbeIsDeniedConfinedAndWorksUnconfined",
        why="the detector can clear O_APPEND on the alert descriptor and overwrite alerts already written"),
    Mutant(
        name="sensor-allowlist-admits-sockets",
        file="Sources/EDRCore/Seccomp.swift",
        find='            try f.add(allow, ["bpf"])\n',
        replace='            try f.add(allow, ["bpf", "socket"])\n',
        tests="sensorAllowlistKills",
        why="the root sensor can open sockets (and be reached or reach out)"),
    Mutant(
        name="landlock-not-applied",
        file="Sources/EDRCore/SelfConfinement.swift",
        find="        guard edr_landlock_restrict_self(ruleset) == 0 else { throw SystemError(\"landlock_restrict_self\") }",
        replace="        _ = ruleset",
        tests="detectorProbeIsDeniedConfinedAndWorksUnconfined",
        why="the detector reads any file its uid may (/etc/passwd, other users' world-readable files)"),
    Mutant(
        name="responder-skips-start-time-check",
        file="Sources/EDRRespond/ResponsePolicy.swift",
        find="        guard t.startTicks == r.startTicks else {",
        replace="        guard t.startTicks == t.startTicks else {",
        tests="policyRefusesWhatItProtects|killsTheRealProcessOnlyWhenStartTimeMatches",
        why="a recycled pid is killed: the process that matched is gone, an innocent one has its pid"),
    Mutant(
        name="responder-kills-kernel-threads",
        file="Sources/EDRRespond/ResponsePolicy.swift",
        find='        if t.isKernelThread { return .refuse("pid \\(r.pid) is a kernel thread") }',
        replace="",
        tests="policyRefusesWhatItProtects",
        why="the responder acts on kernel threads"),
    Mutant(
        name="named-socket-swaps-in-a-second-client",
        file="Sources/EDRCore/SinglePeerListener.swift",
        find="            if peer >= 0 && peerIsLive {",
        replace="            if false {",
        tests="SinglePeerListenerTests",
        why="a second client on a named socket displaces the live peer (as a nobody process displaced the detector)"),
    Mutant(
        name="identity-accepts-nobody",
        file="Sources/EDRSupervisor/ChildIdentity.swift",
        find="        guard u.uid != 65534 else {",
        replace="        guard u.uid != 65534 || true else {",
        tests="namedUsersMustBeDedicated",
        why="a child runs as nobody, a uid other daemons share (they could signal or trace it)"),
    Mutant(
        name="trusted-files-ignore-world-write",
        file="Sources/EDRSupervisor/ChildIdentity.swift",
        find="        let otherWrite = st.st_mode & S_IWOTH != 0",
        replace="        let otherWrite = false",
        tests="filesWritableByOthersAreRefusedByName",
        why="a rule file anyone can edit is loaded: any user can blind the agent"),
]


def log(msg=""):
    print(msg, flush=True)


def tree_files():
    out = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout
    return [f for f in out.decode().split("\0") if f and os.path.isfile(os.path.join(REPO, f))]


def same(a, b):
    if not os.path.exists(b):
        return False
    sa, sb = os.stat(a), os.stat(b)
    if sa.st_size != sb.st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def sync():
    """Makes the scratch copy equal to the working tree; unchanged files keep their mtime."""
    files = tree_files()
    wanted = set(files) | {"Package.resolved"}
    copied = 0
    for f in files:
        src, dst = os.path.join(REPO, f), os.path.join(SRC, f)
        if not same(src, dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
            copied += 1
    removed = 0
    for root, dirs, names in os.walk(SRC):
        rel_root = os.path.relpath(root, SRC)
        if rel_root == ".":
            dirs[:] = [d for d in dirs if d != ".build"]
        for n in names:
            rel = os.path.normpath(os.path.join(rel_root, n))
            if rel not in wanted:
                os.remove(os.path.join(root, n))
                removed += 1
    # The resolved dependency versions (ignored by git, but they keep the copy offline-buildable).
    for f in ["Package.resolved"]:
        if os.path.exists(os.path.join(REPO, f)) and not same(os.path.join(REPO, f), os.path.join(SRC, f)):
            shutil.copy2(os.path.join(REPO, f), os.path.join(SRC, f))
    log(f"scratch copy {SRC}: {len(files)} files, {copied} updated, {removed} removed")


def restore(m):
    shutil.copy2(os.path.join(REPO, m.file), os.path.join(SRC, m.file))


def run(cmd, timeout, logfile):
    """Runs cmd in the scratch copy, output to logfile; returns the exit status (None on timeout)."""
    with open(logfile, "w") as out:
        # The scratch copy's own binaries (the confinement probes spawn its edr-detect).
        env = {k: v for k, v in os.environ.items() if k != "EDR_BIN_DIR"}
        p = subprocess.Popen(cmd, cwd=SRC, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return None
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise


def tail(path, n=30):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def build(tag):
    logfile = os.path.join(WORK, f"build-{tag}.log")
    started = time.time()
    rc = run([SWIFT, "build", "--build-tests"], BUILD_TIMEOUT, logfile)
    return rc == 0, time.time() - started, logfile


def test(m, tag):
    logfile = os.path.join(WORK, f"test-{tag}.log")
    started = time.time()
    rc = run([SWIFT, "test", "--skip-build", "--no-parallel", "--filter", m.tests], TEST_TIMEOUT, logfile)
    return rc, time.time() - started, logfile


def apply(m):
    path = os.path.join(SRC, m.file)
    with open(path) as f:
        text = f.read()
    n = text.count(m.find)
    if n != 1:
        raise SystemExit(f"mutant {m.name}: the text to replace occurs {n} times in {m.file} (must be once): update the mutant")
    with open(path, "w") as f:
        f.write(text.replace(m.find, m.replace))


def main(argv):
    names = [m.name for m in MUTANTS]
    if len(set(names)) != len(names):
        raise SystemExit("mutant names must be unique")
    if "--list" in argv:
        for m in MUTANTS:
            log(f"{m.name:40} {m.file}  [{m.tests}]  {m.why}")
        return 0
    words = [a for a in argv if not a.startswith("-")]
    chosen = [m for m in MUTANTS if not words or any(w in m.name for w in words)]
    if not chosen:
        raise SystemExit(f"no mutant matches {words}")
    os.makedirs(SRC, exist_ok=True)
    sync()
    # The tests find the corpora at ../shared beside the repository root: the same beside the copy.
    shared, link = os.path.join(os.path.dirname(REPO), "shared"), os.path.join(WORK, "shared")
    if os.path.isdir(shared) and not os.path.exists(link):
        os.symlink(shared, link)
    # Every pattern must be found before anything is built.
    for m in chosen:
        with open(os.path.join(SRC, m.file)) as f:
            n = f.read().count(m.find)
        if n != 1:
            raise SystemExit(f"mutant {m.name}: the text to replace occurs {n} times in {m.file} (must be once): update the mutant")

    log("baseline: building the unmutated copy (the first run builds everything)")
    ok, secs, logfile = build("baseline")
    if not ok:
        log(tail(logfile))
        raise SystemExit(f"baseline build failed ({logfile})")
    log(f"baseline: built in {secs:.0f} s")
    filters = sorted({m.tests for m in chosen})
    for i, flt in enumerate(filters):
        rc, secs, logfile = test(Mutant("baseline", "", "", "", flt, ""), f"baseline-{i}")
        if rc != 0:
            log(tail(logfile))
            raise SystemExit(f"baseline: tests '{flt}' fail without any mutant (status {rc}, {logfile}): fix them first")
        log(f"baseline: tests '{flt}' pass ({secs:.0f} s)")

    results = []
    for m in chosen:
        try:
            apply(m)
            ok, bsecs, blog = build(m.name)
            if not ok:
                log(tail(blog))
                raise SystemExit(f"mutant {m.name} does not compile ({blog}): fix the mutant")
            rc, tsecs, tlog = test(m, m.name)
        finally:
            restore(m)
        verdict = "KILLED" if rc != 0 else "SURVIVED"
        if rc is None:
            verdict = "KILLED (tests timed out)"
        results.append((m, verdict))
        log(f"{verdict:9} {m.name}  (build {bsecs:.0f} s, tests '{m.tests}' {tsecs:.0f} s, status {rc})  {m.why}")

    log()
    survived = [m for m, v in results if v == "SURVIVED"]
    log(f"{len(results)} mutants: {len(results) - len(survived)} killed, {len(survived)} survived")
    for m in survived:
        log(f"  SURVIVED: {m.name}: strengthen '{m.tests}' until it fails on this breakage")
    return 1 if survived else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        log("interrupted: your tree was never modified; the scratch copy is re-synced on the next run")
        sys.exit(130)
