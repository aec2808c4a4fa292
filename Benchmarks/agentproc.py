"""Helpers the benchmark scripts share: the agent's children, their CPU time and RSS from
/proc, and a paced exec loop."""
import os, time


def children(sup):
    """comm → pid of the processes whose parent is `sup`."""
    out = {}
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            stat = open(f"/proc/{e}/stat").read()
            if int(stat[stat.rindex(")") + 2:].split()[1]) == sup:
                out[open(f"/proc/{e}/comm").read().strip()] = int(e)
        except (OSError, ValueError):
            pass
    return out


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid):
    """CPU time of every thread of a process in nanosecond resolution (schedstat), falling
    back to clock ticks (10 ms resolution) when schedstat is missing."""
    try:
        total = 0
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        return cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _spawner():
    """Builds Benchmarks/paced_spawn.c with the C compiler beside swift (or cc); None if none."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = "/tmp/edr-paced-spawn"
    src = os.path.join(here, "paced_spawn.c")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    import shutil, subprocess
    swift = shutil.which("swift")
    candidates = ([os.path.join(os.path.dirname(os.path.realpath(swift)), "clang")] if swift else []) + ["cc", "gcc", "clang"]
    for cc in candidates:
        if shutil.which(cc) or os.path.exists(cc):
            if subprocess.run([cc, "-O2", "-o", out, src], capture_output=True).returncode == 0:
                return out
    return None


class CgroupCPU:
    """CPU time of a process tree, exact: the tree runs in a cgroup v2 group of its own, whose
    cpu.stat counts every thread that ever ran in it (per-thread schedstat misses threads that
    exited, such as the detector's worker thread after loading). `enter` is a preexec_fn for
    the tree's root; `usage()` is seconds so far, or None when there is no cgroup v2 mount."""

    def __init__(self, name):
        self.path = None
        try:
            with open("/proc/mounts") as f:
                mounts = [l.split()[1] for l in f if l.split()[2] == "cgroup2"]
            if mounts:
                self.path = os.path.join(mounts[0], f"{name}-{os.getpid()}")
                os.makedirs(self.path, exist_ok=True)
        except OSError:
            self.path = None

    def enter(self):
        if self.path:
            try:
                with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                    f.write("0")
            except OSError:
                pass

    def usage(self):
        if not self.path:
            return None
        try:
            with open(os.path.join(self.path, "cpu.stat")) as f:
                for line in f:
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        except OSError:
            return None
        return None

    def remove(self):
        if self.path:
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def paced_execs(rate, seconds, arg=None):
    """/bin/true at a fixed rate, each spawner waiting for its child: two C spawners
    (Python alone tops out near 1,200 execs/s on a small VM), else one Python loop.
    Returns (execs, elapsed seconds)."""
    spawner = _spawner()
    if spawner:
        # Two spawners at half the rate each: one alone tops out near 1,500 execs/s here.
        import subprocess
        procs = [subprocess.Popen([spawner, str(rate / 2), str(seconds)] + ([arg] if arg else []),
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
        results = [p.communicate()[0].split() for p in procs]
        return sum(int(r[0]) for r in results), max(float(r[1]) for r in results)
    n = int(rate * seconds)
    argv = ["/bin/true"] + ([arg] if arg else [])
    t0 = time.perf_counter()
    for i in range(n):
        target = t0 + i / rate
        now = time.perf_counter()
        if target > now:
            time.sleep(target - now)
        pid = os.posix_spawn("/bin/true", argv, {})
        os.waitpid(pid, 0)
    return n, time.perf_counter() - t0
