#ifdef __linux__
#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/landlock.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

int edr_epoll_of(const int *fds, int count) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    for (int i = 0; i < count; i++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) { int e = errno; close(ep); errno = e; return -1; }
    }
    return ep;
}
int edr_accept4_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }
int edr_accept4_cloexec_nonblock(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

int edr_peer_cred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred c;
    socklen_t len = sizeof(c);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return -1;
    *pid = c.pid; *uid = c.uid; *gid = c.gid;
    return 0;
}

int edr_pidfd_open(int32_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int edr_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }
int edr_prctl_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }

int edr_raw_execve(const char *path) {
    char *const argv[] = { (char *)path, NULL };
    char *const envp[] = { NULL };
    return (int)syscall(SYS_execve, path, argv, envp);
}
int edr_raw_execveat(const char *path) {
    char *const argv[] = { (char *)path, NULL };
    char *const envp[] = { NULL };
    return (int)syscall(SYS_execveat, AT_FDCWD, path, argv, envp, 0);
}
int edr_raw_ptrace_attach(int32_t pid) { return (int)syscall(SYS_ptrace, PTRACE_ATTACH, pid, NULL, NULL); }
int edr_raw_bpf_probe(void) {
    union bpf_attr attr = {0};
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4; attr.value_size = 4; attr.max_entries = 1;
    return (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
}
int edr_raw_mount_probe(const char *target) { return (int)syscall(SYS_mount, "none", target, "tmpfs", 0, NULL); }
int edr_raw_kill(int32_t pid, int sig) { return (int)syscall(SYS_kill, pid, sig); }
int edr_raw_socket(int domain, int type) { return (int)syscall(SYS_socket, domain, type, 0); }
int edr_errno(void) { return errno; }

int edr_prctl_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on, 0, 0, 0); }

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif

int edr_landlock_abi(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/* Filesystem rights by ABI: v1 13 rights, v2 +REFER, v3 +TRUNCATE, v5 +IOCTL_DEV. */
static uint64_t fs_rights(int abi) {
    uint64_t r = (1ULL << 13) - 1;              /* EXECUTE .. MAKE_SYM */
    if (abi >= 2) r |= 1ULL << 13;              /* REFER */
    if (abi >= 3) r |= 1ULL << 14;              /* TRUNCATE */
    if (abi >= 5) r |= 1ULL << 15;              /* IOCTL_DEV */
    return r;
}

struct edr_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

int edr_landlock_create(int abi, int scope_signals) {
    struct edr_ruleset_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.handled_access_fs = fs_rights(abi);
    size_t size = sizeof(uint64_t);
    if (abi >= 4) { attr.handled_access_net = 3; size = 2 * sizeof(uint64_t); } /* TCP bind + connect */
    if (abi >= 6) { attr.scoped = scope_signals ? 3 : 1; size = sizeof(attr); } /* abstract Unix sockets (, signals) */
    return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
}

int edr_landlock_allow_read(int ruleset, int fd, int is_directory) {
    struct landlock_path_beneath_attr pb;
    memset(&pb, 0, sizeof(pb));
    pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | (is_directory ? LANDLOCK_ACCESS_FS_READ_DIR : 0);
    pb.parent_fd = fd;
    return (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
}

int edr_landlock_restrict_self(int ruleset) {
    return (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
}

int edr_raw_open(const char *path, int flags) { return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0600); }
int edr_raw_mkdir(const char *path) { return (int)syscall(SYS_mkdirat, AT_FDCWD, path, 0700); }
int edr_raw_ftruncate(int fd) { return (int)syscall(SYS_ftruncate, fd, 0); }
int edr_raw_fcntl_setfl(int fd, int flags) { return (int)syscall(SYS_fcntl, fd, F_SETFL, flags); }
#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x00000020
#endif
int edr_raw_pwritev2_noappend(int fd) {
    static char byte[1] = { 'X' };
    struct iovec v = { byte, 1 };
    return (int)syscall(SYS_pwritev2, fd, &v, 1, 0, 0, RWF_NOAPPEND);
}
int edr_raw_connect_unix(const char *path, int abstract) {
    int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n > sizeof(a.sun_path) - 2) n = sizeof(a.sun_path) - 2;
    memcpy(a.sun_path + (abstract ? 1 : 0), path, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0));
    int rc = (int)syscall(SYS_connect, fd, &a, len);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}
int edr_raw_prlimit_other(int32_t pid) {
    struct rlimit r;
    return (int)syscall(SYS_prlimit64, pid, RLIMIT_NOFILE, NULL, &r);
}
int edr_raw_mmap_exec(void) {
    void *p = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    munmap(p, 4096);
    return 0;
}
int edr_raw_io_uring_setup(void) {
    char params[120];
    memset(params, 0, sizeof(params));
    int fd = (int)syscall(SYS_io_uring_setup, 1, params);
    if (fd >= 0) close(fd);
    return fd < 0 ? -1 : 0;
}
int edr_raw_write_self_mem(void) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/mem", O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}
int edr_raw_unshare_net(void) { return (int)syscall(SYS_unshare, CLONE_NEWNET); }
#endif
