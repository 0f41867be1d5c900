/*
 * tcpstate-adversarial: hostile captures for the engine, at two sizes.
 *
 *   tcpstate-adversarial engine [--max-flows M] [--scale X] [CASE...]
 *       generate each case at N and N/4 segments' worth, run the engine over
 *       them through its API (one-pass and two-pass), check the answers, the
 *       memory bound of tcpstate.h and that the time grows about linearly
 *   tcpstate-adversarial analyze LAB [--max-flows M] [--scale X] [CASE...]
 *       the same through `LAB analyze --flows` (the tcpstate-lab binary):
 *       pcap files in a temporary directory, peak RSS and time per run
 *   tcpstate-adversarial write CASE N FILE.pcap
 *   tcpstate-adversarial measure CMD [ARG...]
 *       run CMD, print "maxrss_kb cpu_seconds status" on stderr, exit as CMD
 *
 * Cases (tests/adversarial/README.md): syn-flood, retrans, seq-wrap,
 * rst-only, tw-reuse.  What each must produce follows from how it is made
 * and is stated next to its generator.
 *
 * Times are CPU times (the machine may be busy), compared only with each
 * other in the same run: the ratio t(N) / t(N/4) must stay below 2 x 4.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tcpstate/pkt.h"
#include "tcpstate/tcpstate.h"

#define MS 1000000ull
#define US 1000ull
#define SEC 1000000000ull
#define BASE_TS (1700000000ull * SEC)
#define SIZE_RATIO 4
#define TIME_RATIO_MAX (2.0 * SIZE_RATIO)

static int failures;

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "FAIL: ");
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    failures++;
}

/* CPU time of this process: the machine may be busy with other work */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- segments ------------------------------------------------------------------ */
typedef struct segs {
    tcps_segment *v;
    size_t n, cap;
    int count_only;       /* only count (and learn the expectations) */
    tcps_segment scratch;
} segs;

static tcps_segment *push(segs *S)
{
    if (S->count_only) {
        S->n++;
        memset(&S->scratch, 0, sizeof S->scratch);
        return &S->scratch;
    }
    if (S->n == S->cap) {
        S->cap = S->cap ? S->cap * 2 : 4096;
        S->v = realloc(S->v, S->cap * sizeof *S->v);
        if (!S->v) {
            fprintf(stderr, "tcpstate-adversarial: out of memory\n");
            exit(2);
        }
    }
    tcps_segment *g = &S->v[S->n++];
    memset(g, 0, sizeof *g);
    return g;
}

static void put_ip4(uint8_t *a, uint32_t ip)
{
    a[0] = (uint8_t)(ip >> 24), a[1] = (uint8_t)(ip >> 16), a[2] = (uint8_t)(ip >> 8), a[3] = (uint8_t)ip;
}

typedef struct ep4 { uint32_t ip; uint16_t port; } ep4;

static tcps_segment *seg(segs *S, uint64_t ts, ep4 src, ep4 dst, uint8_t flags, uint32_t seq,
                         uint32_t ack, uint32_t len)
{
    tcps_segment *g = push(S);
    g->ts_ns = ts;
    g->af = 4;
    put_ip4(g->src, src.ip);
    put_ip4(g->dst, dst.ip);
    g->sport = src.port;
    g->dport = dst.port;
    g->flags = flags;
    g->seq = seq;
    g->ack = (flags & TCPS_F_ACK) ? ack : 0;
    g->len = len;
    g->window = 502;
    if (flags & TCPS_F_SYN) { /* Linux's SYN options */
        g->window = 64240;
        g->opt.present = TCPS_OPT_MSS | TCPS_OPT_WSCALE | TCPS_OPT_SACK_PERM | TCPS_OPT_TS;
        g->opt.mss = 1460;
        g->opt.wscale = 7;
        g->opt.tsval = (uint32_t)(ts / MS);
    }
    return g;
}

static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

#define SERVER ((ep4){0x0a000002u, 80}) /* 10.0.0.2:80 */

/* ---- the cases ---------------------------------------------------------------------
 * Each generator makes about n segments and says what every connection must
 * come to (the expect structure). */
typedef struct expect {
    size_t conns;          /* connections the engine must report */
    size_t retrans;        /* retransmissions in the whole capture */
    size_t rtx_copies;     /* retransmitted SYN/SYN-ACK/FIN copies (two-pass evidence) */
    const char *conn_state;/* every connection's Zeek conn_state, or NULL */
    const char *close;     /* every connection's close kind id, or NULL */
    size_t live_max;       /* connections live at once at most, as made */
} expect;

/* syn-flood: n SYNs from n distinct 4-tuples (11.a.b.c:port -> 10.0.0.2:80),
 * 10 us apart, never answered.  Every connection is S0 (a SYN, nothing
 * else), close UNFINISHED, the client SYN_SENT and the server SYN_RECV
 * (the flood lasts n x 10 us, well inside the SYN timers). */
