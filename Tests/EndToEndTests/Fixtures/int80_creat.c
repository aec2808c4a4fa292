/* A 64-bit program that creates a file through the 32-bit syscall gate (int 0x80, ia32
 * creat = 8), the way an attacker slips past telemetry that decodes x86_64 numbers only.
 * Usage: int80_creat PATH. Exit status 0 when the file was created. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    /* int 0x80 takes 32-bit pointers: the path must lie below 4 GiB. */
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    strncpy(p, argv[1], 4000);
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(8L), "b"(p), "c"(0644L) : "memory");
    printf("%ld\n", ret);
    return ret < 0 ? 1 : 0;
}
