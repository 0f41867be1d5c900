#define _POSIX_C_SOURCE 200809L
/*
 * libFuzzer harness for the engine, through its public API only.
 *
 * The input (fuzz_input.h) becomes an engine configuration and a list of
 * segments over a few 4-tuples; they are fed in one-pass mode, or twice with
 * tcps_engine_begin_pass2() in between.  After every call the answers are
 * checked against invariants (fuzz/README.md):
 *   - every value within its X-macro vocabulary, every name non-NULL;
 *   - each state change reported is possible in TCP's state diagram plus
 *     the engine's documented inferences (the table below), and a
 *     connection's states carry over from one packet to the next, with only
 *     timers acting in between;
 *   - retransmission, keepalive and zero-window probe indices count up by one
 *     within a series (a new series starts at 1);
 *   - the connection summary agrees with the answers (packets, bytes,
 *     retransmissions, probes, endpoints, states), every connection is
 *     reported once when it ends and never seen again, connection ids and
 *     numbers on a reused 4-tuple increase, pass 2 numbers connections as
 *     pass 1 did and marks exactly the packets whose states changed;
 *   - tcps_engine_memory() stays within the bound documented in tcpstate.h.
 * A violation prints what was wrong and aborts (libFuzzer keeps the input).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"

int fz_verbose; /* set by the replay driver: print every answer */

/* ---- legal transitions ------------------------------------------------------ */
#define ST(x) TCPS_ST_##x
#define BIT(s) (1u << (s))
#define ALL_STATES ((1u << TCPS_ST_COUNT) - 1u)

/* legal[reason][from]: the states `reason` may lead to from `from`. */
static uint16_t legal[TCPS_R_COUNT][TCPS_ST_COUNT];
static uint16_t any_succ[TCPS_ST_COUNT];   /* by any reason */
static uint16_t timer_succ[TCPS_ST_COUNT]; /* by a timer */

static const struct { uint8_t reason, from, to; } edges[] = {
    /* RFC 9293's diagram, seen from the capture: what a sender's own segment
     * shows and what the receiver does with it */
    {TCPS_R_SENT_SYN, ST(CLOSED), ST(SYN_SENT)},
    {TCPS_R_SENT_SYN, ST(LISTEN), ST(SYN_SENT)},          /* simultaneous open */
    {TCPS_R_RECV_SYN, ST(LISTEN), ST(SYN_RECV)},
    {TCPS_R_SENT_SYNACK, ST(LISTEN), ST(SYN_RECV)},
    {TCPS_R_SENT_SYNACK, ST(CLOSED), ST(SYN_RECV)},       /* listener first seen answering */
    {TCPS_R_RECV_SYNACK, ST(SYN_SENT), ST(ESTABLISHED)},
    {TCPS_R_RECV_ACK_OF_SYN, ST(SYN_RECV), ST(ESTABLISHED)},
    {TCPS_R_SENT_FIN, ST(ESTABLISHED), ST(FIN_WAIT_1)},
    {TCPS_R_SENT_FIN, ST(SYN_RECV), ST(FIN_WAIT_1)},
    {TCPS_R_SENT_FIN, ST(UNKNOWN), ST(FIN_WAIT_1)},
    {TCPS_R_SENT_FIN, ST(CLOSE_WAIT), ST(LAST_ACK)},
    {TCPS_R_RECV_FIN, ST(SYN_RECV), ST(CLOSE_WAIT)},
    {TCPS_R_RECV_FIN, ST(ESTABLISHED), ST(CLOSE_WAIT)},
    {TCPS_R_RECV_FIN, ST(UNKNOWN), ST(CLOSE_WAIT)},
    {TCPS_R_RECV_FIN, ST(FIN_WAIT_1), ST(CLOSING)},
    {TCPS_R_RECV_FIN, ST(FIN_WAIT_2), ST(TIME_WAIT)},
    {TCPS_R_RECV_ACK_OF_FIN, ST(FIN_WAIT_1), ST(FIN_WAIT_2)},
    {TCPS_R_RECV_ACK_OF_FIN, ST(CLOSING), ST(TIME_WAIT)},
    {TCPS_R_RECV_ACK_OF_FIN, ST(LAST_ACK), ST(CLOSED)},
    {TCPS_R_RECV_FIN_ACK_OF_FIN, ST(FIN_WAIT_1), ST(TIME_WAIT)},
    /* inferred: the side's ACK shows it processed a segment the capture
     * did not show arriving (tests/scenarios/README.md, capture loss) */
    {TCPS_R_ACKED_PEER, ST(SYN_SENT), ST(ESTABLISHED)},
    {TCPS_R_ACKED_PEER, ST(SYN_RECV), ST(ESTABLISHED)},
    {TCPS_R_ACKED_PEER, ST(FIN_WAIT_1), ST(FIN_WAIT_2)},
    {TCPS_R_ACKED_PEER, ST(SYN_RECV), ST(CLOSE_WAIT)},
    {TCPS_R_ACKED_PEER, ST(ESTABLISHED), ST(CLOSE_WAIT)},
    {TCPS_R_ACKED_PEER, ST(UNKNOWN), ST(CLOSE_WAIT)},
    {TCPS_R_ACKED_PEER, ST(FIN_WAIT_1), ST(CLOSING)},
    {TCPS_R_ACKED_PEER, ST(FIN_WAIT_2), ST(TIME_WAIT)},
    /* mid-stream pickup: both sides established */
    {TCPS_R_MIDSTREAM, ST(UNKNOWN), ST(ESTABLISHED)},
    /* timers: states that end with no packet */
    {TCPS_R_SYN_GIVEUP, ST(SYN_SENT), ST(CLOSED)},
    {TCPS_R_REQ_EXPIRED, ST(SYN_RECV), ST(CLOSED)},
    {TCPS_R_ORPHAN_GIVEUP, ST(FIN_WAIT_1), ST(CLOSED)},
    {TCPS_R_ORPHAN_GIVEUP, ST(CLOSING), ST(CLOSED)},
    {TCPS_R_ORPHAN_GIVEUP, ST(LAST_ACK), ST(CLOSED)},
    {TCPS_R_FIN_TIMEOUT, ST(FIN_WAIT_2), ST(CLOSED)},
    {TCPS_R_TW_EXPIRED, ST(TIME_WAIT), ST(CLOSED)},
    /* TIME_WAIT ended by a RST (not with rfc1337) or by a new SYN */
    {TCPS_R_TW_KILLED, ST(TIME_WAIT), ST(CLOSED)},
    {TCPS_R_PORT_REUSE, ST(TIME_WAIT), ST(CLOSED)},
    /* revisions: a segment believed received was not (one-pass rollback to
     * the state before it), or a side believed dead by a timer speaks */
    {TCPS_R_NOT_RECEIVED, ST(SYN_RECV), ST(LISTEN)},
    {TCPS_R_NOT_RECEIVED, ST(ESTABLISHED), ST(SYN_SENT)},
    {TCPS_R_NOT_RECEIVED, ST(ESTABLISHED), ST(SYN_RECV)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSE_WAIT), ST(SYN_RECV)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSE_WAIT), ST(ESTABLISHED)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSING), ST(FIN_WAIT_1)},
    {TCPS_R_NOT_RECEIVED, ST(FIN_WAIT_2), ST(FIN_WAIT_1)},
    {TCPS_R_NOT_RECEIVED, ST(TIME_WAIT), ST(FIN_WAIT_2)},
    {TCPS_R_NOT_RECEIVED, ST(TIME_WAIT), ST(CLOSING)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSED), ST(LAST_ACK)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSED), ST(SYN_SENT)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSED), ST(SYN_RECV)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSED), ST(FIN_WAIT_1)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSED), ST(FIN_WAIT_2)},
    {TCPS_R_NOT_RECEIVED, ST(CLOSED), ST(CLOSING)},
};