static void gen_syn_flood(segs *S, size_t n, expect *x)
{
    for (size_t i = 0; i < n; i++) {
        ep4 c = {0x0b000000u | (uint32_t)(i / 50000), (uint16_t)(10000 + i % 50000)};
        seg(S, BASE_TS + i * 10 * US, c, SERVER, TCPS_F_SYN, mix32((uint32_t)i), 0, 0);
    }
    x->conns = n;
    x->conn_state = "S0";
    x->close = "UNFINISHED";
    x->live_max = n;
}

/* retrans: one connection; after the handshake the client sends 1000 bytes
 * and sends them again n times, the RTO doubling from 200 ms up to 120 s.
 * Retransmission i is DATA index i (the index saturates at 65535); both
 * sides stay ESTABLISHED; retrans = n. */
static void gen_retrans(segs *S, size_t n, expect *x)
{
    ep4 c = {0x0a000001u, 40000};
    uint64_t t = BASE_TS;
    uint32_t ci = 1000, si = 5000;
    seg(S, t, c, SERVER, TCPS_F_SYN, ci, 0, 0);
    seg(S, t += MS, SERVER, c, TCPS_F_SYN | TCPS_F_ACK, si, ci + 1, 0);
    seg(S, t += MS, c, SERVER, TCPS_F_ACK, ci + 1, si + 1, 0);
    seg(S, t += MS, c, SERVER, TCPS_F_ACK | TCPS_F_PSH, ci + 1, si + 1, 1000);
    uint64_t gap = 200 * MS;
    for (size_t i = 0; i < n; i++) {
        seg(S, t += gap, c, SERVER, TCPS_F_ACK | TCPS_F_PSH, ci + 1, si + 1, 1000);
        gap = gap * 2 > 120 * SEC ? 120 * SEC : gap * 2;
    }
    x->conns = 1;
    x->retrans = n;
    x->conn_state = NULL;
    x->close = "UNFINISHED";
    x->live_max = 1;
}

/* seq-wrap: n/40 short connections with both ISNs just below 2^32, then one
 * long one.  Short ones: odd ones carry data across 2^32 (2 x 1460 bytes
 * from 2^32 - 2000), even ones end their data exactly at 2^32 - 1 so the
 * client's FIN has sequence number 2^32 - 1 and is acknowledged with 0; the
 * server's FIN sits at its own wrap.  4-packet close, client first.  The long
 * one sends n/2 segments of 64000 bytes (several times round the sequence
 * space), acknowledged every second segment, then closes the same way.
 * Nothing is a retransmission; every connection is SF, FOUR_WAY. */
static void gen_seq_wrap(segs *S, size_t n, expect *x)
{
    uint64_t t = BASE_TS;
    size_t nshort = n / 40 ? n / 40 : 1;
    for (size_t i = 0; i < nshort; i++) {
        ep4 c = {0x0a010000u | (uint32_t)(i / 50000), (uint16_t)(10000 + i % 50000)};
        uint32_t ci = (i & 1) ? 0xffffffffu - 2000u : 0xffffffffu - 2921u; /* even: FIN at 2^32-1 */
        uint32_t si = 0xfffffffeu; /* server's FIN at 2^32 - 1 */
        seg(S, t += 10 * US, c, SERVER, TCPS_F_SYN, ci, 0, 0);
        seg(S, t += 10 * US, SERVER, c, TCPS_F_SYN | TCPS_F_ACK, si, ci + 1, 0);
        seg(S, t += 10 * US, c, SERVER, TCPS_F_ACK, ci + 1, si + 1, 0);
        seg(S, t += 10 * US, c, SERVER, TCPS_F_ACK, ci + 1, si + 1, 1460);
        seg(S, t += 10 * US, c, SERVER, TCPS_F_ACK | TCPS_F_PSH, ci + 1 + 1460, si + 1, 1460);
        uint32_t cf = ci + 1 + 2920;
        seg(S, t += 10 * US, SERVER, c, TCPS_F_ACK, si + 1, cf, 0);
        seg(S, t += 10 * US, c, SERVER, TCPS_F_FIN | TCPS_F_ACK, cf, si + 1, 0);
        seg(S, t += 10 * US, SERVER, c, TCPS_F_ACK, si + 1, cf + 1, 0);
        seg(S, t += 10 * US, SERVER, c, TCPS_F_FIN | TCPS_F_ACK, si + 1, cf + 1, 0);
        seg(S, t += 10 * US, c, SERVER, TCPS_F_ACK, cf + 1, si + 2, 0);
    }
    ep4 c = {0x0a020001u, 40000};
    uint32_t ci = 0xffffffffu - 100000u, si = 77;
    seg(S, t += 10 * US, c, SERVER, TCPS_F_SYN, ci, 0, 0);
    seg(S, t += 10 * US, SERVER, c, TCPS_F_SYN | TCPS_F_ACK, si, ci + 1, 0);
    seg(S, t += 10 * US, c, SERVER, TCPS_F_ACK, ci + 1, si + 1, 0);
    uint32_t nx = ci + 1;
    for (size_t i = 0; i < n / 2; i++) {
        seg(S, t += 10 * US, c, SERVER, TCPS_F_ACK, nx, si + 1, 64000);
        nx += 64000;
        if (i & 1)
            seg(S, t += 10 * US, SERVER, c, TCPS_F_ACK, si + 1, nx, 0);
    }
    seg(S, t += 10 * US, c, SERVER, TCPS_F_FIN | TCPS_F_ACK, nx, si + 1, 0);
    seg(S, t += 10 * US, SERVER, c, TCPS_F_ACK, si + 1, nx + 1, 0);
    seg(S, t += 10 * US, SERVER, c, TCPS_F_FIN | TCPS_F_ACK, si + 1, nx + 1, 0);
    seg(S, t += 10 * US, c, SERVER, TCPS_F_ACK, nx + 1, si + 2, 0);
    x->conns = nshort + 1;
    x->conn_state = "SF";
    x->close = "FOUR_WAY";
    x->live_max = 2;
}

