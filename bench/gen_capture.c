/*
 * A large synthetic capture for the analyze benchmark (libc only: the
 * frames come from tcpstate_pkt's encoder, the file is classic pcap,
 * Ethernet, nanosecond timestamps).
 *
 *   bench_gen_capture FILE [--packets N] [--concurrent C] [--snaplen S] [--seed X]
 *
 * N packets (default 1,000,000) over connections of which C (default 1,000)
 * are open at any time: each packet comes from a connection picked at random
 * among the open ones, and a connection that has sent its last packet is
 * replaced by a new one.  The connections are a mix:
 *   - 5 % refused (SYN, RST+ACK),
 *   - 3 % aborted by the client (RST+ACK after their data),
 *   - the rest close with four packets, the client first in 70 % of them;
 * each open one has 1 to 4 request/response rounds (a 40..600-byte request,
 * a response of 1 to 6 segments of up to 1448 bytes, the client ACKing
 * every second segment), 2 % of the response segments are sent twice
 * (retransmissions), 10 % of the connections are IPv6.  SYNs carry MSS,
 * SACK-permitted, timestamps and window scale; every other segment a
 * timestamp.  Records are cut to S bytes (default 128: a headers-only
 * capture, as long traces are usually taken; 0 keeps whole frames); the IP
 * length fields keep the real sizes.  The last connections are cut off
 * where the N packets end.  Same arguments, same file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/pkt.h"
#include "tcpstate/tcpstate.h"

#define MAX_SCRIPT 80 /* 3 + 4 rounds x (1 + 6 x 2 + 3) + 4 */

typedef struct pkt {
    uint32_t seq, ack;
    uint16_t len;
    uint8_t flags;
    uint8_t s2c; /* 1: server to client */
} pkt;

typedef struct conn {
    uint64_t id;
    uint8_t n, next; /* packets in the script, next one to send */
    pkt script[MAX_SCRIPT];
} conn;

static uint64_t rng;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static uint32_t rnd_in(uint32_t lo, uint32_t hi) { return lo + rnd() % (hi - lo + 1); }

static void add(conn *c, int s2c, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    if (c->n < MAX_SCRIPT)
        c->script[c->n++] = (pkt){seq, ack, (uint16_t)len, flags, (uint8_t)s2c};
}

enum { F = TCPS_F_FIN, S = TCPS_F_SYN, R = TCPS_F_RST, P = TCPS_F_PSH, A = TCPS_F_ACK };

static void new_conn(conn *c, uint64_t id)
{
    c->id = id;
    c->n = c->next = 0;
    uint32_t ci = rnd(), si = rnd(); /* ISNs */
    uint32_t kind = rnd() % 100;
    add(c, 0, S, ci, 0, 0);
    if (kind < 5) { /* refused */
        add(c, 1, R | A, 0, ci + 1, 0);
        return;
    }
    add(c, 1, S | A, si, ci + 1, 0);
    uint32_t cs = ci + 1, ss = si + 1; /* next sequence numbers */
    add(c, 0, A, cs, ss, 0);
    int rounds = (int)rnd_in(1, 4);
    for (int r = 0; r < rounds; r++) {
        uint32_t q = rnd_in(40, 600);
        add(c, 0, P | A, cs, ss, q);
        cs += q;
        int segs = (int)rnd_in(1, 6);
        for (int k = 0; k < segs; k++) {
            uint32_t l = k == segs - 1 ? rnd_in(1, 1448) : 1448;
            uint8_t fl = k == segs - 1 ? P | A : A;
            add(c, 1, fl, ss, cs, l);
            if (rnd() % 50 == 0) /* a retransmission of the same segment */
                add(c, 1, fl, ss, cs, l);
            ss += l;
            if (k % 2 == 1 || k == segs - 1)
                add(c, 0, A, cs, ss, 0);
        }
    }
    if (kind < 8) { /* aborted by the client */
        add(c, 0, R | A, cs, ss, 0);
        return;
    }
    int cfirst = rnd() % 10 < 7;
    if (cfirst) {
        add(c, 0, F | A, cs, ss, 0);
        add(c, 1, A, ss, cs + 1, 0);
        add(c, 1, F | A, ss, cs + 1, 0);
        add(c, 0, A, cs + 1, ss + 1, 0);
    } else {
        add(c, 1, F | A, ss, cs, 0);
        add(c, 0, A, cs, ss + 1, 0);
        add(c, 0, F | A, cs, ss + 1, 0);
        add(c, 1, A, ss + 1, cs + 1, 0);
    }
}

