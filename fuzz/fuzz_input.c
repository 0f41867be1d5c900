/* The engine fuzzer's input encoding: see fuzz_input.h and fuzz/README.md. */
#include "fuzz_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_GT(a, b) ((int32_t)((uint32_t)(b) - (uint32_t)(a)) < 0)

const size_t fz_max_flows[8] = {1, 2, 3, 4, 8, 64, 1024, 262144};
static const uint32_t isn_bases[4] = {1000, 0xfffff000u, 0, 0x7ffffff0u};

void fz_tuple_addr(uint8_t af, uint8_t last, uint8_t out[16])
{
    memset(out, 0, 16);
    if (af == 6) {
        out[0] = 0x20, out[1] = 0x01, out[2] = 0x0d, out[3] = 0xb8;
        out[15] = last;
    } else {
        out[0] = 10, out[3] = last;
    }
}

/* Default tuples: ordinary client/server pairs, no well-known port, equal
 * ports, a self-connect (same address and port on both ends), IPv6, and
 * IPv6 whose first four address bytes equal an IPv4 tuple's. */
static void default_tuples(fz_program *p)
{
    static const struct { uint8_t af, a, b; uint16_t pa, pb; } d[FZ_NTUPLES] = {
        {4, 1, 2, 40000, 80}, {4, 1, 2, 40001, 80}, {4, 3, 2, 2000, 3000}, {4, 1, 2, 80, 80},
        {4, 4, 4, 5000, 5000}, {6, 1, 2, 40000, 443}, {6, 0, 0, 40000, 80}};
    for (int t = 0; t < FZ_NTUPLES; t++) {
        fz_tuple *x = &p->tuples[t];
        x->af = d[t].af;
        fz_tuple_addr(d[t].af, d[t].a, x->addr[0]);
        fz_tuple_addr(d[t].af, d[t].b, x->addr[1]);
        if (t == 6) { /* 10.0.0.1 / 10.0.0.2 in the first bytes of an IPv6 address */
            memset(x->addr, 0, sizeof x->addr);
            x->addr[0][0] = x->addr[1][0] = 10;
            x->addr[0][3] = 1;
            x->addr[1][3] = 2;
        }
        x->port[0] = d[t].pa;
        x->port[1] = d[t].pb;
    }
    p->ntuples = FZ_NTUPLES;
}

typedef struct rd {
    const uint8_t *d;
    size_t n, i;
    int eof;
} rd;

static uint32_t get(rd *r, int bytes)
{
    uint32_t v = 0;
    if (r->i + (size_t)bytes > r->n) {
        r->eof = 1;
        r->i = r->n;
        return 0;
    }
    for (int k = 0; k < bytes; k++)
        v |= (uint32_t)r->d[r->i++] << (8 * k);
    return v;
}