/* rst-only: n RSTs (half of them RST+ACK) on n/2 4-tuples picked at
 * random, in either direction, 10 us apart; nothing else.  Every RST's
 * sender is CLOSED after it; every connection ends ABORT. */
static void gen_rst_only(segs *S, size_t n, expect *x)
{
    size_t pool = n / 2 ? n / 2 : 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = mix32((uint32_t)i * 2654435761u + 1);
        uint32_t k = r % (uint32_t)pool;
        ep4 c = {0x0c000000u | (k / 50000), (uint16_t)(10000 + k % 50000)};
        uint8_t fl = (r & 0x100000) ? TCPS_F_RST | TCPS_F_ACK : TCPS_F_RST;
        if (r & 0x200000)
            seg(S, BASE_TS + i * 10 * US, c, SERVER, fl, mix32(r), mix32(r + 1), 0);
        else
            seg(S, BASE_TS + i * 10 * US, SERVER, c, fl, mix32(r), mix32(r + 1), 0);
    }
    x->conns = 0; /* as many as the engine makes: counted, not predicted */
    x->close = "ABORT";
    x->live_max = pool;
}

/* tw-reuse: n connections on k = 10,000 4-tuples (fewer if n < 20,000:
 * n / 2), n / k rounds (10.1.a.b:port -> 10.0.0.2:80).  In each round every
 * tuple opens, exchanges 100 bytes and closes, all k at once (step by step
 * across the tuples, 1 us apart).  Odd rounds the client closes first and
 * ends in TIME_WAIT, and its next SYN reuses the 4-tuple in TIME_WAIT; even
 * rounds the server closes first, ends in TIME_WAIT and accepts the next
 * SYN into it, answering with ISN = its snd_nxt + 65537.  Every connection
 * is SF, FOUR_WAY; connection r on a tuple has conn_index r; from round 2
 * on every SYN reuses a 4-tuple in TIME_WAIT (PORT_REUSE_TW), and the
 * SYN-ACKs of odd rounds show the accepted ISN (TW_ACCEPT).  The two sizes
 * differ in rounds, not in tuples: the same 10,000 connections live. */
#define TW_TUPLES 10000
static void gen_tw_reuse(segs *S, size_t n, expect *x)
{
    size_t k = n >= 2 * TW_TUPLES ? TW_TUPLES : (n / 2 ? n / 2 : 1);
    size_t rounds = n / k;
    uint32_t *ci = calloc(k, sizeof *ci), *si = calloc(k, sizeof *si);
    if (!ci || !si)
        exit(2);
    uint64_t t = BASE_TS;
    for (size_t i = 0; i < k; i++) {
        ci[i] = mix32((uint32_t)i) & 0x7fffffffu;
        si[i] = mix32((uint32_t)i + 0x55555555u);
    }
    for (size_t round = 1; round <= rounds; round++) {
        int client_first = round & 1;
        for (int step = 0; step < 10; step++)
            for (size_t i = 0; i < k; i++) {
                ep4 c = {0x0a010000u | (uint32_t)(i / 50000), (uint16_t)(10000 + i % 50000)};
                uint32_t a = ci[i], b = si[i];
                ep4 first = client_first ? c : SERVER, second = client_first ? SERVER : c;
                uint32_t f1 = client_first ? a + 101 : b + 1, f2 = client_first ? b + 1 : a + 101;
                t += US;
                switch (step) {
                case 0: seg(S, t, c, SERVER, TCPS_F_SYN, a, 0, 0); break;
                case 1: seg(S, t, SERVER, c, TCPS_F_SYN | TCPS_F_ACK, b, a + 1, 0); break;
                case 2: seg(S, t, c, SERVER, TCPS_F_ACK, a + 1, b + 1, 0); break;
                case 3: seg(S, t, c, SERVER, TCPS_F_ACK | TCPS_F_PSH, a + 1, b + 1, 100); break;
                case 4: seg(S, t, SERVER, c, TCPS_F_ACK, b + 1, a + 101, 0); break;
                case 5: seg(S, t, first, second, TCPS_F_FIN | TCPS_F_ACK, f1, f2, 0); break;
                case 6: seg(S, t, second, first, TCPS_F_ACK, f2, f1 + 1, 0); break;
                case 7: seg(S, t, second, first, TCPS_F_FIN | TCPS_F_ACK, f2, f1 + 1, 0); break;
                case 8: seg(S, t, first, second, TCPS_F_ACK, f1 + 1, f2 + 1, 0); break;
                default: /* next round's sequence numbers */
                    ci[i] = a + 101 + 100000;
                    /* a server accepting a SYN into TIME_WAIT: snd_nxt + 65537 */
                    si[i] = client_first ? mix32(b) : b + 2 + 65535 + 2;
                    t -= US;
                    break;
                }
            }
    }
    free(ci);
    free(si);
    x->conns = k * rounds;
    x->conn_state = "SF";
    x->close = "FOUR_WAY";
    x->live_max = k;
}

