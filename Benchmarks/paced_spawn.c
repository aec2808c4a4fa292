/* Runs /bin/true at a fixed rate for a number of seconds: one vfork+exec+wait per tick,
 * paced against CLOCK_MONOTONIC. Prints "<execs> <elapsed seconds>".
 * The child gets an empty environment, as the Python fallback gives it.
 * Usage: paced_spawn RATE SECONDS [ARG] */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>


static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s RATE SECONDS [ARG]\n", argv[0]);
        return 2;
    }
    double rate = atof(argv[1]), seconds = atof(argv[2]);
    char *child[] = {"/bin/true", argc > 3 ? argv[3] : NULL, NULL};
    char *empty[] = {NULL};
    long n = (long)(rate * seconds);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        double target = t0 + i / rate;
        double wait = target - now();
        if (wait > 0) {
            struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
            nanosleep(&ts, NULL);
        }
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, child, empty) != 0) {
            perror("posix_spawn");
            return 1;
        }
        waitpid(pid, NULL, 0);
    }
    printf("%ld %.6f\n", n, now() - t0);
    return 0;
}
