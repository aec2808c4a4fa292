/* Test client for edr-sensor.exe: plays the detector's side of the pipe protocol and checks
 * every byte against the fixture the sensor was started with.
 *
 *   pipe-client --whoami                         print this process's token user SID
 *   pipe-client --pipe P --fixture F [--expect-from S] [--read N|all] [--ack-upto K]
 *               [--ack-every N] [--hold-ms T] [--expect-idle-ms T] [--expect-stat NAME>=V]
 *   pipe-client --pipe P --expect-refused         a connection must be refused
 *   pipe-client --check-frames FILE --fixture F   a --write-frames file, same checks
 * Exit 0 when every check held; 1 with "FAIL: ..." otherwise; 2 when it could not connect. */
#include <windows.h>
#include <sddl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "../common/edr_wire.h"

static uint8_t *fixture;
static size_t fixture_size, fixture_count;
static size_t *rec_off; /* offset of record i's payload */
static uint32_t *rec_len;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(1);
}

static void load_fixture(const wchar_t *path)
{
    FILE *f = _wfopen(path, L"rb");
    if (!f) fail("cannot open fixture %ls", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    fixture = malloc(n ? (size_t)n : 1);
    if (fread(fixture, 1, (size_t)n, f) != (size_t)n) fail("cannot read fixture %ls", path);
    fclose(f);
    fixture_size = (size_t)n;
    size_t cap = 1024;
    rec_off = malloc(cap * sizeof *rec_off);
    rec_len = malloc(cap * sizeof *rec_len);
    for (size_t off = 0; off + 4 <= fixture_size;) {
        uint32_t len = edr_get32(fixture + off);
        if (off + 4 + len > fixture_size) fail("fixture %ls is malformed at offset %u", path, (unsigned)off);
        if (fixture_count == cap) {
            cap *= 2;
            rec_off = realloc(rec_off, cap * sizeof *rec_off);
            rec_len = realloc(rec_len, cap * sizeof *rec_len);
        }
        rec_off[fixture_count] = off + 4;
        rec_len[fixture_count] = len;
        fixture_count++;
        off += 4 + len;
    }
}

/* Byte source: a pipe (polled with a deadline) or a file. */
static HANDLE src;
static int src_is_pipe;

/* 1 when n bytes were read, 0 at end of stream/timeout (nothing read), fails on partial. */
static int read_exact(uint8_t *p, size_t n, DWORD timeout_ms)
{
    size_t got = 0;
    DWORD start = GetTickCount();
    while (got < n) {
        if (src_is_pipe) {
            DWORD avail = 0;
            if (!PeekNamedPipe(src, NULL, 0, NULL, &avail, NULL)) {
                if (got == 0) return 0;
                fail("pipe closed inside a frame (%u of %u bytes)", (unsigned)got, (unsigned)n);
            }
            if (avail == 0) {
                if (GetTickCount() - start > timeout_ms) {
                    if (got == 0) return 0;
                    fail("timed out inside a frame (%u of %u bytes)", (unsigned)got, (unsigned)n);
                }
                Sleep(5);
                continue;
            }
        }
        DWORD r = 0;
        if (!ReadFile(src, p + got, (DWORD)(n - got), &r, NULL) || r == 0) {
            if (got == 0) return 0;
            fail("stream ended inside a frame (%u of %u bytes)", (unsigned)got, (unsigned)n);
        }
        got += r;
    }
    return 1;
}

static uint8_t frame[EDR_MAX_FRAME_SIZE];
static struct edr_frame_info fi;

/* Next frame into `frame`; 0 at end/timeout. Checks the header as FrameDecoder does. */
static int next_frame(DWORD timeout_ms)
{
    if (!read_exact(frame, EDR_HEADER_SIZE, timeout_ms)) return 0;
    char err[160];
    if (edr_frame_parse_header(frame, EDR_MAX_FRAME_SIZE, &fi, err, sizeof err) != 0) fail("bad frame header: %s", err);
    if (frame[5] != EDR_PROTOCOL_VERSION) fail("version %u", frame[5]);
    if (fi.length > EDR_HEADER_SIZE && !read_exact(frame + EDR_HEADER_SIZE, fi.length - EDR_HEADER_SIZE, 5000))
        fail("frame of %u bytes cut short", fi.length);
    return 1;
}

static void write_frame(const uint8_t *p, size_t n)
{
    DWORD w = 0;
    if (!WriteFile(src, p, (DWORD)n, &w, NULL) || w != n) fail("write to the sensor failed: error %lu", GetLastError());
}

static const char *stat_name;
static uint64_t stat_min;
static int stat_seen;

static void check_stats(void)
{
    const uint8_t *p = frame + EDR_HEADER_SIZE;
    size_t n = fi.length - EDR_HEADER_SIZE, off = 2;
    if (n < 2) fail("stats frame shorter than 2 bytes");
    unsigned count = edr_get16(p);
    for (unsigned i = 0; i < count; i++) {
        if (off >= n) fail("stats truncated");
        size_t l = p[off++];
        if (off + l + 8 > n) fail("stats truncated");
        uint64_t v = edr_get64(p + off + l);
        if (stat_name && strlen(stat_name) == l && !memcmp(p + off, stat_name, l) && v >= stat_min) stat_seen = 1;
        off += l + 8;
    }
    if (off != n) fail("trailing bytes in stats");
}

/* Checks an etwRecord frame against fixture record seq-1. */
static void check_record(uint64_t expect_seq)
{
    if (fi.type != EDR_FRAME_ETW_RECORD) fail("frame type %u, expected etwRecord (16)", fi.type);
    if (fi.sequence != expect_seq)
        fail("sequence %llu, expected %llu", (unsigned long long)fi.sequence, (unsigned long long)expect_seq);
    if (expect_seq == 0 || expect_seq > fixture_count)
        fail("sequence %llu but the fixture has %u records", (unsigned long long)expect_seq, (unsigned)fixture_count);
    size_t i = (size_t)(expect_seq - 1);
    if (fi.length - EDR_HEADER_SIZE != rec_len[i])
        fail("frame %llu payload is %u bytes, fixture record %u is %u", (unsigned long long)expect_seq,
             fi.length - EDR_HEADER_SIZE, (unsigned)i, rec_len[i]);
    if (memcmp(frame + EDR_HEADER_SIZE, fixture + rec_off[i], rec_len[i]) != 0) {
        for (uint32_t k = 0; k < rec_len[i]; k++)
            if (frame[EDR_HEADER_SIZE + k] != fixture[rec_off[i] + k])
                fail("frame %llu payload differs from fixture record %u at payload offset %u", (unsigned long long)expect_seq,
                     (unsigned)i, k);
    }
}

static int whoami(void)
{
    HANDLE tok;
    union { TOKEN_USER u; uint8_t raw[256]; } tu;
    DWORD len;
    wchar_t *s = NULL;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) ||
        !GetTokenInformation(tok, TokenUser, &tu, sizeof tu, &len) || !ConvertSidToStringSidW(tu.u.User.Sid, &s)) {
        printf("FAIL: token user: error %lu\n", GetLastError());
        return 1;
    }
    printf("%ls\n", s);
    return 0;
}