typedef struct acase {
    const char *name;
    void (*gen)(segs *, size_t, expect *);
    size_t n;         /* full size */
    const char *unit; /* what n counts */
} acase;

static const acase cases[] = {
    {"syn-flood", gen_syn_flood, 1000000, "SYNs (distinct 4-tuples)"},
    {"retrans", gen_retrans, 100000, "retransmissions of one segment"},
    {"seq-wrap", gen_seq_wrap, 400000, "segments (wrapping sequence numbers)"},
    {"rst-only", gen_rst_only, 400000, "RSTs"},
    {"tw-reuse", gen_tw_reuse, 80000, "connections on 10,000 4-tuples reused from TIME_WAIT"},
};
#define NCASES (sizeof cases / sizeof *cases)

static const acase *find_case(const char *name)
{
    for (size_t i = 0; i < NCASES; i++)
        if (!strcmp(cases[i].name, name))
            return &cases[i];
    return NULL;
}

/* ---- through the engine's API ------------------------------------------------------ */
typedef struct erun {
    const acase *c;
    const expect *x;
    int two_pass, pass, reporting;
    size_t reported, evicted, bad_summaries;
    size_t rtx_seen, rtx_index_bad, rst_bad, reuse_bad, state_bad;
    uint32_t last_rtx;
    char why[200];
} erun;

static void note_bad(erun *R, const char *fmt, ...)
{
    if (R->why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R->why, sizeof R->why, fmt, ap);
    va_end(ap);
}

static void on_end(const tcps_flow_summary *s, void *user)
{
    erun *R = user;
    R->reported++;
    R->evicted += s->evicted;
    const expect *x = R->x;
    if (x->conn_state && strcmp(tcps_conn_state_name(s->conn_state), x->conn_state)) {
        R->bad_summaries++;
        note_bad(R, "connection %u: conn_state %s, expected %s", s->flow_id,
                 tcps_conn_state_name(s->conn_state), x->conn_state);
    }
    if (x->close && strcmp(tcps_close_id(s->close_kind), x->close)) {
        R->bad_summaries++;
        note_bad(R, "connection %u: close %s, expected %s", s->flow_id, tcps_close_id(s->close_kind),
                 x->close);
    }
    if (!strcmp(R->c->name, "retrans") && s->retrans[0] != x->retrans) {
        R->bad_summaries++;
        note_bad(R, "summary: %u retransmissions, expected %zu", s->retrans[0], x->retrans);
    }
    if (!strcmp(R->c->name, "syn-flood") &&
        (s->final_state[0] != TCPS_ST_SYN_SENT || s->final_state[1] != TCPS_ST_SYN_RECV)) {
        R->bad_summaries++;
        note_bad(R, "SYN flood connection %u ends %s/%s", s->flow_id,
                 tcps_state_name(s->final_state[0]), tcps_state_name(s->final_state[1]));
    }
}

