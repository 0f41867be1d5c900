/*
 * tcpstate inference engine.
 *
 * Per connection it keeps both endpoints' inferred state.  Every change of an
 * endpoint's state goes through set_state(), which records why.  A segment
 * is processed in this order (see tcps_engine_feed):
 *   1. timers that fired before it (silent deaths),
 *   2. the sender: what sending this segment says about it,
 *   3. the receiver: what processing it does, if it received it,
 *   4. annotations (retransmission, probes, RST cause, events).
 * Two-pass mode records evidence in pass 1 (which copies were never
 * received, which segments were answered with RST, tail loss probes, orphan
 * verdicts, connection boundaries) and consults it in pass 2.
 */
#include <stdlib.h>
#include <string.h>

#include "tcpstate/tcpstate.h"
#include "zeek.h"

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)
#define MS(x) ((uint64_t)(x) * 1000000ull)
#define NONE32 0xffffffffu
/* 16-bit counters (indices shown to users) stop at their maximum */
#define INC16(v) ((v) < UINT16_MAX ? (void)++(v) : (void)0)

uint64_t tcps__syn_gap_ns(const tcps_profile *p, unsigned k);

enum {
    EPF_SEQ = 1 << 0,       /* nxt is known */
    EPF_SYN = 1 << 1,       /* sent SYN / SYN-ACK: isn valid */
    EPF_FIN = 1 << 2,       /* sent FIN: fin_seq valid */
    EPF_GOT_FIN = 1 << 3,   /* processed the peer's FIN */
    EPF_ACKED = 1 << 4,     /* has sent an ACK: ack_sent valid */
    EPF_SYN_RTX = 1 << 5,   /* retransmitted its SYN since the peer's last SYN-ACK */
    EPF_WIN_ZERO = 1 << 6,  /* its last advertised window was zero */
    EPF_ACKED_PFIN = 1 << 7,/* ACKed the peer's FIN before sending its own */
    EPF_SACKED = 1 << 8,    /* peer sent SACK since its last transmission */
    EPF_PROBE = 1 << 9,     /* its last packet was a keepalive probe */
    EPF_TIMER_DEAD = 1 << 10,/* CLOSED by a timer (timer_prev holds the state) */
    EPF_DATA = 1 << 11,     /* has sent payload */
    EPF_REPLIED = 1 << 12   /* CLOSED at a segment it answered with RST (pass 2) */
};

enum { TENT_NONE, TENT_SEQ, TENT_ACK };

/* Evidence flags (two-pass). */
enum {
    EVF_NOT_DELIVERED = 1 << 0,
    EVF_REPLY_RST = 1 << 1,
    EVF_CONN_START = 1 << 2,
    EVF_CONN_END = 1 << 3,
    EVF_TLP = 1 << 4,
    EVF_NOT_TLP = 1 << 5,
    EVF_ORPHAN_YES = 1 << 6,
    EVF_ORPHAN_NO = 1 << 7,
    EVF_END_REUSE = 1 << 12, /* with CONN_END: a new SYN reused the 4-tuple */
    EVF_LATE = 1 << 13,      /* received, but processed after the receiver's next packet */
    EVF_END_EVICTED = 1 << 14, /* with CONN_END: evicted to keep memory under the cap */
    EVF_OEV_SHIFT = 8 /* 4 bits: tcps_orphan_ev */
};

typedef struct series { /* pass-1 delivery tracking of one SYN/SYN-ACK/FIN */
    uint32_t end;       /* sequence number after it */
    uint32_t ord;       /* ordinal of its latest copy */
    uint32_t ackp[3];   /* peer ACKs of it whose delivery is unconfirmed */
    uint16_t copies;
    uint8_t open, valid, peer_spoke, nackp, late;
} series;

typedef struct ep {
    uint64_t since;      /* when it entered its state */
    uint64_t last_tx;    /* its last packet */
    uint64_t last_data;  /* its last packet with payload */
    uint64_t orig_ts;    /* its last transmission of new sequence space */
    uint64_t rtx_prev;   /* previous transmission in the current retransmission series */
    uint64_t rtx_gap;    /* previous gap in the series */
    uint64_t rtx_start;  /* first RTO retransmission of the series (budget start) */
    uint64_t first_syn;  /* first SYN / SYN-ACK / FIN of the series (for budgets) */
    uint64_t tent_since;
    uint64_t fin_ts;     /* first FIN sent */
    uint32_t isn, nxt, fin_seq, ack_sent;
    uint32_t rtx_seq, rtx_first_ord, fin_ord, last_ord;
    uint32_t tent_end;
    uint32_t win;        /* last window advertised (scaled) */
    uint32_t ack_at_fin; /* the ack it sent with its FIN */
    uint32_t hole_lo, hole_hi; /* sequence range skipped, not yet seen */
    uint16_t flags, tent_flags;
    uint16_t rtx_index, ka_index, zwp_index, dupacks, synack_timeouts;
    uint8_t state, timer_prev, orphan, orphan_ev, wscale, tent, tent_state, rtx_kind, rtx_tlp;
    uint8_t tent_after;  /* the state the tentative receipt led to */
    uint32_t rtx_total, ka_total, zwp_total, pkts;
    uint64_t bytes;
    series ser;
    float tis[TCPS_ST_COUNT];
} ep;

typedef struct flow {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint8_t af, roles_guessed, close_kind, reset, half, cw_warned, evicted, fin_first;
    uint8_t three_way;
    uint32_t tw_isn; /* reuse of a TIME_WAIT: the ISN it would pick (0: none) */
    uint32_t id;
    uint16_t conn_index;
    uint32_t lru_prev, lru_next; /* index + 1; 0 = none */
    uint32_t first_ord, last_ord;
    uint64_t first_ts, last_ts;
    ep e[2];
    tcps_zeek z;
} flow;

typedef struct slot {
    uint32_t idx;  /* flow index + 1; 0 = empty */
    uint32_t hash; /* the 4-tuple's hash: probes rarely touch a flow */
} slot;

typedef struct evrec {
    uint32_t ord, flags;
    uint64_t aux;
} evrec;

struct tcps_engine {
    tcps_config cfg;
    flow *flows;
    uint32_t cap, nlive, free_head; /* free list through lru_next */
    slot *slots;
    uint32_t slot_mask;
    uint32_t lru_head, lru_tail;
    uint32_t next_id;
    uint32_t ord;
    int pass;
    uint64_t now, max_ts;
    evrec *ev;
    size_t nev, evcap, evcur;
    uint8_t *p1;
    size_t p1cap;
    size_t peak;
    uint64_t syn_giveup, synack_giveup;
    uint64_t end_ts; /* two-pass: where pass 1 ended */
    /* per-feed scratch */
    uint8_t cur_reason[2];
    uint64_t cur_timer_at[2];
};

const tcps_profile *tcps__engine_profile(const tcps_engine *e) { return &e->cfg.profile; }

size_t tcps_flow_bytes(void) { return sizeof(flow) + 2 * sizeof(slot); }

/* ---- memory -------------------------------------------------------------- */
static size_t mem_now(const tcps_engine *E)
{
    return sizeof *E + (size_t)E->cap * sizeof(flow) + (E->slot_mask + 1u) * sizeof(slot) +
           E->evcap * sizeof(evrec) + E->p1cap;
}
static void mem_note(tcps_engine *E)
{
    size_t m = mem_now(E);
    if (m > E->peak)
        E->peak = m;
}
size_t tcps_engine_memory(const tcps_engine *E) { return mem_now(E); }
size_t tcps_engine_peak_memory(const tcps_engine *E) { return E->peak; }
size_t tcps_engine_live_flows(const tcps_engine *E) { return E->nlive; }

/* ---- evidence -------------------------------------------------------------- */
static void ev_add(tcps_engine *E, uint32_t ord, uint32_t flags, uint64_t aux)
{
    if (!E->cfg.two_pass || E->pass != 1 || ord == NONE32)
        return;
    if (E->nev == E->evcap) {
        size_t nc = E->evcap ? E->evcap * 2 : 1024;
        evrec *n = realloc(E->ev, nc * sizeof *n);
        if (!n)
            return; /* evidence is best effort: pass 2 falls back to pass-1 logic */
        E->ev = n;
        E->evcap = nc;
        mem_note(E);
    }
    E->ev[E->nev++] = (evrec){ord, flags, aux};
}

