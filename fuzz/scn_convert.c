#define _POSIX_C_SOURCE 200809L
/*
 * Scenario files (tests/scenarios/ files) -> fuzz inputs: the scenario's
 * profile, overrides, 4-tuples and segments, exactly, in the encoding of
 * fuzz_input.h.  The result is decoded again and compared with the
 * scenario, so a drift between encoder and decoder is an error.
 */
#include "scn_convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int addr_index(uint8_t seen[][16], int *nseen, const uint8_t a[16])
{
    for (int i = 0; i < *nseen; i++)
        if (!memcmp(seen[i], a, 16))
            return i + 1;
    if (*nseen >= 254)
        return -1;
    memcpy(seen[*nseen], a, 16);
    return ++*nseen;
}

/* "set K=V ..." lines, as the scenario parser reads them */
static int write_overrides(fz_writer *w, const char *path, char *err, size_t errcap)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errcap, "%s: cannot open", path);
        return -1;
    }
    const char *const *keys = tcps_profile_keys();
    uint8_t kidx[FZ_MAX_OVERRIDES];
    uint32_t vals[FZ_MAX_OVERRIDES];
    int n = 0;
    char line[1024];
    while (fgets(line, sizeof line, fp)) {
        char *h = strchr(line, '#');
        if (h)
            *h = '\0';
        char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok || strcmp(tok, "set") != 0)
            continue;
        while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
            char *eq = strchr(tok, '=');
            if (!eq)
                continue;
            *eq = '\0';
            int k = -1;
            for (int i = 0; keys[i]; i++)
                if (strcmp(keys[i], tok) == 0)
                    k = i;
            char *end;
            unsigned long v = strtoul(eq + 1, &end, 10);
            if (k < 0 || *end || v > 0xffffffffUL || n == FZ_MAX_OVERRIDES) {
                fclose(fp);
                snprintf(err, errcap, "%s: cannot encode set %s", path, tok);
                return -1;
            }
            kidx[n] = (uint8_t)k;
            vals[n++] = (uint32_t)v;
        }
    }
    fclose(fp);
    fz_w_u8(w, (uint8_t)n);
    for (int i = 0; i < n; i++) {
        fz_w_u8(w, kidx[i]);
        fz_w_u32(w, vals[i]);
    }
    return 0;
}

static int seg_equal(const tcps_segment *a, const tcps_segment *b)
{
    const tcps_options *x = &a->opt, *y = &b->opt;
    if (a->ts_ns != b->ts_ns || a->af != b->af || a->sport != b->sport || a->dport != b->dport ||
        a->flags != b->flags || a->seq != b->seq || a->ack != b->ack || a->len != b->len ||
        a->window != b->window || x->present != y->present || x->wscale != y->wscale ||
        x->mss != y->mss || x->nsack != y->nsack || x->tsval != y->tsval || x->tsecr != y->tsecr)
        return 0;
    for (unsigned i = 0; i < x->nsack && i < 4; i++)
        if (x->sack[i][0] != y->sack[i][0] || x->sack[i][1] != y->sack[i][1])
            return 0;
    return 1;
}

static int profile_equal(const tcps_profile *a, const tcps_profile *b)
{
    return !strcmp(a->name, b->name) && a->syn_retries == b->syn_retries &&
           a->syn_linear == b->syn_linear && a->synack_retries == b->synack_retries &&
           a->orphan_retries == b->orphan_retries && a->retries2 == b->retries2 &&
           a->ka_probes == b->ka_probes && a->rto_init_ms == b->rto_init_ms &&
           a->rto_min_ms == b->rto_min_ms && a->rto_max_ms == b->rto_max_ms &&
           a->fin_timeout_ms == b->fin_timeout_ms && a->timewait_ms == b->timewait_ms &&
           a->ka_time_ms == b->ka_time_ms && a->ka_intvl_ms == b->ka_intvl_ms &&
           a->rfc1337 == b->rfc1337 && a->model_budget == b->model_budget;
}

