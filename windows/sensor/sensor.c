/* edr-sensor.exe: the privileged half on Windows (like bpf/ + EDRSensorLinux on Linux).
 *
 * The source (a real-time ETW session, or --fixture FILE) calls edr_sensor_on_event for each
 * EVENT_RECORD; it becomes one etwRecord frame with the next sequence number, kept in the
 * replay store until the detector acknowledges it. When the store is full the callback
 * waits (it stops draining), so ETW's own counters (EventsLost, RealTimeBuffersLost), not a
 * silent drop here, record any loss, as the Linux sensor leaves it to the ring buffer.
 *
 * One detector at a time, over a named pipe with one instance: the sensor sends hello
 * (nextSequence = oldest unacknowledged frame), a sensorStats frame, every unacknowledged
 * frame with its original number, then new ones; the detector sends hello, then acks. */
#include "sensor.h"

#include <sddl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

volatile LONG edr_stop_requested;
HANDLE edr_stop_event;

static struct {
    const wchar_t *pipe_name;
    const wchar_t *client_sid_text;
    PSID client_sid;
    int allow_system;
    const wchar_t *fixture;
    const wchar_t *write_frames;
    size_t replay_bytes;
    DWORD stats_interval_ms;
} opt = {L"\\\\.\\pipe\\edr-sensor", NULL, NULL, 0, NULL, NULL, 64u << 20, 5000};

/* The replay store: frames back to back. Positions count bytes since the start (store[0]
 * is at position `base`), so compaction does not move what positions name. */
static CRITICAL_SECTION lock;
static CONDITION_VARIABLE space_cv;
static HANDLE data_event;
static uint8_t *store;
static size_t store_cap;
static uint64_t base, head_pos, tail_pos, sent_pos;
static uint64_t head_seq = 1, next_seq = 1, sent_seq;
static HANDLE frames_file = INVALID_HANDLE_VALUE;

static struct {
    uint64_t records_read, frames_sent, frames_replayed, backpressure_waits, records_too_large;
    uint64_t connections, clients_rejected, protocol_errors, write_failures;
} ctr;
static struct edr_etw_loss etw_loss;

void edr_log(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "edr-sensor[%lu]: %s\n", (unsigned long)GetCurrentProcessId(), buf);
    fflush(stderr);
}

DWORD edr_log_api_error(const char *api, DWORD code)
{
    char msg[256] = "";
    FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, msg, sizeof msg, NULL);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' ')) msg[--n] = 0;
    edr_log("%s failed: error %lu (%s)", api, (unsigned long)code, msg);
    return code;
}

static int write_all(HANDLE h, const uint8_t *p, size_t n)
{
    while (n > 0) {
        DWORD w = 0;
        if (!WriteFile(h, p, (DWORD)(n > (1u << 24) ? (1u << 24) : n), &w, NULL)) return -1;
        p += w;
        n -= w;
    }
    return 0;
}