static void endpoints(const conn *c, tcps_segment *g, int s2c)
{
    uint64_t id = c->id;
    uint8_t cli[16] = {0}, srv[16] = {0};
    int v6 = id % 10 == 9;
    g->af = v6 ? 6 : 4;
    /* 64 connections per client host; 16 servers */
    uint32_t host = (uint32_t)(id / 64);
    uint16_t cport = (uint16_t)(32768 + (id % 64) * 400 + (host % 397));
    uint16_t sport = (id / 3) % 2 ? 443 : 80;
    if (v6) {
        static const uint8_t pc[8] = {0xfd, 0x00, 0, 0, 0, 0, 0, 0x01};
        static const uint8_t ps[8] = {0xfd, 0x00, 0, 0, 0, 0, 0, 0x02};
        memcpy(cli, pc, 8);
        memcpy(srv, ps, 8);
        cli[12] = (uint8_t)(host >> 24), cli[13] = (uint8_t)(host >> 16);
        cli[14] = (uint8_t)(host >> 8), cli[15] = (uint8_t)host;
        srv[15] = (uint8_t)(1 + id % 16);
    } else {
        cli[0] = 10, cli[1] = (uint8_t)(1 + (host >> 16) % 100), cli[2] = (uint8_t)(host >> 8),
        cli[3] = (uint8_t)host;
        srv[0] = 10, srv[1] = 200, srv[2] = (uint8_t)(id % 16), srv[3] = 1;
    }
    memcpy(s2c ? g->src : g->dst, srv, 16);
    memcpy(s2c ? g->dst : g->src, cli, 16);
    g->sport = s2c ? sport : cport;
    g->dport = s2c ? cport : sport;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_gen_capture FILE [--packets N] [--concurrent C] [--snaplen S] "
                    "[--seed X]\n");
}

static int num(const char *s, unsigned long long *v)
{
    char *e;
    errno = 0;
    *v = strtoull(s, &e, 10);
    return errno || *e || !*s ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        usage();
        return 2;
    }
    const char *path = argv[1];
    unsigned long long packets = 1000000, conc = 1000, snap = 128, seed = 1;
    for (int i = 2; i < argc; i++) {
        unsigned long long *dst = !strcmp(argv[i], "--packets")      ? &packets
                                  : !strcmp(argv[i], "--concurrent") ? &conc
                                  : !strcmp(argv[i], "--snaplen")    ? &snap
                                  : !strcmp(argv[i], "--seed")       ? &seed
                                                                     : NULL;
        if (!dst || i + 1 >= argc || num(argv[++i], dst)) {
            usage();
            return 2;
        }
    }
    if (conc == 0 || conc > 10000000 || (snap && snap < 64) || snap > 262144) {
        fprintf(stderr, "bench_gen_capture: --concurrent 1..10000000, --snaplen 0 or 64..262144\n");
        return 2;
    }
    rng = 0x9e3779b97f4a7c15ull ^ (seed * 0xbf58476d1ce4e5b9ull);
    if (!rng)
        rng = 1;
    conn *open = malloc(conc * sizeof *open);
    if (!open) {
        fprintf(stderr, "bench_gen_capture: out of memory\n");
        return 1;
    }
    uint64_t next_id = 0;
    for (unsigned long long i = 0; i < conc; i++)
        new_conn(&open[i], next_id++);
    tcps_pcap_writer *w =
        tcps_pcap_open_write(path, TCPS_LINK_ETHERNET, 1, snap ? (uint32_t)snap : 262144);
    if (!w) {
        fprintf(stderr, "bench_gen_capture: %s: %s\n", path, strerror(errno));
        free(open);
        return 1;
    }
    uint8_t buf[1600];
    uint64_t t = 1700000000ull * 1000000000ull;
    for (unsigned long long k = 0; k < packets; k++) {
        conn *c = &open[rnd() % conc];
        const pkt *p = &c->script[c->next++];
        tcps_segment g;
        memset(&g, 0, sizeof g);
        t += rnd_in(1000, 20000); /* 1..20 us apart */
        g.ts_ns = t;
        endpoints(c, &g, p->s2c);
        g.flags = p->flags;
        g.seq = p->seq;
        g.ack = p->ack;
        g.len = p->len;
        g.window = p->s2c ? 509 : 502;
        if (p->flags & S) {
            g.window = 64240;
            g.opt.present = TCPS_OPT_MSS | TCPS_OPT_SACK_PERM | TCPS_OPT_TS | TCPS_OPT_WSCALE;
            g.opt.mss = 1460;
            g.opt.wscale = 7;
        } else if (!(p->flags & R)) {
            g.opt.present = TCPS_OPT_TS;
        }
        g.opt.tsval = (uint32_t)(t / 1000000);
        g.opt.tsecr = (g.opt.present & TCPS_OPT_TS) && (p->flags & A) ? g.opt.tsval - 1 : 0;
        size_t n = tcps_encode_ether(&g, buf, sizeof buf);
        if (!n || tcps_pcap_write(w, t, buf, n, n)) {
            fprintf(stderr, "bench_gen_capture: %s: %s\n", path, n ? strerror(errno) : "encode");
            tcps_pcap_close(w);
            free(open);
            return 1;
        }
        if (c->next == c->n)
            new_conn(c, next_id++);
    }
    free(open);
    if (tcps_pcap_close(w)) {
        fprintf(stderr, "bench_gen_capture: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}
