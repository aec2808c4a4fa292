#!/usr/bin/env python3
"""Telemetry overhead and loss, with the real agent (release build).

Usage (as root, after `make release`):
    python3 Benchmarks/telemetry_bench.py [--bin .build/release] [--execs 20000] [--files 200000]
        [--connects 20000] [--rate 1600] [--seconds 10] [--ring-mib 16] [--replay-mib 64]

Prints, each without and with the agent: an exec storm (posix_spawn of /bin/true), a file storm
(create, write, delete), a loopback connect storm (127.0.0.1 only); the agent's CPU (sensor +
detector + supervisor, from /proc/PID/stat) while execs run at --rate per second; and a loss
ramp: file-event storms from 1..N parallel writers, the kernel's submitted and ring-full
counters (read from the sensor's own edr_counters map with bpftool) and the sensor's
pending frames. Only the loopback interface is used.
"""
import argparse, json, os, signal, socket, subprocess, sys, tempfile, threading, time

from agentproc import children, cpu_seconds, paced_execs

FAMILIES = ["exec", "exit", "fork", "net", "file", "dns", "attack", "cgroup"]
# enum edr_counter in bpf/edr_events.h (KernelCounters.counters in Sources/EDRCore/Wire.swift)
COUNTERS = ["seen", "submitted", "ring_full", "too_large", "no_state"]


def exec_storm(n):
    t0 = time.perf_counter()
    for _ in range(n):
        pid = os.posix_spawn("/bin/true", ["/bin/true"], {})
        os.waitpid(pid, 0)
    return time.perf_counter() - t0


def file_storm(n, d):
    t0 = time.perf_counter()
    for i in range(n):
        p = f"{d}/f{i}"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x")
        os.close(fd)
        os.unlink(p)
    return time.perf_counter() - t0


def connect_storm(n):
    l = socket.socket()
    l.bind(("127.0.0.1", 0))
    l.listen(512)
    port = l.getsockname()[1]
    stop = False

    def acceptor():
        while not stop:
            try:
                s, _ = l.accept()
                s.close()
            except OSError:
                return
    t = threading.Thread(target=acceptor, daemon=True)
    t.start()
    t0 = time.perf_counter()
    for _ in range(n):
        c = socket.socket()
        c.connect(("127.0.0.1", port))
        c.close()
    el = time.perf_counter() - t0
    stop = True
    l.close()
    return el


def counters(sensor_pid):
    """Kernel counters summed over CPUs, from the edr_counters map the sensor holds."""
    held = set()  # map ids among the sensor's descriptors (bpftool here has no "pids" column)
    for fd in os.listdir(f"/proc/{sensor_pid}/fdinfo"):
        try:
            for line in open(f"/proc/{sensor_pid}/fdinfo/{fd}"):
                if line.startswith("map_id:"):
                    held.add(int(line.split()[1]))
        except OSError:
            pass
    maps = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True).stdout)
    ids = [m["id"] for m in maps if m.get("name") == "edr_counters" and m["id"] in held]
    if not ids:
        return {}
    dump = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(ids[0])], capture_output=True, text=True).stdout)
    out = {}
    for e in dump:
        k = e["key"] if isinstance(e["key"], int) else int.from_bytes(bytes(int(x, 16) for x in e["key"]), "little")
        vals = e.get("values") or e.get("formatted", {}).get("values", [])
        total = 0
        for v in vals:
            val = v["value"]
            total += val if isinstance(val, int) else int.from_bytes(bytes(int(x, 16) for x in val), "little")
        f, c = divmod(k, len(COUNTERS))
        if f < len(FAMILIES):
            out[f"{FAMILIES[f]}.{COUNTERS[c]}"] = total
    return out


