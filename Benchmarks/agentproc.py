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
    return cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def paced_execs(rate, seconds, arg=None):
    """/bin/true at a fixed rate from one spawner that waits for each child.
    Returns (execs, elapsed seconds)."""
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
