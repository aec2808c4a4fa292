#ifdef __linux__
#define _GNU_SOURCE
#include "CSeccomp.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

uint32_t edr_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
uint32_t edr_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
uint32_t edr_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
int edr_seccomp_rule(scmp_filter_ctx ctx, uint32_t action, int nr) {
    return seccomp_rule_add(ctx, action, nr, 0);
}
int edr_seccomp_rule_arg_eq(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg, uint64_t value) {
    return seccomp_rule_add(ctx, action, nr, 1, SCMP_CMP(arg, SCMP_CMP_EQ, value));
}
int edr_seccomp_rule_arg_ne(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg, uint64_t value) {
    return seccomp_rule_add(ctx, action, nr, 1, SCMP_CMP(arg, SCMP_CMP_NE, value));
}
int edr_seccomp_rule_arg_masked_eq(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg, uint64_t mask, uint64_t value) {
    return seccomp_rule_add(ctx, action, nr, 1, SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, value));
}
int edr_seccomp_set_tsync(scmp_filter_ctx ctx, int on) { return seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, on ? 1 : 0); }
int edr_seccomp_export(scmp_filter_ctx ctx, uint8_t **out, size_t *len) {
    int fd = memfd_create("edr-seccomp", MFD_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0) { close(fd); return rc; }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0) { close(fd); return -EINVAL; }
    uint8_t *buf = malloc((size_t)size);
    if (!buf) { close(fd); return -ENOMEM; }
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t n = pread(fd, buf + got, (size_t)size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { free(buf); close(fd); return -EIO; }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}
#endif