void WINAPI edr_sensor_on_event(PEVENT_RECORD r)
{
    struct edr_etw_fields f;
    memcpy(f.provider_id, &r->EventHeader.ProviderId, 16);
    f.event_id = r->EventHeader.EventDescriptor.Id;
    f.version = r->EventHeader.EventDescriptor.Version;
    f.opcode = r->EventHeader.EventDescriptor.Opcode;
    f.level = r->EventHeader.EventDescriptor.Level;
    f.channel = r->EventHeader.EventDescriptor.Channel;
    f.task = r->EventHeader.EventDescriptor.Task;
    f.keyword = r->EventHeader.EventDescriptor.Keyword;
    f.process_id = r->EventHeader.ProcessId;
    f.thread_id = r->EventHeader.ThreadId;
    f.timestamp = (uint64_t)r->EventHeader.TimeStamp.QuadPart;
    f.flags = r->EventHeader.Flags;
    f.user_data_length = r->UserDataLength;
    size_t payload = EDR_ETW_HEADER_SIZE + (size_t)r->UserDataLength;
    size_t len = EDR_HEADER_SIZE + payload;

    EnterCriticalSection(&lock);
    ctr.records_read++;
    if (len > opt.replay_bytes) {
        ctr.records_too_large++;
        LeaveCriticalSection(&lock);
        return;
    }
    if (tail_pos - head_pos + len > opt.replay_bytes) {
        /* Full: stop draining until the detector acknowledges. */
        ctr.backpressure_waits++;
        while (tail_pos - head_pos + len > opt.replay_bytes && !edr_stop_requested)
            SleepConditionVariableCS(&space_cv, &lock, 200);
        if (edr_stop_requested) {
            LeaveCriticalSection(&lock);
            return;
        }
    }
    if (tail_pos - base + len > store_cap) {
        size_t drop = (size_t)(head_pos - base);
        memmove(store, store + drop, (size_t)(tail_pos - head_pos));
        base += drop;
    }
    uint8_t *p = store + (tail_pos - base);
    edr_frame_header(p, EDR_FRAME_ETW_RECORD, next_seq, payload);
    edr_etw_encode_header(p + EDR_HEADER_SIZE, &f);
    if (r->UserDataLength) memcpy(p + EDR_HEADER_SIZE + EDR_ETW_HEADER_SIZE, r->UserData, r->UserDataLength);
    if (frames_file != INVALID_HANDLE_VALUE) {
        /* --write-frames: straight to the file, nothing kept. */
        if (write_all(frames_file, p, len) != 0) ctr.write_failures++;
        ctr.frames_sent++;
        next_seq++;
        head_seq = next_seq;
    } else {
        tail_pos += len;
        next_seq++;
        SetEvent(data_event);
    }
    LeaveCriticalSection(&lock);
}

static size_t stats_frame(uint8_t *out, size_t cap)
{
    EnterCriticalSection(&lock);
    struct edr_counter c[] = {
        {"etw.events_lost", etw_loss.events_lost},
        {"etw.buffers_lost", etw_loss.realtime_buffers_lost},
        {"etw.log_buffers_lost", etw_loss.log_buffers_lost},
        {"etw.buffers_written", etw_loss.buffers_written},
        {"etw.query_failures", etw_loss.query_failures},
        {"sensor.records_read", ctr.records_read},
        {"sensor.frames_sent", ctr.frames_sent},
        {"sensor.frames_replayed", ctr.frames_replayed},
        {"sensor.pending_frames", next_seq - head_seq},
        {"sensor.pending_bytes", tail_pos - head_pos},
        {"sensor.backpressure_waits", ctr.backpressure_waits},
        {"sensor.records_too_large", ctr.records_too_large},
        {"sensor.connections", ctr.connections},
        {"sensor.clients_rejected", ctr.clients_rejected},
        {"sensor.protocol_errors", ctr.protocol_errors},
    };
    size_t n = edr_stats_frame(out, cap, c, sizeof c / sizeof c[0]);
    LeaveCriticalSection(&lock);
    return n;
}

static void refresh_etw_loss(void)
{
    if (opt.fixture) return;
    struct edr_etw_loss l = etw_loss;
    edr_etw_query(&l);
    EnterCriticalSection(&lock);
    etw_loss = l;
    LeaveCriticalSection(&lock);
}

/* Copies whole frames from sent_pos into out (at most cap bytes, at least one frame). */
static size_t take_frames(uint8_t *out, size_t cap)
{
    size_t n = 0;
    EnterCriticalSection(&lock);
    while (sent_pos < tail_pos) {
        const uint8_t *p = store + (sent_pos - base);
        size_t len = (size_t)edr_get32(p) + 4;
        if (n + len > cap) break;
        memcpy(out + n, p, len);
        n += len;
        sent_pos += len;
        sent_seq = edr_get64(p + 8);
        ctr.frames_sent++;
    }
    LeaveCriticalSection(&lock);
    return n;
}

