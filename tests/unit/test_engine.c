/* Engine API tests: profiles and budgets (values from the kernel, see
 * linux-tcp-behaviour.md), vocabulary, messages, memory bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/tcpstate.h"

static int passed, failed;
#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (cond)                                                                             \
            passed++;                                                                         \
        else {                                                                                \
            failed++;                                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            printf(__VA_ARGS__);                                                              \
            printf("\n");                                                                     \
        }                                                                                     \
    } while (0)
#define NEAR(a, b, tol) ((a) > (b) - (tol) && (a) < (b) + (tol))

static void test_profiles(void)
{
    const tcps_profile *lx = tcps_profile_find("linux");
    CHECK(lx && tcps_profile_at(0) == lx, "linux is the default profile");
    /* SYNs at 0,1,2,3,4,5,7,11,19,35,67 s, ETIMEDOUT at 131 s */
    CHECK(tcps_profile_syn_budget(lx) == 10, "syn budget %u", tcps_profile_syn_budget(lx));
    CHECK(tcps_profile_syn_giveup_ns(lx) == 131000000000ull, "syn giveup %llu",
          (unsigned long long)tcps_profile_syn_giveup_ns(lx));
    const tcps_profile *old = tcps_profile_find("linux-pre-6.5");
    CHECK(old && tcps_profile_syn_giveup_ns(old) == 127000000000ull, "pre-6.5 syn giveup 127 s");
    CHECK(old && tcps_profile_syn_budget(old) == 6, "pre-6.5 syn budget 6");
    /* TCP_SYNCNT=2 with linear timeouts: 6 SYNs, ETIMEDOUT at 7 s */
    tcps_profile p = *lx;
    CHECK(tcps_profile_set(&p, "syn_retries", "2") == 0, "set syn_retries");
    CHECK(tcps_profile_syn_giveup_ns(&p) == 7000000000ull, "syncnt 2 giveup %llu",
          (unsigned long long)tcps_profile_syn_giveup_ns(&p));
    /* SYN-ACKs at 0,1,3,7,15,31 s, request gone at 63 s; retries=2: 7 s */
    CHECK(tcps_profile_synack_giveup_ns(lx) == 63000000000ull, "synack giveup 63 s");
    p = *lx;
    tcps_profile_set(&p, "synack_retries", "2");
    CHECK(tcps_profile_synack_giveup_ns(&p) == 7000000000ull, "synack retries 2: 7 s");
    /* orphan retries 0 means 8: (2^9 - 1) x 200 ms = 102.2 s */
    CHECK(tcps_profile_orphan_retries(lx) == 8, "orphan retries 0 means 8");
    CHECK(tcps_profile_retry_budget_ns(lx, 8) == 102200000000ull, "orphan budget 102.2 s");
    /* tcp_retries2 15: 924.6 s (RTO capped at 120 s after 9 doublings) */
    CHECK(tcps_profile_retry_budget_ns(lx, 15) == 924600000000ull, "retries2 budget %llu",
          (unsigned long long)tcps_profile_retry_budget_ns(lx, 15));
    CHECK(tcps_profile_retry_budget_ns(lx, 3) == 3000000000ull, "orphan_retries 3: 3 s");
    /* bad settings are refused, the profile unchanged */
    p = *lx;
    CHECK(tcps_profile_set(&p, "no_such_key", "1") == -1, "unknown key refused");
    CHECK(tcps_profile_set(&p, "syn_retries", "-1") == -1, "negative refused");
    CHECK(tcps_profile_set(&p, "syn_retries", "abc") == -1, "non-number refused");
    CHECK(tcps_profile_set(&p, "rfc1337", "2") == -1, "out of range refused");
    CHECK(memcmp(&p, lx, sizeof p) == 0, "profile unchanged by refused settings");
    CHECK(tcps_profile_find("nonesuch") == NULL, "unknown profile");
}

static void test_vocabulary(void)
{
    static const char *const names[] = {"LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED",
                                        "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
                                        "LAST_ACK", "TIME_WAIT", "CLOSED", "UNKNOWN"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int s = tcps_state_from_name(names[i]);
        CHECK(s >= 0 && strcmp(tcps_state_name((unsigned)s), names[i]) == 0, "state %s", names[i]);
    }
    CHECK(tcps_state_from_name("ESTABLISHED ") == -1, "no fuzzy names");
    CHECK(strcmp(tcps_state_name(999), "?") == 0, "out of range");
    CHECK(strcmp(tcps_conn_state_name(TCPS_CS_RSTOS0), "RSTOS0") == 0, "conn_state names");
    for (unsigned e = 0; e < TCPS_EV_COUNT; e++)
        CHECK(tcps_event_template(e)[0] != '\0', "event %u has a message", e);
}

