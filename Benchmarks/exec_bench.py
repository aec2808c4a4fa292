#!/usr/bin/env python3
"""Exec → alert latency, exec-loop overhead and RSS of each child, with the real agent.

Usage (as root, after `make release`):
    python3 Benchmarks/exec_bench.py [--bin .build/release] [--execs 1000] [--loop 10000]
                                     [--under-load RATE]

--under-load RATE measures the latency while the host also runs RATE execs/s of /bin/true
(the batch delay then grows with the rate: BatchDelay.swift), and skips the other figures.

Latency is measured inside the agent's own records: @timestamp is the kernel's exec time
(boot clock mapped to wall time), event.created is when edr-detect wrote the alert.
"""
import argparse, json, os, subprocess, sys, tempfile, time, uuid

from agentproc import children, cpu_seconds, paced_execs, rss_kib

def percentile(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f, c = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)

def parse_ts(s):
    # 2026-11-29T01:02:03.456789Z
    date, frac = s.rstrip("Z").split(".")
    return time.mktime(time.strptime(date, "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + frac)

def exec_loop(n, marker):
    """n sequential fork+exec of /bin/true from a C-like loop (posix_spawn), wall seconds."""
    t0 = time.perf_counter()
    for _ in range(n):
        pid = os.posix_spawn("/bin/true", ["/bin/true", marker], {})
        os.waitpid(pid, 0)
    return time.perf_counter() - t0

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--execs", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=10000)
    ap.add_argument("--under-load", type=float, default=0, metavar="RATE")
    a = ap.parse_args()
    marker = "edrbench" + uuid.uuid4().hex[:12]
    d = tempfile.mkdtemp(prefix="edr-bench-")
    os.chmod(d, 0o755)
    os.makedirs(f"{d}/rules")
    os.chmod(f"{d}/rules", 0o755)
    with open(f"{d}/rules/bench.yml", "w") as f:
        f.write(f"""title: bench marker
id: 22222222-0000-4000-8000-{marker[-12:]}
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        CommandLine|contains: '{marker}'
    condition: selection
level: low
""")
    os.chmod(f"{d}/rules/bench.yml", 0o644)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(f"{d}/edr.toml", "w") as f:
        f.write(f"""[sigma]
rules = ["{repo}/rules/sigma", "{d}/rules"]
[alerts]
path = "{d}/alerts.ndjson"
[supervisor]
runtime_dir = "{d}/run"
""")
    # Baseline first, without the agent.
    base = 0 if a.under_load else exec_loop(a.loop, marker + "-base")
    agent = subprocess.Popen([f"{a.bin}/edr", "run", "--config", f"{d}/edr.toml"],
                             stdout=subprocess.DEVNULL, stderr=open(f"{d}/agent.log", "w"))
    deadline = time.time() + 60
    while time.time() < deadline and "edr: ready" not in open(f"{d}/agent.log").read():
        time.sleep(0.05)
    kids = children(agent.pid)
    rss_idle = {k: rss_kib(v) for k, v in kids.items()}
    # Latency: spaced execs so each is measured on its own, not queued behind the last.
    load = None
    if a.under_load > 0:
        import threading
        seconds = a.execs * 0.012 + 2
        load = threading.Thread(target=paced_execs, args=(a.under_load, seconds, "plain"))
        load.start()
        time.sleep(1)
    for _ in range(a.execs):
        pid = os.posix_spawn("/bin/true", ["/bin/true", marker], {})
        os.waitpid(pid, 0)
        time.sleep(0.01 if load else 0.002)
    if load:
        load.join()
    time.sleep(2)
    if load:
        agent.terminate()
        agent.wait(timeout=30)
        lat = [(parse_ts(j["event"]["created"]) - parse_ts(j["@timestamp"])) * 1000
               for j in map(json.loads, open(f"{d}/alerts.ndjson"))
               if j.get("process", {}).get("command_line", "").endswith(marker)]
        print(f"exec→alert latency over {len(lat)} execs (of {a.execs}) while the host runs {a.under_load:,.0f} execs/s: "
              f"p50 {percentile(lat, 50):.3f} ms, p99 {percentile(lat, 99):.3f} ms, max {max(lat):.3f} ms")
        return 0 if len(lat) == a.execs else 1
    cpu0 = {k: cpu_seconds(v) for k, v in kids.items()}
    with_agent = exec_loop(a.loop, marker + "-loop")
    time.sleep(3)
    cpu = {k: cpu_seconds(v) - cpu0[k] for k, v in kids.items()}
    # The figure: the agent's CPU while the host runs 1,600 execs/s (none alerting).
    c0 = {k: cpu_seconds(v) for k, v in kids.items()}
    w0 = time.perf_counter()
    execs, elapsed = paced_execs(1600, 10, "plain")
    achieved = execs / elapsed
    time.sleep(0.5)
    wall = time.perf_counter() - w0
    paced_cpu = {k: cpu_seconds(v) - c0[k] for k, v in kids.items()}
    rss_busy = {k: rss_kib(v) for k, v in kids.items()}
    agent.terminate()
    agent.wait(timeout=30)
    base2 = exec_loop(a.loop, marker + "-base2")
    base = (base + base2) / 2
    lat, loop_alerts = [], 0
    for line in open(f"{d}/alerts.ndjson"):
        j = json.loads(line)
        cmd = j.get("process", {}).get("command_line", "")
        if cmd.endswith(marker + "-loop"):
            loop_alerts += 1
        elif cmd.endswith(marker):
            lat.append((parse_ts(j["event"]["created"]) - parse_ts(j["@timestamp"])) * 1000)
    print(f"exec→alert latency over {len(lat)} execs (of {a.execs}): "
          f"p50 {percentile(lat, 50):.3f} ms, p99 {percentile(lat, 99):.3f} ms, max {max(lat):.3f} ms")
    print(f"{a.loop}-exec loop: {base:.2f} s without the agent (mean of before and after), {with_agent:.2f} s with it "
          f"({(with_agent / base - 1) * 100:+.1f}%), {loop_alerts} of {a.loop} loop execs alerted")
    total_cpu = sum(cpu.values())
    print(f"agent CPU during the alerting loop: {total_cpu:.2f} s for {a.loop} execs = {total_cpu / a.loop * 1e6:.0f} µs per exec "
          f"(" + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(cpu.items())) + f"); at 1,600 execs/s that is "
          f"{total_cpu / a.loop * 1600 * 100:.1f}% of one core")
    pc = sum(paced_cpu.values())
    print(f"agent CPU at {achieved:.0f} execs/s for {wall:.1f} s (no alerts): {pc / wall * 100:.2f}% of one core ("
          + ", ".join(f"{k} {v / wall * 100:.2f}%" for k, v in sorted(paced_cpu.items())) + ")")
    for k in sorted(kids):
        print(f"RSS {k}: {rss_idle.get(k, 0) / 1024:.1f} MiB idle, {rss_busy.get(k, 0) / 1024:.1f} MiB after the runs")
    ok = len(lat) == a.execs and loop_alerts == a.loop
    print("all execs alerted (none lost)" if ok else "LOST EVENTS")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