static void init_relation(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        legal[edges[i].reason][edges[i].from] |= (uint16_t)BIT(edges[i].to);
    for (unsigned s = 0; s < TCPS_ST_COUNT; s++) {
        if (s != ST(CLOSED)) {
            /* a RST's sender has no socket any more; so has a side that
             * answered a segment with RST (no socket for it) */
            legal[TCPS_R_SENT_RST][s] |= (uint16_t)BIT(ST(CLOSED));
            legal[TCPS_R_NO_SOCKET][s] |= (uint16_t)BIT(ST(CLOSED));
        }
        /* a RST received ends any connection except a listener's and
         * TIME_WAIT (TW_KILLED) */
        if (s != ST(CLOSED) && s != ST(LISTEN) && s != ST(TIME_WAIT))
            legal[TCPS_R_RECV_RST][s] |= (uint16_t)BIT(ST(CLOSED));
    }
    static const uint8_t timers[] = {TCPS_R_SYN_GIVEUP, TCPS_R_REQ_EXPIRED, TCPS_R_ORPHAN_GIVEUP,
                                     TCPS_R_FIN_TIMEOUT, TCPS_R_TW_EXPIRED};
    for (unsigned s = 0; s < TCPS_ST_COUNT; s++) {
        for (unsigned r = 0; r < TCPS_R_COUNT; r++)
            any_succ[s] |= legal[r][s];
        for (size_t k = 0; k < sizeof timers; k++)
            timer_succ[s] |= legal[timers[k]][s];
    }
}

static uint16_t closure(uint16_t m, const uint16_t *succ, int steps)
{
    for (int k = 0; k < steps; k++) {
        uint16_t n = m;
        for (unsigned s = 0; s < TCPS_ST_COUNT; s++)
            if (m & BIT(s))
                n |= succ[s];
        if (n == m)
            break;
        m = n;
    }
    return m;
}

/* The sender's state as it sent a segment that crossed the peer's FIN: the
 * engine shows the state before it processed that FIN. */
static uint8_t before_fin(uint8_t s)
{
    return s == ST(CLOSING) ? ST(FIN_WAIT_1) : s == ST(CLOSE_WAIT) ? ST(ESTABLISHED)
         : s == ST(TIME_WAIT) ? ST(FIN_WAIT_2) : s;
}
static uint16_t before_fin_mask(uint16_t m)
{
    uint16_t n = 0;
    for (unsigned s = 0; s < TCPS_ST_COUNT; s++)
        if (m & BIT(s))
            n |= (uint16_t)BIT(before_fin((uint8_t)s));
    return n;
}
static uint16_t after_fin_mask(uint8_t s)
{
    uint16_t m = (uint16_t)BIT(s);
    for (unsigned t = 0; t < TCPS_ST_COUNT; t++)
        if (t != s && before_fin((uint8_t)t) == s)
            m |= (uint16_t)BIT(t);
    return m;
}

/* ---- run state ------------------------------------------------------------------ */
typedef struct fstate {
    uint8_t seen, ended, guessed, af;
    uint8_t addr[2][16];   /* the 4-tuple, as its first segment had it */
    uint16_t port[2];
    int ended_at;          /* op index + 1 of the call that reported its end */
    uint16_t conn_index;
    uint16_t poss[2];      /* states each side may be in after its last answer */
    uint32_t pkts[2], rtx[2], ka[2], zwp[2];
    uint64_t bytes[2], first_ts;
    uint16_t last_rtx[2], last_ka[2], last_zwp[2];
    uint8_t last_rtx_kind[2];
} fstate;

