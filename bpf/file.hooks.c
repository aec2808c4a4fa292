// SPDX-License-Identifier: GPL-2.0
/* File telemetry: create, modify, delete, rename. raw_tp/sys_enter notes the arguments of
 * the syscalls that can create, truncate, write-open, unlink or rename; raw_tp/sys_exit
 * builds the record when the call succeeded. Creation is told apart from opening an existing
 * file by FMODE_CREATED on the new struct file; the opened file's path is walked from its own
 * dentry, so it is absolute whatever directory fd or cwd the call was relative to. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "edr_events.h"
#include "edr_common.h"
#include "edr_telemetry_bpf.h"

/* Included by syscalls.bpf.c: one program per syscall direction dispatches to these. */

#define FILE_DATA_OFF __builtin_offsetof(struct edr_file_record, data)

static __always_inline int is_open_call(long id)
{
    return id == NR_open || id == NR_openat || id == NR_openat2 || id == NR_creat;
}

static __always_inline int edr_file_enter(struct pt_regs *regs, long id)
{
    if (!(is_open_call(id) || id == NR_unlink || id == NR_unlinkat || id == NR_rmdir || id == NR_rename ||
          id == NR_renameat || id == NR_renameat2))
        return 0;
    /* Read-only opens are most syscalls this hook sees: leave before anything else. */
    __u64 flags = 0;
    if (is_open_call(id)) {
        /* Only opens that can create or change a file: write access, O_CREAT or O_TRUNC. */
        if (id == NR_open)
            flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
        else if (id == NR_openat)
            flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
        else if (id == NR_openat2)
            bpf_probe_read_user(&flags, sizeof(flags), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs)); /* open_how.flags */
        else
            flags = EDR_O_CREAT | 1 | EDR_O_TRUNC; /* creat */
        if (!(flags & (EDR_O_ACCMODE | EDR_O_CREAT | EDR_O_TRUNC)))
            return 0;
    }
    if (current_is_agent())
        return 0;
    struct edr_sys_state s = {};
    s.id = (__u32)id;
    s.args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
    s.args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
    s.args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
    s.args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
    s.args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
    if (is_open_call(id))
        s.aux = (__u32)flags;
    count(EDR_FAMILY_FILE, EDR_CTR_SEEN);
    if (state_put(EDR_FAMILY_FILE, &s) != 0)
        count(EDR_FAMILY_FILE, EDR_CTR_NO_STATE);
    return 0;
}

/* Writes dir (relative paths only) and name sections for (dirfd, path) at *off. */
static __always_inline void put_dir_and_name(struct edr_file_record *r, int section, long dirfd, const char *path,
                                             __u32 *off, int *truncated, int *fault)
{
    char first = 0;
    __u32 dlen = 0, nlen = 0;
    bpf_probe_read_user(&first, 1, path);
    if (first != '/' && *off <= FILE_DATA_OFF + EDR_DIR_MAX + EDR_USTR_MAX)
        dlen = tel_put_dir(*off, EDR_DIR_MAX, dirfd, truncated);
    *off += dlen;
    if (*off <= FILE_DATA_OFF + 2 * EDR_DIR_MAX + EDR_USTR_MAX)
        nlen = tel_put_ustr(*off, path, truncated, fault);
    *off += nlen;
    if (section == 0) {
        r->len[0] = (__u16)dlen;
        r->len[1] = (__u16)nlen;
    } else {
        r->len[2] = (__u16)dlen;
        r->len[3] = (__u16)nlen;
    }
}

static __always_inline int edr_file_exit(struct pt_regs *regs, long ret, long id)
{
    if (id >= 0 && !(is_open_call(id) || id == NR_unlink || id == NR_unlinkat || id == NR_rmdir || id == NR_rename || id == NR_renameat || id == NR_renameat2))
        return 0;
    struct edr_sys_state s;
    if (!state_take(EDR_FAMILY_FILE, &s))
        return 0;
    id = s.id;
    if (ret < 0)
        return 0; /* failed calls changed nothing */

    struct edr_file_record *r = (struct edr_file_record *)tel_scratch();
    if (!r)
        return 0;
    __u32 op = 0;
    struct file *opened = 0;
    if (is_open_call(id)) {
        opened = fd_file(ret);
        if (!opened)
            return 0;
        __u32 fmode = BPF_CORE_READ(opened, f_mode);
        umode_t imode = BPF_CORE_READ(opened, f_inode, i_mode);
        if ((imode & EDR_S_IFMT) != EDR_S_IFREG)
            return 0; /* devices, pipes, directories: not file events */
        if (fmode & EDR_FMODE_CREATED)
            op = EDR_FILE_CREATE;
        else if ((fmode & EDR_FMODE_WRITE) || (s.aux & EDR_O_TRUNC))
            op = EDR_FILE_MODIFY;
        else
            return 0;
    } else if (id == NR_unlink) {
        op = EDR_FILE_DELETE;
    } else if (id == NR_unlinkat) {
        op = (s.args[2] & 0x200) ? EDR_FILE_RMDIR : EDR_FILE_DELETE; /* AT_REMOVEDIR */
    } else if (id == NR_rmdir) {
        op = EDR_FILE_RMDIR;
    } else {
        op = EDR_FILE_RENAME;
    }

    r->h.kind = EDR_REC_FILE;
    r->h.version = EDR_RECORD_VERSION;
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ctx(&r->ctx);
    r->op = op;
    r->result = (__s32)ret;
    r->open_flags = is_open_call(id) ? s.aux : 0;
    r->len[0] = r->len[1] = r->len[2] = r->len[3] = 0;
    int truncated = 0, fault = 0;
    __u32 off = FILE_DATA_OFF;

    if (opened) {
        __u32 n = tel_put_file_path(off, EDR_DIR_MAX, opened, &truncated);
        r->len[0] = (__u16)n;
        off += n;
    } else if (id == NR_unlink || id == NR_rmdir) {
        put_dir_and_name(r, 0, EDR_AT_FDCWD, (const char *)s.args[0], &off, &truncated, &fault);
    } else if (id == NR_unlinkat) {
        put_dir_and_name(r, 0, (long)s.args[0], (const char *)s.args[1], &off, &truncated, &fault);
    } else if (id == NR_rename) {
        put_dir_and_name(r, 0, EDR_AT_FDCWD, (const char *)s.args[0], &off, &truncated, &fault);
        put_dir_and_name(r, 1, EDR_AT_FDCWD, (const char *)s.args[1], &off, &truncated, &fault);
    } else {
        put_dir_and_name(r, 0, (long)s.args[0], (const char *)s.args[1], &off, &truncated, &fault);
        put_dir_and_name(r, 1, (long)s.args[2], (const char *)s.args[3], &off, &truncated, &fault);
    }
    r->flags = (truncated ? EDR_FILE_PATH_TRUNCATED : 0) | (fault ? EDR_FILE_READ_FAULT : 0);
    __u64 size = off;
    if (size > sizeof(*r)) {
        count(EDR_FAMILY_FILE, EDR_CTR_TOO_LARGE);
        return 0;
    }
    r->h.size = (__u32)size;
    submit(EDR_FAMILY_FILE, r, size);
    return 0;
}
