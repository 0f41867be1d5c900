/*
 * tcpstate-lab run: one experiment (or all of them) against the real kernel.
 *
 * One process, one thread, one event loop.  The helper creates the two
 * namespaces itself (netns.c) and enters them only to create what belongs
 * there (sockets, the capture, the nft context, the sock_diag socket); the
 * rest of the time the thread is in the host's namespace and touches
 * nothing.  Every millisecond the loop polls sock_diag in both namespaces,
 * reads the capture and the tracepoint, serves the sockets and runs the
 * experiment's next step; the timeline (timeline.c) turns what was seen
 * into the kernel comments and writes the packets 30 ms behind real time.
 *
 * SIGINT/SIGTERM stop the loop: the packets so far are written, the pcapng
 * is closed properly, the sockets, rules, namespaces and the tracefs
 * instance go away, and the exit status is 128 + the signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "lab.h"
#include "tcpstate/labcomment.h"
#include "tcpstate/tcpstate.h"
#include "timeline.h"

#define MS 1000000ull
#define POLL_NS (1 * MS)          /* sock_diag polling period */
#define BEHIND_NS (30 * MS)       /* the timeline runs this far behind */
#define REAL_TIMER_WAIT_MS (3u * 3600u * 1000u)

static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

typedef struct run_opts {
    const char *out;
    const char *dir;
    int all, capture_at, ipv6, real_timers, quiet, no_trace;
    uint16_t client_port;
} run_opts;

typedef struct run_ctx {
    const lab_experiment *x;
    const run_opts *o;
    int capture_at;
    int af;
    lab_ns ns;
    int have_ns;
    lab_nft *nft;
    lab_diag *diag[2];
    pcap_t *pc;
    lab_trace *trace;
    int lfd, fd[2];
    int connecting;
    int eof[2], err[2], noread[2], seen[2];
    lab_diag_view live[2];
    uint64_t last_poll;
    uint16_t port[2];
    char addr[2][48];
    lab_tl tl;
    int step, phase, ended;
    uint64_t ready_t, start_t, end_t;
    int incomplete;
    char why[256];
    FILE *progress;
} run_ctx;

static const char *errname(int e)
{
    switch (e) {
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ECONNABORTED: return "ECONNABORTED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    default: return "error";
    }
}

/* ---- notes (comments + progress) ---------------------------------------- */

static void note_event(run_ctx *c, uint64_t t0, uint64_t t1, int side, int kind, int act,
                       const char *what)
{
    tcps_lab_writer w;
    char t[32];
    snprintf(t, sizeof t, "%llu.%06llu", (unsigned long long)(t0 / 1000000000ull),
             (unsigned long long)(t0 % 1000000000ull / 1000ull));
    tcps_lab_begin(&w, "event");
    tcps_lab_add(&w, "t", t);
    tcps_lab_add(&w, "side", LAB_SIDE_NAME(side));
    tcps_lab_add(&w, "what", what);
    tl_add_note(&c->tl, t0, t1, side, kind, act, tcps_lab_text(&w), what);
}

/* A pending socket error (SO_ERROR), noted once as an event. */
static void note_socket_error(run_ctx *c, uint64_t t, int side, int fd)
{
    int e = 0;
    socklen_t l = sizeof e;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
    if (!e)
        return;
    char w[128];
    c->err[side] = e;
    snprintf(w, sizeof w, "socket error: %s (%s)", errname(e), strerror(e));
    note_event(c, t, t, side, NOTE_EVENT, 0, w);
}