/* Every frame up to `seq` is processed: forget it. -1 if seq names a frame not yet sent. */
static int acknowledge(uint64_t seq)
{
    int rc = 0;
    EnterCriticalSection(&lock);
    if (seq > sent_seq) {
        rc = -1;
    } else {
        while (head_seq <= seq && head_pos < tail_pos) {
            head_pos += (size_t)edr_get32(store + (head_pos - base)) + 4;
            head_seq++;
        }
        WakeAllConditionVariable(&space_cv);
    }
    LeaveCriticalSection(&lock);
    return rc;
}

/* Checks who is at the other end: its process's token user must be the detector's SID. */
static int client_allowed(HANDLE pipe)
{
    ULONG pid = 0;
    if (!GetNamedPipeClientProcessId(pipe, &pid)) {
        edr_log_api_error("GetNamedPipeClientProcessId", GetLastError());
        return 0;
    }
    HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (!proc) {
        edr_log_api_error("OpenProcess(client)", GetLastError());
        return 0;
    }
    HANDLE tok = NULL;
    if (!OpenProcessToken(proc, TOKEN_QUERY, &tok)) {
        edr_log_api_error("OpenProcessToken(client)", GetLastError());
        CloseHandle(proc);
        return 0;
    }
    CloseHandle(proc);
    union { TOKEN_USER u; uint8_t raw[256]; } tu;
    DWORD len = 0;
    int ok = 0;
    if (!GetTokenInformation(tok, TokenUser, &tu, sizeof tu, &len)) {
        edr_log_api_error("GetTokenInformation(client, TokenUser)", GetLastError());
    } else {
        uint8_t sysbuf[SECURITY_MAX_SID_SIZE];
        DWORD syslen = sizeof sysbuf;
        ok = EqualSid(tu.u.User.Sid, opt.client_sid);
        if (!ok && opt.allow_system && CreateWellKnownSid(WinLocalSystemSid, NULL, sysbuf, &syslen))
            ok = EqualSid(tu.u.User.Sid, sysbuf);
        wchar_t *text = NULL;
        ConvertSidToStringSidW(tu.u.User.Sid, &text);
        if (ok) {
            edr_log("client pid %lu, user %ls: admitted", (unsigned long)pid, text ? text : L"?");
        } else {
            edr_log("client pid %lu rejected: user %ls is not the detector's %ls%s", (unsigned long)pid,
                    text ? text : L"?", opt.client_sid_text, opt.allow_system ? " (nor SYSTEM)" : "");
        }
        LocalFree(text);
    }
    CloseHandle(tok);
    return ok;
}

#define OUT_CAP (512u << 10)

