/*
 * Kernel ground truth by sock_diag (NETLINK_SOCK_DIAG, inet_diag_req_v2),
 * one netlink socket opened inside each lab namespace.
 *
 * A dump lists full sockets (with tcp_info), pending requests (state
 * SYN_RECV, the kernel's NEW_SYN_RECV) and timewait entries (state = their
 * substate, FIN_WAIT2 or TIME_WAIT); the last two carry no tcp_info, which
 * is how they are told from full sockets.  idiag_timer: 1 retransmission
 * (RTO or tail loss probe), 2 keepalive (or an orphan's FIN_WAIT2 timer),
 * 3 timewait, 4 zero-window probe; idiag_expires is in milliseconds.
 * Sockets in CLOSE (a connect that failed, a reset socket whose descriptor
 * is still open) are not asked for: for the lab they no longer exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include "lab.h"

struct lab_diag {
    int fd;
    int family;
    uint32_t seq;
    char buf[65536];
};

lab_diag *lab_diag_open(const lab_ns *n, int side, int family)
{
    lab_diag *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->family = family;
    d->fd = -1;
    if (lab_ns_enter(n, side) == 0)
        d->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    lab_ns_leave(n);
    if (d->fd < 0) {
        free(d);
        return NULL;
    }
    return d;
}

void lab_diag_close(lab_diag *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}

static int rank(uint8_t kind) { return kind == SK_FULL ? 3 : kind == SK_REQ ? 2 : kind == SK_TW ? 1 : 0; }

int lab_diag_poll(lab_diag *d, uint16_t lport, uint16_t rport, lab_diag_view *v)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    memset(v, 0, sizeof *v);
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nlh.nlmsg_seq = ++d->seq;
    req.r.sdiag_family = (uint8_t)d->family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_ext = 1u << (INET_DIAG_INFO - 1);
    /* TCP states 1..12 without CLOSE (7) */
    req.r.idiag_states = 0x1ffeu & ~(1u << 7);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (sendto(d->fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -1;
    for (;;) {
        ssize_t r = recv(d->fd, d->buf, sizeof d->buf, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)d->buf; NLMSG_OK(h, (size_t)r);
             h = NLMSG_NEXT(h, r)) {
            if (h->nlmsg_seq != d->seq)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR)
                return -1;
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
                continue;
            struct inet_diag_msg *m = NLMSG_DATA(h);
            uint16_t sport = ntohs(m->id.idiag_sport), dport = ntohs(m->id.idiag_dport);
            if (sport != lport)
                continue;
            if (m->idiag_state == 10 /* LISTEN */) {
                v->listener = 1;
                continue;
            }
            if (dport != rport)
                continue;
            const uint8_t *info = NULL;
            size_t infolen = 0;
            int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
            for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen);
                 a = RTA_NEXT(a, alen))
                if (a->rta_type == INET_DIAG_INFO) {
                    info = RTA_DATA(a);
                    infolen = RTA_PAYLOAD(a);
                }
            lab_sk s;
            memset(&s, 0, sizeof s);
            s.kstate = m->idiag_state;
            s.timer = m->idiag_timer;
            s.expires_ms = m->idiag_expires;
            s.rqueue = m->idiag_rqueue;
            s.wqueue = m->idiag_wqueue;
            if (info && infolen >= 5) {
                s.kind = SK_FULL;
                /* struct tcp_info: state, ca_state, retransmits, probes, backoff */
                s.retrans = info[2];
                s.probes = info[3];
            } else if (m->idiag_state == 3 /* SYN_RECV */) {
                s.kind = SK_REQ;
                s.retrans = m->idiag_retrans;
            } else {
                s.kind = SK_TW;
            }
            if (rank(s.kind) > rank(v->conn.kind))
                v->conn = s;
        }
    }
}

void lab_timer_text(const lab_sk *s, int64_t elapsed_ms, char *out, size_t cap)
{
    static const char *const names[] = {"off", "on", "keepalive", "timewait", "probe"};
    if (!s->timer || s->timer > 4) {
        snprintf(out, cap, "off");
        return;
    }
    int64_t ms = (int64_t)s->expires_ms - elapsed_ms;
    if (ms < 0)
        ms = 0;
    snprintf(out, cap, "%s(%.2f/%u/%u)", names[s->timer], (double)ms / 1000.0, s->retrans,
             s->probes);
}
