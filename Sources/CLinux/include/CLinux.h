#ifndef CLINUX_H
#define CLINUX_H
/* Linux calls and macros Glibc's Swift overlay does not show (they need _GNU_SOURCE, are
 * variadic, or are function-like macros), re-exported as plain functions. */
#ifdef __linux__
#include <stdint.h>
#include <sys/types.h>

int edr_accept4_cloexec(int fd);
/// SO_PEERCRED: 0 or -1/errno.
int edr_peer_cred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
int edr_pidfd_open(int32_t pid);
int edr_pidfd_send_signal(int pidfd, int sig);
int edr_prctl_set_no_new_privs(void);
int edr_prctl_set_pdeathsig(int sig);
int edr_prctl_set_name(const char *name);
/// execve through the raw syscall, for tests that prove it is denied.
int edr_raw_execve(const char *path);
int edr_raw_execveat(const char *path);
int edr_raw_ptrace_attach(int32_t pid);
int edr_raw_bpf_probe(void);
int edr_raw_mount_probe(void);
int edr_raw_kill(int32_t pid, int sig);
int edr_raw_socket(int domain, int type);
int edr_errno(void);
#endif
#endif