static int ev_cmp(const void *a, const void *b)
{
    const evrec *x = a, *y = b;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Evidence for ordinal `ord` in pass 2 (ordinals only increase).  aux of a
 * CONN_START record: the connection number, bit 16 reuse, bit 17 reuse of a
 * TIME_WAIT; of a CONN_END record: when the connection ended. */
static uint32_t ev_get(tcps_engine *E, uint32_t ord, uint64_t *start_aux, uint64_t *end_aux)
{
    uint32_t f = 0;
    while (E->evcur < E->nev && E->ev[E->evcur].ord < ord)
        E->evcur++;
    for (size_t i = E->evcur; i < E->nev && E->ev[i].ord == ord; i++) {
        f |= E->ev[i].flags;
        if (E->ev[i].flags & EVF_CONN_END)
            *end_aux = E->ev[i].aux;
        if (E->ev[i].flags & EVF_CONN_START)
            *start_aux = E->ev[i].aux;
    }
    return f;
}

/* ---- the one place an endpoint's state changes ------------------------------ */
static void set_state(tcps_engine *E, flow *f, int side, uint8_t st, uint8_t reason, uint64_t at)
{
    ep *x = &f->e[side];
    if (x->state == st)
        return;
    if (at < x->since)
        at = x->since;
    x->tis[x->state] += (float)((double)(at - x->since) / 1e9);
    x->state = st;
    x->since = at;
    E->cur_reason[side] = reason;
    switch (reason) {
    case TCPS_R_SYN_GIVEUP: case TCPS_R_REQ_EXPIRED: case TCPS_R_ORPHAN_GIVEUP:
    case TCPS_R_FIN_TIMEOUT: case TCPS_R_TW_EXPIRED:
        E->cur_timer_at[side] = at;
        break;
    default:
        break;
    }
    /* how the connection ended, decided by the first endpoint to finish */
    if (f->close_kind == TCPS_CLOSE_UNFINISHED && (st == TCPS_ST_TIME_WAIT || st == TCPS_ST_CLOSED)) {
        switch (reason) {
        case TCPS_R_SENT_RST: case TCPS_R_RECV_RST: case TCPS_R_NO_SOCKET: case TCPS_R_TW_KILLED:
            /* no socket for a SYN: refused */
            f->close_kind = reason == TCPS_R_NO_SOCKET && f->e[!side].state == TCPS_ST_SYN_SENT
                                ? TCPS_CLOSE_REFUSED
                                : TCPS_CLOSE_ABORT;
            break;
        case TCPS_R_SYN_GIVEUP: case TCPS_R_REQ_EXPIRED: case TCPS_R_ORPHAN_GIVEUP:
        case TCPS_R_FIN_TIMEOUT:
            f->close_kind = TCPS_CLOSE_TIMEOUT;
            break;
        case TCPS_R_TW_EXPIRED:
            break;
        default:
            if (f->e[0].state == TCPS_ST_CLOSING || f->e[1].state == TCPS_ST_CLOSING ||
                f->e[0].tis[TCPS_ST_CLOSING] > 0 || f->e[1].tis[TCPS_ST_CLOSING] > 0 ||
                (f->e[!side].state == TCPS_ST_CLOSING))
                f->close_kind = TCPS_CLOSE_SIMULTANEOUS;
            else
                f->close_kind = f->three_way ? TCPS_CLOSE_THREE_WAY : TCPS_CLOSE_FOUR_WAY;
        }
    }
}

/* ---- profile-derived schedules ---------------------------------------------- */
static uint64_t rto_min(const tcps_engine *E) { return MS(E->cfg.profile.rto_min_ms); }
static uint64_t rto_max(const tcps_engine *E) { return MS(E->cfg.profile.rto_max_ms); }

/* When an endpoint retransmitting its FIN gives up: run its RTO timer on
 * from the last retransmission seen (the RTO doubles up to rto_max) until
 * the time budget, counted from the first RTO retransmission, is spent. */
static uint64_t fin_giveup_at(const tcps_engine *E, const ep *x)
{
    const tcps_profile *p = &E->cfg.profile;
    unsigned n = x->orphan == TCPS_ORPHAN_NO ? p->retries2 : tcps_profile_orphan_retries(p);
    uint64_t budget = tcps_profile_retry_budget_ns(p, n);
    uint64_t t, g, start;
    if (x->rtx_index == 0) { /* never retransmitted: the first RTO is due */
        g = rto_min(E);
        start = t = x->orig_ts + g;
    } else if (x->rtx_tlp && x->rtx_index == 1) { /* after a TLP the RTO keeps its length */
        g = x->rtx_gap;
        start = t = x->rtx_prev + g;
    } else {
        g = x->rtx_gap;
        t = x->rtx_prev;
        start = x->rtx_start;
    }
    if (g == 0)
        g = rto_min(E);
    if (!p->model_budget) { /* count-based stacks: n retransmissions */
        unsigned done = x->rtx_index > n ? n : x->rtx_index;
        for (unsigned k = done; k <= n; k++) {
            g = g * 2 > rto_max(E) ? rto_max(E) : g * 2;
            t += g;
        }
        return t;
    }
    for (int k = 0; k < 64 && t - start < budget; k++) {
        g = g * 2 > rto_max(E) ? rto_max(E) : g * 2;
        t += g;
    }
    return t;
}

/* ---- timers: states that end with no packet --------------------------------- */
/* loose: the caller has other evidence that the endpoint is gone (it sent a
 * RST, or it answered with one): no allowance for late timers. */
static void run_timers_side(tcps_engine *E, flow *f, int s, uint64_t now, int loose)
{
    ep *x = &f->e[s];
    const tcps_profile *p = &E->cfg.profile;
    for (int guard = 0; guard < 4; guard++) {
        uint8_t st = x->state;
        uint64_t due;
        switch (st) {
        case TCPS_ST_SYN_SENT:
            /* the profile's schedule: count or time budget from the first SYN */
            if (!(x->flags & EPF_SYN))
                return;
            due = x->first_syn + E->syn_giveup;
            if (now > due) {
                x->timer_prev = st;
                x->flags |= EPF_TIMER_DEAD;
                set_state(E, f, s, TCPS_ST_CLOSED, TCPS_R_SYN_GIVEUP, due);
                continue;
            }
            return;
        case TCPS_ST_SYN_RECV: {
            /* reqsk_timer_handler: each SYN-ACK (timer or reply to a SYN)
             * re-arms the timer to rto_init << timeouts so far; it drops the
             * request when it fires with timeouts == tcp_synack_retries */
            if (!(x->flags & EPF_SYN) || x->synack_timeouts < p->synack_retries)
                return;
            unsigned sh = x->synack_timeouts > 30 ? 30 : x->synack_timeouts;
            uint64_t tmo = MS(p->rto_init_ms) << sh;
            if (tmo > rto_max(E))
                tmo = rto_max(E);
            due = x->last_tx + tmo;
            if (now > due) {
                x->timer_prev = st;
                x->flags |= EPF_TIMER_DEAD;
                set_state(E, f, s, TCPS_ST_CLOSED, TCPS_R_REQ_EXPIRED, due);
                continue;
            }
            return;
        }
        case TCPS_ST_FIN_WAIT_1:
        case TCPS_ST_CLOSING:
        case TCPS_ST_LAST_ACK: {
            if (!(x->flags & EPF_FIN) || x->rtx_kind != TCPS_RTX_FIN || x->rtx_index == 0)
                return;
            /* gave up if the budget ends at the next retransmission and
             * the capture went on past it in silence */
            due = fin_giveup_at(E, x);
            uint64_t next_gap = x->rtx_gap * 2 > rto_max(E) ? rto_max(E) : x->rtx_gap * 2;
            if (x->rtx_tlp && x->rtx_index == 1)
                next_gap = x->rtx_gap;
            /* kernel timers may fire up to ~1/8 late (timer wheel) */
            uint64_t next = x->rtx_prev + next_gap, slack = next_gap / 8 + MS(20);
            if (now > due + (loose ? 0 : slack) && due <= next + slack) {
                x->timer_prev = st;
                x->flags |= EPF_TIMER_DEAD;
                if (x->orphan == TCPS_ORPHAN_UNKNOWN) {
                    x->orphan = TCPS_ORPHAN_YES;
                    x->orphan_ev = TCPS_OEV_FIN_GIVEUP;
                }
                set_state(E, f, s, TCPS_ST_CLOSED, TCPS_R_ORPHAN_GIVEUP, due);
                continue;
            }
            return;
        }
        case TCPS_ST_FIN_WAIT_2: {
            if (x->orphan == TCPS_ORPHAN_NO)
                return;
            uint64_t tmo = MS(p->fin_timeout_ms), r35 = rto_min(E) * 7 / 2;
            due = x->since + (tmo > r35 ? tmo : r35);
            if (now > due) {
                x->timer_prev = st;
                x->flags |= EPF_TIMER_DEAD;
                set_state(E, f, s, TCPS_ST_CLOSED, TCPS_R_FIN_TIMEOUT, due);
                continue;
            }
            return;
        }
        case TCPS_ST_TIME_WAIT:
            due = x->rtx_prev + MS(p->timewait_ms); /* rtx_prev: TIME_WAIT (re)start */
            if (now > due) {
                x->timer_prev = st;
                x->flags |= EPF_TIMER_DEAD;
                set_state(E, f, s, TCPS_ST_CLOSED, TCPS_R_TW_EXPIRED, due);
                continue;
            }
            return;
        default:
            return;
        }
    }
}

static void enter_time_wait(tcps_engine *E, flow *f, int s, uint8_t reason, uint64_t at)
{
    f->e[s].rtx_prev = at;
    set_state(E, f, s, TCPS_ST_TIME_WAIT, reason, at);
}

/* ---- flow table ------------------------------------------------------------ */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t half_hash(const uint8_t *a, unsigned alen, uint16_t port)
{
    uint64_t h = port * 0x9e3779b97f4a7c15ull;
    for (unsigned i = 0; i < alen; i += 4) {
        uint32_t w;
        memcpy(&w, a + i, 4);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return mix64(h);
}

static uint64_t tuple_hash(const tcps_segment *s)
{
    unsigned alen = s->af == 6 ? 16 : 4;
    return mix64(half_hash(s->src, alen, s->sport) + half_hash(s->dst, alen, s->dport) + s->af);
}

static uint64_t flow_hash(const flow *f)
{
    unsigned alen = f->af == 6 ? 16 : 4;
    return mix64(half_hash(f->addr[0], alen, f->port[0]) + half_hash(f->addr[1], alen, f->port[1]) +
                 f->af);
}

/* 1: seg goes client->server, 0: server->client, -1: not this flow */
static int flow_match(const flow *f, const tcps_segment *s)
{
    if (f->af != s->af)
        return -1;
    unsigned alen = s->af == 6 ? 16 : 4;
    if (f->port[0] == s->sport && f->port[1] == s->dport && !memcmp(f->addr[0], s->src, alen) &&
        !memcmp(f->addr[1], s->dst, alen))
        return 1;
    if (f->port[1] == s->sport && f->port[0] == s->dport && !memcmp(f->addr[1], s->src, alen) &&
        !memcmp(f->addr[0], s->dst, alen))
        return 0;
    return -1;
}

static flow *lookup(tcps_engine *E, const tcps_segment *s, int *c2s, uint32_t *slot_out)
{
    uint32_t h = (uint32_t)tuple_hash(s);
    uint32_t i = h & E->slot_mask;
    for (;;) {
        uint32_t v = E->slots[i].idx;
        if (!v) {
            *slot_out = i;
            return NULL;
        }
        if (E->slots[i].hash == h) {
            int m = flow_match(&E->flows[v - 1], s);
            if (m >= 0) {
                *c2s = m;
                *slot_out = i;
                return &E->flows[v - 1];
            }
        }
        i = (i + 1) & E->slot_mask;
    }
}

static void slot_remove(tcps_engine *E, uint32_t idx1)
{
    uint32_t mask = E->slot_mask;
    uint32_t i = (uint32_t)flow_hash(&E->flows[idx1 - 1]) & mask;
    while (E->slots[i].idx != idx1) {
        if (!E->slots[i].idx)
            return;
        i = (i + 1) & mask;
    }
    /* backward-shift deletion */
    uint32_t j = i;
    for (;;) {
        E->slots[i].idx = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!E->slots[j].idx)
                return;
            uint32_t k = E->slots[j].hash & mask;
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                continue;
            break;
        }
        E->slots[i] = E->slots[j];
        i = j;
    }
}