/* Per-answer checks of each case. */
static void check_answer(erun *R, size_t i, const tcps_segment *g, const tcps_result *r)
{
    const char *n = R->c->name;
    if (r->rtx_kind != TCPS_RTX_NONE)
        R->rtx_seen++;
    if (!strcmp(n, "retrans") && i >= 4) {
        uint32_t want = R->last_rtx < 65535 ? R->last_rtx + 1 : 65535;
        if (r->rtx_kind != TCPS_RTX_DATA || r->rtx_index != want) {
            R->rtx_index_bad++;
            note_bad(R, "retransmission %zu: %s index %u, expected DATA %u", i - 3,
                     tcps_rtx_kind_id(r->rtx_kind), r->rtx_index, want);
        }
        R->last_rtx = r->rtx_index;
        if (r->state[0] != TCPS_ST_ESTABLISHED || r->state[1] != TCPS_ST_ESTABLISHED) {
            R->state_bad++;
            note_bad(R, "retransmission %zu: %s/%s", i - 3, tcps_state_name(r->state[0]),
                     tcps_state_name(r->state[1]));
        }
    }
    if (!strcmp(n, "rst-only") && r->state[r->from] != TCPS_ST_CLOSED) {
        R->rst_bad++;
        note_bad(R, "RST %zu: its sender is %s", i, tcps_state_name(r->state[r->from]));
    }
    if (!strcmp(n, "seq-wrap") && (g->flags & TCPS_F_FIN) && !(g->flags & TCPS_F_SYN) &&
        r->from == TCPS_CLIENT && r->state[0] != TCPS_ST_FIN_WAIT_1) {
        R->state_bad++;
        note_bad(R, "seq-wrap: client FIN at seq %u shows the client %s", g->seq,
                 tcps_state_name(r->state[0]));
    }
    if (!strcmp(n, "seq-wrap") && (g->flags == TCPS_F_ACK) && r->from == TCPS_CLIENT &&
        r->prev_state[0] == TCPS_ST_TIME_WAIT && r->state[1] != TCPS_ST_CLOSED) {
        R->state_bad++;
        note_bad(R, "seq-wrap: the last ACK (ack %u) leaves the server %s", g->ack,
                 tcps_state_name(r->state[1]));
    }
    if (!strcmp(n, "tw-reuse") && (g->flags & (TCPS_F_SYN | TCPS_F_ACK)) == TCPS_F_SYN) {
        unsigned round = r->conn_index;
        if ((round > 1) != (r->port_reuse != 0) ||
            (round > 1 && !(r->events & (1u << TCPS_EV_PORT_REUSE_TW)))) {
            R->reuse_bad++;
            note_bad(R, "tw-reuse: SYN of connection %u#%u: port_reuse %u events 0x%x", r->flow_id,
                     r->conn_index, r->port_reuse, r->events);
        }
    }
    if (!strcmp(n, "tw-reuse") && (g->flags & (TCPS_F_SYN | TCPS_F_ACK)) == (TCPS_F_SYN | TCPS_F_ACK) &&
        r->conn_index > 1 && (r->conn_index % 2) == 1 &&
        !(r->events & (1u << TCPS_EV_TW_ACCEPT))) {
        R->reuse_bad++;
        note_bad(R, "tw-reuse: SYN-ACK of connection %u#%u accepted into TIME_WAIT not seen",
                 r->flow_id, r->conn_index);
    }
}

typedef struct result {
    double secs;
    size_t peak, bound, segs, reported;
} result;

static size_t one_pass_bound(size_t m0, size_t max_flows)
{
    return m0 + (max_flows + 1) * tcps_flow_bytes() / 4 * 5;
}

static int run_engine(const acase *c, size_t n, int two_pass, size_t max_flows, int reps,
                      result *res)
{
    segs S = {0};
    expect x;
    memset(&x, 0, sizeof x);
    c->gen(&S, n, &x);
    double best = 1e30, total = 0;
    int ok = 1;
    /* best of at least `reps` runs and of 0.5 s: short runs are noisy */
    for (int rep = 0; rep < reps || (total < 0.5 && rep < 100); rep++) {
        erun R;
        memset(&R, 0, sizeof R);
        R.c = c;
        R.x = &x;
        R.two_pass = two_pass;
        tcps_config cfg;
        tcps_config_default(&cfg);
        cfg.two_pass = two_pass;
        cfg.max_flows = max_flows;
        cfg.on_flow_end = on_end;
        cfg.user = &R;
        tcps_engine *E = tcps_engine_new(&cfg);
        if (!E) {
            fail("%s: tcps_engine_new", c->name);
            return -1;
        }
        size_t m0 = tcps_engine_memory(E), live_max = 0;
        double t0 = cpu_s();
        for (int pass = 1; pass <= (two_pass ? 2 : 1); pass++) {
            if (pass == 2)
                tcps_engine_begin_pass2(E);
            R.pass = pass;
            R.last_rtx = 0;
            for (size_t i = 0; i < S.n; i++) {
                tcps_result r;
                if (tcps_engine_feed(E, &S.v[i], &r)) {
                    note_bad(&R, "segment %zu refused", i);
                    ok = 0;
                    break;
                }
                if (rep == 0 && pass == (two_pass ? 2 : 1))
                    check_answer(&R, i, &S.v[i], &r);
                if (rep == 0 && (i & 1023) == 0 && tcps_engine_live_flows(E) > live_max)
                    live_max = tcps_engine_live_flows(E);
            }
        }
        tcps_engine_finish(E);
        double dt = cpu_s() - t0;
        total += dt;
        if (dt < best)
            best = dt;
        size_t peak = tcps_engine_peak_memory(E), bound = one_pass_bound(m0, max_flows);
        if (two_pass) /* tcpstate.h: 1 byte per segment, 16-byte evidence records
                       * (one or two per connection, one per retransmitted
                       * SYN/SYN-ACK/FIN), arrays doubling */
            bound += 2 * (4096 + S.n) +
                     2 * 16 * (1024 + 2 * (R.reported ? R.reported : S.n) + x.rtx_copies);
        res->peak = peak;
        res->bound = bound;
        res->segs = S.n;
        res->reported = R.reported;
        tcps_engine_free(E);
        if (rep)
            continue;
        const char *mode = two_pass ? "two-pass" : "one-pass";
        if (peak > bound) {
            fail("%s %s n=%zu: peak memory %zu bytes above the bound %zu (max_flows %zu)", c->name,
                 mode, n, peak, bound, max_flows);
            ok = 0;
        }
        if (live_max > max_flows) {
            fail("%s %s n=%zu: %zu connections live, cap %zu", c->name, mode, n, live_max, max_flows);
            ok = 0;
        }
        if (x.conns && R.reported != x.conns) {
            fail("%s %s n=%zu: %zu connections reported, %zu made", c->name, mode, n, R.reported,
                 x.conns);
            ok = 0;
        }
        if (!strcmp(c->name, "syn-flood") && n > max_flows &&
            R.evicted != n - max_flows) {
            fail("%s %s n=%zu: %zu connections evicted, expected %zu", c->name, mode, n, R.evicted,
                 n - max_flows);
            ok = 0;
        }
        if (R.rtx_seen != x.retrans) {
            fail("%s %s n=%zu: %zu retransmissions reported, %zu made", c->name, mode, n, R.rtx_seen,
                 x.retrans);
            ok = 0;
        }
        if (R.why[0]) {
            fail("%s %s n=%zu: %s (%zu bad summaries, %zu bad indices, %zu bad RST answers, %zu bad reuse answers, %zu bad states)",
                 c->name, mode, n, R.why, R.bad_summaries, R.rtx_index_bad, R.rst_bad, R.reuse_bad,
                 R.state_bad);
            ok = 0;
        }
    }
    res->secs = best;
    free(S.v);
    return ok ? 0 : -1;
}

