#!/usr/bin/env python3
"""Start-up time of the agent: from `edr run` to its "edr: ready" line (every child confined,
the BPF programs attached, the rules loaded, the detector connected and warm), and to a clean
stop on SIGTERM.

Usage (as root, after `make release`):
    python3 Benchmarks/startup_bench.py [--bin .build/release] [--config config/edr.toml] [--runs 5]

--config defaults to the bundled config/edr.toml (its alert file is redirected to a
temporary directory).
"""
import argparse, os, signal, statistics, subprocess, tempfile, time


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--config", default=os.path.join(repo, "config/edr.toml"))
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="edr-start-")
    os.chmod(d, 0o755)
    env = dict(os.environ, EDR__ALERTS__PATH=f"{d}/alerts.ndjson")
    ready, stop = [], []
    for _ in range(a.runs):
        log = f"{d}/agent.log"
        t0 = time.perf_counter()
        agent = subprocess.Popen([f"{a.bin}/edr", "run", "--config", a.config], stdout=subprocess.DEVNULL,
                                 stderr=open(log, "w"), env=env)
        while "edr: ready" not in open(log).read():
            if agent.poll() is not None or time.perf_counter() - t0 > 120:
                raise SystemExit("agent did not become ready:\n" + open(log).read())
            time.sleep(0.005)
        ready.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        stop.append(time.perf_counter() - t1)
        time.sleep(0.5)
    print(f"config: {a.config}")
    print(f"start to ready over {a.runs} runs: median {statistics.median(ready) * 1000:.0f} ms "
          f"(min {min(ready) * 1000:.0f}, max {max(ready) * 1000:.0f})")
    print(f"SIGTERM to exit: median {statistics.median(stop) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
