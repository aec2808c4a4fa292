#!/usr/bin/env bash
# A throwaway Debian system with systemd as PID 1, booted by systemd-nspawn over an overlay
# of this host's root: for the tests that install the package and run edr.service under a
# real systemd (Tests/EndToEndTests/SystemdTests.swift).
#
#   scripts/nspawn.sh up DIR      overlay-mount / at DIR/root, new machine-id, boot, wait
#   scripts/nspawn.sh run DIR CMD run CMD inside (all namespaces of the container's PID 1)
#   scripts/nspawn.sh down DIR    power off, unmount, remove DIR
#
# eBPF and Landlock need more than nspawn's default syscall filter gives a container: the
# boot adds bpf, perf_event_open and the three landlock calls (docs/operations.md).
set -euo pipefail
cmd=$1 dir=$2
shift 2
init_pid() { pgrep -P "$(cat "$dir/nspawn.pid")" | head -1; }
case $cmd in
up)
    mkdir -p "$dir/upper" "$dir/work" "$dir/root"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
    cat /proc/sys/kernel/random/uuid | tr -d - > "$dir/root/etc/machine-id"
    # The container outlives this script: it must hold none of our caller's descriptors (a
    # caller waiting for a pipe or socket to close would wait for the container).
    for fd in /proc/$$/fd/*; do
        n=${fd##*/}
        [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n>&-" || true
    done
    setsid systemd-nspawn --register=no --link-journal=no --keep-unit --quiet -D "$dir/root" --capability=all \
        --system-call-filter="bpf perf_event_open landlock_create_ruleset landlock_add_rule landlock_restrict_self" \
        -b </dev/null >"$dir/console.log" 2>&1 &
    echo $! > "$dir/nspawn.pid"
    for _ in $(seq 1 600); do
        pid=$(init_pid || true)
        if [ -n "$pid" ]; then
            state=$(nsenter -t "$pid" -a systemctl is-system-running 2>/dev/null || true)
            case $state in running|degraded) echo "$state"; exit 0 ;; esac
        fi
        sleep 0.2
    done
    echo "the container's systemd did not come up" >&2
    tail -30 "$dir/console.log" >&2
    exit 1
    ;;
run)
    exec nsenter -t "$(init_pid)" -a "$@"
    ;;
down)
    if [ -f "$dir/nspawn.pid" ]; then
        pid=$(cat "$dir/nspawn.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    umount -l "$dir/root" 2>/dev/null || true
    rm -rf "$dir"
    ;;
*) echo "usage: $0 up|run|down DIR [CMD…]" >&2; exit 64 ;;
esac
