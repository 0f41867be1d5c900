/*
 * Exact state transitions from the sock/inet_sock_set_state tracepoint, in
 * a tracefs instance of the lab's own (instances/tcpstate-lab-PID).
 *
 * tracefs is used where it is mounted; otherwise the helper mounts it in a
 * private mount namespace of its own (so the host's mount table never
 * changes).  The instance is removed on every exit: by lab_trace_close, and
 * if the helper is killed, by a small janitor process that waits for the
 * helper's end on a pipe.  Instances left by a helper killed together with
 * its janitor are removed by the next run (their PID is gone).
 *
 * The tracepoint sees every namespace; the filter keeps the lab's client
 * port (per process) and lab_run checks the addresses.  Its blind spots
 * (linux-tcp-behaviour.md): timewait entries (the full socket goes to CLOSE
 * at the hand-over), pending requests, CLOSE->SYN_SENT of an unbound socket
 * (port 0: the lab binds its client port first).  sock_diag fills them in.
 *
 * Timestamps: trace_clock "mono" (CLOCK_MONOTONIC, microseconds in the text
 * output), converted to the capture clock (CLOCK_REALTIME) with an offset
 * measured when the instance is opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lab.h"

struct lab_trace {
    char root[128];   /* tracefs mount point */
    char inst[256];   /* the instance directory */
    int pipe_fd;
    int janitor_fd;
    pid_t janitor;
    int64_t mono_to_real;
    char buf[1 << 16];
    size_t len;
};

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_file(const char *dir, const char *name, const char *value)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(value);
    int ok = write(fd, value, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

/* Where tracefs is, mounting it in a private mount namespace if needed. */
static int find_tracefs(char *root, size_t cap, char *warn, size_t wcap)
{
    static const char *const places[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
    char p[256];
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/instances", places[i]);
        if (is_dir(p)) {
            snprintf(root, cap, "%s", places[i]);
            return 0;
        }
    }
    if (!is_dir("/sys/kernel/tracing")) {
        snprintf(warn, wcap, "tracefs is not available (no /sys/kernel/tracing)");
        return -1;
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(warn, wcap, "cannot make a private mount namespace for tracefs: %s",
                 strerror(errno));
        return -1;
    }
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) != 0) {
        snprintf(warn, wcap, "cannot mount tracefs: %s", strerror(errno));
        return -1;
    }
    snprintf(p, sizeof p, "/sys/kernel/tracing/instances");
    if (!is_dir(p)) {
        snprintf(warn, wcap, "tracefs has no instances directory");
        return -1;
    }
    snprintf(root, cap, "/sys/kernel/tracing");
    return 0;
}

/* Remove instances of earlier runs whose process is gone. */
static void remove_stale(const char *root)
{
    char p[512];
    snprintf(p, sizeof p, "%s/instances", root);
    DIR *d = opendir(p);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "tcpstate-lab-", 13) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + 13, &end, 10);
        if (*end || pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        char q[768];
        snprintf(q, sizeof q, "%s/instances/%s", root, e->d_name);
        rmdir(q);
    }
    closedir(d);
}

/* Whether a live instance other than ours filters on port (its filter
 * reads "sport == PORT || ..."). */
