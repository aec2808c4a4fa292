/* edr-service.exe: the Windows service "edr", supervisor of the three children (the Windows
 * counterpart of EDRSupervisor):
 *
 *   edr-sensor.exe   SYSTEM, the service's own token (ETW needs it)
 *   edr-detect.exe   restricted token (DISABLE_MAX_PRIVILEGE, restricting SIDs), low
 *                    integrity, in a job object: one process, no breakaway, killed with the job
 *   edr-respond.exe  the service's token with every privilege deleted except SeDebugPrivilege
 *                    (open any process for PROCESS_TERMINATE) and SeChangeNotifyPrivilege
 *
 * A child that exits is started again after 1 s, doubling to 30 s while it keeps failing;
 * a child that ran for a minute starts over at 1 s. Stopping signals the children's stop
 * event (EDR_STOP_EVENT, an inherited handle), waits 5 s, then terminates what is left.
 *
 *   edr-service.exe install [OPTIONS]   create the service (auto start, restart on failure)
 *   edr-service.exe uninstall           stop and delete it
 *   edr-service.exe start|stop|query    through the service control manager
 *   edr-service.exe run [OPTIONS]       the supervisor in this console (Ctrl-C stops)
 *   edr-service.exe status [--status-file F]   the children's pids and restarts
 *   edr-service.exe service [OPTIONS]   the SCM's entry (what install registers)
 * OPTIONS: --bin-dir DIR (children's directory; default: this program's), --status-file F
 * (default DIR\edr-status.txt), --log-dir DIR (children's stdout/stderr; default DIR),
 * --sensor-args "ARGS" (appended to the sensor's command line), --healthy-ms N (how long a
 * child must run for its backoff to start over; default 60000, shorter for tests). */
#include <windows.h>
#include <sddl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define SERVICE_NAME L"edr"
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define HEALTHY_MS 60000 /* --healthy-ms, for tests */
#define STOP_GRACE_MS 5000

static struct {
    wchar_t bin_dir[MAX_PATH];
    wchar_t status_file[MAX_PATH];
    wchar_t log_dir[MAX_PATH];
    wchar_t sensor_args[1024];
    DWORD healthy_ms;
} cfg;

enum kind { SENSOR, DETECT, RESPOND };

struct child {
    const wchar_t *exe;
    enum kind kind;
    HANDLE proc;
    DWORD pid;
    HANDLE job;
    unsigned restarts;
    DWORD backoff_ms;
    ULONGLONG started, restart_at;
    char state[200];
};

static struct child children[3] = {
    {L"edr-sensor.exe", SENSOR, NULL, 0, NULL, 0, BACKOFF_MIN_MS, 0, 0, ""},
    {L"edr-detect.exe", DETECT, NULL, 0, NULL, 0, BACKOFF_MIN_MS, 0, 0, ""},
    {L"edr-respond.exe", RESPOND, NULL, 0, NULL, 0, BACKOFF_MIN_MS, 0, 0, ""},
};

static HANDLE stop_event;       /* the supervisor's */
/* Every child dies with the service, even if it is killed: the sensor and the responder are
 * in this job (KILL_ON_JOB_CLOSE, no other limit), the detector in its own. */
static HANDLE lifetime_job;
static HANDLE child_stop_event; /* inherited by the children */
static HANDLE log_file = INVALID_HANDLE_VALUE;
static SERVICE_STATUS_HANDLE status_handle;
static SERVICE_STATUS svc_status;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char buf[1200];
    SYSTEMTIME t;
    GetSystemTime(&t);
    int n = snprintf(buf, sizeof buf, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ edr-service[%lu]: ", t.wYear, t.wMonth, t.wDay,
                     t.wHour, t.wMinute, t.wSecond, t.wMilliseconds, (unsigned long)GetCurrentProcessId());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n - 2, fmt, ap);
    va_end(ap);
    strcat(buf, "\r\n");
    fputs(buf, stderr);
    fflush(stderr);
    if (log_file != INVALID_HANDLE_VALUE) {
        DWORD w;
        WriteFile(log_file, buf, (DWORD)strlen(buf), &w, NULL);
    }
}