int fz_decode(const uint8_t *data, size_t size, fz_program *p)
{
    memset(p, 0, sizeof *p);
    p->ops = calloc(FZ_MAX_OPS, sizeof *p->ops);
    if (!p->ops)
        return -1;
    rd r = {data, size, 0, 0};
    tcps_config_default(&p->cfg);
    uint8_t h0 = (uint8_t)get(&r, 1), h1 = (uint8_t)get(&r, 1);
    p->cfg.profile = *tcps_profile_at((h0 & FZ_H0_PROFILE) % tcps_profile_count());
    p->cfg.two_pass = (h0 & FZ_H0_TWO_PASS) != 0;
    p->cfg.max_flows = fz_max_flows[(h0 & FZ_H0_MAXFLOWS) >> 3];
    p->cfg.close_wait_warn_ns = (uint64_t)(h1 & 63) * 1000000000ull;
    uint32_t isn = isn_bases[h1 >> 6];
    if (h0 & FZ_H0_OVERRIDES) {
        const char *const *keys = tcps_profile_keys();
        unsigned nkeys = 0;
        while (keys[nkeys])
            nkeys++;
        unsigned n = get(&r, 1);
        for (unsigned k = 0; k < n && k < FZ_MAX_OVERRIDES && !r.eof; k++) {
            unsigned key = get(&r, 1) % nkeys;
            uint32_t v = get(&r, 4);
            char buf[16];
            snprintf(buf, sizeof buf, "%u", v);
            if (!r.eof)
                tcps_profile_set(&p->cfg.profile, keys[key], buf); /* bad values ignored */
        }
    }
    default_tuples(p);
    if (h0 & FZ_H0_TUPLES) {
        unsigned n = get(&r, 1) % (FZ_NTUPLES + 1);
        for (unsigned t = 0; t < n && !r.eof; t++) {
            fz_tuple *x = &p->tuples[t];
            uint8_t fl = (uint8_t)get(&r, 1);
            x->af = (fl & 1) ? 6 : 4;
            x->port[0] = (uint16_t)get(&r, 2);
            x->port[1] = (uint16_t)get(&r, 2);
            fz_tuple_addr(x->af, (uint8_t)get(&r, 1), x->addr[0]);
            fz_tuple_addr(x->af, (uint8_t)get(&r, 1), x->addr[1]);
        }
        if (n)
            p->ntuples = (int)n;
    }
    uint32_t nxt[FZ_NTUPLES][2];
    for (int t = 0; t < FZ_NTUPLES; t++)
        for (int d = 0; d < 2; d++)
            nxt[t][d] = isn + (uint32_t)t * 0x100u - (uint32_t)d * 0x800u;

    uint64_t clock = 0;
    while (!r.eof && r.i < r.n && p->nops < FZ_MAX_OPS) {
        uint8_t c = (uint8_t)get(&r, 1);
        fz_op op;
        memset(&op, 0, sizeof op);
        if ((c & FZ_C_TUPLE) == 7) {
            unsigned cb = get(&r, 1);
            unsigned cmd = cb >= 0xfc ? FZ_CMD_BURST : cb % FZ_CMD_BURST;
            switch (cmd) {
            case FZ_CMD_ADVANCE:
                clock += (uint64_t)get(&r, 4) * 1000000ull;
                continue;
            case FZ_CMD_NOTE_TIME:
                op.kind = FZ_OP_NOTE_TIME;
                op.ts = clock + (uint64_t)get(&r, 4) * 1000ull; /* microseconds */
                break;
            case FZ_CMD_BAD_AF:
                op.kind = FZ_OP_BAD_AF;
                op.seg.af = (uint8_t)get(&r, 1);
                if (op.seg.af == 4 || op.seg.af == 6)
                    op.seg.af = 0;
                op.seg.ts_ns = clock;
                break;
            case FZ_CMD_SUMMARY:
                op.kind = FZ_OP_SUMMARY;
                op.id = get(&r, 1);
                break;
            default: {
                /* a burst: up to 256 segments with these flags, 1 us apart,
                 * each from the next client port of a tuple: many
                 * connections (hash index growth, eviction) from few bytes */
                unsigned t = get(&r, 1) % (unsigned)p->ntuples, n = get(&r, 1) + 1u;
                uint8_t fl = (uint8_t)get(&r, 1);
                uint32_t seq = get(&r, 4);
                if (r.eof)
                    break;
                const fz_tuple *x = &p->tuples[t];
                for (unsigned k = 0; k < n && p->nops < FZ_MAX_OPS; k++) {
                    fz_op *b = &p->ops[p->nops++];
                    memset(b, 0, sizeof *b);
                    b->kind = FZ_OP_SEG;
                    b->tuple = (uint8_t)t;
                    b->burst = 1;
                    tcps_segment *g = &b->seg;
                    clock += 1000;
                    g->ts_ns = clock;
                    g->af = x->af;
                    memcpy(g->src, x->addr[0], 16);
                    memcpy(g->dst, x->addr[1], 16);
                    g->sport = (uint16_t)(x->port[0] + 1 + k);
                    g->dport = x->port[1];
                    g->flags = fl;
                    g->seq = seq + k * 7919u;
                    g->ack = seq ^ 0x5a5a5a5au;
                    g->window = 1024;
                }
                continue;
            }
            }
            if (r.eof)
                break;
            p->ops[p->nops++] = op;
            continue;
        }
        unsigned t = (c & FZ_C_TUPLE) % (unsigned)p->ntuples;
        int d = (c & FZ_C_DIR) ? 1 : 0;
        tcps_segment *g = &op.seg;
        op.kind = FZ_OP_SEG;
        op.tuple = (uint8_t)t;
        g->flags = (uint8_t)get(&r, 1);
        switch ((c & FZ_C_TIME) >> 4) {
        case FZ_T_MS8: clock += (uint64_t)get(&r, 1) * 1000000ull; break;
        case FZ_T_MS16: clock += (uint64_t)get(&r, 2) * 1000000ull; break;
        case FZ_T_DS16: clock += (uint64_t)get(&r, 2) * 100000000ull; break;
        default: {
            uint32_t v = get(&r, 4);
            uint64_t us = (uint64_t)(v & 0x7fffffffu) * 1000ull;
            if (v & 0x80000000u) /* time going backwards (reordered capture) */
                clock = clock > us ? clock - us : 0;
            else
                clock += us;
        }
        }
        if (c & FZ_C_RAWSEQ) {
            g->seq = get(&r, 4);
            g->ack = get(&r, 4);
        } else {
            int8_t sd = (int8_t)get(&r, 1), ad = (int8_t)get(&r, 1);
            g->seq = nxt[t][d] + (uint32_t)(int32_t)sd;
            if (sd == -128) /* a new sequence space (another ISN) */
                g->seq = nxt[t][d] + 0x01000000u;
            g->ack = nxt[t][!d] + (uint32_t)(int32_t)ad;
        }
        uint8_t lb = (uint8_t)get(&r, 1);
        g->len = lb < 0xf0 ? lb : lb < 0xff ? (uint32_t)(lb - 0xef) * 1000u : get(&r, 4);
        uint8_t wb = (uint8_t)get(&r, 1);
        g->window = wb == 255 ? (uint16_t)get(&r, 2) : (uint16_t)(wb << 8);
        if (c & FZ_C_OPTS) {
            tcps_options *o = &g->opt;
            o->present = (uint8_t)get(&r, 1);
            if (o->present & TCPS_OPT_MSS)
                o->mss = (uint16_t)get(&r, 2);
            if (o->present & TCPS_OPT_WSCALE)
                o->wscale = (uint8_t)get(&r, 1);
            if (o->present & TCPS_OPT_SACK) {
                o->nsack = (uint8_t)(get(&r, 1) % 5);
                for (unsigned k = 0; k < o->nsack; k++) {
                    o->sack[k][0] = get(&r, 4);
                    o->sack[k][1] = get(&r, 4);
                }
            }
            if (o->present & TCPS_OPT_TS) {
                o->tsval = get(&r, 4);
                o->tsecr = get(&r, 4);
            }
        }
        if (r.eof)
            break;
        const fz_tuple *x = &p->tuples[t];
        g->ts_ns = clock;
        g->af = x->af;
        memcpy(g->src, x->addr[d], 16);
        memcpy(g->dst, x->addr[!d], 16);
        g->sport = x->port[d];
        g->dport = x->port[!d];
        uint32_t end = g->seq + g->len + ((g->flags & TCPS_F_SYN) ? 1u : 0u) +
                       ((g->flags & TCPS_F_FIN) ? 1u : 0u);
        if ((g->flags & TCPS_F_SYN) || SEQ_GT(end, nxt[t][d]))
            nxt[t][d] = end;
        p->ops[p->nops++] = op;
    }
    return 0;
}