static int grow_slots(tcps_engine *E)
{
    uint32_t nsize = (E->slot_mask + 1) * 2;
    slot *n = calloc(nsize, sizeof *n);
    if (!n)
        return -1;
    uint32_t omask = E->slot_mask;
    slot *o = E->slots;
    E->slots = n;
    E->slot_mask = nsize - 1;
    for (uint32_t i = 0; i <= omask; i++) {
        if (!o[i].idx)
            continue;
        uint32_t j = o[i].hash & E->slot_mask;
        while (n[j].idx)
            j = (j + 1) & E->slot_mask;
        n[j] = o[i];
    }
    free(o);
    mem_note(E);
    return 0;
}

static void lru_unlink(tcps_engine *E, uint32_t i1)
{
    flow *f = &E->flows[i1 - 1];
    if (f->lru_prev)
        E->flows[f->lru_prev - 1].lru_next = f->lru_next;
    else
        E->lru_head = f->lru_next;
    if (f->lru_next)
        E->flows[f->lru_next - 1].lru_prev = f->lru_prev;
    else
        E->lru_tail = f->lru_prev;
    f->lru_prev = f->lru_next = 0;
}

static void lru_push_head(tcps_engine *E, uint32_t i1)
{
    flow *f = &E->flows[i1 - 1];
    f->lru_prev = 0;
    f->lru_next = E->lru_head;
    if (E->lru_head)
        E->flows[E->lru_head - 1].lru_prev = i1;
    E->lru_head = i1;
    if (!E->lru_tail)
        E->lru_tail = i1;
}

static void lru_touch(tcps_engine *E, uint32_t i1)
{
    if (E->lru_head == i1)
        return;
    lru_unlink(E, i1);
    lru_push_head(E, i1);
}

/* ---- summaries and connection end ------------------------------------------- */
static void fill_summary(const flow *f, uint64_t at, tcps_flow_summary *s)
{
    memset(s, 0, sizeof *s);
    s->flow_id = f->id;
    s->conn_index = f->conn_index;
    s->af = f->af;
    s->roles_guessed = f->roles_guessed;
    memcpy(s->addr, f->addr, sizeof s->addr);
    s->port[0] = f->port[0];
    s->port[1] = f->port[1];
    s->first_ns = f->first_ts;
    s->last_ns = f->last_ts;
    s->conn_state = (uint8_t)tcps_zeek_conn_state(&f->z);
    tcps_zeek_history(&f->z, s->history, sizeof s->history);
    s->close_kind = f->close_kind;
    s->evicted = f->evicted;
    for (int i = 0; i < 2; i++) {
        const ep *x = &f->e[i];
        s->final_state[i] = x->state;
        s->packets[i] = x->pkts;
        s->bytes[i] = x->bytes;
        s->orphan[i] = x->orphan;
        s->retrans[i] = x->rtx_total;
        s->ka_probes[i] = x->ka_total;
        s->zw_probes[i] = x->zwp_total;
        for (int k = 0; k < TCPS_ST_COUNT; k++)
            s->time_in_state[i][k] = x->tis[k];
        if (at > x->since)
            s->time_in_state[i][x->state] += (double)(at - x->since) / 1e9;
    }
}

static void series_resolve(tcps_engine *E, series *sr)
{
    if (!sr->open)
        return;
    if (sr->copies > 1 || sr->peer_spoke)
        ev_add(E, sr->ord, EVF_NOT_DELIVERED, 0);
    sr->open = 0;
}

/* End a connection: timers up to `at`, report, forget.  reuse: a new SYN
 * took over the 4-tuple, which ends a TIME_WAIT at once. */
static void finalize(tcps_engine *E, uint32_t i1, uint64_t at, int reuse)
{
    flow *f = &E->flows[i1 - 1];
    uint8_t save_r[2] = {E->cur_reason[0], E->cur_reason[1]};
    uint64_t save_t[2] = {E->cur_timer_at[0], E->cur_timer_at[1]};
    run_timers_side(E, f, 0, at, 0);
    run_timers_side(E, f, 1, at, 0);
    for (int i = 0; reuse && i < 2; i++)
        if (f->e[i].state == TCPS_ST_TIME_WAIT)
            set_state(E, f, i, TCPS_ST_CLOSED, TCPS_R_PORT_REUSE, at);
    E->cur_reason[0] = save_r[0];
    E->cur_reason[1] = save_r[1];
    E->cur_timer_at[0] = save_t[0];
    E->cur_timer_at[1] = save_t[1];
    if (E->cfg.two_pass && E->pass == 1) {
        ev_add(E, f->last_ord,
               EVF_CONN_END | (reuse ? EVF_END_REUSE : 0) | (f->evicted ? EVF_END_EVICTED : 0), at);
        for (int s = 0; s < 2; s++) {
            ep *x = &f->e[s];
            series_resolve(E, &x->ser);
            if (x->fin_ord != NONE32 && x->orphan != TCPS_ORPHAN_UNKNOWN)
                ev_add(E, x->fin_ord,
                       (x->orphan == TCPS_ORPHAN_YES ? EVF_ORPHAN_YES : EVF_ORPHAN_NO) |
                           ((uint32_t)x->orphan_ev << EVF_OEV_SHIFT),
                       0);
        }
    }
    if (E->cfg.on_flow_end && (!E->cfg.two_pass || E->pass == 2)) {
        tcps_flow_summary s;
        fill_summary(f, at, &s);
        E->cfg.on_flow_end(&s, E->cfg.user);
    }
    slot_remove(E, i1);
    lru_unlink(E, i1);
    f->id = 0;
    f->lru_next = E->free_head;
    E->free_head = i1;
    E->nlive--;
}

static int reclaimable(const flow *f)
{
    for (int s = 0; s < 2; s++) {
        uint8_t st = f->e[s].state;
        if (st != TCPS_ST_CLOSED && st != TCPS_ST_LISTEN && st != TCPS_ST_UNKNOWN)
            return 0;
    }
    return 1;
}

/* Keep memory bounded: end connections that are over (both CLOSED and idle
 * long enough that no late segment is expected), and past the cap the
 * oldest idle one. */
static void housekeeping(tcps_engine *E, uint64_t now)
{
    if (E->pass == 2)
        return; /* pass 2 ends connections where pass 1 did */
    const tcps_profile *p = &E->cfg.profile;
    uint64_t idle = MS(p->timewait_ms) + MS(p->fin_timeout_ms) + E->synack_giveup;
    for (int n = 0; n < 2 && E->lru_tail; n++) {
        uint32_t t = E->lru_tail;
        flow *f = &E->flows[t - 1];
        if (now < f->last_ts + idle)
            break;
        /* the timers run on a copy: a connection that stays keeps them for
         * its next packet, whose answer then reports what they did */
        flow probe = *f;
        run_timers_side(E, &probe, 0, now, 0);
        run_timers_side(E, &probe, 1, now, 0);
        if (reclaimable(&probe))
            finalize(E, t, now, 0);
        else
            lru_touch(E, t); /* long-lived idle connection: look at the next */
    }
    while (E->nlive > E->cfg.max_flows && E->lru_tail) {
        flow *f = &E->flows[E->lru_tail - 1];
        f->evicted = 1;
        finalize(E, E->lru_tail, now, 0);
    }
}

static uint32_t flow_alloc(tcps_engine *E)
{
    if (!E->free_head) {
        uint64_t want = E->cap ? (uint64_t)E->cap * 2 : 256;
        if (want > (uint64_t)E->cfg.max_flows + 1)
            want = (uint64_t)E->cfg.max_flows + 1;
        if (want <= E->cap || want > 0x7fffffffu)
            return 0;
        uint32_t nc = (uint32_t)want;
        flow *n = realloc(E->flows, (size_t)nc * sizeof *n);
        if (!n)
            return 0;
        E->flows = n;
        for (uint32_t i = nc; i > E->cap; i--) {
            n[i - 1].lru_next = E->free_head;
            n[i - 1].id = 0;
            E->free_head = i;
        }
        E->cap = nc;
        mem_note(E);
    }
    uint32_t i1 = E->free_head;
    E->free_head = E->flows[i1 - 1].lru_next;
    return i1;
}

static void ep_init(ep *x, uint8_t st, uint64_t now)
{
    memset(x, 0, sizeof *x);
    x->state = st;
    x->since = now;
    x->rtx_first_ord = x->fin_ord = x->last_ord = NONE32;
}

static int well_known(uint16_t p) { return p < 1024; }

static flow *flow_create(tcps_engine *E, const tcps_segment *s, uint32_t slot_i, int *c2s,
                         uint16_t conn_index)
{
    if ((E->nlive + 1) * 2 > E->slot_mask + 1) {
        if (grow_slots(E))
            return NULL;
        slot_i = (uint32_t)tuple_hash(s) & E->slot_mask;
        while (E->slots[slot_i].idx)
            slot_i = (slot_i + 1) & E->slot_mask;
    }
    uint32_t i1 = flow_alloc(E);
    if (!i1)
        return NULL;
    flow *f = &E->flows[i1 - 1];
    memset(f, 0, sizeof *f);
    unsigned alen = s->af == 6 ? 16 : 4;
    /* roles: the SYN's sender is the client, a SYN-ACK's the server;
     * otherwise the well-known or lower port is the server */
    int src_is_client;
    if ((s->flags & (TCPS_F_SYN | TCPS_F_ACK)) == TCPS_F_SYN)
        src_is_client = 1;
    else if (s->flags & TCPS_F_SYN)
        src_is_client = 0;
    else {
        f->roles_guessed = 1;
        if (well_known(s->dport) != well_known(s->sport))
            src_is_client = well_known(s->dport);
        else
            src_is_client = s->sport != s->dport ? s->sport > s->dport : 1;
    }
    int c = src_is_client ? 0 : 1;
    memcpy(f->addr[c], s->src, alen);
    memcpy(f->addr[!c], s->dst, alen);
    f->port[c] = s->sport;
    f->port[!c] = s->dport;
    f->af = s->af;
    f->id = ++E->next_id;
    f->conn_index = conn_index;
    f->first_ts = f->last_ts = s->ts_ns;
    f->first_ord = E->ord;
    if (f->roles_guessed || (s->flags & (TCPS_F_SYN | TCPS_F_ACK)) == (TCPS_F_SYN | TCPS_F_ACK)) {
        uint8_t init = f->roles_guessed ? TCPS_ST_UNKNOWN : TCPS_ST_SYN_SENT;
        ep_init(&f->e[0], init, s->ts_ns);
        ep_init(&f->e[1], f->roles_guessed ? TCPS_ST_UNKNOWN : TCPS_ST_LISTEN, s->ts_ns);
    } else {
        ep_init(&f->e[0], TCPS_ST_CLOSED, s->ts_ns);
        ep_init(&f->e[1], TCPS_ST_LISTEN, s->ts_ns);
    }
    tcps_zeek_init(&f->z);
    E->slots[slot_i].idx = i1;
    E->slots[slot_i].hash = (uint32_t)tuple_hash(s);
    lru_push_head(E, i1);
    E->nlive++;
    mem_note(E);
    *c2s = src_is_client;
    return f;
}