/* "<api> failed: error <code> (<message>)", logged and kept in `out` for the status file. */
static DWORD api_error(const char *api, DWORD code, char *out, size_t out_len)
{
    char msg[256] = "";
    FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, msg, sizeof msg, NULL);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' ')) msg[--n] = 0;
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s failed: error %lu (%s)", api, (unsigned long)code, msg);
    logf_("%s", tmp);
    if (out) snprintf(out, out_len, "%s", tmp);
    return code;
}

static void write_status(void)
{
    wchar_t tmp[MAX_PATH + 8];
    swprintf(tmp, MAX_PATH + 8, L"%ls.tmp", cfg.status_file);
    FILE *f = _wfopen(tmp, L"wb");
    if (!f) return;
    fprintf(f, "service pid %lu\n", (unsigned long)GetCurrentProcessId());
    for (int i = 0; i < 3; i++)
        fprintf(f, "%ls pid %lu restarts %u state %s\n", children[i].exe, (unsigned long)children[i].pid,
                children[i].restarts, children[i].state);
    fclose(f);
    MoveFileExW(tmp, cfg.status_file, MOVEFILE_REPLACE_EXISTING);
}

static HANDLE open_log(const wchar_t *name, int inheritable)
{
    wchar_t path[MAX_PATH * 2];
    swprintf(path, MAX_PATH * 2, L"%ls\\%ls.log", cfg.log_dir, name);
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, inheritable};
    HANDLE h = CreateFileW(path, FILE_APPEND_DATA | SYNCHRONIZE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    return h;
}

static int self_token(HANDLE *tok, char *why, size_t why_len)
{
    if (!OpenProcessToken(GetCurrentProcess(),
                          TOKEN_DUPLICATE | TOKEN_QUERY | TOKEN_ASSIGN_PRIMARY | TOKEN_ADJUST_DEFAULT | TOKEN_ADJUST_SESSIONID, tok)) {
        api_error("OpenProcessToken", GetLastError(), why, why_len);
        return -1;
    }
    return 0;
}

static LUID_AND_ATTRIBUTES *privileges_to_delete(HANDLE self, int keep_debug, DWORD *n, char *why, size_t why_len);

/* The detector's token: no privileges but SeChangeNotify (DISABLE_MAX_PRIVILEGE), restricted
 * to the user, Everyone, BUILTIN\Users and RESTRICTED (enough to load system DLLs and open
 * the sensor's pipe, nothing that only the user or Administrators may touch), low integrity. */