typedef struct p1rec {
    uint32_t id;
    uint16_t conn_index;
    uint8_t state[2], reuse;
} p1rec;

typedef struct run {
    const fz_program *p;
    tcps_engine *E;
    int pass;            /* 1, 2 */
    int reporting;       /* on_flow_end may be called in this pass */
    int op;              /* index of the operation being run */
    fstate *fl;          /* by flow id */
    uint32_t nfl, max_id;
    struct tmap { uint8_t used, af, a[16], b[16]; uint16_t pa, pb, conn; uint32_t id; } *tmap;
    size_t tmap_cap;      /* 4-tuple -> its last connection (a power of two) */
    p1rec *p1;
    size_t fed1;         /* segments fed in pass 1 */
    size_t m0, peak;
    uint32_t ended_now;  /* callbacks during the current call */
    const tcps_segment *cur;
    tcps_flow_summary *pend; /* reported by on_flow_end, checked after the call */
    size_t npend, cappend;
} run;

static run *R_; /* for failure messages */

/* The 4-tuple of a segment, its two ends in a fixed order. */
static struct tmap *tmap_find(run *R, const tcps_segment *g)
{
    unsigned alen = g->af == 6 ? 16 : 4;
    int c = memcmp(g->src, g->dst, alen);
    int swap = c > 0 || (c == 0 && g->sport > g->dport);
    const uint8_t *a = swap ? g->dst : g->src, *b = swap ? g->src : g->dst;
    uint16_t pa = swap ? g->dport : g->sport, pb = swap ? g->sport : g->dport;
    uint32_t h = 2166136261u ^ g->af;
    for (unsigned i = 0; i < alen; i++)
        h = (h ^ a[i] ^ ((uint32_t)b[i] << 8)) * 16777619u;
    h = (h ^ pa ^ ((uint32_t)pb << 16)) * 16777619u;
    h ^= h >> 15; /* the ports' high bits into the low ones */
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    for (size_t i = h & (R->tmap_cap - 1);; i = (i + 1) & (R->tmap_cap - 1)) {
        struct tmap *e = &R->tmap[i];
        if (!e->used) {
            e->used = 1;
            e->af = g->af;
            memcpy(e->a, a, alen);
            memcpy(e->b, b, alen);
            e->pa = pa;
            e->pb = pb;
            return e;
        }
        if (e->af == g->af && e->pa == pa && e->pb == pb && !memcmp(e->a, a, alen) &&
            !memcmp(e->b, b, alen))
            return e;
    }
}

static void dump_op(const run *R)
{
    if (!R || !R->cur)
        return;
    const tcps_segment *g = R->cur;
    fprintf(stderr, "  op %d pass %d: t=%llu sport=%u dport=%u flags=0x%02x seq=%u ack=%u len=%u win=%u opt=0x%02x\n",
            R->op, R->pass, (unsigned long long)g->ts_ns, g->sport, g->dport, g->flags, g->seq,
            g->ack, g->len, g->window, g->opt.present);
}

#define FAIL(...)                                                                              \
    do {                                                                                       \
        fprintf(stderr, "tcpstate-fuzz: invariant violated: ");                                \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fputc('\n', stderr);                                                                   \
        dump_op(R_);                                                                           \
        abort();                                                                               \
    } while (0)
#define CHECK(c, ...)                                                                          \
    do {                                                                                       \
        if (!(c))                                                                              \
            FAIL(__VA_ARGS__);                                                                 \
    } while (0)

static void check_name(const char *n, const char *what, unsigned v)
{
    CHECK(n != NULL, "%s %u: NULL name", what, v);
    CHECK(strcmp(n, "?") != 0, "%s %u: no name (\"?\")", what, v);
}

static void check_summary_vocab(const tcps_flow_summary *s)
{
    CHECK(s->flow_id != 0, "summary with flow id 0");
    CHECK(s->conn_index >= 1, "summary: conn_index 0");
    CHECK(s->af == 4 || s->af == 6, "summary: af %u", s->af);
    CHECK(s->roles_guessed <= 1 && s->evicted <= 1, "summary: flags out of range");
    for (int i = 0; i < 2; i++) {
        CHECK(s->final_state[i] < TCPS_ST_COUNT, "summary: final state %u", s->final_state[i]);
        CHECK(s->orphan[i] <= TCPS_ORPHAN_YES, "summary: orphan %u", s->orphan[i]);
        for (int k = 0; k < TCPS_ST_COUNT; k++)
            CHECK(isfinite(s->time_in_state[i][k]) && s->time_in_state[i][k] >= 0,
                  "summary: time in state %s = %g", tcps_state_name((unsigned)k),
                  s->time_in_state[i][k]);
    }
    CHECK(s->conn_state < TCPS_CS_COUNT, "summary: conn_state %u", s->conn_state);
    CHECK(s->close_kind < TCPS_CLOSE_COUNT, "summary: close kind %u", s->close_kind);
    check_name(tcps_conn_state_name(s->conn_state), "conn_state", s->conn_state);
    check_name(tcps_close_id(s->close_kind), "close kind", s->close_kind);
    size_t hl = strnlen(s->history, sizeof s->history);
    CHECK(hl < sizeof s->history, "summary: history not terminated");
    for (size_t i = 0; i < hl; i++)
        CHECK(strchr("^SHADFRCGIQTWshadfrcgiqtw", s->history[i]) != NULL,
              "summary: history letter '%c' in \"%s\"", s->history[i], s->history);
}