/* Serves one connected client until it goes away, breaks the protocol, or stop. */
static void serve_client(HANDLE pipe)
{
    OVERLAPPED rov, wov;
    memset(&rov, 0, sizeof rov);
    memset(&wov, 0, sizeof wov);
    rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    wov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    static uint8_t out[OUT_CAP];
    uint8_t rbuf[4096], dbuf[8192];
    size_t dlen = 0;
    int read_pending = 0, write_pending = 0, got_hello = 0, stats_due = 1;
    const char *why = NULL;

    uint64_t replayed;
    EnterCriticalSection(&lock);
    ctr.connections++;
    sent_pos = head_pos;
    sent_seq = head_seq - 1;
    replayed = next_seq - head_seq;
    ctr.frames_replayed += replayed;
    uint64_t first = head_seq;
    LeaveCriticalSection(&lock);
    edr_log("detector connected; replaying %llu unacknowledged frames from sequence %llu",
            (unsigned long long)replayed, (unsigned long long)first);
    size_t pre = EDR_HELLO_FRAME_SIZE;
    edr_hello_frame(out, EDR_ROLE_SENSOR, GetCurrentProcessId(), first);
    DWORD last_stats = GetTickCount();

    while (!why && !edr_stop_requested) {
        if (!read_pending) {
            if (!ReadFile(pipe, rbuf, sizeof rbuf, NULL, &rov) && GetLastError() != ERROR_IO_PENDING) {
                why = "read failed";
                break;
            }
            read_pending = 1;
        }
        if (!write_pending) {
            size_t n = pre;
            pre = 0;
            if (stats_due) {
                refresh_etw_loss();
                n += stats_frame(out + n, OUT_CAP - n);
                stats_due = 0;
                last_stats = GetTickCount();
            }
            n += take_frames(out + n, OUT_CAP - n);
            if (n > 0) {
                if (!WriteFile(pipe, out, (DWORD)n, NULL, &wov) && GetLastError() != ERROR_IO_PENDING) {
                    why = "write failed";
                    break;
                }
                write_pending = 1;
            }
        }
        HANDLE hs[3] = {rov.hEvent, write_pending ? wov.hEvent : data_event, edr_stop_event};
        DWORD elapsed = GetTickCount() - last_stats;
        DWORD timeout = elapsed >= opt.stats_interval_ms ? 0 : opt.stats_interval_ms - elapsed;
        DWORD w = WaitForMultipleObjects(3, hs, FALSE, timeout);
        if (w == WAIT_TIMEOUT) {
            stats_due = 1;
            continue;
        }
        if (w == WAIT_OBJECT_0 + 2) break;
        DWORD n = 0;
        if (read_pending && HasOverlappedIoCompleted(&rov)) {
            read_pending = 0;
            if (!GetOverlappedResult(pipe, &rov, &n, FALSE)) {
                why = GetLastError() == ERROR_BROKEN_PIPE ? "closed by peer" : "read failed";
                break;
            }
            if (dlen + n > sizeof dbuf) {
                why = "protocol error: more than 8 KiB of unprocessed input";
                break;
            }
            memcpy(dbuf + dlen, rbuf, n);
            dlen += n;
            size_t off = 0;
            while (!why && dlen - off >= EDR_HEADER_SIZE) {
                struct edr_frame_info fi;
                static char err[160];
                if (edr_frame_parse_header(dbuf + off, 4096, &fi, err, sizeof err) != 0) {
                    why = err;
                    break;
                }
                if (dlen - off < fi.length) break;
                const uint8_t *pl = dbuf + off + EDR_HEADER_SIZE;
                size_t pll = fi.length - EDR_HEADER_SIZE;
                if (fi.type == EDR_FRAME_HELLO) {
                    uint16_t role;
                    uint32_t pid;
                    uint64_t ns;
                    if (edr_hello_parse(pl, pll, &role, &pid, &ns, err, sizeof err) != 0) {
                        why = err;
                    } else if (role != EDR_ROLE_DETECTOR) {
                        snprintf(err, sizeof err, "hello with role %u, expected the detector's (%d)", role, EDR_ROLE_DETECTOR);
                        why = err;
                    } else {
                        got_hello = 1;
                    }
                } else if (!got_hello) {
                    snprintf(err, sizeof err, "type-%u frame before the detector's hello", fi.type);
                    why = err;
                } else if (fi.type == EDR_FRAME_ACK && pll == 8) {
                    uint64_t seq = edr_get64(pl);
                    if (acknowledge(seq) != 0) {
                        snprintf(err, sizeof err, "ack of sequence %llu, beyond the last frame sent (%llu)",
                                 (unsigned long long)seq, (unsigned long long)sent_seq);
                        why = err;
                    }
                } else {
                    snprintf(err, sizeof err, "unexpected type-%u frame (%u-byte payload) from the detector", fi.type, (unsigned)pll);
                    why = err;
                }
                off += fi.length;
            }
            if (why) {
                ctr.protocol_errors++;
                break;
            }
            memmove(dbuf, dbuf + off, dlen - off);
            dlen -= off;
        }
        if (write_pending && HasOverlappedIoCompleted(&wov)) {
            write_pending = 0;
            if (!GetOverlappedResult(pipe, &wov, &n, FALSE)) {
                why = GetLastError() == ERROR_NO_DATA || GetLastError() == ERROR_BROKEN_PIPE ? "closed by peer" : "write failed";
                break;
            }
        }
    }
    if (read_pending || write_pending) {
        CancelIo(pipe);
        DWORD n;
        if (read_pending) GetOverlappedResult(pipe, &rov, &n, TRUE);
        if (write_pending) GetOverlappedResult(pipe, &wov, &n, TRUE);
    }
    CloseHandle(rov.hEvent);
    CloseHandle(wov.hEvent);
    EnterCriticalSection(&lock);
    uint64_t kept = next_seq - head_seq;
    LeaveCriticalSection(&lock);
    edr_log("detector disconnected (%s); %llu frames kept for replay", why ? why : "stopping", (unsigned long long)kept);
}

