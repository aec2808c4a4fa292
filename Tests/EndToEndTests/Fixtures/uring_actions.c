/* What an attacker does through io_uring to stay off the syscall hooks, then the same with
 * plain syscalls. Built and run by IoUringTests: uring_actions DIR MARKER. Everything it
 * touches is under DIR; it writes DIR/uring.json with what the test needs to check. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static struct io_uring ring;

static void die(const char *what, int err)
{
    fprintf(stderr, "uring_actions: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

/* Submits the prepared SQEs and returns the first completion's res. */
static int run1(void)
{
    int n = io_uring_submit(&ring);
    if (n < 0)
        die("io_uring_submit", n);
    struct io_uring_cqe *cqe;
    int r = io_uring_wait_cqe(&ring, &cqe);
    if (r < 0)
        die("io_uring_wait_cqe", r);
    int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    return res;
}

static int u_openat(int dfd, const char *path, int flags)
{
    io_uring_prep_openat(io_uring_get_sqe(&ring), dfd, path, flags, 0644);
    return run1();
}

static int u_unlinkat(int dfd, const char *path, int flags)
{
    io_uring_prep_unlinkat(io_uring_get_sqe(&ring), dfd, path, flags);
    return run1();
}

static int u_renameat(int odfd, const char *o, int ndfd, const char *n)
{
    io_uring_prep_renameat(io_uring_get_sqe(&ring), odfd, o, ndfd, n, 0);
    return run1();
}

static unsigned short port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static socklen_t make_addr(struct sockaddr_storage *ss, int fam, const char *host, unsigned short port)
{
    memset(ss, 0, sizeof(*ss));
    if (fam == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, host, &a->sin_addr);
        return sizeof(*a);
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, host, &a->sin6_addr);
    return sizeof(*a);
}

static int bound_socket(int fam, const char *host)
{
    int s = socket(fam, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, fam, host, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&ss, len) != 0)
        die("bind", errno);
    return s;
}

/* Connect (io_uring) from client to a listener on server, accepted with io_uring; then a
 * connect to a free port (refused). Writes the figures as JSON members. */
static void network(FILE *out, const char *key, int fam, const char *server, const char *client)
{
    int l = bound_socket(fam, server);
    listen(l, 4);
    unsigned short port = port_of(l);
    int c = bound_socket(fam, client);
    unsigned short cport = port_of(c);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, fam, server, port);
    io_uring_prep_connect(io_uring_get_sqe(&ring), c, (struct sockaddr *)&ss, len);
    int connected = run1();
    io_uring_prep_accept(io_uring_get_sqe(&ring), l, NULL, NULL, 0);
    int accepted = run1();
    unsigned short aport = accepted >= 0 ? port_of(accepted) : 0;
    if (accepted >= 0)
        close(accepted);
    close(c);
    /* A free port: bound, closed, nobody listens. */
    int f = bound_socket(fam, server);
    unsigned short free_port = port_of(f);
    close(f);
    int r = bound_socket(fam, client);
    unsigned short rport = port_of(r);
    struct sockaddr_storage rs;
    socklen_t rlen = make_addr(&rs, fam, server, free_port);
    io_uring_prep_connect(io_uring_get_sqe(&ring), r, (struct sockaddr *)&rs, rlen);
    int refused = run1();
    close(r);
    close(l);
    fprintf(out,
            "\"%s\": {\"port\": %u, \"client_port\": %u, \"connect\": %d, \"accept_local_port\": %u, \"accepted\": %d, "
            "\"refused_port\": %u, \"refused_client_port\": %u, \"refused\": %d},\n",
            key, port, cport, connected, aport, accepted >= 0, free_port, rport, refused);
}

