/*
 * The experiments of tcpstate-lab, each declared in one place: what it
 * shows, the sysctls (set inside the lab's namespaces only), the drop rules
 * (nft matches with the iptables equivalent of the documents), and the
 * client's and server's actions with their timing.
 *
 * Steps run in order; delay_ms counts from the end of the previous step.
 * Waits give up after timeout_ms (with the scaled timers; --real-timers
 * lifts the limit) and the run then reports the experiment as incomplete.
 * Rule matches use {S} for the server port and {C} for the client port;
 * nothing else is ever substituted.
 *
 * Timers are scaled so that `run --all` takes well under 60 s: the kernel's
 * 1 s initial RTO and 200 ms minimum RTO are not sysctls we change, so the
 * experiments shorten the retry budgets, tcp_fin_timeout and the keepalive
 * times instead.  TIME_WAIT (60 s, not a sysctl) is never waited out.
 */
#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "tcpstate/tcpstate.h"

#define C LAB_CLIENT
#define S LAB_SERVER
#define L LAB_LAB
#define ST(x) TCPS_ST_##x

/* Steps shared by most experiments: a server listens, the client connects,
 * the server accepts, each side sends a little data. */
#define OPEN_AND_TALK                                                          \
    {0, S, ACT_LISTEN, 0, 0}, {20, C, ACT_CONNECT, 0, 0},                      \
        {0, S, ACT_ACCEPT, 0, 3000}, {0, C, ACT_WAIT_STATE, ST(ESTABLISHED), 3000}, \
        {50, C, ACT_SEND, 100, 0}, {50, S, ACT_SEND, 200, 0}

#define FIN_TO_SERVER "tcp dport {S} tcp flags & fin == fin drop"
#define FIN_TO_SERVER_IPT "iptables -A INPUT -p tcp --dport {S} --tcp-flags FIN FIN -j DROP"
#define FIN_TO_CLIENT "tcp sport {S} tcp flags & fin == fin drop"
#define FIN_TO_CLIENT_IPT "iptables -A INPUT -p tcp --sport {S} --tcp-flags FIN FIN -j DROP"
#define ACK_TO_SERVER "tcp dport {S} tcp flags == ack drop"
#define ACK_TO_SERVER_IPT "iptables -A INPUT -p tcp --dport {S} --tcp-flags ALL ACK -j DROP"

const char *const lab_recorded_sysctls[] = {
    "tcp_syn_retries", "tcp_syn_linear_timeouts", "tcp_synack_retries", "tcp_orphan_retries",
    "tcp_retries2", "tcp_fin_timeout", "tcp_keepalive_time", "tcp_keepalive_intvl",
    "tcp_keepalive_probes", "tcp_rfc1337", "tcp_rto_min_us", "tcp_rto_max_ms", "tcp_tw_reuse",
    "tcp_timestamps", NULL};