/* The summary agrees with the answers the harness has seen for the id. */
static void check_summary_counts(const run *R, const tcps_flow_summary *s)
{
    const fstate *F = &R->fl[s->flow_id];
    CHECK(F->seen, "summary of connection %u that never had a packet", s->flow_id);
    CHECK(s->conn_index == F->conn_index, "summary conn_index %u, answers %u", s->conn_index,
          F->conn_index);
    CHECK(s->roles_guessed == F->guessed, "summary roles_guessed differs from the answers");
    CHECK(s->first_ns == F->first_ts, "summary first_ns %llu, first packet at %llu",
          (unsigned long long)s->first_ns, (unsigned long long)F->first_ts);
    for (int i = 0; i < 2; i++) {
        CHECK(s->packets[i] == F->pkts[i], "summary packets[%d] %u, fed %u", i, s->packets[i],
              F->pkts[i]);
        CHECK(s->bytes[i] == F->bytes[i], "summary bytes[%d] %llu, fed %llu", i,
              (unsigned long long)s->bytes[i], (unsigned long long)F->bytes[i]);
        CHECK(s->retrans[i] == F->rtx[i], "summary retrans[%d] %u, answers %u", i, s->retrans[i],
              F->rtx[i]);
        CHECK(s->ka_probes[i] == F->ka[i], "summary ka_probes[%d] %u, answers %u", i,
              s->ka_probes[i], F->ka[i]);
        CHECK(s->zw_probes[i] == F->zwp[i], "summary zw_probes[%d] %u, answers %u", i,
              s->zw_probes[i], F->zwp[i]);
    }
    /* endpoints: the connection's 4-tuple, in the engine's roles */
    unsigned alen = F->af == 6 ? 16 : 4;
    int ok = 0;
    for (int d = 0; d < 2 && !ok; d++)
        ok = s->af == F->af && s->port[0] == F->port[d] && s->port[1] == F->port[!d] &&
             !memcmp(s->addr[0], F->addr[d], alen) && !memcmp(s->addr[1], F->addr[!d], alen);
    CHECK(ok, "summary endpoints are not the connection's 4-tuple");
}

static void on_end(const tcps_flow_summary *s, void *user)
{
    run *R = user;
    CHECK(R->reporting, "on_flow_end called in pass 1 of two-pass mode");
    if (R->npend == R->cappend) {
        size_t nc = R->cappend ? R->cappend * 2 : 16;
        tcps_flow_summary *n = realloc(R->pend, nc * sizeof *n);
        CHECK(n != NULL, "out of memory");
        R->pend = n;
        R->cappend = nc;
    }
    R->pend[R->npend++] = *s;
    R->ended_now++;
}

/* Connections reported ended during the last call (after its answer is
 * checked, so the counts include its segment). */
static void check_ended(run *R)
{
    for (size_t i = 0; i < R->npend; i++) {
        const tcps_flow_summary *s = &R->pend[i];
        check_summary_vocab(s);
        CHECK(s->flow_id <= R->max_id, "on_flow_end for unknown connection %u", s->flow_id);
        fstate *F = &R->fl[s->flow_id];
        CHECK(!F->ended, "connection %u reported twice", s->flow_id);
        check_summary_counts(R, s);
        CHECK(F->poss[0] & BIT(s->final_state[0]) || s->final_state[0] == ST(CLOSED) ||
                  (closure(F->poss[0], timer_succ, 4) & BIT(s->final_state[0])),
              "connection %u ends with the client %s, last seen %s", s->flow_id,
              tcps_state_name(s->final_state[0]), tcps_state_name(__builtin_ctz(F->poss[0])));
        CHECK(F->poss[1] & BIT(s->final_state[1]) || s->final_state[1] == ST(CLOSED) ||
                  (closure(F->poss[1], timer_succ, 4) & BIT(s->final_state[1])),
              "connection %u ends with the server %s, last seen %s", s->flow_id,
              tcps_state_name(s->final_state[1]), tcps_state_name(__builtin_ctz(F->poss[1])));
        F->ended = 1;
        F->ended_at = R->op + 1;
    }
    R->npend = 0;
}

static size_t mem_bound(const run *R)
{
    const tcps_config *c = &R->p->cfg;
    /* tcpstate.h: a new engine's memory + 1.25 x (max_flows + 1) x
     * tcps_flow_bytes(); two-pass adds 1 byte per segment and at most 16
     * evidence records of 16 bytes per segment, in arrays that double */
    size_t b = R->m0 + (c->max_flows + 1) * tcps_flow_bytes() / 4 * 5;
    if (c->two_pass)
        b += 4096 + 2 * R->fed1 + 16 * (1024 + 2 * 16 * R->fed1);
    return b;
}

static void check_memory(run *R)
{
    size_t m = tcps_engine_memory(R->E), pk = tcps_engine_peak_memory(R->E);
    CHECK(m <= pk, "memory %zu above the peak %zu", m, pk);
    CHECK(pk >= R->peak, "peak memory went down: %zu -> %zu", R->peak, pk);
    R->peak = pk;
    CHECK(m <= mem_bound(R), "memory %zu above the documented bound %zu (max_flows %zu, %zu segments)",
          m, mem_bound(R), R->p->cfg.max_flows, R->fed1);
    CHECK(tcps_engine_live_flows(R->E) <= R->p->cfg.max_flows, "%zu live connections, cap %zu",
          tcps_engine_live_flows(R->E), R->p->cfg.max_flows);
}

