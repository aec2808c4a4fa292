/* An io_uring storm for Benchmarks/uring_bench.py: uring_storm MODE DIR OPS
 *   nop   OPS × IORING_OP_NOP (requests the agent's io_uring programs look at and ignore)
 *   file  OPS/3 × (IORING_OP_OPENAT O_CREAT, IORING_OP_CLOSE, IORING_OP_UNLINKAT) in DIR: every
 *         create and delete becomes a record
 * One request submitted and waited for at a time (the latency path). Prints the seconds taken,
 * wall and CPU (user + system of the whole process, io-wq workers included).
 * Build: cc -O2 -o uring_storm Benchmarks/uring_storm.c -luring */
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static struct io_uring ring;

static int run1(void)
{
    struct io_uring_cqe *cqe;
    if (io_uring_submit(&ring) < 0 || io_uring_wait_cqe(&ring, &cqe) < 0) {
        fprintf(stderr, "uring_storm: submit/wait failed\n");
        exit(1);
    }
    int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    return res;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: uring_storm nop|file DIR OPS\n");
        return 2;
    }
    long ops = atol(argv[3]);
    if (io_uring_queue_init(8, &ring, 0) < 0)
        return 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (strcmp(argv[1], "nop") == 0) {
        for (long i = 0; i < ops; i++) {
            io_uring_prep_nop(io_uring_get_sqe(&ring));
            run1();
        }
    } else {
        char p[4096];
        for (long i = 0; i < ops / 3; i++) {
            snprintf(p, sizeof(p), "%s/f%ld", argv[2], i);
            io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
            int fd = run1();
            if (fd < 0) {
                fprintf(stderr, "uring_storm: openat %s: %d\n", p, fd);
                return 1;
            }
            io_uring_prep_close(io_uring_get_sqe(&ring), fd);
            run1();
            io_uring_prep_unlinkat(io_uring_get_sqe(&ring), AT_FDCWD, p, 0);
            run1();
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%.3f %.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    return 0;
}
