/*
 * Captured frames -> tcps_segment.
 *
 * Every layer works on a window: p points at its first byte, cap is how many
 * bytes were captured from there, wire how many the enclosing headers say
 * exist (SIZE_MAX while no length field has been seen, i.e. at the link
 * layer).  A header that does not fit wire is MALFORMED, one that fits wire
 * but not cap is TRUNCATED.  Nothing is read beyond cap.
 */
#include <string.h>

#include "tcpstate/pkt.h"

#define UNKNOWN_LEN SIZE_MAX
#define MAX_IPV6_EXT 16   /* extension headers per IPv6 header */
#define MAX_MPLS_LABELS 16

typedef tcps_decode_status st;

typedef struct ctx {
    const uint8_t *base;
    tcps_segment *seg;
    tcps_decode_info *info;
    int depth; /* IP headers entered */
} ctx;

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t get32le(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Is a header of k bytes there? */
static st need(size_t k, size_t cap, size_t wire)
{
    if (wire != UNKNOWN_LEN && wire < k) return TCPS_DEC_MALFORMED;
    if (cap < k) return TCPS_DEC_TRUNCATED;
    return TCPS_DEC_OK;
}

static size_t wire_sub(size_t wire, size_t k)
{
    return wire == UNKNOWN_LEN ? UNKNOWN_LEN : wire - k;
}

const char *tcps_decode_status_text(tcps_decode_status s)
{
    switch (s) {
    case TCPS_DEC_OK: return "ok";
    case TCPS_DEC_NOT_IP: return "not IP";
    case TCPS_DEC_NOT_TCP: return "not TCP";
    case TCPS_DEC_TRUNCATED: return "truncated";
    case TCPS_DEC_MALFORMED: return "malformed";
    case TCPS_DEC_FRAGMENT: return "IP fragment";
    case TCPS_DEC_UNSUPPORTED_LINK: return "unsupported link type";
    }
    return "?";
}

static st dec_ipv4(ctx *c, const uint8_t *p, size_t cap, size_t wire);
static st dec_ipv6(ctx *c, const uint8_t *p, size_t cap, size_t wire);
static st dec_ether(ctx *c, const uint8_t *p, size_t cap, size_t wire);

/* ---- TCP ------------------------------------------------------------------- */
static void parse_options(const uint8_t *o, size_t n, tcps_options *opt)
{
    /* what Linux puts on every segment but the SYNs: NOP, NOP, timestamps */
    if (n == 12 && o[0] == 1 && o[1] == 1 && o[2] == 8 && o[3] == 10) {
        opt->tsval = get32(o + 4);
        opt->tsecr = get32(o + 8);
        opt->present |= TCPS_OPT_TS;
        return;
    }
    size_t i = 0;
    while (i < n) {
        unsigned kind = o[i];
        if (kind == 0) break;          /* end of option list */
        if (kind == 1) { i++; continue; } /* NOP */
        if (n - i < 2) goto bad;        /* no room for the length byte */
        size_t len = o[i + 1];
        if (len < 2 || len > n - i) goto bad;
        const uint8_t *v = o + i + 2;
        switch (kind) {
        case 2:
            if (len != 4) goto bad;
            opt->mss = (uint16_t)get16(v);
            opt->present |= TCPS_OPT_MSS;
            break;
        case 3:
            if (len != 3) goto bad;
            opt->wscale = v[0] > 14 ? 14 : v[0];
            opt->present |= TCPS_OPT_WSCALE;
            break;
        case 4:
            if (len != 2) goto bad;
            opt->present |= TCPS_OPT_SACK_PERM;
            break;
        case 5: {
            if (len < 10 || (len - 2) % 8 != 0) goto bad;
            size_t nb = (len - 2) / 8;
            if (nb > 4) nb = 4; /* cannot happen with 40 bytes of options */
            for (size_t b = 0; b < nb; b++) {
                opt->sack[b][0] = get32(v + 8 * b);
                opt->sack[b][1] = get32(v + 8 * b + 4);
            }
            for (size_t b = nb; b < 4; b++) opt->sack[b][0] = opt->sack[b][1] = 0;
            opt->nsack = (uint8_t)nb;
            opt->present |= TCPS_OPT_SACK;
            break;
        }
        case 8:
            if (len != 10) goto bad;
            opt->tsval = get32(v);
            opt->tsecr = get32(v + 4);
            opt->present |= TCPS_OPT_TS;
            break;
        default:
            break; /* unknown option with a sane length: skip */
        }
        i += len;
    }
    return;
bad:
    opt->present |= TCPS_OPT_MALFORMED;
}

static st dec_tcp(ctx *c, const uint8_t *p, size_t cap, size_t wire)
{
    st s = need(20, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    size_t hl = (size_t)(p[12] >> 4) * 4;
    if (hl < 20 || hl > wire) return TCPS_DEC_MALFORMED;
    if (hl > cap) return TCPS_DEC_TRUNCATED;
    if (wire - hl > UINT32_MAX) return TCPS_DEC_MALFORMED;

    tcps_segment *g = c->seg;
    g->sport = (uint16_t)get16(p);
    g->dport = (uint16_t)get16(p + 2);
    g->seq = get32(p + 4);
    g->ack = get32(p + 8);
    g->flags = p[13];
    g->window = (uint16_t)get16(p + 14);
    g->len = (uint32_t)(wire - hl);
    /* g->opt is zero: the segment was cleared before decoding, and only
     * the innermost TCP header is decoded */
    parse_options(p + 20, hl - 20, &g->opt);

    if (c->info) {
        c->info->tcp_offset = (size_t)(p - c->base);
        c->info->payload_offset = c->info->tcp_offset + hl;
        c->info->payload_captured = cap - hl;
    }
    return TCPS_DEC_OK;
}

/* ---- tunnels --------------------------------------------------------------- */
static st dec_ethertype(ctx *c, unsigned type, const uint8_t *p, size_t cap, size_t wire);

static st dec_gre(ctx *c, const uint8_t *p, size_t cap, size_t wire)
{
    st s = need(4, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    unsigned fl = get16(p);
    /* Version 0 only (version 1 is PPTP), no routing (R) or strict source
     * route bits of RFC 1701. */
    if ((fl & 0x0007) != 0 || (fl & 0x4800) != 0) return TCPS_DEC_NOT_TCP;
    size_t hl = 4;
    if (fl & 0x8000) hl += 4; /* checksum + reserved1 */
    if (fl & 0x2000) hl += 4; /* key */
    if (fl & 0x1000) hl += 4; /* sequence number */
    s = need(hl, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    if (c->info) c->info->tunnels++;
    return dec_ethertype(c, get16(p + 2), p + hl, cap - hl, wire_sub(wire, hl));
}

static st dec_udp(ctx *c, const uint8_t *p, size_t cap, size_t wire)
{
    st s = need(8, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    size_t ulen = get16(p + 4);
    /* VXLAN (RFC 7348): UDP port 4789, I flag set, then an Ethernet frame. */
    if (get16(p + 2) != 4789 || ulen < 16 || (wire != UNKNOWN_LEN && ulen > wire))
        return TCPS_DEC_NOT_TCP;
    s = need(16, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    if ((p[8] & 0x08) == 0) return TCPS_DEC_NOT_TCP;
    if (c->info) c->info->tunnels++;
    size_t incap = (cap < ulen ? cap : ulen) - 16;
    return dec_ether(c, p + 16, incap, ulen - 16);
}

/* The payload of an IP header with protocol / next header proto. */
static st dec_proto(ctx *c, unsigned proto, const uint8_t *p, size_t cap, size_t wire)
{
    switch (proto) {
    case 6: return dec_tcp(c, p, cap, wire);
    case 4:
        if (c->info) c->info->tunnels++;
        return dec_ipv4(c, p, cap, wire);
    case 41:
        if (c->info) c->info->tunnels++;
        return dec_ipv6(c, p, cap, wire);
    case 47: return dec_gre(c, p, cap, wire);
    case 17: return dec_udp(c, p, cap, wire);
    default: return TCPS_DEC_NOT_TCP;
    }
}

/* ---- IP -------------------------------------------------------------------- */
static st enter_ip(ctx *c, const uint8_t *p)
{
    if (++c->depth > TCPS_DECODE_MAX_DEPTH) return TCPS_DEC_MALFORMED;
    if (c->info) c->info->ip_offset = (size_t)(p - c->base);
    return TCPS_DEC_OK;
}

static st dec_ipv4(ctx *c, const uint8_t *p, size_t cap, size_t wire)
{
    st s = enter_ip(c, p);
    if (s != TCPS_DEC_OK) return s;
    s = need(20, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    if (p[0] >> 4 != 4) return TCPS_DEC_MALFORMED;
    size_t hl = (size_t)(p[0] & 0x0f) * 4;
    if (hl < 20) return TCPS_DEC_MALFORMED;
    size_t total = get16(p + 2);
    if (total == 0) /* TSO / offloaded capture: the length is what is there */
        total = wire != UNKNOWN_LEN ? wire : cap;
    if (total < hl || (wire != UNKNOWN_LEN && total > wire)) return TCPS_DEC_MALFORMED;
    if (hl > cap) return TCPS_DEC_TRUNCATED;

    unsigned frag = get16(p + 6);
    if ((frag & 0x1fff) != 0) return TCPS_DEC_FRAGMENT;

    tcps_segment *g = c->seg;
    g->af = 4;
    memset(g->src, 0, sizeof g->src);
    memset(g->dst, 0, sizeof g->dst);
    memcpy(g->src, p + 12, 4);
    memcpy(g->dst, p + 16, 4);
    if (c->info) {
        c->info->ttl = p[8];
        c->info->first_fragment = (frag & 0x2000) != 0;
    }
    if (cap > total) cap = total; /* link-layer padding or trailer */
    return dec_proto(c, p[9], p + hl, cap - hl, total - hl);
}

static st dec_ipv6(ctx *c, const uint8_t *p, size_t cap, size_t wire)
{
    st s = enter_ip(c, p);
    if (s != TCPS_DEC_OK) return s;
    s = need(40, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    if (p[0] >> 4 != 6) return TCPS_DEC_MALFORMED;
    size_t plen = get16(p + 4);
    if (plen == 0) /* jumbogram or TSO capture */
        plen = (wire != UNKNOWN_LEN ? wire : cap) - 40;
    if (wire != UNKNOWN_LEN && plen > wire - 40) return TCPS_DEC_MALFORMED;

    tcps_segment *g = c->seg;
    g->af = 6;
    memcpy(g->src, p + 8, 16);
    memcpy(g->dst, p + 24, 16);
    if (c->info) {
        c->info->ttl = p[7];
        c->info->first_fragment = 0;
    }

    unsigned nh = p[6];
    p += 40;
    cap -= 40;
    if (cap > plen) cap = plen;
    wire = plen;
    for (int n = 0;; n++) {
        size_t hl;
        switch (nh) {
        case 0:  /* hop-by-hop options */
        case 43: /* routing */
        case 60: /* destination options */
        case 51: /* authentication header */
            s = need(2, cap, wire);
            if (s != TCPS_DEC_OK) return s;
            hl = nh == 51 ? ((size_t)p[1] + 2) * 4 : ((size_t)p[1] + 1) * 8;
            break;
        case 44: /* fragment */
            hl = 8;
            break;
        default:
            return dec_proto(c, nh, p, cap, wire);
        }
        if (n >= MAX_IPV6_EXT) return TCPS_DEC_MALFORMED;
        s = need(hl, cap, wire);
        if (s != TCPS_DEC_OK) return s;
        if (nh == 44) {
            unsigned off = get16(p + 2);
            if ((off >> 3) != 0) return TCPS_DEC_FRAGMENT;
            if ((off & 1) && c->info) c->info->first_fragment = 1;
        }
        nh = p[0];
        p += hl;
        cap -= hl;
        wire -= hl;
    }
}

/* ---- link layers ------------------------------------------------------------ */
static st dec_ip_version(ctx *c, const uint8_t *p, size_t cap, size_t wire)
{
    if (cap < 1) return wire == 0 ? TCPS_DEC_MALFORMED : TCPS_DEC_TRUNCATED;
    switch (p[0] >> 4) {
    case 4: return dec_ipv4(c, p, cap, wire);
    case 6: return dec_ipv6(c, p, cap, wire);
    default: return TCPS_DEC_NOT_IP;
    }
}

static st dec_ethertype(ctx *c, unsigned type, const uint8_t *p, size_t cap, size_t wire)
{
    st s;
    for (;;) {
        switch (type) {
        case 0x0800: return dec_ipv4(c, p, cap, wire);
        case 0x86dd: return dec_ipv6(c, p, cap, wire);
        case 0x8100: /* 802.1Q */
        case 0x88a8: /* 802.1ad */
        case 0x9100: /* old QinQ values */
        case 0x9200:
        case 0x9300:
            s = need(4, cap, wire);
            if (s != TCPS_DEC_OK) return s;
            if (c->info) {
                if (c->info->vlans == 0) c->info->vlan_id = (uint16_t)(get16(p) & 0x0fff);
                if (c->info->vlans < UINT8_MAX) c->info->vlans++;
            }
            type = get16(p + 2);
            p += 4;
            cap -= 4;
            wire = wire_sub(wire, 4);
            break;
        case 0x8847: /* MPLS unicast */
        case 0x8848: /* MPLS multicast */
            for (int n = 0;; n++) {
                if (n >= MAX_MPLS_LABELS) return TCPS_DEC_MALFORMED;
                s = need(4, cap, wire);
                if (s != TCPS_DEC_OK) return s;
                int bottom = p[2] & 1;
                p += 4;
                cap -= 4;
                wire = wire_sub(wire, 4);
                if (bottom) break;
            }
            return dec_ip_version(c, p, cap, wire);
        case 0x8864: /* PPPoE session */
            s = need(8, cap, wire);
            if (s != TCPS_DEC_OK) return s;
            if (p[0] != 0x11 || p[1] != 0) return TCPS_DEC_NOT_IP;
            switch (get16(p + 6)) {
            case 0x0021: return dec_ipv4(c, p + 8, cap - 8, wire_sub(wire, 8));
            case 0x0057: return dec_ipv6(c, p + 8, cap - 8, wire_sub(wire, 8));
            default: return TCPS_DEC_NOT_IP;
            }
        case 0x6558: /* transparent Ethernet bridging (GRE, NVGRE) */
            return dec_ether(c, p, cap, wire);
        default:
            return TCPS_DEC_NOT_IP;
        }
    }
}

static st dec_ether(ctx *c, const uint8_t *p, size_t cap, size_t wire)
{
    st s = need(14, cap, wire);
    if (s != TCPS_DEC_OK) return s;
    unsigned type = get16(p + 12);
    if (type <= 1500) { /* 802.3 length: IP only in LLC/SNAP */
        s = need(22, cap, wire);
        if (s != TCPS_DEC_OK) return s == TCPS_DEC_MALFORMED ? TCPS_DEC_NOT_IP : s;
        static const uint8_t snap[6] = {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00};
        if (memcmp(p + 14, snap, 6) != 0) return TCPS_DEC_NOT_IP;
        return dec_ethertype(c, get16(p + 20), p + 22, cap - 22, wire_sub(wire, 22));
    }
    return dec_ethertype(c, type, p + 14, cap - 14, wire_sub(wire, 14));
}

static st dec_null(ctx *c, const uint8_t *p, size_t cap)
{
    if (cap < 4) return TCPS_DEC_TRUNCATED;
    /* The family is in the capturing host's byte order (NULL) or network
     * order (LOOP); take either.  AF_INET6 differs between systems. */
    uint32_t a = get32le(p), b = get32(p);
    if (a == 2 || b == 2) return dec_ipv4(c, p + 4, cap - 4, UNKNOWN_LEN);
    for (int i = 0; i < 2; i++) {
        uint32_t f = i ? b : a;
        if (f == 10 || f == 24 || f == 28 || f == 30)
            return dec_ipv6(c, p + 4, cap - 4, UNKNOWN_LEN);
    }
    return TCPS_DEC_NOT_IP;
}

tcps_decode_status tcps_decode_ex(int linktype, const uint8_t *data, size_t caplen,
                                  uint64_t ts_ns, tcps_segment *seg,
                                  tcps_decode_info *info)
{
    if (!data && caplen) return TCPS_DEC_MALFORMED;
    if (!data) data = (const uint8_t *)"";
    tcps_segment g;
    tcps_decode_info in;
    memset(&g, 0, sizeof g);
    if (info)
        memset(&in, 0, sizeof in);
    ctx c = {data, &g, info ? &in : NULL, 0};
    const size_t U = UNKNOWN_LEN;
    st s;

    switch (linktype) {
    case TCPS_LINK_ETHERNET:
        s = dec_ether(&c, data, caplen, U);
        break;
    case TCPS_LINK_NULL:
    case TCPS_LINK_LOOP:
        s = dec_null(&c, data, caplen);
        break;
    case TCPS_LINK_RAW:
    case 12: /* DLT_RAW on most BSDs */
    case 14: /* DLT_RAW on OpenBSD */
        s = dec_ip_version(&c, data, caplen, U);
        break;
    case TCPS_LINK_IPV4:
        s = dec_ipv4(&c, data, caplen, U);
        break;
    case TCPS_LINK_IPV6:
        s = dec_ipv6(&c, data, caplen, U);
        break;
    case TCPS_LINK_LINUX_SLL:
        /* packet type, ARPHRD type, address length, address[8], protocol */
        if (caplen < 16) { s = TCPS_DEC_TRUNCATED; break; }
        if (get16(data + 2) == 824) { s = TCPS_DEC_NOT_IP; break; } /* netlink */
        s = dec_ethertype(&c, get16(data + 14), data + 16, caplen - 16, U);
        break;
    case TCPS_LINK_LINUX_SLL2:
        /* protocol, reserved, ifindex, ARPHRD type, packet type, addr len, addr[8] */
        if (caplen < 20) { s = TCPS_DEC_TRUNCATED; break; }
        if (get16(data + 8) == 824) { s = TCPS_DEC_NOT_IP; break; }
        s = dec_ethertype(&c, get16(data), data + 20, caplen - 20, U);
        break;
    default:
        return TCPS_DEC_UNSUPPORTED_LINK;
    }
    if (s != TCPS_DEC_OK) return s;
    g.ts_ns = ts_ns;
    if (seg) *seg = g;
    if (info) *info = in;
    return TCPS_DEC_OK;
}

tcps_decode_status tcps_decode(int linktype, const uint8_t *data, size_t caplen,
                               uint64_t ts_ns, tcps_segment *seg)
{
    return tcps_decode_ex(linktype, data, caplen, ts_ns, seg, NULL);
}
