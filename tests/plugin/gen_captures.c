/*
 * tcpstate-plugin-gen: small captures made for the Wireshark plugin's tests,
 * and a large one for its benchmark.
 *
 *   tcpstate-plugin-gen basic   FILE   connections with known endings (below)
 *   tcpstate-plugin-gen tunnels FILE   TCP inside VLAN, IPv4-in-IPv4, IPv6-in-IPv4
 *   tcpstate-plugin-gen bad     FILE   truncated/malformed TCP and non-TCP frames
 *   tcpstate-plugin-gen bench   FILE [FLOWS]  interleaved connections, 20 packets each
 *
 * Every packet is written from a hard-coded sequence; what each endpoint's
 * state must be follows from TCP's rules and is stated next to the sequence
 * (tests/plugin/plugin_test.sh checks it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/pkt.h"
#include "tcpstate/tcpstate.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define BASE_TS (1700000000ull * SEC)

enum { C2S = 0, S2C = 1 };
enum { ENC_ETH, ENC_VLAN, ENC_IPIP, ENC_RAWFRAME };

typedef struct conn {
    uint8_t af;
    uint8_t caddr[16], saddr[16];
    uint16_t cport, sport;
    uint32_t cisn, sisn;
    int enc;
} conn;

typedef struct frame {
    uint64_t ts;
    size_t order;
    size_t caplen, wirelen;
    uint8_t data[1600];
} frame;

static frame *frames;
static size_t nframes, capframes;

static frame *new_frame(uint64_t ts)
{
    if (nframes == capframes) {
        capframes = capframes ? capframes * 2 : 256;
        frames = realloc(frames, capframes * sizeof *frames);
        if (!frames) {
            perror("realloc");
            exit(1);
        }
    }
    frame *f = &frames[nframes];
    memset(f, 0, sizeof *f);
    f->ts = ts;
    f->order = nframes++;
    return f;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint16_t ip_csum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static const uint8_t mac_a[6] = TCPS_ENCODE_SRC_MAC, mac_b[6] = TCPS_ENCODE_DST_MAC;

/* One segment of connection k at time t (ms after BASE_TS + start). */
static void seg(const conn *c, uint64_t ts, int dir, uint8_t flags, uint32_t seq_off,
                uint32_t ack_off, uint32_t len, uint16_t win, const tcps_options *opt)
{
    tcps_segment g;
    memset(&g, 0, sizeof g);
    g.ts_ns = ts;
    g.af = c->af;
    size_t alen = c->af == 6 ? 16 : 4;
    memcpy(g.src, dir == C2S ? c->caddr : c->saddr, alen);
    memcpy(g.dst, dir == C2S ? c->saddr : c->caddr, alen);
    g.sport = dir == C2S ? c->cport : c->sport;
    g.dport = dir == C2S ? c->sport : c->cport;
    g.seq = (dir == C2S ? c->cisn : c->sisn) + seq_off;
    g.ack = (flags & TCPS_F_ACK) ? (dir == C2S ? c->sisn : c->cisn) + ack_off : 0;
    g.flags = flags;
    g.len = len;
    g.window = win;
    if (opt)
        g.opt = *opt;
    frame *f = new_frame(ts);
    uint8_t ip[1600];
    size_t n;
    switch (c->enc) {
    case ENC_VLAN:
        n = tcps_encode_ip(&g, ip, sizeof ip);
        memcpy(f->data, mac_b, 6);
        memcpy(f->data + 6, mac_a, 6);
        put16(f->data + 12, 0x8100);
        put16(f->data + 14, 42); /* VLAN 42 */
        put16(f->data + 16, c->af == 6 ? 0x86dd : 0x0800);
        memcpy(f->data + 18, ip, n);
        f->caplen = 18 + n;
        break;
    case ENC_IPIP: {
        /* outer IPv4 192.0.2.1 <-> 192.0.2.2, protocol 4 (IPv4) or 41 (IPv6) */
        n = tcps_encode_ip(&g, ip, sizeof ip);
        uint8_t *o = f->data + 14;
        memcpy(f->data, mac_b, 6);
        memcpy(f->data + 6, mac_a, 6);
        put16(f->data + 12, 0x0800);
        memset(o, 0, 20);
        o[0] = 0x45;
        put16(o + 2, (uint16_t)(20 + n));
        o[6] = 0x40;
        o[8] = 64;
        o[9] = c->af == 6 ? 41 : 4;
        const uint8_t a[4] = {192, 0, 2, 1}, b[4] = {192, 0, 2, 2};
        memcpy(o + 12, dir == C2S ? a : b, 4);
        memcpy(o + 16, dir == C2S ? b : a, 4);
        put16(o + 10, ip_csum(o, 20));
        memcpy(o + 20, ip, n);
        f->caplen = 34 + n;
        break;
    }
    default:
        f->caplen = tcps_encode_ether(&g, f->data, sizeof f->data);
        break;
    }
    if (f->caplen == 0) {
        fprintf(stderr, "encode failed\n");
        exit(1);
    }
    f->wirelen = f->caplen;
}

