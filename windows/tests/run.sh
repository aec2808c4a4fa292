#!/bin/bash
# The Windows programs under Wine: one PASS/FAIL/SKIP line per named step; exit 1 on any FAIL.
# A SKIP names the Windows API Wine does not implement (or accepts without effect) and what it
# returned; only that step is skipped. Called by `make test-windows` after `make windows`.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${WIN_OUT:-.build/windows}
export WINEPREFIX=${WINEPREFIX:-$ROOT/.build/wineprefix}
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY
WORK=$ROOT/$OUT/test
rm -rf "$WORK"
mkdir -p "$WORK"

pass=0 fail=0 skip=0
PASS() { echo "PASS $1${2:+: $2}"; pass=$((pass + 1)); }
FAIL() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
SKIP() { echo "SKIP $1${2:+: $2}"; skip=$((skip + 1)); }
# Windows path of a Linux path (Wine maps / to Z:).
win() { local p; p=$(readlink -f "$1"); echo "Z:${p//\//\\}"; }
W() { timeout "${T:-60}" wine "$@"; }
# The first "<API> failed: error <N>" a log holds.
api_failure() { grep -o '[A-Za-z0-9_]*([^)]*) failed: error [0-9]*\|[A-Za-z0-9_]\+ failed: error [0-9]*' "$1" | head -1; }

if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "creating the Wine prefix $WINEPREFIX (once)"
    wine wineboot -i >/dev/null 2>&1
fi
# One server for the whole run. A server already running (wineboot's, or one a killed run left)
# does not take -p, exits when idle and a later command starts another: each start runs
# services.exe's auto-start pass again, which can start the service the moment it is installed.
wineserver -k 2>/dev/null
wineserver -w
if ! wineserver -p 60; then echo "wineserver -p 60 failed: a server for $WINEPREFIX is still running" >&2; exit 1; fi

SENSOR=$OUT/edr-sensor.exe SERVICE=$OUT/edr-service.exe CLIENT=$OUT/pipe-client.exe CHILD=$OUT/test-child.exe
FIX=$WORK/fixtures
bad_offset=$(python3 windows/tests/make-fixtures.py "$FIX")
FIXW=$(win "$FIX")

# --- the outputs are Windows x86-64 programs
for exe in "$SENSOR" "$SERVICE" "$CLIENT" "$CHILD"; do
    d=$(file -b "$exe")
    case "$d" in
    *PE32+*x86-64*) PASS "pe32+ $(basename "$exe")" "$d" ;;
    *) FAIL "pe32+ $(basename "$exe")" "$d" ;;
    esac
done

# --- the C header says what Sources/EDRCore/Wire.swift says
if r=$(python3 windows/tests/check-layout.py Sources/EDRCore/Wire.swift windows/common/edr_wire.h); then PASS "wire-constants" "$r"
else FAIL "wire-constants" "$(echo "$r" | tr '\n' ';')"; fi

# --- --write-frames: the exact bytes a Swift FrameDecoder test can read
W "$SENSOR" --write-frames "$(win "$WORK")\\frames.bin" --fixture "$FIXW\\ten.fixture" 2>"$WORK/wf.log"
rc=$?
if [ $rc = 0 ] && r=$(W "$CLIENT" --check-frames "$(win "$WORK")\\frames.bin" --fixture "$FIXW\\ten.fixture" \
    --expect-stat 'sensor.records_read>=10' | tr -d '\r'); then
    PASS "write-frames" "$r"
else
    FAIL "write-frames" "sensor rc $rc; $r; $(tail -2 "$WORK/wf.log")"
fi

# The same bytes through the detector's own decoder (Wire.swift's FrameDecoder, Hello,
# SensorStats, compiled with this checker; no package build needed).
if command -v swiftc >/dev/null 2>&1; then
    if swiftc -O -parse-as-library -o "$WORK/decode-frames" Sources/EDRCore/Wire.swift windows/tests/decode-frames.swift >"$WORK/swiftc.log" 2>&1 \
        && r=$("$WORK/decode-frames" "$WORK/frames.bin" "$FIX/ten.fixture"); then PASS "swift-framedecoder" "$r"
    else FAIL "swift-framedecoder" "${r:-$(head -5 "$WORK/swiftc.log")}"; fi
