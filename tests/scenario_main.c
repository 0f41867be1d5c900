/* tcpstate-scenario: run scenario files through the engine in one-pass and
 * two-pass mode and check every expectation.
 *   tcpstate-scenario [-v] FILE.scn...
 * Exit 0 when every expectation holds, 1 otherwise, 2 on a bad file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "tcpstate/tcpstate.h"

typedef struct summaries {
    tcps_flow_summary *v;
    int n, cap;
} summaries;

static void on_end(const tcps_flow_summary *s, void *user)
{
    summaries *S = user;
    if (S->n == S->cap) {
        S->cap = S->cap ? S->cap * 2 : 16;
        tcps_flow_summary *n = realloc(S->v, (size_t)S->cap * sizeof *n);
        if (!n) {
            perror("realloc");
            exit(2);
        }
        S->v = n;
    }
    S->v[S->n++] = *s;
}

static const char *orphan_name(unsigned o)
{
    return o == TCPS_ORPHAN_YES ? "yes" : o == TCPS_ORPHAN_NO ? "no" : "unknown";
}

static int has_event(const tcps_result *r, const char *name)
{
    for (unsigned e = 0; e < TCPS_EV_COUNT; e++)
        if (strcmp(tcps_event_id_name(e), name) == 0)
            return (r->events >> e) & 1u;
    return -1;
}

/* The value the engine gives for `key` on a packet, as text. */
static int packet_value(const tcps_result *r, const char *key, const char *want, char *got,
                        size_t cap)
{
    if (!strcmp(key, "client") || !strcmp(key, "server"))
        snprintf(got, cap, "%s", tcps_state_name(r->state[key[0] == 's']));
    else if (!strcmp(key, "from"))
        snprintf(got, cap, "%s", r->from == TCPS_CLIENT ? "client" : "server");
    else if (!strcmp(key, "phase"))
        snprintf(got, cap, "%s", tcps_phase_name(r->phase));
    else if (!strcmp(key, "rtx")) {
        if (r->rtx_kind == TCPS_RTX_NONE)
            snprintf(got, cap, "NONE");
        else
            snprintf(got, cap, "%s:%u", tcps_rtx_kind_id(r->rtx_kind), r->rtx_index);
    } else if (!strcmp(key, "sched"))
        snprintf(got, cap, "%s", r->rtx_sched ? tcps_sched_id(r->rtx_sched) : "NONE");
    else if (!strcmp(key, "budget"))
        snprintf(got, cap, "%u", r->rtx_budget);
    else if (!strcmp(key, "ka"))
        snprintf(got, cap, "%u", r->ka_index);
    else if (!strcmp(key, "ka_ack"))
        snprintf(got, cap, "%u", r->ka_ack);
    else if (!strcmp(key, "ka_unanswered"))
        snprintf(got, cap, "%u", r->ka_unanswered);
    else if (!strcmp(key, "timer_index"))
        snprintf(got, cap, "%u", r->rtx_timer_index);
    else if (!strcmp(key, "zwp"))
        snprintf(got, cap, "%u", r->zwp_index);
    else if (!strcmp(key, "rst"))
        snprintf(got, cap, "%s", tcps_rst_cause_id(r->rst_cause));
    else if (!strcmp(key, "orphan.client") || !strcmp(key, "orphan.server"))
        snprintf(got, cap, "%s", orphan_name(r->orphan[key[7] == 's']));
    else if (!strcmp(key, "half_closed"))
        snprintf(got, cap, "%s", r->half_closed == 0 ? "none"
                                 : r->half_closed == 1 ? "client"
                                                       : "server");
    else if (!strcmp(key, "delivered"))
        snprintf(got, cap, "%u", r->delivered);
    else if (!strcmp(key, "event") || !strcmp(key, "noevent")) {
        int h = has_event(r, want);
        if (h < 0)
            return -1;
        int ok = key[0] == 'e' ? h : !h;
        snprintf(got, cap, "%s", ok ? want : (key[0] == 'e' ? "(absent)" : "(present)"));
    } else if (!strcmp(key, "guessed"))
        snprintf(got, cap, "%u", r->roles_guessed);
    else if (!strcmp(key, "conn"))
        snprintf(got, cap, "%u", r->conn_index);
    else if (!strcmp(key, "port_reuse"))
        snprintf(got, cap, "%u", r->port_reuse);
    else if (!strcmp(key, "revised"))
        snprintf(got, cap, "%u", r->revised);
    else
        return -1;
    return 0;
}

static int final_value(const tcps_flow_summary *s, const char *key, char *got, size_t cap)
{
    if (!strcmp(key, "client") || !strcmp(key, "server"))
        snprintf(got, cap, "%s", tcps_state_name(s->final_state[key[0] == 's']));
    else if (!strcmp(key, "conn_state"))
        snprintf(got, cap, "%s", tcps_conn_state_name(s->conn_state));
    else if (!strcmp(key, "history"))
        snprintf(got, cap, "%s", s->history);
    else if (!strcmp(key, "close"))
        snprintf(got, cap, "%s", tcps_close_id(s->close_kind));
    else if (!strcmp(key, "orphan.client") || !strcmp(key, "orphan.server"))
        snprintf(got, cap, "%s", orphan_name(s->orphan[key[7] == 's']));
    else if (!strcmp(key, "retrans.client") || !strcmp(key, "retrans.server"))
        snprintf(got, cap, "%u", s->retrans[key[8] == 's']);
    else if (!strcmp(key, "ka.client") || !strcmp(key, "ka.server"))
        snprintf(got, cap, "%u", s->ka_probes[key[3] == 's']);
    else if (!strcmp(key, "evicted"))
        snprintf(got, cap, "%u", s->evicted);
    else
        return -1;
    return 0;
}