static void check_texts(const run *R, const tcps_result *r)
{
    static const size_t caps[] = {1, 9, 512};
    char buf[512];
    for (size_t k = 0; k < sizeof caps / sizeof *caps; k++) {
        memset(buf, 'x', caps[k]);
        size_t n = tcps_transition_text(r, buf, caps[k]);
        CHECK(n < caps[k] && strnlen(buf, caps[k]) == n, "transition text: %zu for cap %zu", n,
              caps[k]);
        for (unsigned ev = 0; ev < TCPS_EV_COUNT; ev++) {
            if (!(r->events & (1u << ev)))
                continue;
            memset(buf, 'x', caps[k]);
            n = tcps_event_message(R->E, ev, r, buf, caps[k]);
            CHECK(n < caps[k] && strnlen(buf, caps[k]) == n, "event %s message: %zu for cap %zu",
                  tcps_event_id_name(ev), n, caps[k]);
            if (caps[k] == 512)
                CHECK(strchr(buf, '{') == NULL, "event %s: placeholder left in \"%s\"",
                      tcps_event_id_name(ev), buf);
        }
    }
    if ((r->prev_state[0] != r->state[0] || r->prev_state[1] != r->state[1]))
        CHECK(tcps_transition_text(r, buf, sizeof buf) > 0, "a change without transition text");
}