static void subst(const char *tmpl, const run_ctx *c, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = tmpl; *p && n + 8 < cap;) {
        if (p[0] == '{' && (p[1] == 'S' || p[1] == 'C') && p[2] == '}') {
            n += (size_t)snprintf(out + n, cap - n, "%u", p[1] == 'S' ? c->port[1] : c->port[0]);
            p += 3;
        } else if (c->af == AF_INET6 && !strncmp(p, "iptables", 8) && (p == tmpl || p[-1] == ' ')) {
            n += (size_t)snprintf(out + n, cap - n, "ip6tables");
            p += 8;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

/* ---- sockets ------------------------------------------------------------- */

static int make_addr(const run_ctx *c, int side, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (c->af == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(c->port[side]);
        inet_pton(AF_INET6, c->addr[side], &a->sin6_addr);
        *len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(c->port[side]);
        inet_pton(AF_INET, c->addr[side], &a->sin_addr);
        *len = sizeof *a;
    }
    return 0;
}

static int ns_socket(run_ctx *c, int side)
{
    if (lab_ns_enter(&c->ns, side) != 0) {
        lab_ns_leave(&c->ns);
        return -1;
    }
    int fd = socket(c->af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    lab_ns_leave(&c->ns);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    return fd;
}

static void fail(run_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(run_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    c->incomplete = 1;
    if (c->progress)
        fprintf(c->progress, "  !! %s\n", c->why);
}

static void serve_sockets(run_ctx *c)
{
    for (int side = 0; side < 2; side++) {
        int fd = c->fd[side];
        if (fd < 0 || c->err[side])
            continue;
        struct pollfd p = {fd, 0, 0};
        if (side == LAB_CLIENT && c->connecting)
            p.events = POLLOUT;
        else if (!c->noread[side] && !c->eof[side])
            p.events = POLLIN;
        if (poll(&p, 1, 0) <= 0)
            continue;
        uint64_t t = lab_now_ns();
        if (side == LAB_CLIENT && c->connecting) {
            int e = 0;
            socklen_t l = sizeof e;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
            c->connecting = 0;
            if (e) {
                char w[128];
                c->err[side] = e;
                snprintf(w, sizeof w, "connect() failed: %s (%s)", errname(e), strerror(e));
                note_event(c, t, t, side, NOTE_EVENT, 0, w);
            } else {
                note_event(c, t, t, side, NOTE_EVENT, 0, "connect() completed");
            }
            continue;
        }
        if (c->eof[side] || c->noread[side]) {
            /* nothing more to read: only an error is news (once) */
            if (p.revents & POLLERR)
                note_socket_error(c, t, side, fd);
            continue;
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            char buf[4096];
            for (;;) {
                ssize_t r = recv(fd, buf, sizeof buf, 0);
                if (r > 0)
                    continue;
                if (r == 0) {
                    c->eof[side] = 1;
                    note_event(c, t, t, side, NOTE_EVENT, 0, "read() returned 0 (end of file)");
                } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    char w[128];
                    c->err[side] = errno;
                    snprintf(w, sizeof w, "read() failed: %s (%s)", errname(errno), strerror(errno));
                    note_event(c, t, t, side, NOTE_EVENT, 0, w);
                } else if (p.revents & POLLERR) {
                    note_socket_error(c, t, side, fd);
                }
                break;
            }
        }
    }
}

/* ---- steps --------------------------------------------------------------- */

static int is_wait(int act)
{
    return act == ACT_ACCEPT || act == ACT_WAIT_STATE || act == ACT_WAIT_GONE ||
           act == ACT_WAIT_EOF || act == ACT_WAIT_ERROR || act == ACT_WAIT_KAPROBES ||
           act == ACT_WAIT_FINRTX || act == ACT_WAIT_RST;
}

static void do_rule(run_ctx *c, int id, int add)
{
    const lab_rule *r = &c->x->rules[id];
    char match[300], ipt[300], err[512], text[400];
    subst(r->match, c, match, sizeof match);
    subst(r->iptables, c, ipt, sizeof ipt);
    int rc = add ? lab_nft_add(c->nft, id, r->side, r->hook, match, err, sizeof err)
                 : lab_nft_del(c->nft, id, r->side, err, sizeof err);
    uint64_t t1 = lab_now_ns();
    if (rc) {
        fail(c, "%s rule %d: %s", add ? "adding" : "deleting", id, err);
        return;
    }
    tcps_lab_writer w;
    char t[32];
    snprintf(t, sizeof t, "%llu.%06llu", (unsigned long long)(t1 / 1000000000ull),
             (unsigned long long)(t1 % 1000000000ull / 1000ull));
    tcps_lab_begin(&w, "rule");
    tcps_lab_add(&w, "t", t);
    tcps_lab_add(&w, "action", add ? "add" : "delete");
    tcps_lab_add(&w, "text", match);
    tcps_lab_add(&w, "side", LAB_SIDE_NAME(r->side));
    tcps_lab_add(&w, "hook", r->hook);
    tcps_lab_add(&w, "iptables", ipt);
    snprintf(text, sizeof text, "rule %s in the %s's %s hook: %s", add ? "added" : "deleted",
             LAB_SIDE_NAME(r->side), r->hook, match);
    /* the rule is in force from the end of the nft transaction */
    tl_add_note(&c->tl, t1, t1, LAB_LAB, NOTE_RULE, 0, tcps_lab_text(&w), text);
}

/* Wait for the next timer tick (CLOCK_MONOTONIC_COARSE moves once per
 * jiffy): timers armed right after it by calls a few microseconds apart
 * expire in the same jiffy and run in the same softirq. */
static void tick_align(void)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &a);
    uint64_t until = lab_mono_ns() + 20 * MS;
    do
        clock_gettime(CLOCK_MONOTONIC_COARSE, &b);
    while (b.tv_nsec == a.tv_nsec && b.tv_sec == a.tv_sec && lab_mono_ns() < until);
}

static void do_action(run_ctx *c, const lab_step *st)
{
    int side = st->side;
    char what[160];
    uint64_t t0, t1;
    struct sockaddr_storage ss;
    socklen_t sl;
    switch (st->act) {
    case ACT_LISTEN: {
        c->lfd = ns_socket(c, LAB_SERVER);
        make_addr(c, LAB_SERVER, &ss, &sl);
        t0 = lab_now_ns();
        if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&ss, sl) != 0 || listen(c->lfd, 16) != 0) {
            fail(c, "listen on the server: %s", strerror(errno));
            return;
        }
        t1 = lab_now_ns();
        snprintf(what, sizeof what, "listen() on %s%s%s:%u", c->af == AF_INET6 ? "[" : "",
                 c->addr[1], c->af == AF_INET6 ? "]" : "", c->port[1]);
        note_event(c, t0, t1, LAB_SERVER, NOTE_CALL, ACT_LISTEN, what);
        return;
    }
    case ACT_CONNECT: {
        if (c->fd[LAB_CLIENT] >= 0)
            close(c->fd[LAB_CLIENT]);
        int fd = ns_socket(c, LAB_CLIENT);
        c->fd[LAB_CLIENT] = fd;
        c->eof[0] = c->err[0] = c->noread[0] = c->seen[0] = 0;
        make_addr(c, LAB_CLIENT, &ss, &sl);
        if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0) {
            fail(c, "binding the client's port %u: %s", c->port[0], strerror(errno));
            return;
        }
        make_addr(c, LAB_SERVER, &ss, &sl);
        t0 = lab_now_ns();
        int r = connect(fd, (struct sockaddr *)&ss, sl);
        int e = errno;
        t1 = lab_now_ns();
        if (r != 0 && e != EINPROGRESS) {
            fail(c, "connect: %s", strerror(e));
            return;
        }
        c->connecting = 1;
        snprintf(what, sizeof what, "connect() to %s%s%s:%u from port %u",
                 c->af == AF_INET6 ? "[" : "", c->addr[1], c->af == AF_INET6 ? "]" : "",
                 c->port[1], c->port[0]);
        note_event(c, t0, t1, LAB_CLIENT, NOTE_CALL, ACT_CONNECT, what);
        return;
    }
    case ACT_SEND: {
        char buf[1400];
        memset(buf, 'x', sizeof buf);
        size_t n = (size_t)st->arg < sizeof buf ? (size_t)st->arg : sizeof buf;
        if (c->fd[side] < 0) {
            fail(c, "%s has no socket to send on", LAB_SIDE_NAME(side));
            return;
        }
        t0 = lab_now_ns();
        ssize_t r = send(c->fd[side], buf, n, MSG_NOSIGNAL);
        int e = errno;
        t1 = lab_now_ns();
        if (r < 0)
            snprintf(what, sizeof what, "send() of %zu bytes failed: %s (%s)", n, errname(e),
                     strerror(e));
        else
            snprintf(what, sizeof what, "send() %zd bytes", r);
        note_event(c, t0, t1, side, NOTE_CALL, ACT_SEND, what);
        return;
    }
    case ACT_CLOSE:
    case ACT_SHUT_WR:
    case ACT_LINGER0:
    case ACT_KEEPALIVE: {
        int fd = c->fd[side];
        if (fd < 0) {
            fail(c, "%s has no connection socket", LAB_SIDE_NAME(side));
            return;
        }
        if (st->act == ACT_CLOSE && st->arg == 1)
            tick_align();
        t0 = lab_now_ns();
        if (st->act == ACT_CLOSE) {
            close(fd);
            c->fd[side] = -1;
            snprintf(what, sizeof what, "close()");
        } else if (st->act == ACT_SHUT_WR) {
            shutdown(fd, SHUT_WR);
            snprintf(what, sizeof what, "shutdown(SHUT_WR)");
        } else if (st->act == ACT_LINGER0) {
            struct linger l = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            snprintf(what, sizeof what, "setsockopt(SO_LINGER, {1, 0})");
        } else {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
            snprintf(what, sizeof what, "setsockopt(SO_KEEPALIVE, 1)");
        }
        t1 = lab_now_ns();
        note_event(c, t0, t1, side, NOTE_CALL, st->act, what);
        return;
    }
    case ACT_NOREAD:
        c->noread[side] = 1;
        t0 = lab_now_ns();
        note_event(c, t0, t0, side, NOTE_EVENT, 0, "the application stops reading");
        return;
    case ACT_RULE_ADD:
    case ACT_RULE_DEL:
        if (st->arg < 0 || st->arg >= LAB_MAX_RULES || !c->x->rules[st->arg].match) {
            fail(c, "no rule %d", st->arg);
            return;
        }
        do_rule(c, st->arg, st->act == ACT_RULE_ADD);
        return;
    case ACT_SLEEP:
        return;
    case ACT_END:
        c->ended = 1;
        c->end_t = lab_now_ns();
        return;
    default:
        return;
    }
}

