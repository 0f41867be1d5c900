/*
 * tcpstate-fuzz-mutate: seeded structural mutations of a capture, for
 * fuzzing the Wireshark plugin in tshark (tests/fuzz-tshark/fuzz_tshark.sh).
 *
 *   tcpstate-fuzz-mutate [-n OPS] [-v] SEED IN OUT
 *
 * IN is a classic pcap (read and written with pkt/'s reader and writer) or
 * a little-endian pcapng (read and written here, block by block, so that
 * packet comments survive and can be mutated too).  OUT has IN's format.
 * The same SEED and IN always give the same OUT.  -n: number of mutations
 * (default: 1 to 8, from the seed).  -v: print each mutation on stderr.
 *
 * Mutations (each on random packets):
 *   frames   TCP/IP checksums, flags, seq/ack (random, interesting, wrap),
 *            window, data offset, option bytes, IP lengths, IHL, protocol,
 *            fragment fields, ports, addresses, byte flips, a record cut at
 *            a random length or extended with junk
 *   records  swap, duplicate, drop, reverse a run, shuffle, timestamps
 *            (backwards, equal, 0, huge jumps), repeat the capture (port
 *            reuse), many copies on new ports (many flows), sequence
 *            numbers shifted to wrap, link type of a pcap file
 *   comments (pcapng) byte flips, interesting numbers in key=value pairs,
 *            state names, truncation, quotes and escapes, control bytes,
 *            long values and keys, many pairs, duplicated lines, format
 *            version, moved, copied, dropped and extra comments, and a
 *            tcpstate-lab experiment line with extreme sysctl values
 *
 * Exit status: 0, 1 for an unreadable input or a write error, 2 for usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/pkt.h"

#define MAX_PACKETS 60000u    /* growth by repeat/flows stops here */
#define MAX_FRAME 65535u

/* ---- random numbers (splitmix64: same sequence on every platform) ---------- */
static uint64_t rng_state;
static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t rnd(uint32_t n) { return n ? (uint32_t)(rnd64() % n) : 0; } /* [0, n) */
static int chance(unsigned pct) { return rnd(100) < pct; }