/* One answer. */
static void check_result(run *R, const fz_op *op, const tcps_result *r)
{
    const tcps_segment *g = &op->seg;
    /* vocabulary */
    CHECK(r->flow_id != 0, "flow id 0");
    CHECK(r->conn_index >= 1, "conn_index 0");
    CHECK(r->from <= 1 && r->roles_guessed <= 1 && r->revised <= 1 && r->provisional <= 1 &&
              r->delivered <= 1 && r->port_reuse <= 1,
          "a boolean field out of range");
    for (int i = 0; i < 2; i++) {
        CHECK(r->state[i] < TCPS_ST_COUNT && r->prev_state[i] < TCPS_ST_COUNT,
              "state out of range");
        CHECK(r->reason[i] < TCPS_R_COUNT, "reason %u out of range", r->reason[i]);
        CHECK(r->orphan[i] <= TCPS_ORPHAN_YES, "orphan %u", r->orphan[i]);
        CHECK(r->orphan_ev[i] < TCPS_OEV_COUNT, "orphan evidence %u", r->orphan_ev[i]);
        check_name(tcps_state_name(r->state[i]), "state", r->state[i]);
        check_name(tcps_reason_text(r->reason[i]), "reason", r->reason[i]);
        check_name(tcps_reason_id(r->reason[i]), "reason id", r->reason[i]);
        check_name(tcps_orphan_ev_text(r->orphan_ev[i]), "orphan evidence", r->orphan_ev[i]);
        CHECK(r->orphan_ev[i] == TCPS_OEV_NONE || r->orphan[i] != TCPS_ORPHAN_UNKNOWN,
              "orphan evidence without a verdict");
    }
    CHECK(r->phase < TCPS_PH_COUNT, "phase %u", r->phase);
    check_name(tcps_phase_name(r->phase), "phase", r->phase);
    CHECK(r->rtx_kind < TCPS_RTX_COUNT && r->rtx_sched < TCPS_SCHED_COUNT, "rtx kind/sched");
    check_name(tcps_rtx_kind_name(r->rtx_kind), "rtx kind", r->rtx_kind);
    check_name(tcps_sched_name(r->rtx_sched), "schedule", r->rtx_sched);
    CHECK(r->rst_cause < TCPS_RST_COUNT, "rst cause %u", r->rst_cause);
    check_name(tcps_rst_cause_text(r->rst_cause), "rst cause", r->rst_cause);
    CHECK(r->close_kind < TCPS_CLOSE_COUNT, "close kind %u", r->close_kind);
    CHECK(r->half_closed <= 2, "half_closed %u", r->half_closed);
    CHECK((r->events >> TCPS_EV_COUNT) == 0, "unknown event bits 0x%x", r->events);
    for (unsigned ev = 0; ev < TCPS_EV_COUNT; ev++)
        if (r->events & (1u << ev)) {
            CHECK(r->event_side[ev] <= 1, "event %u side %u", ev, r->event_side[ev]);
            check_name(tcps_event_id_name(ev), "event", ev);
        }

    /* the segment itself */
    int S = r->from, Rv = !S;
    uint8_t fl = g->flags;
    if (fl & TCPS_F_RST) {
        CHECK(r->rst_cause != TCPS_RST_NONE, "RST without a cause");
        CHECK(r->events & (1u << TCPS_EV_RST), "RST without the RST event");
        CHECK(r->state[S] == ST(CLOSED), "the sender of a RST is %s", tcps_state_name(r->state[S]));
        CHECK(r->rtx_kind == TCPS_RTX_NONE && !r->ka_index && !r->zwp_index,
              "a RST counted as a retransmission or probe");
    } else {
        CHECK(r->rst_cause == TCPS_RST_NONE, "RST cause on a segment without RST");
    }
    CHECK((r->rtx_kind == TCPS_RTX_NONE) == (r->rtx_sched == TCPS_SCHED_NONE),
          "retransmission kind %u with schedule %u", r->rtx_kind, r->rtx_sched);
    CHECK((r->rtx_kind == TCPS_RTX_NONE) == (r->rtx_index == 0),
          "retransmission kind %s with index %u", tcps_rtx_kind_id(r->rtx_kind), r->rtx_index);
    switch (r->rtx_kind) {
    case TCPS_RTX_SYN: CHECK((fl & (TCPS_F_SYN | TCPS_F_ACK)) == TCPS_F_SYN, "SYN rtx without SYN"); break;
    case TCPS_RTX_SYNACK: CHECK((fl & (TCPS_F_SYN | TCPS_F_ACK)) == (TCPS_F_SYN | TCPS_F_ACK), "SYN-ACK rtx"); break;
    case TCPS_RTX_FIN: CHECK((fl & TCPS_F_FIN) && !(fl & TCPS_F_SYN), "FIN rtx without FIN"); break;
    case TCPS_RTX_DATA: CHECK(!(fl & (TCPS_F_SYN | TCPS_F_FIN)) && g->len > 0, "data rtx"); break;
    default: break;
    }
    CHECK(!(r->ka_index && r->zwp_index), "both a keepalive and a zero-window probe");
    if (r->ka_index || r->zwp_index)
        CHECK(!(fl & (TCPS_F_SYN | TCPS_F_FIN | TCPS_F_RST)) && (fl & TCPS_F_ACK) && g->len <= 1 &&
                  r->rtx_kind == TCPS_RTX_NONE,
              "probe on a segment that cannot be one");
    CHECK(!!r->ka_index == !!(r->events & (1u << TCPS_EV_KEEPALIVE)), "keepalive index/event");
    CHECK(!!r->zwp_index == !!(r->events & (1u << TCPS_EV_ZERO_WINDOW_PROBE)), "zwp index/event");
    for (int i = 0; i < 2; i++)
        if (r->timer_at_ns[i])
            CHECK(r->events & (1u << TCPS_EV_SILENT_DEATH), "timer without SILENT_DEATH");

    /* sender's address is the sender's side of the connection */
    /* (checked through the summary below) */

    /* transitions within this packet */
    for (int i = 0; i < 2; i++) {
        uint8_t a = r->prev_state[i], b = r->state[i], why = r->reason[i];
        if (why == TCPS_R_NONE) {
            CHECK(a == b, "%s %s -> %s without a reason", i ? "server" : "client",
                  tcps_state_name(a), tcps_state_name(b));
            continue;
        }
        uint16_t from = closure((uint16_t)BIT(a), any_succ, 3);
        int ok = 0;
        for (unsigned s = 0; s < TCPS_ST_COUNT && !ok; s++)
            ok = (from & BIT(s)) && (legal[why][s] & BIT(b));
        CHECK(ok, "%s %s -> %s: not possible by \"%s\"", i ? "server" : "client",
              tcps_state_name(a), tcps_state_name(b), tcps_reason_text(why));
    }

    /* connection ids and numbers */
    uint32_t id = r->flow_id;
    CHECK(id <= R->max_id + 1, "flow id %u skips ids (last %u)", id, R->max_id);
    CHECK(id < R->nfl, "flow id %u beyond the number of segments", id);
    fstate *F = &R->fl[id];
    struct tmap *tm = tmap_find(R, g);
    if (id == R->max_id + 1) { /* a new connection */
        R->max_id = id;
        memset(F, 0, sizeof *F);
        F->seen = 1;
        F->af = g->af;
        memcpy(F->addr[0], g->src, 16);
        memcpy(F->addr[1], g->dst, 16);
        F->port[0] = g->sport;
        F->port[1] = g->dport;
        F->conn_index = r->conn_index;
        F->guessed = r->roles_guessed;
        F->first_ts = g->ts_ns;
        if (r->port_reuse) {
            CHECK(r->conn_index >= 2, "port reuse with conn_index %u", r->conn_index);
            CHECK(tm->id != 0, "port reuse on a 4-tuple never seen");
            CHECK(r->conn_index == (tm->conn < UINT16_MAX ? tm->conn + 1 : UINT16_MAX),
                  "conn_index %u after %u on the same 4-tuple", r->conn_index, tm->conn);
            if (R->pass == 1 && R->reporting)
                CHECK(R->ended_now && !R->fl[tm->id].ended,
                      "port reuse: the connection reused was not ended by this segment");
        } else {
            CHECK(r->conn_index == 1, "conn_index %u without port reuse", r->conn_index);
        }
        tm->id = id;
        tm->conn = r->conn_index;
        for (int i = 0; i < 2; i++)
            F->poss[i] = (uint16_t)BIT(r->prev_state[i]);
    } else {
        CHECK(F->seen && !F->ended, "answer for connection %u, %s", id,
              F->seen ? "which had ended" : "never started");
        CHECK(!r->port_reuse, "port reuse flag on a known connection");
        CHECK(tm->id == id, "connection %u on another 4-tuple (%u)", id, tm->id);
        CHECK(r->conn_index == F->conn_index && r->roles_guessed == F->guessed,
              "connection %u changed its number or roles", id);
    }
    /* states carry over from the last packet; only timers act in between */
    for (int i = 0; i < 2; i++) {
        uint16_t x = closure(F->poss[i], timer_succ, 4);
        uint16_t ok = x;
        if (i == S) {
            uint16_t y = x;
            if (x & BIT(ST(CLOSED)))
                y |= closure(legal[TCPS_R_NOT_RECEIVED][ST(CLOSED)], any_succ, 1);
            ok |= before_fin_mask(y);
        }
        CHECK(ok & BIT(r->prev_state[i]), "connection %u %s: %s before this packet, last seen %s",
              id, i ? "server" : "client", tcps_state_name(r->prev_state[i]),
              tcps_state_name(__builtin_ctz(F->poss[i])));
    }
    F->poss[Rv] = (uint16_t)BIT(r->state[Rv]);
    F->poss[S] = (uint16_t)BIT(r->state[S]);
    if (r->reason[S] == TCPS_R_NONE && !(fl & TCPS_F_RST))
        F->poss[S] = after_fin_mask(r->state[S]);

    /* indices count up within a series */
    if (r->rtx_kind != TCPS_RTX_NONE) {
        CHECK(r->rtx_index == 1 ||
                  (r->rtx_kind == F->last_rtx_kind[S] &&
                   (r->rtx_index == F->last_rtx[S] + 1 ||
                    (r->rtx_index == UINT16_MAX && F->last_rtx[S] == UINT16_MAX))),
              "%s retransmission %u after %s %u", tcps_rtx_kind_id(r->rtx_kind), r->rtx_index,
              tcps_rtx_kind_id(F->last_rtx_kind[S]), F->last_rtx[S]);
        F->last_rtx[S] = r->rtx_index;
        F->last_rtx_kind[S] = r->rtx_kind;
        F->rtx[S]++;
    }
    if (r->events & (1u << TCPS_EV_KEEPALIVE)) {
        CHECK(r->ka_index == 1 || r->ka_index == F->last_ka[S] + 1 ||
                  (r->ka_index == UINT16_MAX && F->last_ka[S] == UINT16_MAX),
              "keepalive probe %u after %u", r->ka_index, F->last_ka[S]);
        F->last_ka[S] = r->ka_index;
        F->ka[S]++;
    }
    if (r->events & (1u << TCPS_EV_ZERO_WINDOW_PROBE)) {
        CHECK(r->zwp_index == 1 || r->zwp_index == F->last_zwp[S] + 1 ||
                  (r->zwp_index == UINT16_MAX && F->last_zwp[S] == UINT16_MAX),
              "zero-window probe %u after %u", r->zwp_index, F->last_zwp[S]);
        F->last_zwp[S] = r->zwp_index;
        F->zwp[S]++;
    }
    F->pkts[S]++;
    F->bytes[S] += g->len;

    /* the summary of the connection just fed */
    tcps_flow_summary s;
    int ended_here = 0;
    for (size_t i = 0; i < R->npend; i++)
        ended_here |= R->pend[i].flow_id == id;
    if (ended_here) {
        /* pass 2 ended it with this segment (its summary is checked with the
         * other reported ones); asking for it would scan the whole table */
        CHECK(R->pass == 2, "the connection of the segment just fed was ended");
    } else if (tcps_engine_flow_summary(R->E, id, &s) != 0) {
        FAIL("no summary for live connection %u", id);
    } else {
        CHECK(!ended_here, "summary of connection %u after it was reported ended", id);
        check_summary_vocab(&s);
        CHECK(s.flow_id == id, "summary for %u has id %u", id, s.flow_id);
        check_summary_counts(R, &s);
        unsigned alen = g->af == 6 ? 16 : 4;
        CHECK(s.port[S] == g->sport && s.port[Rv] == g->dport && !memcmp(s.addr[S], g->src, alen) &&
                  !memcmp(s.addr[Rv], g->dst, alen),
              "the sender (%s) is not the segment's source", S ? "server" : "client");
        CHECK(s.final_state[Rv] == r->state[Rv], "summary: receiver %s, answer %s",
              tcps_state_name(s.final_state[Rv]), tcps_state_name(r->state[Rv]));
        CHECK(F->poss[S] & BIT(s.final_state[S]), "summary: sender %s, answer %s",
              tcps_state_name(s.final_state[S]), tcps_state_name(r->state[S]));
        CHECK(s.close_kind == r->close_kind, "summary close kind differs from the answer");
        CHECK(s.orphan[0] == r->orphan[0] && s.orphan[1] == r->orphan[1], "summary orphan differs");
        CHECK(s.last_ns == g->ts_ns, "summary last_ns is not this packet's time");
        CHECK(!s.evicted, "a live connection marked evicted");
        F->poss[S] &= (uint16_t)BIT(s.final_state[S]); /* now known exactly */
    }
    if (R->pass == 1)
        CHECK(!ended_here, "the connection of the segment just fed was ended");

    /* two-pass: pass 2 numbers connections as pass 1 did */
    p1rec *q = &R->p1[R->op];
    if (R->p->cfg.two_pass && R->pass == 1) {
        q->id = id;
        q->conn_index = r->conn_index;
        q->state[0] = r->state[0];
        q->state[1] = r->state[1];
        q->reuse = r->port_reuse;
        CHECK(!r->revised, "revised in pass 1");
    } else if (R->pass == 2) {
        CHECK(q->id == id && q->conn_index == r->conn_index && q->reuse == r->port_reuse,
              "pass 2 connection %u#%u, pass 1 %u#%u", id, r->conn_index, q->id, q->conn_index);
        int differs = q->state[0] != r->state[0] || q->state[1] != r->state[1];
        CHECK(r->revised == differs, "revised=%u but states %s/%s in pass 1, %s/%s in pass 2",
              r->revised, tcps_state_name(q->state[0]), tcps_state_name(q->state[1]),
              tcps_state_name(r->state[0]), tcps_state_name(r->state[1]));
        CHECK(!r->provisional, "provisional answer in pass 2");
    } else {
        CHECK(!r->revised, "revised in one-pass mode");
    }
    check_texts(R, r);
}

