/*
 * Unit tests for engine/src/zeek.c (Zeek-compatible history and conn_state).
 *
 * Every expected value was worked out by hand from Zeek's documentation
 * (scripts/base/protocols/conn/main.zeek: history letters, conn_state
 * definitions) and the rules in its TCP analyzer, which the comments next to
 * each case walk through.  Four cases repeat Zeek's own test baseline
 * testing/btest/Baseline/scripts.base.protocols.conn.conn_state-RST-behavior
 * ("R, OTH", "SR, RSTOS0", "SaR, RSTOS0", "SaFR, OTH").
 *
 * Client (originator) ISN 1000, server (responder) ISN 5000 unless stated.
 */
#include <stdio.h>
#include <string.h>

#include "zeek.h"

#define F_ TCPS_F_FIN
#define S_ TCPS_F_SYN
#define R_ TCPS_F_RST
#define P_ TCPS_F_PSH
#define A_ TCPS_F_ACK

typedef struct {
    char dir;        /* 'C' client (originator) sends, 'S' server; 0 ends */
    uint8_t flags;
    uint32_t seq, ack, len;
    uint16_t win;
    unsigned repeat; /* send this many copies (0 means 1) */
} pkt;

#define W 1000 /* a non-zero window */
#define C(fl, sq, ak, ln) {'C', (fl), (sq), (ak), (ln), W, 0}
#define S(fl, sq, ak, ln) {'S', (fl), (sq), (ak), (ln), W, 0}
#define CW(fl, sq, ak, ln, w) {'C', (fl), (sq), (ak), (ln), (w), 0}
#define SW(fl, sq, ak, ln, w) {'S', (fl), (sq), (ak), (ln), (w), 0}
#define CN(n, fl, sq, ak, ln) {'C', (fl), (sq), (ak), (ln), W, (n)}
#define SN(n, fl, sq, ak, ln) {'S', (fl), (sq), (ak), (ln), W, (n)}
#define SWN(n, fl, sq, ak, ln, w) {'S', (fl), (sq), (ak), (ln), (w), (n)}

/* the three-way handshake */
#define HS C(S_, 1000, 0, 0), S(S_ | A_, 5000, 1001, 0), C(A_, 1001, 5001, 0)

typedef struct {
    const char *name;
    pkt p[16];
    const char *history;
    tcps_conn_state state;
} zcase;