void fz_free(fz_program *p)
{
    free(p->ops);
    p->ops = NULL;
}

/* ---- writing ------------------------------------------------------------------ */
void fz_w_init(fz_writer *w) { memset(w, 0, sizeof *w); }
void fz_w_free(fz_writer *w) { free(w->buf); memset(w, 0, sizeof *w); }

void fz_w_u8(fz_writer *w, uint8_t v)
{
    if (w->len == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 256;
        uint8_t *n = realloc(w->buf, nc);
        if (!n) {
            w->err = 1;
            return;
        }
        w->buf = n;
        w->cap = nc;
    }
    w->buf[w->len++] = v;
}
void fz_w_u16(fz_writer *w, uint16_t v) { fz_w_u8(w, (uint8_t)v); fz_w_u8(w, (uint8_t)(v >> 8)); }
void fz_w_u32(fz_writer *w, uint32_t v) { fz_w_u16(w, (uint16_t)v); fz_w_u16(w, (uint16_t)(v >> 16)); }

void fz_w_header(fz_writer *w, unsigned profile, int two_pass, unsigned maxflows_idx,
                 int overrides, int tuples, unsigned cw_secs, unsigned isn_base)
{
    fz_w_u8(w, (uint8_t)((profile & 3) | (two_pass ? FZ_H0_TWO_PASS : 0) | ((maxflows_idx & 7) << 3) |
                         (overrides ? FZ_H0_OVERRIDES : 0) | (tuples ? FZ_H0_TUPLES : 0)));
    fz_w_u8(w, (uint8_t)((cw_secs & 63) | ((isn_base & 3) << 6)));
    for (int t = 0; t < FZ_NTUPLES; t++)
        for (int d = 0; d < 2; d++)
            w->nxt[t][d] = isn_bases[isn_base & 3] + (uint32_t)t * 0x100u - (uint32_t)d * 0x800u;
}