static HANDLE create_pipe(void)
{
    wchar_t sddl[512];
    /* Read/write for the detector (FILE_GENERIC_READ|WRITE without FILE_CREATE_PIPE_INSTANCE,
     * 0x12019b); SYSTEM only with --allow-system. The low mandatory label lets the detector,
     * which runs at low integrity, write to the pipe (no-write-up would refuse it). */
    swprintf(sddl, 512, L"D:P(A;;0x12019b;;;%ls)%lsS:(ML;;NW;;;LW)", opt.client_sid_text,
             opt.allow_system ? L"(A;;0x12019b;;;SY)" : L"");
    PSECURITY_DESCRIPTOR sd = NULL;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL)) {
        edr_log_api_error("ConvertStringSecurityDescriptorToSecurityDescriptorW", GetLastError());
        return INVALID_HANDLE_VALUE;
    }
    SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
    HANDLE h = CreateNamedPipeW(opt.pipe_name, PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                                1, 1u << 16, 1u << 16, 0, &sa);
    DWORD e = GetLastError();
    LocalFree(sd);
    if (h == INVALID_HANDLE_VALUE) {
        edr_log_api_error("CreateNamedPipeW", e);
        if (e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY)
            edr_log("%ls already exists: another sensor (or an impostor) owns it", opt.pipe_name);
    } else {
        edr_log("serving %ls for %ls%s", opt.pipe_name, opt.client_sid_text, opt.allow_system ? " and SYSTEM" : "");
    }
    return h;
}

static DWORD WINAPI pipe_thread(LPVOID arg)
{
    HANDLE pipe = (HANDLE)arg;
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    DWORD last_stats = GetTickCount();
    while (!edr_stop_requested) {
        BOOL connected = ConnectNamedPipe(pipe, &ov);
        DWORD e = connected ? ERROR_PIPE_CONNECTED : GetLastError();
        if (e == ERROR_IO_PENDING) {
            HANDLE hs[2] = {ov.hEvent, edr_stop_event};
            for (;;) {
                DWORD w = WaitForMultipleObjects(2, hs, FALSE, opt.stats_interval_ms);
                if (w == WAIT_TIMEOUT) {
                    /* Nobody connected: keep the loss counters fresh for the log. */
                    refresh_etw_loss();
                    continue;
                }
                break;
            }
            if (edr_stop_requested) break;
            DWORD n;
            e = GetOverlappedResult(pipe, &ov, &n, FALSE) ? ERROR_PIPE_CONNECTED : GetLastError();
        }
        if (e == ERROR_NO_DATA) {
            /* The client came and went before we looked. */
            DisconnectNamedPipe(pipe);
            continue;
        }
        if (e != ERROR_PIPE_CONNECTED) {
            edr_log_api_error("ConnectNamedPipe", e);
            Sleep(100);
            continue;
        }
        if (!client_allowed(pipe)) {
            EnterCriticalSection(&lock);
            ctr.clients_rejected++;
            LeaveCriticalSection(&lock);
            DisconnectNamedPipe(pipe);
            continue;
        }
        serve_client(pipe);
        FlushFileBuffers(pipe);
        DisconnectNamedPipe(pipe);
        (void)last_stats;
    }
    CloseHandle(ov.hEvent);
    return 0;
}