/* ---- one-pass belief: tentative delivery ------------------------------------- */
static void tent_take(ep *r, uint8_t kind, uint32_t end)
{
    r->tent = kind;
    r->tent_end = end;
    r->tent_state = r->state;
    r->tent_since = r->since;
    r->tent_flags = r->flags;
}

static void tent_rollback(tcps_engine *E, flow *f, int side, uint64_t at)
{
    ep *r = &f->e[side];
    if (r->tent == TENT_NONE)
        return;
    if (r->state != r->tent_after) { /* changed since: nothing left to undo */
        r->tent = TENT_NONE;
        return;
    }
    uint8_t st = r->tent_state;
    r->flags = (uint16_t)((r->flags & ~EPF_GOT_FIN) | (r->tent_flags & EPF_GOT_FIN));
    r->tent = TENT_NONE;
    if (st != r->state) {
        set_state(E, f, side, st, TCPS_R_NOT_RECEIVED, at);
        r->since = r->tent_since;
    }
}

/* ---- receiving ---------------------------------------------------------- */
/* R processes the peer's FIN. */
static void take_fin(tcps_engine *E, flow *f, int r, uint8_t reason, uint64_t at)
{
    ep *x = &f->e[r];
    if (x->flags & EPF_GOT_FIN) {
        if (x->state == TCPS_ST_TIME_WAIT)
            x->rtx_prev = at; /* a retransmitted FIN restarts TIME_WAIT */
        return;
    }
    switch (x->state) {
    case TCPS_ST_SYN_RECV:
    case TCPS_ST_ESTABLISHED:
    case TCPS_ST_UNKNOWN:
        x->flags |= EPF_GOT_FIN;
        set_state(E, f, r, TCPS_ST_CLOSE_WAIT, reason, at);
        break;
    case TCPS_ST_FIN_WAIT_1:
        x->flags |= EPF_GOT_FIN;
        set_state(E, f, r, TCPS_ST_CLOSING, reason, at);
        break;
    case TCPS_ST_FIN_WAIT_2:
        x->flags |= EPF_GOT_FIN;
        enter_time_wait(E, f, r, reason, at);
        break;
    default:
        break;
    }
}

/* R processes an ACK of value `ack`. */
static void take_ack(tcps_engine *E, flow *f, int r, uint32_t ack, uint8_t reason, uint64_t at)
{
    ep *x = &f->e[r];
    if (x->state == TCPS_ST_SYN_RECV && (x->flags & EPF_SYN) && SEQ_GEQ(ack, x->isn + 1))
        set_state(E, f, r, TCPS_ST_ESTABLISHED,
                  reason == TCPS_R_ACKED_PEER ? reason : TCPS_R_RECV_ACK_OF_SYN, at);
    if ((x->flags & EPF_FIN) && SEQ_GEQ(ack, x->fin_seq + 1)) {
        switch (x->state) {
        case TCPS_ST_FIN_WAIT_1:
            set_state(E, f, r, TCPS_ST_FIN_WAIT_2, TCPS_R_RECV_ACK_OF_FIN, at);
            break;
        case TCPS_ST_CLOSING:
            enter_time_wait(E, f, r, TCPS_R_RECV_ACK_OF_FIN, at);
            break;
        case TCPS_ST_LAST_ACK:
            set_state(E, f, r, TCPS_ST_CLOSED, TCPS_R_RECV_ACK_OF_FIN, at);
            break;
        default:
            break;
        }
    }
}

/* Would this segment change the receiver's state? */
static int seq_consuming(const tcps_segment *s) { return (s->flags & (TCPS_F_SYN | TCPS_F_FIN)) != 0; }

static int ack_relevant(const flow *f, int r, const tcps_segment *s)
{
    const ep *x = &f->e[r];
    if (!(s->flags & TCPS_F_ACK))
        return 0;
    if (x->state == TCPS_ST_SYN_RECV && (x->flags & EPF_SYN) && SEQ_GEQ(s->ack, x->isn + 1))
        return 1;
    if ((x->flags & EPF_FIN) && SEQ_GEQ(s->ack, x->fin_seq + 1) &&
        (x->state == TCPS_ST_FIN_WAIT_1 || x->state == TCPS_ST_CLOSING ||
         x->state == TCPS_ST_LAST_ACK))
        return 1;
    return 0;
}

static void receive(tcps_engine *E, flow *f, int r, const tcps_segment *s, uint64_t at)
{
    ep *x = &f->e[r];
    uint8_t fl = s->flags;
    if ((fl & (TCPS_F_SYN | TCPS_F_ACK)) == TCPS_F_SYN) {
        if (x->state == TCPS_ST_LISTEN)
            set_state(E, f, r, TCPS_ST_SYN_RECV, TCPS_R_RECV_SYN, at);
        return;
    }
    if (fl & TCPS_F_SYN) { /* SYN-ACK */
        if (x->state == TCPS_ST_SYN_SENT && (!(x->flags & EPF_SYN) || s->ack == x->isn + 1)) {
            x->flags |= EPF_ACKED;
            set_state(E, f, r, TCPS_ST_ESTABLISHED, TCPS_R_RECV_SYNACK, at);
        }
        return;
    }
    if (fl & TCPS_F_ACK)
        take_ack(E, f, r, s->ack, TCPS_R_NONE, at);
    if (fl & TCPS_F_FIN) {
        /* a FIN that also ACKs our FIN: FIN_WAIT_2 already reached above */
        take_fin(E, f, r, TCPS_R_RECV_FIN, at);
    }
}

/* ---- sending: what the sender's own segment says about it ------------------- */
static void sender_catch_up(tcps_engine *E, flow *f, int S, const tcps_segment *s, uint64_t at)
{
    ep *x = &f->e[S], *p = &f->e[!S];
    if (!(s->flags & TCPS_F_ACK) || (s->flags & TCPS_F_RST))
        return;
    /* a client ACKing a SYN-ACK the capture did not see */
    if (x->state == TCPS_ST_SYN_SENT && !(s->flags & TCPS_F_SYN) && !(p->flags & EPF_SYN) &&
        S == TCPS_CLIENT) {
        p->isn = s->ack - 1;
        p->nxt = s->ack;
        p->flags |= EPF_SYN | EPF_SEQ;
        if (p->state == TCPS_ST_LISTEN)
            set_state(E, f, !S, TCPS_ST_SYN_RECV, TCPS_R_SENT_SYNACK, at);
    }
    /* it acknowledges more than the peer was seen sending: the capture missed
     * it.  One more than seen, after this side's FIN: the peer's FIN. */
    if ((p->flags & EPF_SEQ) && SEQ_GT(s->ack, p->nxt)) {
        if (s->ack == p->nxt + 1 && (x->flags & EPF_FIN) && !(p->flags & EPF_FIN) &&
            (p->state == TCPS_ST_CLOSE_WAIT || p->state == TCPS_ST_ESTABLISHED)) {
            p->flags |= EPF_FIN;
            p->fin_seq = p->nxt;
            p->fin_ts = at;
            int had_fin = (p->flags & EPF_GOT_FIN) != 0;
            set_state(E, f, !S, p->state == TCPS_ST_CLOSE_WAIT ? TCPS_ST_LAST_ACK
                                                                : TCPS_ST_FIN_WAIT_1,
                      TCPS_R_SENT_FIN, at);
            if (had_fin) /* that FIN acknowledged this side's FIN too */
                take_ack(E, f, S, x->fin_seq + 1, TCPS_R_ACKED_PEER, at);
        }
        p->nxt = s->ack;
    }
    if (x->state == TCPS_ST_SYN_SENT && !(s->flags & TCPS_F_SYN) && (p->flags & EPF_SYN) &&
        SEQ_GEQ(s->ack, p->isn + 1))
        set_state(E, f, S, TCPS_ST_ESTABLISHED, TCPS_R_ACKED_PEER, at);
    if (x->state == TCPS_ST_SYN_RECV && !(s->flags & TCPS_F_SYN))
        set_state(E, f, S, TCPS_ST_ESTABLISHED, TCPS_R_ACKED_PEER, at);
    if ((p->flags & EPF_FIN) && !(x->flags & EPF_GOT_FIN) && SEQ_GEQ(s->ack, p->fin_seq + 1)) {
        /* its own FIN's ACK may also have been missed */
        if (x->state == TCPS_ST_FIN_WAIT_1 && (x->flags & EPF_FIN) &&
            (p->flags & EPF_ACKED) && SEQ_GEQ(p->ack_sent, x->fin_seq + 1))
            set_state(E, f, S, TCPS_ST_FIN_WAIT_2, TCPS_R_ACKED_PEER, at);
        take_fin(E, f, S, TCPS_R_ACKED_PEER, at);
    }
}