static HANDLE detect_token(char *why, size_t why_len)
{
    HANDLE self, rt = NULL;
    if (self_token(&self, why, why_len)) return NULL;
    union { TOKEN_USER u; BYTE raw[256]; } tu;
    DWORD len;
    if (!GetTokenInformation(self, TokenUser, &tu, sizeof tu, &len)) {
        api_error("GetTokenInformation(TokenUser)", GetLastError(), why, why_len);
        CloseHandle(self);
        return NULL;
    }
    BYTE everyone[SECURITY_MAX_SID_SIZE], users[SECURITY_MAX_SID_SIZE], restricted[SECURITY_MAX_SID_SIZE], low[SECURITY_MAX_SID_SIZE];
    DWORD s1 = sizeof everyone, s2 = sizeof users, s3 = sizeof restricted, s4 = sizeof low;
    CreateWellKnownSid(WinWorldSid, NULL, everyone, &s1);
    CreateWellKnownSid(WinBuiltinUsersSid, NULL, users, &s2);
    CreateWellKnownSid(WinRestrictedCodeSid, NULL, restricted, &s3);
    CreateWellKnownSid(WinLowLabelSid, NULL, low, &s4);
    SID_AND_ATTRIBUTES rs[4] = {{tu.u.User.Sid, 0}, {everyone, 0}, {users, 0}, {restricted, 0}};
    /* DISABLE_MAX_PRIVILEGE and the explicit list say the same; the list also holds where
     * the flag is ignored (Wine). */
    DWORD ndel = 0;
    LUID_AND_ATTRIBUTES *del = privileges_to_delete(self, 0, &ndel, why, why_len);
    if (!del) {
        CloseHandle(self);
        return NULL;
    }
    BOOL ok = CreateRestrictedToken(self, DISABLE_MAX_PRIVILEGE, 0, NULL, ndel, del, 4, rs, &rt);
    DWORD e = GetLastError();
    free(del);
    CloseHandle(self);
    if (!ok) {
        api_error("CreateRestrictedToken(edr-detect)", e, why, why_len);
        return NULL;
    }
    TOKEN_MANDATORY_LABEL tml = {{low, SE_GROUP_INTEGRITY}};
    if (!SetTokenInformation(rt, TokenIntegrityLevel, &tml, sizeof tml + GetLengthSid(low))) {
        api_error("SetTokenInformation(TokenIntegrityLevel, S-1-16-4096)", GetLastError(), why, why_len);
        CloseHandle(rt);
        return NULL;
    }
    return rt;
}

/* Every privilege of `self` except SeChangeNotifyPrivilege and, with keep_debug,
 * SeDebugPrivilege; malloc'd, *n entries. */
static LUID_AND_ATTRIBUTES *privileges_to_delete(HANDLE self, int keep_debug, DWORD *n, char *why, size_t why_len)
{
    DWORD len = 0;
    GetTokenInformation(self, TokenPrivileges, NULL, 0, &len);
    TOKEN_PRIVILEGES *tp = malloc(len ? len : 1);
    if (!tp || !GetTokenInformation(self, TokenPrivileges, tp, len, &len)) {
        api_error("GetTokenInformation(TokenPrivileges)", GetLastError(), why, why_len);
        free(tp);
        return NULL;
    }
    LUID debug, notify;
    LookupPrivilegeValueW(NULL, SE_DEBUG_NAME, &debug);
    LookupPrivilegeValueW(NULL, SE_CHANGE_NOTIFY_NAME, &notify);
    LUID_AND_ATTRIBUTES *del = malloc((tp->PrivilegeCount + 1) * sizeof *del);
    DWORD ndel = 0;
    for (DWORD i = 0; del && i < tp->PrivilegeCount; i++) {
        LUID l = tp->Privileges[i].Luid;
        if ((keep_debug && l.LowPart == debug.LowPart && l.HighPart == debug.HighPart) ||
            (l.LowPart == notify.LowPart && l.HighPart == notify.HighPart))
            continue;
        del[ndel].Luid = l;
        del[ndel].Attributes = 0;
        ndel++;
    }
    free(tp);
    *n = ndel;
    return del;
}

/* The responder's token: the service's, with every privilege deleted but SeDebugPrivilege
 * and SeChangeNotifyPrivilege. */
static HANDLE respond_token(char *why, size_t why_len)
{
    HANDLE self, rt = NULL;
    if (self_token(&self, why, why_len)) return NULL;
    DWORD ndel = 0;
    LUID_AND_ATTRIBUTES *del = privileges_to_delete(self, 1, &ndel, why, why_len);
    if (!del) {
        CloseHandle(self);
        return NULL;
    }
    if (!CreateRestrictedToken(self, 0, 0, NULL, ndel, del, 0, NULL, &rt)) {
        api_error("CreateRestrictedToken(edr-respond)", GetLastError(), why, why_len);
        rt = NULL;
    }
    free(del);
    CloseHandle(self);
    return rt;
}