static void test_messages(void)
{
    tcps_config cfg;
    tcps_config_default(&cfg);
    tcps_engine *E = tcps_engine_new(&cfg);
    tcps_result r;
    memset(&r, 0, sizeof r);
    r.rtx_kind = TCPS_RTX_SYN;
    r.rtx_index = 6;
    r.rtx_budget = 10;
    r.rtx_sched = TCPS_SCHED_RTO;
    char buf[200];
    tcps_event_message(E, TCPS_EV_SYN_RETRANS, &r, buf, sizeof buf);
    CHECK(strcmp(buf, "SYN retransmission 6 of 10 (Linux default, RTO backoff)") == 0, "got '%s'",
          buf);
    memset(&r, 0, sizeof r);
    r.prev_state[1] = TCPS_ST_CLOSE_WAIT;
    r.state[1] = TCPS_ST_CLOSE_WAIT;
    r.time_in_state_ns[1] = 120000000000ull;
    r.event_side[TCPS_EV_CLOSE_WAIT_LONG] = TCPS_SERVER;
    tcps_event_message(E, TCPS_EV_CLOSE_WAIT_LONG, &r, buf, sizeof buf);
    CHECK(strcmp(buf, "server in CLOSE_WAIT for 120 s: the application has not closed its socket") ==
              0,
          "got '%s'", buf);
    {
        tcps_result k;
        memset(&k, 0, sizeof k);
        k.ka_unanswered = 9; /* the RST after the last probe is not itself a probe */
        tcps_event_message(E, TCPS_EV_KEEPALIVE_DEAD, &k, buf, sizeof buf);
        CHECK(strcmp(buf, "keepalive probe 9 unanswered: peer presumed dead") == 0, "got '%s'", buf);
        memset(&k, 0, sizeof k);
        k.rtx_kind = TCPS_RTX_SYNACK;
        k.rtx_index = 3; /* every copy */
        k.rtx_timer_index = 1; /* what the budget counts */
        k.rtx_budget = 5;
        k.rtx_sched = TCPS_SCHED_REPLY;
        tcps_event_message(E, TCPS_EV_SYNACK_RETRANS, &k, buf, sizeof buf);
        CHECK(strstr(buf, "SYN-ACK retransmission 3 (") == buf && strstr(buf, "request timer 1 of 5") &&
                  !strstr(buf, "3 of 5"),
              "got '%s'", buf);
    }
    size_t n = tcps_event_message(E, TCPS_EV_CLOSE_WAIT_LONG, &r, buf, 10);
    CHECK(n == 9 && strlen(buf) == 9, "truncated message");
    memset(&r, 0, sizeof r);
    r.prev_state[1] = TCPS_ST_ESTABLISHED;
    r.state[1] = TCPS_ST_CLOSE_WAIT;
    tcps_transition_text(&r, buf, sizeof buf);
    CHECK(strcmp(buf, "server ESTABLISHED \xe2\x86\x92 CLOSE_WAIT") == 0, "got '%s'", buf);
    r.prev_state[1] = r.state[1];
    CHECK(tcps_transition_text(&r, buf, sizeof buf) == 0 && buf[0] == '\0', "no transition");
    tcps_engine_free(E);
}

static void syn(tcps_segment *g, uint32_t i, uint64_t t)
{
    memset(g, 0, sizeof *g);
    g->af = 4;
    uint32_t a = 0x0b000000u + i, b = 0x0a000002u;
    memcpy(g->src, &a, 4);
    memcpy(g->dst, &b, 4);
    g->sport = (uint16_t)(1024 + (i % 50000));
    g->dport = 80;
    g->flags = TCPS_F_SYN;
    g->seq = i * 7919u;
    g->ts_ns = t;
}

static size_t ended;
static void count_end(const tcps_flow_summary *s, void *u)
{
    (void)s;
    (void)u;
    ended++;
}

/* A SYN flood of a million distinct 4-tuples stays under the cap. */
static void test_memory_cap(void)
{
    tcps_config cfg;
    tcps_config_default(&cfg);
    cfg.max_flows = 10000;
    cfg.on_flow_end = count_end;
    tcps_engine *E = tcps_engine_new(&cfg);
    tcps_segment g;
    tcps_result r;
    ended = 0;
    size_t maxlive = 0;
    for (uint32_t i = 0; i < 1000000; i++) {
        syn(&g, i, 1000000000ull + (uint64_t)i * 1000);
        tcps_engine_feed(E, &g, &r);
        if (tcps_engine_live_flows(E) > maxlive)
            maxlive = tcps_engine_live_flows(E);
    }
    CHECK(maxlive <= 10000, "live flows %zu above the cap", maxlive);
    size_t cap_bytes = 10000 * 2 * tcps_flow_bytes() + 64 * 1024;
    CHECK(tcps_engine_peak_memory(E) <= cap_bytes, "peak %zu above %zu",
          tcps_engine_peak_memory(E), cap_bytes);
    tcps_engine_finish(E);
    CHECK(ended == 1000000, "every connection reported once: %zu", ended);
    CHECK(tcps_engine_live_flows(E) == 0, "none left");
    tcps_engine_free(E);
}