static void print_row(const char *what, const char *c, const char *mode, size_t n, const result *r)
{
    printf("%-8s %-10s %-9s n=%-8zu %9zu segs %8.3f s %7.2f M seg/s  peak %8.1f MiB  bound %8.1f MiB  %zu conns\n",
           what, c, mode, n, r->segs, r->secs, r->segs / r->secs / 1e6, r->peak / 1048576.0,
           r->bound / 1048576.0, r->reported);
}

static void ratio(const char *what, const char *c, const char *mode, double big, double small)
{
    double q = small > 0 ? big / small : 0;
    printf("%-8s %-10s %-9s time ratio %.2f for size ratio %d (limit %.1f)\n", what, c, mode, q,
           SIZE_RATIO, TIME_RATIO_MAX);
    if (q > TIME_RATIO_MAX)
        fail("%s %s %s: time ratio %.2f above %.1f: not linear", what, c, mode, q, TIME_RATIO_MAX);
}

/* ---- pcap files --------------------------------------------------------------------- */
static int write_pcap(const segs *S, const char *path)
{
    tcps_pcap_writer *w = tcps_pcap_open_write(path, TCPS_LINK_ETHERNET, 1, 160);
    if (!w) {
        fprintf(stderr, "tcpstate-adversarial: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static uint8_t buf[70000];
    int rc = 0;
    for (size_t i = 0; i < S->n && !rc; i++) {
        size_t len = tcps_encode_ether(&S->v[i], buf, sizeof buf);
        if (!len || tcps_pcap_write(w, S->v[i].ts_ns, buf, len, len))
            rc = -1;
    }
    if (tcps_pcap_close(w))
        rc = -1;
    if (rc) {
        fprintf(stderr, "tcpstate-adversarial: %s: cannot write\n", path);
        unlink(path);
    }
    return rc;
}

/* Run argv, stdout to out, stderr to err (NULL: ours): peak RSS (KiB), CPU time (user +
 * system), exit status. */
static int measure(char *const argv[], const char *out, const char *err, long *rss_kb, double *secs,
                   int *status)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd;
        if (out) {
            fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                close(fd);
            }
        }
        if (err) {
            fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 2);
                close(fd);
            }
        }
        execvp(argv[0], argv);
        fprintf(stderr, "tcpstate-adversarial: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    struct rusage ru;
    int st;
    if (wait4(pid, &st, 0, &ru) < 0)
        return -1;
    *secs = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    *rss_kb = ru.ru_maxrss;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

/* analyze --flows output: every connection one line.  Checks the case's
 * expectations; returns the number of lines (connections). */
static long check_flows_output(const char *path, const acase *c, const expect *x, size_t n)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    char line[1024];
    long conns = 0, bad = 0, retrans = 0;
    char why[300] = "";
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#')
            continue;
        char *f[16];
        int nf = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, "\t\n", &save); t && nf < 16; t = strtok_r(NULL, "\t\n", &save))
            f[nf++] = t;
        if (nf < 13) {
            bad++;
            snprintf(why, sizeof why, "short line");
            continue;
        }
        conns++;
        retrans += atol(f[10]);
        if ((x->conn_state && strcmp(f[3], x->conn_state)) || (x->close && strcmp(f[5], x->close))) {
            if (!bad)
                snprintf(why, sizeof why, "connection %s: %s %s (expected %s %s)", f[0], f[3], f[5],
                         x->conn_state ? x->conn_state : "-", x->close ? x->close : "-");
            bad++;
        }
    }
    fclose(fp);
    if (bad)
        fail("analyze %s n=%zu: %ld lines wrong, first: %s", c->name, n, bad, why);
    if (x->conns && (size_t)conns != x->conns)
        fail("analyze %s n=%zu: %ld connections, %zu made", c->name, n, conns, x->conns);
    if ((size_t)retrans != x->retrans)
        fail("analyze %s n=%zu: %ld retransmissions, %zu made", c->name, n, retrans, x->retrans);
    return conns;
}