else
    SKIP "swift-framedecoder" "no swiftc on PATH: the Swift decoder was not run on the frames file"
fi

SID=$(W "$CLIENT" --whoami | tr -d '\r')
case "$SID" in S-1-*) PASS "client-sid" "this Wine user is $SID" ;; *) FAIL "client-sid" "$SID" ;; esac

# --- the pipe: hello, frames, acks, replay after reconnect, one client at a time
PIPE='\\.\pipe\edr-test-'$$
W "$SENSOR" --client-sid "$SID" --fixture "$FIXW\\ten.fixture" --pipe "$PIPE" --stats-interval-ms 300 2>"$WORK/sensor.log" &
SPID=$!
sleep 1
T=30 W "$CLIENT" --pipe "$PIPE" --fixture "$FIXW\\ten.fixture" --expect-from 1 --read 10 --ack-upto 4 --hold-ms 4000 \
    >"$WORK/a.out" 2>&1 &
APID=$!
for _ in $(seq 100); do grep -q 'holding\|FAIL' "$WORK/a.out" 2>/dev/null && break; sleep 0.1; done
# While A holds the only instance, a second client is refused.
r=$(W "$CLIENT" --pipe "$PIPE" --expect-refused | tr -d '\r')
if [ $? = 0 ] && [[ "$r" == *"error 231"* ]]; then PASS "second-client-refused" "$r (ERROR_PIPE_BUSY)"
else FAIL "second-client-refused" "$r"; fi
wait $APID
r=$(tr -d '\r' <"$WORK/a.out" | grep -v '^holding')
if [[ "$r" == ok:* ]]; then PASS "first-connection" "$r; acked 1..4"; else FAIL "first-connection" "$r"; fi
# Reconnect: 5..10 come again with their original numbers, 1..4 (acked) do not.
r=$(W "$CLIENT" --pipe "$PIPE" --fixture "$FIXW\\ten.fixture" --expect-from 5 --read 6 --ack-upto 10 \
    --expect-stat 'sensor.frames_replayed>=16' | tr -d '\r')
if [[ "$r" == ok:* ]]; then PASS "replay-after-reconnect" "$r"; else FAIL "replay-after-reconnect" "$r"; fi
r=$(W "$CLIENT" --pipe "$PIPE" --fixture "$FIXW\\ten.fixture" --expect-from 11 --read 0 --expect-idle-ms 1500 | tr -d '\r')
if [[ "$r" == ok:* ]]; then PASS "nothing-acked-comes-again" "$r"; else FAIL "nothing-acked-comes-again" "$r"; fi
# An ack beyond what was sent is a protocol error: the connection is dropped, nothing lost.
r=$(W "$CLIENT" --pipe "$PIPE" --fixture "$FIXW\\ten.fixture" --expect-from 11 --read 0 --ack-upto 99 --hold-ms 500 | tr -d '\r')
sleep 0.5
if grep -q 'ack of sequence 99, beyond the last frame sent (10)' "$WORK/sensor.log"; then PASS "ack-beyond-sent-rejected"
else FAIL "ack-beyond-sent-rejected" "$r; $(tail -2 "$WORK/sensor.log")"; fi
W taskkill /F /PID "$(grep -o 'edr-sensor\[[0-9]*\]' "$WORK/sensor.log" | head -1 | tr -dc 0-9)" >/dev/null 2>&1
wait $SPID 2>/dev/null

# --- a burst of 12,000 records through a replay store of 70,000 bytes: the source waits for
# acks (backpressure), nothing is lost or reordered.
W "$SENSOR" --client-sid "$SID" --fixture "$FIXW\\burst.fixture" --pipe "$PIPE-b" --replay-bytes 70000 \
    --stats-interval-ms 200 2>"$WORK/burst.log" &