/* Advance the clock to ts with ADVANCE commands (whole ms) and return the
 * rest (< 1 ms, or what a time field can carry). */
static int w_clock_to(fz_writer *w, uint64_t ts, uint64_t *rest)
{
    if (ts < w->clock)
        return -1;
    uint64_t d = ts - w->clock;
    while (d > 2000000000ull) { /* US32 carries up to ~2147 s */
        uint64_t ms = d / 1000000ull - 1;
        if (ms > 0xffffffffull)
            ms = 0xffffffffull;
        fz_w_u8(w, 7);
        fz_w_u8(w, FZ_CMD_ADVANCE);
        fz_w_u32(w, (uint32_t)ms);
        w->clock += ms * 1000000ull;
        d = ts - w->clock;
    }
    *rest = d;
    return 0;
}

int fz_w_segment(fz_writer *w, unsigned t, int dir, const tcps_segment *g)
{
    uint64_t d;
    if (t >= FZ_NTUPLES || w_clock_to(w, g->ts_ns, &d))
        return -1;
    unsigned mode;
    if (d % 1000000ull == 0 && d / 1000000ull <= 255)
        mode = FZ_T_MS8;
    else if (d % 1000000ull == 0 && d / 1000000ull <= 65535)
        mode = FZ_T_MS16;
    else if (d % 100000000ull == 0 && d / 100000000ull <= 65535)
        mode = FZ_T_DS16;
    else if (d % 1000ull == 0 && d / 1000ull <= 0x7fffffffull)
        mode = FZ_T_US32;
    else
        return -1; /* finer than a microsecond */
    int opts = g->opt.present != 0;
    fz_w_u8(w, (uint8_t)(t | (dir ? FZ_C_DIR : 0) | (mode << 4) | FZ_C_RAWSEQ | (opts ? FZ_C_OPTS : 0)));
    fz_w_u8(w, g->flags);
    switch (mode) {
    case FZ_T_MS8: fz_w_u8(w, (uint8_t)(d / 1000000ull)); break;
    case FZ_T_MS16: fz_w_u16(w, (uint16_t)(d / 1000000ull)); break;
    case FZ_T_DS16: fz_w_u16(w, (uint16_t)(d / 100000000ull)); break;
    default: fz_w_u32(w, (uint32_t)(d / 1000ull)); break;
    }
    w->clock = g->ts_ns;
    fz_w_u32(w, g->seq);
    fz_w_u32(w, g->ack);
    if (g->len < 0xf0) {
        fz_w_u8(w, (uint8_t)g->len);
    } else {
        fz_w_u8(w, 0xff);
        fz_w_u32(w, g->len);
    }
    if (g->window % 256 == 0 && g->window / 256 < 255) {
        fz_w_u8(w, (uint8_t)(g->window / 256));
    } else {
        fz_w_u8(w, 255);
        fz_w_u16(w, g->window);
    }
    if (opts) {
        const tcps_options *o = &g->opt;
        if (o->nsack > 4)
            return -1;
        fz_w_u8(w, o->present);
        if (o->present & TCPS_OPT_MSS)
            fz_w_u16(w, o->mss);
        if (o->present & TCPS_OPT_WSCALE)
            fz_w_u8(w, o->wscale);
        if (o->present & TCPS_OPT_SACK) {
            fz_w_u8(w, o->nsack);
            for (unsigned k = 0; k < o->nsack; k++) {
                fz_w_u32(w, o->sack[k][0]);
                fz_w_u32(w, o->sack[k][1]);
            }
        }
        if (o->present & TCPS_OPT_TS) {
            fz_w_u32(w, o->tsval);
            fz_w_u32(w, o->tsecr);
        }
    }
    uint32_t end = g->seq + g->len + ((g->flags & TCPS_F_SYN) ? 1u : 0u) +
                   ((g->flags & TCPS_F_FIN) ? 1u : 0u);
    if ((g->flags & TCPS_F_SYN) || SEQ_GT(end, w->nxt[t][dir]))
        w->nxt[t][dir] = end;
    return w->err ? -1 : 0;
}

int fz_w_note_time(fz_writer *w, uint64_t ts)
{
    uint64_t d;
    if (w_clock_to(w, ts, &d) || d % 1000ull)
        return -1;
    fz_w_u8(w, 7);
    fz_w_u8(w, FZ_CMD_NOTE_TIME);
    fz_w_u32(w, (uint32_t)(d / 1000ull));
    return w->err ? -1 : 0;
}
