#!/usr/bin/env python3
"""The exec hook's own cost in the kernel: the BPF program edr_exec's run time per exec, as the
kernel counts it (kernel.bpf_stats_enabled, turned on for the run and restored), for execs of
/bin/true with an empty environment and with one of --env-bytes bytes, plainly and as a #!
script. The agent's user-space CPU is cpu_bench.py's figure; this is the part charged to the
process that execs.

Usage (as root, after `make release`):
    python3 Benchmarks/exec_hook_cost.py [--bin .build/release] [--execs 5000] [--env-bytes 4096]
"""
import argparse, json, os, subprocess, tempfile, time


def prog_stats(name):
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    for p in json.loads(out):
        if p.get("name") == name:
            return p.get("run_time_ns", 0), p.get("run_cnt", 0)
    raise SystemExit(f"no BPF program {name} loaded")


def storm(path, n, env):
    for _ in range(n):
        pid = os.posix_spawn(path, [path], env)
        os.waitpid(pid, 0)


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--execs", type=int, default=5000)
    ap.add_argument("--env-bytes", type=int, default=4096)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="edr-hook-")
    os.chmod(d, 0o755)
    with open(f"{d}/edr.toml", "w") as f:
        f.write(f'[sigma]\nrules = ["{repo}/rules/sigma"]\n')
    script = f"{d}/s.sh"
    with open(script, "w") as f:
        f.write("#!/bin/true\n")
    os.chmod(script, 0o755)
    env = {}
    i = 0
    while sum(len(k) + len(v) + 2 for k, v in env.items()) < a.env_bytes:
        env[f"EDR_BENCH_PAD{i}"] = "p" * 100
        i += 1
    envs = {"empty env": {}, f"{a.env_bytes} B env": env}
    cfg = dict(os.environ, EDR__ALERTS__PATH=f'"{d}/alerts.ndjson"', EDR__SUPERVISOR__RUNTIME_DIR=f'"{d}/run"')
    log = open(f"{d}/agent.log", "w")
    agent = subprocess.Popen([f"{a.bin}/edr", "run", "--config", f"{d}/edr.toml"], env=cfg,
                             stdout=subprocess.DEVNULL, stderr=log)
    old = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    try:
        deadline = time.time() + 60
        while time.time() < deadline and "edr: ready" not in open(f"{d}/agent.log").read():
            time.sleep(0.05)
        open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
        for what, path in [("/bin/true", "/bin/true"), ("#! script", script)]:
            for label, e in envs.items():
                t0, c0 = prog_stats("edr_exec")
                storm(path, a.execs, e)
                t1, c1 = prog_stats("edr_exec")
                n = c1 - c0
                print(f"{what}, {label}: edr_exec {((t1 - t0) / n if n else 0):.0f} ns per run over {n} runs")
    finally:
        open("/proc/sys/kernel/bpf_stats_enabled", "w").write(old)
        agent.terminate()
        agent.wait(timeout=30)


if __name__ == "__main__":
    main()