static void run_pass(run *R)
{
    const fz_program *p = R->p;
    R->max_id = 0;
    memset(R->tmap, 0, R->tmap_cap * sizeof *R->tmap);
    memset(R->fl, 0, (size_t)R->nfl * sizeof *R->fl);
    for (int i = 0; i < p->nops; i++) {
        const fz_op *op = &p->ops[i];
        tcps_result r;
        R->op = i;
        R->cur = &op->seg;
        R->ended_now = 0;
        switch (op->kind) {
        case FZ_OP_SEG: {
            int rc = tcps_engine_feed(R->E, &op->seg, &r);
            CHECK(rc == 0, "feed returned %d", rc);
            if (R->pass == 1)
                R->fed1++;
            if (fz_verbose) {
                char tr[200];
                tcps_transition_text(&r, tr, sizeof tr);
                printf("pass %d op %d: t=%.6f tuple %u %s flags 0x%02x seq %u ack %u len %u -> id %u#%u %s [%s/%s] %s/%s%s%s rtx %s:%u ka %u zwp %u rst %s events 0x%x %s\n",
                       R->pass, i, op->seg.ts_ns / 1e9, op->tuple, r.from ? "S>C" : "C>S", op->seg.flags, op->seg.seq,
                       op->seg.ack, op->seg.len, r.flow_id, r.conn_index, tcps_phase_name(r.phase),
                       tcps_state_name(r.prev_state[0]), tcps_state_name(r.prev_state[1]),
                       tcps_state_name(r.state[0]), tcps_state_name(r.state[1]),
                       r.delivered ? "" : " (not received)", r.revised ? " revised" : "",
                       tcps_rtx_kind_id(r.rtx_kind), r.rtx_index, r.ka_index, r.zwp_index,
                       tcps_rst_cause_id(r.rst_cause), r.events, tr);
            }
            check_result(R, op, &r);
            break;
        }
        case FZ_OP_BAD_AF: {
            memset(&r, 0xa5, sizeof r);
            int rc = tcps_engine_feed(R->E, &op->seg, &r);
            static const tcps_result zero;
            CHECK(rc == -1 && !memcmp(&r, &zero, sizeof r), "a segment with af %u was accepted",
                  op->seg.af);
            break;
        }
        case FZ_OP_NOTE_TIME:
            tcps_engine_note_time(R->E, op->ts);
            break;
        case FZ_OP_SUMMARY: {
            tcps_flow_summary s;
            if (tcps_engine_flow_summary(R->E, op->id, &s) == 0) {
                CHECK(op->id != 0 && op->id <= R->max_id, "summary of connection %u never seen", op->id);
                CHECK(!R->fl[op->id].ended, "summary of ended connection %u", op->id);
                CHECK(s.flow_id == op->id, "summary id");
                check_summary_vocab(&s);
                check_summary_counts(R, &s);
            }
            break;
        }
        }
        CHECK(R->ended_now == 0 || R->reporting, "connections reported in pass 1");
        check_ended(R);
        check_memory(R);
    }
    R->cur = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_relation();
    fz_program p;
    if (fz_decode(data, size, &p))
        return 0;
    run R;
    memset(&R, 0, sizeof R);
    R_ = &R;
    R.p = &p;
    for (R.tmap_cap = 64; R.tmap_cap < 2 * (size_t)p.nops + 2; R.tmap_cap *= 2)
        ;
    R.tmap = calloc(R.tmap_cap, sizeof *R.tmap);
    R.nfl = (uint32_t)p.nops + 2;
    R.fl = calloc(R.nfl, sizeof *R.fl);
    R.p1 = calloc((size_t)p.nops + 1, sizeof *R.p1);
    tcps_config cfg = p.cfg;
    cfg.on_flow_end = on_end;
    cfg.user = &R;
    R.E = tcps_engine_new(&cfg);
    if (!R.fl || !R.p1 || !R.tmap || !R.E) {
        CHECK(R.fl && R.p1 && R.tmap, "out of memory");
        FAIL("tcps_engine_new refused a valid configuration (max_flows %zu)", cfg.max_flows);
    }
    R.m0 = tcps_engine_memory(R.E);
    R.peak = tcps_engine_peak_memory(R.E);
    CHECK(R.m0 <= R.peak, "new engine: memory above peak");

    R.pass = 1;
    R.reporting = !cfg.two_pass;
    run_pass(&R);
    if (cfg.two_pass) {
        CHECK(tcps_engine_begin_pass2(R.E) == 0, "begin_pass2 failed");
        CHECK(tcps_engine_live_flows(R.E) == 0, "connections live after begin_pass2");
        CHECK(tcps_engine_begin_pass2(R.E) == -1, "begin_pass2 accepted twice");
        R.pass = 2;
        R.reporting = 1;
        run_pass(&R);
    } else {
        CHECK(tcps_engine_begin_pass2(R.E) == -1, "begin_pass2 accepted in one-pass mode");
    }
    R.op = p.nops;
    tcps_engine_finish(R.E);
    check_ended(&R);
    CHECK(tcps_engine_live_flows(R.E) == 0, "connections live after finish");
    for (uint32_t id = 1; id <= R.max_id; id++) {
        CHECK(R.fl[id].ended, "connection %u never reported", id);
        tcps_flow_summary s;
        CHECK(tcps_engine_flow_summary(R.E, id, &s) == -1, "summary after finish");
    }
    check_memory(&R);
    tcps_engine_finish(R.E); /* again: nothing left to report */
    CHECK(R.npend == 0, "finish reported connections twice");
    /* names of out-of-range values */
    CHECK(tcps_state_name(TCPS_ST_COUNT) && tcps_reason_text(255) && tcps_event_template(99) &&
              tcps_rst_cause_id(200) && tcps_close_id(77),
          "NULL name out of range");
    tcps_engine_free(R.E);
    free(R.fl);
    free(R.p1);
    free(R.pend);
    free(R.tmap);
    fz_free(&p);
    R_ = NULL;
    return 0;
}