/* ---- RST cause -------------------------------------------------------------- */
static uint8_t rst_cause(const flow *f, int S, const tcps_segment *s)
{
    const ep *x = &f->e[S], *p = &f->e[!S];
    /* pass 2 closed it at the segment this RST answers: judge by the state
     * it was in then */
    uint8_t xs = (x->flags & EPF_REPLIED) && x->state == TCPS_ST_CLOSED ? x->timer_prev : x->state;
    if (p->state == TCPS_ST_TIME_WAIT)
        return TCPS_RST_TW_KILL;
    if (p->state == TCPS_ST_SYN_SENT && (s->flags & TCPS_F_ACK) && (p->flags & EPF_SYN) &&
        s->ack == p->isn + 1)
        return TCPS_RST_REFUSED;
    if (xs == TCPS_ST_CLOSED || (x->flags & EPF_TIMER_DEAD)) {
        if (x->flags & EPF_TIMER_DEAD) {
            switch (x->timer_prev) {
            case TCPS_ST_FIN_WAIT_2: return TCPS_RST_AFTER_FW2;
            case TCPS_ST_TIME_WAIT: return TCPS_RST_AFTER_TW;
            case TCPS_ST_SYN_RECV: return TCPS_RST_REQ_EXPIRED;
            case TCPS_ST_FIN_WAIT_1: case TCPS_ST_CLOSING: case TCPS_ST_LAST_ACK:
                return TCPS_RST_AFTER_ORPHAN_GIVEUP;
            default: return TCPS_RST_CLOSED_SOCKET;
            }
        }
        return x->pkts ? TCPS_RST_CLOSED_SOCKET : TCPS_RST_NO_SOCKET;
    }
    /* a RST without ACK (or with seq 0) is a reply: the sender had no socket */
    int reply = !(s->flags & TCPS_F_ACK) || s->seq == 0;
    if (xs == TCPS_ST_SYN_RECV ||
        (reply && x->tent == TENT_ACK && x->tent_state == TCPS_ST_SYN_RECV))
        return TCPS_RST_REQ_EXPIRED;
    if (xs == TCPS_ST_LISTEN || xs == TCPS_ST_UNKNOWN)
        return TCPS_RST_NO_SOCKET;
    if (x->ka_index > 0 && (x->flags & EPF_PROBE))
        return TCPS_RST_KEEPALIVE;
    if ((x->flags & EPF_FIN) &&
        (xs == TCPS_ST_FIN_WAIT_1 || xs == TCPS_ST_FIN_WAIT_2 || xs == TCPS_ST_CLOSING ||
         xs == TCPS_ST_LAST_ACK) &&
        p->last_data > x->fin_ts)
        return TCPS_RST_DATA_TO_ORPHAN;
    if (xs != x->state)
        return TCPS_RST_CLOSED_SOCKET;
    if ((p->flags & EPF_DATA) && p->last_data >= x->last_data && !(x->flags & EPF_FIN))
        return TCPS_RST_UNREAD_DATA;
    return TCPS_RST_LINGER0;
}

/* ---- result helpers ------------------------------------------------------ */
static void event(tcps_result *r, unsigned ev, unsigned side)
{
    r->events |= 1u << ev;
    r->event_side[ev] = (uint8_t)side;
}

static uint8_t phase_of(const flow *f)
{
    uint8_t a = f->e[0].state, b = f->e[1].state;
#define IS(x, s) ((x) == TCPS_ST_##s)
#define DONE(x) (IS(x, CLOSED) || IS(x, LISTEN))
    if (f->reset && (IS(a, CLOSED) || IS(b, CLOSED)))
        return TCPS_PH_RESET;
    if (DONE(a) && DONE(b))
        return TCPS_PH_CLOSED;
    if (IS(a, SYN_SENT) || IS(a, SYN_RECV) || IS(b, SYN_SENT) || IS(b, SYN_RECV))
        return TCPS_PH_HANDSHAKE;
    if (IS(a, ESTABLISHED) && IS(b, ESTABLISHED))
        return TCPS_PH_ESTABLISHED;
    if ((IS(a, TIME_WAIT) && (DONE(b) || IS(b, TIME_WAIT))) || (IS(b, TIME_WAIT) && DONE(a)))
        return TCPS_PH_TIME_WAIT;
    if ((IS(a, FIN_WAIT_2) && IS(b, CLOSE_WAIT)) || (IS(b, FIN_WAIT_2) && IS(a, CLOSE_WAIT)))
        return TCPS_PH_HALF_CLOSED;
    if (IS(a, UNKNOWN) || IS(b, UNKNOWN))
        return TCPS_PH_UNKNOWN;
    return TCPS_PH_CLOSING;
#undef IS
#undef DONE
}

/* ---- retransmissions and probes of the sender -------------------------------- */
static void classify_send(tcps_engine *E, flow *f, int S, const tcps_segment *s, tcps_result *r,
                          uint32_t evf)
{
    ep *x = &f->e[S], *p = &f->e[!S];
    const tcps_profile *pr = &E->cfg.profile;
    uint8_t fl = s->flags;
    uint64_t now = s->ts_ns;
    int content = s->len > 0 || (fl & (TCPS_F_SYN | TCPS_F_FIN));

    /* keepalive / zero-window probe: zero-length (or one-byte) ACK at nxt-1
     * after the peer acknowledged everything */
    if (!(fl & (TCPS_F_SYN | TCPS_F_FIN | TCPS_F_RST)) && (fl & TCPS_F_ACK) && s->len <= 1 &&
        (x->flags & EPF_SEQ) && s->seq == x->nxt - 1 && (p->flags & EPF_ACKED) &&
        p->ack_sent == x->nxt && x->state != TCPS_ST_SYN_SENT && x->state != TCPS_ST_SYN_RECV) {
        if (p->flags & EPF_WIN_ZERO) {
            INC16(x->zwp_index);
            x->zwp_total++;
            r->zwp_index = x->zwp_index;
            event(r, TCPS_EV_ZERO_WINDOW_PROBE, (unsigned)S);
        } else {
            INC16(x->ka_index);
            x->ka_total++;
            r->ka_index = x->ka_index;
            uint64_t heard = p->last_tx > x->last_data ? p->last_tx : x->last_data;
            r->ka_idle_ns = now > heard ? now - heard : 0;
            event(r, TCPS_EV_KEEPALIVE, (unsigned)S);
            if (x->ka_index >= pr->ka_probes && pr->ka_probes)
                event(r, TCPS_EV_KEEPALIVE_DEAD, (unsigned)S);
        }
        x->flags |= EPF_PROBE;
        return;
    }
    x->flags &= (uint16_t)~EPF_PROBE;
    if (fl & TCPS_F_RST || !content)
        return;

    int is_rtx = 0;
    uint8_t kind = TCPS_RTX_DATA;
    if (fl & TCPS_F_SYN) {
        kind = (fl & TCPS_F_ACK) ? TCPS_RTX_SYNACK : TCPS_RTX_SYN;
        is_rtx = (x->flags & EPF_SYN) && s->seq == x->isn;
    } else if ((fl & TCPS_F_FIN) && (x->flags & EPF_FIN) && s->seq + s->len == x->fin_seq) {
        kind = TCPS_RTX_FIN;
        is_rtx = 1;
    } else if ((x->flags & EPF_SEQ) && SEQ_LT(s->seq, x->nxt)) {
        kind = (fl & TCPS_F_FIN) ? TCPS_RTX_FIN : TCPS_RTX_DATA;
        /* filling a gap never seen before: sent earlier, captured out of
         * order (or the capture missed it), not sent again */
        if (x->hole_hi != x->hole_lo && SEQ_GEQ(s->seq, x->hole_lo) &&
            SEQ_LT(s->seq, x->hole_hi)) {
            uint32_t e = s->seq + s->len;
            if (s->seq == x->hole_lo)
                x->hole_lo = SEQ_LT(e, x->hole_hi) ? e : x->hole_hi;
            else if (SEQ_GEQ(e, x->hole_hi))
                x->hole_hi = s->seq;
            return;
        }
        is_rtx = 1;
    }
    if (!is_rtx) {
        if ((x->flags & EPF_SEQ) && SEQ_GT(s->seq, x->nxt) && !(fl & TCPS_F_SYN)) {
            x->hole_lo = x->nxt; /* a jump: the segments in between were not seen (yet) */
            x->hole_hi = s->seq;
        }
        x->orig_ts = now;
        x->rtx_index = 0;
        x->dupacks = 0;
        x->flags &= (uint16_t)~EPF_SACKED;
        return;
    }
    /* one series per retransmitted sequence number */
    if (x->rtx_index == 0 || x->rtx_seq != s->seq || x->rtx_kind != kind) {
        x->rtx_index = 1;
        x->rtx_seq = s->seq;
        x->rtx_kind = kind;
        x->rtx_gap = now - (x->orig_ts < now ? x->orig_ts : now);
        x->rtx_prev = now;
        x->rtx_first_ord = E->ord;
        x->rtx_tlp = 0;
        x->rtx_start = now;
    } else {
        uint64_t gap = now - (x->rtx_prev < now ? x->rtx_prev : now);
        INC16(x->rtx_index);
        if (x->rtx_index == 2 && (kind == TCPS_RTX_FIN || kind == TCPS_RTX_DATA)) {
            /* a tail loss probe is followed by an RTO of the same length;
             * an RTO retransmission by one twice as long */
            int tlp = gap < x->rtx_gap + x->rtx_gap / 2;
            ev_add(E, x->rtx_first_ord, tlp ? EVF_TLP : EVF_NOT_TLP, 0);
            x->rtx_tlp = (uint8_t)tlp;
            if (tlp)
                x->rtx_start = now;
        }
        x->rtx_gap = gap;
        x->rtx_prev = now;
    }
    x->rtx_total++;
    r->rtx_kind = kind;
    r->rtx_index = x->rtx_index;
    r->rtx_gap_ns = x->rtx_gap;

    /* schedule */
    uint8_t sched = TCPS_SCHED_RTO;
    unsigned backoff = x->rtx_index - 1;
    if ((kind == TCPS_RTX_DATA || kind == TCPS_RTX_FIN) &&
        (x->dupacks >= 3 || (x->flags & EPF_SACKED))) {
        sched = TCPS_SCHED_FAST;
    } else if (kind == TCPS_RTX_SYN) {
        uint64_t g = MS(pr->rto_init_ms);
        if (x->rtx_index <= pr->syn_linear && x->rtx_gap > g / 2 && x->rtx_gap < g + g / 2) {
            sched = TCPS_SCHED_LINEAR;
            backoff = 0;
        } else {
            backoff = x->rtx_index > pr->syn_linear ? x->rtx_index - pr->syn_linear - 1 : 0;
        }
        r->rtx_budget = (uint16_t)tcps_profile_syn_budget(pr);
        r->rtx_budget_ns = E->syn_giveup;
        event(r, TCPS_EV_SYN_RETRANS, (unsigned)S);
    } else if (kind == TCPS_RTX_SYNACK) {
        if ((p->flags & EPF_SYN_RTX) && now - p->last_tx < rto_min(E)) {
            sched = TCPS_SCHED_REPLY;
        }
        if (sched != TCPS_SCHED_REPLY)
            INC16(x->synack_timeouts);
        r->rtx_timer_index = x->synack_timeouts;
        r->rtx_budget = (uint16_t)pr->synack_retries;
        r->rtx_budget_ns = E->synack_giveup;
        event(r, TCPS_EV_SYNACK_RETRANS, (unsigned)S);
    } else if (x->rtx_index == 1) {
        /* Linux sends a tail loss probe first; pass 2 knows for sure */
        int tlp = pr->model_budget;
        if (evf & EVF_TLP)
            tlp = 1;
        else if (evf & EVF_NOT_TLP)
            tlp = 0;
        x->rtx_tlp = (uint8_t)tlp;
        if (tlp)
            sched = TCPS_SCHED_TLP;
    } else {
        backoff = x->rtx_index - (x->rtx_tlp ? 2u : 1u);
    }
    if (kind == TCPS_RTX_SYN)
        x->flags |= EPF_SYN_RTX;
    if (kind == TCPS_RTX_SYNACK)
        p->flags &= (uint16_t)~EPF_SYN_RTX;
    r->rtx_sched = sched;
    r->rtx_backoff = (uint16_t)backoff;
    if (kind == TCPS_RTX_FIN || kind == TCPS_RTX_DATA) {
        if (kind == TCPS_RTX_FIN && x->fin_ts && sched != TCPS_SCHED_FAST)
            r->rtx_budget_ns = fin_giveup_at(E, x) - x->fin_ts;
        else
            r->rtx_budget_ns = tcps_profile_retry_budget_ns(pr, pr->retries2);
        if (kind == TCPS_RTX_FIN) {
            event(r, x->orphan == TCPS_ORPHAN_NO ? TCPS_EV_FIN_RETRANS : TCPS_EV_ORPHAN_FIN_RETRANS,
                  (unsigned)S);
            if (x->orphan != TCPS_ORPHAN_NO)
                event(r, TCPS_EV_FIN_RETRANS, (unsigned)S);
        } else {
            event(r, TCPS_EV_DATA_RETRANS, (unsigned)S);
        }
    }
}

