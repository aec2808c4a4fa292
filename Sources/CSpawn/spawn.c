#ifdef __linux__
#define _GNU_SOURCE
#include "CSpawn.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

struct report { int stage; int err; };

static const char *names[] = {
    "ok", "fork", "pipe", "signals", "fds", "bounding-set", "setgroups", "setresgid", "keepcaps",
    "setresuid", "capset", "ambient-caps", "pdeathsig", "no-new-privs", "seccomp", "execve", "unshare",
};

const char *edr_spawn_stage_name(int stage) {
    if (stage < 0 || stage > EDR_SPAWN_UNSHARE) return "unknown";
    return names[stage];
}

int edr_cap_last_cap(void) {
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 40;
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 40;
    return atoi(buf);
}

/* Only async-signal-safe calls from here until execve: the parent is multi-threaded. */
static void fail(int fd, int stage) {
    struct report r = { stage, errno };
    ssize_t ignored = write(fd, &r, sizeof(r));
    (void)ignored;
    _exit(127);
}

static void child(const struct edr_spawn_spec *s, int report_fd, int last_cap, pid_t parent) {
    sigset_t all;
    sigemptyset(&all);
    if (sigprocmask(SIG_SETMASK, &all, NULL) != 0) fail(report_fd, EDR_SPAWN_SIGNALS);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        signal(sig, SIG_DFL);
    }
    if (s->new_process_group) setpgid(0, 0);

    /* Move inherited descriptors above everything, then down to 3.., then close the rest. */
    int base = 3 + s->nfds + 64;
    if (report_fd < base) {
        int moved = fcntl(report_fd, F_DUPFD_CLOEXEC, base);
        if (moved < 0) fail(report_fd, EDR_SPAWN_FDS);
        report_fd = moved;
    }
    int exec_fd = -1;
    if (s->exec_fd >= 0) {
        exec_fd = fcntl(s->exec_fd, F_DUPFD_CLOEXEC, base + 1 + 64 + 2);
        if (exec_fd < 0) fail(report_fd, EDR_SPAWN_FDS);
    }
    int high[64];
    if (s->nfds > 60) { errno = EMFILE; fail(report_fd, EDR_SPAWN_FDS); }
    for (int i = 0; i < s->nfds; i++) {
        high[i] = fcntl(s->fds[i], F_DUPFD_CLOEXEC, base + 1);
        if (high[i] < 0) fail(report_fd, EDR_SPAWN_FDS);
    }
    if (s->stdout_fd >= 0 && dup2(s->stdout_fd, 1) < 0) fail(report_fd, EDR_SPAWN_FDS);
    if (s->stderr_fd >= 0 && dup2(s->stderr_fd, 2) < 0) fail(report_fd, EDR_SPAWN_FDS);
    for (int i = 0; i < s->nfds; i++) {
        if (dup2(high[i], 3 + i) < 0) fail(report_fd, EDR_SPAWN_FDS);
    }
    for (int fd = 3 + s->nfds; fd < base + 1 + s->nfds + 1; fd++) {
        if (fd != report_fd) close(fd);
    }
    /* The executable's descriptor: moved with the others, above them, kept until execveat. */
    /* Everything else above: close_range, leaving the report pipe and the executable. */
    int keep_lo = report_fd, keep_hi = exec_fd >= 0 ? exec_fd : report_fd;
    if (keep_lo > keep_hi) { int t = keep_lo; keep_lo = keep_hi; keep_hi = t; }
    if (keep_lo > base + 1 + s->nfds + 1) syscall(SYS_close_range, base + 1 + s->nfds + 1, keep_lo - 1, 0);
    if (keep_hi > keep_lo + 1) syscall(SYS_close_range, keep_lo + 1, keep_hi - 1, 0);
    syscall(SYS_close_range, keep_hi + 1, ~0U, 0);

    /* Own namespaces (network: no interfaces, no host abstract sockets; IPC), entered while
       still privileged. */
    if (s->unshare_flags && unshare(s->unshare_flags) != 0) fail(report_fd, EDR_SPAWN_UNSHARE);

    /* Capability bounding set: drop what the child must never regain (needs CAP_SETPCAP). */
    for (int cap = 0; cap <= last_cap; cap++) {
        if (cap < 64 && (s->caps & (1ULL << cap))) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(report_fd, EDR_SPAWN_BOUNDING);
    }

    if (s->set_ids) {
        gid_t groups[33] = { s->gid };
        int n = 1;
        for (int i = 0; i < s->ngroups && n < 33; i++) groups[n++] = s->groups[i];
        if (setgroups(n, groups) != 0) fail(report_fd, EDR_SPAWN_GROUPS);
        if (setresgid(s->gid, s->gid, s->gid) != 0) fail(report_fd, EDR_SPAWN_GID);
        if (s->caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(report_fd, EDR_SPAWN_KEEPCAPS);
        if (setresuid(s->uid, s->uid, s->uid) != 0) fail(report_fd, EDR_SPAWN_UID);
    }

    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)(s->caps & 0xffffffffu);
    data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(s->caps >> 32);
    if (syscall(SYS_capset, &hdr, data) != 0) fail(report_fd, EDR_SPAWN_CAPSET);

    /* A non-root child keeps its capabilities across execve only as ambient capabilities. */
    uid_t now = getuid();
    if (now != 0) {
        for (int cap = 0; cap <= last_cap && cap < 64; cap++) {
            if (!(s->caps & (1ULL << cap))) continue;
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) fail(report_fd, EDR_SPAWN_AMBIENT);
        }
    }

    /* After the uid change: a credential change clears the parent-death signal. */
    if (s->pdeathsig) {
        if (prctl(PR_SET_PDEATHSIG, s->pdeathsig, 0, 0, 0) != 0) fail(report_fd, EDR_SPAWN_PDEATHSIG);
        if (getppid() != parent) _exit(126);
    }
    if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(report_fd, EDR_SPAWN_NNP);

    if (s->seccomp_filter && s->seccomp_len >= sizeof(struct sock_filter)) {
        struct sock_fprog prog = {
            .len = (unsigned short)(s->seccomp_len / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)s->seccomp_filter,
        };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) fail(report_fd, EDR_SPAWN_SECCOMP);
    }

    if (exec_fd >= 0) {
        /* By descriptor: opened by the supervisor as root, so no directory on the way needs to
           be searchable by the child's uid, and nothing can swap the file after the check. */
        syscall(SYS_execveat, exec_fd, "", s->argv, s->envp, AT_EMPTY_PATH);
    } else {
        execve(s->path, s->argv, s->envp);
    }
    fail(report_fd, EDR_SPAWN_EXEC);
}

int edr_spawn(const struct edr_spawn_spec *s, pid_t *pid_out, int *err) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) { *err = errno; return EDR_SPAWN_PIPE; }
    int last_cap = edr_cap_last_cap();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { *err = errno; close(p[0]); close(p[1]); return EDR_SPAWN_FORK; }
    if (pid == 0) {
        close(p[0]);
        child(s, p[1], last_cap, parent);
        _exit(127);
    }
    close(p[1]);
    struct report r = { 0, 0 };
    ssize_t n;
    do { n = read(p[0], &r, sizeof(r)); } while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == (ssize_t)sizeof(r)) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *err = r.err;
        return r.stage;
    }
    *pid_out = pid;
    *err = 0;
    return EDR_SPAWN_OK;
}
#endif