/* One process, no breakaway (BREAKAWAY_OK not set), everything dies with the job handle. */
static HANDLE detect_job(char *why, size_t why_len)
{
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (!job) {
        api_error("CreateJobObjectW", GetLastError(), why, why_len);
        return NULL;
    }
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
    memset(&li, 0, sizeof li);
    li.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_ACTIVE_PROCESS | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
    li.BasicLimitInformation.ActiveProcessLimit = 1;
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &li, sizeof li)) {
        api_error("SetInformationJobObject(JobObjectExtendedLimitInformation)", GetLastError(), why, why_len);
        CloseHandle(job);
        return NULL;
    }
    return job;
}

static wchar_t self_sid[256];

static int spawn(struct child *c)
{
    wchar_t exe[MAX_PATH * 2], cmd[4096];
    swprintf(exe, MAX_PATH * 2, L"%ls\\%ls", cfg.bin_dir, c->exe);
    if (c->kind == SENSOR)
        swprintf(cmd, 4096, L"\"%ls\" --client-sid %ls %ls", exe, self_sid, cfg.sensor_args);
    else
        swprintf(cmd, 4096, L"\"%ls\"", exe);

    char why[400] = "";
    HANDLE token = NULL;
    if (c->kind == DETECT) {
        token = detect_token(why, sizeof why);
        if (!token) goto refused;
        c->job = detect_job(why, sizeof why);
        if (!c->job) goto refused;
    } else if (c->kind == RESPOND) {
        token = respond_token(why, sizeof why);
        if (!token) goto refused;
    }

    HANDLE out = open_log(c->exe, TRUE);
    STARTUPINFOEXW si;
    memset(&si, 0, sizeof si);
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = NULL;
    si.StartupInfo.hStdOutput = out;
    si.StartupInfo.hStdError = out;
    /* Only the log and the stop event are inherited. */
    HANDLE inherit[2] = {child_stop_event, out};
    SIZE_T alen = 0;
    InitializeProcThreadAttributeList(NULL, 1, 0, &alen);
    si.lpAttributeList = malloc(alen);
    InitializeProcThreadAttributeList(si.lpAttributeList, 1, 0, &alen);
    UpdateProcThreadAttribute(si.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit,
                              out == INVALID_HANDLE_VALUE ? sizeof(HANDLE) : 2 * sizeof(HANDLE), NULL, NULL);
    wchar_t env_value[32];
    swprintf(env_value, 32, L"%llu", (unsigned long long)(ULONG_PTR)child_stop_event);
    SetEnvironmentVariableW(L"EDR_STOP_EVENT", env_value);

    PROCESS_INFORMATION pi;
    DWORD flags = CREATE_SUSPENDED | CREATE_NO_WINDOW | EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT;
    BOOL ok = token ? CreateProcessAsUserW(token, exe, cmd, NULL, NULL, TRUE, flags, NULL, cfg.bin_dir, &si.StartupInfo, &pi)
                    : CreateProcessW(exe, cmd, NULL, NULL, TRUE, flags, NULL, cfg.bin_dir, &si.StartupInfo, &pi);
    DWORD e = GetLastError();
    DeleteProcThreadAttributeList(si.lpAttributeList);
    free(si.lpAttributeList);
    if (out != INVALID_HANDLE_VALUE) CloseHandle(out);
    if (!ok) {
        char api[80];
        snprintf(api, sizeof api, "%s(%ls)", token ? "CreateProcessAsUserW" : "CreateProcessW", c->exe);
        api_error(api, e, why, sizeof why);
        goto refused;
    }
    if (!c->job && lifetime_job && !AssignProcessToJobObject(lifetime_job, pi.hProcess))
        api_error("AssignProcessToJobObject(lifetime)", GetLastError(), NULL, 0);
    if (c->job && !AssignProcessToJobObject(c->job, pi.hProcess)) {
        api_error("AssignProcessToJobObject(edr-detect)", GetLastError(), why, sizeof why);
        TerminateProcess(pi.hProcess, 1);
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
        goto refused;
    }
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    if (token) CloseHandle(token);
    c->proc = pi.hProcess;
    c->pid = pi.dwProcessId;
    c->started = GetTickCount64();
    snprintf(c->state, sizeof c->state, "running");
    logf_("started %ls, pid %lu%s", c->exe, (unsigned long)c->pid,
          c->kind == DETECT ? " (restricted token, low integrity, job: 1 process)"
                            : c->kind == RESPOND ? " (SeDebugPrivilege and SeChangeNotifyPrivilege only)" : " (SYSTEM)");
    return 0;

refused:
    /* A child that cannot be confined is not started unconfined. */
    if (token) CloseHandle(token);
    if (c->job) {
        CloseHandle(c->job);
        c->job = NULL;
    }
    c->pid = 0;
    c->restart_at = GetTickCount64() + c->backoff_ms;
    snprintf(c->state, sizeof c->state, "not started: %.150s; retry in %lu ms", why, (unsigned long)c->backoff_ms);
    logf_("%ls not started; retrying in %lu ms", c->exe, (unsigned long)c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    return -1;
}

static void reaped(struct child *c)
{
    DWORD code = 0;
    GetExitCodeProcess(c->proc, &code);
    ULONGLONG ran = GetTickCount64() - c->started;
    CloseHandle(c->proc);
    c->proc = NULL;
    if (c->job) {
        CloseHandle(c->job);
        c->job = NULL;
    }
    if (ran >= cfg.healthy_ms) c->backoff_ms = BACKOFF_MIN_MS;
    logf_("%ls (pid %lu) exited with code %lu after %llu ms; restarting in %lu ms", c->exe, (unsigned long)c->pid,
          (unsigned long)code, (unsigned long long)ran, (unsigned long)c->backoff_ms);
    c->restarts++;
    c->restart_at = GetTickCount64() + c->backoff_ms;
    snprintf(c->state, sizeof c->state, "exited with code %lu; restart in %lu ms", (unsigned long)code, (unsigned long)c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    c->pid = 0;
}

static void stop_children(void)
{
    SetEvent(child_stop_event);
    HANDLE hs[3];
    DWORD n = 0;
    for (int i = 0; i < 3; i++)
        if (children[i].proc) hs[n++] = children[i].proc;
    if (n) WaitForMultipleObjects(n, hs, TRUE, STOP_GRACE_MS);
    for (int i = 0; i < 3; i++) {
        struct child *c = &children[i];
        if (!c->proc) continue;
        if (WaitForSingleObject(c->proc, 0) == WAIT_TIMEOUT) {
            logf_("%ls (pid %lu) did not stop within %d ms; terminating it", c->exe, (unsigned long)c->pid, STOP_GRACE_MS);
            TerminateProcess(c->proc, 1);
            WaitForSingleObject(c->proc, 5000);
        }
        CloseHandle(c->proc);
        c->proc = NULL;
        if (c->job) CloseHandle(c->job);
        c->job = NULL;
        c->pid = 0;
        snprintf(c->state, sizeof c->state, "stopped");
    }
    write_status();
}

static void supervise(void)
{
    HANDLE tok;
    union { TOKEN_USER u; BYTE raw[256]; } tu;
    DWORD len;
    wchar_t *s = NULL;
    if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) {
        if (GetTokenInformation(tok, TokenUser, &tu, sizeof tu, &len) && ConvertSidToStringSidW(tu.u.User.Sid, &s)) {
            wcsncpy(self_sid, s, 255);
            LocalFree(s);
        }
        CloseHandle(tok);
    }
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    child_stop_event = CreateEventW(&sa, TRUE, FALSE, NULL);
    lifetime_job = CreateJobObjectW(NULL, NULL);
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
    memset(&li, 0, sizeof li);
    li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!lifetime_job || !SetInformationJobObject(lifetime_job, JobObjectExtendedLimitInformation, &li, sizeof li)) {
        api_error("CreateJobObjectW/SetInformationJobObject(lifetime)", GetLastError(), NULL, 0);
        if (lifetime_job) CloseHandle(lifetime_job);
        lifetime_job = NULL;
    }
    logf_("supervising %ls\\{edr-sensor,edr-detect,edr-respond}.exe as %ls; status in %ls", cfg.bin_dir, self_sid, cfg.status_file);
    for (;;) {
        ULONGLONG now = GetTickCount64();
        DWORD timeout = 1000;
        for (int i = 0; i < 3; i++) {
            struct child *c = &children[i];
            if (c->proc) continue;
            if (now >= c->restart_at) spawn(c);
            if (!c->proc && c->restart_at > now && c->restart_at - now < timeout) timeout = (DWORD)(c->restart_at - now);
        }
        write_status();
        HANDLE hs[4];
        struct child *who[4];
        DWORD n = 0;
        hs[n] = stop_event;
        who[n++] = NULL;
        for (int i = 0; i < 3; i++)
            if (children[i].proc) {
                hs[n] = children[i].proc;
                who[n++] = &children[i];
            }
        DWORD w = WaitForMultipleObjects(n, hs, FALSE, timeout);
        if (w == WAIT_OBJECT_0) break;
        if (w > WAIT_OBJECT_0 && w < WAIT_OBJECT_0 + n) reaped(who[w - WAIT_OBJECT_0]);
    }
    logf_("stopping the children");
    stop_children();
    logf_("stopped");
}