SPID=$!
sleep 1
r=$(T=120 W "$CLIENT" --pipe "$PIPE-b" --fixture "$FIXW\\burst.fixture" --read all --ack-every 50 \
    --expect-stat 'sensor.backpressure_waits>=1' | tr -d '\r')
if [[ "$r" == *"12000 records seq 1..12000"* ]]; then PASS "burst-backpressure" "$r"; else FAIL "burst-backpressure" "$r; $(tail -2 "$WORK/burst.log")"; fi
W taskkill /F /PID "$(grep -o 'edr-sensor\[[0-9]*\]' "$WORK/burst.log" | head -1 | tr -dc 0-9)" >/dev/null 2>&1
wait $SPID 2>/dev/null

# --- a client that is not the detector's account is dropped
W "$SENSOR" --client-sid S-1-5-80-1-2-3-4-5 --fixture "$FIXW\\ten.fixture" --pipe "$PIPE-w" 2>"$WORK/wrong.log" &
SPID=$!
sleep 1
r=$(W "$CLIENT" --pipe "$PIPE-w" --expect-refused | tr -d '\r')
rc=$?
sleep 0.3
if [ $rc = 0 ] && grep -q "rejected: user $SID is not the detector's S-1-5-80-1-2-3-4-5" "$WORK/wrong.log"; then
    PASS "wrong-client-dropped" "$r; token check: $(grep -o 'client pid.*' "$WORK/wrong.log" | head -1 | tr -d '\r')"
elif [ $rc = 0 ] && [[ "$r" == *"error 5"* ]]; then
    PASS "wrong-client-dropped" "$r (the pipe's DACL refused it)"
else
    FAIL "wrong-client-dropped" "$r; $(tail -2 "$WORK/wrong.log")"
fi
# The DACL alone (before the token check) should have refused the open with error 5.
if [[ "$r" == *"refused at open: error 5"* ]]; then PASS "pipe-dacl" "$r"
elif [[ "$r" == *"opened, then dropped"* ]]; then
    SKIP "pipe-dacl" "Wine 8.0: CreateFileW on a pipe whose DACL admits only S-1-5-80-1-2-3-4-5 succeeded for $SID (error 0): pipe DACLs are not enforced; the token check above dropped the client"
else FAIL "pipe-dacl" "$r"; fi
W taskkill /F /PID "$(grep -o 'edr-sensor\[[0-9]*\]' "$WORK/wrong.log" | head -1 | tr -dc 0-9)" >/dev/null 2>&1
wait $SPID 2>/dev/null

# --- malformed fixtures: an error naming the record and offset, exit 2, no crash
check_bad() { # name, expected text
    W "$SENSOR" --client-sid "$SID" --fixture "$FIXW\\bad-$1.fixture" --pipe "$PIPE-m" >"$WORK/bad.log" 2>&1
    local rc=$? line
    line=$(grep -o 'record .*' "$WORK/bad.log" | head -1 | tr -d '\r')
    if [ $rc = 2 ] && [[ "$line" == "record 3 at offset $bad_offset: $2"* ]]; then PASS "bad-fixture-$1" "exit 2: $line"
    else FAIL "bad-fixture-$1" "exit $rc: $(tr -d '\r' <"$WORK/bad.log" | tail -2)"; fi
}
check_bad truncated-length "truncated length field"
check_bad truncated-record "length 56 is larger than the 51 bytes left"
check_bad length-too-large "length 1048576 is larger than"
check_bad too-short "length 20 is shorter than the 56-byte etwRecord header"
check_bad udl-mismatch "UserDataLength 18 disagrees with the record length 64"

# --- bad arguments name the argument
r=$(W "$SENSOR" --client-sid "$SID" --replay-bytes lots 2>&1); rc=$?; r=$(echo "$r" | tr -d '\r')
if [ $rc = 64 ] && [[ "$r" == *"--replay-bytes: 'lots' is not a number"* ]]; then PASS "bad-argument-replay-bytes" "${r%%$'\n'*}"
else FAIL "bad-argument-replay-bytes" "exit $rc: $r"; fi
r=$(W "$SENSOR" --client-sid nobody 2>&1); rc=$?; r=$(echo "$r" | tr -d '\r')
if [ $rc = 64 ] && [[ "$r" == *"--client-sid: 'nobody' is not a SID"* ]]; then PASS "bad-argument-client-sid" "$r"
else FAIL "bad-argument-client-sid" "exit $rc: $r"; fi