static int verbose;

static int run_mode(const scenario *sc, int mode, int *checks)
{
    tcps_config cfg;
    tcps_config_default(&cfg);
    cfg.profile = sc->profile;
    cfg.two_pass = mode == SCN_TWO;
    summaries sums = {0};
    cfg.on_flow_end = on_end;
    cfg.user = &sums;
    tcps_engine *E = tcps_engine_new(&cfg);
    if (!E) {
        fprintf(stderr, "%s: cannot create engine\n", sc->path);
        return 1;
    }
    tcps_result *res = calloc((size_t)sc->npkts, sizeof *res);
    if (!res)
        exit(2);
    uint64_t end_ns = sc->end >= 0 ? (uint64_t)(sc->end * 1e9 + 0.5) : 0;
    for (int pass = 0; pass < (mode == SCN_TWO ? 2 : 1); pass++) {
        if (pass == 1) {
            tcps_engine_note_time(E, end_ns);
            tcps_engine_begin_pass2(E);
        }
        for (int i = 0; i < sc->npkts; i++)
            tcps_engine_feed(E, &sc->pkts[i].seg, &res[i]);
    }
    tcps_engine_note_time(E, end_ns);
    tcps_engine_finish(E);

    int failures = 0;
    const char *mname = mode == SCN_TWO ? "two-pass" : "one-pass";
    if (verbose) {
        for (int i = 0; i < sc->npkts; i++) {
            const tcps_result *r = &res[i];
            printf("  %s line %d: %s C=%s S=%s%s%s rtx=%s:%u %s ka=%u rst=%s\n", mname,
                   sc->pkts[i].line, r->from ? "S>C" : "C>S", tcps_state_name(r->state[0]),
                   tcps_state_name(r->state[1]), r->delivered ? "" : " (not received)",
                   r->revised ? " revised" : "", tcps_rtx_kind_id(r->rtx_kind), r->rtx_index,
                   tcps_sched_id(r->rtx_sched), r->ka_index, tcps_rst_cause_id(r->rst_cause));
        }
    }
    for (int i = 0; i < sc->nexp; i++) {
        const scn_expect *x = &sc->exp[i];
        if (!(x->modes & mode))
            continue;
        char got[96];
        int rc;
        if (x->pkt >= 0) {
            rc = packet_value(&res[x->pkt], x->key, x->value, got, sizeof got);
        } else {
            /* which connection: the flow's last one, or conn=N */
            uint32_t id = 0;
            for (int p = 0; p < sc->npkts; p++)
                if (sc->pkts[p].flow == x->flow &&
                    (x->conn == 0 || res[p].conn_index == x->conn))
                    id = res[p].flow_id;
            const tcps_flow_summary *s = NULL;
            for (int k = 0; k < sums.n; k++)
                if (sums.v[k].flow_id == id)
                    s = &sums.v[k];
            if (!s) {
                printf("FAIL %s:%d: %s: no such connection\n", sc->path, x->line, mname);
                failures++;
                continue;
            }
            rc = final_value(s, x->key, got, sizeof got);
        }
        if (rc < 0) {
            printf("FAIL %s:%d: unknown key %s=%s\n", sc->path, x->line, x->key, x->value);
            failures++;
            continue;
        }
        (*checks)++;
        if (strcmp(got, x->value) != 0) {
            printf("FAIL %s:%d: %s: %s expected %s, got %s\n", sc->path, x->line, mname, x->key,
                   x->value, got);
            failures++;
        }
    }
    free(res);
    free(sums.v);
    tcps_engine_free(E);
    return failures;
}

int main(int argc, char **argv)
{
    int files = 0, bad_files = 0, passed = 0, failed = 0, checks = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) {
            verbose = 1;
            continue;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: tcpstate-scenario [-v] FILE.scn...\n");
            return 0;
        }
        scenario sc;
        char err[600];
        if (scn_load(argv[i], &sc, err, sizeof err)) {
            fprintf(stderr, "tcpstate-scenario: %s\n", err);
            bad_files++;
            continue;
        }
        files++;
        int f = run_mode(&sc, SCN_ONE, &checks) + run_mode(&sc, SCN_TWO, &checks);
        if (f)
            failed++;
        else
            passed++;
        scn_free(&sc);
    }
    if (files + bad_files == 0) {
        fprintf(stderr, "usage: tcpstate-scenario [-v] FILE.scn...\n");
        return 2;
    }
    printf("%d checks\nscenarios: %d passed, %d failed\n", checks, passed, failed + bad_files);
    return bad_files ? 2 : failed ? 1 : 0;
}
