/* The server child process of a run, and a free port for it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_impl.h"
#include "util/clock.h"

enum joule_status bench_child_spawn(char *const argv[], const char *log_path, struct bench_child *c)
{
    memset(c, 0, sizeof *c);
    int fd =
        open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return joule_errorf(JOULE_ERR_IO, "%s: %s", log_path ? log_path : "/dev/null",
                            strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return joule_errorf(JOULE_ERR_IO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Child: own process group; dies with the campaign (even on kill -9). */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        dprintf(2, "joule bench: cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so the group exists before we signal it */
    close(fd);
    c->pid = pid;
    return JOULE_OK;
}

int bench_child_exited(struct bench_child *c)
{
    if (c->exited || c->pid <= 0) return 1;
    int st = 0;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == c->pid || (r < 0 && errno == ECHILD)) {
        c->exited = 1;
        c->wait_status = r == c->pid ? st : 0;
        return 1;
    }
    return 0;
}

void bench_child_stop(struct bench_child *c, double grace_s)
{
    if (c->pid <= 0 || bench_child_exited(c)) {
        if (c->pid > 0) kill(-c->pid, SIGKILL); /* leftovers of the group */
        return;
    }
    kill(-c->pid, SIGTERM);
    int64_t deadline = joule_now_ns() + (int64_t)(grace_s * 1e9);
    while (!bench_child_exited(c) && joule_now_ns() < deadline)
        joule_sleep_ns(10000000);
    if (!c->exited) {
        kill(-c->pid, SIGKILL);
        int st = 0;
        if (waitpid(c->pid, &st, 0) == c->pid) c->wait_status = st;
        c->exited = 1;
    } else {
        kill(-c->pid, SIGKILL);
    }
}

void bench_child_describe(const struct bench_child *c, char *buf, size_t cap)
{
    int st = c->wait_status;
    if (WIFEXITED(st))
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, cap, "ended (wait status %d)", st);
}

static int port_free(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (ok && port == 0) {
        socklen_t len = sizeof a;
        ok = getsockname(s, (struct sockaddr *)&a, &len) == 0 ? ntohs(a.sin_port) : 0;
    }
    close(s);
    return ok;
}

int bench_free_port(int base)
{
    if (base <= 0) return port_free(0);
    for (int p = base; p < 65536 && p < base + 1000; p++)
        if (port_free(p)) return p;
    return 0;
}
