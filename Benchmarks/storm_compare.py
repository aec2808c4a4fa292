#!/usr/bin/env python3
"""Exec, file and connect storms side by side in one run: no monitor, auditd, bpftrace and
this agent (issue 12 item 7, issue 16).

Usage (as root, after `make release`):
    python3 Benchmarks/storm_compare.py [--bin .build/release] [--runs 3] [--execs 20000]
        [--files 200000] [--connects 20000] [--monitors none,auditd,bpftrace-exec,bpftrace,agent,agent-sigmahq]
        [--sigmahq ../shared/corpora/sigmahq/rules/linux] [--json out.json]

Storms (the same functions as Benchmarks/telemetry_bench.py): posix_spawn + wait of /bin/true;
create/write/close/unlink of a file in a temporary directory; loopback TCP connect + accept +
close (127.0.0.1 only). Each run goes through every monitor (the order rotates from run to
run so that a change in the machine's load does not always hit the same monitor), and for
each storm measures:
  - the storm's wall time, and its overhead against the same run's "none";
  - the workload's own CPU (this process and its children, getrusage), which is less bent by
    other load on the machine than the wall time;
  - the monitor's CPU from the start of the storm until it is idle again (the backlog it
    drains after the storm counts), from /proc/PID/task/*/schedstat, per operation in µs.
The table shows medians over the runs (and the range of the per-run overheads).

Monitors:
  none           nothing loaded.
  auditd         auditd -n (foreground, started by this script with a configuration of its
                 own in a temporary directory: Debian's defaults, ENRICHED format, 5 × 8 MiB
                 rotated logs) and, keyed "edrbench", rules matching what the agent watches:
                   -a always,exit -F arch=b64 -S open -F a1&0x243          (write, O_CREAT, O_TRUNC)
                   -a always,exit -F arch=b64 -S openat -F a2&0x243
                   -a always,exit -F arch=b64 -S execve,execveat,openat2,creat,unlink,unlinkat,
                       rmdir,rename,renameat,renameat2,connect,accept,accept4
                 with the backlog limit at 8192 (Debian's audit.rules). CPU: auditd + kauditd.
  bpftrace-exec  bpftrace printing each exec (tracepoint:sched:sched_process_exec) to a file.
  bpftrace       the same plus opensnoop-/tcpconnect-like probes for what the agent reports
                 in these storms: write/create opens, creat, unlink*, rmdir, rename*, connect
                 and accept (syscall tracepoints, entry saves the argument, exit prints it with
                 the result), all printed to a file.
  agent          `edr run --config config/edr.toml` (the bundled configuration: bundled Sigma,
                 YARA and IOC rules, every hook), alerts and runtime directory redirected to a
                 temporary directory. CPU: edr + edr-sensor + edr-detect.
  agent-sigmahq  the same with SigmaHQ's Linux rules loaded beside the bundled ones (skipped
                 when --sigmahq does not exist).

Needs: root; `make release` (.build/release/edr and edr.bpf.o); for auditd `apt-get install
auditd` (the kernel's audit netlink socket must answer: `auditctl -s`) and no other auditd
running; for bpftrace `apt-get install bpftrace` and tracefs (mounted on
/sys/kernel/tracing by this script if it is not, unmounted again at the end); bpftool for the
agent's kernel counters (`make deps` installs it). Nothing is installed by the script.

On exit, also on Ctrl-C or SIGTERM, it removes its audit rules (by key), stops the auditd it
started and restores the audit enabled flag and backlog limit, stops bpftrace and the agent,
unmounts tracefs if it mounted it and removes its temporary directory. Monitors that could
not run are listed with the reason; the others still run.
"""
import argparse, json, os, resource, shutil, signal, statistics, subprocess, sys, tempfile, time

