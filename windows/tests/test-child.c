/* Stand-in for edr-sensor.exe / edr-detect.exe / edr-respond.exe in the service tests: prints
 * what its token and job allow (the service's confinement, seen from inside), then waits for
 * the service's stop event (EDR_STOP_EVENT) and exits 0.
 *
 *   report lines (stdout, which the service sends to <log-dir>\<exe>.log):
 *     child <exe> pid <pid> integrity <rid> restricted <0|1> in_job <0|1>
 *     child <exe> pid <pid> privileges <name,...>
 *     child <exe> pid <pid> spawn <allowed|refused error N>
 *   test-child.exe --noop   exits at once (the process the job should refuse). */
#include <windows.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc > 1 && !wcscmp(argv[1], L"--noop")) return 0;
    wchar_t self[MAX_PATH];
    GetModuleFileNameW(NULL, self, MAX_PATH);
    const wchar_t *name = wcsrchr(self, L'\\') ? wcsrchr(self, L'\\') + 1 : self;
    DWORD pid = GetCurrentProcessId();

    HANDLE tok;
    DWORD rid = 0, len = 0;
    BOOL in_job = FALSE;
    IsProcessInJob(GetCurrentProcess(), NULL, &in_job);
    char privs[2048] = "";
    if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) {
        union { TOKEN_MANDATORY_LABEL l; BYTE raw[128]; } il;
        if (GetTokenInformation(tok, TokenIntegrityLevel, &il, sizeof il, &len))
            rid = *GetSidSubAuthority(il.l.Label.Sid, *GetSidSubAuthorityCount(il.l.Label.Sid) - 1);
        BYTE buf[4096];
        if (GetTokenInformation(tok, TokenPrivileges, buf, sizeof buf, &len)) {
            TOKEN_PRIVILEGES *tp = (TOKEN_PRIVILEGES *)buf;
            for (DWORD i = 0; i < tp->PrivilegeCount; i++) {
                char n[128];
                DWORD nl = sizeof n;
                if (LookupPrivilegeNameA(NULL, &tp->Privileges[i].Luid, n, &nl)) {
                    if (privs[0]) strcat(privs, ",");
                    if (strlen(privs) + nl + 2 < sizeof privs) strcat(privs, n);
                }
            }
        }
        printf("child %ls pid %lu integrity 0x%lx restricted %d in_job %d\n", name, (unsigned long)pid, (unsigned long)rid,
               IsTokenRestricted(tok) ? 1 : 0, in_job ? 1 : 0);
        printf("child %ls pid %lu privileges %s\n", name, (unsigned long)pid, privs[0] ? privs : "(none)");
        CloseHandle(tok);
    } else {
        printf("child %ls pid %lu OpenProcessToken error %lu\n", name, (unsigned long)pid, GetLastError());
    }

    wchar_t cmd[MAX_PATH + 16];
    swprintf(cmd, MAX_PATH + 16, L"\"%ls\" --noop", self);
    STARTUPINFOW si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    PROCESS_INFORMATION pi;
    if (CreateProcessW(self, cmd, NULL, NULL, FALSE, CREATE_NO_WINDOW, NULL, NULL, &si, &pi)) {
        printf("child %ls pid %lu spawn allowed\n", name, (unsigned long)pid);
        WaitForSingleObject(pi.hProcess, 5000);
        CloseHandle(pi.hProcess);
        CloseHandle(pi.hThread);
    } else {
        printf("child %ls pid %lu spawn refused error %lu\n", name, (unsigned long)pid, GetLastError());
    }
    fflush(stdout);

    wchar_t ev[32];
    HANDLE stop = NULL;
    if (GetEnvironmentVariableW(L"EDR_STOP_EVENT", ev, 32) > 0) stop = (HANDLE)(ULONG_PTR)wcstoull(ev, NULL, 10);
    if (stop && WaitForSingleObject(stop, INFINITE) == WAIT_OBJECT_0) {
        printf("child %ls pid %lu stop event: exiting\n", name, (unsigned long)pid);
        return 0;
    }
    Sleep(INFINITE);
    return 0;
}