static int verbose;
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("  mutate: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tcpstate-fuzz-mutate: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}
static void *xdup(const void *s, size_t n)
{
    void *p = xmalloc(n);
    if (n)
        memcpy(p, s, n);
    return p;
}

/* ---- the capture in memory --------------------------------------------------- */
typedef struct {
    char *s;
    size_t n;
} text;

typedef struct {
    int is_packet;      /* 0: another pcapng block, kept as it is (raw) */
    uint8_t *raw;       /* other blocks: the whole block */
    size_t rawlen;
    uint32_t iface;     /* pcapng */
    uint64_t ts;        /* pcap: ns; pcapng: units of the interface */
    uint8_t *data;
    size_t caplen, wirelen;
    text *cmt;          /* pcapng comments */
    size_t ncmt;
    uint8_t *opts;      /* pcapng: other options, raw, without opt_endofopt */
    size_t optslen;
} item;

static item *items;
static size_t nitems, capitems;
static int is_pcapng;
static int pcap_linktype, pcap_nanosec;
static uint32_t pcap_snaplen;
static int idb_linktype[64];
static size_t nidb;

static item *push_item(void)
{
    if (nitems == capitems) {
        capitems = capitems ? capitems * 2 : 64;
        items = realloc(items, capitems * sizeof *items);
        if (!items)
            die("out of memory");
    }
    memset(&items[nitems], 0, sizeof items[0]);
    return &items[nitems++];
}

static void free_item(item *it)
{
    free(it->raw);
    free(it->data);
    for (size_t i = 0; i < it->ncmt; i++)
        free(it->cmt[i].s);
    free(it->cmt);
    free(it->opts);
}

static item clone_item(const item *it)
{
    item c = *it;
    c.raw = it->raw ? xdup(it->raw, it->rawlen) : NULL;
    c.data = it->data ? xdup(it->data, it->caplen) : NULL;
    c.cmt = it->ncmt ? xmalloc(it->ncmt * sizeof *c.cmt) : NULL;
    for (size_t i = 0; i < it->ncmt; i++) {
        c.cmt[i].s = xdup(it->cmt[i].s, it->cmt[i].n);
        c.cmt[i].n = it->cmt[i].n;
    }
    c.opts = it->opts ? xdup(it->opts, it->optslen) : NULL;
    return c;
}

static void insert_item(size_t at, item it)
{
    push_item();
    memmove(&items[at + 1], &items[at], (nitems - 1 - at) * sizeof *items);
    items[at] = it;
}

static size_t npackets(void)
{
    size_t n = 0;
    for (size_t i = 0; i < nitems; i++)
        n += items[i].is_packet;
    return n;
}
/* Index into items of the k-th packet. */
static size_t packet_at(size_t k)
{
    for (size_t i = 0; i < nitems; i++)
        if (items[i].is_packet && k-- == 0)
            return i;
    return nitems;
}
static item *random_packet(void)
{
    size_t n = npackets();
    return n ? &items[packet_at(rnd((uint32_t)n))] : NULL;
}
static int linktype_of(const item *it)
{
    if (!is_pcapng)
        return pcap_linktype;
    return it->iface < nidb ? idb_linktype[it->iface] : 1;
}

/* ---- reading ----------------------------------------------------------------- */
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static unsigned le16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

static void read_pcap(const char *path)
{
    char err[256];
    tcps_pcap_reader *r = tcps_pcap_open_read(path, err, sizeof err);
    if (!r)
        die("%s", err);
    pcap_linktype = tcps_pcap_linktype(r);
    pcap_nanosec = tcps_pcap_nanosec(r);
    pcap_snaplen = tcps_pcap_snaplen(r);
    uint64_t ts;
    const uint8_t *d;
    size_t cl, wl;
    int rc;
    while ((rc = tcps_pcap_next(r, &ts, &d, &cl, &wl)) == 1) {
        item *it = push_item();
        it->is_packet = 1;
        it->ts = ts;
        it->data = xdup(d, cl);
        it->caplen = cl;
        it->wirelen = wl;
    }
    /* a damaged input is mutated as far as it could be read */
    tcps_pcap_close_read(r);
}

static void read_pcapng(const uint8_t *f, size_t n)
{
    size_t off = 0;
    while (off + 12 <= n) {
        uint32_t type = le32(f + off), len = le32(f + off + 4);
        if (len < 12 || len % 4 || len > n - off)
            break; /* damaged: keep what came before */
        const uint8_t *b = f + off + 8;
        size_t blen = len - 12;
        item *it = push_item();
        if (type == 0x0a0d0d0a && blen >= 4 && le32(b) != 0x1a2b3c4d)
            die("big-endian pcapng is not supported");
        if (type == 1 && blen >= 8) {
            if (nidb < sizeof idb_linktype / sizeof idb_linktype[0])
                idb_linktype[nidb] = (int)le16(b);
            nidb++;
        }
        if (type == 6 && blen >= 20 && le32(b + 12) <= blen - 20) {
            it->is_packet = 1;
            it->iface = le32(b);
            it->ts = (uint64_t)le32(b + 4) << 32 | le32(b + 8);
            it->caplen = le32(b + 12);
            it->wirelen = le32(b + 16);
            it->data = xdup(b + 20, it->caplen);
            size_t o = 20 + ((it->caplen + 3) & ~(size_t)3);
            it->opts = xmalloc(blen);
            while (o + 4 <= blen) {
                unsigned code = le16(b + o), olen = le16(b + o + 2);
                size_t padded = (olen + 3u) & ~3u;
                if (code == 0 || o + 4 + padded > blen)
                    break;
                if (code == 1) {
                    it->cmt = realloc(it->cmt, (it->ncmt + 1) * sizeof *it->cmt);
                    if (!it->cmt)
                        die("out of memory");
                    it->cmt[it->ncmt].s = xdup(b + o + 4, olen);
                    it->cmt[it->ncmt].n = olen;
                    it->ncmt++;
                } else {
                    memcpy(it->opts + it->optslen, b + o, 4 + padded);
                    it->optslen += 4 + padded;
                }
                o += 4 + padded;
            }
        } else {
            it->raw = xdup(f + off, len);
            it->rawlen = len;
        }
        off += len;
    }
}

/* ---- writing ----------------------------------------------------------------- */
static void put_le32(FILE *fp, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fwrite(b, 1, 4, fp);
}
static void put_le16(FILE *fp, unsigned v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    fwrite(b, 1, 2, fp);
}
static void put_pad(FILE *fp, size_t n)
{
    static const uint8_t zero[4];
    fwrite(zero, 1, (4 - n % 4) % 4, fp);
}

static void write_pcapng(const char *path)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        die("%s: %s", path, strerror(errno));
    for (size_t i = 0; i < nitems; i++) {
        const item *it = &items[i];
        if (!it->is_packet) {
            fwrite(it->raw, 1, it->rawlen, fp);
            continue;
        }
        size_t cl = it->caplen > MAX_FRAME ? MAX_FRAME : it->caplen;
        size_t optlen = it->optslen;
        for (size_t c = 0; c < it->ncmt; c++)
            optlen += 4 + ((it->cmt[c].n > 65535 ? 65535 : it->cmt[c].n) + 3) / 4 * 4;
        if (optlen)
            optlen += 4; /* opt_endofopt */
        size_t len = 12 + 20 + (cl + 3) / 4 * 4 + optlen;
        put_le32(fp, 6);
        put_le32(fp, (uint32_t)len);
        put_le32(fp, it->iface);
        put_le32(fp, (uint32_t)(it->ts >> 32));
        put_le32(fp, (uint32_t)it->ts);
        put_le32(fp, (uint32_t)cl);
        put_le32(fp, (uint32_t)it->wirelen);
        fwrite(it->data, 1, cl, fp);
        put_pad(fp, cl);
        for (size_t c = 0; c < it->ncmt; c++) {
            size_t n = it->cmt[c].n > 65535 ? 65535 : it->cmt[c].n;
            put_le16(fp, 1);
            put_le16(fp, (unsigned)n);
            fwrite(it->cmt[c].s, 1, n, fp);
            put_pad(fp, n);
        }
        fwrite(it->opts, 1, it->optslen, fp);
        if (optlen)
            put_le32(fp, 0);
        put_le32(fp, (uint32_t)len);
    }
    if (ferror(fp) | fclose(fp))
        die("%s: write error", path);
}

