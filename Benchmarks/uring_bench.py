#!/usr/bin/env python3
"""io_uring storms without and with the agent.

Usage (as root, after `make build` or `make release`):
    python3 Benchmarks/uring_bench.py [--bin .build/release] [--ops 100000] [--rounds 3]

Builds Benchmarks/uring_storm.c (liburing), then alternates, --rounds times: the storm without
the agent, the storm with it (every hook loaded, bundled Sigma rules); wall and CPU time
(user + system of the storm process, io-wq workers included) are reported. Two storms of --ops
requests each, one request at a time: IORING_OP_NOP (the io_uring programs run and leave on
the opcode) and files (openat O_CREAT, close, unlinkat through io_uring: a create and a delete
record per file). With the agent it also reads the kernel's file counters (submitted,
ring_full, too_large) and, with kernel.bpf_stats_enabled=1 for the run, the io_uring programs'
own run time per call.
"""
import argparse, json, os, statistics, subprocess, tempfile, time

from telemetry_bench import counters, start_agent


def storm(binary, mode, d, ops):
    out = subprocess.run([binary, mode, d, str(ops)], capture_output=True, text=True, check=True)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def prog_stats():
    progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout)
    return {p["name"]: (p.get("run_time_ns", 0), p.get("run_cnt", 0)) for p in progs if p.get("name", "").startswith("edr_uring")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--ops", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    d = tempfile.mkdtemp(prefix="edr-uringbench-")
    os.chmod(d, 0o755)
    work = f"{d}/work"
    os.makedirs(work)
    binary = f"{d}/uring_storm"
    subprocess.run(["cc", "-O2", "-o", binary, f"{repo}/Benchmarks/uring_storm.c", "-luring"], check=True)
    times = {(m, w): [] for m in ("nop", "file") for w in ("without", "with")}
    for r in range(a.rounds):
        for m in ("nop", "file"):
            times[(m, "without")].append(storm(binary, m, work, a.ops))
        agent, kids = start_agent(os.path.abspath(a.bin), d, 16, 64)
        sensor = kids.get("edr-sensor")
        try:
            subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
            before = counters(sensor) if sensor else {}
            for m in ("nop", "file"):
                s0 = prog_stats()
                times[(m, "with")].append(storm(binary, m, work, a.ops))
                s1 = prog_stats()
                per = {n: (s1[n][0] - s0.get(n, (0, 0))[0]) / max(1, s1[n][1] - s0.get(n, (0, 0))[1]) for n in s1}
                print(f"round {r + 1} {m}: " + ", ".join(f"{n} {v:.0f} ns/call" for n, v in sorted(per.items())))
            time.sleep(2)
            after = counters(sensor) if sensor else {}
            print(f"round {r + 1} kernel file counters: " +
                  ", ".join(f"{k} +{after.get(k, 0) - before.get(k, 0)}" for k in ("file.submitted", "file.ring_full", "file.too_large")))
        finally:
            subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"])
            agent.terminate()
            agent.wait(30)
    for m in ("nop", "file"):
        for i, what in ((0, "wall"), (1, "CPU")):
            wo, wi = [t[i] for t in times[(m, "without")]], [t[i] for t in times[(m, "with")]]
            mo, mi = statistics.median(wo), statistics.median(wi)
            print(f"{m:4} storm, {a.ops} ops, {what:4}: without {', '.join(f'{x:.3f}' for x in wo)} s (median {mo:.3f}); "
                  f"with {', '.join(f'{x:.3f}' for x in wi)} s (median {mi:.3f}): {100 * (mi - mo) / mo:+.1f} %, "
                  f"{1e9 * (mi - mo) / a.ops:+.0f} ns per request")


if __name__ == "__main__":
    main()