def start_agent(binary, d, ring_mib, replay_mib):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(f"{d}/edr.toml", "w") as f:
        f.write(f"""[sigma]
rules = ["{repo}/rules/sigma"]
[alerts]
path = "{d}/alerts.ndjson"
[sensor]
ring_buffer_mib = {ring_mib}
replay_buffer_mib = {replay_mib}
stats_interval_seconds = 1
[supervisor]
runtime_dir = "{d}/run"
""")
    log = open(f"{d}/agent.log", "w")
    agent = subprocess.Popen([f"{binary}/edr", "run", "--config", f"{d}/edr.toml"], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline and "edr: ready" not in open(f"{d}/agent.log").read():
        time.sleep(0.05)
    time.sleep(0.5)
    return agent, children(agent.pid)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--execs", type=int, default=20000)
    ap.add_argument("--files", type=int, default=200000)
    ap.add_argument("--connects", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=1600)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--ring-mib", type=int, default=16)
    ap.add_argument("--replay-mib", type=int, default=64)
    ap.add_argument("--ramp-files", type=int, default=100000, help="files per writer in the loss ramp")
    ap.add_argument("--ramp-writers", type=int, default=4)
    ap.add_argument("--stall-files", type=int, default=0,
                    help="files created and deleted while edr-detect is stopped (shows where loss is counted)")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="edr-telbench-")
    os.chmod(d, 0o755)
    work = f"{d}/work"
    os.makedirs(work)

    base = {"exec": exec_storm(a.execs), "file": file_storm(a.files, work), "connect": connect_storm(a.connects)}
    agent, kids = start_agent(a.bin, d, a.ring_mib, a.replay_mib)
    sensor = kids.get("edr-sensor")
    try:
        c0 = counters(sensor)
        withp = {"exec": exec_storm(a.execs), "file": file_storm(a.files, work), "connect": connect_storm(a.connects)}
        time.sleep(2)
        c1 = counters(sensor)
        for k, n in (("exec", a.execs), ("file", a.files), ("connect", a.connects)):
            print(f"{k} storm ({n}): {base[k]:.2f} s without the agent, {withp[k]:.2f} s with it "
                  f"({(withp[k] / base[k] - 1) * 100:+.1f}%)")
        for fam in ("exec", "file", "net"):
            print(f"  kernel {fam}: submitted {c1.get(fam + '.submitted', 0) - c0.get(fam + '.submitted', 0)}, "
                  f"ring_full {c1.get(fam + '.ring_full', 0) - c0.get(fam + '.ring_full', 0)}, "
                  f"too_large {c1.get(fam + '.too_large', 0) - c0.get(fam + '.too_large', 0)}")

        # Agent CPU at a fixed exec rate.
        procs = [agent.pid] + list(kids.values())
        t0 = {p: cpu_seconds(p) for p in procs}
        n, el = paced_execs(a.rate, a.seconds)
        time.sleep(1)
        used = {p: cpu_seconds(p) - t0[p] for p in procs}
        total = sum(used.values())
        names = {agent.pid: "edr"} | {v: k for k, v in kids.items()}
        detail = ", ".join(f"{names[p]} {used[p] / (el + 1) * 100:.2f}%" for p in procs)
        print(f"agent CPU at {n / el:.0f} execs/s for {el:.1f} s: {total / (el + 1) * 100:.2f}% of one core ({detail})")

        # Loss ramp: parallel file writers, events/s the kernel submitted vs lost.
        for writers in range(1, a.ramp_writers + 1):
            c0 = counters(sensor)
            t = time.perf_counter()
            ps = []
            for w in range(writers):
                wd = f"{work}/w{w}"
                os.makedirs(wd, exist_ok=True)
                pid = os.fork()
                if pid == 0:
                    file_storm(a.ramp_files, wd)
                    os._exit(0)
                ps.append(pid)
            for p in ps:
                os.waitpid(p, 0)
            el = time.perf_counter() - t
            # Let the detector drain, then compare.
            drain0 = time.perf_counter()
            time.sleep(3)
            c1 = counters(sensor)
            sub = sum(c1.get(f + ".submitted", 0) - c0.get(f + ".submitted", 0) for f in FAMILIES)
            lost = sum(c1.get(f + ".ring_full", 0) - c0.get(f + ".ring_full", 0) + c1.get(f + ".too_large", 0)
                       - c0.get(f + ".too_large", 0) for f in FAMILIES)
            print(f"loss ramp, {writers} writer(s): {sub / el:,.0f} events/s submitted for {el:.1f} s, "
                  f"{lost} lost (ring_full + too_large){'  <- loss begins' if lost else ''}")
        # Loss on purpose: stop edr-detect (SIGSTOP) during a file storm. The sensor keeps
        # what the detector has not acknowledged until its replay buffer is full, then stops
        # draining; the ring buffer fills and the kernel counts every record it cannot write.
        if a.stall_files:
            detect = kids.get("edr-detect")
            c0 = counters(sensor)
            os.kill(detect, signal.SIGSTOP)
            t = time.perf_counter()
            file_storm(a.stall_files, work)
            el = time.perf_counter() - t
            c1 = counters(sensor)
            os.kill(detect, signal.SIGCONT)
            time.sleep(3)
            c2 = counters(sensor)
            sub = sum(c1.get(f + ".submitted", 0) - c0.get(f + ".submitted", 0) for f in FAMILIES)
            full = sum(c1.get(f + ".ring_full", 0) - c0.get(f + ".ring_full", 0) for f in FAMILIES)
            seen = sum(c1.get(f + ".seen", 0) - c0.get(f + ".seen", 0) for f in FAMILIES)
            print(f"detector stopped during {a.stall_files} file create+delete ({el:.1f} s): kernel submitted {sub}, "
                  f"ring_full {full} (seen by the hooks {seen}); after SIGCONT the loss stays counted: "
                  f"ring_full total {sum(c2.get(f + '.ring_full', 0) for f in FAMILIES)}")
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    log = open(f"{d}/agent.log").read()
    losses = [l for l in log.splitlines() if "loss accounting" in l]
    if losses:
        print("last loss accounting line:", losses[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