from agentproc import children, cpu_seconds
from telemetry_bench import connect_storm, counters, exec_storm, file_storm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORMS = ["exec", "file", "connect"]
MONITORS = ["none", "auditd", "bpftrace-exec", "bpftrace", "agent", "agent-sigmahq"]
AUDIT_KEY = "edrbench"
# O_ACCMODE | O_CREAT | O_TRUNC: the opens the agent reports (bpf/file.hooks.c).
WRITE_FLAGS = 0x243
AUDIT_RULES = [
    ["-S", "open", "-F", f"a1&{WRITE_FLAGS:#x}"],
    ["-S", "openat", "-F", f"a2&{WRITE_FLAGS:#x}"],
    ["-S", "execve,execveat,openat2,creat,unlink,unlinkat,rmdir,rename,renameat,renameat2,connect,accept,accept4"],
]
TRACEFS = "/sys/kernel/tracing"

BPFTRACE_EXEC = r"""
tracepoint:sched:sched_process_exec {
    printf("exec pid=%d ppid=%d uid=%d comm=%s file=%s\n", pid, curtask->real_parent->tgid, uid, comm, str(args->filename));
}
"""
BPFTRACE_ALL = BPFTRACE_EXEC + r"""
tracepoint:syscalls:sys_enter_open /args->flags & WRITE_FLAGS/ { @path[tid] = args->filename; @flags[tid] = args->flags; }
tracepoint:syscalls:sys_enter_openat /args->flags & WRITE_FLAGS/ { @path[tid] = args->filename; @flags[tid] = args->flags; }
tracepoint:syscalls:sys_enter_openat2 { @path[tid] = args->filename; @flags[tid] = 0; }
tracepoint:syscalls:sys_enter_creat { @path[tid] = args->pathname; @flags[tid] = 0x241; }
tracepoint:syscalls:sys_exit_open, tracepoint:syscalls:sys_exit_openat, tracepoint:syscalls:sys_exit_openat2,
tracepoint:syscalls:sys_exit_creat /@path[tid]/ {
    printf("open pid=%d comm=%s path=%s flags=%x ret=%d\n", pid, comm, str(@path[tid]), @flags[tid], args->ret);
    delete(@path[tid]); delete(@flags[tid]);
}
tracepoint:syscalls:sys_enter_unlink, tracepoint:syscalls:sys_enter_rmdir { @path[tid] = args->pathname; }
tracepoint:syscalls:sys_enter_unlinkat { @path[tid] = args->pathname; }
tracepoint:syscalls:sys_exit_unlink, tracepoint:syscalls:sys_exit_unlinkat, tracepoint:syscalls:sys_exit_rmdir /@path[tid]/ {
    printf("delete pid=%d comm=%s path=%s ret=%d\n", pid, comm, str(@path[tid]), args->ret);
    delete(@path[tid]);
}
tracepoint:syscalls:sys_enter_rename, tracepoint:syscalls:sys_enter_renameat, tracepoint:syscalls:sys_enter_renameat2 {
    @path[tid] = args->oldname; @newpath[tid] = args->newname;
}
tracepoint:syscalls:sys_exit_rename, tracepoint:syscalls:sys_exit_renameat, tracepoint:syscalls:sys_exit_renameat2 /@path[tid]/ {
    printf("rename pid=%d comm=%s from=%s to=%s ret=%d\n", pid, comm, str(@path[tid]), str(@newpath[tid]), args->ret);
    delete(@path[tid]); delete(@newpath[tid]);
}
tracepoint:syscalls:sys_enter_connect { @addr[tid] = args->uservaddr; }
tracepoint:syscalls:sys_exit_connect /@addr[tid]/ {
    $sa = (struct sockaddr_in *)@addr[tid];
    if ($sa->sin_family == 2) {
        printf("connect pid=%d comm=%s dst=%s:%d ret=%d\n", pid, comm, ntop(2, $sa->sin_addr.s_addr),
               (($sa->sin_port & 0xff) << 8) | ($sa->sin_port >> 8), args->ret);
    } else {
        printf("connect pid=%d comm=%s family=%d ret=%d\n", pid, comm, $sa->sin_family, args->ret);
    }
    delete(@addr[tid]);
}
tracepoint:syscalls:sys_enter_accept, tracepoint:syscalls:sys_enter_accept4 { @addr[tid] = args->upeer_sockaddr; }
tracepoint:syscalls:sys_exit_accept, tracepoint:syscalls:sys_exit_accept4 /@addr[tid]/ {
    $sa = (struct sockaddr_in *)@addr[tid];
    if (args->ret >= 0 && $sa->sin_family == 2) {
        printf("accept pid=%d comm=%s peer=%s:%d fd=%d\n", pid, comm, ntop(2, $sa->sin_addr.s_addr),
               (($sa->sin_port & 0xff) << 8) | ($sa->sin_port >> 8), args->ret);
    } else {
        printf("accept pid=%d comm=%s ret=%d\n", pid, comm, args->ret);
    }
    delete(@addr[tid]);
}
END { clear(@path); clear(@flags); clear(@newpath); clear(@addr); }
""".replace("WRITE_FLAGS", str(WRITE_FLAGS))