r=$(W "$SENSOR" --client-sid "$SID" --pipe foo 2>&1); rc=$?; r=$(echo "$r" | tr -d '\r')
if [ $rc = 64 ] && [[ "$r" == *"--pipe: 'foo' is not a local pipe name"* ]]; then PASS "bad-argument-pipe" "$r"
else FAIL "bad-argument-pipe" "exit $rc: $r"; fi

# --- the real-time ETW session
W "$SENSOR" --client-sid "$SID" --pipe "$PIPE-e" >"$WORK/etw.log" 2>&1 &
SPID=$!
for _ in $(seq 50); do kill -0 $SPID 2>/dev/null || break; sleep 0.1; done
if kill -0 $SPID 2>/dev/null; then
    PASS "etw-session" "ProcessTrace is running"
    W taskkill /F /PID "$(grep -o 'edr-sensor\[[0-9]*\]' "$WORK/etw.log" | head -1 | tr -dc 0-9)" >/dev/null 2>&1
else
    wait $SPID; rc=$?
    a=$(api_failure "$WORK/etw.log")
    if [ $rc = 3 ] && [ -n "$a" ]; then
        ok=""
        grep -q 'ETW session edr-sensor:' "$WORK/etw.log" && ok="StartTraceW"
        n=$(grep -c 'enabled Microsoft-Windows-' "$WORK/etw.log")
        [ "$n" -gt 0 ] && ok="$ok, EnableTraceEx2 x$n"
        SKIP "etw-session" "Wine 8.0: $a${ok:+ (before it, $ok returned success)}; the sensor logged it and exited 3 as designed"
    else
        FAIL "etw-session" "exit $rc: $(tr -d '\r' <"$WORK/etw.log" | tail -3)"
    fi
fi
wait $SPID 2>/dev/null

# --- the service through Wine's service control manager, with stand-in children
BIN=$WORK/svc-bin
mkdir -p "$BIN"
for n in edr-sensor edr-detect edr-respond; do cp "$CHILD" "$BIN/$n.exe"; done
BINW=$(win "$BIN")
W "$SERVICE" uninstall >/dev/null 2>&1 # a leftover from an interrupted run
if W "$SERVICE" install --bin-dir "$BINW" >"$WORK/install.log" 2>&1; then PASS "service-install" "$(grep -o 'installed.*' "$WORK/install.log" | cut -c1-60)..."
else FAIL "service-install" "$(tail -2 "$WORK/install.log")"; fi
r=$(W sc.exe query edr | tr -d '\r')
# Wine's sc.exe has no qc: the service's configuration from the registry the SCM keeps it in.
qc=$(W reg query 'HKLM\System\CurrentControlSet\Services\edr' | tr -d '\r')
if [[ "$r" == *STOPPED* ]] && [[ "$qc" == *"Start    REG_DWORD    0x2"* ]] && [[ "$qc" == *"edr-service.exe\" service --bin-dir"* ]]; then
    PASS "sc-query-installed" "STOPPED; Start 0x2 (auto); ImagePath ...$(echo "$qc" | grep -o 'edr-service.exe" service --bin-dir')..."