static void set_state(DWORD state, DWORD exit_code)
{
    svc_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    svc_status.dwCurrentState = state;
    svc_status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    svc_status.dwWin32ExitCode = exit_code;
    svc_status.dwWaitHint = state == SERVICE_STOP_PENDING ? STOP_GRACE_MS + 5000 : 0;
    svc_status.dwCheckPoint = state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : svc_status.dwCheckPoint + 1;
    SetServiceStatus(status_handle, &svc_status);
}

static DWORD WINAPI on_control(DWORD control, DWORD type, LPVOID data, LPVOID ctx)
{
    (void)type;
    (void)data;
    (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        logf_("service control %s", control == SERVICE_CONTROL_STOP ? "STOP" : "SHUTDOWN");
        set_state(SERVICE_STOP_PENDING, NO_ERROR);
        SetEvent(stop_event);
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    (void)argc;
    (void)argv;
    status_handle = RegisterServiceCtrlHandlerExW(SERVICE_NAME, on_control, NULL);
    if (!status_handle) {
        api_error("RegisterServiceCtrlHandlerExW", GetLastError(), NULL, 0);
        return;
    }
    set_state(SERVICE_START_PENDING, NO_ERROR);
    set_state(SERVICE_RUNNING, NO_ERROR);
    supervise();
    set_state(SERVICE_STOPPED, NO_ERROR);
}

static BOOL WINAPI on_console(DWORD type)
{
    (void)type;
    SetEvent(stop_event);
    return TRUE;
}

static int parse_options(int argc, wchar_t **argv, int from)
{
    wchar_t self[MAX_PATH];
    GetModuleFileNameW(NULL, self, MAX_PATH);
    wchar_t *slash = wcsrchr(self, L'\\');
    if (slash) *slash = 0;
    wcscpy(cfg.bin_dir, self);
    cfg.status_file[0] = cfg.log_dir[0] = cfg.sensor_args[0] = 0;
    cfg.healthy_ms = HEALTHY_MS;
    for (int i = from; i < argc; i++) {
        const wchar_t *a = argv[i];
        if (i + 1 >= argc) {
            logf_("%ls: missing value (or unknown argument)", a);
            return -1;
        }
        const wchar_t *v = argv[++i];
        if (!wcscmp(a, L"--bin-dir")) wcsncpy(cfg.bin_dir, v, MAX_PATH - 1);
        else if (!wcscmp(a, L"--status-file")) wcsncpy(cfg.status_file, v, MAX_PATH - 1);
        else if (!wcscmp(a, L"--log-dir")) wcsncpy(cfg.log_dir, v, MAX_PATH - 1);
        else if (!wcscmp(a, L"--sensor-args")) wcsncpy(cfg.sensor_args, v, 1023);
        else if (!wcscmp(a, L"--healthy-ms")) {
            wchar_t *end;
            unsigned long x = wcstoul(v, &end, 10);
            if (!*v || *end || x < 100 || x > 86400000) {
                logf_("--healthy-ms: '%ls' is not a number of milliseconds from 100 to 86400000", v);
                return -1;
            }
            cfg.healthy_ms = (DWORD)x;
        } else {
            logf_("unknown option %ls (accepted: --bin-dir, --status-file, --log-dir, --sensor-args, --healthy-ms)", a);
            return -1;
        }
    }
    DWORD attr = GetFileAttributesW(cfg.bin_dir);
    if (attr == INVALID_FILE_ATTRIBUTES || !(attr & FILE_ATTRIBUTE_DIRECTORY)) {
        logf_("--bin-dir %ls: not a directory", cfg.bin_dir);
        return -1;
    }
    if (!cfg.status_file[0]) swprintf(cfg.status_file, MAX_PATH, L"%ls\\edr-status.txt", cfg.bin_dir);
    if (!cfg.log_dir[0]) wcscpy(cfg.log_dir, cfg.bin_dir);
    return 0;
}

static SC_HANDLE open_scm(DWORD access)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, access);
    if (!scm) api_error("OpenSCManagerW", GetLastError(), NULL, 0);
    return scm;
}