static int cmp_frame(const void *a, const void *b)
{
    const frame *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int write_all(const char *path)
{
    qsort(frames, nframes, sizeof *frames, cmp_frame);
    tcps_pcap_writer *w = tcps_pcap_open_write(path, TCPS_LINK_ETHERNET, 1, 0);
    if (!w) {
        perror(path);
        return 1;
    }
    for (size_t i = 0; i < nframes; i++)
        tcps_pcap_write(w, frames[i].ts, frames[i].data, frames[i].caplen, frames[i].wirelen);
    if (tcps_pcap_close(w)) {
        perror(path);
        return 1;
    }
    return 0;
}

static conn v4(uint8_t c4, uint16_t cport, uint16_t sport, uint32_t cisn, uint32_t sisn)
{
    conn c;
    memset(&c, 0, sizeof c);
    c.af = 4;
    const uint8_t ca[4] = {10, 0, 0, c4}, sa[4] = {10, 0, 1, 1};
    memcpy(c.caddr, ca, 4);
    memcpy(c.saddr, sa, 4);
    c.cport = cport;
    c.sport = sport;
    c.cisn = cisn;
    c.sisn = sisn;
    return c;
}

static const tcps_options *syn_opts(void)
{
    static tcps_options o;
    memset(&o, 0, sizeof o);
    o.present = TCPS_OPT_MSS | TCPS_OPT_SACK_PERM | TCPS_OPT_WSCALE;
    o.mss = 1460;
    o.wscale = 7;
    return &o;
}

#define A TCPS_F_ACK
#define S TCPS_F_SYN
#define F TCPS_F_FIN
#define R TCPS_F_RST
#define P TCPS_F_PSH

/* The handshake at t0: SYN, SYN-ACK, ACK (client ESTABLISHED after the
 * SYN-ACK, server after the ACK). */
static void handshake(const conn *c, uint64_t t0)
{
    seg(c, t0, C2S, S, 0, 0, 0, 64240, syn_opts());
    seg(c, t0 + 1 * MS, S2C, S | A, 0, 1, 0, 65160, syn_opts());
    seg(c, t0 + 2 * MS, C2S, A, 1, 1, 0, 502, NULL);
}

static int gen_basic(const char *path)
{
    uint64_t t = BASE_TS;
    /* Connection 1 (10.0.0.1:40001 -> 10.0.1.1:80), frames 1-11: the server
     * stays in CLOSE_WAIT for 120 s after the client's FIN, sends data
     * (allowed in CLOSE_WAIT), then closes.
     *  1-3 handshake; 4 client data; 5 server ACK
     *  6 (t=1 s) client FIN: client FIN_WAIT_1, server CLOSE_WAIT
     *  7 server ACK of the FIN: client FIN_WAIT_2 (half-closed by the client)
     *  8 (t=121 s) server data: server still CLOSE_WAIT, 120 s in it
     *  9 client ACK
     * 10 (t=122 s) server FIN: client TIME_WAIT, server LAST_ACK
     * 11 client ACK: server CLOSED.  Four-packet close, Zeek SF. */
    conn c1 = v4(1, 40001, 80, 1000, 5000);
    handshake(&c1, t);
    seg(&c1, t + 10 * MS, C2S, P | A, 1, 1, 100, 502, NULL);
    seg(&c1, t + 11 * MS, S2C, A, 1, 101, 0, 509, NULL);
    seg(&c1, t + 1000 * MS, C2S, F | A, 101, 1, 0, 502, NULL);
    seg(&c1, t + 1001 * MS, S2C, A, 1, 102, 0, 509, NULL);
    seg(&c1, t + 121000 * MS, S2C, P | A, 1, 102, 10, 509, NULL);
    seg(&c1, t + 121001 * MS, C2S, A, 102, 11, 0, 502, NULL);
    seg(&c1, t + 122000 * MS, S2C, F | A, 11, 102, 0, 509, NULL);
    seg(&c1, t + 122001 * MS, C2S, A, 102, 12, 0, 502, NULL);

    /* Connection 2 (10.0.0.2:40002 -> :81), frames at t=2 s: SYN answered
     * by RST+ACK: refused.  Client SYN_SENT, then CLOSED; Zeek REJ. */
    conn c2 = v4(2, 40002, 81, 2000, 0);
    seg(&c2, t + 2000 * MS, C2S, S, 0, 0, 0, 64240, syn_opts());
    seg(&c2, t + 2001 * MS, S2C, R | A, 0, 1, 0, 0, NULL);

    /* Connection 3 (10.0.0.3:40003 -> :82): a SYN sent 4 times with no
     * answer (t=3, 4, 5, 6 s: Linux >= 6.5 linear timeouts): copies 2-4 are
     * SYN retransmissions 1-3; the client stays SYN_SENT. */
    conn c3 = v4(3, 40003, 82, 3000, 0);
    for (int i = 0; i < 4; i++)
        seg(&c3, t + (3000 + 1000 * (uint64_t)i) * MS, C2S, S, 0, 0, 0, 64240, syn_opts());

    /* Connection 4 (10.0.0.4:40004 -> :83): idle after one exchange, then a
     * keepalive probe 7200 s later (an ACK at seq = next - 1, no data),
     * answered by the server's ACK. */
    conn c4 = v4(4, 40004, 83, 4000, 6000);
    handshake(&c4, t + 7000 * MS);
    seg(&c4, t + 7010 * MS, C2S, P | A, 1, 1, 5, 502, NULL);
    seg(&c4, t + 7011 * MS, S2C, A, 1, 6, 0, 509, NULL);
    seg(&c4, t + (7010 + 7200000) * MS, C2S, A, 5, 1, 0, 502, NULL);        /* probe */
    seg(&c4, t + (7010 + 7200000 + 1) * MS, S2C, A, 1, 6, 0, 509, NULL);    /* answer */

    /* Connection 5 (10.0.0.5:40005 -> :84): three-packet close (client FIN,
     * server FIN+ACK, client ACK) leaves the client in TIME_WAIT; 10 s
     * later the client sends a new SYN on the same 4-tuple: a new
     * connection that reuses a 4-tuple in TIME_WAIT. */
    conn c5 = v4(5, 40005, 84, 7000, 8000);
    handshake(&c5, t + 9000 * MS);
    seg(&c5, t + 9100 * MS, C2S, F | A, 1, 1, 0, 502, NULL);
    seg(&c5, t + 9101 * MS, S2C, F | A, 1, 2, 0, 509, NULL);
    seg(&c5, t + 9102 * MS, C2S, A, 2, 2, 0, 502, NULL);
    conn c5b = c5;
    c5b.cisn = 900000;
    c5b.sisn = 800000;
    handshake(&c5b, t + 19102 * MS);

    /* Connection 6 (IPv6 [2001:db8::1]:40006 -> [2001:db8::2]:85): handshake,
     * then the client aborts with RST: both end CLOSED. */
    conn c6;
    memset(&c6, 0, sizeof c6);
    c6.af = 6;
    c6.caddr[0] = 0x20; c6.caddr[1] = 0x01; c6.caddr[2] = 0x0d; c6.caddr[3] = 0xb8; c6.caddr[15] = 1;
    memcpy(c6.saddr, c6.caddr, 16);
    c6.saddr[15] = 2;
    c6.cport = 40006;
    c6.sport = 85;
    c6.cisn = 11000;
    c6.sisn = 12000;
    handshake(&c6, t + 20000 * MS);
    seg(&c6, t + 20100 * MS, C2S, R | A, 1, 1, 0, 502, NULL);

    /* Connection 7 (10.0.0.7:40007 -> :86): the server's window closes
     * (window 0 after 1000 bytes); the client probes twice with an ACK at
     * seq = next - 1 and no data: zero-window probes 1 and 2. */
    conn c7 = v4(7, 40007, 86, 13000, 14000);
    handshake(&c7, t + 21000 * MS);
    seg(&c7, t + 21010 * MS, C2S, P | A, 1, 1, 1000, 502, NULL);
    seg(&c7, t + 21011 * MS, S2C, A, 1, 1001, 0, 0, NULL);
    seg(&c7, t + 21211 * MS, C2S, A, 1000, 1, 0, 502, NULL);
    seg(&c7, t + 21212 * MS, S2C, A, 1, 1001, 0, 0, NULL);
    seg(&c7, t + 21612 * MS, C2S, A, 1000, 1, 0, 502, NULL);
    seg(&c7, t + 21613 * MS, S2C, A, 1, 1001, 0, 0, NULL);
    return write_all(path);
}

static int gen_tunnels(const char *path)
{
    uint64_t t = BASE_TS;
    /* each: handshake, client FIN, server FIN+ACK, client ACK */
    conn c[3];
    c[0] = v4(21, 40101, 80, 100, 200);
    c[0].enc = ENC_VLAN;
    c[1] = v4(22, 40102, 80, 300, 400);
    c[1].enc = ENC_IPIP;
    memset(&c[2], 0, sizeof c[2]);
    c[2].af = 6;
    c[2].caddr[0] = 0x20; c[2].caddr[1] = 0x01; c[2].caddr[2] = 0x0d; c[2].caddr[3] = 0xb8;
    c[2].caddr[15] = 0x23;
    memcpy(c[2].saddr, c[2].caddr, 16);
    c[2].saddr[15] = 0x24;
    c[2].cport = 40103;
    c[2].sport = 80;
    c[2].cisn = 500;
    c[2].sisn = 600;
    c[2].enc = ENC_IPIP;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = t + (uint64_t)i * 1000 * MS;
        handshake(&c[i], t0);
        seg(&c[i], t0 + 100 * MS, C2S, F | A, 1, 1, 0, 502, NULL);
        seg(&c[i], t0 + 101 * MS, S2C, F | A, 1, 2, 0, 509, NULL);
        seg(&c[i], t0 + 102 * MS, C2S, A, 2, 2, 0, 502, NULL);
    }
    return write_all(path);
}