static const zcase cases[] = {
    /* S from the SYN, h from the SYN-ACK, A/a first pure ACK, D/d first
     * payload, F/f FINs; later ACKs and data add nothing.  Both sides
     * CLOSED: SF. */
    {"normal close, data both ways",
     {HS, C(P_ | A_, 1001, 5001, 100), S(A_, 5001, 1101, 0), S(P_ | A_, 5001, 1101, 200),
      C(A_, 1101, 5201, 0), C(F_ | A_, 1101, 5201, 0), S(F_ | A_, 5201, 1102, 0),
      C(A_, 1102, 5202, 0)},
     "ShADadFf", TCPS_CS_SF},

    /* Originator SYN_SENT, responder INACTIVE: S0. */
    {"SYN only", {C(S_, 1000, 0, 0)}, "S", TCPS_CS_S0},

    /* A SYN is logged again only if its relative sequence number differs:
     * retransmissions of the same SYN add nothing. */
    {"SYN retransmitted twice", {CN(3, S_, 1000, 0, 0)}, "S", TCPS_CS_S0},

    /* Responder resets while the originator is in SYN_SENT: REJ. */
    {"SYN answered by RST", {C(S_, 1000, 0, 0), S(R_ | A_, 0, 1001, 0)}, "Sr", TCPS_CS_REJ},

    /* Established, then the originator sends RST: originator RESET,
     * responder ESTABLISHED: RSTO. */
    {"originator aborts",
     {HS, C(P_ | A_, 1001, 5001, 100), S(A_, 5001, 1101, 0), C(R_ | A_, 1101, 5001, 0)},
     "ShADaR", TCPS_CS_RSTO},

    /* Responder RESET, originator ESTABLISHED (not in its handshake): RSTR. */
    {"responder aborts",
     {HS, C(P_ | A_, 1001, 5001, 100), S(R_, 5001, 0, 0)}, "ShADr", TCPS_CS_RSTR},

    /* Zeek baseline: "SR, RSTOS0".  Originator RESET, responder INACTIVE and
     * the history matches S[^HAFGIQ]*R. */
    {"SYN then own RST", {C(S_, 1000, 0, 0), C(R_, 1001, 0, 0)}, "SR", TCPS_CS_RSTOS0},

    /* Zeek baseline: "SaR, RSTOS0".  The responder's bare ACK of the SYN
     * leaves it INACTIVE (Zeek's "eccentric TCP" rule); lower-case letters do
     * not break the RSTOS0 pattern. */
    {"SYN, bare ACK, RST",
     {C(S_, 1000, 0, 0), S(A_, 5000, 1001, 0), C(R_, 1001, 0, 0)}, "SaR", TCPS_CS_RSTOS0},

    /* Zeek baseline: "SaFR, OTH".  FIN takes SYN_SENT to CLOSED, the RST
     * then to RESET (peer not CLOSED); the F breaks the RSTOS0 pattern. */
    {"SYN, bare ACK, FIN, RST",
     {C(S_, 1000, 0, 0), S(A_, 5000, 1001, 0), C(F_, 1001, 0, 0), C(R_, 1002, 0, 0)},
     "SaFR", TCPS_CS_OTH},

    /* Zeek baseline: "R, OTH".  A lone RST: originator RESET, responder
     * INACTIVE, history does not start with S. */
    {"lone RST", {C(R_, 1000, 0, 0)}, "R", TCPS_CS_OTH},

    /* Also a bare ACK of the SYN, nothing else: responder still INACTIVE. */
    {"SYN and bare ACK", {C(S_, 1000, 0, 0), S(A_, 5000, 1001, 0)}, "Sa", TCPS_CS_S0},

    /* Originator SYN then FIN, no reply: CLOSED vs INACTIVE: SH. */
    {"SYN then FIN", {C(S_, 1000, 0, 0), C(F_, 1001, 0, 0)}, "SF", TCPS_CS_SH},

    {"established, not closed", {HS}, "ShA", TCPS_CS_S1},

    /* Originator CLOSED, responder ESTABLISHED: S2. */
    {"originator FIN only", {HS, C(F_ | A_, 1001, 5001, 0)}, "ShAF", TCPS_CS_S2},

    /* Responder CLOSED, originator ESTABLISHED: S3. */
    {"responder FIN only", {HS, S(F_ | A_, 5001, 1001, 0)}, "ShAf", TCPS_CS_S3},

    /* No SYN: both sides PARTIAL: OTH. */
    {"midstream", {C(P_ | A_, 1500, 5500, 100), S(A_, 5500, 1600, 0)}, "Da", TCPS_CS_OTH},

    /* Only the responder's side (one-sided capture): SYN-ACK makes it
     * ESTABLISHED, FIN CLOSED; originator INACTIVE: SHR. */
    {"responder only, closes",
     {S(S_ | A_, 5000, 1001, 0), S(A_, 5001, 1001, 0), S(P_ | A_, 5001, 1001, 50),
      S(F_ | A_, 5051, 1001, 0)},
     "hadf", TCPS_CS_SHR},

    /* SYN-ACK then RST from the responder, no SYN seen: RSTRH. */
    {"SYN-ACK then RST", {S(S_ | A_, 5000, 1001, 0), S(R_, 5001, 0, 0)}, "hr", TCPS_CS_RSTRH},

    /* Both sides RESET and no payload either way (sizes 0): REJ. */
    {"SYN, RST-ACK, RST",
     {C(S_, 1000, 0, 0), S(R_ | A_, 0, 1001, 0), C(R_, 1001, 0, 0)}, "SrR", TCPS_CS_REJ},

    /* Both RESET after payload both ways: sizes not 0, so not REJ; the
     * originator is not inactive: RSTR. */
    {"both reset after data",
     {HS, C(P_ | A_, 1001, 5001, 100), S(P_ | A_, 5001, 1101, 200), C(R_, 1101, 0, 0),
      S(R_, 5201, 0, 0)},
     "ShADdRr", TCPS_CS_RSTR},

    /* Retransmissions are logged at the 1st, 10th and 100th time. */
    {"100 retransmissions", {HS, C(P_ | A_, 1001, 5001, 100), CN(100, P_ | A_, 1001, 5001, 100)},
     "ShADTTT", TCPS_CS_S1},
    {"99 retransmissions", {HS, C(P_ | A_, 1001, 5001, 100), CN(99, P_ | A_, 1001, 5001, 100)},
     "ShADTT", TCPS_CS_S1},
    {"1000 retransmissions", {HS, C(P_ | A_, 1001, 5001, 100), CN(1000, P_ | A_, 1001, 5001, 100)},
     "ShADTTTT", TCPS_CS_S1},

    /* Responder's payload sent twice: lower-case t. */
    {"responder retransmits",
     {HS, SN(2, P_ | A_, 5001, 1001, 100)}, "ShAdt", TCPS_CS_S1},

    /* Only payload ending at or below the highest sequence sent counts: a
     * segment that overlaps but extends it is not a retransmission. */
    {"overlap extending the stream",
     {HS, C(P_ | A_, 1001, 5001, 100), C(P_ | A_, 1051, 5001, 100)}, "ShAD", TCPS_CS_S1},

    /* A keepalive with one garbage byte at snd_nxt - 1 ends at the highest
     * sequence sent: Zeek counts it as a retransmission. */
    {"keepalive with a byte",
     {HS, C(P_ | A_, 1001, 5001, 100), S(A_, 5001, 1101, 0), C(A_, 1100, 5001, 1)},
     "ShADaT", TCPS_CS_S1},

    /* Zero windows are logged at the 1st and 10th time. */
    {"10 zero windows",
     {HS, C(P_ | A_, 1001, 5001, 100), SWN(10, A_, 5001, 1101, 0, 0)}, "ShADaww", TCPS_CS_S1},

    /* A zero window after the peer's FIN is not logged. */
    {"zero window after peer FIN",
     {HS, C(F_ | A_, 1001, 5001, 0), SW(A_, 5001, 1002, 0, 0)}, "ShAFa", TCPS_CS_S2},

    /* ...nor one that comes with a RST. */
    {"zero window on RST", {HS, SW(R_ | A_, 5001, 1001, 0, 0)}, "ShAr", TCPS_CS_RSTR},

    /* SYN+FIN: multi-flag letter Q (and no S or F).  SYN makes the
     * originator SYN_SENT, FIN CLOSED; responder INACTIVE: SH. */
    {"SYN+FIN", {C(S_ | F_, 1000, 0, 0)}, "Q", TCPS_CS_SH},

    /* FIN+RST: letter I, once only.  The RST wins: RESET: RSTO. */
    {"FIN+RST twice",
     {HS, CN(2, F_ | R_ | A_, 1001, 5001, 0)}, "ShAI", TCPS_CS_RSTO},

    /* A FIN sent again at the same place: one F, and no T (no payload). */
    {"FIN retransmitted", {HS, CN(2, F_ | A_, 1001, 5001, 0)}, "ShAF", TCPS_CS_S2},

    /* A FIN at a different place (its sequence number counts after its
     * payload): F again. */
    {"FIN moved by payload",
     {HS, C(F_ | A_, 1001, 5001, 0), C(F_ | P_ | A_, 1001, 5001, 10)}, "ShAFF", TCPS_CS_S2},

    /* RSTs: a repeat at the same sequence number adds nothing, a different
     * one adds r again. */
    {"RSTs at two places",
     {HS, SN(2, R_, 5001, 0, 0), S(R_, 6000, 0, 0)}, "ShArr", TCPS_CS_RSTR},

    /* SYN with payload (TCP Fast Open): Zeek starts the side's highest
     * sequence at the end of that payload, so the packet itself counts as a
     * retransmission. */
    {"SYN with payload",
     {C(S_, 1000, 0, 10), S(S_ | A_, 5000, 1011, 0), C(A_, 1011, 5001, 0)}, "SThA", TCPS_CS_S1},

    /* After both FINs, the originator's RST does not change CLOSED (the
     * peer is CLOSED too), but it is still a letter: SF. */
    {"RST after both FINs",
     {HS, C(P_ | A_, 1001, 5001, 100), S(P_ | A_, 5001, 1101, 200), C(F_ | A_, 1101, 5201, 0),
      S(F_ | A_, 5201, 1102, 0), C(R_, 1102, 0, 0)},
     "ShADdFfR", TCPS_CS_SF},

    /* FIN then RST from the originator (RESET, previous state CLOSED), then
     * the responder's FIN: Zeek takes the originator back to CLOSED, a
     * normal close: SF. */
    {"FIN, RST, peer FIN",
     {HS, C(F_ | A_, 1001, 5001, 0), C(R_, 1002, 0, 0), S(F_ | A_, 5001, 1002, 0)},
     "ShAFRf", TCPS_CS_SF},
};