static int install(int argc, wchar_t **argv)
{
    if (parse_options(argc, argv, 2)) return 64;
    wchar_t self[MAX_PATH], cmd[4096];
    GetModuleFileNameW(NULL, self, MAX_PATH);
    swprintf(cmd, 4096, L"\"%ls\" service --bin-dir \"%ls\" --status-file \"%ls\" --log-dir \"%ls\"%ls%ls%ls", self,
             cfg.bin_dir, cfg.status_file, cfg.log_dir, cfg.sensor_args[0] ? L" --sensor-args \"" : L"", cfg.sensor_args,
             cfg.sensor_args[0] ? L"\"" : L"");
    for (int i = 0; i < 3; i++) {
        wchar_t exe[MAX_PATH * 2];
        swprintf(exe, MAX_PATH * 2, L"%ls\\%ls", cfg.bin_dir, children[i].exe);
        if (GetFileAttributesW(exe) == INVALID_FILE_ATTRIBUTES)
            logf_("warning: %ls does not exist (yet); the service will retry it with backoff", exe);
    }
    SC_HANDLE scm = open_scm(SC_MANAGER_CREATE_SERVICE);
    if (!scm) return 1;
    SC_HANDLE svc = CreateServiceW(scm, SERVICE_NAME, L"EDR agent", SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                                   SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL);
    if (!svc) {
        DWORD e = GetLastError();
        api_error("CreateServiceW(edr)", e, NULL, 0);
        if (e == ERROR_SERVICE_EXISTS) logf_("the service edr exists already: run 'edr-service.exe uninstall' first");
        CloseServiceHandle(scm);
        return 1;
    }
    /* Restart after 1 s, 10 s, 30 s, failure count reset after a day. */
    SC_ACTION actions[3] = {{SC_ACTION_RESTART, 1000}, {SC_ACTION_RESTART, 10000}, {SC_ACTION_RESTART, 30000}};
    SERVICE_FAILURE_ACTIONSW fa = {86400, NULL, NULL, 3, actions};
    if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa))
        api_error("ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS)", GetLastError(), NULL, 0);
    SERVICE_DESCRIPTIONW d = {L"EDR agent: ETW sensor, detector and responder"};
    ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &d);
    logf_("installed service edr: %ls", cmd);
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return 0;
}