static BOOL WINAPI on_console(DWORD type)
{
    (void)type;
    InterlockedExchange(&edr_stop_requested, 1);
    SetEvent(edr_stop_event);
    if (!opt.fixture) edr_etw_stop();
    EnterCriticalSection(&lock);
    WakeAllConditionVariable(&space_cv);
    LeaveCriticalSection(&lock);
    return TRUE;
}

/* Under edr-service.exe: the service's stop request arrives as an inherited event. */
static DWORD WINAPI stop_watch(LPVOID h)
{
    if (WaitForSingleObject((HANDLE)h, INFINITE) == WAIT_OBJECT_0) {
        edr_log("stop requested by the service");
        on_console(CTRL_BREAK_EVENT);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: edr-sensor.exe --client-sid SID [--pipe NAME] [--allow-system] [--fixture FILE]\n"
            "                      [--replay-bytes N] [--stats-interval-ms N]\n"
            "       edr-sensor.exe --write-frames OUT [--fixture FILE]\n"
            "  --client-sid SID       the detector's account; the only one the pipe admits\n"
            "  --pipe NAME            default \\\\.\\pipe\\edr-sensor\n"
            "  --allow-system         also admit SYSTEM (S-1-5-18)\n"
            "  --fixture FILE         recorded etwRecord payloads (u32 LE length each) instead of ETW\n"
            "  --write-frames OUT     write hello, the frames and a final sensorStats frame to OUT, no pipe\n"
            "  --replay-bytes N       unacknowledged frames kept (default 67108864, at least 65608)\n"
            "  --stats-interval-ms N  sensorStats period (default 5000)\n");
}