static int port_taken(const char *root, uint16_t port)
{
    char p[512];
    snprintf(p, sizeof p, "%s/instances", root);
    DIR *d = opendir(p);
    if (!d)
        return 0;
    char want[32];
    snprintf(want, sizeof want, "sport == %u ", port);
    int taken = 0;
    struct dirent *e;
    while (!taken && (e = readdir(d))) {
        if (strncmp(e->d_name, "tcpstate-lab-", 13) != 0 ||
            strtol(e->d_name + 13, NULL, 10) == (long)getpid())
            continue;
        char f[1024], buf[256];
        snprintf(f, sizeof f, "%s/%s/events/sock/inet_sock_set_state/filter", p, e->d_name);
        int fd = open(f, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        taken = strstr(buf, want) != NULL;
    }
    closedir(d);
    return taken;
}

static int64_t clock_offset(void)
{
    int64_t best = 0;
    uint64_t span = UINT64_MAX;
    for (int i = 0; i < 7; i++) {
        uint64_t m1 = lab_mono_ns(), r = lab_now_ns(), m2 = lab_mono_ns();
        if (m2 - m1 < span) {
            span = m2 - m1;
            best = (int64_t)r - (int64_t)((m1 + m2) / 2);
        }
    }
    return best;
}

/* The janitor: removes the instance once the helper is gone, whatever the
 * way it went. */
static void janitor(int rfd, const char *inst)
{
    /* out of the helper's process group and session: a signal to the group
     * (a terminal's ^C or hang-up, a CI timeout, kill -KILL -PGID) ends the
     * helper, not the janitor */
    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
    }
    for (int fd = 3; fd < 1024; fd++)
        if (fd != rfd)
            close(fd);
    char c;
    for (;;) {
        ssize_t r = read(rfd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
    }
    if (!is_dir(inst))
        _exit(0);
    write_file(inst, "events/enable", "0");
    for (int i = 0; i < 100 && rmdir(inst) != 0 && errno != ENOENT; i++)
        usleep(20000);
    _exit(0);
}

lab_trace *lab_trace_open(uint16_t *client_port, char *warn, size_t cap)
{
    lab_trace *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(warn, cap, "out of memory");
        return NULL;
    }
    t->pipe_fd = t->janitor_fd = -1;
    if (find_tracefs(t->root, sizeof t->root, warn, cap) != 0) {
        free(t);
        return NULL;
    }
    char ev[300];
    snprintf(ev, sizeof ev, "%s/events/sock/inet_sock_set_state", t->root);
    if (!is_dir(ev)) {
        snprintf(warn, cap, "the kernel has no sock/inet_sock_set_state tracepoint");
        free(t);
        return NULL;
    }
    remove_stale(t->root);
    snprintf(t->inst, sizeof t->inst, "%s/instances/tcpstate-lab-%ld", t->root, (long)getpid());
    /* the janitor first: a helper killed right after the mkdir still has
     * one to remove the instance */
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[1]);
            janitor(p[0], t->inst);
        }
        close(p[0]);
        if (pid > 0) {
            t->janitor = pid;
            t->janitor_fd = p[1];
        } else {
            close(p[1]);
        }
    }
    /* The tracepoint sees every namespace and the port is all the filter
     * can tell runs apart by (they share the addresses): a run at the same
     * time as another takes a port that no other live instance filters on,
     * chosen and written under a lock on the instances directory. */
    char dir[300];
    snprintf(dir, sizeof dir, "%s/instances", t->root);
    int lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock >= 0)
        flock(lock, LOCK_EX);
    for (int i = 0; i < 20000 && port_taken(t->root, *client_port); i++)
        *client_port = (uint16_t)(40000 + (*client_port - 40000 + 1) % 20000);
    char filter[128];
    snprintf(filter, sizeof filter, "sport == %u || dport == %u", *client_port, *client_port);
    int ok = mkdir(t->inst, 0700) == 0 || errno == EEXIST;
    if (!ok)
        snprintf(warn, cap, "cannot create the tracefs instance %s: %s", t->inst, strerror(errno));
    else if (write_file(t->inst, "trace_clock", "mono") != 0 ||
             write_file(t->inst, "events/sock/inet_sock_set_state/filter", filter) != 0 ||
             write_file(t->inst, "events/sock/inet_sock_set_state/enable", "1") != 0) {
        snprintf(warn, cap, "cannot set up the tracefs instance %s", t->inst);
        ok = 0;
    }
    if (lock >= 0)
        close(lock);
    if (!ok) {
        lab_trace_close(t);
        return NULL;
    }
    char pp[512];
    snprintf(pp, sizeof pp, "%s/trace_pipe", t->inst);
    t->pipe_fd = open(pp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (t->pipe_fd < 0) {
        snprintf(warn, cap, "cannot open %s: %s", pp, strerror(errno));
        lab_trace_close(t);
        return NULL;
    }
    t->mono_to_real = clock_offset();
    return t;
}

const char *lab_trace_instance(const lab_trace *t) { return t->inst; }