static int wait_done(run_ctx *c, const lab_step *st)
{
    int side = st->side;
    switch (st->act) {
    case ACT_ACCEPT: {
        if (c->lfd < 0)
            return 0;
        uint64_t t0 = lab_now_ns();
        int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return 0;
        uint64_t t1 = lab_now_ns();
        if (c->fd[LAB_SERVER] >= 0)
            close(c->fd[LAB_SERVER]);
        c->fd[LAB_SERVER] = fd;
        c->eof[1] = c->err[1] = c->noread[1] = 0;
        note_event(c, t0, t1, LAB_SERVER, NOTE_CALL, ACT_ACCEPT, "accept()");
        return 1;
    }
    case ACT_WAIT_STATE: return tl_view_state(&c->tl, side, &c->live[side]) == st->arg;
    case ACT_WAIT_GONE: return c->seen[side] && c->live[side].conn.kind == SK_NONE;
    case ACT_WAIT_EOF: return c->eof[side];
    case ACT_WAIT_ERROR: return c->err[side] != 0;
    case ACT_WAIT_KAPROBES: return (int)c->tl.kaprobes[side] >= st->arg;
    case ACT_WAIT_FINRTX: return (int)c->tl.finrtx[side] >= st->arg;
    case ACT_WAIT_RST: return c->tl.rsts[side] >= 1;
    default: return 1;
    }
}

