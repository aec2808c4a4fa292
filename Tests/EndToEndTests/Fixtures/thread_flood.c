/* The state-map flood of issue 12: N threads, each blocked in accept() on one listening
 * socket (a tracked syscall that never returns), so that each holds a per-thread syscall
 * state in the agent's eBPF programs for as long as the flood lasts. Prints "ready N" once
 * every thread is blocked (as far as /proc can tell: all have started), then waits to be
 * killed. Usage: thread_flood N */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener;
static volatile int started;

static void *blocked(void *arg) {
    (void)arg;
    __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    for (;;) accept(listener, NULL, NULL);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* a blocked mask inherited from the test runner */
    listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    inet_pton(AF_INET, "127.0.0.61", &a.sin_addr);
    if (listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 1) != 0) { perror("listen"); return 1; }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, blocked, NULL) != 0) { fprintf(stderr, "only %d threads\n", i); return 2; }
    }
    while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < n) usleep(10000);
    usleep(500000); /* each thread is inside accept() by now */
    printf("ready %d\n", n);
    fflush(stdout);
    for (;;) pause();
}
