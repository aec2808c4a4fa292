#ifdef __linux__
#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

int edr_accept4_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

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
int edr_prctl_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int edr_prctl_set_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

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
int edr_raw_mount_probe(void) { return (int)syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL); }
int edr_raw_kill(int32_t pid, int sig) { return (int)syscall(SYS_kill, pid, sig); }
int edr_raw_socket(int domain, int type) { return (int)syscall(SYS_socket, domain, type, 0); }
int edr_errno(void) { return errno; }
#endif