static const char *wait_text(const lab_step *st, char *buf, size_t cap)
{
    const char *s = LAB_SIDE_NAME(st->side);
    switch (st->act) {
    case ACT_ACCEPT: snprintf(buf, cap, "a connection to accept"); break;
    case ACT_WAIT_STATE: snprintf(buf, cap, "the %s in %s", s, lab_state_name((unsigned)st->arg)); break;
    case ACT_WAIT_GONE: snprintf(buf, cap, "the %s's socket to go away", s); break;
    case ACT_WAIT_EOF: snprintf(buf, cap, "end of file on the %s", s); break;
    case ACT_WAIT_ERROR: snprintf(buf, cap, "an error on the %s's socket", s); break;
    case ACT_WAIT_KAPROBES: snprintf(buf, cap, "%d keepalive probes from the %s", st->arg, s); break;
    case ACT_WAIT_FINRTX: snprintf(buf, cap, "%d FIN retransmissions from the %s", st->arg, s); break;
    case ACT_WAIT_RST: snprintf(buf, cap, "a RST from the %s", s); break;
    default: snprintf(buf, cap, "?");
    }
    return buf;
}

static void run_steps(run_ctx *c, uint64_t now)
{
    while (!c->ended && c->step < LAB_MAX_STEPS) {
        const lab_step *st = &c->x->steps[c->step];
        if (c->phase == 0) {
            if (now < c->ready_t + st->delay_ms * MS)
                return;
            c->phase = 1;
            c->start_t = now;
            if (!is_wait(st->act)) {
                do_action(c, st);
                if (c->incomplete && !c->ended) { /* an action failed: end now */
                    while (c->step < LAB_MAX_STEPS && c->x->steps[c->step].act != ACT_END)
                        c->step++;
                    c->phase = 0;
                    c->ready_t = now;
                    continue;
                }
                goto next;
            }
        }
        if (wait_done(c, st))
            goto next;
        uint64_t limit = c->o->real_timers ? REAL_TIMER_WAIT_MS : st->timeout_ms;
        if (limit && now - c->start_t > limit * MS) {
            char b[128];
            fail(c, "gave up waiting for %s after %.1f s", wait_text(st, b, sizeof b),
                 (double)limit / 1000.0);
            while (c->step < LAB_MAX_STEPS && c->x->steps[c->step].act != ACT_END)
                c->step++;
            c->phase = 0;
            c->ready_t = now;
            continue;
        }
        return;
    next:
        c->step++;
        c->phase = 0;
        c->ready_t = lab_now_ns();
        now = c->ready_t;
    }
}

/* ---- capture, polls ----------------------------------------------------- */

static void on_packet(u_char *u, const struct pcap_pkthdr *h, const u_char *data)
{
    run_ctx *c = (run_ctx *)u;
    /* nanosecond precision: tv_usec holds nanoseconds */
    uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
    tl_add_packet(&c->tl, ts, data, h->caplen, h->len);
}

static void on_trace_ev(const lab_trace_ev *ev, void *u)
{
    run_ctx *c = u;
    if (ev->t >= c->tl.t0)
        tl_add_trace(&c->tl, ev);
}

static void poll_diag(run_ctx *c)
{
    for (int side = 0; side < 2; side++) {
        lab_diag_view v;
        uint64_t t0 = lab_now_ns();
        if (lab_diag_poll(c->diag[side], c->port[side], c->port[1 - side], &v) != 0)
            continue;
        uint64_t t1 = lab_now_ns();
        c->live[side] = v;
        if (v.conn.kind != SK_NONE)
            c->seen[side] = 1;
        tl_add_diag(&c->tl, side, t0, t1, &v);
    }
    c->last_poll = lab_now_ns();
}

