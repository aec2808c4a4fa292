#ifndef CLINUX_H
#define CLINUX_H
/* Linux calls and macros Glibc's Swift overlay does not show (they need _GNU_SOURCE, are
 * variadic, or are function-like macros), re-exported as plain functions. */
#ifdef __linux__
#include <stdint.h>
#include <sys/types.h>

#define EDR_O_PATH 010000000
#define EDR_POLLRDHUP 0x2000
#define EDR_CLONE_NEWNET 0x40000000
#define EDR_CLONE_NEWIPC 0x08000000

int edr_accept4_cloexec(int fd);
/// An epoll descriptor (close-on-exec) readable while any of `fds` is (level-triggered POLLIN); -1/errno.
int edr_epoll_of(const int *fds, int count);
int edr_accept4_cloexec_nonblock(int fd);
/// SO_PEERCRED: 0 or -1/errno.
int edr_peer_cred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
int edr_pidfd_open(int32_t pid);
int edr_pidfd_send_signal(int pidfd, int sig);
int edr_prctl_set_no_new_privs(void);
/// execve through the raw syscall, for tests that prove it is denied.
int edr_raw_execve(const char *path);
int edr_raw_execveat(const char *path);
int edr_raw_ptrace_attach(int32_t pid);
int edr_raw_bpf_probe(void);
int edr_raw_mount_probe(const char *target);
int edr_raw_kill(int32_t pid, int sig);
int edr_raw_socket(int domain, int type);
int edr_errno(void);
/// PR_SET_DUMPABLE 0: no core dumps, /proc/PID owned by root, no ptrace by the same uid.
int edr_prctl_set_dumpable(int on);

/// Landlock (linux/landlock.h): the highest ABI the kernel supports, or -1/errno.
int edr_landlock_abi(void);
/// Creates a ruleset handling every filesystem right of `abi` (and, from ABI 6, scoping
/// abstract Unix sockets and, if `scope_signals`, signals to the domain); -1/errno on failure.
int edr_landlock_create(int abi, int scope_signals);
/// Allows read-only access (read files, list directories) beneath `fd` (an O_PATH
/// descriptor of a directory or file).
int edr_landlock_allow_read(int ruleset, int fd, int is_directory);
/// no_new_privs must already be set. Applies to the calling thread only: call before any
/// other thread exists, or in every thread.
int edr_landlock_restrict_self(int ruleset);

/// Probes for the sandbox tests: each performs exactly one call and returns its result.
int edr_raw_open(const char *path, int flags);
int edr_raw_mkdir(const char *path);
int edr_raw_ftruncate(int fd);
int edr_raw_fcntl_setfl(int fd, int flags);
int edr_raw_pwritev2_noappend(int fd);
int edr_raw_connect_unix(const char *path, int abstract);
int edr_raw_prlimit_other(int32_t pid);
int edr_raw_mmap_exec(void);
int edr_raw_io_uring_setup(void);
int edr_raw_write_self_mem(void);
int edr_raw_unshare_net(void);
#endif
#endif