static const char *cs_name(tcps_conn_state s) {
    static const char *const n[] = {"OTH", "S0", "S1", "SF", "REJ", "S2", "S3",
                                    "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR"};
    return (unsigned)s < sizeof n / sizeof n[0] ? n[s] : "?";
}

static unsigned passed, failed;

static void check(int ok, const char *what, const char *name, const char *got, const char *want) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s: %s: got \"%s\", want \"%s\"\n", name, what, got, want);
    }
}

static void check_int(long got, long want, const char *what, const char *name) {
    char g[32], w[32];
    snprintf(g, sizeof g, "%ld", got);
    snprintf(w, sizeof w, "%ld", want);
    check(got == want, what, name, g, w);
}

static void feed(tcps_zeek *z, const pkt *p) {
    for (; p->dir; p++) {
        unsigned n = p->repeat ? p->repeat : 1;
        for (unsigned i = 0; i < n; i++)
            tcps_zeek_packet(z, p->dir == 'C', p->flags, p->seq, p->ack, p->len, p->win);
    }
}

static void run_cases(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const zcase *c = &cases[i];
        tcps_zeek z;
        char h[64];
        tcps_zeek_init(&z);
        feed(&z, c->p);
        size_t n = tcps_zeek_history(&z, h, sizeof h);
        check(strcmp(h, c->history) == 0, "history", c->name, h, c->history);
        check_int((long)n, (long)strlen(c->history), "history length", c->name);
        tcps_conn_state s = tcps_zeek_conn_state(&z);
        check(s == c->state, "conn_state", c->name, cs_name(s), cs_name(c->state));
    }
}