class Unavailable(Exception):
    """A monitor that cannot run here; the message says why."""


def sh(*argv, check=False):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def pid_by_comm(comm):
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                if open(f"/proc/{e}/comm").read().strip() == comm:
                    return int(e)
            except OSError:
                pass
    return None


def audit_status():
    r = sh("auditctl", "-s")
    if r.returncode != 0:
        raise Unavailable(f"`auditctl -s` failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()}")
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise Unavailable(f"{what} not ready after {timeout:.0f} s")


class Monitor:
    """Start/stop one monitor; pids() are the processes whose CPU is its cost."""
    name = "none"

    def __init__(self, d):
        self.d = d

    def start(self):
        pass

    def pids(self):
        return {}

    def stop(self):
        """Stops the monitor and undoes what start() changed; safe to call twice and after a
        start() that failed half way."""
        pass

    def cleanup(self):
        """Removes what annotate() needed."""
        pass

    def snapshot(self):
        """Figures read before and after each storm (events seen, lost...)."""
        return {}

    def seen(self, before, after, storm):
        return ""

    def annotate(self, result, work):
        """Fills in what could only be counted after stop()."""
        pass


class Auditd(Monitor):
    name = "auditd"

    def __init__(self, d):
        super().__init__(d)
        self.proc = None
        self.saved = None
        self.rules_added = False

    def check(self):
        for tool in ("auditd", "auditctl"):
            if not shutil.which(tool):
                raise Unavailable(f"{tool} not installed (apt-get install auditd)")
        st = audit_status()
        if st.get("pid", "0") != "0":
            raise Unavailable(f"another audit daemon is running (pid {st['pid']}); not touching its rules")
        rules = sh("auditctl", "-l").stdout.strip()
        if rules and rules != "No rules":
            print(f"note: audit rules already loaded, ours are added beside them:\n{rules}", file=sys.stderr)

    def start(self):
        self.check()
        self.saved = audit_status()
        conf = f"{self.d}/audit"
        os.makedirs(f"{conf}/log", exist_ok=True)
        src = "/etc/audit/auditd.conf"
        lines = open(src).read().splitlines() if os.path.exists(src) else []
        lines = [l for l in lines if not l.strip().startswith(("log_file", "write_logs"))]
        lines += [f"log_file = {conf}/log/audit.log", "write_logs = yes"]
        with open(f"{conf}/auditd.conf", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(f"{conf}/auditd.conf", 0o640)
        self.log = open(f"{conf}/auditd.out", "w")
        self.proc = subprocess.Popen(["auditd", "-n", "-c", conf], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or audit_status().get("pid") == str(self.proc.pid),
                     20, "auditd")
        except Unavailable:
            pass
        if self.proc.poll() is not None or audit_status().get("pid") != str(self.proc.pid):
            raise Unavailable("auditd did not register with the kernel: " + open(f"{conf}/auditd.out").read().strip()[-400:])
        r = sh("auditctl", "-b", "8192")
        if r.returncode != 0:
            raise Unavailable(f"auditctl -b 8192: {r.stderr.strip()}")
        self.rules_added = True
        for rule in AUDIT_RULES:
            r = sh("auditctl", "-a", "always,exit", "-F", "arch=b64", *rule, "-k", AUDIT_KEY)
            if r.returncode != 0:
                raise Unavailable(f"auditctl {' '.join(rule)}: {r.stderr.strip()}")
        self.kauditd = pid_by_comm("kauditd")

    def pids(self):
        out = {"auditd": self.proc.pid}
        if self.kauditd:
            out["kauditd"] = self.kauditd
        return out

    def snapshot(self):
        st = audit_status()
        return {"lost": int(st.get("lost", 0)), "backlog": int(st.get("backlog", 0))}

    def seen(self, before, after, storm):
        return f"kernel lost {after['lost'] - before['lost']}"

    def stop(self):
        if self.rules_added:
            sh("auditctl", "-D", "-k", AUDIT_KEY)
            self.rules_added = False
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.saved:
            sh("auditctl", "-b", self.saved.get("backlog_limit", "64"))
            sh("auditctl", "-e", self.saved.get("enabled", "0"))
            self.saved = None
        # The log directory grows to 40 MiB (5 × 8 MiB); nothing there is needed afterwards.
        shutil.rmtree(f"{self.d}/audit/log", ignore_errors=True)


class Bpftrace(Monitor):
    mounted_tracefs = False

    def __init__(self, d, everything):
        super().__init__(d)
        self.everything = everything
        self.name = "bpftrace" if everything else "bpftrace-exec"
        self.proc = None

    @classmethod
    def ensure_tracefs(cls):
        if os.path.exists(f"{TRACEFS}/events"):
            return
        r = sh("mount", "-t", "tracefs", "nodev", TRACEFS)
        if r.returncode != 0:
            raise Unavailable(f"tracefs is not mounted and `mount -t tracefs nodev {TRACEFS}` failed: {r.stderr.strip()}")
        cls.mounted_tracefs = True

    @classmethod
    def release_tracefs(cls):
        if cls.mounted_tracefs:
            sh("umount", TRACEFS)
            cls.mounted_tracefs = False

    def start(self):
        if not shutil.which("bpftrace"):
            raise Unavailable("bpftrace not installed (apt-get install bpftrace)")
        self.ensure_tracefs()
        self.script = f"{self.d}/{self.name}.bt"
        self.out = f"{self.d}/{self.name}.out"
        with open(self.script, "w") as f:
            f.write(BPFTRACE_ALL if self.everything else BPFTRACE_EXEC)
        self.err = open(f"{self.d}/{self.name}.err", "w")
        self.probes = set()
        self.proc = subprocess.Popen(["bpftrace", "-o", self.out, self.script],
                                     stdout=subprocess.DEVNULL, stderr=self.err,
                                     start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                return True
            pid = os.posix_spawn("/bin/true", ["/bin/true"], {})
            os.waitpid(pid, 0)
            self.probes.add(pid)
            try:
                return f"pid={pid} " in open(self.out).read()
            except OSError:
                return False
        wait_for(ready, 60, "bpftrace")
        if self.proc.poll() is not None:
            err = open(f"{self.d}/{self.name}.err").read() + open(self.out).read()
            raise Unavailable("bpftrace exited: " + " | ".join(l for l in err.splitlines()
                                                               if "RLIMIT_MEMLOCK" not in l)[-400:])

    def pids(self):
        return {"bpftrace": self.proc.pid}

    def annotate(self, result, work):
        """After bpftrace has exited (its output file is flushed only then): how many of the
        storms' operations it printed. Exec: children of this process (less the readiness
        probes); file: paths under the storm's directory; connect/accept: this process."""
        me = os.getpid()
        n = {"exec": 0, "open": 0, "delete": 0, "connect": 0, "accept": 0}
        lost = 0
        try:
            with open(self.out, errors="replace") as f:
                for line in f:
                    word = line.split(" ", 1)[0]
                    if word == "Lost":
                        lost += int(line.split()[1])
                    elif word == "exec" and f" ppid={me} " in line:
                        if int(line.split(" ", 2)[1][4:]) not in self.probes:
                            n["exec"] += 1
                    elif word in ("open", "delete") and f"path={work}/f" in line:
                        n[word] += 1
                    elif word in ("connect", "accept") and line.startswith(f"{word} pid={me} "):
                        n[word] += 1
        except OSError:
            return
        try:  # bpftrace may report lost perf-buffer events on stderr rather than in -o's file
            for line in open(f"{self.d}/{self.name}.err", errors="replace"):
                if line.startswith("Lost "):
                    lost += int(line.split()[1])
        except (OSError, ValueError):
            pass
        for storm, kinds in (("exec", ["exec"]), ("file", ["open", "delete"]), ("connect", ["connect", "accept"])):
            if storm in result:
                if not self.everything and storm != "exec":
                    result[storm]["seen"] = "not probed"
                else:
                    result[storm]["seen"] = "printed " + ", ".join(f"{k} {n[k]}" for k in kinds) + \
                        f" (lost reports for the whole run: {lost})"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        if os.path.exists(getattr(self, "out", "")):
            os.unlink(self.out)


class Agent(Monitor):
    def __init__(self, d, binary, sigmahq=None):
        super().__init__(d)
        self.binary = binary
        self.sigmahq = sigmahq
        self.name = "agent-sigmahq" if sigmahq else "agent"
        self.proc = None

    def start(self):
        edr = f"{self.binary}/edr"
        if not os.access(edr, os.X_OK) or not os.path.exists(f"{self.binary}/edr.bpf.o"):
            raise Unavailable(f"{edr} or {self.binary}/edr.bpf.o missing (make release)")
        if self.sigmahq is not None and not os.path.isdir(self.sigmahq):
            raise Unavailable(f"SigmaHQ Linux rules not found at {self.sigmahq}")
        d = f"{self.d}/{self.name}"
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        env = dict(os.environ, EDR__ALERTS__PATH=f'"{d}/alerts.ndjson"', EDR__SUPERVISOR__RUNTIME_DIR=f'"{d}/run"')
        if self.sigmahq:
            env["EDR__SIGMA__RULES"] = json.dumps([self.sigmahq, f"{REPO}/rules/sigma"])
        self.logpath = f"{d}/agent.log"
        log = open(self.logpath, "w")
        self.proc = subprocess.Popen([edr, "run", "--config", f"{REPO}/config/edr.toml"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        wait_for(lambda: self.proc.poll() is not None or "edr: ready" in open(self.logpath).read(), 120, "agent")
        if self.proc.poll() is not None:
            raise Unavailable("agent exited: " + open(self.logpath).read().strip()[-400:])
        time.sleep(1)
        self.kids = children(self.proc.pid)
        rules = [l for l in open(self.logpath) if "sigma" in l.lower() and "rule" in l.lower()]
        self.rules_line = rules[-1].strip() if rules else ""

    def pids(self):
        return {"edr": self.proc.pid} | self.kids

    def snapshot(self):
        sensor = self.kids.get("edr-sensor")
        try:
            return counters(sensor) if sensor and shutil.which("bpftool") else {}
        except (OSError, ValueError, json.JSONDecodeError):
            return {}

    def seen(self, before, after, storm):
        if not after:
            return "kernel counters unavailable (bpftool)"
        fam = {"exec": "exec", "file": "file", "connect": "net"}[storm]
        d = {c: after.get(f"{fam}.{c}", 0) - before.get(f"{fam}.{c}", 0) for c in ("submitted", "ring_full", "too_large")}
        return f"kernel {fam} submitted {d['submitted']}, ring_full {d['ring_full']}, too_large {d['too_large']}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def workload_cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def monitor_cpu(pids):
    total = {}
    for k, p in pids.items():
        try:
            total[k] = cpu_seconds(p)
        except OSError:
            total[k] = 0.0
    return total


def wait_idle(pids, limit=30.0):
    """Waits until the monitor's processes use under 2 % of a core over 0.5 s (the backlog is
    drained), at most `limit` seconds."""
    if not pids:
        return
    deadline = time.time() + limit
    prev = sum(monitor_cpu(pids).values())
    while time.time() < deadline:
        time.sleep(0.5)
        now = sum(monitor_cpu(pids).values())
        if now - prev < 0.01:
            return
        prev = now


def run_storm(storm, a, work):
    if storm == "exec":
        return exec_storm(a.execs)
    if storm == "file":
        return file_storm(a.files, work)
    return connect_storm(a.connects)


def measure(mon, a, work):
    out = {}
    pids = mon.pids()
    wait_idle(pids)  # start-up work (rule compilation, the agent's first scans) is not the storms'
    for storm in STORMS:
        snap0 = mon.snapshot()
        c0, w0 = monitor_cpu(pids), workload_cpu()
        wall = run_storm(storm, a, work)
        w1 = workload_cpu()
        wait_idle(pids)
        c1 = monitor_cpu(pids)
        snap1 = mon.snapshot()
        used = {k: c1[k] - c0[k] for k in pids}
        out[storm] = {"wall": wall, "workload_cpu": w1 - w0, "monitor_cpu": sum(used.values()),
                      "monitor_split": used, "seen": mon.seen(snap0, snap1, storm)}
    return out


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, ".build/release"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--execs", type=int, default=20000)
    ap.add_argument("--files", type=int, default=200000)
    ap.add_argument("--connects", type=int, default=20000)
    ap.add_argument("--monitors", default=",".join(MONITORS))
    ap.add_argument("--sigmahq", default=os.path.normpath(os.path.join(REPO, "../shared/corpora/sigmahq/rules/linux")))
    ap.add_argument("--json", help="write every run's figures here")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("storm_compare.py must run as root (auditd rules, bpftrace and the agent's BPF programs)", file=sys.stderr)
        return 2
    wanted = [m.strip() for m in a.monitors.split(",") if m.strip()]
    for m in wanted:
        if m not in MONITORS:
            ap.error(f"unknown monitor {m!r}; choose from {', '.join(MONITORS)}")
    a.bin = os.path.abspath(a.bin)
    a.sigmahq = os.path.abspath(a.sigmahq)

    d = tempfile.mkdtemp(prefix="edr-storms-")
    os.chmod(d, 0o755)
    work = f"{d}/work"
    os.makedirs(work)

    def make(name):
        return {"none": lambda: Monitor(d), "auditd": lambda: Auditd(d),
                "bpftrace-exec": lambda: Bpftrace(d, False), "bpftrace": lambda: Bpftrace(d, True),
                "agent": lambda: Agent(d, a.bin), "agent-sigmahq": lambda: Agent(d, a.bin, a.sigmahq)}[name]()

    # Ctrl-C, SIGTERM and SIGHUP raise KeyboardInterrupt (SIGINT explicitly: a shell starts
    # background jobs with it ignored), so the finally below always cleans up. The monitors run
    # in sessions of their own, so a Ctrl-C at the terminal reaches only this script, which
    # stops them in order (audit rules first).
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    unavailable = {}
    results = {m: [] for m in wanted}
    notes = {}
    loads = []
    current = None
    commit = sh("git", "-C", REPO, "rev-parse", "--short", "HEAD").stdout.strip()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    try:
        for run in range(a.runs):
            order = wanted[run % len(wanted):] + wanted[:run % len(wanted)]
            la = loadavg()
            loads.append(la)
            print(f"run {run + 1}/{a.runs}, load {' '.join(la)}, order {', '.join(order)}", flush=True)
            for name in order:
                if name in unavailable:
                    continue
                current = make(name)
                try:
                    current.start()
                except Unavailable as e:
                    unavailable[name] = str(e)
                    print(f"  {name}: unavailable: {e}", flush=True)
                    current.stop()
                    current = None
                    continue
                if isinstance(current, Agent) and current.rules_line:
                    notes[name] = current.rules_line
                try:
                    r = measure(current, a, work)
                finally:
                    current.stop()
                current.annotate(r, work)
                current.cleanup()
                current = None
                results[name].append(r)
                print(f"  {name:14s} " + "  ".join(
                    f"{s} {r[s]['wall']:.2f} s / {r[s]['monitor_cpu'] / n * 1e6:.1f} µs"
                    for s, n in (("exec", a.execs), ("file", a.files), ("connect", a.connects))), flush=True)
            loads.append(loadavg())
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({e or 'Ctrl-C'}), cleaning up", file=sys.stderr)
        return 130
    finally:
        if current is not None:
            current.stop()
        Bpftrace.release_tracefs()
        shutil.rmtree(d, ignore_errors=True)

    report(a, results, unavailable, notes, loads, commit, started)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"commit": commit, "started": started, "loads": loads, "args": vars(a),
                       "results": results, "unavailable": unavailable}, f, indent=1)
    return 0


def report(a, results, unavailable, notes, loads, commit, started):
    counts = {"exec": a.execs, "file": a.files, "connect": a.connects}
    label = {"exec": f"exec storm ({a.execs:,} posix_spawn of /bin/true)",
             "file": f"file storm ({a.files:,} × create, write, close, unlink)",
             "connect": f"connect storm ({a.connects:,} loopback connect + accept)"}
    print(f"\ncommit {commit}, started {started}, {a.runs} run(s); load averages (1/5/15 min) at the "
          f"start and end of each run: " + "; ".join("/".join(l) for l in loads))
    base = results.get("none", [])
    for storm in STORMS:
        n = counts[storm]
        print(f"\n{label[storm]}, medians of {a.runs} run(s)")
        print(f"| monitor | wall s | overhead (range) | workload CPU s (overhead) | monitor CPU µs/op | seen |")
        print("|---|---|---|---|---|---|")
        for name, runs in results.items():
            if not runs:
                continue
            walls = [r[storm]["wall"] for r in runs]
            wcpu = [r[storm]["workload_cpu"] for r in runs]
            mcpu = [r[storm]["monitor_cpu"] for r in runs]
            if name == "none" or len(base) < len(runs):
                over = "—"
                wover = ""
            else:
                ov = [(w / b[storm]["wall"] - 1) * 100 for w, b in zip(walls, base)]
                over = f"{statistics.median(ov):+.1f} % ({min(ov):+.1f}…{max(ov):+.1f})"
                wov = [(w / b[storm]["workload_cpu"] - 1) * 100 for w, b in zip(wcpu, base)]
                wover = f" ({statistics.median(wov):+.1f} %)"
            split = {}
            for r in runs:
                for k, v in r[storm]["monitor_split"].items():
                    split.setdefault(k, []).append(v / n * 1e6)
            detail = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in split.items())
            mon = "—" if name == "none" else f"{statistics.median(mcpu) / n * 1e6:.1f} ({detail})"
            seen = runs[-1][storm]["seen"] or ""
            print(f"| {name} | {statistics.median(walls):.2f} | {over} | {statistics.median(wcpu):.2f}{wover} | "
                  f"{mon} | {seen} |")
    for name, line in notes.items():
        print(f"\n{name}: {line}")
    if unavailable:
        print("\nunavailable monitors:")
        for name, why in unavailable.items():
            print(f"  {name}: {why}")


if __name__ == "__main__":
    sys.exit(main())