/* ---- pass-1 evidence about delivery --------------------------------------- */
static void record_evidence(tcps_engine *E, flow *f, int S, const tcps_segment *s, uint32_t ord)
{
    ep *x = &f->e[S], *p = &f->e[!S];
    uint8_t fl = s->flags;
    /* the peer's open series: this packet answers it or not */
    series *ps = &p->ser;
    if (ps->open) {
        if ((fl & TCPS_F_ACK) && !(fl & TCPS_F_RST) && SEQ_GEQ(s->ack, ps->end)) {
            ps->open = 0; /* latest copy delivered */
        } else if (fl & TCPS_F_RST) {
            ps->open = 0;
        } else {
            /* its packets do not acknowledge the copy: it had not processed
             * it when it sent them.  That changes its course only when one
             * of them is its own first FIN (ESTABLISHED -> FIN_WAIT_1, not
             * CLOSE_WAIT -> LAST_ACK): then the copy takes effect when the
             * receiver shows it processed it.  A crossing ACK, data segment
             * or retransmission leaves its course alone: the copy counts on
             * arrival, and the row of the crossing packet shows the
             * sender's state as it sent it. */
            uint32_t xend = s->seq + s->len + ((fl & TCPS_F_SYN) ? 1 : 0) + 1;
            if (!ps->late && (fl & TCPS_F_ACK) && (fl & TCPS_F_FIN) &&
                !(x->ser.valid && x->ser.end == xend)) {
                ev_add(E, ps->ord, EVF_LATE, 0);
                ps->late = 1;
            }
            ps->peer_spoke = 1;
        }
    }
    if ((fl & TCPS_F_ACK) && !(fl & TCPS_F_RST) && ps->valid && s->ack == ps->end &&
        !(fl & TCPS_F_SYN)) {
        if (ps->nackp == 3) {
            ps->ackp[0] = ps->ackp[1];
            ps->ackp[1] = ps->ackp[2];
            ps->nackp = 2;
        }
        ps->ackp[ps->nackp++] = ord;
    }
    if (fl & TCPS_F_RST) {
        /* a reply RST: seq = the ack it answers, or RST+ACK with seq 0 */
        int reply = (!(fl & TCPS_F_ACK) && (p->flags & EPF_ACKED) && s->seq == p->ack_sent) ||
                    ((fl & TCPS_F_ACK) && s->seq == 0);
        if (reply && p->last_ord != NONE32)
            ev_add(E, p->last_ord, EVF_REPLY_RST, 0);
        /* a listener answering with RST never got the ACK of its SYN-ACK */
        if (reply && x->ser.valid && (x->flags & EPF_SYN) && x->ser.end == x->isn + 1) {
            for (unsigned i = 0; i < x->ser.nackp; i++)
                ev_add(E, x->ser.ackp[i], EVF_NOT_DELIVERED, 0);
            x->ser.nackp = 0;
        }
        return;
    }
    if (!seq_consuming(s))
        return;
    uint32_t end = s->seq + s->len + ((fl & TCPS_F_SYN) ? 1 : 0) + ((fl & TCPS_F_FIN) ? 1 : 0);
    series *sr = &x->ser;
    if (sr->valid && sr->end == end) {
        if (sr->open) {
            ev_add(E, sr->ord, EVF_NOT_DELIVERED, 0);
            sr->ord = ord;
            sr->copies++;
        } else {
            /* sent again after the peer ACKed it: those ACKs were lost */
            for (unsigned i = 0; i < sr->nackp; i++)
                ev_add(E, sr->ackp[i], EVF_NOT_DELIVERED, 0);
            sr->nackp = 0;
        }
        return;
    }
    series_resolve(E, sr);
    memset(sr, 0, sizeof *sr);
    sr->valid = sr->open = 1;
    sr->end = end;
    sr->ord = ord;
    sr->copies = 1;
}

/* ---- feed ------------------------------------------------------------------- */
static int starts_new_conn(const flow *f, int c2s, const tcps_segment *s)
{
    if ((s->flags & (TCPS_F_SYN | TCPS_F_ACK | TCPS_F_RST)) != TCPS_F_SYN)
        return 0;
    int S = c2s ? TCPS_CLIENT : TCPS_SERVER;
    const ep *x = &f->e[S];
    if ((x->flags & EPF_SYN) && s->seq == x->isn &&
        (S == TCPS_CLIENT || f->roles_guessed == 0))
        return 0; /* a retransmission of its SYN */
    return 1;
}