static int gen_bad(const char *path)
{
    uint64_t t = BASE_TS;
    /* frames 1-3: a good handshake (10.0.0.31:40201 -> :80) */
    conn c = v4(31, 40201, 80, 100, 200);
    handshake(&c, t);
    /* frame 4: a TCP segment cut inside its TCP header (caplen 14+20+10) */
    seg(&c, t + 10 * MS, C2S, P | A, 1, 1, 10, 502, NULL);
    frames[nframes - 1].caplen = 44;
    /* frame 5: TCP data offset 3 (less than the 20-byte minimum) */
    seg(&c, t + 11 * MS, C2S, P | A, 1, 1, 10, 502, NULL);
    frames[nframes - 1].data[14 + 20 + 12] = 0x30;
    /* frame 6: a frame cut in the IP header */
    seg(&c, t + 12 * MS, C2S, A, 1, 1, 0, 502, NULL);
    frames[nframes - 1].caplen = 20;
    /* frame 7: UDP 10.0.0.31:5353 -> 10.0.1.1:9999, 4 bytes */
    frame *f = new_frame(t + 13 * MS);
    memcpy(f->data, mac_b, 6);
    memcpy(f->data + 6, mac_a, 6);
    put16(f->data + 12, 0x0800);
    uint8_t *ip = f->data + 14;
    ip[0] = 0x45;
    put16(ip + 2, 20 + 8 + 4);
    ip[8] = 64;
    ip[9] = 17;
    const uint8_t sa[4] = {10, 0, 0, 31}, da[4] = {10, 0, 1, 1};
    memcpy(ip + 12, sa, 4);
    memcpy(ip + 16, da, 4);
    put16(ip + 10, ip_csum(ip, 20));
    put16(ip + 20, 5353);
    put16(ip + 22, 9999);
    put16(ip + 24, 12);
    f->caplen = f->wirelen = 14 + 32;
    /* frame 8: ARP request */
    f = new_frame(t + 14 * MS);
    memset(f->data, 0xff, 6);
    memcpy(f->data + 6, mac_a, 6);
    put16(f->data + 12, 0x0806);
    const uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 31,
                             0, 0, 0, 0, 0, 0, 10, 0, 1, 1};
    memcpy(f->data + 14, arp, 28);
    f->caplen = f->wirelen = 42;
    /* frame 9: ICMP port unreachable quoting the client's TCP header */
    seg(&c, t + 15 * MS, C2S, P | A, 1, 1, 0, 502, NULL);
    frame quoted = frames[nframes - 1];
    nframes--;
    f = new_frame(t + 15 * MS);
    memcpy(f->data, mac_a, 6);
    memcpy(f->data + 6, mac_b, 6);
    put16(f->data + 12, 0x0800);
    ip = f->data + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + 8 + 20 + 20));
    ip[8] = 64;
    ip[9] = 1;
    memcpy(ip + 12, da, 4);
    memcpy(ip + 16, sa, 4);
    put16(ip + 10, ip_csum(ip, 20));
    uint8_t *icmp = ip + 20;
    icmp[0] = 3;
    icmp[1] = 3;
    memcpy(icmp + 8, quoted.data + 14, 40); /* IP header + 20 bytes of TCP */
    put16(icmp + 2, ip_csum(icmp, 48));
    f->caplen = f->wirelen = 14 + 20 + 48;
    /* frame 10: Ethernet with an unknown type and junk */
    f = new_frame(t + 16 * MS);
    memcpy(f->data, mac_b, 6);
    memcpy(f->data + 6, mac_a, 6);
    put16(f->data + 12, 0x88b5);
    memset(f->data + 14, 0xa5, 20);
    f->caplen = f->wirelen = 34;
    /* frame 11: IPv4 claiming TCP with a total length beyond the frame */
    seg(&c, t + 17 * MS, C2S, A, 1, 1, 0, 502, NULL);
    put16(frames[nframes - 1].data + 14 + 2, 1500);
    /* frames 12-14: the connection closes normally (client FIN, server
     * FIN+ACK, client ACK) */
    seg(&c, t + 100 * MS, C2S, F | A, 1, 1, 0, 502, NULL);
    seg(&c, t + 101 * MS, S2C, F | A, 1, 2, 0, 509, NULL);
    seg(&c, t + 102 * MS, C2S, A, 2, 2, 0, 502, NULL);
    return write_all(path);
}