static int control(const wchar_t *what)
{
    SC_HANDLE scm = open_scm(SC_MANAGER_CONNECT);
    if (!scm) return 1;
    SC_HANDLE svc = OpenServiceW(scm, SERVICE_NAME, SERVICE_ALL_ACCESS);
    if (!svc) {
        api_error("OpenServiceW(edr)", GetLastError(), NULL, 0);
        CloseServiceHandle(scm);
        return 1;
    }
    int rc = 0;
    SERVICE_STATUS_PROCESS sp;
    DWORD len;
    if (!wcscmp(what, L"start")) {
        if (!StartServiceW(svc, 0, NULL)) rc = (int)api_error("StartServiceW(edr)", GetLastError(), NULL, 0);
    } else if (!wcscmp(what, L"stop") || !wcscmp(what, L"uninstall")) {
        SERVICE_STATUS ss;
        if (!ControlService(svc, SERVICE_CONTROL_STOP, &ss)) {
            DWORD e = GetLastError();
            if (e != ERROR_SERVICE_NOT_ACTIVE) rc = (int)api_error("ControlService(edr, STOP)", e, NULL, 0);
        }
        for (int i = 0; i < 200 && rc == 0; i++) {
            if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&sp, sizeof sp, &len)) break;
            if (sp.dwCurrentState == SERVICE_STOPPED) break;
            Sleep(100);
        }
        if (!wcscmp(what, L"uninstall")) {
            if (!DeleteService(svc)) rc = (int)api_error("DeleteService(edr)", GetLastError(), NULL, 0);
            else logf_("service edr deleted");
            rc = rc == (int)ERROR_SERVICE_NOT_ACTIVE ? 0 : rc;
        }
    } else {
        if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&sp, sizeof sp, &len)) {
            rc = (int)api_error("QueryServiceStatusEx(edr)", GetLastError(), NULL, 0);
        } else {
            const char *names[] = {"?", "STOPPED", "START_PENDING", "STOP_PENDING", "RUNNING", "CONTINUE_PENDING", "PAUSE_PENDING", "PAUSED"};
            printf("edr: %s pid %lu\n", sp.dwCurrentState <= 7 ? names[sp.dwCurrentState] : "?", (unsigned long)sp.dwProcessId);
        }
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return rc ? 1 : 0;
}