static int parse_u64(const wchar_t *arg, const wchar_t *v, uint64_t min, uint64_t max, uint64_t *out)
{
    wchar_t *end = NULL;
    unsigned long long x = v ? wcstoull(v, &end, 10) : 0;
    if (!v || !*v || *end || x < min || x > max) {
        edr_log("%ls: '%ls' is not a number from %llu to %llu", arg, v ? v : L"(missing)",
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = x;
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    for (int i = 1; i < argc; i++) {
        const wchar_t *a = argv[i];
        const wchar_t *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t x;
        if (!wcscmp(a, L"--pipe") && v) { opt.pipe_name = v; i++; }
        else if (!wcscmp(a, L"--client-sid") && v) { opt.client_sid_text = v; i++; }
        else if (!wcscmp(a, L"--allow-system")) { opt.allow_system = 1; }
        else if (!wcscmp(a, L"--fixture") && v) { opt.fixture = v; i++; }
        else if (!wcscmp(a, L"--write-frames") && v) { opt.write_frames = v; i++; }
        else if (!wcscmp(a, L"--replay-bytes")) {
            if (parse_u64(a, v, EDR_HEADER_SIZE + EDR_ETW_HEADER_SIZE + 65535, 1ull << 34, &x)) return 64;
            opt.replay_bytes = (size_t)x;
            i++;
        } else if (!wcscmp(a, L"--stats-interval-ms")) {
            if (parse_u64(a, v, 10, 3600000, &x)) return 64;
            opt.stats_interval_ms = (DWORD)x;
            i++;
        } else if (!wcscmp(a, L"--help") || !wcscmp(a, L"-h")) {
            usage();
            return 0;
        } else {
            edr_log("unknown argument '%ls'%s", a, v ? "" : " (or its value is missing)");
            usage();
            return 64;
        }
    }
    if (!opt.write_frames) {
        if (_wcsnicmp(opt.pipe_name, L"\\\\.\\pipe\\", 9) != 0 || !opt.pipe_name[9]) {
            edr_log("--pipe: '%ls' is not a local pipe name (\\\\.\\pipe\\NAME)", opt.pipe_name);
            return 64;
        }
        if (!opt.client_sid_text) {
            edr_log("--client-sid is required: the detector's account SID, e.g. S-1-5-21-...-1001");
            return 64;
        }
        if (!ConvertStringSidToSidW(opt.client_sid_text, &opt.client_sid)) {
            edr_log("--client-sid: '%ls' is not a SID (ConvertStringSidToSidW error %lu)", opt.client_sid_text,
                    (unsigned long)GetLastError());
            return 64;
        }
    }

    InitializeCriticalSection(&lock);
    InitializeConditionVariable(&space_cv);
    data_event = CreateEventW(NULL, FALSE, FALSE, NULL);
    edr_stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    store_cap = opt.replay_bytes + EDR_HEADER_SIZE + EDR_ETW_HEADER_SIZE + 65536;
    store = malloc(store_cap);
    if (!store) {
        edr_log("cannot allocate the %llu-byte replay store (--replay-bytes)", (unsigned long long)store_cap);
        return 1;
    }
    SetConsoleCtrlHandler(on_console, TRUE);
    wchar_t ev[32];
    if (GetEnvironmentVariableW(L"EDR_STOP_EVENT", ev, 32) > 0 && ev[0]) {
        HANDLE h = (HANDLE)(ULONG_PTR)wcstoull(ev, NULL, 10);
        if (!CreateThread(NULL, 0, stop_watch, h, 0, NULL)) edr_log_api_error("CreateThread(stop watch)", GetLastError());
    }

    if (opt.write_frames) {
        frames_file = CreateFileW(opt.write_frames, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (frames_file == INVALID_HANDLE_VALUE) {
            edr_log_api_error("CreateFileW(--write-frames)", GetLastError());
            return 1;
        }
        uint8_t hello[EDR_HELLO_FRAME_SIZE];
        edr_hello_frame(hello, EDR_ROLE_SENSOR, GetCurrentProcessId(), 1);
        int rc = write_all(frames_file, hello, sizeof hello);
        if (rc == 0 && !opt.fixture) edr_emit_device_map();
        if (rc == 0) rc = opt.fixture ? edr_fixture_run(opt.fixture) : (edr_etw_run() ? -1 : 0);
        if (!opt.fixture) refresh_etw_loss();
        uint8_t st[1024];
        size_t n = stats_frame(st, sizeof st);
        if (write_all(frames_file, st, n) != 0 || ctr.write_failures) {
            edr_log_api_error("WriteFile(--write-frames)", GetLastError());
            rc = -1;
        }
        CloseHandle(frames_file);
        edr_log("wrote %llu frames to %ls", (unsigned long long)ctr.frames_sent, opt.write_frames);
        return rc == 0 ? 0 : 2;
    }

    HANDLE pipe = create_pipe();
    if (pipe == INVALID_HANDLE_VALUE) return 1;
    HANDLE thread = CreateThread(NULL, 0, pipe_thread, pipe, 0, NULL);
    if (!thread) return (int)edr_log_api_error("CreateThread", GetLastError());

    int rc = 0;
    if (opt.fixture) {
        if (edr_fixture_run(opt.fixture) != 0) {
            rc = 2;
        } else {
            edr_log("fixture delivered; serving until stopped");
            WaitForSingleObject(edr_stop_event, INFINITE);
        }
    } else {
        edr_emit_device_map();
        ULONG e = edr_etw_run();
        if (e != 0) {
            edr_log("ETW source failed (error %lu); exiting", (unsigned long)e);
            rc = 3;
        }
    }
    InterlockedExchange(&edr_stop_requested, 1);
    SetEvent(edr_stop_event);
    WaitForSingleObject(thread, 5000);
    EnterCriticalSection(&lock);
    edr_log("stopping: %llu records read, %llu frames sent, %llu unacknowledged", (unsigned long long)ctr.records_read,
            (unsigned long long)ctr.frames_sent, (unsigned long long)(next_seq - head_seq));
    LeaveCriticalSection(&lock);
    return rc;
}