/* FLOWS connections interleaved, 20 packets each: handshake, 7 request/ACK
 * pairs, three-packet close (FIN, FIN+ACK, ACK); 1 in 16 is refused (SYN,
 * RST+ACK: 2 packets). */
static int gen_bench(const char *path, unsigned nflows)
{
    tcps_pcap_writer *w = tcps_pcap_open_write(path, TCPS_LINK_ETHERNET, 1, 0);
    if (!w) {
        perror(path);
        return 1;
    }
    /* step k of every connection, connection i starting 50 us after i-1 */
    const unsigned steps = 20;
    uint8_t buf[1600];
    for (unsigned k = 0; k < steps; k++) {
        for (unsigned i = 0; i < nflows; i++) {
            conn c = v4(0, (uint16_t)(1024 + i % 60000), 80, 1000u * i, 7000u * i + 3);
            c.caddr[2] = (uint8_t)(i >> 16);
            c.caddr[3] = (uint8_t)(i >> 8);
            c.caddr[1] = (uint8_t)(i & 0xff);
            uint64_t ts = BASE_TS + (uint64_t)k * 10 * MS + (uint64_t)i * 50000ull / 100;
            int refused = i % 16 == 15;
            if (refused && k >= 2)
                continue;
            nframes = 0;
            if (k == 0)
                seg(&c, ts, C2S, S, 0, 0, 0, 64240, syn_opts());
            else if (k == 1 && refused)
                seg(&c, ts, S2C, R | A, 0, 1, 0, 0, NULL);
            else if (k == 1)
                seg(&c, ts, S2C, S | A, 0, 1, 0, 65160, syn_opts());
            else if (k == 2)
                seg(&c, ts, C2S, A, 1, 1, 0, 502, NULL);
            else if (k < 17) {
                unsigned j = (k - 3) / 2;
                if ((k - 3) % 2 == 0)
                    seg(&c, ts, C2S, P | A, 1 + 100 * j, 1, 100, 502, NULL);
                else
                    seg(&c, ts, S2C, A, 1, 1 + 100 * (j + 1), 0, 509, NULL);
            } else if (k == 17)
                seg(&c, ts, C2S, F | A, 701, 1, 0, 502, NULL);
            else if (k == 18)
                seg(&c, ts, S2C, F | A, 1, 702, 0, 509, NULL);
            else
                seg(&c, ts, C2S, A, 702, 2, 0, 502, NULL);
            memcpy(buf, frames[0].data, frames[0].caplen);
            if (tcps_pcap_write(w, frames[0].ts, buf, frames[0].caplen, frames[0].wirelen)) {
                perror(path);
                return 1;
            }
        }
    }
    return tcps_pcap_close(w) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tcpstate-plugin-gen basic|tunnels|bad|bench FILE [FLOWS]\n");
        return 2;
    }
    if (strcmp(argv[1], "basic") == 0)
        return gen_basic(argv[2]);
    if (strcmp(argv[1], "tunnels") == 0)
        return gen_tunnels(argv[2]);
    if (strcmp(argv[1], "bad") == 0)
        return gen_bad(argv[2]);
    if (strcmp(argv[1], "bench") == 0)
        return gen_bench(argv[2], argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 12000);
    fprintf(stderr, "tcpstate-plugin-gen: unknown capture '%s'\n", argv[1]);
    return 2;
}