int tcps_engine_feed(tcps_engine *E, const tcps_segment *s, tcps_result *r)
{
    memset(r, 0, sizeof *r);
    if (!E || !s || (s->af != 4 && s->af != 6))
        return -1;
    uint32_t ord = E->ord;
    uint64_t now = s->ts_ns;
    E->now = now;
    if (now > E->max_ts)
        E->max_ts = now;
    uint64_t start_aux = 0, end_aux = 0;
    uint32_t evf = E->pass == 2 ? ev_get(E, ord, &start_aux, &end_aux) : 0;
    E->cur_reason[0] = E->cur_reason[1] = TCPS_R_NONE;
    E->cur_timer_at[0] = E->cur_timer_at[1] = 0;

    housekeeping(E, now);

    int c2s = 1;
    uint32_t slot;
    flow *f = lookup(E, s, &c2s, &slot);
    uint16_t conn_index = 1;
    int newconn;
    if (E->pass == 2)
        newconn = !f || (evf & EVF_CONN_START);
    else
        newconn = !f || starts_new_conn(f, c2s, s);
    int reuse = 0, reuse_tw = 0;
    uint32_t tw_isn = 0; /* + 1: the ISN a TIME_WAIT that accepts the SYN picks */
    if (newconn && f) {
        conn_index = f->conn_index;
        INC16(conn_index);
        reuse = 1;
        run_timers_side(E, f, 0, now, 0);
        run_timers_side(E, f, 1, now, 0);
        reuse_tw = f->e[0].state == TCPS_ST_TIME_WAIT || f->e[1].state == TCPS_ST_TIME_WAIT;
        const ep *dst = &f->e[c2s ? TCPS_SERVER : TCPS_CLIENT];
        if (dst->state == TCPS_ST_TIME_WAIT)
            tw_isn = dst->nxt + 65535 + 2;
        uint32_t i1 = (uint32_t)(f - E->flows) + 1;
        finalize(E, i1, now, 1);
        f = lookup(E, s, &c2s, &slot);
    }
    if (E->pass == 2 && (evf & EVF_CONN_START)) { /* as pass 1 numbered it */
        conn_index = (uint16_t)(start_aux & 0xffff);
        reuse = (start_aux >> 16) & 1;
        reuse_tw = (start_aux >> 17) & 1;
        tw_isn = (uint32_t)(start_aux >> 32);
    }
    E->cur_reason[0] = E->cur_reason[1] = TCPS_R_NONE;
    E->cur_timer_at[0] = E->cur_timer_at[1] = 0;
    if (newconn) {
        if (E->pass != 2 && E->nlive >= E->cfg.max_flows && E->lru_tail) {
            E->flows[E->lru_tail - 1].evicted = 1;
            finalize(E, E->lru_tail, now, 0);
            f = lookup(E, s, &c2s, &slot);
        }
        f = flow_create(E, s, slot, &c2s, conn_index);
        if (!f) {
            E->ord++;
            return -1;
        }
        if (E->cfg.two_pass && E->pass == 1)
            ev_add(E, ord, EVF_CONN_START,
                   conn_index | ((uint64_t)reuse << 16) | ((uint64_t)reuse_tw << 17) |
                       ((uint64_t)tw_isn << 32));
        f->tw_isn = tw_isn;
    } else {
        lru_touch(E, (uint32_t)(f - E->flows) + 1);
    }
    int S = c2s ? TCPS_CLIENT : TCPS_SERVER, R = !S;
    ep *x = &f->e[S], *p = &f->e[R];
    uint8_t fl = s->flags;

    r->flow_id = f->id;
    r->conn_index = f->conn_index;
    r->from = (uint8_t)S;
    r->roles_guessed = f->roles_guessed;
    r->port_reuse = (uint8_t)reuse;
    if (reuse)
        event(r, reuse_tw ? TCPS_EV_PORT_REUSE_TW : TCPS_EV_PORT_REUSE, (unsigned)S);
    if (newconn && f->roles_guessed)
        event(r, TCPS_EV_MIDSTREAM, (unsigned)S);
    r->prev_state[0] = f->e[0].state;
    r->prev_state[1] = f->e[1].state;

    /* 1. timers up to now; a sender of anything but RST is alive */
    if (fl & TCPS_F_RST || x->state == TCPS_ST_CLOSED)
        run_timers_side(E, f, S, now, (fl & TCPS_F_RST) != 0);
    run_timers_side(E, f, R, now, (evf & EVF_REPLY_RST) != 0);
    for (int i = 0; i < 2; i++)
        if (E->cur_timer_at[i])
            event(r, TCPS_EV_SILENT_DEATH, (unsigned)i);

    /* a sender we believed dead by a timer is alive after all */
    if (!(fl & TCPS_F_RST) && (x->flags & EPF_TIMER_DEAD) && x->state == TCPS_ST_CLOSED &&
        x->timer_prev != TCPS_ST_TIME_WAIT) {
        x->flags &= (uint16_t)~EPF_TIMER_DEAD;
        if (x->timer_prev == TCPS_ST_FIN_WAIT_2 && x->orphan == TCPS_ORPHAN_UNKNOWN)
            x->orphan = TCPS_ORPHAN_NO, x->orphan_ev = TCPS_OEV_ACKS_AFTER_FIN;
        set_state(E, f, S, x->timer_prev, TCPS_R_NOT_RECEIVED, now);
    }

    /* mid-stream start: both established (or what the first flags say) */
    if (newconn && f->roles_guessed) {
        set_state(E, f, 0, TCPS_ST_ESTABLISHED, TCPS_R_MIDSTREAM, now);
        set_state(E, f, 1, TCPS_ST_ESTABLISHED, TCPS_R_MIDSTREAM, now);
        x->flags |= EPF_SEQ;
        x->nxt = s->seq;
        if (fl & TCPS_F_ACK) {
            p->flags |= EPF_SEQ;
            p->nxt = s->ack;
        }
    }

    /* one-pass: the sender's ACK does not cover the SYN/FIN we assumed it
     * had received: it had not (yet) when it sent this */
    if (E->pass != 2 && x->tent == TENT_SEQ && (fl & TCPS_F_ACK) && !(fl & TCPS_F_RST) &&
        SEQ_LT(s->ack, x->tent_end))
        tent_rollback(E, f, S, now);

    /* 2. the sender */
    uint32_t end = s->seq + s->len + ((fl & TCPS_F_SYN) ? 1 : 0) + ((fl & TCPS_F_FIN) ? 1 : 0);
    uint8_t cause = TCPS_RST_NONE;
    if (fl & TCPS_F_RST)
        cause = rst_cause(f, S, s);
    else
        sender_catch_up(E, f, S, s, now);

    if (!(fl & TCPS_F_RST))
        classify_send(E, f, S, s, r, evf);
    else
        x->flags &= (uint16_t)~EPF_PROBE;

    if ((fl & (TCPS_F_SYN | TCPS_F_ACK | TCPS_F_RST)) == TCPS_F_SYN) {
        if (!(x->flags & EPF_SYN) || x->isn != s->seq) {
            x->isn = s->seq;
            x->first_syn = now;
        }
        x->flags |= EPF_SYN;
        if (x->state == TCPS_ST_CLOSED || x->state == TCPS_ST_LISTEN)
            set_state(E, f, S, TCPS_ST_SYN_SENT, TCPS_R_SENT_SYN, now);
    } else if ((fl & (TCPS_F_SYN | TCPS_F_ACK | TCPS_F_RST)) == (TCPS_F_SYN | TCPS_F_ACK)) {
        if (!(x->flags & EPF_SYN) || x->isn != s->seq) {
            /* a server whose TIME_WAIT was reused picks old snd_nxt + 65537 */
            x->isn = s->seq;
            x->first_syn = now;
        }
        x->flags |= EPF_SYN;
        if (f->tw_isn && s->seq == f->tw_isn && r->rtx_kind == TCPS_RTX_NONE)
            event(r, TCPS_EV_TW_ACCEPT, (unsigned)S);
        if (x->state == TCPS_ST_LISTEN || x->state == TCPS_ST_CLOSED)
            set_state(E, f, S, TCPS_ST_SYN_RECV, TCPS_R_SENT_SYNACK, now);
    }
    if ((fl & TCPS_F_FIN) && !(fl & TCPS_F_RST)) {
        if (!(x->flags & EPF_FIN) || SEQ_GT(s->seq + s->len, x->fin_seq)) {
            if (!(x->flags & EPF_FIN)) {
                x->fin_ts = now;
                x->fin_ord = ord;
                x->ack_at_fin = s->ack;
                if (p->flags & EPF_FIN) {
                    /* the second FIN: it carries the ACK of the first unless
                     * that was ACKed on its own before */
                    f->three_way = !(x->flags & EPF_ACKED_PFIN) && (fl & TCPS_F_ACK) &&
                                   SEQ_GEQ(s->ack, p->fin_seq + 1);
                }
                if (E->pass == 2 && (evf & (EVF_ORPHAN_YES | EVF_ORPHAN_NO))) {
                    x->orphan = (evf & EVF_ORPHAN_YES) ? TCPS_ORPHAN_YES : TCPS_ORPHAN_NO;
                    x->orphan_ev = (uint8_t)((evf >> EVF_OEV_SHIFT) & 0xf);
                }
            }
            x->flags |= EPF_FIN;
            x->fin_seq = s->seq + s->len;
        }
        switch (x->state) {
        case TCPS_ST_ESTABLISHED:
        case TCPS_ST_SYN_RECV:
        case TCPS_ST_UNKNOWN:
            set_state(E, f, S, TCPS_ST_FIN_WAIT_1, TCPS_R_SENT_FIN, now);
            break;
        case TCPS_ST_CLOSE_WAIT:
            set_state(E, f, S, TCPS_ST_LAST_ACK, TCPS_R_SENT_FIN, now);
            break;
        default:
            break;
        }
    }
    if ((fl & TCPS_F_ACK) && !(fl & TCPS_F_RST)) {
        if ((p->flags & EPF_FIN) && SEQ_GEQ(s->ack, p->fin_seq + 1) && !(x->flags & EPF_FIN))
            x->flags |= EPF_ACKED_PFIN;
        /* orphan test: it ACKs data its peer sent after its FIN */
        if ((x->flags & EPF_FIN) && x->orphan == TCPS_ORPHAN_UNKNOWN && (p->flags & EPF_DATA) &&
            p->last_data > x->fin_ts && SEQ_GT(s->ack, x->ack_at_fin)) {
            x->orphan = TCPS_ORPHAN_NO;
            x->orphan_ev = TCPS_OEV_ACKS_AFTER_FIN;
        }
        /* duplicate ACKs and SACKs the peer will react to */
        if ((x->flags & EPF_ACKED) && s->ack == x->ack_sent && s->len == 0 &&
            !(fl & (TCPS_F_SYN | TCPS_F_FIN)) && SEQ_LT(s->ack, p->nxt))
            INC16(p->dupacks);
        if (s->opt.present & TCPS_OPT_SACK && s->opt.nsack)
            p->flags |= EPF_SACKED;
        if (!(x->flags & EPF_ACKED) || SEQ_GT(s->ack, x->ack_sent))
            x->ack_sent = s->ack;
        x->flags |= EPF_ACKED;
    }
    /* receive window (scaling applies to segments without SYN) */
    if (fl & TCPS_F_SYN) {
        x->wscale = (s->opt.present & TCPS_OPT_WSCALE) ? (s->opt.wscale > 14 ? 14 : s->opt.wscale)
                                                       : 0;
        x->win = s->window;
    } else {
        unsigned sh = (p->wscale && x->wscale) ? x->wscale : 0;
        if (!(x->flags & EPF_SYN) && f->roles_guessed)
            sh = 0;
        x->win = (uint32_t)s->window << sh;
    }
    if (!(fl & TCPS_F_RST)) {
        if (x->win == 0 && !(fl & TCPS_F_SYN))
            x->flags |= EPF_WIN_ZERO;
        else {
            x->flags &= (uint16_t)~EPF_WIN_ZERO;
            p->zwp_index = 0;
        }
    }
    if (!(x->flags & EPF_SEQ) || SEQ_GT(end, x->nxt)) {
        x->nxt = end;
        x->flags |= EPF_SEQ;
    }
    if (s->len > 0) {
        x->flags |= EPF_DATA;
        x->last_data = now;
    }

    /* pass-1 evidence (before delivery: it describes observations only) */
    if (E->cfg.two_pass && E->pass == 1)
        record_evidence(E, f, S, s, ord);

    /* the sender answering (anything) means its peer's probes were heard */
    if (p->ka_index && !(r->ka_index)) {
        if (x->flags & EPF_ACKED && (p->flags & EPF_PROBE) && s->ack == p->nxt && s->len == 0)
            r->ka_ack = p->ka_index;
        p->ka_index = 0;
    }

    /* 3. the receiver */
    int delivered = 1;
    int relevant = seq_consuming(s) || ack_relevant(f, R, s) || (fl & TCPS_F_RST);
    int late = 0, took = 0;
    if (E->pass == 2) {
        if (evf & EVF_NOT_DELIVERED)
            delivered = 0;
        else if (evf & EVF_LATE)
            late = 1;
    } else if (seq_consuming(s) && !(fl & TCPS_F_RST)) {
        int again = (fl & TCPS_F_SYN) ? (r->rtx_kind == TCPS_RTX_SYN || r->rtx_kind == TCPS_RTX_SYNACK)
                                      : r->rtx_kind == TCPS_RTX_FIN;
        int acked = (p->flags & EPF_ACKED) && SEQ_GEQ(p->ack_sent, end);
        if (again && !acked) {
            /* sent again with no ACK: the earlier copy did not arrive; count
             * this one only once the receiver shows it */
            if (p->tent == TENT_SEQ && p->tent_end == end)
                tent_rollback(E, f, R, now);
            delivered = 0;
            r->provisional = 1;
        } else if (!again) {
            tent_take(p, TENT_SEQ, end);
            took = 1;
            r->provisional = 1;
        }
    } else if (ack_relevant(f, R, s)) {
        tent_take(p, TENT_ACK, p->flags & EPF_FIN ? p->fin_seq + 1 : p->isn + 1);
        took = 1;
        r->provisional = 1;
    }
    /* one-pass: a client sending its SYN again never got the SYN-ACK */
    if (E->pass != 2 && x->tent == TENT_SEQ && r->rtx_kind == TCPS_RTX_SYN &&
        x->state == TCPS_ST_ESTABLISHED)
        tent_rollback(E, f, S, now);
    /* one-pass: the sender sending its SYN-ACK/FIN again shows it never got
     * the ACK we assumed */
    if (E->pass != 2 && x->tent == TENT_ACK && seq_consuming(s) && end == x->tent_end &&
        r->rtx_kind != TCPS_RTX_NONE)
        tent_rollback(E, f, S, now);
    if (E->pass != 2 && x->tent == TENT_SEQ && (fl & TCPS_F_ACK) && SEQ_GEQ(s->ack, x->tent_end))
        x->tent = TENT_NONE; /* it acknowledged: confirmed */
    if (!relevant)
        delivered = 1;
    r->delivered = (uint8_t)delivered;
    if (!delivered && E->pass == 2)
        event(r, TCPS_EV_NOT_RECEIVED, (unsigned)R);

    if (fl & TCPS_F_RST) {
        r->rst_cause = cause;
        event(r, TCPS_EV_RST, (unsigned)S);
        if (cause == TCPS_RST_KEEPALIVE) {
            r->ka_unanswered = x->ka_index;
            event(r, TCPS_EV_KEEPALIVE_DEAD, (unsigned)S);
        }
        /* orphan evidence from the RST's sender */
        if (x->orphan == TCPS_ORPHAN_UNKNOWN && (x->flags & EPF_FIN)) {
            if (cause == TCPS_RST_DATA_TO_ORPHAN) {
                x->orphan = TCPS_ORPHAN_YES;
                x->orphan_ev = TCPS_OEV_RST_AFTER_FIN;
            } else if (cause == TCPS_RST_AFTER_FW2) {
                x->orphan = TCPS_ORPHAN_YES;
                x->orphan_ev = TCPS_OEV_FW2_TIMEOUT;
            } else if (cause == TCPS_RST_AFTER_ORPHAN_GIVEUP) {
                x->orphan = TCPS_ORPHAN_YES;
                x->orphan_ev = TCPS_OEV_FIN_GIVEUP;
            }
        }
        uint8_t sreason = (x->state == TCPS_ST_LISTEN || x->state == TCPS_ST_SYN_RECV ||
                           x->state == TCPS_ST_UNKNOWN)
                              ? TCPS_R_NO_SOCKET
                              : TCPS_R_SENT_RST;
        if (cause == TCPS_RST_REFUSED) {
            sreason = TCPS_R_NO_SOCKET;
            if (f->close_kind == TCPS_CLOSE_UNFINISHED)
                f->close_kind = TCPS_CLOSE_REFUSED;
        }
        if (cause == TCPS_RST_KEEPALIVE && f->close_kind == TCPS_CLOSE_UNFINISHED)
            f->close_kind = TCPS_CLOSE_TIMEOUT;
        set_state(E, f, S, TCPS_ST_CLOSED, sreason, now);
        if (delivered) {
            if (p->state == TCPS_ST_TIME_WAIT) {
                if (!E->cfg.profile.rfc1337)
                    set_state(E, f, R, TCPS_ST_CLOSED, TCPS_R_TW_KILLED, now);
            } else if (p->state != TCPS_ST_CLOSED && p->state != TCPS_ST_LISTEN) {
                set_state(E, f, R, TCPS_ST_CLOSED, TCPS_R_RECV_RST, now);
            }
        }
        f->reset = 1;
    } else if (delivered && !late) {
        if (E->pass == 2 && (evf & EVF_REPLY_RST)) {
            /* the receiver answered this with RST: it had no socket */
            if (p->state != TCPS_ST_CLOSED) {
                p->timer_prev = p->state;
                p->flags |= EPF_REPLIED;
                set_state(E, f, R, TCPS_ST_CLOSED, TCPS_R_NO_SOCKET, now);
            }
        } else {
            receive(E, f, R, s, now);
        }
    }
    /* one-pass: a rollback undoes a tentative receipt only while the
     * receiver is still in the state it led to (a receipt that changed
     * nothing, or any later change, leaves nothing to undo) */
    if (took) {
        p->tent_after = p->state;
        if (p->state == p->tent_state)
            p->tent = TENT_NONE;
    }

    /* 4. bookkeeping and annotations */
    /* half-close: data sent while the peer's FIN is acknowledged */
    if (s->len > 0 && !(fl & TCPS_F_RST) && (p->flags & EPF_FIN) &&
        p->state == TCPS_ST_FIN_WAIT_2 && !f->half) {
        f->half = (uint8_t)(R + 1);
        event(r, TCPS_EV_HALF_CLOSE, (unsigned)R);
    }
    x->last_tx = now;
    x->last_ord = ord;
    x->pkts++;
    x->bytes += s->len;
    f->last_ts = now;
    f->last_ord = ord;
    tcps_zeek_packet(&f->z, S == TCPS_CLIENT, fl, s->seq, s->ack, s->len, s->window);

    for (int i = 0; i < 2; i++) {
        ep *y = &f->e[i];
        r->state[i] = y->state;
        r->reason[i] = E->cur_reason[i];
        r->time_in_state_ns[i] = now > y->since ? now - y->since : 0;
        r->timer_at_ns[i] = E->cur_timer_at[i];
        r->orphan[i] = y->orphan;
        r->orphan_ev[i] = y->orphan_ev;
        if (y->state == TCPS_ST_CLOSE_WAIT && !f->cw_warned &&
            r->time_in_state_ns[i] >= E->cfg.close_wait_warn_ns) {
            f->cw_warned = 1;
            event(r, TCPS_EV_CLOSE_WAIT_LONG, (unsigned)i);
        }
    }
    /* the sender's state as it sent this: a segment whose ACK does not cover
     * the peer's FIN left before that FIN was processed (they crossed) */
    if (!(fl & TCPS_F_RST) && (fl & TCPS_F_ACK) && (x->flags & EPF_GOT_FIN) &&
        (p->flags & EPF_FIN) && SEQ_LT(s->ack, p->fin_seq + 1)) {
        uint8_t before = x->state == TCPS_ST_CLOSING      ? TCPS_ST_FIN_WAIT_1
                         : x->state == TCPS_ST_CLOSE_WAIT ? TCPS_ST_ESTABLISHED
                         : x->state == TCPS_ST_TIME_WAIT  ? TCPS_ST_FIN_WAIT_2
                                                          : x->state;
        if (before != x->state) {
            r->state[S] = before;
            r->prev_state[S] = before;
            r->reason[S] = TCPS_R_NONE;
        }
    }
    if (f->half) {
        int a = f->half - 1;
        if ((f->e[a].state == TCPS_ST_FIN_WAIT_2 || f->e[a].state == TCPS_ST_FIN_WAIT_1) &&
            f->e[!a].state == TCPS_ST_CLOSE_WAIT)
            r->half_closed = f->half;
    }
    r->phase = phase_of(f);
    r->close_kind = f->close_kind;
    if (E->cfg.two_pass) {
        uint8_t packed = (uint8_t)(r->state[0] | (r->state[1] << 4));
        if (E->pass == 1) {
            if (ord >= E->p1cap) {
                size_t nc = E->p1cap ? E->p1cap * 2 : 4096;
                while (nc <= ord)
                    nc *= 2;
                uint8_t *n = realloc(E->p1, nc);
                if (n) {
                    E->p1 = n;
                    E->p1cap = nc;
                    mem_note(E);
                }
            }
            if (ord < E->p1cap)
                E->p1[ord] = packed;
        } else if (ord < E->p1cap) {
            r->revised = E->p1[ord] != packed;
        }
    }
    E->ord++;
    if (E->pass == 2 && (evf & EVF_END_EVICTED))
        f->evicted = 1; /* as in pass 1 */
    if (E->pass == 2 && (evf & EVF_CONN_END))
        finalize(E, (uint32_t)(f - E->flows) + 1, end_aux > now ? end_aux : now,
                 (evf & EVF_END_REUSE) != 0);
    return 0;
}