/* Endpoint states Zeek would hold (TCP_ENDPOINT_*). */
static void test_endpoint_states(void) {
    const char *name = "endpoint states";
    tcps_zeek z;
    tcps_zeek_init(&z);
    check_int(tcps_zeek_endpoint_state(&z, 1), TCPS_ZEEK_INACTIVE, "fresh orig", name);
    tcps_zeek_packet(&z, 1, S_, 1000, 0, 0, W);
    check_int(tcps_zeek_endpoint_state(&z, 1), TCPS_ZEEK_SYN_SENT, "orig after SYN", name);
    check_int(tcps_zeek_endpoint_state(&z, 0), TCPS_ZEEK_INACTIVE, "resp after SYN", name);
    tcps_zeek_packet(&z, 0, S_ | A_, 5000, 1001, 0, W);
    check_int(tcps_zeek_endpoint_state(&z, 1), TCPS_ZEEK_ESTABLISHED, "orig after SYN-ACK", name);
    check_int(tcps_zeek_endpoint_state(&z, 0), TCPS_ZEEK_ESTABLISHED, "resp after SYN-ACK", name);
    tcps_zeek_packet(&z, 1, F_ | A_, 1001, 5001, 0, W);
    check_int(tcps_zeek_endpoint_state(&z, 1), TCPS_ZEEK_CLOSED, "orig after FIN", name);
    tcps_zeek_packet(&z, 0, R_, 5001, 0, 0, W);
    check_int(tcps_zeek_endpoint_state(&z, 0), TCPS_ZEEK_RESET, "resp after RST", name);
}