else FAIL "sc-query-installed" "$r $qc"; fi
W net start edr >"$WORK/netstart.log" 2>&1 || W "$SERVICE" start >>"$WORK/netstart.log" 2>&1
r=$(W sc.exe query edr | tr -d '\r')
if [[ "$r" == *RUNNING* ]]; then PASS "service-start" "net start edr; sc query edr: RUNNING"; else FAIL "service-start" "$r $(cat "$WORK/netstart.log")"; fi
for _ in $(seq 50); do [ "$(grep -c 'state running' "$BIN/edr-status.txt" 2>/dev/null)" = 3 ] && break; sleep 0.2; done
st=$(W "$SERVICE" status --bin-dir "$BINW" | tr -d '\r')
pid_of() { echo "$st" | sed -n "s/^$1.exe pid \([0-9]*\) .*/\1/p"; }
if [ "$(echo "$st" | grep -c 'state running')" = 3 ]; then PASS "service-children" "$(echo "$st" | grep -o 'edr-[a-z]*.exe pid [0-9]*' | tr '\n' ' ')"
else FAIL "service-children" "$st"; fi
sleep 1 # the children's reports
report() { tr -d '\r' <"$BIN/$1.exe.log" 2>/dev/null; }
r=$(report edr-respond | grep -o 'privileges .*' | head -1)
if [ "$r" = "privileges SeChangeNotifyPrivilege,SeDebugPrivilege" ] || [ "$r" = "privileges SeDebugPrivilege,SeChangeNotifyPrivilege" ]; then
    PASS "respond-privileges" "$r"; else FAIL "respond-privileges" "$r"; fi
r=$(report edr-detect | grep -o 'privileges .*' | head -1)
if [ "$r" = "privileges SeChangeNotifyPrivilege" ]; then PASS "detect-privileges" "$r"; else FAIL "detect-privileges" "$r"; fi
line=$(report edr-detect | grep -o 'integrity .*' | head -1)
il=$(echo "$line" | awk '{print $2}')
if [ "$il" = 0x1000 ]; then PASS "detect-low-integrity" "$line"
else SKIP "detect-low-integrity" "Wine 8.0: SetTokenInformation(TokenIntegrityLevel, S-1-16-4096) returned success (error 0) but the child's token reports $il: integrity levels are not applied"; fi
if [[ "$line" == *"restricted 1"* ]]; then PASS "detect-restricted-token" "$line"
else SKIP "detect-restricted-token" "Wine 8.0: CreateRestrictedToken returned success (error 0) but ignores the restricting SIDs (IsTokenRestricted = 0)"; fi
if [[ "$line" == *"in_job 1"* ]]; then PASS "detect-in-job" "$line"; else FAIL "detect-in-job" "$line"; fi
r=$(report edr-detect | grep -o 'spawn .*' | head -1)
if [[ "$r" == "spawn refused"* ]]; then PASS "detect-job-no-children" "$r"
elif [ "$r" = "spawn allowed" ]; then SKIP "detect-job-no-children" "Wine 8.0: SetInformationJobObject(JOB_OBJECT_LIMIT_ACTIVE_PROCESS=1) returned success (error 0) but CreateProcessW in the job succeeded: the limit is not enforced"
else FAIL "detect-job-no-children" "$r"; fi