int wmain(int argc, wchar_t **argv)
{
    const wchar_t *cmd = argc > 1 ? argv[1] : L"";
    stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!wcscmp(cmd, L"install")) return install(argc, argv);
    if (!wcscmp(cmd, L"uninstall") || !wcscmp(cmd, L"start") || !wcscmp(cmd, L"stop") || !wcscmp(cmd, L"query"))
        return control(cmd);
    if (!wcscmp(cmd, L"status")) {
        if (parse_options(argc, argv, 2)) return 64;
        FILE *f = _wfopen(cfg.status_file, L"rb");
        if (!f) {
            logf_("%ls: cannot open (is the service running?)", cfg.status_file);
            return 1;
        }
        char line[512];
        while (fgets(line, sizeof line, f)) fputs(line, stdout);
        fclose(f);
        return 0;
    }
    if (!wcscmp(cmd, L"run")) {
        if (parse_options(argc, argv, 2)) return 64;
        SetConsoleCtrlHandler(on_console, TRUE);
        supervise();
        return 0;
    }
    if (!wcscmp(cmd, L"service")) {
        if (parse_options(argc, argv, 2)) return 64;
        log_file = open_log(L"edr-service", FALSE);
        SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)SERVICE_NAME, service_main}, {NULL, NULL}};
        if (!StartServiceCtrlDispatcherW(table)) return (int)api_error("StartServiceCtrlDispatcherW", GetLastError(), NULL, 0);
        return 0;
    }
    fprintf(stderr, "usage: edr-service.exe install|uninstall|start|stop|query|status|run|service [OPTIONS]\n"
                    "OPTIONS: --bin-dir DIR --status-file FILE --log-dir DIR --sensor-args \"ARGS\" --healthy-ms N\n");
    return 64;
}