static HANDLE connect_pipe(const wchar_t *name, DWORD *err, int once)
{
    DWORD start = GetTickCount();
    for (;;) {
        HANDLE h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (h != INVALID_HANDLE_VALUE) return h;
        *err = GetLastError();
        if (once) return h;
        /* The sensor re-arms the pipe a moment after the previous client left; not found
         * or busy then, for a few milliseconds. */
        if ((*err != ERROR_FILE_NOT_FOUND && *err != ERROR_PIPE_BUSY) || GetTickCount() - start > 10000) return h;
        Sleep(50);
    }
}

int wmain(int argc, wchar_t **argv)
{
    const wchar_t *pipe = L"\\\\.\\pipe\\edr-sensor", *check_file = NULL;
    uint64_t expect_from = 1, ack_upto = 0, ack_every = 0;
    long long to_read = -1; /* -1: all remaining fixture records */
    DWORD hold_ms = 0, idle_ms = 0;
    int expect_refused = 0;
    static char stat_buf[128];
    for (int i = 1; i < argc; i++) {
        const wchar_t *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : L"";
        if (!wcscmp(a, L"--whoami")) return whoami();
        else if (!wcscmp(a, L"--pipe")) { pipe = v; i++; }
        else if (!wcscmp(a, L"--fixture")) { load_fixture(v); i++; }
        else if (!wcscmp(a, L"--check-frames")) { check_file = v; i++; }
        else if (!wcscmp(a, L"--expect-from")) { expect_from = wcstoull(v, NULL, 10); i++; }
        else if (!wcscmp(a, L"--read")) { to_read = wcscmp(v, L"all") ? wcstoll(v, NULL, 10) : -1; i++; }
        else if (!wcscmp(a, L"--ack-upto")) { ack_upto = wcstoull(v, NULL, 10); i++; }
        else if (!wcscmp(a, L"--ack-every")) { ack_every = wcstoull(v, NULL, 10); i++; }
        else if (!wcscmp(a, L"--hold-ms")) { hold_ms = (DWORD)wcstoul(v, NULL, 10); i++; }
        else if (!wcscmp(a, L"--expect-idle-ms")) { idle_ms = (DWORD)wcstoul(v, NULL, 10); i++; }
        else if (!wcscmp(a, L"--expect-refused")) { expect_refused = 1; }
        else if (!wcscmp(a, L"--expect-stat")) {
            /* NAME>=VALUE */
            snprintf(stat_buf, sizeof stat_buf, "%ls", v);
            char *ge = strstr(stat_buf, ">=");
            if (!ge) fail("--expect-stat wants NAME>=VALUE");
            *ge = 0;
            stat_name = stat_buf;
            stat_min = strtoull(ge + 2, NULL, 10);
            i++;
        } else fail("unknown argument %ls", a);
    }

    if (check_file) {
        src = CreateFileW(check_file, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
        if (src == INVALID_HANDLE_VALUE) fail("cannot open %ls: error %lu", check_file, GetLastError());
        if (!next_frame(0) || fi.type != EDR_FRAME_HELLO) fail("first frame is not hello");
        uint16_t role; uint32_t pid; uint64_t ns; char err[128];
        if (edr_hello_parse(frame + EDR_HEADER_SIZE, fi.length - EDR_HEADER_SIZE, &role, &pid, &ns, err, sizeof err)) fail("hello: %s", err);
        if (role != EDR_ROLE_SENSOR || ns != 1) fail("hello role %u next %llu", role, (unsigned long long)ns);
        uint64_t seq = 1;
        int stats = 0;
        while (next_frame(0)) {
            if (fi.type == EDR_FRAME_SENSOR_STATS) { check_stats(); stats++; continue; }
            check_record(seq++);
        }
        if (seq - 1 != fixture_count) fail("%llu records in the file, fixture has %u", (unsigned long long)(seq - 1), (unsigned)fixture_count);
        if (stats != 1) fail("%d stats frames, expected 1 at the end", stats);
        if (stat_name && !stat_seen) fail("no stat %s >= %llu", stat_name, (unsigned long long)stat_min);
        printf("ok: %llu records match the fixture, hello first, stats last\n", (unsigned long long)(seq - 1));
        return 0;
    }

    DWORD err = 0;
    src = connect_pipe(pipe, &err, expect_refused);
    src_is_pipe = 1;
    if (expect_refused) {
        if (src == INVALID_HANDLE_VALUE) {
            printf("ok: refused at open: error %lu\n", err);
            return 0;
        }
        /* Opened: the sensor must hang up without a hello (client check failed). */
        uint8_t hello[EDR_HELLO_FRAME_SIZE];
        edr_hello_frame(hello, EDR_ROLE_DETECTOR, GetCurrentProcessId(), 0);
        DWORD w;
        WriteFile(src, hello, sizeof hello, &w, NULL);
        if (next_frame(3000)) fail("connected and got a type-%u frame: not refused", fi.type);
        printf("ok: opened, then dropped by the sensor without a frame\n");
        return 0;
    }
    if (src == INVALID_HANDLE_VALUE) {
        printf("FAIL: connect %ls: error %lu\n", pipe, err);
        return 2;
    }
    uint8_t hello[EDR_HELLO_FRAME_SIZE];
    edr_hello_frame(hello, EDR_ROLE_DETECTOR, GetCurrentProcessId(), 0);
    write_frame(hello, sizeof hello);
    if (!next_frame(5000)) fail("no hello from the sensor within 5 s");
    if (fi.type != EDR_FRAME_HELLO) fail("first frame is type %u, not hello", fi.type);
    uint16_t role; uint32_t pid; uint64_t ns; char herr[128];
    if (edr_hello_parse(frame + EDR_HEADER_SIZE, fi.length - EDR_HEADER_SIZE, &role, &pid, &ns, herr, sizeof herr)) fail("hello: %s", herr);
    if (role != EDR_ROLE_SENSOR) fail("hello role %u, expected sensor (1)", role);
    if (ns != expect_from) fail("hello nextSequence %llu, expected %llu", (unsigned long long)ns, (unsigned long long)expect_from);

    if (to_read < 0) to_read = (long long)fixture_count - (long long)(expect_from - 1);
    uint64_t seq = expect_from;
    long long got = 0;
    int stats = 0;
    while (got < to_read) {
        if (!next_frame(20000)) fail("after %lld of %lld records: nothing for 20 s", got, to_read);
        if (fi.type == EDR_FRAME_SENSOR_STATS) { check_stats(); stats++; continue; }
        check_record(seq);
        seq++;
        got++;
        if (ack_every && got % (long long)ack_every == 0) {
            uint8_t ack[EDR_ACK_FRAME_SIZE];
            edr_ack_frame(ack, seq - 1);
            write_frame(ack, sizeof ack);
        }
    }
    if (ack_upto) {
        uint8_t ack[EDR_ACK_FRAME_SIZE];
        edr_ack_frame(ack, ack_upto);
        write_frame(ack, sizeof ack);
        FlushFileBuffers(src);
    }
    if (idle_ms) {
        /* Nothing but stats may come now. */
        DWORD start = GetTickCount();
        while (GetTickCount() - start < idle_ms) {
            if (!next_frame(idle_ms)) break;
            if (fi.type == EDR_FRAME_SENSOR_STATS) { check_stats(); stats++; continue; }
            fail("unexpected type-%u frame, sequence %llu, after every record was read", fi.type, (unsigned long long)fi.sequence);
        }
    }
    if (stat_name) {
        /* A fresh stats frame reflects what happened on this connection. */
        DWORD start = GetTickCount();
        while (!stat_seen && GetTickCount() - start < 15000) {
            if (!next_frame(15000)) break;
            if (fi.type == EDR_FRAME_SENSOR_STATS) { check_stats(); stats++; }
        }
        if (!stat_seen) fail("no stats frame with %s >= %llu", stat_name, (unsigned long long)stat_min);
    }
    if (stats == 0) fail("no sensorStats frame on the connection");
    if (hold_ms) {
        /* Tells the test this connection is up and idle, so it can try a second one. */
        printf("holding the connection for %lu ms\n", (unsigned long)hold_ms);
        fflush(stdout);
        Sleep(hold_ms);
    }
    printf("ok: hello next=%llu, %lld records seq %llu..%llu match the fixture, %d stats frames%s\n",
           (unsigned long long)ns, got, (unsigned long long)expect_from, (unsigned long long)(seq - 1), stats,
           ack_upto ? ", acked" : "");
    CloseHandle(src);
    return 0;
}