static int kstate(const char *s)
{
    static const char *const names[] = {"",          "ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                                        "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",  "CLOSE",
                                        "CLOSE_WAIT", "LAST_ACK",   "LISTEN",     "CLOSING",
                                        "NEW_SYN_RECV"};
    if (strncmp(s, "TCP_", 4) != 0)
        return -1;
    s += 4;
    for (int i = 1; i <= 12; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static int parse_line(lab_trace *t, char *line, lab_trace_ev *ev)
{
    char *p = strstr(line, ": inet_sock_set_state: ");
    if (!p)
        return -1;
    *p = '\0';
    char *ts = strrchr(line, ' ');
    ts = ts ? ts + 1 : line;
    char *dot = strchr(ts, '.');
    if (!dot)
        return -1;
    uint64_t sec = strtoull(ts, NULL, 10);
    char frac[10] = "000000000";
    size_t fl = strlen(dot + 1);
    memcpy(frac, dot + 1, fl > 9 ? 9 : fl);
    uint64_t ns = sec * 1000000000ull + strtoull(frac, NULL, 10);
    memset(ev, 0, sizeof *ev);
    ev->t = (uint64_t)((int64_t)ns + t->mono_to_real);
    int have = 0;
    char *save = NULL;
    const char *s4 = NULL, *d4 = NULL, *s6 = NULL, *d6 = NULL;
    for (char *tok = strtok_r(p + 23, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(tok, "family"))
            ev->family = !strcmp(v, "AF_INET6") ? 6 : !strcmp(v, "AF_INET") ? 4 : 0;
        else if (!strcmp(tok, "protocol")) {
            if (strcmp(v, "IPPROTO_TCP") != 0)
                return -1;
        } else if (!strcmp(tok, "sport"))
            ev->sport = (uint16_t)atoi(v);
        else if (!strcmp(tok, "dport"))
            ev->dport = (uint16_t)atoi(v);
        else if (!strcmp(tok, "saddr"))
            s4 = v;
        else if (!strcmp(tok, "daddr"))
            d4 = v;
        else if (!strcmp(tok, "saddrv6"))
            s6 = v;
        else if (!strcmp(tok, "daddrv6"))
            d6 = v;
        else if (!strcmp(tok, "oldstate")) {
            int k = kstate(v);
            if (k < 0)
                return -1;
            ev->oldstate = (uint8_t)k;
            have |= 1;
        } else if (!strcmp(tok, "newstate")) {
            int k = kstate(v);
            if (k < 0)
                return -1;
            ev->newstate = (uint8_t)k;
            have |= 2;
        }
    }
    if (have != 3 || !ev->family)
        return -1;
    if (ev->family == 4) {
        if (!s4 || !d4 || inet_pton(AF_INET, s4, ev->saddr) != 1 ||
            inet_pton(AF_INET, d4, ev->daddr) != 1)
            return -1;
    } else if (!s6 || !d6 || inet_pton(AF_INET6, s6, ev->saddr) != 1 ||
               inet_pton(AF_INET6, d6, ev->daddr) != 1) {
        return -1;
    }
    return 0;
}

int lab_trace_read(lab_trace *t, void (*fn)(const lab_trace_ev *, void *), void *user)
{
    int n = 0;
    for (;;) {
        if (t->len == sizeof t->buf - 1)
            t->len = 0; /* a line longer than the buffer: drop it */
        ssize_t r = read(t->pipe_fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (r <= 0)
            break;
        t->len += (size_t)r;
        t->buf[t->len] = '\0';
        char *start = t->buf, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            lab_trace_ev ev;
            if (parse_line(t, start, &ev) == 0) {
                fn(&ev, user);
                n++;
            }
            start = nl + 1;
        }
        size_t rest = t->len - (size_t)(start - t->buf);
        memmove(t->buf, start, rest);
        t->len = rest;
    }
    return n;
}

void lab_trace_close(lab_trace *t)
{
    if (!t)
        return;
    if (t->pipe_fd >= 0)
        close(t->pipe_fd);
    if (is_dir(t->inst)) {
        write_file(t->inst, "events/sock/inet_sock_set_state/enable", "0");
        for (int i = 0; i < 50 && rmdir(t->inst) != 0 && errno != ENOENT; i++)
            usleep(10000);
    }
    if (t->janitor_fd >= 0)
        close(t->janitor_fd);
    if (t->janitor > 0)
        waitpid(t->janitor, NULL, 0);
    free(t);
}
