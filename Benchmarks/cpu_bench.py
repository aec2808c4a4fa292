#!/usr/bin/env python3
"""The agent's CPU while the host runs execs at a fixed rate (the issue's figure: 1,600/s),
and while the host is idle, with a chosen configuration.

Usage (as root, after `make release`):
    python3 Benchmarks/cpu_bench.py [--bin .build/release] [--config config/edr.toml]
                                    [--rate 1600] [--seconds 10] [--sigma-only]
                                    [--sigmahq DIR]

--config defaults to the bundled config/edr.toml (Sigma, YARA and IOC on every executed
file); its alert file and runtime directory are redirected to a temporary directory.
--sigma-only runs the bundled Sigma rules alone (no YARA/IOC, so the sensor passes no
executables); --sigmahq DIR runs them with every rule under DIR beside them (issue 16's
figure: DIR = ../shared/corpora/sigmahq/rules/linux). CPU is every thread's run time from /proc/PID/task/*/schedstat (ns),
per process; and, where cgroup v2 is mounted, the whole tree's from a group of its own
(cpu.stat: exact, threads that exited included).
"""
import argparse, os, subprocess, sys, tempfile, time

from agentproc import CgroupCPU, children, cpu_seconds, paced_execs


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--config", default=os.path.join(repo, "config/edr.toml"))
    ap.add_argument("--sigma-only", action="store_true")
    ap.add_argument("--sigmahq", metavar="DIR", help="the bundled Sigma rules plus every rule under DIR (no YARA/IOC)")
    ap.add_argument("--rate", type=float, default=1600)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="edr-cpu-")
    os.chmod(d, 0o755)
    config = a.config
    if a.sigma_only or a.sigmahq:
        config = f"{d}/edr.toml"
        extra = f', "{os.path.abspath(a.sigmahq)}"' if a.sigmahq else ""
        with open(config, "w") as f:
            f.write(f'[sigma]\nrules = ["{repo}/rules/sigma"{extra}]\n')
    env = dict(os.environ, EDR__ALERTS__PATH=f'"{d}/alerts.ndjson"', EDR__SUPERVISOR__RUNTIME_DIR=f'"{d}/run"')
    log = open(f"{d}/agent.log", "w")
    group = CgroupCPU("edr-cpu-bench")
    agent = subprocess.Popen([f"{a.bin}/edr", "run", "--config", config], env=env,
                             stdout=subprocess.DEVNULL, stderr=log, preexec_fn=group.enter)
    deadline = time.time() + 60
    while time.time() < deadline and "edr: ready" not in open(f"{d}/agent.log").read():
        time.sleep(0.05)
    time.sleep(1)
    kids = children(agent.pid)
    procs = {"edr": agent.pid} | kids
    try:
        c0 = {k: cpu_seconds(p) for k, p in procs.items()}
        w0 = time.perf_counter()
        time.sleep(5)
        idle_wall = time.perf_counter() - w0
        idle = {k: (cpu_seconds(p) - c0[k]) / idle_wall * 100 for k, p in procs.items()}

        c0 = {k: cpu_seconds(p) for k, p in procs.items()}
        g0 = group.usage()
        w0 = time.perf_counter()
        n, elapsed = paced_execs(a.rate, a.seconds, "plain")
        time.sleep(0.5)
        wall = time.perf_counter() - w0
        used = {k: cpu_seconds(p) - c0[k] for k, p in procs.items()}
        g1 = group.usage()
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        group.remove()
    total = sum(used.values())
    what = f"bundled Sigma rules + {a.sigmahq}" if a.sigmahq else "bundled Sigma rules only" if a.sigma_only else config
    print(f"config: {what}")
    print(f"idle, 5 s: {sum(idle.values()):.3f}% of one core (" + ", ".join(f"{k} {v:.3f}%" for k, v in sorted(idle.items())) + ")")
    print(f"{n / elapsed:,.0f} execs/s for {wall:.1f} s ({n} execs): agent {total / wall * 100:.2f}% of one core, "
          f"{total / n * 1e6:.1f} µs per exec (" + ", ".join(f"{k} {v / wall * 100:.2f}%" for k, v in sorted(used.items())) + ")")
    if g0 is not None and g1 is not None:
        print(f"the agent's cgroup (every process and thread, exited ones included): {(g1 - g0) / wall * 100:.2f}% of one core, "
              f"{(g1 - g0) / n * 1e6:.1f} µs per exec")
    for line in open(f"{d}/agent.log"):
        if "stopping:" in line:
            print(line.strip().split(": ", 1)[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
