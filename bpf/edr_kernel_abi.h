/* Numbers of the kernel's ABI the telemetry hooks need and vmlinux.h lacks (macros):
 * syscall numbers per architecture, the sixth syscall argument, the syscall number at
 * raw_tp/sys_exit, file modes, address families, open flags. */
#ifndef EDR_KERNEL_ABI_H
#define EDR_KERNEL_ABI_H

#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_listen 50
#define NR_bind 49
#define NR_rename 82
#define NR_rmdir 84
#define NR_creat 85
#define NR_unlink 87
#define NR_ptrace 101
#define NR_syslog 103
#define NR_setuid 105
#define NR_setgid 106
#define NR_setreuid 113
#define NR_setregid 114
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_setfsuid 122
#define NR_setfsgid 123
#define NR_capset 126
#define NR_mount 165
#define NR_init_module 175
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_accept4 288
#define NR_sendmmsg 307
#define NR_finit_module 313
#define NR_renameat2 316
#define NR_memfd_create 319
#define NR_bpf 321
#define NR_openat2 437
#elif defined(__TARGET_ARCH_arm64)
/* asm-generic numbers: no open, creat, unlink, rmdir, rename (glibc uses the *at forms). */
#define NR_read 63
#define NR_write 64
#define NR_open -1
#define NR_connect 203
#define NR_accept 202
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_listen 201
#define NR_bind 200
#define NR_rename -1
#define NR_rmdir -1
#define NR_creat -1
#define NR_unlink -1
#define NR_ptrace 117
#define NR_syslog 116
#define NR_setuid 146
#define NR_setgid 144
#define NR_setreuid 145
#define NR_setregid 143
#define NR_setresuid 147
#define NR_setresgid 149
#define NR_setfsuid 151
#define NR_setfsgid 152
#define NR_capset 91
#define NR_mount 40
#define NR_init_module 105
#define NR_openat 56
#define NR_unlinkat 35
#define NR_renameat 38
#define NR_accept4 242
#define NR_sendmmsg 269
#define NR_finit_module 273
#define NR_renameat2 276
#define NR_memfd_create 279
#define NR_bpf 280
#define NR_openat2 437
#else
#error "syscall numbers for this architecture are missing"
#endif

/* libbpf < 1.2 has no PT_REGS_PARM6_CORE_SYSCALL. */
#if defined(__TARGET_ARCH_x86)
#define EDR_SYSCALL_PARM6(regs) BPF_CORE_READ((regs), r9)
#else
#define EDR_SYSCALL_PARM6(regs) BPF_CORE_READ((regs), regs[5])
#endif

#define EDR_AT_FDCWD -100
#define EDR_S_IFMT 00170000
#define EDR_S_IFSOCK 0140000
#define EDR_S_IFREG 0100000
#define EDR_AF_INET 2
#define EDR_AF_INET6 10
#define EDR_FMODE_WRITE 0x2
#define EDR_FMODE_CREATED 0x100000
#define EDR_O_ACCMODE 3
#define EDR_O_CREAT 0100
#define EDR_O_TRUNC 01000
#define EDR_O_TMPFILE 020000000

/* The syscall number at raw_tp/sys_exit, so an exit hook can leave before its state-map
 * lookup for the many syscalls it never cares about (that lookup would run on every syscall
 * of every process). */
static __always_inline long exit_syscall_id(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
    return (long)BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
    return (long)BPF_CORE_READ(regs, syscallno);
#else
    return -1;
#endif
}

#endif