/* `tcpstate-adversarial write CASE N FILE` in a child process */
static int spawn_write(const char *name, size_t n, const char *path)
{
    char ns[32];
    snprintf(ns, sizeof ns, "%zu", n);
    char *argv[] = {"/proc/self/exe", "write", (char *)name, ns, (char *)path, NULL};
    long kb;
    double dt;
    int st;
    if (measure(argv, NULL, NULL, &kb, &dt, &st) || st) {
        fail("cannot write %s", path);
        return -1;
    }
    return 0;
}

static char tmpdir[256];
static void cleanup(void)
{
    if (!tmpdir[0])
        return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "tcpstate-adversarial: cannot remove %s\n", tmpdir);
    tmpdir[0] = '\0';
}

static int run_analyze(const char *lab, const acase *c, size_t n, size_t max_flows, long base_kb,
                       double *secs)
{
    /* this process stays small: its RSS at fork() counts in the child's
     * peak; the file is written by a child of its own */
    segs S = {0};
    S.count_only = 1;
    expect x;
    memset(&x, 0, sizeof x);
    c->gen(&S, n, &x);
    char pcap[400], out[400], errf[400], mf[32];
    snprintf(pcap, sizeof pcap, "%s/%s-%zu.pcap", tmpdir, c->name, n);
    snprintf(errf, sizeof errf, "%s/%s-%zu.err", tmpdir, c->name, n);
    snprintf(out, sizeof out, "%s/%s-%zu.flows", tmpdir, c->name, n);
    snprintf(mf, sizeof mf, "%zu", max_flows);
    if (spawn_write(c->name, n, pcap))
        return -1;
    size_t nseg = S.n;
    char *argv[] = {(char *)lab, "analyze", "--flows", "--max-flows", mf, pcap, NULL};
    long kb = 0;
    double best = 1e30;
    int status = 0;
    for (int rep = 0; rep < 2; rep++) {
        double dt;
        long k;
        if (measure(argv, out, errf, &k, &dt, &status) || status != 0) {
            char msg[300] = "";
            FILE *fp = fopen(errf, "r");
            if (fp) {
                if (!fgets(msg, sizeof msg, fp))
                    msg[0] = '\0';
                fclose(fp);
            }
            msg[strcspn(msg, "\n")] = '\0';
            fail("analyze %s n=%zu: exit status %d: %s", c->name, n, status, msg);
            return -1;
        }
        if (dt < best)
            best = dt;
        kb = k;
    }
    long conns = check_flows_output(out, c, &x, n);
    struct stat st;
    stat(pcap, &st);
    unlink(pcap);
    unlink(out);
    unlink(errf);
    /* two-pass engine bound (tcpstate.h) over the baseline process */
    tcps_config cfg;
    tcps_config_default(&cfg);
    tcps_engine *E = tcps_engine_new(&cfg);
    size_t m0 = tcps_engine_memory(E);
    tcps_engine_free(E);
    size_t bound = one_pass_bound(m0, max_flows) + 2 * (4096 + nseg) +
                   2 * 16 * (1024 + 2 * (size_t)(conns > 0 ? conns : (long)nseg) + x.rtx_copies);
    long limit_kb = base_kb + (long)(bound / 1024) + 4096; /* + 4 MiB for stdio and libpcap */
    printf("analyze  %-10s two-pass  n=%-8zu %9zu segs %8.3f s  file %6.1f MiB  maxrss %8.1f MiB  limit %8.1f MiB  %ld conns\n",
           c->name, n, nseg, best, st.st_size / 1048576.0, kb / 1024.0, limit_kb / 1024.0, conns);
    if (kb > limit_kb)
        fail("analyze %s n=%zu: peak RSS %ld KiB above %ld KiB (baseline %ld KiB + engine bound)",
             c->name, n, kb, limit_kb, base_kb);
    *secs = best;
    return 0;
}