/* Closed connections are reclaimed without the cap. */
static void test_reclaim(void)
{
    tcps_config cfg;
    tcps_config_default(&cfg);
    tcps_engine *E = tcps_engine_new(&cfg);
    tcps_segment g;
    tcps_result r;
    uint64_t t = 1000000000ull;
    for (uint32_t i = 0; i < 5000; i++) {
        syn(&g, i, t);
        tcps_engine_feed(E, &g, &r);
        /* refused: RST+ACK seq 0 */
        tcps_segment rst = g;
        memcpy(rst.src, g.dst, 4);
        memcpy(rst.dst, g.src, 4);
        rst.sport = g.dport;
        rst.dport = g.sport;
        rst.flags = TCPS_F_RST | TCPS_F_ACK;
        rst.ack = g.seq + 1;
        rst.seq = 0;
        tcps_engine_feed(E, &rst, &r);
        CHECK(r.rst_cause == TCPS_RST_REFUSED || i > 0, "refused");
        t += 100000000ull; /* 0.1 s apart: 500 s in all */
    }
    CHECK(tcps_engine_live_flows(E) < 5000, "closed connections reclaimed: %zu live",
          tcps_engine_live_flows(E));
    tcps_engine_free(E);
}

static void test_bad_input(void)
{
    tcps_config cfg;
    tcps_config_default(&cfg);
    cfg.max_flows = 0;
    CHECK(tcps_engine_new(&cfg) == NULL, "max_flows 0 refused");
    tcps_config_default(&cfg);
    tcps_engine *E = tcps_engine_new(&cfg);
    tcps_segment g;
    tcps_result r;
    syn(&g, 1, 5);
    g.af = 5;
    CHECK(tcps_engine_feed(E, &g, &r) == -1 && r.flow_id == 0, "bad af");
    CHECK(tcps_engine_begin_pass2(E) == -1, "pass 2 without two-pass mode");
    tcps_flow_summary s;
    CHECK(tcps_engine_flow_summary(E, 12345, &s) == -1, "no such flow");
    tcps_engine_free(E);
}

/* Random segments on a few 4-tuples, both modes: every answer stays in the
 * vocabulary and pass 2 sees the same connections as pass 1. */
static void test_random(void)
{
    uint64_t x = 88172645463325252ull;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    static tcps_segment segs[200000];
    uint64_t t = 1;
    for (size_t i = 0; i < sizeof segs / sizeof *segs; i++) {
        tcps_segment *g = &segs[i];
        memset(g, 0, sizeof *g);
        uint64_t r = RND();
        g->af = (r & 64) ? 6 : 4;
        g->src[0] = (uint8_t)(1 + (r & 1));
        g->dst[0] = (uint8_t)(2 - (r & 1));
        g->sport = (r & 1) ? 80 : (uint16_t)(1000 + ((r >> 8) & 3));
        g->dport = (r & 1) ? (uint16_t)(1000 + ((r >> 8) & 3)) : 80;
        g->flags = (uint8_t)(r >> 16);
        g->seq = (uint32_t)((r >> 24) & 7) * 1000u + (uint32_t)(RND() & 3);
        g->ack = (uint32_t)((r >> 40) & 7) * 1000u + (uint32_t)(RND() & 3);
        g->len = (r >> 50) & 1 ? (uint32_t)(RND() % 1500) : 0;
        g->window = (uint16_t)RND();
        g->opt.present = (uint8_t)RND();
        g->opt.wscale = (uint8_t)RND();
        g->opt.nsack = (uint8_t)(RND() % 5);
        t += RND() % 3000000000ull;
        g->ts_ns = t;
    }
    for (int two = 0; two < 2; two++) {
        tcps_config cfg;
        tcps_config_default(&cfg);
        cfg.two_pass = two;
        cfg.max_flows = 3;
        tcps_engine *E = tcps_engine_new(&cfg);
        int bad = 0;
        uint32_t *ids = malloc(sizeof segs / sizeof *segs * sizeof *ids);
        for (int pass = 0; pass <= two; pass++) {
            if (pass)
                tcps_engine_begin_pass2(E);
            for (size_t i = 0; i < sizeof segs / sizeof *segs; i++) {
                tcps_result r;
                if (tcps_engine_feed(E, &segs[i], &r) != 0) {
                    bad++;
                    continue;
                }
                if (r.state[0] >= TCPS_ST_COUNT || r.state[1] >= TCPS_ST_COUNT ||
                    r.phase >= TCPS_PH_COUNT || r.rst_cause >= TCPS_RST_COUNT ||
                    r.rtx_kind >= TCPS_RTX_COUNT || r.flow_id == 0)
                    bad++;
                if (pass == 0)
                    ids[i] = r.flow_id;
                else if (ids[i] != r.flow_id)
                    bad++;
            }
        }
        tcps_engine_finish(E);
        CHECK(bad == 0, "%s: %d bad answers", two ? "two-pass" : "one-pass", bad);
        CHECK(tcps_engine_live_flows(E) == 0, "all connections ended");
        free(ids);
        tcps_engine_free(E);
    }
#undef RND
}

int main(void)
{
    test_random();
    test_profiles();
    test_vocabulary();
    test_messages();
    test_memory_cap();
    test_reclaim();
    test_bad_input();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