static pcap_t *open_capture(run_ctx *c, char *err, size_t cap)
{
    char eb[PCAP_ERRBUF_SIZE] = "";
    const char *ifn = c->capture_at == LAB_SERVER ? LAB_IFNAME_SERVER : LAB_IFNAME_CLIENT;
    if (lab_ns_enter(&c->ns, c->capture_at) != 0) {
        lab_ns_leave(&c->ns);
        snprintf(err, cap, "cannot enter the %s namespace", LAB_SIDE_NAME(c->capture_at));
        return NULL;
    }
    pcap_t *p = pcap_create(ifn, eb);
    int rc = -1;
    if (p) {
        pcap_set_snaplen(p, 262144);
        pcap_set_immediate_mode(p, 1);
        pcap_set_buffer_size(p, 4 << 20);
        pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
        rc = pcap_activate(p);
    }
    lab_ns_leave(&c->ns);
    if (!p || rc < 0) {
        snprintf(err, cap, "capture on %s: %s", ifn, p ? pcap_geterr(p) : eb);
        if (p)
            pcap_close(p);
        return NULL;
    }
    struct bpf_program bpf;
    if (pcap_compile(p, &bpf, "tcp", 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(p, &bpf) != 0) {
        snprintf(err, cap, "capture filter: %s", pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    pcap_freecode(&bpf);
    if (pcap_setnonblock(p, 1, eb) != 0) {
        snprintf(err, cap, "capture: %s", eb);
        pcap_close(p);
        return NULL;
    }
    return p;
}

/* ---- one experiment ----------------------------------------------------- */

static void section_comment(run_ctx *c, const char sysv[][32], char *out, size_t cap)
{
    struct utsname u;
    uname(&u);
    tcps_lab_writer w;
    tcps_lab_begin(&w, "experiment");
    tcps_lab_add(&w, "name", c->x->name);
    tcps_lab_add(&w, "desc", c->x->desc);
    tcps_lab_add(&w, "capture", LAB_SIDE_NAME(c->capture_at));
    tcps_lab_add(&w, "kernel", u.release);
    tcps_lab_addf(&w, "tool", "tcpstate-lab %s", TCPS_VERSION);
    tcps_lab_add(&w, "ipv6", c->af == AF_INET6 ? "1" : "0");
    tcps_lab_add(&w, "real_timers", c->o->real_timers ? "1" : "0");
    for (size_t i = 0; lab_recorded_sysctls[i]; i++)
        if (sysv[i][0]) {
            char k[40];
            snprintf(k, sizeof k, "sysctl.%s", lab_recorded_sysctls[i]);
            tcps_lab_add(&w, k, sysv[i]);
        }
    char rules[256] = "", ipts[256] = "";
    for (int i = 0; i < LAB_MAX_RULES && c->x->rules[i].match; i++) {
        char m[200], ip[200];
        subst(c->x->rules[i].match, c, m, sizeof m);
        subst(c->x->rules[i].iptables, c, ip, sizeof ip);
        size_t rl = strlen(rules), il = strlen(ipts);
        snprintf(rules + rl, sizeof rules - rl, "%s%s %s: %s", rl ? "; " : "",
                 LAB_SIDE_NAME(c->x->rules[i].side), c->x->rules[i].hook, m);
        snprintf(ipts + il, sizeof ipts - il, "%s%s: %s", il ? "; " : "",
                 LAB_SIDE_NAME(c->x->rules[i].side), ip);
    }
    if (rules[0]) {
        tcps_lab_add(&w, "rule", rules);
        tcps_lab_add(&w, "iptables", ipts);
    }
    char a[64];
    snprintf(a, sizeof a, c->af == AF_INET6 ? "[%s]:%u" : "%s:%u", c->addr[0], c->port[0]);
    tcps_lab_add(&w, "client", a);
    snprintf(a, sizeof a, c->af == AF_INET6 ? "[%s]:%u" : "%s:%u", c->addr[1], c->port[1]);
    tcps_lab_add(&w, "server", a);
    const char *txt = tcps_lab_text(&w);
    snprintf(out, cap, "%s", txt ? txt : "tcpstate-lab/1 experiment");
}

static void close_sockets(run_ctx *c)
{
    for (int s = 0; s < 2; s++)
        if (c->fd[s] >= 0) {
            close(c->fd[s]);
            c->fd[s] = -1;
        }
    if (c->lfd >= 0) {
        close(c->lfd);
        c->lfd = -1;
    }
}

static void teardown(run_ctx *c)
{
    if (c->pc) {
        pcap_close(c->pc);
        c->pc = NULL;
    }
    close_sockets(c);
    lab_nft_free(c->nft);
    c->nft = NULL;
    for (int s = 0; s < 2; s++) {
        lab_diag_close(c->diag[s]);
        c->diag[s] = NULL;
    }
    if (c->have_ns)
        lab_ns_destroy(&c->ns);
    c->have_ns = 0;
}

/* Returns 0 complete, 1 incomplete, -1 setup error, or the signal number + 128. */
static int run_one(const lab_experiment *x, const run_opts *o, int outfd, const char *path,
                   lab_trace *trace)
{
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.x = x;
    c.o = o;
    c.trace = trace;
    c.capture_at = o->capture_at >= 0 ? o->capture_at : x->capture_at;
    c.af = o->ipv6 ? AF_INET6 : AF_INET;
    c.lfd = c.fd[0] = c.fd[1] = -1;
    c.port[0] = o->client_port;
    c.port[1] = LAB_SERVER_PORT;
    snprintf(c.addr[0], sizeof c.addr[0], "%s", o->ipv6 ? LAB_ADDR6_CLIENT : LAB_ADDR4_CLIENT);
    snprintf(c.addr[1], sizeof c.addr[1], "%s", o->ipv6 ? LAB_ADDR6_SERVER : LAB_ADDR4_SERVER);
    c.progress = o->quiet ? NULL : stdout;
    char err[512];
    uint64_t started = lab_now_ns();

    if (lab_ns_create(&c.ns, err, sizeof err) != 0) {
        lab_error("%s: %s", x->name, err);
        close(outfd);
        unlink(path);
        return -1;
    }
    c.have_ns = 1;
    if (lab_ns_link(&c.ns, o->ipv6, err, sizeof err) != 0)
        goto setup_error;
    char sysv[32][32];
    memset(sysv, 0, sizeof sysv);
    for (int i = 0; i < LAB_MAX_SYSCTLS && x->sysctls[i].name; i++) {
        if (x->sysctls[i].timer && o->real_timers)
            continue;
        for (int s = 0; s < 2; s++)
            if (lab_ns_sysctl_set(&c.ns, s, x->sysctls[i].name, x->sysctls[i].value) != 0) {
                snprintf(err, sizeof err, "cannot set net.ipv4.%s=%s in the lab namespace",
                         x->sysctls[i].name, x->sysctls[i].value);
                goto setup_error;
            }
    }
    for (size_t i = 0; lab_recorded_sysctls[i] && i < 32; i++)
        if (lab_ns_sysctl_get(&c.ns, LAB_CLIENT, lab_recorded_sysctls[i], sysv[i], sizeof sysv[i]))
            sysv[i][0] = '\0';
    c.nft = lab_nft_new(&c.ns, err, sizeof err);
    if (!c.nft)
        goto setup_error;
    for (int s = 0; s < 2; s++)
        if (!(c.diag[s] = lab_diag_open(&c.ns, s, c.af))) {
            snprintf(err, sizeof err, "sock_diag: %s", strerror(errno));
            goto setup_error;
        }
    c.pc = open_capture(&c, err, sizeof err);
    if (!c.pc)
        goto setup_error;
    char shb[2048];
    section_comment(&c, (const char(*)[32])sysv, shb, sizeof shb);
    struct utsname u;
    uname(&u);
    char os[300];
    snprintf(os, sizeof os, "%s %s", u.sysname, u.release);
    lab_pcapng *w = lab_pcapng_open(outfd, path, shb,
                                    c.capture_at == LAB_SERVER ? LAB_IFNAME_SERVER : LAB_IFNAME_CLIENT,
                                    os, err, sizeof err);
    outfd = -1; /* owned by the writer now */
    if (!w)
        goto setup_error;

    uint64_t t0 = lab_now_ns();
    tl_init(&c.tl, o->ipv6, c.port[0], c.port[1], trace != NULL, c.progress, t0);
    c.tl.w = w;
    if (c.progress) {
        printf("%s: %s\n", x->name, x->desc);
        printf("  client %s port %u, server %s port %u; capture on %s; kernel states from %s\n",
               c.addr[0], c.port[0], c.addr[1], c.port[1],
               c.capture_at == LAB_SERVER ? LAB_IFNAME_SERVER : LAB_IFNAME_CLIENT,
               trace ? "the tracepoint and sock_diag" : "sock_diag");
        printf("  sysctls (both namespaces):");
        int any = 0;
        for (int i = 0; i < LAB_MAX_SYSCTLS && x->sysctls[i].name; i++)
            if (!(x->sysctls[i].timer && o->real_timers)) {
                printf(" %s=%s", x->sysctls[i].name, x->sysctls[i].value);
                any = 1;
            }
        printf("%s\n", any ? "" : o->real_timers ? " kernel defaults (--real-timers)" : " kernel defaults");
        printf("      time  side    what\n");
        fflush(stdout);
    }
    if (trace) /* left over from before this experiment */
        lab_trace_read(trace, on_trace_ev, &c);
    c.ready_t = t0;
    int sig = 0;
    for (;;) {
        if (g_signal) {
            sig = g_signal;
            break;
        }
        uint64_t now = lab_now_ns();
        if (now - c.last_poll >= POLL_NS)
            poll_diag(&c);
        pcap_dispatch(c.pc, -1, on_packet, (u_char *)&c);
        if (trace)
            lab_trace_read(trace, on_trace_ev, &c);
        serve_sockets(&c);
        run_steps(&c, lab_now_ns());
        if (c.ended && lab_now_ns() > c.end_t + 60 * MS)
            break;
        now = lab_now_ns();
        uint64_t h = now - BEHIND_NS;
        if (h > c.last_poll)
            h = c.last_poll;
        tl_process(&c.tl, h);
        tl_flush(&c.tl, 0);
        struct pollfd pf[3];
        int np = 0;
        int pcfd = pcap_get_selectable_fd(c.pc);
        if (pcfd >= 0)
            pf[np++] = (struct pollfd){pcfd, POLLIN, 0};
        for (int s = 0; s < 2; s++)
            if (c.fd[s] >= 0 && !c.err[s] && !c.eof[s] && !c.noread[s])
                pf[np++] = (struct pollfd){c.fd[s], POLLIN, 0};
        poll(pf, (nfds_t)np, 1);
    }
    /* the end: what is still in flight, then the final answers */
    if (!sig) {
        pcap_dispatch(c.pc, -1, on_packet, (u_char *)&c);
        poll_diag(&c);
    }
    pcap_close(c.pc);
    c.pc = NULL;
    if (trace) {
        usleep(2000);
        lab_trace_read(trace, on_trace_ev, &c);
    }
    tl_process(&c.tl, UINT64_MAX);
    tl_flush(&c.tl, 1);
    uint8_t fin[2] = {tl_state_now(&c.tl, 0), tl_state_now(&c.tl, 1)};
    unsigned npk = (unsigned)c.tl.npkts, rtx0 = c.tl.retrans[0], rtx1 = c.tl.retrans[1];
    unsigned ka = c.tl.kaprobes[0] + c.tl.kaprobes[1];
    int werr = c.tl.write_error;
    char cerr[512] = "";
    int crc = lab_pcapng_close(w, cerr, sizeof cerr);
    tl_free(&c.tl);
    teardown(&c);
    double secs = (double)(lab_now_ns() - started) / 1e9;
    if (werr || crc) {
        lab_error("%s: writing %s failed%s%s", x->name, path, cerr[0] ? ": " : "", cerr);
        return -1;
    }
    if (sig)
        printf("%s: interrupted by %s after %.1f s; %u packets written to %s\n", x->name,
               sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal", secs, npk, path);
    else
        printf("%s: %u packets captured at the %s, %u retransmissions (client %u, server %u)%s%.0u%s, "
               "final states client %s, server %s; %.1f s; wrote %s%s%s\n",
               x->name, npk, LAB_SIDE_NAME(c.capture_at), rtx0 + rtx1, rtx0, rtx1,
               ka ? ", " : "", ka, ka ? " keepalive probes" : "", lab_state_name(fin[0]),
               lab_state_name(fin[1]), secs, path, c.incomplete ? "; INCOMPLETE: " : "",
               c.incomplete ? c.why : "");
    fflush(stdout);
    if (sig)
        return 128 + sig;
    return c.incomplete ? 1 : 0;

setup_error:
    lab_error("%s: %s", x->name, err);
    teardown(&c);
    if (outfd >= 0)
        close(outfd);
    unlink(path); /* nothing was captured */
    return -1;
}

/* ---- the command ---------------------------------------------------------- */

static int have_privileges(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0)
        return geteuid() == 0;
    uint32_t eff = d[0].effective;
    return (eff & (1u << CAP_NET_ADMIN)) && (eff & (1u << CAP_SYS_ADMIN));
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: tcpstate-lab run NAME [-o FILE.pcapng] [--capture-at client|server]\n"
            "                        [--ipv6] [--real-timers] [--quiet]\n"
            "       tcpstate-lab run --all -d DIR [options]\n"
            "Run an experiment between two private network namespaces joined by a veth\n"
            "pair and write a pcapng capture whose comments carry the kernel's socket\n"
            "states (sock_diag and the sock/inet_sock_set_state tracepoint), the\n"
            "application's calls and the drop rules.  Needs root; without it, the run\n"
            "happens in a user namespace of its own (if the kernel allows unprivileged\n"
            "user namespaces), with kernel states from sock_diag alone (no tracefs).\n"
            "  -o FILE             output (default NAME.pcapng)\n"
            "  --all               every experiment, one after the other\n"
            "  -d DIR              output directory for --all (DIR/NAME.pcapng)\n"
            "  --capture-at SIDE   capture on the client's or the server's veth end\n"
            "                      (default: the experiment's choice, mostly client)\n"
            "  --ipv6              fd77::1 / fd77::2 instead of 10.77.0.1 / 10.77.0.2\n"
            "  --real-timers       keep the kernel's default timers (runs take minutes\n"
            "                      to hours); the default shortens them with sysctls\n"
            "                      set inside the lab's namespaces only\n"
            "  --quiet             only the summary line\n"
            "  --no-trace          kernel states from sock_diag alone (what happens\n"
            "                      anyway when tracefs is missing)\n"
            "'tcpstate-lab list' lists the experiments.  The host's namespaces, rules,\n"
            "interfaces and sysctls are never touched.\n");
}

static int open_out(const char *path, char *err, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
    return fd;
}

int lab_cmd_run(int argc, char **argv)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    o.capture_at = -1;
    static const struct option lopts[] = {
        {"output", required_argument, 0, 'o'},  {"dir", required_argument, 0, 'd'},
        {"all", no_argument, 0, 'a'},           {"capture-at", required_argument, 0, 'c'},
        {"ipv6", no_argument, 0, '6'},          {"real-timers", no_argument, 0, 'r'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"no-trace", no_argument, 0, 'T'},      {0, 0, 0, 0}};
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "o:d:6qh", lopts, NULL)) != -1) {
        switch (ch) {
        case 'o': o.out = optarg; break;
        case 'd': o.dir = optarg; break;
        case 'a': o.all = 1; break;
        case 'c':
            if (!strcmp(optarg, "client"))
                o.capture_at = LAB_CLIENT;
            else if (!strcmp(optarg, "server"))
                o.capture_at = LAB_SERVER;
            else {
                lab_error("--capture-at takes client or server, not '%s'", optarg);
                return 2;
            }
            break;
        case '6': o.ipv6 = 1; break;
        case 'r': o.real_timers = 1; break;
        case 'q': o.quiet = 1; break;
        case 'T': o.no_trace = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            lab_error("run: unknown option '%s' (see tcpstate-lab run --help)", argv[optind - 1]);
            return 2;
        }
    }
    const lab_experiment *todo[64];
    size_t n = 0;
    if (o.all) {
        if (optind != argc || !o.dir || o.out) {
            lab_error("run --all takes -d DIR and no experiment name or -o (see tcpstate-lab run --help)");
            return 2;
        }
        for (size_t i = 0; i < lab_experiment_count() && n < 64; i++)
            todo[n++] = lab_experiment_at(i);
    } else {
        if (optind != argc - 1) {
            lab_error("run takes one experiment name (or --all -d DIR); the experiments:");
            lab_experiment_list(stderr);
            return 2;
        }
        const lab_experiment *x = lab_experiment_find(argv[optind]);
        if (!x) {
            lab_error("unknown experiment '%s'; the experiments:", argv[optind]);
            lab_experiment_list(stderr);
            return 2;
        }
        if (o.dir) {
            lab_error("-d is for --all; use -o FILE for one experiment");
            return 2;
        }
        todo[n++] = x;
    }
    /* without root: root of a user namespace of its own (userns.c), or
     * one line saying why not */
    int userns = 0;
    if (!have_privileges()) {
        char why[300];
        if (lab_userns_enter(why, sizeof why) != 0) {
            lab_error("run needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) or unprivileged user "
                      "namespaces to create its network namespaces (%s); try sudo", why);
            return 2;
        }
        userns = 1;
    }
    /* the handlers before the outputs exist: a signal from here on stops
     * the run before the first experiment and its empty files are removed */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* every output is opened before anything runs */
    char paths[64][4096];
    int fds[64];
    char err[4200];
    if (o.all) {
        struct stat st;
        if (stat(o.dir, &st) != 0 && mkdir(o.dir, 0755) != 0) {
            lab_error("cannot create %s: %s", o.dir, strerror(errno));
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (o.all)
            snprintf(paths[i], sizeof paths[i], "%s/%s.pcapng", o.dir, todo[i]->name);
        else if (o.out)
            snprintf(paths[i], sizeof paths[i], "%s", o.out);
        else
            snprintf(paths[i], sizeof paths[i], "%s.pcapng", todo[i]->name);
        fds[i] = open_out(paths[i], err, sizeof err);
        if (fds[i] < 0) {
            lab_error("%s", err);
            for (size_t k = 0; k < i; k++) {
                close(fds[k]);
                unlink(paths[k]);
            }
            return 1;
        }
    }

    char warn[512] = "";
    lab_trace *trace = NULL;
    o.client_port = (uint16_t)(40000 + getpid() % 20000);
    if (userns && !o.no_trace)
        lab_error("warning: not root: running in a user namespace, where tracefs is not "
                  "available; kernel states from sock_diag alone (less exact)");
    if (!o.no_trace && !userns) {
        trace = lab_trace_open(&o.client_port, warn, sizeof warn);
        if (!trace)
            lab_error("warning: %s; kernel states from sock_diag alone (less exact)", warn);
    }
    lab_wtap_init();
    int rc = 0, complete = 0;
    uint64_t t0 = lab_now_ns();
    size_t i = 0;
    for (; i < n; i++) {
        if (g_signal)
            break;
        if (i && !o.quiet)
            printf("\n");
        int r = run_one(todo[i], &o, fds[i], paths[i], trace);
        fds[i] = -1;
        if (r == 0)
            complete++;
        else if (r > 128) {
            rc = r;
            i++;
            break;
        } else if (!rc)
            rc = 1;
    }
    for (size_t k = i; k < n; k++) { /* not run (interrupted): leave no empty file */
        if (fds[k] >= 0)
            close(fds[k]);
        unlink(paths[k]);
    }
    lab_trace_close(trace);
    if (g_signal && rc <= 128)
        rc = 128 + g_signal;
    if (o.all)
        printf("\n%d of %zu experiments complete in %.1f s%s\n", complete, n,
               (double)(lab_now_ns() - t0) / 1e9, rc > 128 ? " (interrupted)" : "");
    return rc;
}