/* A DNS query for name (type A, id), as a stub resolver sends it. */
static int dns_query(unsigned char *b, const char *name, unsigned short id)
{
    int n = 0;
    b[n++] = id >> 8, b[n++] = id & 0xff, b[n++] = 1, b[n++] = 0, b[n++] = 0, b[n++] = 1;
    for (int i = 0; i < 6; i++)
        b[n++] = 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        int l = dot ? (int)(dot - p) : (int)strlen(p);
        b[n++] = (unsigned char)l;
        memcpy(b + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    b[n++] = 0;
    b[n++] = 0, b[n++] = 1, b[n++] = 0, b[n++] = 1;
    return n;
}

/* The stub resolver on 127.0.0.53:53 (this process, plain syscalls, its own end at port 53
 * so none of its own traffic is DNS to the sensor): answers the one waiting query with an A
 * record for 127.0.0.LAST. */
static void dns_answer(int srv, unsigned char last)
{
    unsigned char q[512];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(srv, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    if (n < 17)
        die("dns server recvfrom", errno);
    unsigned char a[600];
    memcpy(a, q, n);
    a[2] = 0x81, a[3] = 0x80, a[6] = 0, a[7] = 1;
    unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, last};
    memcpy(a + n, rr, sizeof(rr));
    sendto(srv, a, n + sizeof(rr), 0, (struct sockaddr *)&from, fl);
}

/* DNS through io_uring: connect + send + recv, and an unconnected sendmsg + recvmsg; then a
 * connection (io_uring) to the first answer's address, which must carry its name. */
static void dns(FILE *out)
{
    int srv = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, AF_INET, "127.0.0.53", 53);
    if (bind(srv, (struct sockaddr *)&ss, len) != 0)
        die("bind 127.0.0.53:53", errno);
    unsigned char q[512], a[512];
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_storage cs;
    bind(c, (struct sockaddr *)&cs, make_addr(&cs, AF_INET, "127.0.0.91", 0));
    io_uring_prep_connect(io_uring_get_sqe(&ring), c, (struct sockaddr *)&ss, len);
    int connected = run1();
    int n = dns_query(q, "a.uring-send.example", 0x5151);
    io_uring_prep_send(io_uring_get_sqe(&ring), c, q, n, 0);
    int sent = run1();
    dns_answer(srv, 81);
    io_uring_prep_recv(io_uring_get_sqe(&ring), c, a, sizeof(a), 0);
    int got = run1();
    fprintf(out, "\"dns_send\": {\"connect\": %d, \"sent\": %d, \"answer\": %d, \"client_port\": %u},\n", connected, sent, got,
            port_of(c));
    close(c);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    bind(u, (struct sockaddr *)&cs, make_addr(&cs, AF_INET, "127.0.0.92", 0));
    n = dns_query(q, "b.uring-sendmsg.example", 0x5252);
    struct iovec iov = {.iov_base = q, .iov_len = n};
    struct msghdr m = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
    io_uring_prep_sendmsg(io_uring_get_sqe(&ring), u, &m, 0);
    sent = run1();
    dns_answer(srv, 82);
    struct sockaddr_storage from;
    struct iovec aiov = {.iov_base = a, .iov_len = sizeof(a)};
    struct msghdr am = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &aiov, .msg_iovlen = 1};
    io_uring_prep_recvmsg(io_uring_get_sqe(&ring), u, &am, 0);
    got = run1();
    fprintf(out, "\"dns_sendmsg\": {\"sent\": %d, \"answer\": %d, \"last\": %d},\n", sent, got, got > 0 ? a[got - 1] : -1);
    close(u);
    close(srv);

    int l = bound_socket(AF_INET, "127.0.0.81");
    listen(l, 1);
    unsigned short port = port_of(l);
    int t = bound_socket(AF_INET, "127.0.0.91");
    struct sockaddr_storage ts;
    socklen_t tl = make_addr(&ts, AF_INET, "127.0.0.81", port);
    io_uring_prep_connect(io_uring_get_sqe(&ring), t, (struct sockaddr *)&ts, tl);
    fprintf(out, "\"named\": {\"port\": %u, \"connect\": %d},\n", port, run1());
    close(t);
    close(l);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: uring_actions DIR MARKER\n");
        return 2;
    }
    const char *d = argv[1], *m = argv[2];
    char p[4096], q[4096];
    int r = io_uring_queue_init(8, &ring, 0);
    if (r < 0)
        die("io_uring_queue_init", r);
    snprintf(p, sizeof(p), "%s/uring.json", d);
    FILE *out = fopen(p, "w");
    if (!out)
        die("uring.json", errno);
    fprintf(out, "{\"pid\": %d,\n", getpid());

    /* Files, relative to a directory descriptor of DIR, from another cwd. */
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    snprintf(p, sizeof(p), "%s/sub", d);
    mkdir(p, 0755);
    if (chdir(p) != 0)
        die("chdir", errno);
    snprintf(p, sizeof(p), "%s-u-create.txt", m);
    int fd = u_openat(dfd, p, O_CREAT | O_WRONLY | O_EXCL);
    fprintf(out, "\"create_fd\": %d,\n", fd);
    if (fd >= 0)
        close(fd);
    /* Write-open with O_TRUNC of the file that now exists: a change, not a create. */
    fd = u_openat(dfd, p, O_WRONLY | O_TRUNC);
    fprintf(out, "\"trunc_fd\": %d,\n", fd);
    if (fd >= 0)
        close(fd);
    /* Read-only open of the same file: nothing. */
    fd = u_openat(dfd, p, O_RDONLY);
    fprintf(out, "\"ro_fd\": %d,\n", fd);
    if (fd >= 0)
        close(fd);
    /* Through a symlink to another directory, relative to the cwd (DIR/sub). */
    snprintf(q, sizeof(q), "%s/real", d);
    mkdir(q, 0755);
    if (symlink(q, "link") != 0)
        die("symlink", errno);
    snprintf(p, sizeof(p), "link/%s-u-sym.txt", m);
    fd = u_openat(AT_FDCWD, p, O_CREAT | O_WRONLY);
    fprintf(out, "\"sym_fd\": %d,\n", fd);
    if (fd >= 0)
        close(fd);
    /* Rename relative to the directory descriptor into sub/ (relative to the cwd). */
    snprintf(p, sizeof(p), "%s-u-create.txt", m);
    snprintf(q, sizeof(q), "%s-u-renamed.txt", m);
    fprintf(out, "\"rename\": %d,\n", u_renameat(dfd, p, AT_FDCWD, q));
    /* Unlink it, relative to the cwd; unlink of a file that does not exist (fails: nothing). */
    fprintf(out, "\"unlink\": %d,\n", u_unlinkat(AT_FDCWD, q, 0));
    snprintf(p, sizeof(p), "%s-u-missing.txt", m);
    fprintf(out, "\"unlink_missing\": %d,\n", u_unlinkat(dfd, p, 0));
    /* A directory removed with AT_REMOVEDIR. */
    snprintf(p, sizeof(p), "%s/%s-u-dir", d, m);
    mkdir(p, 0755);
    fprintf(out, "\"rmdir\": %d,\n", u_unlinkat(AT_FDCWD, p, AT_REMOVEDIR));
    /* IOSQE_CQE_SKIP_SUCCESS: a successful unlink posts no completion at all. A NOP after it
       (its completion is what we wait for) keeps the ring in step. */
    snprintf(p, sizeof(p), "%s/%s-u-skip.txt", d, m);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_unlinkat(sqe, AT_FDCWD, p, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS | IOSQE_IO_LINK;
    io_uring_prep_nop(io_uring_get_sqe(&ring));
    run1();
    fprintf(out, "\"skip_gone\": %d,\n", access(p, F_OK) != 0);
    /* A direct descriptor: the file never enters the process's descriptor table. */
    r = io_uring_register_files_sparse(&ring, 4);
    if (r < 0)
        die("io_uring_register_files_sparse", r);
    snprintf(p, sizeof(p), "%s/%s-u-direct.txt", d, m);
    io_uring_prep_openat_direct(io_uring_get_sqe(&ring), AT_FDCWD, p, O_CREAT | O_WRONLY, 0644, 2);
    fprintf(out, "\"direct\": %d,\n", run1());

    /* Network: v4 between two loopback addresses, v6 on ::1. */
    network(out, "v4", AF_INET, "127.0.0.31", "127.0.0.32");
    network(out, "v6", AF_INET6, "::1", "::1");
    dns(out);

    /* The same with plain syscalls: reported as before, not marked. */
    snprintf(p, sizeof(p), "%s/%s-s-create.txt", d, m);
    close(open(p, O_CREAT | O_WRONLY, 0644));
    snprintf(q, sizeof(q), "%s/%s-s-renamed.txt", d, m);
    rename(p, q);
    unlink(q);
    int l = bound_socket(AF_INET, "127.0.0.33");
    listen(l, 1);
    unsigned short sport = port_of(l);
    int c = bound_socket(AF_INET, "127.0.0.34");
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, AF_INET, "127.0.0.33", sport);
    int sc = connect(c, (struct sockaddr *)&ss, len);
    int a = accept(l, NULL, NULL);
    fprintf(out, "\"syscall\": {\"port\": %u, \"connect\": %d, \"accepted\": %d},\n", sport, sc, a >= 0);
    close(a);
    close(c);
    close(l);
    io_uring_queue_exit(&ring);

    /* SQPOLL: a kernel thread of this process submits; nothing enters the kernel per request. */
    struct io_uring_params params = {.flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 2000};
    r = io_uring_queue_init_params(8, &ring, &params);
    fprintf(out, "\"sqpoll\": %d,\n", r);
    if (r == 0) {
        snprintf(p, sizeof(p), "%s/%s-u-sqpoll.txt", d, m);
        fd = u_openat(AT_FDCWD, p, O_CREAT | O_WRONLY);
        fprintf(out, "\"sqpoll_fd\": %d,\n", fd);
        if (fd >= 0)
            close(fd);
        io_uring_queue_exit(&ring);
    }
    fprintf(out, "\"done\": true}\n");
    fclose(out);
    return 0;
}