/* Output buffer limits. */
static void test_history_cap(void) {
    const char *name = "history cap";
    static const pkt p[] = {HS, C(P_ | A_, 1001, 5001, 100), S(P_ | A_, 5001, 1101, 200), {0}};
    tcps_zeek z;
    char h[8];
    tcps_zeek_init(&z);
    feed(&z, p);
    memset(h, 'x', sizeof h);
    size_t n = tcps_zeek_history(&z, h, 4); /* "ShADd" cut to 3 letters */
    check(strcmp(h, "ShA") == 0, "cap 4", name, h, "ShA");
    check_int((long)n, 3, "cap 4 length", name);
    h[0] = 'x';
    n = tcps_zeek_history(&z, h, 1);
    check_int((long)n, 0, "cap 1 length", name);
    check_int(h[0], '\0', "cap 1 terminator", name);
    check_int((long)tcps_zeek_history(&z, h, 0), 0, "cap 0 length", name);
}

/* More letters than the buffer keeps: the first TCPS_ZEEK_HIST_MAX stay,
 * the drop is flagged, and conn_state is unaffected. */
static void test_history_overflow(void) {
    const char *name = "history overflow";
    tcps_zeek z;
    char h[64], want[64];
    tcps_zeek_init(&z);
    /* SYN, then RSTs from the originator at 40 different sequence numbers:
     * "S" then 40 x "R"; responder never seen: RSTOS0 (S then R). */
    tcps_zeek_packet(&z, 1, S_, 1000, 0, 0, W);
    for (uint32_t i = 0; i < 40; i++)
        tcps_zeek_packet(&z, 1, R_, 1001 + i, 0, 0, W);
    want[0] = 'S';
    for (int i = 1; i < TCPS_ZEEK_HIST_MAX; i++)
        want[i] = 'R';
    want[TCPS_ZEEK_HIST_MAX] = '\0';
    tcps_zeek_history(&z, h, sizeof h);
    check(strcmp(h, want) == 0, "kept letters", name, h, want);
    check_int(tcps_zeek_history_truncated(&z), 1, "truncated flag", name);
    check_int(tcps_zeek_conn_state(&z), TCPS_CS_RSTOS0, "conn_state", name);
}

/* Zeek's IsReuse: when a SYN starts a new connection on the same 4-tuple. */
static void test_reuse(void) {
    const char *name = "reuse";
    tcps_zeek z;
    tcps_zeek_init(&z);
    check_int(tcps_zeek_is_reuse(&z, S_, 1000), 0, "fresh", name);
    tcps_zeek_packet(&z, 1, S_, 1000, 0, 0, W);
    check_int(tcps_zeek_is_reuse(&z, S_, 1000), 0, "same ISN", name);
    check_int(tcps_zeek_is_reuse(&z, S_, 7777), 1, "new ISN", name);
    check_int(tcps_zeek_is_reuse(&z, A_, 7777), 0, "not a SYN", name);
    tcps_zeek_packet(&z, 0, S_ | A_, 5000, 1001, 0, W);
    check_int(tcps_zeek_is_reuse(&z, S_ | A_, 9999), 0, "SYN-ACK, originator active", name);
    tcps_zeek_packet(&z, 1, F_ | A_, 1001, 5001, 0, W);
    check_int(tcps_zeek_is_reuse(&z, S_, 1000), 1, "same ISN after a close", name);

    /* refused, then the same SYN again: Zeek logs a second connection */
    tcps_zeek_init(&z);
    tcps_zeek_packet(&z, 1, S_, 1000, 0, 0, W);
    tcps_zeek_packet(&z, 0, R_ | A_, 0, 1001, 0, W);
    check_int(tcps_zeek_is_reuse(&z, S_, 1000), 1, "SYN after REJ", name);

    /* half connection: only the responder's SYN-ACK seen */
    tcps_zeek_init(&z);
    tcps_zeek_packet(&z, 0, S_ | A_, 5000, 1001, 0, W);
    check_int(tcps_zeek_is_reuse(&z, S_ | A_, 5000), 0, "half, same SYN-ACK", name);
    check_int(tcps_zeek_is_reuse(&z, S_ | A_, 6000), 1, "half, new SYN-ACK", name);
}

int main(void) {
    run_cases();
    test_endpoint_states();
    test_history_cap();
    test_history_overflow();
    test_reuse();
    check_int(sizeof(tcps_zeek) <= 72, 1, "sizeof(tcps_zeek) <= 72", "size");
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
