/*
 * The kernel's state of both sockets, for every captured packet.
 *
 * What the engine is checked against is, for each packet, "the state of both
 * sockets right after the packet": the sender's state as it sent it, the
 * receiver's after processing it.  Three sources give it:
 *
 *  - the inet_sock_set_state tracepoint: exact times (microseconds) of every
 *    transition of a full socket;
 *  - sock_diag, polled every millisecond in both namespaces: what the
 *    tracepoint cannot see (pending requests, timewait entries and their
 *    FIN_WAIT2/TIME_WAIT substate, a listener), the timers, and everything
 *    when tracefs is missing;
 *  - the packets and the application's calls, whose times the lab knows, to
 *    put each transition on the right side of the packet that caused it.
 *
 * Choices (documented here because the check depends on them):
 *
 *  1. Causality instead of raw clocks.  A traced transition that happens
 *     during an application call of that side and is the kind the call makes
 *     (connect: ->SYN_SENT; close: ->FIN_WAIT1/LAST_ACK/CLOSE; shutdown:
 *     ->FIN_WAIT1/LAST_ACK; only the first one of the call) is placed at the
 *     start of the call: before the segment the call sends.  Any other traced
 *     transition that follows, within 1 ms, a packet addressed to that side
 *     is placed just after the packet that caused it: the latest one of the
 *     kind that can (a FIN for CLOSE_WAIT and CLOSING, a SYN-ACK for
 *     SYN_SENT -> ESTABLISHED, a RST if there is one for CLOSE, else any).
 *     Timer transitions keep their time.  The tracepoint's times are
 *     microseconds on another clock, and some transitions come after the
 *     segment they answer (tcp_fin() sends the ACK, then sets CLOSING), so
 *     raw times would put them on the wrong side of their packet; and a
 *     receiver may process a segment only after later ones were captured
 *     (FINs crossing on the wire), which this puts back in capture order.
 *  2. A packet's "after" ends at the earliest of: 1 ms after it, the next
 *     captured packet, the next application call.  The states at that
 *     moment are the packet's kernel comment.  With capture on either veth
 *     end a packet's timestamp lies between its sender's transitions and its
 *     receiver's processing (the sender's transitions come before it is
 *     transmitted; the receiver processes it after the capture tap, since
 *     the tap runs before IP input and the drop rules).
 *  3. The sender's state as it sent: when two segments cross, the capture
 *     order may apply to the sender a segment it had not processed when it
 *     sent this one.  Its acknowledgment number proves it: a segment with
 *     sequence space that this one does not acknowledge had not been
 *     processed yet, and the sender's state is the one before its effect
 *     (sender_state_at).
 *  4. sock_diag is a snapshot taken somewhere between the request and the
 *     answer; a change it shows happened since the previous poll (~1 ms).
 *     If the tracepoint reported a transition of that side within the
 *     request/answer span, the tracepoint decides.  A change the tracepoint
 *     did not report is placed just after the packet that can cause it in
 *     that interval (a SYN for a new request, a FIN for FIN_WAIT2 ->
 *     TIME_WAIT in a timewait entry, a RST or SYN for a timewait entry or
 *     request that disappears, the application call that makes it, else the
 *     segment that can cause it); with no such packet it is a timer and takes
 *     the poll's time.  A pending request that the tracepoint shows becoming
 *     a full socket (LISTEN -> SYN_RECV) existed since the SYN that created
 *     it.  Without the tracepoint, the side's calls and segments of the poll
 *     interval are replayed through the TCP state machine (replay) so that
 *     states shorter than a poll are not lost.
 *  5. A full socket that the tracepoint shows going to CLOSE may instead
 *     have been handed to a timewait entry: the first sock_diag snapshot
 *     after it decides (TIME_WAIT or FIN_WAIT2 entry for the same 4-tuple,
 *     or none).
 *  6. No socket: NONE before the side ever had one for this connection
 *     (LISTEN on the server while a listener exists), CLOSED afterwards.
 *
 * Packets are written once nothing later can change their answer (30 ms
 * behind real time), so an interrupted run still leaves a valid capture of
 * everything before the interruption.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "tcpstate/labcomment.h"
#include "tcpstate/pkt.h"
#include "tcpstate/tcpstate.h"
#include "timeline.h"

#define US 1000ull
#define MS 1000000ull
#define AFTER_WINDOW (1 * MS)   /* choice 2 */
#define CAUSE_WINDOW (1 * MS)   /* choice 1 */
#define SETTLE (5 * MS)

#define KS_ESTABLISHED 1
#define KS_SYN_SENT 2
#define KS_SYN_RECV 3
#define KS_FIN_WAIT1 4
#define KS_FIN_WAIT2 5
#define KS_TIME_WAIT 6
#define KS_CLOSE 7
#define KS_CLOSE_WAIT 8
#define KS_LAST_ACK 9
#define KS_LISTEN 10
#define KS_CLOSING 11

static void *grow(void *p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return p;
    size_t nc = *cap ? *cap * 2 : 64;
    void *q = realloc(p, nc * elem);
    if (!q) {
        fprintf(stderr, "tcpstate-lab: out of memory\n");
        exit(1);
    }
    *cap = nc;
    return q;
}

void tl_init(lab_tl *tl, int ipv6, uint16_t cport, uint16_t sport, int use_trace, FILE *progress,
             uint64_t t0)
{
    memset(tl, 0, sizeof *tl);
    tl->ipv6 = ipv6;
    inet_pton(ipv6 ? AF_INET6 : AF_INET, ipv6 ? LAB_ADDR6_CLIENT : LAB_ADDR4_CLIENT, tl->addr[0]);
    inet_pton(ipv6 ? AF_INET6 : AF_INET, ipv6 ? LAB_ADDR6_SERVER : LAB_ADDR4_SERVER, tl->addr[1]);
    tl->port[0] = cport;
    tl->port[1] = sport;
    tl->use_trace = use_trace;
    tl->progress = progress;
    tl->t0 = t0;
    for (int s = 0; s < 2; s++)
        tl->side[s].cur = LAB_ST_NONE;
}