/* ---- lifecycle ------------------------------------------------------------- */
void tcps_config_default(tcps_config *c)
{
    memset(c, 0, sizeof *c);
    c->profile = *tcps_profile_at(0);
    c->max_flows = 262144;
    c->close_wait_warn_ns = MS(60000);
}

static int engine_reset(tcps_engine *E)
{
    free(E->slots);
    E->slots = calloc(1024, sizeof *E->slots);
    if (!E->slots)
        return -1;
    E->slot_mask = 1023;
    E->nlive = 0;
    E->free_head = 0;
    for (uint32_t i = E->cap; i > 0; i--) {
        E->flows[i - 1].lru_next = E->free_head;
        E->flows[i - 1].id = 0;
        E->free_head = i;
    }
    E->lru_head = E->lru_tail = 0;
    E->next_id = 0;
    E->ord = 0;
    E->max_ts = E->end_ts;
    return 0;
}

tcps_engine *tcps_engine_new(const tcps_config *c)
{
    if (!c || c->max_flows == 0)
        return NULL;
    tcps_engine *E = calloc(1, sizeof *E);
    if (!E)
        return NULL;
    E->cfg = *c;
    if (E->cfg.profile.rto_max_ms == 0)
        E->cfg.profile.rto_max_ms = 120000;
    if (E->cfg.profile.rto_min_ms == 0)
        E->cfg.profile.rto_min_ms = 200;
    if (E->cfg.profile.rto_init_ms == 0)
        E->cfg.profile.rto_init_ms = 1000;
    E->pass = 1;
    E->syn_giveup = tcps_profile_syn_giveup_ns(&E->cfg.profile);
    E->synack_giveup = tcps_profile_synack_giveup_ns(&E->cfg.profile);
    if (engine_reset(E)) {
        free(E);
        return NULL;
    }
    mem_note(E);
    return E;
}

void tcps_engine_free(tcps_engine *E)
{
    if (!E)
        return;
    free(E->flows);
    free(E->slots);
    free(E->ev);
    free(E->p1);
    free(E);
}

static void finish_all(tcps_engine *E)
{
    while (E->lru_tail)
        finalize(E, E->lru_tail, E->max_ts, 0);
}

int tcps_engine_begin_pass2(tcps_engine *E)
{
    if (!E || !E->cfg.two_pass || E->pass != 1)
        return -1;
    finish_all(E);
    E->end_ts = E->max_ts;
    if (E->nev) /* no evidence: E->ev may be NULL */
        qsort(E->ev, E->nev, sizeof *E->ev, ev_cmp);
    E->evcur = 0;
    E->pass = 2;
    return engine_reset(E);
}

void tcps_engine_note_time(tcps_engine *E, uint64_t ts)
{
    if (E && ts > E->max_ts)
        E->max_ts = ts;
}

void tcps_engine_finish(tcps_engine *E)
{
    if (E)
        finish_all(E);
}

int tcps_engine_flow_summary(const tcps_engine *E, uint32_t id, tcps_flow_summary *s)
{
    if (!E || id == 0)
        return -1;
    /* the connection of the segment just fed is at the head of the LRU */
    if (E->lru_head && E->flows[E->lru_head - 1].id == id) {
        fill_summary(&E->flows[E->lru_head - 1], E->max_ts, s);
        return 0;
    }
    for (uint32_t i = 0; i < E->cap; i++)
        if (E->flows[i].id == id) {
            fill_summary(&E->flows[i], E->max_ts, s);
            return 0;
        }
    return -1;
}