# A killed child is started again (new pid); killed again, it waits twice as long.
old=$(pid_of edr-sensor)
W taskkill /F /PID "$old" >/dev/null 2>&1
new=""
for _ in $(seq 60); do
    st=$(tr -d '\r' <"$BIN/edr-status.txt" 2>/dev/null)
    new=$(pid_of edr-sensor)
    [ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$old" ] && break
    sleep 0.2
done
if [ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$old" ]; then PASS "child-restarted" "edr-sensor.exe pid $old killed (taskkill /F), now pid $new"
else FAIL "child-restarted" "pid $old -> '$new'; $(tail -3 "$BIN/edr-service.log" | tr -d '\r')"; fi
W taskkill /F /PID "$new" >/dev/null 2>&1
sleep 3
if grep -q "pid $new) exited .*restarting in 2000 ms" "$BIN/edr-service.log"; then PASS "restart-backoff" "$(grep -o "edr-sensor.exe (pid [0-9]*) exited.*" "$BIN/edr-service.log" | tr -d '\r' | sed 's/ with code.*restarting/: restarting/' | tr '\n' ';')"
else FAIL "restart-backoff" "$(grep exited "$BIN/edr-service.log" | tr -d '\r')"; fi

W net stop edr >"$WORK/netstop.log" 2>&1 || W "$SERVICE" stop >>"$WORK/netstop.log" 2>&1
r=$(W sc.exe query edr | tr -d '\r')
if [[ "$r" == *STOPPED* ]] && grep -q 'stopped' "$BIN/edr-service.log"; then
    PASS "service-stop" "net stop edr; STOPPED; $(grep -c 'stop event: exiting' "$BIN"/edr-*.exe.log | awk -F: '{s+=$2} END {print s}') children left on the stop event"
else FAIL "service-stop" "$r $(tail -2 "$BIN/edr-service.log")"; fi
W "$SERVICE" uninstall >"$WORK/uninstall.log" 2>&1
r=$(W "$SERVICE" query 2>&1 | tr -d '\r')
if grep -q 'deleted' "$WORK/uninstall.log" && [[ "$r" == *"OpenServiceW(edr) failed: error 1060"* ]]; then PASS "service-uninstall" "afterwards: ${r#*: }"
else FAIL "service-uninstall" "$r $(cat "$WORK/uninstall.log")"; fi

# --- `run` mode (console), a short healthy period: the backoff starts over after it, and
# every child dies with a killed supervisor (job objects with KILL_ON_JOB_CLOSE).
BIN2=$WORK/run-bin
mkdir -p "$BIN2"
for n in edr-sensor edr-detect edr-respond; do cp "$CHILD" "$BIN2/$n.exe"; done
BIN2W=$(win "$BIN2")
T=120 W "$SERVICE" run --bin-dir "$BIN2W" --healthy-ms 2500 2>"$WORK/run.log" &
RPID=$!
for _ in $(seq 50); do [ "$(grep -c 'state running' "$BIN2/edr-status.txt" 2>/dev/null)" = 3 ] && break; sleep 0.2; done
sensor_pid() { tr -d '\r' <"$BIN2/edr-status.txt" | sed -n 's/^edr-sensor.exe pid \([0-9]*\) .*/\1/p'; }
wait_new_sensor() { # old pid
    local p
    for _ in $(seq 60); do p=$(sensor_pid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$1" ] && break; sleep 0.2; done
    echo "$p"
}
p1=$(sensor_pid); W taskkill /F /PID "$p1" >/dev/null 2>&1
p2=$(wait_new_sensor "$p1"); W taskkill /F /PID "$p2" >/dev/null 2>&1 # ran < 2.5 s: 1000 -> 2000 ms
p3=$(wait_new_sensor "$p2"); sleep 3.5; W taskkill /F /PID "$p3" >/dev/null 2>&1 # ran > 2.5 s: back to 1000 ms
p4=$(wait_new_sensor "$p3")
delays=$(grep -o 'edr-sensor.exe (pid [0-9]*) exited.*restarting in [0-9]* ms' "$WORK/run.log" | tr -d '\r' | sed 's/.*after \([0-9]*\) ms; restarting in \([0-9]*\) ms/ran \1 ms -> \2 ms/' | tr '\n' ';')
if [[ "$delays" =~ ^ran\ [0-9]+\ ms\ -\>\ 1000\ ms\;ran\ [0-9]+\ ms\ -\>\ 2000\ ms\;ran\ [0-9]+\ ms\ -\>\ 1000\ ms\;$ ]]; then
    PASS "backoff-reset-after-healthy" "$delays"
else FAIL "backoff-reset-after-healthy" "pids $p1 $p2 $p3 $p4; $delays"; fi
# Kill the supervisor itself: no child may outlive it.
W taskkill /F /PID "$(grep -o 'edr-service\[[0-9]*\]' "$WORK/run.log" | head -1 | tr -dc 0-9)" >/dev/null 2>&1
wait $RPID 2>/dev/null
left=""
for _ in $(seq 30); do left=$(pgrep -af 'run-bin.edr-(sensor|detect|respond)\.exe' || true); [ -z "$left" ] && break; sleep 0.2; done
if [ -z "$left" ]; then PASS "children-die-with-supervisor" "edr-service.exe killed with taskkill /F; no child left"
else FAIL "children-die-with-supervisor" "$left"; fi

wineserver -k 2>/dev/null
echo "windows tests: $pass passed, $skip skipped, $fail failed"
[ $fail = 0 ]