static const lab_experiment experiments[] = {
    {
        "handshake-close",
        "3-packet close: the server closes as soon as it reads the client's FIN, its FIN carries the ACK",
        "The client closes first (FIN_WAIT_1).  The server's delayed ACK has not gone out "
        "when its application reads end-of-file and closes, so one segment carries both the "
        "ACK and the server's FIN: FIN, FIN+ACK, ACK.  The client ends in TIME_WAIT "
        "(timewait timer, 60 s), the server in CLOSED.",
        C,
        {{0}},
        {{0}},
        {OPEN_AND_TALK, {100, C, ACT_CLOSE, 0, 0}, {0, S, ACT_WAIT_EOF, 0, 2000},
         {0, S, ACT_CLOSE, 0, 0}, {0, C, ACT_WAIT_STATE, ST(TIME_WAIT), 2000},
         {100, L, ACT_END, 0, 0}},
    },
    {
        "close-4way",
        "4-packet close: the server closes 300 ms after the client's FIN, after its delayed ACK",
        "The client closes first.  The server's kernel ACKs the FIN on its own (delayed ACK, "
        "40-200 ms) while its application still holds the socket: client FIN_WAIT_2, server "
        "CLOSE_WAIT.  When the server closes, its FIN (LAST_ACK) is ACKed by the client, "
        "which enters TIME_WAIT.",
        C,
        {{0}},
        {{0}},
        {OPEN_AND_TALK, {100, C, ACT_CLOSE, 0, 0}, {0, S, ACT_WAIT_EOF, 0, 2000},
         {0, C, ACT_WAIT_STATE, ST(FIN_WAIT_2), 2000}, {300, S, ACT_CLOSE, 0, 0},
         {0, C, ACT_WAIT_STATE, ST(TIME_WAIT), 2000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "syn-sent",
        "the server's kernel drops every SYN: the client retransmits its SYN, then gives up silently",
        "The SYN never reaches the listener.  The client stays in SYN_SENT and retransmits "
        "the SYN with tcp_syn_linear_timeouts (1 s gaps) until the time budget of "
        "tcp_syn_retries runs out ((2^(N+1) - 1) x 1 s = 3 s with N = 1); connect() then "
        "fails with ETIMEDOUT and nothing is sent.",
        C,
        {{"tcp_syn_retries", "1", 1}},
        {{S, "input", "tcp dport {S} tcp flags & (syn | ack) == syn drop",
          "iptables -A INPUT -p tcp --dport {S} --syn -j DROP"}},
        {{0, S, ACT_LISTEN, 0, 0}, {20, L, ACT_RULE_ADD, 0, 0}, {50, C, ACT_CONNECT, 0, 0},
         {0, C, ACT_WAIT_ERROR, 0, 10000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "syn-recv",
        "the client's kernel drops every SYN-ACK: the server's request retransmits it, then expires",
        "The listener answers the SYN with a SYN-ACK and keeps a request (SYN_RECV).  The "
        "client never sees it: it stays in SYN_SENT and retransmits its SYN, which the "
        "request answers at once with another SYN-ACK; the request's own timer retransmits "
        "too (1 s, then doubling).  With tcp_synack_retries=1 the request expires silently "
        "at about 3 s, when the client gives up as well.",
        S,
        {{"tcp_syn_retries", "1", 1}, {"tcp_synack_retries", "1", 1}},
        {{C, "input", "tcp sport {S} tcp flags & (syn | ack) == syn | ack drop",
          "iptables -A INPUT -p tcp --sport {S} --tcp-flags SYN,ACK SYN,ACK -j DROP"}},
        {{0, S, ACT_LISTEN, 0, 0}, {20, L, ACT_RULE_ADD, 0, 0}, {50, C, ACT_CONNECT, 0, 0},
         {0, C, ACT_WAIT_ERROR, 0, 10000}, {0, S, ACT_WAIT_GONE, 0, 10000},
         {100, L, ACT_END, 0, 0}},
    },
    {
        "fin-wait-1",
        "the server's kernel drops the client's FIN: orphan FIN retransmissions (TLP, RTO), silent end, RST to later data",
        "The client closes (an orphan in FIN_WAIT_1).  Its FIN never arrives, so it is "
        "retransmitted: first a tail loss probe, then RTO retransmissions with doubling gaps, "
        "until the orphan's time budget ((2^(N+1) - 1) x 200 ms from the first RTO "
        "retransmission, N = tcp_orphan_retries = 2) runs out and the socket vanishes without "
        "a packet.  The server, still ESTABLISHED, later sends data and gets a bare RST.",
        C,
        {{"tcp_orphan_retries", "2", 1}},
        {{S, "input", FIN_TO_SERVER, FIN_TO_SERVER_IPT}},
        {OPEN_AND_TALK, {100, L, ACT_RULE_ADD, 0, 0}, {100, C, ACT_CLOSE, 0, 0},
         {0, C, ACT_WAIT_GONE, 0, 15000}, {300, S, ACT_SEND, 100, 0},
         {0, C, ACT_WAIT_RST, 0, 3000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "fin-wait-2",
        "the client's kernel drops the server's FIN: client FIN_WAIT_2 timeout, server LAST_ACK retransmissions, RST",
        "The client closes and its FIN is ACKed: an orphan in FIN_WAIT_2 (a timewait entry, "
        "tcp_fin_timeout = 1 s).  The server closes 300 ms later (LAST_ACK) but its FIN is "
        "dropped, so it retransmits it.  The client's FIN_WAIT_2 ends silently; once the rule "
        "is lifted the next retransmitted FIN finds no socket and gets a RST.",
        C,
        {{"tcp_fin_timeout", "1", 1}, {"tcp_orphan_retries", "3", 1}},
        {{C, "input", FIN_TO_CLIENT, FIN_TO_CLIENT_IPT}},
        {OPEN_AND_TALK, {100, L, ACT_RULE_ADD, 0, 0}, {100, C, ACT_CLOSE, 0, 0},
         {0, C, ACT_WAIT_STATE, ST(FIN_WAIT_2), 2000}, {300, S, ACT_CLOSE, 0, 0},
         {0, C, ACT_WAIT_GONE, 0, 5000}, {100, L, ACT_RULE_DEL, 0, 0},
         {0, C, ACT_WAIT_RST, 0, 10000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "close-wait",
        "the server never closes: client FIN_WAIT_2 times out, the server's late data gets a RST",
        "The client closes; the server's kernel ACKs the FIN (CLOSE_WAIT) but its application "
        "never closes.  The client's orphan FIN_WAIT_2 ends after tcp_fin_timeout (1 s) "
        "without a packet.  When the server finally writes, the client's kernel has no "
        "socket and answers with a RST.",
        C,
        {{"tcp_fin_timeout", "1", 1}},
        {{0}},
        {OPEN_AND_TALK, {100, C, ACT_CLOSE, 0, 0}, {0, S, ACT_WAIT_EOF, 0, 2000},
         {0, C, ACT_WAIT_GONE, 0, 5000}, {300, S, ACT_SEND, 100, 0},
         {0, C, ACT_WAIT_RST, 0, 3000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "time-wait",
        "the server's kernel drops the final ACK: its FIN is retransmitted and re-ACKed in TIME_WAIT",
        "3-packet close, but the server never gets the client's last ACK: it stays in "
        "LAST_ACK and retransmits its FIN.  The client, already in TIME_WAIT, ACKs each copy "
        "again (and restarts its 60 s timer).  After two retransmissions the rule is lifted; "
        "the next re-ACK arrives and the server closes.  The run stops long before TIME_WAIT "
        "ends.",
        C,
        {{0}},
        {{S, "input", ACK_TO_SERVER, ACK_TO_SERVER_IPT}},
        {OPEN_AND_TALK, {100, L, ACT_RULE_ADD, 0, 0}, {100, C, ACT_CLOSE, 0, 0},
         {0, S, ACT_WAIT_EOF, 0, 2000}, {0, S, ACT_CLOSE, 0, 0},
         {0, C, ACT_WAIT_STATE, ST(TIME_WAIT), 2000}, {0, S, ACT_WAIT_FINRTX, 2, 5000},
         {50, L, ACT_RULE_DEL, 0, 0}, {0, S, ACT_WAIT_GONE, 0, 5000}, {200, L, ACT_END, 0, 0}},
    },
    {
        "keepalive",
        "keepalive probes on an idle connection, each answered by the server",
        "The client sets SO_KEEPALIVE (tcp_keepalive_time = 1 s, intvl = 1 s).  After 1 s "
        "idle it sends a probe: a zero-length ACK with the sequence number one below the "
        "next, which the server answers with an ACK.  Each answer restarts the idle time.  "
        "Then the client closes normally.",
        C,
        {{"tcp_keepalive_time", "1", 1}, {"tcp_keepalive_intvl", "1", 1},
         {"tcp_keepalive_probes", "3", 1}},
        {{0}},
        {OPEN_AND_TALK, {50, C, ACT_KEEPALIVE, 0, 0}, {0, C, ACT_WAIT_KAPROBES, 2, 5000},
         {300, C, ACT_CLOSE, 0, 0}, {0, S, ACT_WAIT_EOF, 0, 2000}, {0, S, ACT_CLOSE, 0, 0},
         {0, C, ACT_WAIT_STATE, ST(TIME_WAIT), 2000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "keepalive-dead",
        "the server's kernel drops the keepalive probes: after tcp_keepalive_probes the client resets",
        "Like keepalive, but the server's kernel drops the client's bare ACKs (the probes).  "
        "The client sends tcp_keepalive_probes = 2 probes 1 s apart, then gives up: RST+ACK "
        "and ETIMEDOUT to its application.  The RST is not a bare ACK, so it arrives and "
        "closes the server's socket.",
        C,
        {{"tcp_keepalive_time", "1", 1}, {"tcp_keepalive_intvl", "1", 1},
         {"tcp_keepalive_probes", "2", 1}},
        {{S, "input", ACK_TO_SERVER, ACK_TO_SERVER_IPT}},
        {OPEN_AND_TALK, {100, L, ACT_RULE_ADD, 0, 0}, {0, C, ACT_KEEPALIVE, 0, 0},
         {0, C, ACT_WAIT_ERROR, 0, 8000}, {0, S, ACT_WAIT_GONE, 0, 2000},
         {100, L, ACT_END, 0, 0}},
    },
    {
        "simultaneous-close",
        "both FINs dropped, both sides close at once, rules lifted: FINs cross, CLOSING, TIME_WAIT on both",
        "Both applications close at the same moment and each kernel drops the other's FIN, "
        "so both sides sit in FIN_WAIT_1.  The rules are lifted 100 ms later; the "
        "retransmitted FINs (tail loss probes, armed in the same timer tick so they leave "
        "together) cross, each side receives a FIN before the ACK of its own (CLOSING) and "
        "both end in TIME_WAIT.",
        C,
        {{0}},
        {{S, "input", FIN_TO_SERVER, FIN_TO_SERVER_IPT},
         {C, "input", FIN_TO_CLIENT, FIN_TO_CLIENT_IPT}},
        {OPEN_AND_TALK, {100, L, ACT_RULE_ADD, 0, 0}, {0, L, ACT_RULE_ADD, 1, 0},
         {100, C, ACT_CLOSE, 1 /* right after a timer tick */, 0}, {0, S, ACT_CLOSE, 0, 0},
         {100, L, ACT_RULE_DEL, 0, 0},
         {0, L, ACT_RULE_DEL, 1, 0}, {0, C, ACT_WAIT_STATE, ST(TIME_WAIT), 3000},
         {0, S, ACT_WAIT_STATE, ST(TIME_WAIT), 3000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "half-close",
        "the client shuts down its sending side, the server keeps sending, then closes",
        "shutdown(SHUT_WR): the client sends its FIN but keeps its socket (not an orphan).  "
        "In FIN_WAIT_2 it has no timer and goes on receiving and ACKing the server's data "
        "(server CLOSE_WAIT).  When the server closes, the client enters TIME_WAIT.",
        C,
        {{0}},
        {{0}},
        {OPEN_AND_TALK, {100, C, ACT_SHUT_WR, 0, 0}, {0, S, ACT_WAIT_EOF, 0, 2000},
         {100, S, ACT_SEND, 300, 0}, {100, S, ACT_SEND, 300, 0}, {100, S, ACT_SEND, 300, 0},
         {100, S, ACT_CLOSE, 0, 0}, {0, C, ACT_WAIT_STATE, ST(TIME_WAIT), 2000},
         {100, C, ACT_CLOSE, 0, 0}, {100, L, ACT_END, 0, 0}},
    },
    {
        "abort-linger0",
        "SO_LINGER {1, 0} then close(): the client aborts with RST instead of a FIN",
        "With a zero linger time close() discards the connection: the kernel sends RST+ACK "
        "(sequence = next to send) and the socket is CLOSED at once, with no TIME_WAIT.  The "
        "server's socket is reset.",
        C,
        {{0}},
        {{0}},
        {OPEN_AND_TALK, {100, C, ACT_LINGER0, 0, 0}, {0, C, ACT_CLOSE, 0, 0},
         {0, S, ACT_WAIT_GONE, 0, 2000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "abort-unread",
        "close() with unread received data: the client aborts with RST",
        "The client's application never reads the server's data.  close() with unread data "
        "in the receive queue sends RST+ACK instead of a FIN (RFC 2525) and the socket is "
        "CLOSED at once.",
        C,
        {{0}},
        {{0}},
        {{0, S, ACT_LISTEN, 0, 0}, {20, C, ACT_CONNECT, 0, 0}, {0, S, ACT_ACCEPT, 0, 3000},
         {0, C, ACT_WAIT_STATE, ST(ESTABLISHED), 3000}, {0, C, ACT_NOREAD, 0, 0},
         {50, C, ACT_SEND, 100, 0}, {50, S, ACT_SEND, 200, 0}, {100, C, ACT_CLOSE, 0, 0},
         {0, S, ACT_WAIT_GONE, 0, 2000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "refused",
        "no listener on the port: the SYN is answered with RST+ACK",
        "Nothing listens on the server port, so the server's kernel answers the SYN with a "
        "reply reset (RST+ACK, sequence 0, acknowledging the SYN).  connect() fails with "
        "ECONNREFUSED; the client is CLOSED.",
        C,
        {{0}},
        {{0}},
        {{20, C, ACT_CONNECT, 0, 0}, {0, C, ACT_WAIT_ERROR, 0, 3000}, {100, L, ACT_END, 0, 0}},
    },
    {
        "tw-reuse",
        "the server closes first (TIME_WAIT); a new SYN on the same 4-tuple is accepted from TIME_WAIT",
        "The server closes first, so the TIME_WAIT entry is the server's.  300 ms later the "
        "client connects again from the same port.  The SYN hits the TIME_WAIT entry; its "
        "sequence number (and timestamp) is newer, so the entry is dropped and the SYN "
        "starts a new connection: the new SYN-ACK's ISN is the old one's send sequence + "
        "65537.",
        C,
        {{0}},
        {{0}},
        {OPEN_AND_TALK, {100, S, ACT_CLOSE, 0, 0}, {0, C, ACT_WAIT_EOF, 0, 2000},
         {0, C, ACT_CLOSE, 0, 0}, {0, S, ACT_WAIT_STATE, ST(TIME_WAIT), 2000},
         {300, C, ACT_CONNECT, 0, 0}, {0, S, ACT_ACCEPT, 0, 3000},
         {0, C, ACT_WAIT_STATE, ST(ESTABLISHED), 3000}, {50, C, ACT_SEND, 100, 0},
         {50, S, ACT_SEND, 200, 0}, {100, C, ACT_CLOSE, 0, 0}, {0, S, ACT_WAIT_EOF, 0, 2000},
         {0, S, ACT_CLOSE, 0, 0}, {0, C, ACT_WAIT_STATE, ST(TIME_WAIT), 2000},
         {100, L, ACT_END, 0, 0}},
    },
};

size_t lab_experiment_count(void) { return sizeof experiments / sizeof experiments[0]; }

const lab_experiment *lab_experiment_at(size_t i)
{
    return i < lab_experiment_count() ? &experiments[i] : NULL;
}

const lab_experiment *lab_experiment_find(const char *name)
{
    for (size_t i = 0; i < lab_experiment_count(); i++)
        if (strcmp(experiments[i].name, name) == 0)
            return &experiments[i];
    return NULL;
}

void lab_experiment_list(FILE *fp)
{
    for (size_t i = 0; i < lab_experiment_count(); i++)
        fprintf(fp, "%-20s %s\n", experiments[i].name, experiments[i].desc);
}
