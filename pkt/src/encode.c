/*
 * tcps_segment -> IP packet / Ethernet II frame, for generated captures.
 */
#include <string.h>

#include "tcpstate/pkt.h"

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One's-complement sum of big-endian 16-bit words (odd tail padded). */
static uint32_t sum16(uint32_t acc, const uint8_t *p, size_t n)
{
    for (; n >= 2; p += 2, n -= 2) {
        acc += (uint32_t)p[0] << 8 | p[1];
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if (n) {
        acc += (uint32_t)p[0] << 8;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    return acc;
}

static unsigned fold(uint32_t acc)
{
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return ~acc & 0xffff;
}

/* Options as Linux lays them out; returns their length (multiple of 4). */
static size_t put_options(const tcps_options *o, uint8_t *b)
{
    size_t n = 0;
    if (o->present & TCPS_OPT_MSS) {
        b[n++] = 2; b[n++] = 4;
        put16(b + n, o->mss); n += 2;
    }
    int sp = (o->present & TCPS_OPT_SACK_PERM) != 0;
    if (o->present & TCPS_OPT_TS) {
        if (sp) { b[n++] = 4; b[n++] = 2; }
        else { b[n++] = 1; b[n++] = 1; }
        b[n++] = 8; b[n++] = 10;
        put32(b + n, o->tsval); n += 4;
        put32(b + n, o->tsecr); n += 4;
    } else if (sp) {
        b[n++] = 1; b[n++] = 1; b[n++] = 4; b[n++] = 2;
    }
    if (o->present & TCPS_OPT_WSCALE) {
        b[n++] = 1; b[n++] = 3; b[n++] = 3; b[n++] = o->wscale;
    }
    if ((o->present & TCPS_OPT_SACK) && o->nsack > 0) {
        size_t nb = o->nsack > 4 ? 4 : o->nsack;
        size_t room = (40 - n) >= 12 ? (40 - n - 4) / 8 : 0;
        if (nb > room) nb = room;
        if (nb > 0) {
            b[n++] = 1; b[n++] = 1; b[n++] = 5; b[n++] = (uint8_t)(2 + 8 * nb);
            for (size_t i = 0; i < nb; i++) {
                put32(b + n, o->sack[i][0]); n += 4;
                put32(b + n, o->sack[i][1]); n += 4;
            }
        }
    }
    return n;
}

size_t tcps_encode_ip(const tcps_segment *seg, uint8_t *buf, size_t cap)
{
    if (!seg || (seg->af != 4 && seg->af != 6)) return 0;
    uint8_t opts[40];
    size_t olen = put_options(&seg->opt, opts);
    size_t thl = 20 + olen;
    size_t iphl = seg->af == 4 ? 20 : 40;
    uint64_t tcplen = (uint64_t)thl + seg->len;
    uint64_t total = iphl + tcplen;
    if (seg->af == 4 ? total > 0xffff : tcplen > 0xffff) return 0;
    if (!buf || cap < total) return 0;

    uint8_t *ip = buf, *tcp = buf + iphl;
    if (seg->af == 4) {
        ip[0] = 0x45;
        ip[1] = 0;
        put16(ip + 2, (unsigned)total);
        put16(ip + 4, 0);      /* identification */
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 6;
        put16(ip + 10, 0);
        memcpy(ip + 12, seg->src, 4);
        memcpy(ip + 16, seg->dst, 4);
        put16(ip + 10, fold(sum16(0, ip, 20)));
    } else {
        put32(ip, 0x60000000u);
        put16(ip + 4, (unsigned)tcplen);
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, seg->src, 16);
        memcpy(ip + 24, seg->dst, 16);
    }

    put16(tcp, seg->sport);
    put16(tcp + 2, seg->dport);
    put32(tcp + 4, seg->seq);
    put32(tcp + 8, seg->ack);
    tcp[12] = (uint8_t)((thl / 4) << 4);
    tcp[13] = seg->flags;
    put16(tcp + 14, seg->window);
    put16(tcp + 16, 0); /* checksum */
    put16(tcp + 18, 0); /* urgent pointer */
    memcpy(tcp + 20, opts, olen);
    memset(tcp + thl, 0, seg->len);

    /* Pseudo-header (RFC 9293 3.1 / RFC 8200 8.1), then the segment. */
    uint8_t ph[40];
    uint32_t acc;
    if (seg->af == 4) {
        memcpy(ph, seg->src, 4);
        memcpy(ph + 4, seg->dst, 4);
        ph[8] = 0;
        ph[9] = 6;
        put16(ph + 10, (unsigned)tcplen);
        acc = sum16(0, ph, 12);
    } else {
        memcpy(ph, seg->src, 16);
        memcpy(ph + 16, seg->dst, 16);
        put32(ph + 32, (uint32_t)tcplen);
        put32(ph + 36, 6);
        acc = sum16(0, ph, 40);
    }
    /* The zero payload adds nothing to the sum. */
    acc = sum16(acc, tcp, thl);
    put16(tcp + 16, fold(acc));
    return (size_t)total;
}

size_t tcps_encode_ether(const tcps_segment *seg, uint8_t *buf, size_t cap)
{
    if (!buf || cap < 14) return 0;
    size_t n = tcps_encode_ip(seg, buf + 14, cap - 14);
    if (n == 0) return 0;
    static const uint8_t dst[6] = TCPS_ENCODE_DST_MAC, src[6] = TCPS_ENCODE_SRC_MAC;
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    put16(buf + 12, seg->af == 4 ? 0x0800 : 0x86dd);
    return n + 14;
}