void tl_free(lab_tl *tl)
{
    for (size_t i = 0; i < tl->npkts; i++)
        free(tl->pkts[i].data);
    for (size_t i = 0; i < tl->nnotes; i++) {
        free(tl->notes[i].line);
        free(tl->notes[i].text);
    }
    free(tl->pkts);
    free(tl->notes);
    free(tl->trevs);
    free(tl->drecs);
    for (int s = 0; s < 2; s++) {
        free(tl->side[s].ch);
        free(tl->side[s].tr);
    }
    memset(tl, 0, sizeof *tl);
}

static double rel(const lab_tl *tl, uint64_t t)
{
    return t >= tl->t0 ? (double)(t - tl->t0) / 1e9 : -(double)(tl->t0 - t) / 1e9;
}

static void say(const lab_tl *tl, uint64_t t, int side, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(const lab_tl *tl, uint64_t t, int side, const char *fmt, ...)
{
    if (!tl->progress)
        return;
    fprintf(tl->progress, "  %8.3f  %-6s  ", rel(tl, t), LAB_SIDE_NAME(side));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(tl->progress, fmt, ap);
    va_end(ap);
    fputc('\n', tl->progress);
    fflush(tl->progress);
}

/* ---- input ----------------------------------------------------------------- */

static int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

static int debug_on(void)
{
    static int d = -1;
    if (d < 0)
        d = getenv("TCPSTATE_LAB_DEBUG") != NULL;
    return d;
}

void tl_add_packet(lab_tl *tl, uint64_t t, const uint8_t *data, uint32_t caplen, uint32_t len)
{
    tl->pkts = grow(tl->pkts, &tl->cappkts, tl->npkts, sizeof *tl->pkts);
    lab_pkt *p = &tl->pkts[tl->npkts];
    memset(p, 0, sizeof *p);
    /* pcap delivers in order; keep the array sorted whatever happens */
    if (tl->npkts && t < tl->pkts[tl->npkts - 1].t)
        t = tl->pkts[tl->npkts - 1].t;
    p->t = t;
    p->data = malloc(caplen ? caplen : 1);
    if (!p->data) {
        fprintf(stderr, "tcpstate-lab: out of memory\n");
        exit(1);
    }
    memcpy(p->data, data, caplen);
    p->caplen = caplen;
    p->len = len;
    p->dir = -1;
    tl->npkts++;
    tcps_segment g;
    if (tcps_decode(TCPS_LINK_ETHERNET, data, caplen, t, &g) != TCPS_DEC_OK)
        return;
    size_t al = tl->ipv6 ? 16 : 4;
    if (g.af != (tl->ipv6 ? 6 : 4))
        return;
    if (!memcmp(g.src, tl->addr[0], al) && !memcmp(g.dst, tl->addr[1], al) &&
        g.sport == tl->port[0] && g.dport == tl->port[1])
        p->dir = 0;
    else if (!memcmp(g.src, tl->addr[1], al) && !memcmp(g.dst, tl->addr[0], al) &&
             g.sport == tl->port[1] && g.dport == tl->port[0])
        p->dir = 1;
    else
        return;
    if (debug_on())
        fprintf(stderr, "pkt   %.6f dir=%d flags=%02x (captured at %.6f)\n", rel(tl, t), p->dir, g.flags,
                rel(tl, lab_now_ns()));
    p->flags = g.flags;
    p->seq = g.seq;
    p->ack = g.ack;
    p->plen = g.len;
    int d = p->dir;
    tl->sent[d]++;
    uint32_t end = g.seq + g.len + ((g.flags & TCPS_F_SYN) ? 1 : 0) + ((g.flags & TCPS_F_FIN) ? 1 : 0);
    if (g.flags & (TCPS_F_SYN | TCPS_F_FIN)) {
        uint8_t ctl = g.flags & (TCPS_F_SYN | TCPS_F_FIN | TCPS_F_ACK);
        if (tl->ctl_copies[d] && tl->ctl_seq[d] == g.seq && tl->ctl_flags[d] == ctl) {
            p->copy = tl->ctl_copies[d]++;
            p->gap = t - tl->ctl_t[d];
        } else {
            tl->ctl_copies[d] = 1;
            tl->ctl_seq[d] = g.seq;
            tl->ctl_flags[d] = ctl;
        }
        tl->ctl_t[d] = t;
    }
    if (g.flags & TCPS_F_RST) {
        tl->rsts[d]++;
        return;
    }
    if (g.flags & TCPS_F_SYN) {
        /* a SYN at or below what was sent is the same SYN again; a higher one
         * starts a new connection (port reuse) */
        if (tl->have_nxt[d] && !seq_lt(tl->nxt[d], end)) {
            p->rtx = 1;
            tl->retrans[d]++;
        } else {
            tl->nxt[d] = end;
            tl->have_nxt[d] = 1;
        }
        return;
    }
    if (!tl->have_nxt[d]) {
        tl->nxt[d] = end;
        tl->have_nxt[d] = 1;
        return;
    }
    if (end != g.seq && !seq_lt(tl->nxt[d], end)) {
        p->rtx = 1;
        tl->retrans[d]++;
        if (g.flags & TCPS_F_FIN)
            tl->finrtx[d]++;
    } else if (g.len == 0 && g.flags == TCPS_F_ACK && g.seq + 1 == tl->nxt[d]) {
        p->kaprobe = 1;
        tl->kaprobes[d]++;
    }
    if (seq_lt(tl->nxt[d], end))
        tl->nxt[d] = end;
}

size_t tl_add_note(lab_tl *tl, uint64_t t0, uint64_t t1, int side, int kind, int act,
                   const char *line, const char *text)
{
    tl->notes = grow(tl->notes, &tl->capnotes, tl->nnotes, sizeof *tl->notes);
    lab_note *n = &tl->notes[tl->nnotes];
    memset(n, 0, sizeof *n);
    n->t0 = t0;
    n->t1 = t1;
    n->side = (uint8_t)side;
    n->kind = (uint8_t)kind;
    n->act = (uint8_t)act;
    n->line = strdup(line ? line : "");
    n->text = strdup(text ? text : "");
    return tl->nnotes++;
}

void tl_add_trace(lab_tl *tl, const lab_trace_ev *ev)
{
    size_t al = tl->ipv6 ? 16 : 4;
    if (ev->family != (tl->ipv6 ? 6 : 4))
        return;
    int side;
    if (ev->sport == tl->port[0] && ev->dport == tl->port[1] && !memcmp(ev->saddr, tl->addr[0], al) &&
        !memcmp(ev->daddr, tl->addr[1], al))
        side = LAB_CLIENT;
    else if (ev->sport == tl->port[1] && ev->dport == tl->port[0] &&
             !memcmp(ev->saddr, tl->addr[1], al) && !memcmp(ev->daddr, tl->addr[0], al))
        side = LAB_SERVER;
    else
        return;
    tl->trevs = grow(tl->trevs, &tl->captrevs, tl->ntrevs, sizeof *tl->trevs);
    /* keep sorted by time (events of different CPUs may come out of order) */
    size_t i = tl->ntrevs;
    while (i > tl->itrev && tl->trevs[i - 1].t > ev->t) {
        tl->trevs[i] = tl->trevs[i - 1];
        i--;
    }
    tl->trevs[i] = (lab_trev){ev->t, (uint8_t)side, ev->oldstate, ev->newstate};
    tl->ntrevs++;
}

static int same_sk(const lab_sk *a, const lab_sk *b, uint64_t dt_ms)
{
    if (a->kind != b->kind || a->kstate != b->kstate || a->timer != b->timer ||
        a->retrans != b->retrans || a->probes != b->probes)
        return 0;
    if (!a->timer)
        return 1;
    int64_t expect = (int64_t)a->expires_ms - (int64_t)dt_ms;
    int64_t diff = (int64_t)b->expires_ms - expect;
    return diff < 50 && diff > -50; /* the timer was not re-armed */
}

void tl_add_diag(lab_tl *tl, int side, uint64_t tsend, uint64_t trecv, const lab_diag_view *v)
{
    lab_side *s = &tl->side[side];
    s->polls[s->npolls % 256][0] = tsend;
    s->polls[s->npolls % 256][1] = trecv;
    s->npolls++;
    /* without the tracepoint, a poll after packets or calls is kept even if
     * nothing changed: a state may have come and gone in between */
    int events = !tl->use_trace && (s->rec_npkts != tl->npkts || s->rec_nnotes != tl->nnotes);
    s->rec_npkts = tl->npkts;
    s->rec_nnotes = tl->nnotes;
    if (!events && s->have_last && s->last.v.listener == v->listener &&
        same_sk(&s->last.v.conn, &v->conn, (tsend - s->last.tsend) / MS)) {
        s->last.tprev = tsend; /* unchanged: only the poll time moves */
        return;
    }
    tl->drecs = grow(tl->drecs, &tl->capdrecs, tl->ndrecs, sizeof *tl->drecs);
    lab_drec *d = &tl->drecs[tl->ndrecs++];
    d->tprev = s->have_last ? s->last.tprev : tsend;
    d->tsend = tsend;
    d->trecv = trecv;
    d->side = (uint8_t)side;
    d->v = *v;
    s->last = *d;
    s->last.tprev = tsend;
    s->have_last = 1;
}

/* ---- the timeline -------------------------------------------------------- */

static uint8_t nosock(const lab_side *s, int side)
{
    if (s->had)
        return TCPS_ST_CLOSED;
    if (side == LAB_SERVER && s->listener)
        return TCPS_ST_LISTEN;
    return LAB_ST_NONE;
}

static int is_conn_state(uint8_t st)
{
    return st != LAB_ST_NONE && st != TCPS_ST_CLOSED && st != TCPS_ST_LISTEN &&
           st != TCPS_ST_UNKNOWN;
}

static int is_nosock(uint8_t st)
{
    return st == LAB_ST_NONE || st == TCPS_ST_CLOSED || st == TCPS_ST_LISTEN;
}

uint8_t tl_view_state(const lab_tl *tl, int side, const lab_diag_view *v)
{
    if (v->conn.kind != SK_NONE)
        return (uint8_t)lab_kstate(v->conn.kstate);
    lab_side tmp = tl->side[side];
    tmp.listener = v->listener;
    return nosock(&tmp, side);
}

uint8_t tl_state_now(const lab_tl *tl, int side) { return tl->side[side].cur; }

static void emit(lab_tl *tl, int side, uint64_t t, uint8_t to, int src, long cause)
{
    lab_side *s = &tl->side[side];
    if (to == s->cur)
        return;
    if (t < s->last_t)
        t = s->last_t;
    s->ch = grow(s->ch, &s->capch, s->nch, sizeof *s->ch);
    s->ch[s->nch++] = (lab_change){t, cause, s->cur, to, (uint8_t)src};
    say(tl, t, side, "%s -> %s%s", lab_state_name(s->cur), lab_state_name(to),
        src == SRC_DIAG && tl->use_trace ? "  (sock_diag)" : "");
    s->cur = to;
    s->last_t = t;
    if (is_conn_state(to))
        s->had = 1;
}

/* The latest packet addressed to side with lo <= t <= hi and
 * (flags & mask) == val; -1 if none. */
static long last_rx(const lab_tl *tl, int side, uint64_t lo, uint64_t hi, uint8_t mask,
                    uint8_t val)
{
    size_t a = 0, b = tl->npkts;
    while (a < b) { /* first packet with t > hi */
        size_t m = (a + b) / 2;
        if (tl->pkts[m].t <= hi)
            a = m + 1;
        else
            b = m;
    }
    for (size_t i = a; i-- > 0;) {
        const lab_pkt *p = &tl->pkts[i];
        if (p->t < lo)
            break;
        int to = p->dir == 0 ? LAB_SERVER : LAB_CLIENT;
        if (p->dir >= 0 && to == side && (p->flags & mask) == val)
            return (long)i;
    }
    return -1;
}

/* Does this call make this transition (choice 1)? */
static int call_makes(uint8_t act, uint8_t newk)
{
    switch (act) {
    case ACT_CONNECT: return newk == KS_SYN_SENT;
    case ACT_CLOSE: return newk == KS_FIN_WAIT1 || newk == KS_LAST_ACK || newk == KS_CLOSE;
    case ACT_SHUT_WR: return newk == KS_FIN_WAIT1 || newk == KS_LAST_ACK;
    case ACT_LISTEN: return newk == KS_LISTEN;
    default: return 0;
    }
}

static lab_note *call_window(lab_tl *tl, int side, uint64_t t, uint8_t newk)
{
    for (size_t i = tl->nnotes; i-- > 0;) {
        lab_note *n = &tl->notes[i];
        if (n->kind != NOTE_CALL || n->side != side)
            continue;
        if (n->t0 > t + 20 * US)
            continue;
        if (n->t1 + 50 * US < t)
            return NULL; /* calls are in time order: no later one can match */
        if (!n->consumed && call_makes(n->act, newk))
            return n;
        return NULL;
    }
    return NULL;
}

static void resolve_close(lab_tl *tl, int side, const lab_drec *d)
{
    lab_side *s = &tl->side[side];
    s->pending = 0;
    if (d && d->v.conn.kind == SK_TW) {
        uint8_t to = (uint8_t)lab_kstate(d->v.conn.kstate);
        if (to == TCPS_ST_TIME_WAIT && s->pc_old == KS_FIN_WAIT2) {
            /* handed over as an orphan FIN_WAIT2, then a FIN came before the
             * snapshot? */
            long f = last_rx(tl, side, s->pc_t + 1, d->trecv, TCPS_F_FIN, TCPS_F_FIN);
            if (f >= 0) {
                emit(tl, side, s->pc_t, TCPS_ST_FIN_WAIT_2, SRC_TRACE, s->pc_cause);
                emit(tl, side, tl->pkts[f].t + 1, TCPS_ST_TIME_WAIT, SRC_DIAG, f);
                return;
            }
        }
        emit(tl, side, s->pc_t, to, SRC_TRACE, s->pc_cause);
        return;
    }
    lab_side tmp = *s;
    tmp.had = 1;
    emit(tl, side, s->pc_t, nosock(&tmp, side), SRC_TRACE, s->pc_cause);
}

static void on_trace(lab_tl *tl, const lab_trev *e)
{
    if (debug_on())
        fprintf(stderr, "trace %.6f %s %u->%u (processed at horizon %.6f)\n", rel(tl, e->t),
                LAB_SIDE_NAME(e->side), e->oldk, e->newk, rel(tl, tl->horizon));
    int side = e->side;
    lab_side *s = &tl->side[side];
    uint64_t tau = e->t;
    long cause = -1;
    lab_note *call = call_window(tl, side, e->t, e->newk);
    if (call) {
        tau = call->t0;
        call->consumed = 1;
    } else {
        /* the packet that caused it: the latest one addressed to this side
         * that can cause it (a FIN for CLOSE_WAIT/CLOSING, a SYN-ACK for
         * SYN_SENT->ESTABLISHED, a RST if any for CLOSE, else any) */
        uint64_t lo = e->t > CAUSE_WINDOW ? e->t - CAUSE_WINDOW : 0, hi = e->t + 5 * US;
        long p = -1;
        if (e->newk == KS_CLOSE_WAIT || e->newk == KS_CLOSING)
            p = last_rx(tl, side, lo, hi, TCPS_F_FIN, TCPS_F_FIN);
        else if (e->oldk == KS_SYN_SENT && e->newk == KS_ESTABLISHED)
            p = last_rx(tl, side, lo, hi, TCPS_F_SYN | TCPS_F_ACK, TCPS_F_SYN | TCPS_F_ACK);
        else if (e->newk == KS_CLOSE) {
            p = last_rx(tl, side, lo, hi, TCPS_F_RST, TCPS_F_RST);
            if (p < 0 && e->oldk == KS_FIN_WAIT2)
                p = last_rx(tl, side, lo, hi, TCPS_F_FIN, TCPS_F_FIN);
        }
        if (p < 0)
            p = last_rx(tl, side, lo, hi, 0, 0);
        if (p >= 0) {
            tau = tl->pkts[p].t + 1;
            cause = p;
        }
    }
    if (s->pending) /* a new socket on the same 4-tuple before sock_diag spoke */
        resolve_close(tl, side, NULL);
    if (e->newk == KS_CLOSE) {
        s->pending = 1;
        s->pc_t = tau < s->last_t ? s->last_t : tau;
        s->pc_raw = e->t;
        s->pc_cause = cause;
        s->pc_old = e->oldk;
        return;
    }
    if (e->oldk == KS_LISTEN && e->newk == KS_SYN_RECV) {
        /* a request becomes a full socket: the request existed since its SYN */
        if (s->cur != TCPS_ST_SYN_RECV) {
            long p = last_rx(tl, side, s->last_t, tau, TCPS_F_SYN | TCPS_F_ACK, TCPS_F_SYN);
            emit(tl, side, p >= 0 ? tl->pkts[p].t + 1 : tau, TCPS_ST_SYN_RECV, SRC_TRACE, p);
        }
        return;
    }
    emit(tl, side, tau, (uint8_t)lab_kstate(e->newk), SRC_TRACE, cause);
}

/* The segment that can have caused from -> to on this side: the latest one
 * addressed to it in [lo, hi] of the right kind (-1 if none). */
static long cause_packet(const lab_tl *tl, int side, uint64_t lo, uint64_t hi, uint8_t from,
                         uint8_t to)
{
    long p = -1;
    if (to == TCPS_ST_CLOSE_WAIT || to == TCPS_ST_CLOSING ||
        (to == TCPS_ST_TIME_WAIT && (from == TCPS_ST_FIN_WAIT_1 || from == TCPS_ST_FIN_WAIT_2)))
        p = last_rx(tl, side, lo, hi, TCPS_F_FIN, TCPS_F_FIN);
    else if (from == TCPS_ST_SYN_SENT && to == TCPS_ST_ESTABLISHED)
        p = last_rx(tl, side, lo, hi, TCPS_F_SYN | TCPS_F_ACK, TCPS_F_SYN | TCPS_F_ACK);
    else if (to == TCPS_ST_SYN_RECV)
        p = last_rx(tl, side, lo, hi, TCPS_F_SYN | TCPS_F_ACK, TCPS_F_SYN);
    else if (is_nosock(to) && from != TCPS_ST_LAST_ACK)
        p = last_rx(tl, side, lo, hi, TCPS_F_RST, TCPS_F_RST);
    if (p < 0)
        p = last_rx(tl, side, lo, hi, 0, 0);
    return p;
}

/* The end of the last FIN this side sent before t (0 if none). */
static uint32_t fin_end_before(const lab_tl *tl, int side, uint64_t t, int *have)
{
    *have = 0;
    for (size_t i = tl->npkts; i-- > 0;) {
        const lab_pkt *p = &tl->pkts[i];
        if (p->t >= t || p->dir != side)
            continue;
        if (p->flags & TCPS_F_SYN)
            return 0; /* an earlier connection */
        if (p->flags & TCPS_F_FIN) {
            *have = 1;
            return p->seq + p->plen + 1;
        }
    }
    return 0;
}

static int same_nosock(uint8_t a, uint8_t b) { return a == b || (is_nosock(a) && is_nosock(b)); }

/* Without the tracepoint: replay this side's calls and segments of (lo, hi]
 * through the TCP state machine from `from`; when that ends in `to` (what
 * sock_diag saw), the steps on the way are emitted at the calls and
 * segments that made them.  The replay assumes every segment arrived; when
 * it never reaches `to` the caller falls back to one transition. */
static int replay(lab_tl *tl, int side, uint64_t lo, uint64_t hi, uint8_t from, uint8_t to)
{
    struct step {
        uint64_t t;
        long cause;
        uint8_t st;
    } steps[16];
    int n = 0;
    uint8_t st = from;
    size_t ip = 0, in = 0;
    while (ip < tl->npkts && tl->pkts[ip].t <= lo)
        ip++;
    while (in < tl->nnotes && tl->notes[in].t0 <= lo)
        in++;
    for (;;) {
        const lab_pkt *p = ip < tl->npkts && tl->pkts[ip].t <= hi ? &tl->pkts[ip] : NULL;
        const lab_note *c = in < tl->nnotes && tl->notes[in].t0 <= hi ? &tl->notes[in] : NULL;
        if (!p && !c)
            break;
        uint8_t next = st;
        uint64_t t;
        long cause = -1;
        if (c && (!p || c->t0 <= p->t)) {
            in++;
            t = c->t0;
            if (c->kind != NOTE_CALL || c->side != side)
                continue;
            if (c->act == ACT_CONNECT && is_nosock(st))
                next = TCPS_ST_SYN_SENT;
            else if ((c->act == ACT_CLOSE || c->act == ACT_SHUT_WR) && st == TCPS_ST_ESTABLISHED)
                next = TCPS_ST_FIN_WAIT_1;
            else if ((c->act == ACT_CLOSE || c->act == ACT_SHUT_WR) && st == TCPS_ST_CLOSE_WAIT)
                next = TCPS_ST_LAST_ACK;
            else if (c->act == ACT_CLOSE && st == TCPS_ST_SYN_SENT)
                next = TCPS_ST_CLOSED;
        } else {
            ip++;
            if (p->dir < 0)
                continue;
            if (p->dir == side) { /* sent */
                t = p->t > 0 ? p->t - 1 : 0;
                if ((p->flags & TCPS_F_RST) && is_conn_state(st))
                    next = TCPS_ST_CLOSED;
            } else { /* received */
                t = p->t + 1;
                cause = (long)(p - tl->pkts);
                int have;
                uint32_t fe = fin_end_before(tl, side, p->t, &have);
                int acks_fin = have && (p->flags & TCPS_F_ACK) && p->ack == fe;
                if (p->flags & TCPS_F_RST) {
                    if (is_conn_state(st))
                        next = TCPS_ST_CLOSED;
                } else if ((p->flags & (TCPS_F_SYN | TCPS_F_ACK)) == TCPS_F_SYN) {
                    if (st == TCPS_ST_LISTEN || st == TCPS_ST_TIME_WAIT || st == TCPS_ST_CLOSED)
                        next = st == TCPS_ST_CLOSED && side == LAB_CLIENT ? st : TCPS_ST_SYN_RECV;
                } else if (p->flags & TCPS_F_SYN) {
                    if (st == TCPS_ST_SYN_SENT)
                        next = TCPS_ST_ESTABLISHED;
                } else if (p->flags & TCPS_F_FIN) {
                    if (st == TCPS_ST_ESTABLISHED || st == TCPS_ST_SYN_RECV)
                        next = TCPS_ST_CLOSE_WAIT;
                    else if (st == TCPS_ST_FIN_WAIT_1)
                        next = acks_fin ? TCPS_ST_TIME_WAIT : TCPS_ST_CLOSING;
                    else if (st == TCPS_ST_FIN_WAIT_2)
                        next = TCPS_ST_TIME_WAIT;
                    else if (st == TCPS_ST_LAST_ACK && acks_fin)
                        next = TCPS_ST_CLOSED;
                } else if (p->flags & TCPS_F_ACK) {
                    if (st == TCPS_ST_SYN_RECV)
                        next = TCPS_ST_ESTABLISHED;
                    else if (st == TCPS_ST_FIN_WAIT_1 && acks_fin)
                        next = TCPS_ST_FIN_WAIT_2;
                    else if (st == TCPS_ST_CLOSING && acks_fin)
                        next = TCPS_ST_TIME_WAIT;
                    else if (st == TCPS_ST_LAST_ACK && acks_fin)
                        next = TCPS_ST_CLOSED;
                }
            }
        }
        if (next != st) {
            if (n == 16)
                return 0;
            steps[n++] = (struct step){t, cause, next};
            st = next;
        }
    }
    /* the replay may go further than the kernel did (a segment it counted
     * was dropped): stop at the last step that reaches what was seen */
    int last = -1;
    for (int i = 0; i < n; i++)
        if (same_nosock(steps[i].st, to))
            last = i;
    (void)st;
    if (last < 0)
        return 0;
    for (int i = 0; i <= last; i++)
        emit(tl, side, steps[i].t, steps[i].st, SRC_DIAG, steps[i].cause);
    return 1;
}

static uint64_t attribute(lab_tl *tl, int side, const lab_drec *d, uint8_t from, uint8_t to,
                          long *cause)
{
    uint64_t lo = d->tprev, hi = d->trecv;
    long p = -1;
    *cause = -1;
    if (to == TCPS_ST_SYN_RECV && (is_nosock(from) || from == TCPS_ST_TIME_WAIT)) {
        p = last_rx(tl, side, lo, hi, TCPS_F_SYN | TCPS_F_ACK, TCPS_F_SYN);
    } else if (to == TCPS_ST_TIME_WAIT && from == TCPS_ST_FIN_WAIT_2) {
        p = last_rx(tl, side, lo, hi, TCPS_F_FIN, TCPS_F_FIN);
    } else if (is_nosock(to) &&
               (from == TCPS_ST_TIME_WAIT || from == TCPS_ST_FIN_WAIT_2 || from == TCPS_ST_SYN_RECV)) {
        p = last_rx(tl, side, lo, hi, TCPS_F_RST, TCPS_F_RST);
        if (p < 0)
            p = last_rx(tl, side, lo, hi, TCPS_F_SYN, TCPS_F_SYN);
        if (p < 0)
            return d->tsend; /* a timer */
    } else {
        uint8_t tk = 0; /* the kernel state, for call_makes */
        for (uint8_t k = 1; k <= 12; k++)
            if (lab_kstate(k) == to && k != 12) {
                tk = k;
                break;
            }
        if (is_nosock(to))
            tk = KS_CLOSE;
        for (size_t i = tl->nnotes; i-- > 0;) {
            const lab_note *n = &tl->notes[i];
            if (n->t0 < lo)
                break;
            if (n->kind == NOTE_CALL && n->side == side && n->t0 <= hi && call_makes(n->act, tk))
                return n->t0;
        }
        p = cause_packet(tl, side, lo, hi, from, to);
    }
    if (p >= 0) {
        *cause = p;
        return tl->pkts[p].t + 1;
    }
    return d->tsend;
}

static void on_diag(lab_tl *tl, const lab_drec *d)
{
    int side = d->side;
    lab_side *s = &tl->side[side];
    if (debug_on())
        fprintf(stderr, "diag  %.6f..%.6f %s kind=%u kstate=%u listener=%u\n", rel(tl, d->tprev),
                rel(tl, d->tsend), LAB_SIDE_NAME(side), d->v.conn.kind, d->v.conn.kstate,
                d->v.listener);
    s->proc = *d;
    s->have_proc = 1;
    s->listener = d->v.listener;
    if (s->pending) {
        if (d->tsend < s->pc_raw)
            goto timers; /* taken (maybe) before the close */
        resolve_close(tl, side, d);
    }
    uint8_t disp = d->v.conn.kind != SK_NONE ? (uint8_t)lab_kstate(d->v.conn.kstate) : nosock(s, side);
    if (!tl->use_trace && replay(tl, side, d->tprev, d->trecv, s->cur, disp))
        goto timers;
    if (disp != s->cur) {
        /* The snapshot is from some moment between the request and the
         * answer; if the tracepoint reported a transition of this side in
         * that span, the snapshot may be from either side of it: the
         * tracepoint decides. */
        for (size_t i = tl->itrev; i-- > 0;) {
            if (tl->trevs[i].t + 2 * US < d->tsend)
                break;
            if (tl->trevs[i].side == side && tl->trevs[i].t <= d->trecv + 2 * US)
                goto timers;
        }
        uint8_t from = s->cur;
        /* what the tracepoint would have shown on the way (no tracefs, or a
         * change too quick for it) */
        if (is_nosock(from) && is_conn_state(disp) && disp != TCPS_ST_SYN_RECV) {
            if (side == LAB_SERVER) {
                long p = last_rx(tl, side, d->tprev, d->trecv, TCPS_F_SYN | TCPS_F_ACK, TCPS_F_SYN);
                if (p >= 0)
                    emit(tl, side, tl->pkts[p].t + 1, TCPS_ST_SYN_RECV, SRC_DIAG, p);
            } else {
                for (size_t i = tl->nnotes; i-- > 0;) {
                    const lab_note *n = &tl->notes[i];
                    if (n->t0 < d->tprev)
                        break;
                    if (n->kind == NOTE_CALL && n->side == side && n->act == ACT_CONNECT &&
                        n->t0 <= d->trecv) {
                        emit(tl, side, n->t0, TCPS_ST_SYN_SENT, SRC_DIAG, -1);
                        break;
                    }
                }
            }
        }
        long cause;
        uint64_t tau = attribute(tl, side, d, s->cur, disp, &cause);
        emit(tl, side, tau, disp, SRC_DIAG, cause);
    }
timers:
    s->tr = grow(s->tr, &s->captr, s->ntr, sizeof *s->tr);
    lab_timerrec *r = &s->tr[s->ntr];
    r->t = d->tsend;
    r->state = d->v.conn.kind != SK_NONE ? (uint8_t)lab_kstate(d->v.conn.kstate) : s->cur;
    r->sk = d->v.conn;
    const lab_sk *prev = s->ntr ? &s->tr[s->ntr - 1].sk : NULL;
    s->ntr++;
    if (d->v.conn.kind != SK_NONE &&
        (!prev || prev->timer != r->sk.timer || prev->retrans != r->sk.retrans ||
         prev->probes != r->sk.probes)) {
        char tt[64];
        lab_timer_text(&r->sk, 0, tt, sizeof tt);
        say(tl, d->tsend, side, "%s  timer %s", lab_state_name(r->state), tt);
    }
}

static void say_packet(const lab_tl *tl, const lab_pkt *p)
{
    if (p->dir < 0)
        return;
    const char *what = NULL;
    char buf[96];
    if (p->flags & TCPS_F_RST)
        what = (p->flags & TCPS_F_ACK) ? "sends RST+ACK" : "sends RST";
    else if ((p->flags & (TCPS_F_SYN | TCPS_F_ACK)) == (TCPS_F_SYN | TCPS_F_ACK))
        what = "SYN-ACK";
    else if (p->flags & TCPS_F_SYN)
        what = "SYN";
    else if (p->flags & TCPS_F_FIN)
        what = "FIN";
    else if (p->kaprobe)
        what = "sends a keepalive probe";
    else if (p->rtx && p->plen)
        what = "retransmits data";
    if (!what)
        return;
    if ((p->flags & (TCPS_F_SYN | TCPS_F_FIN)) && !(p->flags & TCPS_F_RST)) {
        if (p->copy)
            snprintf(buf, sizeof buf, "sends %s again (retransmission %u, %.3f s after the previous)",
                     what, p->copy, (double)p->gap / 1e9);
        else
            snprintf(buf, sizeof buf, "sends %s", what);
        what = buf;
    }
    say(tl, p->t, p->dir, "%s", what);
}

void tl_process(lab_tl *tl, uint64_t horizon)
{
    for (;;) {
        /* segments first at equal times: they are what the rest explains */
        uint64_t kp = tl->ipkt < tl->npkts ? tl->pkts[tl->ipkt].t : UINT64_MAX;
        if (kp != UINT64_MAX && kp <= horizon) {
            int later = 0;
            if (tl->inote < tl->nnotes && tl->notes[tl->inote].t0 < kp)
                later = 1;
            if (tl->itrev < tl->ntrevs && tl->trevs[tl->itrev].t + 1 * US < kp)
                later = 1;
            if (tl->idrec < tl->ndrecs && tl->drecs[tl->idrec].trecv + 2 * US < kp)
                later = 1;
            if (!later) {
                say_packet(tl, &tl->pkts[tl->ipkt++]);
                continue;
            }
        }
        uint64_t kn = tl->inote < tl->nnotes ? tl->notes[tl->inote].t0 : UINT64_MAX;
        /* traced times are truncated to the microsecond */
        uint64_t kt = tl->itrev < tl->ntrevs ? tl->trevs[tl->itrev].t + 1 * US : UINT64_MAX;
        /* a snapshot is valid at some moment up to the answer */
        uint64_t kd = tl->idrec < tl->ndrecs ? tl->drecs[tl->idrec].trecv + 2 * US : UINT64_MAX;
        uint64_t k = kn < kt ? kn : kt;
        if (kd < k)
            k = kd;
        if (k == UINT64_MAX || k > horizon)
            break;
        if (k == kn) {
            const lab_note *n = &tl->notes[tl->inote++];
            if (n->text[0])
                say(tl, n->t0, n->side, "%s", n->text);
        } else if (k == kt) {
            on_trace(tl, &tl->trevs[tl->itrev++]);
        } else {
            on_diag(tl, &tl->drecs[tl->idrec++]);
        }
    }
    if (horizon > tl->horizon)
        tl->horizon = horizon;
    /* A traced close that no sock_diag change followed: a poll that started
     * after the close and whose answer is processed saw what the last
     * processed record saw (records are only made on changes), so that view
     * decides.  (A poll that started before the close may have been slowed
     * down past it: it proves nothing.)  At the very end the last view
     * decides anyway. */
    for (int side = 0; side < 2; side++) {
        lab_side *s = &tl->side[side];
        if (!s->pending)
            continue;
        int proven = horizon == UINT64_MAX;
        size_t n = s->npolls < 256 ? s->npolls : 256;
        for (size_t k = 0; k < n && !proven; k++)
            if (s->polls[k][0] >= s->pc_raw + 2 * US && s->polls[k][1] + 2 * US <= horizon)
                proven = 1;
        if (!proven)
            continue;
        lab_drec d;
        memset(&d, 0, sizeof d);
        if (s->have_proc)
            d = s->proc;
        d.side = (uint8_t)side;
        d.tprev = s->pc_raw;
        d.tsend = d.trecv = horizon == UINT64_MAX ? s->pc_raw + 3 * MS : horizon;
        resolve_close(tl, side, &d);
    }
}

/* ---- comments and writing ------------------------------------------------ */

static uint64_t cutoff(const lab_tl *tl, size_t i)
{
    uint64_t t = tl->pkts[i].t, c = t + AFTER_WINDOW;
    if (i + 1 < tl->npkts && tl->pkts[i + 1].t - 1 < c)
        c = tl->pkts[i + 1].t > t ? tl->pkts[i + 1].t - 1 : t;
    for (size_t k = 0; k < tl->nnotes; k++) {
        const lab_note *n = &tl->notes[k];
        if (n->kind == NOTE_CALL && n->t0 > t) {
            if (n->t0 - 1 < c)
                c = n->t0 - 1;
            break;
        }
    }
    return c < t ? t : c;
}

static uint8_t state_at(const lab_side *s, uint64_t c, uint8_t initial)
{
    uint8_t st = initial;
    for (size_t i = 0; i < s->nch && s->ch[i].t <= c; i++)
        st = s->ch[i].to;
    return st;
}

/* The sender's state as it sent p.  The timeline applies a received
 * segment at its capture time; when two segments cross on the wire the
 * sender may have sent p before it processed one captured earlier.  p's
 * acknowledgment number proves it: a segment with sequence space that p
 * does not acknowledge had not been processed when p left, so the sender's
 * state is the one before that segment's effect. */
static uint8_t sender_state_at(const lab_tl *tl, int side, const lab_pkt *p, uint64_t c)
{
    const lab_side *s = &tl->side[side];
    uint8_t st = LAB_ST_NONE;
    for (size_t i = 0; i < s->nch && s->ch[i].t <= c; i++) {
        long q = s->ch[i].cause;
        if (q >= 0 && (p->flags & TCPS_F_ACK) && !(p->flags & TCPS_F_RST)) {
            const lab_pkt *Q = &tl->pkts[q];
            uint32_t qend = Q->seq + Q->plen + ((Q->flags & TCPS_F_SYN) ? 1 : 0) +
                            ((Q->flags & TCPS_F_FIN) ? 1 : 0);
            if (Q != p && Q->dir >= 0 && Q->dir != side && qend != Q->seq && Q->t <= p->t &&
                p->t - Q->t < 5 * MS && seq_lt(p->ack, qend))
                break;
        }
        st = s->ch[i].to;
    }
    return st;
}

/* The side's timer right after a packet at t (states c): the first
 * sock_diag poll after the packet if it came before the next packet (or
 * within 2 ms), else the last poll before it, counted down to c. */
static int timer_at(const lab_side *s, uint64_t t, uint64_t c, uint64_t next, uint8_t st,
                    char *out, size_t cap)
{
    const lab_timerrec *best = NULL;
    uint64_t limit = next < c + 2 * MS ? next : c + 2 * MS;
    for (size_t i = 0; i < s->ntr && s->tr[i].t <= limit; i++) {
        const lab_timerrec *r = &s->tr[i];
        if (r->t > t) {
            if (r->state == st)
                best = r;
            break;
        }
        best = r->state == st ? r : NULL;
    }
    if (!best || best->sk.kind == SK_NONE)
        return -1;
    int64_t el = ((int64_t)c - (int64_t)best->t) / (int64_t)MS;
    lab_timer_text(&best->sk, el, out, cap);
    return 0;
}

static void fmt_time(char *out, size_t cap, uint64_t t)
{
    snprintf(out, cap, "%llu.%06llu", (unsigned long long)(t / 1000000000ull),
             (unsigned long long)((t % 1000000000ull) / 1000ull));
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_line(sbuf *b, const char *line)
{
    if (!line)
        return;
    size_t l = strlen(line);
    if (b->len + l + 2 > b->cap) {
        size_t nc = (b->cap + l + 2) * 2;
        char *q = realloc(b->p, nc);
        if (!q)
            return;
        b->p = q;
        b->cap = nc;
    }
    if (b->len)
        b->p[b->len++] = '\n';
    memcpy(b->p + b->len, line, l + 1);
    b->len += l;
}

static void change_line(int side, const lab_change *c, sbuf *b)
{
    tcps_lab_writer w;
    char t[32];
    fmt_time(t, sizeof t, c->t);
    tcps_lab_begin(&w, "transition");
    tcps_lab_add(&w, "t", t);
    tcps_lab_add(&w, "side", LAB_SIDE_NAME(side));
    tcps_lab_add(&w, "from", lab_state_name(c->from));
    tcps_lab_add(&w, "to", lab_state_name(c->to));
    tcps_lab_add(&w, "src", c->src == SRC_TRACE ? "trace" : "diag");
    sb_line(b, tcps_lab_text(&w));
}

/* Comments whose time is <= limit (all when limit is UINT64_MAX), in time
 * order: notes and both sides' transitions. */
static void take_comments(lab_tl *tl, uint64_t limit, sbuf *b)
{
    for (;;) {
        uint64_t tn = tl->inote_c < tl->nnotes ? tl->notes[tl->inote_c].t0 : UINT64_MAX;
        uint64_t tc[2];
        for (int s = 0; s < 2; s++)
            tc[s] = tl->side[s].icomment < tl->side[s].nch ? tl->side[s].ch[tl->side[s].icomment].t
                                                          : UINT64_MAX;
        uint64_t m = tn;
        if (tc[0] < m)
            m = tc[0];
        if (tc[1] < m)
            m = tc[1];
        if (m == UINT64_MAX || m > limit)
            break;
        if (m == tn) {
            const lab_note *n = &tl->notes[tl->inote_c++];
            if (n->line[0])
                sb_line(b, n->line);
        } else {
            int s = m == tc[0] ? 0 : 1;
            change_line(s, &tl->side[s].ch[tl->side[s].icomment++], b);
        }
    }
}

static void write_packet(lab_tl *tl, size_t i, int last_final)
{
    lab_pkt *p = &tl->pkts[i];
    uint64_t c = cutoff(tl, i);
    sbuf b = {0};
    if (p->dir >= 0) {
        tcps_lab_writer w;
        char t[32], tt[64];
        uint8_t st[2];
        for (int s = 0; s < 2; s++)
            st[s] = s == p->dir ? sender_state_at(tl, s, p, c) : state_at(&tl->side[s], c, LAB_ST_NONE);
        fmt_time(t, sizeof t, c);
        tcps_lab_begin(&w, "kernel");
        tcps_lab_add(&w, "client", lab_state_name(st[0]));
        tcps_lab_add(&w, "server", lab_state_name(st[1]));
        uint64_t next = i + 1 < tl->npkts ? tl->pkts[i + 1].t : UINT64_MAX;
        for (int s = 0; s < 2; s++)
            if (timer_at(&tl->side[s], p->t, c, next, st[s], tt, sizeof tt) == 0)
                tcps_lab_add(&w, s ? "server.timer" : "client.timer", tt);
        tcps_lab_add(&w, "t", t);
        tcps_lab_add(&w, "src", tl->use_trace ? "trace" : "diag");
        sb_line(&b, tcps_lab_text(&w));
    }
    take_comments(tl, last_final ? UINT64_MAX : c, &b);
    if (tl->w && lab_pcapng_write(tl->w, p->t, p->data, p->caplen, p->len, b.p) != 0)
        tl->write_error = 1;
    free(b.p);
    free(p->data);
    p->data = NULL;
}

void tl_flush(lab_tl *tl, int final)
{
    size_t before = tl->written;
    while (tl->written < tl->npkts) {
        size_t i = tl->written;
        uint64_t c = cutoff(tl, i);
        if (!final) {
            if (c + SETTLE > tl->horizon)
                break;
            if (i + 1 >= tl->npkts && tl->pkts[i].t + AFTER_WINDOW + SETTLE > tl->horizon)
                break;
            if (i + 1 >= tl->npkts)
                break; /* the last packet takes what follows it: keep it */
            int wait = 0;
            for (int s = 0; s < 2; s++)
                if (tl->side[s].pending && tl->side[s].pc_t <= c)
                    wait = 1;
            /* sock_diag knows the states at c once a poll that started after
             * c was answered and every change found by a poll whose interval
             * reaches back to c was processed: a slow poll (a loaded machine)
             * may answer later than SETTLE with a change from before c */
            for (int s = 0; s < 2; s++)
                if (!tl->side[s].have_last || tl->side[s].last.tprev <= c)
                    wait = 1;
            for (size_t k = tl->idrec; k < tl->ndrecs && !wait; k++)
                if (tl->drecs[k].tprev <= c)
                    wait = 1;
            if (wait)
                break;
        }
        write_packet(tl, i, final && i + 1 == tl->npkts);
        tl->written++;
    }
    /* a killed run still leaves a readable file up to here */
    if (tl->written != before && tl->w && lab_pcapng_flush(tl->w) != 0)
        tl->write_error = 1;
}