static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !v || s[0] == '-') {
        fprintf(stderr, "tcpstate-adversarial: '%s' is not a positive number\n", s);
        exit(2);
    }
    return (size_t)v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tcpstate-adversarial engine [--max-flows M] [--scale X] [CASE...]\n"
            "       tcpstate-adversarial analyze LAB [--max-flows M] [--scale X] [CASE...]\n"
            "       tcpstate-adversarial write CASE N FILE.pcap\n"
            "       tcpstate-adversarial measure CMD [ARG...]   (maxrss_kb cpu_seconds status)\n"
            "cases:");
    for (size_t i = 0; i < NCASES; i++)
        fprintf(stderr, " %s", cases[i].name);
    fputc('\n', stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "measure")) {
        if (argc < 3)
            usage();
        long kb;
        double dt;
        int st;
        if (measure(argv + 2, NULL, NULL, &kb, &dt, &st)) {
            fprintf(stderr, "tcpstate-adversarial: cannot run %s\n", argv[2]);
            return 127;
        }
        fprintf(stderr, "%ld %.3f %d\n", kb, dt, st);
        return st;
    }
    if (!strcmp(cmd, "write")) {
        if (argc != 5)
            usage();
        const acase *c = find_case(argv[2]);
        if (!c) {
            fprintf(stderr, "tcpstate-adversarial: unknown case '%s'\n", argv[2]);
            return 2;
        }
        segs S = {0};
        expect x;
        c->gen(&S, parse_size(argv[3]), &x);
        int rc = write_pcap(&S, argv[4]);
        free(S.v);
        return rc ? 1 : 0;
    }
    int is_analyze = !strcmp(cmd, "analyze");
    if (!is_analyze && strcmp(cmd, "engine"))
        usage();
    int i = 2;
    const char *lab = NULL;
    if (is_analyze) {
        if (argc < 3)
            usage();
        lab = argv[i++];
    }
    size_t max_flows = 262144;
    double scale = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--max-flows") && i + 1 < argc) {
            max_flows = parse_size(argv[++i]);
        } else if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            char *end;
            scale = strtod(argv[++i], &end);
            if (*end || !(scale > 0)) {
                fprintf(stderr, "tcpstate-adversarial: --scale takes a positive number\n");
                return 2;
            }
        } else {
            usage();
        }
    }
    const acase *sel[NCASES];
    size_t nsel = 0;
    for (; i < argc; i++) {
        const acase *c = find_case(argv[i]);
        if (!c) {
            fprintf(stderr, "tcpstate-adversarial: unknown case '%s'\n", argv[i]);
            return 2;
        }
        sel[nsel++] = c;
    }
    if (!nsel)
        for (size_t k = 0; k < NCASES; k++)
            sel[nsel++] = &cases[k];

    if (!is_analyze) {
        for (size_t k = 0; k < nsel; k++) {
            const acase *c = sel[k];
            size_t n = (size_t)((double)c->n * scale);
            if (n < SIZE_RATIO)
                n = SIZE_RATIO;
            for (int two = 0; two < 2; two++) {
                result big, small;
                const char *mode = two ? "two-pass" : "one-pass";
                if (run_engine(c, n / SIZE_RATIO, two, max_flows, 3, &small) ||
                    run_engine(c, n, two, max_flows, 3, &big))
                    continue;
                print_row("engine", c->name, mode, n / SIZE_RATIO, &small);
                print_row("engine", c->name, mode, n, &big);
                ratio("engine", c->name, mode, big.secs, small.secs);
            }
        }
    } else {
        snprintf(tmpdir, sizeof tmpdir, "%s/tcpstate-adv-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "tcpstate-adversarial: mkdtemp: %s\n", strerror(errno));
            return 1;
        }
        atexit(cleanup);
        /* baseline: the same program on a 10-connection capture */
        long base_kb = 0;
        {
            char pcap[400];
            snprintf(pcap, sizeof pcap, "%s/baseline.pcap", tmpdir);
            if (spawn_write("tw-reuse", 40, pcap))
                return 1;
            char mf[32];
            snprintf(mf, sizeof mf, "%zu", max_flows);
            char *av[] = {(char *)lab, "analyze", "--flows", "--max-flows", mf, pcap, NULL};
            double dt;
            int st;
            if (measure(av, "/dev/null", "/dev/null", &base_kb, &dt, &st) || st) {
                fail("analyze baseline: exit status %d", st);
                return 1;
            }
            unlink(pcap);
            printf("analyze  baseline (40 connections): maxrss %.1f MiB\n", base_kb / 1024.0);
        }
        for (size_t k = 0; k < nsel; k++) {
            const acase *c = sel[k];
            size_t n = (size_t)((double)c->n * scale);
            if (n < SIZE_RATIO)
                n = SIZE_RATIO;
            double tb, ts;
            if (run_analyze(lab, c, n / SIZE_RATIO, max_flows, base_kb, &ts) ||
                run_analyze(lab, c, n, max_flows, base_kb, &tb))
                continue;
            ratio("analyze", c->name, "two-pass", tb, ts);
        }
    }
    if (failures)
        printf("tcpstate-adversarial: %d failures\n", failures);
    else
        printf("tcpstate-adversarial: all passed\n");
    return failures ? 1 : 0;
}