static void write_pcap(const char *path)
{
    tcps_pcap_writer *w = tcps_pcap_open_write(path, pcap_linktype, pcap_nanosec,
                                               pcap_snaplen ? pcap_snaplen : 262144);
    if (!w)
        die("%s: %s", path, strerror(errno));
    const uint64_t max_ts = 0xffffffffull * 1000000000ull;
    for (size_t i = 0; i < nitems; i++) {
        const item *it = &items[i];
        size_t cl = it->caplen > MAX_FRAME ? MAX_FRAME : it->caplen;
        if (tcps_pcap_write(w, it->ts > max_ts ? max_ts : it->ts, it->data, cl, it->wirelen) != 0)
            break;
    }
    if (tcps_pcap_close(w) != 0)
        die("%s: write error", path);
}

/* ---- frame mutations ----------------------------------------------------------- */
static const uint32_t interesting32[] = {0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe,
                                         0xffffffff, 0xffff, 0x10000, 1000000000};
static const uint16_t interesting16[] = {0, 1, 2, 20, 40, 60, 0x7fff, 0x8000, 0xfffe, 0xffff};

static void w16(item *it, size_t off, unsigned v)
{
    if (off + 2 <= it->caplen) {
        it->data[off] = (uint8_t)(v >> 8);
        it->data[off + 1] = (uint8_t)v;
    }
}
static void w32(item *it, size_t off, uint32_t v)
{
    if (off + 4 <= it->caplen) {
        w16(it, off, v >> 16);
        w16(it, off + 2, v & 0xffff);
    }
}
static uint32_t r32(const item *it, size_t off)
{
    if (off + 4 > it->caplen)
        return 0;
    const uint8_t *p = it->data + off;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static unsigned r16(const item *it, size_t off)
{
    return off + 2 <= it->caplen ? (unsigned)it->data[off] << 8 | it->data[off + 1] : 0;
}

typedef struct {
    int ok;
    tcps_segment seg;
    tcps_decode_info info;
    int v4;
} decoded;

static decoded decode(const item *it)
{
    decoded d;
    memset(&d, 0, sizeof d);
    d.ok = tcps_decode_ex(linktype_of(it), it->data, it->caplen, 0, &d.seg, &d.info) == TCPS_DEC_OK;
    if (d.ok)
        d.v4 = (it->data[d.info.ip_offset] >> 4) == 4;
    return d;
}

static uint32_t pick32(uint32_t old)
{
    switch (rnd(4)) {
    case 0: return interesting32[rnd(sizeof interesting32 / sizeof interesting32[0])];
    case 1: return old + (uint32_t)rnd(5) - 2;
    case 2: return old + 0x80000000u;
    default: return (uint32_t)rnd64();
    }
}

static void flip_bytes(item *it, unsigned count)
{
    for (unsigned k = 0; k < count && it->caplen; k++) {
        size_t o = rnd((uint32_t)it->caplen);
        if (chance(50))
            it->data[o] ^= (uint8_t)(1u << rnd(8));
        else
            it->data[o] = (uint8_t)rnd64();
    }
}

static void frame_op(item *it)
{
    decoded d = decode(it);
    if (!d.ok) {
        flip_bytes(it, 1 + rnd(4));
        note("bytes flipped (not a TCP segment)");
        return;
    }
    size_t ip = d.info.ip_offset, tcp = d.info.tcp_offset;
    unsigned op = rnd(17);
    switch (op) {
    case 0:
        w16(it, tcp + 16, r16(it, tcp + 16) ^ (1 + rnd(0xffff)));
        note("TCP checksum wrong");
        break;
    case 1:
        if (d.v4) {
            w16(it, ip + 10, r16(it, ip + 10) ^ (1 + rnd(0xffff)));
            note("IPv4 checksum wrong");
        } else {
            w16(it, tcp + 16, 0);
            note("TCP checksum 0");
        }
        break;
    case 2:
        if (tcp + 13 < it->caplen) {
            static const uint8_t combos[] = {0x02, 0x12, 0x11, 0x01, 0x04, 0x14, 0x03, 0x06,
                                             0x07, 0x3f, 0xff, 0x00, 0x10, 0x18, 0x29, 0xc2};
            it->data[tcp + 13] = chance(50) ? combos[rnd(sizeof combos)]
                                            : (uint8_t)(it->data[tcp + 13] ^ (1u << rnd(8)));
            note("TCP flags 0x%02x", it->data[tcp + 13]);
        }
        break;
    case 3:
        w32(it, tcp + 4, pick32(r32(it, tcp + 4)));
        note("seq changed");
        break;
    case 4:
        w32(it, tcp + 8, pick32(r32(it, tcp + 8)));
        note("ack changed");
        break;
    case 5:
        w16(it, tcp + 14, chance(50) ? 0 : rnd(0x10000));
        note("window changed");
        break;
    case 6:
        if (tcp + 12 < it->caplen) {
            it->data[tcp + 12] = (uint8_t)(rnd(16) << 4 | (it->data[tcp + 12] & 0x0f));
            note("TCP data offset %u", it->data[tcp + 12] >> 4);
        }
        break;
    case 7: {
        size_t hl = tcp + 12 < it->caplen ? (size_t)(it->data[tcp + 12] >> 4) * 4 : 20;
        if (hl > 20 && tcp + hl <= it->caplen) {
            for (unsigned k = 0, n = 1 + rnd(6); k < n; k++) {
                size_t o = tcp + 20 + rnd((uint32_t)(hl - 20));
                static const uint8_t ob[] = {0, 1, 2, 3, 4, 5, 8, 10, 18, 34, 0xff, 40};
                it->data[o] = chance(50) ? ob[rnd(sizeof ob)] : (uint8_t)rnd64();
            }
            note("TCP option bytes");
        } else {
            w16(it, tcp + 18, rnd(0x10000));
            note("urgent pointer");
        }
        break;
    }
    case 8:
        if (d.v4)
            w16(it, ip + 2, chance(50) ? interesting16[rnd(10)] : r16(it, ip + 2) + rnd(9) - 4);
        else
            w16(it, ip + 4, chance(50) ? interesting16[rnd(10)] : r16(it, ip + 4) + rnd(9) - 4);
        note("IP length changed");
        break;
    case 9:
        if (d.v4) {
            it->data[ip] = (uint8_t)(0x40 | rnd(16));
            note("IPv4 header length %u", it->data[ip] & 0x0f);
        } else {
            it->data[ip] = (uint8_t)(rnd(16) << 4 | (it->data[ip] & 0x0f));
            note("IP version %u", it->data[ip] >> 4);
        }
        break;
    case 10: {
        static const uint8_t protos[] = {6, 17, 1, 4, 41, 47, 0, 43, 44, 51, 58, 60, 255};
        size_t o = d.v4 ? ip + 9 : ip + 6;
        if (o < it->caplen)
            it->data[o] = protos[rnd(sizeof protos)];
        note("IP protocol changed");
        break;
    }
    case 11:
        if (d.v4) {
            w16(it, ip + 6, chance(50) ? 0x2000 : rnd(0x10000));
            note("IPv4 fragment fields");
        } else {
            w32(it, ip, r32(it, ip) ^ (uint32_t)rnd64() % 0x100000); /* flow label */
            note("IPv6 flow label");
        }
        break;
    case 12: {
        static const uint16_t ports[] = {0, 1, 80, 8080, 65535, 40000};
        w16(it, tcp + rnd(2) * 2, chance(60) ? ports[rnd(6)] : rnd(0x10000));
        note("port changed");
        break;
    }
    case 13: {
        size_t alen = d.v4 ? 4 : 16, src = d.v4 ? ip + 12 : ip + 8, dst = src + alen;
        if (dst + alen <= it->caplen) {
            if (chance(50)) {
                memcpy(it->data + dst, it->data + src, alen);
                note("destination address = source");
            } else {
                uint8_t t[16];
                memcpy(t, it->data + src, alen);
                memcpy(it->data + src, it->data + dst, alen);
                memcpy(it->data + dst, t, alen);
                note("addresses swapped");
            }
        }
        break;
    }
    case 14: {
        size_t cut = chance(50) ? tcp + rnd(21) : rnd((uint32_t)it->caplen + 1);
        if (cut < it->caplen) {
            it->caplen = cut;
            note("record cut to %zu bytes", cut);
        }
        break;
    }
    case 15: {
        size_t add = 1 + rnd(chance(10) ? 3000 : 40);
        it->data = realloc(it->data, it->caplen + add);
        if (!it->data)
            die("out of memory");
        for (size_t k = 0; k < add; k++)
            it->data[it->caplen + k] = (uint8_t)rnd64();
        it->caplen += add;
        if (it->wirelen < it->caplen || chance(50))
            it->wirelen = it->caplen;
        note("record extended by %zu bytes", add);
        break;
    }
    default:
        flip_bytes(it, 1 + rnd(8));
        note("bytes flipped");
        break;
    }
}

/* ---- record mutations ----------------------------------------------------------- */
static void swap_items(size_t a, size_t b)
{
    item t = items[a];
    items[a] = items[b];
    items[b] = t;
}

/* Shift the sequence space of every TCP segment so that the numbers wrap:
 * a flow's two directions get their own offsets (the lower port's side
 * one, the other side the other), consistently for seq and ack. */
static void seq_wrap(void)
{
    uint32_t d1 = (uint32_t)rnd64(), d2 = (uint32_t)rnd64();
    item *first = random_packet();
    if (first) {
        decoded d = decode(first);
        if (d.ok) {
            d1 = 0xffffffffu - d.seg.seq - rnd(3000);
            d2 = 0xffffffffu - d.seg.ack - rnd(3000);
        }
    }
    for (size_t i = 0; i < nitems; i++) {
        item *it = &items[i];
        if (!it->is_packet)
            continue;
        decoded d = decode(it);
        if (!d.ok)
            continue;
        int lower = d.seg.sport < d.seg.dport;
        size_t tcp = d.info.tcp_offset;
        w32(it, tcp + 4, d.seg.seq + (lower ? d2 : d1));
        if (d.seg.flags & TCPS_F_ACK)
            w32(it, tcp + 8, d.seg.ack + (lower ? d1 : d2));
    }
    note("sequence numbers shifted to wrap");
}

static void time_op(void)
{
    size_t n = npackets();
    if (!n)
        return;
    size_t k = rnd((uint32_t)n), i = packet_at(k);
    item *it = &items[i];
    uint64_t unit = is_pcapng ? 1000000 : 1000000000; /* 1 s (pcapng: 1 s in us, 1 ms in ns) */
    switch (rnd(6)) {
    case 0:
        it->ts = it->ts > unit * 3 ? it->ts - rnd(3) * unit - rnd((uint32_t)unit) : 0;
        note("timestamp of packet %zu goes back", k + 1);
        break;
    case 1:
        if (k > 0)
            it->ts = items[packet_at(k - 1)].ts;
        note("timestamp of packet %zu equals the previous one", k + 1);
        break;
    case 2:
        it->ts = 0;
        note("timestamp of packet %zu is 0", k + 1);
        break;
    case 3: {
        uint64_t jump = (uint64_t)(1 + rnd(100000)) * unit * (chance(30) ? 3600 : 1);
        for (size_t j = i; j < nitems; j++)
            if (items[j].is_packet)
                items[j].ts += jump;
        note("time jumps forward before packet %zu", k + 1);
        break;
    }
    case 4:
        it->ts = is_pcapng ? UINT64_MAX - rnd(1000) : 0xffffffffull * 1000000000ull;
        note("timestamp of packet %zu is the largest", k + 1);
        break;
    default:
        for (size_t j = i; j < nitems; j++)
            if (items[j].is_packet && j != i)
                items[j].ts = it->ts;
        note("every packet from %zu on at the same time", k + 1);
        break;
    }
}

static void repeat_capture(void)
{
    size_t n0 = nitems, times = 1 + rnd(chance(20) ? 60 : 4);
    uint64_t last = 0;
    for (size_t i = 0; i < n0; i++)
        if (items[i].is_packet && items[i].ts > last)
            last = items[i].ts;
    uint64_t first = 0;
    for (size_t i = 0; i < n0; i++)
        if (items[i].is_packet) {
            first = items[i].ts;
            break;
        }
    uint64_t span = last - first + (is_pcapng ? 1000 : 1000000);
    for (size_t t = 1; t <= times && npackets() < MAX_PACKETS; t++)
        for (size_t i = 0; i < n0 && npackets() < MAX_PACKETS; i++) {
            if (!items[i].is_packet)
                continue;
            item c = clone_item(&items[i]);
            c.ts += span * t;
            *push_item() = c;
        }
    note("capture repeated %zu times (port reuse)", times);
}

static void many_flows(void)
{
    item *src = random_packet();
    if (!src)
        return;
    decoded d = decode(src);
    if (!d.ok)
        return;
    item base = clone_item(src);
    size_t copies = 10 + rnd(chance(20) ? 20000 : 500);
    size_t tcp = d.info.tcp_offset;
    unsigned side = rnd(2);
    for (size_t k = 0; k < copies && npackets() < MAX_PACKETS; k++) {
        item c = clone_item(&base);
        w16(&c, tcp + side * 2, (unsigned)(1024 + k % 64000));
        if (chance(50))
            w32(&c, tcp + 4, (uint32_t)rnd64());
        c.ts += k;
        *push_item() = c;
    }
    free_item(&base);
    note("%zu copies of a packet on new ports (many flows)", copies);
}

static void record_op(void)
{
    size_t n = npackets();
    if (n == 0)
        return;
    switch (rnd(10)) {
    case 0: {
        size_t a = rnd((uint32_t)n), b = chance(70) ? a + 1 + rnd(4) : rnd((uint32_t)n);
        if (b < n && a != b) {
            swap_items(packet_at(a), packet_at(b));
            note("packets %zu and %zu swapped", a + 1, b + 1);
        }
        break;
    }
    case 1:
    case 2: {
        size_t a = rnd((uint32_t)n), copies = 1 + (chance(20) ? rnd(50) : 0);
        size_t at = packet_at(a) + 1 + (chance(50) ? rnd(5) : 0);
        if (at > nitems)
            at = nitems;
        for (size_t k = 0; k < copies; k++)
            insert_item(at, clone_item(&items[packet_at(a)]));
        note("packet %zu duplicated %zu times", a + 1, copies);
        break;
    }
    case 3: {
        size_t a = rnd((uint32_t)n), i = packet_at(a);
        free_item(&items[i]);
        memmove(&items[i], &items[i + 1], (nitems - i - 1) * sizeof *items);
        nitems--;
        note("packet %zu dropped", a + 1);
        break;
    }
    case 4: {
        size_t a = rnd((uint32_t)n), w = 2 + rnd(8);
        if (a + w > n)
            w = n - a;
        for (size_t k = 0; k < w / 2; k++)
            swap_items(packet_at(a + k), packet_at(a + w - 1 - k));
        note("packets %zu..%zu reversed", a + 1, a + w);
        break;
    }
    case 5:
        for (size_t k = n; k > 1; k--)
            swap_items(packet_at(k - 1), packet_at(rnd((uint32_t)k)));
        note("all packets shuffled");
        break;
    case 6:
    case 7:
        time_op();
        break;
    case 8:
        if (chance(50))
            repeat_capture();
        else
            many_flows();
        break;
    default:
        seq_wrap();
        break;
    }
}

/* ---- comment mutations ------------------------------------------------------------ */
static const char *const interesting_num[] = {
    "0", "1", "2", "7", "255", "256", "65535", "65536", "2147483647", "2147483648",
    "4294967295", "4294967296", "18446744073709551615", "18446744073709551616", "-1",
    "-2147483648", "99999999999999999999999999", "1e9", "0x10", "", "00000000000000000001",
    "3.5", "nan", "inf", "1.5e308", "-0"};
static const char *const state_words[] = {
    "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
    "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "NONE", "UNKNOWN", "", "X",
    "FIN_WAIT_", "ESTABLISHEDX", "established", "on(0.20/1/0)", "timewait(", "on(//)",
    "keepalive(99999999999999999999/4294967296/-1)", "client", "server", "lab"};

static text *random_comment(void)
{
    size_t with = 0;
    for (size_t i = 0; i < nitems; i++)
        with += items[i].ncmt > 0;
    if (!with)
        return NULL;
    size_t k = rnd((uint32_t)with);
    for (size_t i = 0; i < nitems; i++)
        if (items[i].ncmt && k-- == 0)
            return &items[i].cmt[rnd((uint32_t)items[i].ncmt)];
    return NULL;
}

static void splice(text *t, size_t at, size_t cut, const char *ins, size_t inslen)
{
    if (at > t->n)
        at = t->n;
    if (cut > t->n - at)
        cut = t->n - at;
    char *s = xmalloc(t->n - cut + inslen);
    memcpy(s, t->s, at);
    memcpy(s + at, ins, inslen);
    memcpy(s + at + inslen, t->s + at + cut, t->n - at - cut);
    free(t->s);
    t->s = s;
    t->n = t->n - cut + inslen;
}

/* Position of a random value (after '=') in t, and its length; 0 if none. */
static int random_value(const text *t, size_t *at, size_t *len)
{
    size_t cnt = 0;
    for (size_t i = 0; i < t->n; i++)
        cnt += t->s[i] == '=';
    if (!cnt)
        return 0;
    size_t k = rnd((uint32_t)cnt), i = 0;
    for (; i < t->n; i++)
        if (t->s[i] == '=' && k-- == 0)
            break;
    *at = i + 1;
    size_t e = *at;
    if (e < t->n && t->s[e] == '"') {
        e++;
        while (e < t->n && t->s[e] != '"')
            e += t->s[e] == '\\' ? 2 : 1;
        if (e < t->n)
            e++;
    } else {
        while (e < t->n && t->s[e] != ' ' && t->s[e] != '\n')
            e++;
    }
    *len = (e > t->n ? t->n : e) - *at;
    return 1;
}

static void experiment_line(void)
{
    size_t first = packet_at(0);
    if (first >= nitems)
        return;
    item *it = &items[first];
    static const char *const sysctls[] = {
        "tcp_syn_retries", "tcp_syn_linear_timeouts", "tcp_synack_retries", "tcp_orphan_retries",
        "tcp_retries2", "tcp_fin_timeout", "tcp_keepalive_time", "tcp_keepalive_intvl",
        "tcp_keepalive_probes", "tcp_rfc1337", "tcp_rto_min_us", "tcp_rto_max_ms"};
    static const char *const kernels[] = {"6.1.0", "5.4", "6.5", "6.18.44", "", "x.y", "4294967296.1",
                                          "-1.-1", "6"};
    char line[2048];
    int n = snprintf(line, sizeof line, "tcpstate-lab/1 experiment name=fuzz desc=\"mutated\" kernel=%s",
                     kernels[rnd(sizeof kernels / sizeof kernels[0])]);
    for (size_t k = 0; k < sizeof sysctls / sizeof sysctls[0] && n > 0 && (size_t)n < sizeof line - 128; k++)
        if (chance(60))
            n += snprintf(line + n, sizeof line - (size_t)n, " sysctl.%s=%s", sysctls[k],
                          interesting_num[rnd(sizeof interesting_num / sizeof interesting_num[0])]);
    text t = {xdup(line, (size_t)n), (size_t)n};
    if (it->ncmt && chance(50)) {
        /* in front of the comment that is there */
        splice(&it->cmt[0], 0, 0, "\n", 1);
        splice(&it->cmt[0], 0, 0, t.s, t.n);
        free(t.s);
    } else {
        it->cmt = realloc(it->cmt, (it->ncmt + 1) * sizeof *it->cmt);
        if (!it->cmt)
            die("out of memory");
        memmove(it->cmt + 1, it->cmt, it->ncmt * sizeof *it->cmt);
        it->cmt[0] = t;
        it->ncmt++;
    }
    note("experiment line with extreme sysctl values on the first packet");
}

static void comment_op(void)
{
    text *t = random_comment();
    unsigned op = rnd(16);
    if (!t || op == 15) {
        experiment_line();
        return;
    }
    size_t at, len;
    switch (op) {
    case 0:
        for (unsigned k = 0, n = 1 + rnd(4); k < n && t->n; k++)
            t->s[rnd((uint32_t)t->n)] ^= (char)(1u << rnd(8));
        note("comment bytes flipped");
        break;
    case 1:
    case 2:
        if (random_value(t, &at, &len)) {
            const char *v = interesting_num[rnd(sizeof interesting_num / sizeof interesting_num[0])];
            splice(t, at, len, v, strlen(v));
            note("comment value -> '%s'", v);
        }
        break;
    case 3:
        if (random_value(t, &at, &len)) {
            const char *v = state_words[rnd(sizeof state_words / sizeof state_words[0])];
            splice(t, at, len, v, strlen(v));
            note("comment value -> '%s'", v);
        }
        break;
    case 4:
        t->n = rnd((uint32_t)t->n + 1);
        note("comment cut to %zu bytes", t->n);
        break;
    case 5: {
        static const char *const q[] = {"\"", "\\", "\\\"", "\"\"", "=", " ", "  =", "\"\\"};
        const char *v = q[rnd(sizeof q / sizeof q[0])];
        splice(t, rnd((uint32_t)t->n + 1), 0, v, strlen(v));
        note("quote/escape inserted");
        break;
    }
    case 6: {
        static const char ctl[] = {'\0', '\r', '\t', '\n', '\x7f', '\xff', '\xc3', '\x80', '\x01'};
        char c = ctl[rnd(sizeof ctl)];
        splice(t, rnd((uint32_t)t->n + 1), 0, &c, 1);
        note("control byte 0x%02x inserted", (unsigned char)c);
        break;
    }
    case 7: {
        size_t vl = 200 + rnd(400);
        char *v = xmalloc(vl + 40);
        int quoted = chance(50);
        size_t o = (size_t)sprintf(v, " %s=%s", chance(50) ? "client" : "x", quoted ? "\"" : "");
        for (size_t k = 0; k < vl; k++)
            v[o++] = quoted && chance(5) ? ' ' : 'A';
        if (quoted)
            v[o++] = '"';
        splice(t, t->n, 0, v, o);
        free(v);
        note("long value (%zu bytes)", vl);
        break;
    }
    case 8: {
        char k[80];
        size_t kl = 28 + rnd(40);
        memset(k, 'k', kl);
        k[0] = ' ';
        memcpy(k + kl, "=1", 2);
        splice(t, t->n, 0, k, kl + 2);
        note("long key (%zu bytes)", kl - 1);
        break;
    }
    case 9: {
        size_t pairs = 20 + rnd(40);
        for (size_t k = 0; k < pairs; k++) {
            char kv[32];
            int n = snprintf(kv, sizeof kv, " k%zu=%zu", k, k);
            splice(t, t->n, 0, kv, (size_t)n);
        }
        note("%zu more key=value pairs", pairs);
        break;
    }
    case 10: {
        size_t e = 0;
        while (e < t->n && t->s[e] != '\n')
            e++;
        char *line = xdup(t->s, e);
        size_t copies = 1 + rnd(chance(10) ? 300 : 10);
        for (size_t k = 0; k < copies; k++) {
            splice(t, t->n, 0, "\n", 1);
            splice(t, t->n, 0, line, e);
        }
        free(line);
        note("first line repeated %zu times", copies);
        break;
    }
    case 11: {
        static const char *const vers[] = {"tcpstate-lab/0", "tcpstate-lab/2", "tcpstate-lab/99999",
                                           "tcpstate-lab/", "tcpstate-lab/1x", "tcpstate-lab/01",
                                           "tcpstate-lab /1", "TCPSTATE-LAB/1"};
        const char *v = vers[rnd(sizeof vers / sizeof vers[0])];
        if (t->n >= 14 && memcmp(t->s, "tcpstate-lab/1", 14) == 0) {
            splice(t, 0, 14, v, strlen(v));
            note("format version -> '%s'", v);
        }
        break;
    }
    case 12: {
        /* the comment moves to (or is copied onto) another packet */
        item *dst = random_packet();
        if (!dst)
            break;
        text c = {xdup(t->s, t->n), t->n};
        if (chance(50))
            t->n = 0;
        dst->cmt = realloc(dst->cmt, (dst->ncmt + 1) * sizeof *dst->cmt);
        if (!dst->cmt)
            die("out of memory");
        dst->cmt[dst->ncmt++] = c;
        note("comment moved or copied to another packet");
        break;
    }
    case 13:
        t->n = 0;
        note("comment emptied");
        break;
    default: {
        /* splice a random word after a random '=' or space */
        if (random_value(t, &at, &len)) {
            splice(t, at, 0, "\"", 1);
            note("unterminated quote");
        }
        break;
    }
    }
}

/* ---- main --------------------------------------------------------------------- */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        die("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = xmalloc(cap);
    size_t got;
    while ((got = fread(b + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap) {
            if (cap > (size_t)1 << 30)
                die("%s: too large", path);
            cap *= 2;
            b = realloc(b, cap);
            if (!b)
                die("out of memory");
        }
    }
    if (ferror(fp))
        die("%s: read error", path);
    fclose(fp);
    *n = len;
    return b;
}

static void usage(void)
{
    fprintf(stderr, "usage: tcpstate-fuzz-mutate [-n OPS] [-v] SEED IN OUT\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int nops = -1, a = 1;
    for (; a < argc && argv[a][0] == '-' && argv[a][1]; a++) {
        if (strcmp(argv[a], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[a], "-n") == 0 && a + 1 < argc)
            nops = atoi(argv[++a]);
        else
            usage();
    }
    if (argc - a != 3)
        usage();
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(argv[a], &end, 10);
    if (errno || *end || !*argv[a])
        usage();
    rng_state = seed;
    const char *in = argv[a + 1], *out = argv[a + 2];

    size_t flen;
    uint8_t *f = slurp(in, &flen);
    is_pcapng = flen >= 4 && le32(f) == 0x0a0d0d0a;
    if (is_pcapng)
        read_pcapng(f, flen);
    else
        read_pcap(in);
    free(f);

    if (nops < 0)
        nops = 1 + (int)rnd(8);
    int has_comments = 0;
    for (size_t i = 0; i < nitems; i++)
        has_comments |= items[i].ncmt > 0;
    for (int k = 0; k < nops; k++) {
        unsigned kind = rnd(100);
        if (is_pcapng && (has_comments ? kind < 40 : kind < 8)) {
            comment_op();
        } else if (kind < 75) {
            item *it = random_packet();
            if (it)
                frame_op(it);
        } else if (!is_pcapng && kind >= 97) {
            static const int lts[] = {TCPS_LINK_NULL, TCPS_LINK_ETHERNET, TCPS_LINK_RAW, TCPS_LINK_LOOP,
                                      TCPS_LINK_LINUX_SLL, TCPS_LINK_IPV4, TCPS_LINK_IPV6,
                                      TCPS_LINK_LINUX_SLL2, 105, 127, 147};
            pcap_linktype = lts[rnd(sizeof lts / sizeof lts[0])];
            note("link type %d", pcap_linktype);
        } else {
            record_op();
        }
    }
    if (is_pcapng)
        write_pcapng(out);
    else
        write_pcap(out);
    for (size_t i = 0; i < nitems; i++)
        free_item(&items[i]);
    free(items);
    return 0;
}