int scn_to_fuzz(const scenario *sc, int two_pass, uint8_t **out, size_t *outlen, char *err,
                size_t errcap)
{
    *out = NULL;
    *outlen = 0;
    if (sc->nflows > FZ_NTUPLES) {
        snprintf(err, errcap, "%s: %d flows, the encoding has %d", sc->path, sc->nflows, FZ_NTUPLES);
        return -1;
    }
    unsigned prof = 0;
    for (size_t i = 0; i < tcps_profile_count(); i++)
        if (!strcmp(tcps_profile_at(i)->name, sc->profile.name))
            prof = (unsigned)i;
    fz_writer w;
    fz_w_init(&w);
    fz_w_header(&w, prof, two_pass, 7 /* 262144: the default */, 1, 1, 60, 0);
    if (write_overrides(&w, sc->path, err, errcap)) {
        fz_w_free(&w);
        return -1;
    }
    uint8_t seen[256][16];
    int nseen = 0;
    fz_w_u8(&w, (uint8_t)sc->nflows);
    for (int f = 0; f < sc->nflows; f++) {
        const scn_flow *fl = &sc->flows[f];
        int a = addr_index(seen, &nseen, fl->addr[0]), b = addr_index(seen, &nseen, fl->addr[1]);
        if (a < 0 || b < 0) {
            fz_w_free(&w);
            snprintf(err, errcap, "%s: too many addresses", sc->path);
            return -1;
        }
        fz_w_u8(&w, fl->af == 6 ? 1 : 0);
        fz_w_u16(&w, fl->port[0]);
        fz_w_u16(&w, fl->port[1]);
        fz_w_u8(&w, (uint8_t)a);
        fz_w_u8(&w, (uint8_t)b);
    }
    for (int i = 0; i < sc->npkts; i++) {
        const scn_packet *pk = &sc->pkts[i];
        const scn_flow *fl = &sc->flows[pk->flow];
        unsigned alen = fl->af == 6 ? 16 : 4;
        int dir = !(pk->seg.sport == fl->port[0] && !memcmp(pk->seg.src, fl->addr[0], alen));
        if (fz_w_segment(&w, (unsigned)pk->flow, dir, &pk->seg)) {
            fz_w_free(&w);
            snprintf(err, errcap, "%s:%d: cannot encode this packet", sc->path, pk->line);
            return -1;
        }
    }
    /* tests/scenario_main.c notes the end before pass 2 and before finish;
     * without `end`, time 0 (no effect) */
    uint64_t end_ns = sc->end >= 0 ? (uint64_t)(sc->end * 1e9 + 0.5) : 0;
    if (end_ns && fz_w_note_time(&w, end_ns)) {
        fz_w_free(&w);
        snprintf(err, errcap, "%s: cannot encode end %.9f", sc->path, sc->end);
        return -1;
    }
    if (w.err) {
        fz_w_free(&w);
        snprintf(err, errcap, "out of memory");
        return -1;
    }

    /* decode it again: the same configuration and segments */
    fz_program p;
    if (fz_decode(w.buf, w.len, &p)) {
        fz_w_free(&w);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int bad = 0, k = 0;
    if (!profile_equal(&p.cfg.profile, &sc->profile) || p.cfg.two_pass != two_pass ||
        p.cfg.max_flows != 262144)
        bad = 1;
    for (int i = 0; i < p.nops && !bad; i++) {
        const fz_op *op = &p.ops[i];
        if (op->kind == FZ_OP_NOTE_TIME) {
            bad = op->ts != end_ns || i != p.nops - 1;
            continue;
        }
        if (op->kind != FZ_OP_SEG || k >= sc->npkts) {
            bad = 1;
            break;
        }
        /* addresses are renumbered; the rest is exact */
        if (!seg_equal(&op->seg, &sc->pkts[k].seg) || op->tuple != sc->pkts[k].flow)
            bad = 1;
        k++;
    }
    if (k != sc->npkts)
        bad = 1;
    fz_free(&p);
    if (bad) {
        fz_w_free(&w);
        snprintf(err, errcap, "%s: the fuzz encoding does not give the scenario back (packet %d)",
                 sc->path, k + 1);
        return -1;
    }
    *out = w.buf;
    *outlen = w.len;
    return 0;
}
