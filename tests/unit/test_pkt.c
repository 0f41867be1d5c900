/*
 * Unit tests of tcpstate_pkt: decoding, encoding, pcap files.
 *
 * The frames below are written out by hand from the header layouts of the
 * RFCs (IEEE 802.3/802.1Q, RFC 791, RFC 8200, RFC 9293, RFC 2784/2890,
 * RFC 7348, RFC 3032, RFC 2516, the libpcap LINKTYPE pages); none of them
 * comes from the encoder.  Checksum fields in hand-built frames are left 0:
 * the decoder does not look at them.
 *
 * Prints one line per failed check and ends with "N passed, M failed".
 * Temporary files go to the current directory (or $TCPS_TEST_TMPDIR).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/pkt.h"

static unsigned n_pass, n_fail;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            n_pass++;                                                          \
        } else {                                                               \
            n_fail++;                                                          \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

#define ST(s) tcps_decode_status_text(s)

/* ---- frame building -------------------------------------------------------- */
/* Concatenate (pointer, length) pairs, ended by a NULL pointer. */
static size_t build(uint8_t *out, size_t cap, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, cap);
    for (;;) {
        const uint8_t *p = va_arg(ap, const uint8_t *);
        if (!p) break;
        size_t k = va_arg(ap, size_t);
        if (n + k > cap) {
            printf("test bug: frame too big\n");
            exit(2);
        }
        memcpy(out + n, p, k);
        n += k;
    }
    va_end(ap);
    return n;
}
#define P(a) (const uint8_t *)(a), sizeof(a)
#define PS(s) (const uint8_t *)(s), (sizeof(s) - 1) /* string without NUL */

/* ---- hand-built headers ---------------------------------------------------- */
/* Ethernet II: destination MAC, source MAC, EtherType. */
static const uint8_t ETH_IPV4[] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x08, 0x00};
static const uint8_t ETH_IPV6[] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x86, 0xdd};
static const uint8_t ETH_ARP[] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x08, 0x06};
/* 802.1Q: TPID 0x8100, TCI (PCP 0, DEI 0, VID 100), EtherType IPv4. */
static const uint8_t ETH_VLAN[] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x81, 0x00, 0x00, 0x64, 0x08, 0x00};
/* 802.1ad QinQ: S-tag TPID 0x88a8 VID 200, C-tag 0x8100 PCP 1 VID 100, IPv4. */
static const uint8_t ETH_QINQ[] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x88, 0xa8, 0x00, 0xc8, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00};
/* MPLS: two label stack entries (label 16, then label 17 with S=1, TTL 64). */
static const uint8_t ETH_MPLS[] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x88, 0x47, 0x00, 0x01, 0x00, 0x40, 0x00, 0x01, 0x11, 0x40};
/* PPPoE session (RFC 2516): ver/type 0x11, code 0, session 1, length 62
 * (PPP protocol + 60 bytes of IP), PPP protocol 0x0021 IPv4. */
static const uint8_t ETH_PPPOE[] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x88, 0x64, 0x11, 0x00, 0x00, 0x01, 0x00, 0x3e, 0x00, 0x21};
/* 802.3 length 68 + LLC (AA AA 03) + SNAP (OUI 000000, type 0x0800). */
static const uint8_t ETH_SNAP[] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x00, 0x44, 0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00};
/* Linux cooked v1: packet type 0 (to us), ARPHRD_ETHER, address length 6,
 * address (8 bytes, padded), protocol IPv4. */
static const uint8_t SLL_IPV4[] = {
    0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0x00, 0x00, 0x08, 0x00};
/* Linux cooked v2: protocol IPv6, reserved, ifindex 2, ARPHRD_ETHER,
 * packet type 4 (outgoing), address length 6, address (8 bytes). */
static const uint8_t SLL2_IPV6[] = {
    0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x04, 0x06,
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x00};
/* BSD loopback: address family as a 4-byte word. */
static const uint8_t NULL_INET_LE[] = {0x02, 0x00, 0x00, 0x00};
static const uint8_t NULL_INET_BE[] = {0x00, 0x00, 0x00, 0x02};
static const uint8_t NULL_INET6_30_BE[] = {0x00, 0x00, 0x00, 0x1e}; /* macOS */
static const uint8_t NULL_INET6_24_LE[] = {0x18, 0x00, 0x00, 0x00}; /* NetBSD/OpenBSD */
static const uint8_t NULL_INET6_28_LE[] = {0x1c, 0x00, 0x00, 0x00}; /* FreeBSD */
static const uint8_t NULL_INET6_10_BE[] = {0x00, 0x00, 0x00, 0x0a}; /* Linux value */
static const uint8_t NULL_FAMILY_7[] = {0x07, 0x00, 0x00, 0x00};

/* IPv4 (RFC 791): ver/IHL, TOS, total length, id, flags/fragment offset,
 * TTL, protocol, checksum, source, destination. */
static const uint8_t IP4_SYN[] = { /* 10.0.0.1 -> 10.0.0.2, 20 + 40 bytes */
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
static const uint8_t IP4_DATA_11[] = { /* 10.0.0.2 -> 10.0.0.1, 20 + 32 + 11 */
    0x45, 0x00, 0x00, 0x3f, 0x00, 0x01, 0x40, 0x00, 0x3f, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01};
static const uint8_t IP4_DATA_1448[] = { /* 20 + 32 + 1448 = 1500 */
    0x45, 0x00, 0x05, 0xdc, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01};
static const uint8_t IP4_DATA_TSO[] = { /* total length 0 (TSO capture) */
    0x45, 0x00, 0x00, 0x00, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01};
static const uint8_t IP4_DATA_0[] = { /* 20 + 32 + 0 = 52 */
    0x45, 0x00, 0x00, 0x34, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01};
/* IHL 6: 4 bytes of options (Router Alert, RFC 2113); 24 + 32 + 5 = 61. */
static const uint8_t IP4_OPTS_DATA_5[] = {
    0x46, 0x00, 0x00, 0x3d, 0x00, 0x02, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, 0x94, 0x04, 0x00, 0x00};
/* First fragment: MF set, offset 0; 20 + 40. */
static const uint8_t IP4_SYN_MF[] = {
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x20, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
/* Later fragment: offset 185 (1480 bytes), MF clear; 20 + 40. */
static const uint8_t IP4_FRAG_185[] = {
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x00, 0xb9, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
static const uint8_t IP4_IHL4[] = { /* IHL 4: malformed */
    0x44, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
static const uint8_t IP4_TOTAL_16[] = { /* total length 16 < IHL*4 */
    0x45, 0x00, 0x00, 0x10, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
static const uint8_t IP4_TOTAL_40[] = { /* total 40: only 20 bytes for TCP */
    0x45, 0x00, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
static const uint8_t IP4_UDP_12[] = { /* protocol 17, 20 + 8 + 4 */
    0x45, 0x00, 0x00, 0x20, 0x00, 0x03, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x35};
static const uint8_t IP4_ICMP_8[] = { /* protocol 1, 20 + 8 */
    0x45, 0x00, 0x00, 0x1c, 0x00, 0x04, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02};
/* Outer headers of tunnels: 192.0.2.1 -> 192.0.2.2. */
static const uint8_t IP4_OUTER_IPIP[] = { /* proto 4: 20 + 20 + 32 + 4 = 76 */
    0x45, 0x00, 0x00, 0x4c, 0x00, 0x05, 0x40, 0x00, 0x40, 0x04, 0x00, 0x00,
    0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02};
static const uint8_t IP4_INNER_DATA_4[] = { /* 20 + 32 + 4 = 56 */
    0x45, 0x00, 0x00, 0x38, 0x00, 0x06, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01};
static const uint8_t IP4_INNER_TOO_LONG[] = { /* 256 > outer payload 56 */
    0x45, 0x00, 0x01, 0x00, 0x00, 0x06, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01};
static const uint8_t IP4_OUTER_6IN4[] = { /* proto 41: 20 + 40 + 40 = 100 */
    0x45, 0x00, 0x00, 0x64, 0x00, 0x07, 0x40, 0x00, 0x40, 0x29, 0x00, 0x00,
    0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02};
static const uint8_t IP4_OUTER_GRE_KEY[] = { /* proto 47: 20 + 8 + 60 = 88 */
    0x45, 0x00, 0x00, 0x58, 0x00, 0x08, 0x40, 0x00, 0x40, 0x2f, 0x00, 0x00,
    0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02};
static const uint8_t IP4_OUTER_GRE_CS[] = { /* proto 47: 20 + 12 + 40 + 32 + 11 = 115 */
    0x45, 0x00, 0x00, 0x73, 0x00, 0x09, 0x40, 0x00, 0x40, 0x2f, 0x00, 0x00,
    0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02};
static const uint8_t IP4_OUTER_GRE_ETH[] = { /* proto 47: 20 + 4 + 14 + 60 = 98 */
    0x45, 0x00, 0x00, 0x62, 0x00, 0x0a, 0x40, 0x00, 0x40, 0x2f, 0x00, 0x00,
    0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02};
static const uint8_t IP4_OUTER_VXLAN[] = { /* proto 17: 20 + 8 + 8 + 14 + 60 = 110 */
    0x45, 0x00, 0x00, 0x6e, 0x00, 0x0b, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
    0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02, 0x02};

/* GRE (RFC 2784/2890): flags+version, protocol type, optional fields. */
static const uint8_t GRE_KEY_IPV4[] = { /* K bit, key 42 */
    0x20, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x2a};
static const uint8_t GRE_CS_SEQ_IPV6[] = { /* C and S bits */
    0x90, 0x00, 0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07};
static const uint8_t GRE_ETH[] = {0x00, 0x00, 0x65, 0x58}; /* transparent bridging */
static const uint8_t GRE_ROUTING[] = { /* R bit (RFC 1701): not supported */
    0x40, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00};
/* UDP (sport 49153, dport 4789, length 90) + VXLAN (I flag, VNI 100). */
static const uint8_t UDP_VXLAN[] = {
    0xc0, 0x01, 0x12, 0xb5, 0x00, 0x5a, 0x00, 0x00,
    0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x00};
/* UDP sport 12345 dport 53 length 12 + 4 bytes. */
static const uint8_t UDP_DNS[] = {0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00,
                                  'a', 'b', 'c', 'd'};
static const uint8_t ICMP_ECHO[] = {0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
/* ARP request (RFC 826). */
static const uint8_t ARP_REQ[] = {
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x66, 0x77, 0x88, 0x99,
    0xaa, 0xbb, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x02};

/* IPv6 (RFC 8200): ver/TC/flow label, payload length, next header, hop
 * limit, source, destination.  2001:db8::1 and 2001:db8::2. */
#define V6_1 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01
#define V6_2 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02
static const uint8_t IP6_SYN[] = {0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x06, 0x40,
                                  V6_1, V6_2};
static const uint8_t IP6_DATA_11[] = {0x60, 0x0a, 0xbc, 0xde, 0x00, 0x2b, 0x06, 0x39,
                                      V6_2, V6_1};
static const uint8_t IP6_HBH_SYN[] = { /* next header 0, payload 8 + 40 */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x40, V6_1, V6_2};
/* Hop-by-hop: next header TCP, length 0 (8 bytes), Router Alert, PadN. */
static const uint8_t EXT_HBH_TCP[] = {0x06, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00};
/* Chain hop-by-hop -> destination options -> routing -> fragment -> TCP. */
static const uint8_t IP6_CHAIN_SYN[] = { /* payload 4 * 8 + 40 = 72 */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x48, 0x00, 0x40, V6_1, V6_2};
static const uint8_t EXT_HBH_DST[] = {0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00};
static const uint8_t EXT_DST_RT[] = {0x2b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00};
static const uint8_t EXT_RT_FRAG[] = {0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t EXT_FRAG_ATOMIC[] = {0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t EXT_FRAG_FIRST[] = {0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02};
static const uint8_t EXT_FRAG_LATER[] = {0x06, 0x00, 0x05, 0xc8, 0x00, 0x00, 0x00, 0x02};
static const uint8_t IP6_FRAG_SYN[] = { /* next header 44, payload 8 + 40 */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x30, 0x2c, 0x40, V6_1, V6_2};
static const uint8_t IP6_ESP[] = { /* next header 50 */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x32, 0x40, V6_1, V6_2};
static const uint8_t IP6_OUTER_4IN6[] = { /* next header 4, payload 20 + 40 */
    0x60, 0x00, 0x00, 0x00, 0x00, 0x3c, 0x04, 0x40,
    0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

/* TCP (RFC 9293): ports, seq, ack, data offset, flags, window, checksum,
 * urgent pointer, options. */
static const uint8_t TCP_SYN[] = {
    0x9c, 0x40, 0x00, 0x50,             /* 40000 -> 80 */
    0x01, 0x02, 0x03, 0x04,             /* seq */
    0x00, 0x00, 0x00, 0x00,             /* ack */
    0xa0, 0x02, 0xfa, 0xf0,             /* doff 10, SYN, window 64240 */
    0x00, 0x00, 0x00, 0x00,             /* checksum, urgent */
    0x02, 0x04, 0x05, 0xb4,             /* MSS 1460 */
    0x04, 0x02,                         /* SACK permitted */
    0x08, 0x0a, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00, /* TS */
    0x01, 0x03, 0x03, 0x07};            /* NOP, window scale 7 */
static const uint8_t TCP_DATA[] = {
    0x00, 0x50, 0x9c, 0x40,             /* 80 -> 40000 */
    0xa0, 0xb0, 0xc0, 0xd0,             /* seq */
    0x01, 0x02, 0x03, 0x05,             /* ack */
    0x80, 0x18, 0x01, 0xf5,             /* doff 8, PSH|ACK, window 501 */
    0x00, 0x00, 0x00, 0x00,
    0x01, 0x01, 0x08, 0x0a, 0x55, 0x66, 0x77, 0x88, 0x11, 0x22, 0x33, 0x44};
static const uint8_t TCP_DOFF4[] = {
    0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x40, 0x02, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x00};

/* ---- expected segments -------------------------------------------------------- */
static const uint8_t A4_1[4] = {10, 0, 0, 1}, A4_2[4] = {10, 0, 0, 2};
static const uint8_t A6_1[16] = {V6_1}, A6_2[16] = {V6_2};

static tcps_segment exp_syn(int af)
{
    tcps_segment s;
    memset(&s, 0, sizeof s);
    s.af = (uint8_t)af;
    memcpy(s.src, af == 4 ? A4_1 : A6_1, af == 4 ? 4 : 16);
    memcpy(s.dst, af == 4 ? A4_2 : A6_2, af == 4 ? 4 : 16);
    s.sport = 40000;
    s.dport = 80;
    s.flags = TCPS_F_SYN;
    s.seq = 0x01020304;
    s.window = 64240;
    s.opt.present = TCPS_OPT_MSS | TCPS_OPT_SACK_PERM | TCPS_OPT_TS | TCPS_OPT_WSCALE;
    s.opt.mss = 1460;
    s.opt.wscale = 7;
    s.opt.tsval = 0x11223344;
    return s;
}

static tcps_segment exp_data(int af, uint32_t len)
{
    tcps_segment s;
    memset(&s, 0, sizeof s);
    s.af = (uint8_t)af;
    memcpy(s.src, af == 4 ? A4_2 : A6_2, af == 4 ? 4 : 16);
    memcpy(s.dst, af == 4 ? A4_1 : A6_1, af == 4 ? 4 : 16);
    s.sport = 80;
    s.dport = 40000;
    s.flags = TCPS_F_PSH | TCPS_F_ACK;
    s.seq = 0xa0b0c0d0;
    s.ack = 0x01020305;
    s.len = len;
    s.window = 501;
    s.opt.present = TCPS_OPT_TS;
    s.opt.tsval = 0x55667788;
    s.opt.tsecr = 0x11223344;
    return s;
}

/* The segment as the decoder gives it: option values without their
 * present bit are 0. */
static tcps_segment canon(tcps_segment s)
{
    tcps_options *o = &s.opt;
    if (!(o->present & TCPS_OPT_MSS)) o->mss = 0;
    if (!(o->present & TCPS_OPT_WSCALE)) o->wscale = 0;
    if (!(o->present & TCPS_OPT_TS)) o->tsval = o->tsecr = 0;
    if (!(o->present & TCPS_OPT_SACK)) o->nsack = 0;
    for (int i = o->nsack; i < 4; i++) o->sack[i][0] = o->sack[i][1] = 0;
    if (o->nsack == 0) o->present &= (uint8_t)~TCPS_OPT_SACK;
    return s;
}

/* Field-by-field comparison; describes the first difference in why. */
static int seg_equal(const tcps_segment *a, const tcps_segment *b, char *why, size_t cap)
{
    why[0] = '\0';
#define D(f)                                                                   \
    if (a->f != b->f) {                                                        \
        snprintf(why, cap, "%s: %llu != %llu", #f, (unsigned long long)a->f,   \
                 (unsigned long long)b->f);                                    \
        return 0;                                                              \
    }
    D(ts_ns) D(af) D(sport) D(dport) D(flags) D(seq) D(ack) D(len) D(window)
    D(opt.present) D(opt.wscale) D(opt.mss) D(opt.nsack) D(opt.tsval) D(opt.tsecr)
    for (int i = 0; i < 4; i++) {
        D(opt.sack[i][0]) D(opt.sack[i][1])
    }
#undef D
    if (memcmp(a->src, b->src, 16) != 0) {
        snprintf(why, cap, "src differs");
        return 0;
    }
    if (memcmp(a->dst, b->dst, 16) != 0) {
        snprintf(why, cap, "dst differs");
        return 0;
    }
    return 1;
}

/* ---- decoding of valid frames ----------------------------------------------- */
/* Valid frames are kept for the truncation and mutation tests. */
typedef struct saved {
    const char *name;
    int link;
    uint8_t *data;
    size_t n;
} saved;
static saved frames[96];
static size_t nframes;
static int dont_save; /* frames whose length rules differ (TSO) */

static void save_frame(const char *name, int link, const uint8_t *f, size_t n)
{
    if (nframes >= sizeof frames / sizeof frames[0]) {
        printf("test bug: too many frames\n");
        exit(2);
    }
    frames[nframes].name = name;
    frames[nframes].link = link;
    frames[nframes].data = malloc(n);
    if (!frames[nframes].data) exit(2);
    memcpy(frames[nframes].data, f, n);
    frames[nframes].n = n;
    nframes++;
}

/* Decode a frame that must give exp; returns the info. */
static tcps_decode_info expect_ok(const char *name, int link, const uint8_t *f, size_t n,
                                  tcps_segment exp)
{
    tcps_segment got;
    tcps_decode_info info;
    memset(&got, 0xee, sizeof got);
    memset(&info, 0, sizeof info);
    exp.ts_ns = 1234567890123ull;
    tcps_decode_status s = tcps_decode_ex(link, f, n, exp.ts_ns, &got, &info);
    CHECK(s == TCPS_DEC_OK, "%s: status %s, want ok", name, ST(s));
    if (s == TCPS_DEC_OK) {
        char why[128];
        CHECK(seg_equal(&got, &exp, why, sizeof why), "%s: segment differs: %s", name, why);
        /* tcps_decode gives the same as tcps_decode_ex. */
        tcps_segment g2;
        s = tcps_decode(link, f, n, exp.ts_ns, &g2);
        CHECK(s == TCPS_DEC_OK && seg_equal(&g2, &exp, why, sizeof why),
              "%s: tcps_decode differs from tcps_decode_ex", name);
        if (!dont_save) save_frame(name, link, f, n);
    }
    return info;
}

static void expect_status(const char *name, int link, const uint8_t *f, size_t n,
                          tcps_decode_status want)
{
    tcps_segment got, before;
    memset(&got, 0x5a, sizeof got);
    before = got;
    tcps_decode_status s = tcps_decode(link, f, n, 7, &got);
    CHECK(s == want, "%s: status %s, want %s", name, ST(s), ST(want));
    if (s != TCPS_DEC_OK)
        CHECK(memcmp(&got, &before, sizeof got) == 0, "%s: *seg changed on failure", name);
}

static void test_link_layers(void)
{
    uint8_t f[2048];
    size_t n;
    tcps_decode_info in;

    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_SYN), P(TCP_SYN), NULL);
    in = expect_ok("ethernet ipv4 syn", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    CHECK(in.ip_offset == 14 && in.tcp_offset == 34 && in.payload_offset == 74 &&
              in.payload_captured == 0 && in.vlans == 0 && in.tunnels == 0 && in.ttl == 64,
          "ethernet ipv4 syn: info ip %zu tcp %zu payload %zu vlans %u tunnels %u ttl %u",
          in.ip_offset, in.tcp_offset, in.payload_offset, in.vlans, in.tunnels, in.ttl);

    n = build(f, sizeof f, P(ETH_IPV6), P(IP6_SYN), P(TCP_SYN), NULL);
    expect_ok("ethernet ipv6 syn", TCPS_LINK_ETHERNET, f, n, exp_syn(6));

    n = build(f, sizeof f, P(ETH_VLAN), P(IP4_SYN), P(TCP_SYN), NULL);
    in = expect_ok("802.1Q", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    CHECK(in.vlans == 1 && in.vlan_id == 100 && in.ip_offset == 18,
          "802.1Q: vlans %u id %u ip_offset %zu", in.vlans, in.vlan_id, in.ip_offset);

    n = build(f, sizeof f, P(ETH_QINQ), P(IP4_DATA_11), P(TCP_DATA), PS("hello world"), NULL);
    in = expect_ok("QinQ", TCPS_LINK_ETHERNET, f, n, exp_data(4, 11));
    CHECK(in.vlans == 2 && in.vlan_id == 200 && in.ip_offset == 22 &&
              in.payload_offset == 22 + 20 + 32 && in.payload_captured == 11 && in.ttl == 63,
          "QinQ: vlans %u id %u ip_offset %zu payload %zu/%zu", in.vlans, in.vlan_id,
          in.ip_offset, in.payload_offset, in.payload_captured);

    /* Snap-length cut: the IP header says 1448 payload bytes, none captured. */
    n = build(f, sizeof f, P(SLL_IPV4), P(IP4_DATA_1448), P(TCP_DATA), NULL);
    in = expect_ok("SLL snaplen-cut", TCPS_LINK_LINUX_SLL, f, n, exp_data(4, 1448));
    CHECK(in.payload_captured == 0, "SLL: payload_captured %zu", in.payload_captured);

    n = build(f, sizeof f, P(SLL2_IPV6), P(IP6_SYN), P(TCP_SYN), NULL);
    expect_ok("SLL2 ipv6", TCPS_LINK_LINUX_SLL2, f, n, exp_syn(6));

    n = build(f, sizeof f, P(NULL_INET_LE), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_ok("null AF_INET little-endian", TCPS_LINK_NULL, f, n, exp_syn(4));
    n = build(f, sizeof f, P(NULL_INET_BE), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_ok("null AF_INET big-endian", TCPS_LINK_NULL, f, n, exp_syn(4));
    expect_ok("loop AF_INET", TCPS_LINK_LOOP, f, n, exp_syn(4));
    n = build(f, sizeof f, P(NULL_INET6_30_BE), P(IP6_DATA_11), P(TCP_DATA), PS("hello world"), NULL);
    expect_ok("null AF_INET6 30 big-endian", TCPS_LINK_NULL, f, n, exp_data(6, 11));
    n = build(f, sizeof f, P(NULL_INET6_24_LE), P(IP6_SYN), P(TCP_SYN), NULL);
    expect_ok("null AF_INET6 24", TCPS_LINK_NULL, f, n, exp_syn(6));
    n = build(f, sizeof f, P(NULL_INET6_28_LE), P(IP6_SYN), P(TCP_SYN), NULL);
    expect_ok("null AF_INET6 28", TCPS_LINK_NULL, f, n, exp_syn(6));
    n = build(f, sizeof f, P(NULL_INET6_10_BE), P(IP6_SYN), P(TCP_SYN), NULL);
    expect_ok("null AF_INET6 10", TCPS_LINK_NULL, f, n, exp_syn(6));
    n = build(f, sizeof f, P(NULL_FAMILY_7), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_status("null family 7", TCPS_LINK_NULL, f, n, TCPS_DEC_NOT_IP);

    n = build(f, sizeof f, P(IP4_SYN), P(TCP_SYN), NULL);
    expect_ok("raw ipv4 (101)", TCPS_LINK_RAW, f, n, exp_syn(4));
    expect_ok("raw ipv4 (228)", TCPS_LINK_IPV4, f, n, exp_syn(4));
    expect_ok("raw ipv4 (12)", 12, f, n, exp_syn(4));
    expect_ok("raw ipv4 (14)", 14, f, n, exp_syn(4));
    expect_status("ipv4 packet on link 229", TCPS_LINK_IPV6, f, n, TCPS_DEC_MALFORMED);
    n = build(f, sizeof f, P(IP6_SYN), P(TCP_SYN), NULL);
    expect_ok("raw ipv6 (101)", TCPS_LINK_RAW, f, n, exp_syn(6));
    expect_ok("raw ipv6 (229)", TCPS_LINK_IPV6, f, n, exp_syn(6));
    expect_status("ipv6 packet on link 228", TCPS_LINK_IPV4, f, n, TCPS_DEC_MALFORMED);
    f[0] = 0x50;
    expect_status("raw version 5", TCPS_LINK_RAW, f, n, TCPS_DEC_NOT_IP);

    n = build(f, sizeof f, P(ETH_MPLS), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_ok("MPLS two labels", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    n = build(f, sizeof f, P(ETH_PPPOE), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_ok("PPPoE", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    n = build(f, sizeof f, P(ETH_SNAP), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_ok("802.3 LLC/SNAP", TCPS_LINK_ETHERNET, f, n, exp_syn(4));

    n = build(f, sizeof f, P(ETH_ARP), P(ARP_REQ), NULL);
    expect_status("ARP", TCPS_LINK_ETHERNET, f, n, TCPS_DEC_NOT_IP);
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_status("802.11 link", 105, f, n, TCPS_DEC_UNSUPPORTED_LINK);
    expect_status("negative link", -1, f, n, TCPS_DEC_UNSUPPORTED_LINK);
    expect_status("empty ethernet", TCPS_LINK_ETHERNET, NULL, 0, TCPS_DEC_TRUNCATED);
}

static void test_ip_layers(void)
{
    uint8_t f[2048];
    size_t n;
    tcps_decode_info in;

    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OPTS_DATA_5), P(TCP_DATA), PS("abcde"), NULL);
    in = expect_ok("ipv4 with options", TCPS_LINK_ETHERNET, f, n, exp_data(4, 5));
    CHECK(in.tcp_offset == 14 + 24, "ipv4 options: tcp_offset %zu", in.tcp_offset);

    n = build(f, sizeof f, P(ETH_IPV6), P(IP6_HBH_SYN), P(EXT_HBH_TCP), P(TCP_SYN), NULL);
    in = expect_ok("ipv6 hop-by-hop", TCPS_LINK_ETHERNET, f, n, exp_syn(6));
    CHECK(in.tcp_offset == 14 + 48, "ipv6 hbh: tcp_offset %zu", in.tcp_offset);

    n = build(f, sizeof f, P(IP6_CHAIN_SYN), P(EXT_HBH_DST), P(EXT_DST_RT), P(EXT_RT_FRAG),
              P(EXT_FRAG_ATOMIC), P(TCP_SYN), NULL);
    in = expect_ok("ipv6 ext chain", TCPS_LINK_RAW, f, n, exp_syn(6));
    CHECK(in.tcp_offset == 72 && in.first_fragment == 0, "ipv6 chain: tcp_offset %zu frag %u",
          in.tcp_offset, in.first_fragment);

    n = build(f, sizeof f, P(IP6_FRAG_SYN), P(EXT_FRAG_FIRST), P(TCP_SYN), NULL);
    in = expect_ok("ipv6 first fragment", TCPS_LINK_RAW, f, n, exp_syn(6));
    CHECK(in.first_fragment == 1, "ipv6 first fragment: info.first_fragment %u", in.first_fragment);
    n = build(f, sizeof f, P(IP6_FRAG_SYN), P(EXT_FRAG_LATER), P(TCP_SYN), NULL);
    expect_status("ipv6 later fragment", TCPS_LINK_RAW, f, n, TCPS_DEC_FRAGMENT);
    n = build(f, sizeof f, P(IP6_ESP), PS("\0\0\0\1\0\0\0\1"), NULL);
    expect_status("ipv6 ESP", TCPS_LINK_RAW, f, n, TCPS_DEC_NOT_TCP);

    n = build(f, sizeof f, P(IP4_SYN_MF), P(TCP_SYN), NULL);
    in = expect_ok("ipv4 first fragment", TCPS_LINK_RAW, f, n, exp_syn(4));
    CHECK(in.first_fragment == 1, "ipv4 first fragment: info.first_fragment %u", in.first_fragment);
    n = build(f, sizeof f, P(IP4_FRAG_185), P(TCP_SYN), NULL);
    expect_status("ipv4 later fragment", TCPS_LINK_RAW, f, n, TCPS_DEC_FRAGMENT);

    /* Tunnels. */
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_IPIP), P(IP4_INNER_DATA_4), P(TCP_DATA),
              PS("ping"), NULL);
    in = expect_ok("ipv4-in-ipv4", TCPS_LINK_ETHERNET, f, n, exp_data(4, 4));
    CHECK(in.tunnels == 1 && in.ip_offset == 34, "ipip: tunnels %u ip_offset %zu", in.tunnels,
          in.ip_offset);
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_IPIP), P(IP4_INNER_TOO_LONG), P(TCP_DATA),
              PS("ping"), NULL);
    expect_status("ipip inner longer than outer", TCPS_LINK_ETHERNET, f, n, TCPS_DEC_MALFORMED);
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_6IN4), P(IP6_SYN), P(TCP_SYN), NULL);
    expect_ok("ipv6-in-ipv4", TCPS_LINK_ETHERNET, f, n, exp_syn(6));
    n = build(f, sizeof f, P(ETH_IPV6), P(IP6_OUTER_4IN6), P(IP4_SYN), P(TCP_SYN), NULL);
    expect_ok("ipv4-in-ipv6", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_GRE_KEY), P(GRE_KEY_IPV4), P(IP4_SYN),
              P(TCP_SYN), NULL);
    in = expect_ok("GRE key ipv4", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    CHECK(in.tunnels == 1 && in.ip_offset == 42, "gre: tunnels %u ip_offset %zu", in.tunnels,
          in.ip_offset);
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_GRE_CS), P(GRE_CS_SEQ_IPV6), P(IP6_DATA_11),
              P(TCP_DATA), PS("hello world"), NULL);
    expect_ok("GRE csum+seq ipv6", TCPS_LINK_ETHERNET, f, n, exp_data(6, 11));
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_GRE_ETH), P(GRE_ETH), P(ETH_IPV4), P(IP4_SYN),
              P(TCP_SYN), NULL);
    expect_ok("GRE ethernet", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_GRE_KEY), P(GRE_ROUTING), P(IP4_SYN),
              P(TCP_SYN), NULL);
    expect_status("GRE with routing", TCPS_LINK_ETHERNET, f, n, TCPS_DEC_NOT_TCP);
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_OUTER_VXLAN), P(UDP_VXLAN), P(ETH_IPV4), P(IP4_SYN),
              P(TCP_SYN), NULL);
    in = expect_ok("VXLAN", TCPS_LINK_ETHERNET, f, n, exp_syn(4));
    CHECK(in.tunnels == 1 && in.ip_offset == 14 + 20 + 16 + 14, "vxlan: tunnels %u ip_offset %zu",
          in.tunnels, in.ip_offset);

    /* Length rules. */
    /* TSO: the length is what was captured (not kept for the truncation
     * test, where a cut changes the length). */
    n = build(f, sizeof f, P(IP4_DATA_TSO), P(TCP_DATA), PS("hello world"), NULL);
    dont_save = 1;
    expect_ok("ipv4 total length 0 (TSO)", TCPS_LINK_RAW, f, n, exp_data(4, 11));
    expect_ok("ipv4 TSO cut", TCPS_LINK_RAW, f, n - 3, exp_data(4, 8));
    dont_save = 0;
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_DATA_0), P(TCP_DATA), PS("\0\0\0\0\0\0"), NULL);
    expect_ok("ethernet padding", TCPS_LINK_ETHERNET, f, n, exp_data(4, 0));
    n = build(f, sizeof f, P(IP4_IHL4), P(TCP_SYN), NULL);
    expect_status("IHL 4", TCPS_LINK_RAW, f, n, TCPS_DEC_MALFORMED);
    n = build(f, sizeof f, P(IP4_TOTAL_16), P(TCP_SYN), NULL);
    expect_status("total length < IHL", TCPS_LINK_RAW, f, n, TCPS_DEC_MALFORMED);
    n = build(f, sizeof f, P(IP4_TOTAL_40), P(TCP_SYN), NULL);
    expect_status("data offset beyond IP length", TCPS_LINK_RAW, f, n, TCPS_DEC_MALFORMED);
    n = build(f, sizeof f, P(IP4_SYN), P(TCP_DOFF4), NULL);
    expect_status("data offset 4", TCPS_LINK_RAW, f, n, TCPS_DEC_MALFORMED);
    n = build(f, sizeof f, P(IP4_SYN), P(TCP_SYN), NULL);
    expect_status("TCP header cut", TCPS_LINK_RAW, f, n - 1, TCPS_DEC_TRUNCATED);

    /* Not TCP. */
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_UDP_12), P(UDP_DNS), NULL);
    expect_status("UDP", TCPS_LINK_ETHERNET, f, n, TCPS_DEC_NOT_TCP);
    n = build(f, sizeof f, P(ETH_IPV4), P(IP4_ICMP_8), P(ICMP_ECHO), NULL);
    expect_status("ICMP", TCPS_LINK_ETHERNET, f, n, TCPS_DEC_NOT_TCP);
}

/* Write an IPv4 header byte by byte (RFC 791), checksum 0. */
static void put_ip4(uint8_t *p, unsigned total, unsigned proto, const uint8_t src[4],
                    const uint8_t dst[4])
{
    p[0] = 0x45;
    p[1] = 0;
    p[2] = (uint8_t)(total >> 8);
    p[3] = (uint8_t)total;
    p[4] = p[5] = 0;
    p[6] = 0x40;
    p[7] = 0;
    p[8] = 64;
    p[9] = (uint8_t)proto;
    p[10] = p[11] = 0;
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
}

static void test_tunnel_depth(void)
{
    static const uint8_t o1[4] = {192, 0, 2, 1}, o2[4] = {192, 0, 2, 2};
    uint8_t f[512];
    for (int depth = 1; depth <= TCPS_DECODE_MAX_DEPTH + 1; depth++) {
        size_t n = 0;
        unsigned total = (unsigned)(20 * depth + sizeof TCP_SYN);
        for (int i = 0; i < depth; i++, total -= 20) {
            int last = i == depth - 1;
            put_ip4(f + n, total, last ? 6 : 4, last ? A4_1 : o1, last ? A4_2 : o2);
            n += 20;
        }
        memcpy(f + n, TCP_SYN, sizeof TCP_SYN);
        n += sizeof TCP_SYN;
        tcps_segment g;
        tcps_decode_info in;
        tcps_decode_status s = tcps_decode_ex(TCPS_LINK_RAW, f, n, 0, &g, &in);
        if (depth <= TCPS_DECODE_MAX_DEPTH) {
            CHECK(s == TCPS_DEC_OK && in.tunnels == depth - 1 && g.af == 4 &&
                      memcmp(g.src, A4_1, 4) == 0,
                  "ipip depth %d: %s tunnels %u", depth, ST(s), in.tunnels);
        } else {
            CHECK(s == TCPS_DEC_MALFORMED, "ipip depth %d: %s, want malformed", depth, ST(s));
        }
    }
}

/* ---- TCP options ------------------------------------------------------------- */
static tcps_decode_status decode_opts(const uint8_t *opts, size_t olen, tcps_segment *g)
{
    uint8_t f[128];
    size_t thl = 20 + olen;
    if (thl % 4 || thl > 60) {
        printf("test bug: options length %zu\n", olen);
        exit(2);
    }
    put_ip4(f, (unsigned)(20 + thl), 6, A4_1, A4_2);
    uint8_t *t = f + 20;
    memcpy(t, TCP_SYN, 20);
    t[12] = (uint8_t)((thl / 4) << 4);
    memcpy(t + 20, opts, olen);
    return tcps_decode(TCPS_LINK_IPV4, f, 20 + thl, 0, g);
}

static void test_options(void)
{
    tcps_segment g;
    tcps_decode_status s;

    { /* MSS, then window scale with length 4: malformed, MSS kept, WS not. */
        static const uint8_t o[] = {0x02, 0x04, 0x05, 0xb4, 0x03, 0x04, 0x07, 0x00};
        s = decode_opts(o, sizeof o, &g);
        CHECK(s == TCPS_DEC_OK, "opt ws len 4: %s", ST(s));
        CHECK(g.opt.present == (TCPS_OPT_MSS | TCPS_OPT_MALFORMED) && g.opt.mss == 1460 &&
                  g.opt.wscale == 0,
              "opt ws len 4: present 0x%x mss %u ws %u", g.opt.present, g.opt.mss, g.opt.wscale);
    }
    { /* Timestamps whose length runs past the header. */
        static const uint8_t o[] = {0x02, 0x04, 0x05, 0xb4, 0x08, 0x0a, 0x00, 0x00};
        s = decode_opts(o, sizeof o, &g);
        CHECK(s == TCPS_DEC_OK && g.opt.present == (TCPS_OPT_MSS | TCPS_OPT_MALFORMED),
              "opt ts past end: %s present 0x%x", ST(s), g.opt.present);
    }
    { /* Length 0 of an unknown option. */
        static const uint8_t o[] = {0x04, 0x02, 0x01, 0x13, 0x00, 0x01, 0x01, 0x01};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == (TCPS_OPT_SACK_PERM | TCPS_OPT_MALFORMED),
              "opt length 0: present 0x%x", g.opt.present);
    }
    { /* Length 1. */
        static const uint8_t o[] = {0x1e, 0x01, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_MALFORMED, "opt length 1: present 0x%x", g.opt.present);
    }
    { /* Kind in the last byte, no room for its length. */
        static const uint8_t o[] = {0x01, 0x01, 0x01, 0x03};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_MALFORMED, "opt no length byte: present 0x%x",
              g.opt.present);
    }
    { /* SACK with length 9. */
        static const uint8_t o[] = {0x01, 0x01, 0x05, 0x09, 0, 0, 0, 1, 0, 0, 0, 2};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_MALFORMED && g.opt.nsack == 0,
              "opt sack len 9: present 0x%x nsack %u", g.opt.present, g.opt.nsack);
    }
    { /* MSS with length 3. */
        static const uint8_t o[] = {0x02, 0x03, 0x05, 0x01};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_MALFORMED, "opt mss len 3: present 0x%x", g.opt.present);
    }
    { /* Unknown option (MPTCP kind 30, length 4) skipped, timestamps after it. */
        static const uint8_t o[] = {0x1e, 0x04, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a,
                                    0, 0, 0, 5, 0, 0, 0, 6};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_TS && g.opt.tsval == 5 && g.opt.tsecr == 6,
              "opt unknown skipped: present 0x%x ts %u/%u", g.opt.present,
              (unsigned)g.opt.tsval, (unsigned)g.opt.tsecr);
    }
    { /* End of option list: what follows is ignored, even garbage. */
        static const uint8_t o[] = {0x02, 0x04, 0x01, 0x00, 0x00, 0x03, 0xff, 0xff};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_MSS && g.opt.mss == 256, "opt EOL: present 0x%x mss %u",
              g.opt.present, g.opt.mss);
    }
    { /* Window scale 15 is capped at 14. */
        static const uint8_t o[] = {0x01, 0x03, 0x03, 0x0f};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_WSCALE && g.opt.wscale == 14, "opt ws 15: present 0x%x ws %u",
              g.opt.present, g.opt.wscale);
    }
    { /* Four SACK blocks (no timestamps). */
        static const uint8_t o[] = {0x01, 0x01, 0x05, 0x22,
                                    0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
                                    0, 0, 0, 5, 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 8};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_SACK && g.opt.nsack == 4 && g.opt.sack[0][0] == 1 &&
                  g.opt.sack[1][1] == 4 && g.opt.sack[2][0] == 5 &&
                  g.opt.sack[3][0] == 0xfffffff0u && g.opt.sack[3][1] == 8,
              "opt 4 sack blocks: present 0x%x nsack %u", g.opt.present, g.opt.nsack);
    }
    { /* A valid SYN option set after a bad one: nothing after the bad one. */
        static const uint8_t o[] = {0x08, 0x0b, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0x02, 0x04, 0x05, 0xb4, 0x00};
        s = decode_opts(o, sizeof o, &g);
        CHECK(g.opt.present == TCPS_OPT_MALFORMED, "opt ts len 11: present 0x%x", g.opt.present);
    }
}

/* ---- truncation and mutation ------------------------------------------------- */
static void test_truncation(void)
{
    unsigned bad = 0;
    for (size_t i = 0; i < nframes; i++) {
        saved *fr = &frames[i];
        tcps_segment full, g;
        tcps_decode_info in;
        if (tcps_decode_ex(fr->link, fr->data, fr->n, 5, &full, &in) != TCPS_DEC_OK) {
            CHECK(0, "%s: saved frame no longer decodes", fr->name);
            continue;
        }
        for (size_t len = 0; len <= fr->n; len++) {
            /* An exact-size copy, so that the sanitizers see any overread. */
            uint8_t *b = malloc(len ? len : 1);
            if (!b) exit(2);
            memcpy(b, fr->data, len);
            tcps_decode_status s = tcps_decode(fr->link, b, len, 5, &g);
            free(b);
            char why[128];
            if (len < in.payload_offset) {
                if (s != TCPS_DEC_TRUNCATED) {
                    bad++;
                    CHECK(0, "%s cut to %zu bytes: %s, want truncated", fr->name, len, ST(s));
                }
            } else if (s != TCPS_DEC_OK || !seg_equal(&g, &full, why, sizeof why)) {
                bad++;
                CHECK(0, "%s cut to %zu bytes: %s %s", fr->name, len, ST(s), why);
            }
        }
    }
    CHECK(bad == 0, "truncation: %u bad results over %zu frames", bad, nframes);
    CHECK(nframes >= 30, "truncation: only %zu frames", nframes);
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_mutation(void)
{
    unsigned odd = 0, ok = 0;
    static const int links[] = {TCPS_LINK_NULL, TCPS_LINK_ETHERNET, TCPS_LINK_RAW,
                                TCPS_LINK_LINUX_SLL, TCPS_LINK_LINUX_SLL2, TCPS_LINK_IPV4,
                                TCPS_LINK_IPV6};
    for (unsigned iter = 0; iter < 200000; iter++) {
        saved *fr = &frames[rnd() % nframes];
        size_t len = fr->n;
        uint8_t *b = malloc(len + 64);
        if (!b) exit(2);
        memcpy(b, fr->data, len);
        unsigned flips = 1 + rnd() % 4;
        for (unsigned k = 0; k < flips; k++) {
            size_t pos = rnd() % len;
            switch (rnd() % 3) {
            case 0: b[pos] = (uint8_t)rnd(); break;
            case 1: b[pos] ^= (uint8_t)(1u << (rnd() % 8)); break;
            default: b[pos] = (uint8_t)(rnd() % 2 ? 0 : 0xff); break;
            }
        }
        if (rnd() % 4 == 0) len = rnd() % (len + 1);
        int link = rnd() % 8 == 0 ? links[rnd() % 7] : fr->link;
        uint8_t *c = malloc(len ? len : 1);
        if (!c) exit(2);
        memcpy(c, b, len);
        free(b);
        tcps_segment g;
        tcps_decode_info in;
        tcps_decode_status s = tcps_decode_ex(link, c, len, 0, &g, &in);
        free(c);
        if (s == TCPS_DEC_OK) {
            ok++;
            if ((g.af != 4 && g.af != 6) || in.payload_offset > len ||
                in.payload_captured > g.len || in.tcp_offset + 20 > in.payload_offset ||
                g.opt.nsack > 4 || g.opt.wscale > 14 ||
                in.payload_offset + in.payload_captured > len)
                odd++;
        } else if (s > TCPS_DEC_UNSUPPORTED_LINK) {
            odd++;
        }
    }
    CHECK(odd == 0, "mutation: %u results break the invariants", odd);
    CHECK(ok > 1000, "mutation: only %u frames still decoded", ok);
}

/* ---- encoder ----------------------------------------------------------------- */
/* Independent one's-complement sum (RFC 1071): 64-bit accumulator, folded
 * once at the end. */
static uint16_t csum_rfc1071(const uint8_t *const *parts, const size_t *lens, int nparts)
{
    uint64_t sum = 0;
    int odd = 0; /* byte position parity across parts */
    for (int k = 0; k < nparts; k++) {
        for (size_t i = 0; i < lens[k]; i++) {
            sum += odd ? parts[k][i] : (uint64_t)parts[k][i] << 8;
            odd = !odd;
        }
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum; /* 0xffff when the checksum field is right */
}

static int ip4_header_ok(const uint8_t *ip)
{
    const uint8_t *parts[1] = {ip};
    size_t lens[1] = {(size_t)(ip[0] & 15) * 4};
    return csum_rfc1071(parts, lens, 1) == 0xffff;
}

static int tcp_csum_ok(const uint8_t *ip, int af)
{
    uint8_t ph[40];
    size_t phl, tcplen;
    const uint8_t *tcp;
    if (af == 4) {
        tcplen = (size_t)(ip[2] << 8 | ip[3]) - 20;
        memcpy(ph, ip + 12, 8); /* source, destination */
        ph[8] = 0;
        ph[9] = 6;
        ph[10] = (uint8_t)(tcplen >> 8);
        ph[11] = (uint8_t)tcplen;
        phl = 12;
        tcp = ip + 20;
    } else {
        tcplen = (size_t)(ip[4] << 8 | ip[5]);
        memcpy(ph, ip + 8, 32);
        ph[32] = 0;
        ph[33] = 0;
        ph[34] = (uint8_t)(tcplen >> 8);
        ph[35] = (uint8_t)tcplen;
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = 6;
        phl = 40;
        tcp = ip + 40;
    }
    const uint8_t *parts[2] = {ph, tcp};
    size_t lens[2] = {phl, tcplen};
    return csum_rfc1071(parts, lens, 2) == 0xffff;
}

static tcps_segment full_options_seg(int af)
{
    tcps_segment s;
    memset(&s, 0, sizeof s);
    s.af = (uint8_t)af;
    if (af == 4) {
        memcpy(s.src, (const uint8_t[]){192, 168, 1, 10}, 4);
        memcpy(s.dst, (const uint8_t[]){172, 16, 254, 3}, 4);
    } else {
        memcpy(s.src, A6_1, 16);
        memcpy(s.dst, A6_2, 16);
        s.dst[15] = 0xfe;
    }
    s.sport = 51234;
    s.dport = 443;
    s.flags = TCPS_F_SYN | TCPS_F_ACK | TCPS_F_ECE;
    s.seq = 0xfffffff0u;
    s.ack = 0x80000001u;
    s.window = 65535;
    s.len = 0;
    s.opt.present = TCPS_OPT_MSS | TCPS_OPT_SACK_PERM | TCPS_OPT_TS | TCPS_OPT_WSCALE |
                    TCPS_OPT_SACK;
    s.opt.mss = 1440;
    s.opt.wscale = 14;
    s.opt.tsval = 0xdeadbeefu;
    s.opt.tsecr = 0x01020304u;
    s.opt.nsack = 2; /* what fits next to MSS, timestamps and window scale */
    s.opt.sack[0][0] = 1000;
    s.opt.sack[0][1] = 2000;
    s.opt.sack[1][0] = 0xfffff000u;
    s.opt.sack[1][1] = 16;
    s.ts_ns = 42;
    return s;
}

static void roundtrip(const char *name, const tcps_segment *s, size_t want_len)
{
    uint8_t f[70000];
    memset(f, 0xaa, sizeof f);
    size_t n = tcps_encode_ether(s, f, sizeof f);
    CHECK(n == want_len, "%s: frame length %zu, want %zu", name, n, want_len);
    if (n == 0) return;
    tcps_segment g;
    tcps_decode_info in;
    tcps_decode_status st = tcps_decode_ex(TCPS_LINK_ETHERNET, f, n, s->ts_ns, &g, &in);
    char why[128] = "";
    tcps_segment want = canon(*s);
    CHECK(st == TCPS_DEC_OK && seg_equal(&g, &want, why, sizeof why), "%s: round trip: %s %s", name,
          ST(st), why);
    const uint8_t *ip = f + 14;
    if (s->af == 4) {
        CHECK(f[12] == 0x08 && f[13] == 0x00, "%s: ethertype", name);
        CHECK(ip4_header_ok(ip), "%s: IPv4 header checksum wrong", name);
    } else {
        CHECK(f[12] == 0x86 && f[13] == 0xdd, "%s: ethertype", name);
    }
    CHECK(tcp_csum_ok(ip, s->af), "%s: TCP checksum wrong", name);
    int zero = 1;
    for (size_t i = in.payload_offset; i < n; i++) zero &= f[i] == 0;
    CHECK(zero && in.payload_captured == s->len, "%s: payload not zero-filled", name);
    /* The same segment as raw IP. */
    uint8_t r[70000];
    size_t rn = tcps_encode_ip(s, r, sizeof r);
    CHECK(rn + 14 == n && memcmp(r, f + 14, rn) == 0, "%s: tcps_encode_ip differs", name);
}

static void test_encoder(void)
{
    /* The test's checksum function against a known header (RFC 1071 style
     * example: 192.168.0.1 -> 192.168.0.199, checksum 0xb861). */
    static const uint8_t known[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                    0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    CHECK(ip4_header_ok(known), "test checksum function fails on a known header");
    uint8_t broken[sizeof known];
    memcpy(broken, known, sizeof known);
    broken[11] ^= 1;
    CHECK(!ip4_header_ok(broken), "test checksum function accepts a wrong checksum");

    tcps_segment s = full_options_seg(4);
    /* 14 + 20 + 20 + MSS 4 + SACKP/TS 12 + NOP/WS 4 + NOP NOP SACK 2 blocks 20 */
    roundtrip("ipv4 all options", &s, 14 + 20 + 60);
    {
        uint8_t f[256];
        size_t n = tcps_encode_ether(&s, f, sizeof f);
        static const uint8_t want_opts[40] = {
            0x02, 0x04, 0x05, 0xa0,                          /* MSS 1440 */
            0x04, 0x02, 0x08, 0x0a, 0xde, 0xad, 0xbe, 0xef,  /* SACKP, TS */
            0x01, 0x02, 0x03, 0x04,
            0x01, 0x03, 0x03, 0x0e,                          /* NOP, WS 14 */
            0x01, 0x01, 0x05, 0x12,                          /* NOP NOP SACK 2 */
            0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x07, 0xd0,
            0xff, 0xff, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x10};
        CHECK(n == 94 && memcmp(f + 54, want_opts, 40) == 0 && f[46] == 0xf0,
              "ipv4 all options: option bytes differ from the Linux layout");
        static const uint8_t want_mac[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
        CHECK(memcmp(f, want_mac, 12) == 0, "MAC addresses");
        CHECK(f[14] == 0x45 && f[22] == 64 && f[23] == 6 && f[20] == 0x40,
              "ipv4 header fields (version/IHL, TTL, protocol, DF)");
    }
    s = full_options_seg(6);
    roundtrip("ipv6 all options", &s, 14 + 40 + 60);

    /* Data segments with odd and even lengths. */
    s = full_options_seg(4);
    s.flags = TCPS_F_ACK | TCPS_F_PSH;
    s.opt.present = TCPS_OPT_TS | TCPS_OPT_SACK;
    s.opt.nsack = 3;
    s.opt.sack[2][0] = 77;
    s.opt.sack[2][1] = 99;
    s.len = 1001;
    roundtrip("ipv4 data ts+3 sack", &s, 14 + 20 + 20 + 12 + 28 + 1001);
    s.af = 6;
    memcpy(s.src, A6_2, 16);
    memcpy(s.dst, A6_1, 16);
    s.len = 1448;
    roundtrip("ipv6 data ts+3 sack", &s, 14 + 40 + 20 + 40 + 1448);
    s.opt.present = TCPS_OPT_SACK;
    s.opt.nsack = 4;
    s.opt.sack[3][0] = 5;
    s.opt.sack[3][1] = 6;
    s.len = 7;
    roundtrip("ipv6 4 sack blocks", &s, 14 + 40 + 20 + 36 + 7);
    s.opt.present = 0;
    s.opt.nsack = 0;
    memset(s.opt.sack, 0, sizeof s.opt.sack);
    s.flags = TCPS_F_FIN | TCPS_F_ACK;
    s.len = 0;
    roundtrip("ipv6 no options", &s, 14 + 40 + 20);
    s.af = 4;
    memset(s.src, 0, 16);
    memset(s.dst, 0, 16);
    s.src[0] = 10;
    s.dst[0] = 11;
    s.len = 65535 - 40;
    roundtrip("ipv4 largest", &s, 14 + 65535);

    /* Four SACK blocks next to timestamps: only 3 fit. */
    s = full_options_seg(4);
    s.opt.present = TCPS_OPT_TS | TCPS_OPT_SACK;
    s.opt.nsack = 4;
    {
        uint8_t f[256];
        size_t n = tcps_encode_ether(&s, f, sizeof f);
        tcps_segment g;
        CHECK(n == 14 + 20 + 60 && tcps_decode(TCPS_LINK_ETHERNET, f, n, 0, &g) == TCPS_DEC_OK &&
                  g.opt.nsack == 3 && g.opt.sack[1][0] == 0xfffff000u,
              "4 SACK blocks with timestamps: length %zu nsack %u", n, g.opt.nsack);
    }
    /* Malformed bit is not encoded. */
    s = full_options_seg(4);
    s.opt.present = TCPS_OPT_MALFORMED | TCPS_OPT_MSS;
    {
        uint8_t f[256];
        size_t n = tcps_encode_ether(&s, f, sizeof f);
        tcps_segment g;
        CHECK(n == 14 + 20 + 24 && tcps_decode(TCPS_LINK_ETHERNET, f, n, 0, &g) == TCPS_DEC_OK &&
                  g.opt.present == TCPS_OPT_MSS,
              "malformed bit encoded");
    }

    /* Errors. */
    uint8_t f[128];
    s = full_options_seg(4);
    CHECK(tcps_encode_ether(&s, f, 93) == 0, "cap one byte short must give 0");
    CHECK(tcps_encode_ether(&s, f, 94) == 94, "exact cap must work");
    CHECK(tcps_encode_ether(&s, f, 10) == 0, "cap 10 must give 0");
    CHECK(tcps_encode_ether(&s, NULL, 0) == 0, "NULL buffer must give 0");
    s.af = 5;
    CHECK(tcps_encode_ether(&s, f, sizeof f) == 0, "af 5 must give 0");
    s = full_options_seg(4);
    s.len = 65536;
    {
        static uint8_t big[140000];
        CHECK(tcps_encode_ether(&s, big, sizeof big) == 0, "ipv4 over 65535 bytes must give 0");
        s.af = 6;
        memcpy(s.src, A6_1, 16);
        CHECK(tcps_encode_ether(&s, big, sizeof big) == 0, "ipv6 payload over 65535 must give 0");
        s.len = 65535 - 60;
        CHECK(tcps_encode_ether(&s, big, sizeof big) == 14 + 40 + 65535,
              "ipv6 largest payload length");
    }

    /* Checksums over many varied segments. */
    unsigned bad = 0;
    for (unsigned i = 0; i < 2000; i++) {
        tcps_segment v;
        memset(&v, 0, sizeof v);
        v.af = i % 2 ? 6 : 4;
        for (int k = 0; k < 16; k++) {
            v.src[k] = (uint8_t)(v.af == 4 && k >= 4 ? 0 : rnd());
            v.dst[k] = (uint8_t)(v.af == 4 && k >= 4 ? 0 : rnd());
        }
        v.sport = (uint16_t)rnd();
        v.dport = (uint16_t)rnd();
        v.seq = rnd() << 8 ^ rnd();
        v.ack = rnd() << 8 ^ rnd();
        v.flags = (uint8_t)rnd();
        v.window = (uint16_t)rnd();
        v.len = rnd() % 1600;
        v.opt.present = (uint8_t)(rnd() & 0x1f);
        v.opt.mss = (uint16_t)rnd();
        v.opt.wscale = (uint8_t)(rnd() % 15);
        v.opt.tsval = rnd() << 8 ^ rnd();
        v.opt.tsecr = rnd() << 8 ^ rnd();
        v.opt.nsack = v.opt.present & TCPS_OPT_SACK ? (uint8_t)(1 + rnd() % 4) : 0;
        for (int k = 0; k < v.opt.nsack; k++) {
            v.opt.sack[k][0] = rnd() << 8;
            v.opt.sack[k][1] = rnd() << 8;
        }
        uint8_t fb[2000];
        size_t n = tcps_encode_ether(&v, fb, sizeof fb);
        tcps_segment g;
        if (n == 0 || tcps_decode(TCPS_LINK_ETHERNET, fb, n, 0, &g) != TCPS_DEC_OK ||
            !tcp_csum_ok(fb + 14, v.af) || (v.af == 4 && !ip4_header_ok(fb + 14)) ||
            g.len != v.len || g.seq != v.seq || g.opt.present != (v.opt.nsack ? v.opt.present
                                                                               : (v.opt.present & ~TCPS_OPT_SACK)))
            bad++;
    }
    CHECK(bad == 0, "random segments: %u with wrong checksums or fields", bad);
}

/* ---- pcap files --------------------------------------------------------------- */
static char tmpdir[512] = ".";

static const char *tmp_path(const char *tag)
{
    static char buf[8][600];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/test_pkt_tmp_%s.pcap", tmpdir, tag);
    return p;
}

static int write_bytes(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t w = fwrite(b, 1, n, fp);
    return fclose(fp) == 0 && w == n ? 0 : -1;
}

static size_t read_bytes(const char *path, uint8_t *b, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t n = fread(b, 1, cap, fp);
    fclose(fp);
    return n;
}

static int host_le(void)
{
    const uint32_t one = 1;
    uint8_t b[4];
    memcpy(b, &one, 4);
    return b[0] == 1;
}

static void test_pcap_roundtrip(int nanosec)
{
    const char *path = tmp_path(nanosec ? "ns" : "us");
    const char *name = nanosec ? "pcap ns" : "pcap us";
    uint8_t f1[128], f2[1600];
    tcps_segment s = full_options_seg(4);
    size_t n1 = tcps_encode_ether(&s, f1, sizeof f1);
    s.len = 1400;
    s.opt.present = TCPS_OPT_TS;
    size_t n2 = tcps_encode_ether(&s, f2, sizeof f2);
    const uint64_t t1 = 1700000000123456789ull, t2 = 1700000001000000999ull;

    tcps_pcap_writer *w = tcps_pcap_open_write(path, TCPS_LINK_ETHERNET, nanosec, 0);
    CHECK(w != NULL, "%s: open for writing: %s", name, strerror(errno));
    if (!w) return;
    CHECK(tcps_pcap_write(w, t1, f1, n1, n1) == 0, "%s: write 1", name);
    CHECK(tcps_pcap_write(w, t2, f2, 96, n2) == 0, "%s: write 2 (cut)", name);
    CHECK(tcps_pcap_write(w, 0, NULL, 0, 0) == 0, "%s: write empty", name);
    CHECK(tcps_pcap_close(w) == 0, "%s: close", name);

    uint8_t raw[4096];
    size_t rawn = read_bytes(path, raw, sizeof raw);
    CHECK(rawn == 24 + 16 + n1 + 16 + 96 + 16, "%s: file size %zu", name, rawn);
    uint32_t magic;
    memcpy(&magic, raw, 4);
    CHECK(magic == (nanosec ? 0xa1b23c4du : 0xa1b2c3d4u), "%s: magic 0x%08x", name,
          (unsigned)magic);

    char err[256];
    tcps_pcap_reader *r = tcps_pcap_open_read(path, err, sizeof err);
    CHECK(r != NULL, "%s: open for reading: %s", name, err);
    if (!r) return;
    CHECK(tcps_pcap_linktype(r) == TCPS_LINK_ETHERNET && tcps_pcap_nanosec(r) == nanosec &&
              tcps_pcap_swapped(r) == 0 && tcps_pcap_snaplen(r) == 262144,
          "%s: header fields link %d ns %d swapped %d snaplen %u", name, tcps_pcap_linktype(r),
          tcps_pcap_nanosec(r), tcps_pcap_swapped(r), (unsigned)tcps_pcap_snaplen(r));
    uint64_t ts;
    const uint8_t *d;
    size_t cl, wl;
    int rc = tcps_pcap_next(r, &ts, &d, &cl, &wl);
    uint64_t want1 = nanosec ? t1 : t1 / 1000 * 1000;
    CHECK(rc == 1 && ts == want1 && cl == n1 && wl == n1 && memcmp(d, f1, n1) == 0,
          "%s: record 1: rc %d ts %llu caplen %zu wirelen %zu", name, rc, (unsigned long long)ts,
          cl, wl);
    rc = tcps_pcap_next(r, &ts, &d, &cl, &wl);
    uint64_t want2 = nanosec ? t2 : t2 / 1000 * 1000;
    CHECK(rc == 1 && ts == want2 && cl == 96 && wl == n2 && memcmp(d, f2, 96) == 0,
          "%s: record 2: rc %d ts %llu caplen %zu wirelen %zu", name, rc, (unsigned long long)ts,
          cl, wl);
    if (rc == 1) {
        tcps_segment g;
        CHECK(tcps_decode(tcps_pcap_linktype(r), d, cl, ts, &g) == TCPS_DEC_OK && g.len == 1400,
              "%s: record 2 decodes with the real length", name);
    }
    rc = tcps_pcap_next(r, &ts, &d, &cl, &wl);
    CHECK(rc == 1 && ts == 0 && cl == 0 && wl == 0 && d != NULL, "%s: empty record: rc %d", name,
          rc);
    rc = tcps_pcap_next(r, &ts, &d, &cl, &wl);
    CHECK(rc == 0 && tcps_pcap_error(r)[0] == '\0', "%s: end: rc %d err '%s'", name, rc,
          tcps_pcap_error(r));
    CHECK(tcps_pcap_next(r, &ts, &d, &cl, &wl) == 0, "%s: end is sticky", name);
    tcps_pcap_close_read(r);
    remove(path);
}

/* A file written by hand in the given byte order. */
static size_t hand_pcap(uint8_t *b, int be, int nanosec, uint32_t linkfield)
{
    size_t n = 0;
#define W32(v)                                                                 \
    do {                                                                       \
        uint32_t v_ = (v);                                                     \
        for (int i_ = 0; i_ < 4; i_++)                                         \
            b[n++] = (uint8_t)(v_ >> (be ? 24 - 8 * i_ : 8 * i_));             \
    } while (0)
#define W16(v)                                                                 \
    do {                                                                       \
        unsigned v_ = (v);                                                     \
        b[n++] = (uint8_t)(be ? v_ >> 8 : v_);                                 \
        b[n++] = (uint8_t)(be ? v_ : v_ >> 8);                                 \
    } while (0)
    W32(nanosec ? 0xa1b23c4du : 0xa1b2c3d4u);
    W16(2);
    W16(4);
    W32(0);
    W32(0);
    W32(65535);
    W32(linkfield);
    /* record: 10 s + 20 us/ns, 4 of 60 bytes */
    W32(10);
    W32(20);
    W32(4);
    W32(60);
    b[n++] = 0xde; b[n++] = 0xad; b[n++] = 0xbe; b[n++] = 0xef;
    /* record: 4000000000 s (past 2038) + 999999 us/ns, 2 bytes */
    W32(4000000000u);
    W32(999999);
    W32(2);
    W32(2);
    b[n++] = 0x01; b[n++] = 0x02;
#undef W32
#undef W16
    return n;
}

static void test_pcap_byte_orders(void)
{
    for (int v = 0; v < 4; v++) {
        int be = v & 1, ns = v >> 1;
        char name[64];
        snprintf(name, sizeof name, "hand-built %s-endian %s pcap", be ? "big" : "little",
                 ns ? "ns" : "us");
        uint8_t b[256];
        /* FCS bits in the link-type field (LINKTYPE_FCS...) must be ignored. */
        size_t n = hand_pcap(b, be, ns, be ? 1 : 0x24000001u);
        const char *path = tmp_path("order");
        if (write_bytes(path, b, n) != 0) {
            CHECK(0, "%s: cannot write %s", name, path);
            continue;
        }
        char err[256];
        tcps_pcap_reader *r = tcps_pcap_open_read(path, err, sizeof err);
        CHECK(r != NULL, "%s: open: %s", name, err);
        if (!r) continue;
        int swapped_want = be == host_le();
        CHECK(tcps_pcap_linktype(r) == 1 && tcps_pcap_snaplen(r) == 65535 &&
                  tcps_pcap_nanosec(r) == ns && tcps_pcap_swapped(r) == swapped_want,
              "%s: link %d snaplen %u ns %d swapped %d", name, tcps_pcap_linktype(r),
              (unsigned)tcps_pcap_snaplen(r), tcps_pcap_nanosec(r), tcps_pcap_swapped(r));
        uint64_t ts;
        const uint8_t *d;
        size_t cl, wl;
        int rc = tcps_pcap_next(r, &ts, &d, &cl, &wl);
        static const uint8_t dead[4] = {0xde, 0xad, 0xbe, 0xef};
        CHECK(rc == 1 && ts == 10000000000ull + (ns ? 20u : 20000u) && cl == 4 && wl == 60 &&
                  memcmp(d, dead, 4) == 0,
              "%s: record 1: rc %d ts %llu caplen %zu wirelen %zu", name, rc,
              (unsigned long long)ts, cl, wl);
        rc = tcps_pcap_next(r, &ts, &d, &cl, &wl);
        CHECK(rc == 1 && ts == 4000000000ull * 1000000000u + (ns ? 999999u : 999999000u) &&
                  cl == 2 && wl == 2 && d[0] == 1 && d[1] == 2,
              "%s: record 2: rc %d ts %llu", name, rc, (unsigned long long)ts);
        CHECK(tcps_pcap_next(r, &ts, &d, &cl, &wl) == 0, "%s: end", name);
        tcps_pcap_close_read(r);
        remove(path);
    }
}

static void test_pcap_errors(void)
{
    char err[256];
    uint8_t b[512];
    const char *path = tmp_path("bad");
    tcps_pcap_reader *r;

    /* Not a pcap file. */
    static const char text[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    write_bytes(path, text, sizeof text - 1);
    r = tcps_pcap_open_read(path, err, sizeof err);
    CHECK(r == NULL && strstr(err, "not a pcap file") && !strchr(err, '\n'),
          "text file: reader %p message '%s'", (void *)r, err);
    tcps_pcap_close_read(r);

    /* pcapng. */
    static const uint8_t ng[] = {0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00, 0x00, 0x00,
                                 0x4d, 0x3c, 0x2b, 0x1a, 0x01, 0x00, 0x00, 0x00,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0x1c, 0x00, 0x00, 0x00};
    write_bytes(path, ng, sizeof ng);
    r = tcps_pcap_open_read(path, err, sizeof err);
    CHECK(r == NULL && strstr(err, "pcapng"), "pcapng: message '%s'", err);

    /* Empty file. */
    write_bytes(path, "", 0);
    r = tcps_pcap_open_read(path, err, sizeof err);
    CHECK(r == NULL && strstr(err, "empty"), "empty file: message '%s'", err);

    /* Header cut short. */
    size_t n = hand_pcap(b, 0, 0, 1);
    write_bytes(path, b, 10);
    r = tcps_pcap_open_read(path, err, sizeof err);
    CHECK(r == NULL && strstr(err, "truncated pcap file header"), "short header: message '%s'", err);

    /* Version 3. */
    b[4] = 3;
    write_bytes(path, b, n);
    r = tcps_pcap_open_read(path, err, sizeof err);
    CHECK(r == NULL && strstr(err, "version"), "version 3: message '%s'", err);
    b[4] = 2;

    /* Missing file; NULL error buffer is allowed. */
    errno = 0;
    r = tcps_pcap_open_read("/nonexistent-dir/none.pcap", err, sizeof err);
    CHECK(r == NULL && errno == ENOENT && strstr(err, "cannot open") && strstr(err, "none.pcap"),
          "missing file: errno %d message '%s'", errno, err);
    CHECK(tcps_pcap_open_read("/nonexistent-dir/none.pcap", NULL, 0) == NULL, "NULL err buffer");

    /* Cut at every length: a file cut at a record boundary ends cleanly,
     * one cut inside a record gives -1 with a message. */
    unsigned bad = 0;
    size_t rec1_end = 24 + 16 + 4;
    for (size_t cut = 24; cut < n; cut++) {
        write_bytes(path, b, cut);
        r = tcps_pcap_open_read(path, err, sizeof err);
        if (!r) {
            bad++;
            continue;
        }
        int rc1 = tcps_pcap_next(r, NULL, NULL, NULL, NULL);
        int rc2 = rc1 == 1 ? tcps_pcap_next(r, NULL, NULL, NULL, NULL) : rc1;
        const char *msg = tcps_pcap_error(r);
        int ok;
        if (cut == 24) ok = rc1 == 0;
        else if (cut < rec1_end) ok = rc1 == -1 && strstr(msg, "truncated");
        else if (cut == rec1_end) ok = rc1 == 1 && rc2 == 0;
        else ok = rc1 == 1 && rc2 == -1 && strstr(msg, "truncated") && strstr(msg, "record 2") &&
                  tcps_pcap_next(r, NULL, NULL, NULL, NULL) == -1;
        if (!ok) {
            bad++;
            printf("FAIL %s:%d: file cut at %zu: rc %d/%d message '%s'\n", __FILE__, __LINE__, cut,
                   rc1, rc2, msg);
        }
        tcps_pcap_close_read(r);
    }
    CHECK(bad == 0, "cut files: %u bad results", bad);

    /* Specific messages. */
    write_bytes(path, b, rec1_end + 7);
    r = tcps_pcap_open_read(path, err, sizeof err);
    if (r) {
        tcps_pcap_next(r, NULL, NULL, NULL, NULL);
        CHECK(tcps_pcap_next(r, NULL, NULL, NULL, NULL) == -1 &&
                  strstr(tcps_pcap_error(r), "truncated record header") &&
                  strstr(tcps_pcap_error(r), "offset 44"),
              "cut record header: '%s'", tcps_pcap_error(r));
        tcps_pcap_close_read(r);
    }
    write_bytes(path, b, 24 + 16 + 2);
    r = tcps_pcap_open_read(path, err, sizeof err);
    if (r) {
        CHECK(tcps_pcap_next(r, NULL, NULL, NULL, NULL) == -1 &&
                  strstr(tcps_pcap_error(r), "truncated record") &&
                  strstr(tcps_pcap_error(r), "says 4 captured bytes") &&
                  strstr(tcps_pcap_error(r), "ends after 2"),
              "cut record data: '%s'", tcps_pcap_error(r));
        tcps_pcap_close_read(r);
    }
    /* Implausible captured length. */
    b[24 + 8] = 0xff;
    b[24 + 11] = 0x7f;
    write_bytes(path, b, n);
    r = tcps_pcap_open_read(path, err, sizeof err);
    if (r) {
        CHECK(tcps_pcap_next(r, NULL, NULL, NULL, NULL) == -1 &&
                  strstr(tcps_pcap_error(r), "implausible"),
              "huge record: '%s'", tcps_pcap_error(r));
        tcps_pcap_close_read(r);
    }
    remove(path);

    /* Writer errors. */
    errno = 0;
    CHECK(tcps_pcap_open_write("/nonexistent-dir/x.pcap", 1, 0, 0) == NULL && errno == ENOENT,
          "writer on a missing directory: errno %d", errno);
    tcps_pcap_writer *w = tcps_pcap_open_write(path, 1, 0, 64);
    if (w) {
        uint8_t d[100] = {0};
        CHECK(tcps_pcap_write(w, 5000000000ull * 1000000000ull, d, 10, 10) == -1,
              "seconds beyond 32 bits must fail");
        CHECK(tcps_pcap_write(w, 1, d, 100, 100) == 0, "write after an error");
        CHECK(tcps_pcap_close(w) == -1, "close after a failed write must fail");
        r = tcps_pcap_open_read(path, err, sizeof err);
        size_t cl = 0, wl = 0;
        CHECK(r && tcps_pcap_next(r, NULL, NULL, &cl, &wl) == 1 && cl == 64 && wl == 100,
              "snaplen 64: caplen %zu wirelen %zu", cl, wl);
        tcps_pcap_close_read(r);
    }
    remove(path);
    /* A full disk, where the system has /dev/full. */
    FILE *probe = fopen("/dev/full", "wb");
    if (probe) {
        fclose(probe);
        w = tcps_pcap_open_write("/dev/full", 1, 0, 0);
        if (w) {
            uint8_t d[1500] = {0};
            for (int i = 0; i < 100; i++) tcps_pcap_write(w, 1, d, sizeof d, sizeof d);
            CHECK(tcps_pcap_close(w) == -1, "/dev/full: close must report the write error");
        }
    }
}

/* Encode a conversation, write it, read it back, decode it. */
static void test_pcap_pipeline(void)
{
    const char *path = tmp_path("pipe");
    tcps_segment segs[64];
    tcps_pcap_writer *w = tcps_pcap_open_write(path, TCPS_LINK_ETHERNET, 1, 0);
    CHECK(w != NULL, "pipeline: open");
    if (!w) return;
    for (int i = 0; i < 64; i++) {
        tcps_segment *s = &segs[i];
        tcps_segment t = full_options_seg(i % 3 ? 4 : 6);
        t.ts_ns = 1600000000000000000ull + (uint64_t)i * 1234567u;
        t.seq += (uint32_t)i * 1000u;
        t.len = (uint32_t)(i * 37 % 1400);
        t.flags = TCPS_F_ACK;
        t.opt.present = i % 2 ? TCPS_OPT_TS : (TCPS_OPT_TS | TCPS_OPT_SACK);
        t.opt.nsack = i % 2 ? 0 : 1;
        *s = canon(t);
        uint8_t f[1600];
        size_t n = tcps_encode_ether(s, f, sizeof f);
        size_t cap = n > 128 ? 128 : n; /* snaplen-style cut */
        tcps_pcap_write(w, s->ts_ns, f, cap, n);
    }
    CHECK(tcps_pcap_close(w) == 0, "pipeline: close");
    char err[256];
    tcps_pcap_reader *r = tcps_pcap_open_read(path, err, sizeof err);
    CHECK(r != NULL, "pipeline: open read: %s", err);
    if (!r) return;
    int i = 0, bad = 0, rc;
    uint64_t ts;
    const uint8_t *d;
    size_t cl, wl;
    while ((rc = tcps_pcap_next(r, &ts, &d, &cl, &wl)) == 1) {
        tcps_segment g;
        char why[128];
        if (i >= 64 || tcps_decode(tcps_pcap_linktype(r), d, cl, ts, &g) != TCPS_DEC_OK ||
            !seg_equal(&g, &segs[i], why, sizeof why)) {
            bad++;
            if (i < 64) printf("FAIL pipeline record %d: %s\n", i + 1, why);
        }
        i++;
    }
    CHECK(rc == 0 && i == 64 && bad == 0, "pipeline: rc %d records %d bad %d", rc, i, bad);
    tcps_pcap_close_read(r);
    remove(path);
}

static void test_status_text(void)
{
    CHECK(strcmp(tcps_decode_status_text(TCPS_DEC_OK), "ok") == 0, "status text ok");
    CHECK(strcmp(tcps_decode_status_text(TCPS_DEC_TRUNCATED), "truncated") == 0,
          "status text truncated");
    CHECK(strcmp(tcps_decode_status_text((tcps_decode_status)99), "?") == 0,
          "status text out of range");
    for (int s = 0; s <= TCPS_DEC_UNSUPPORTED_LINK; s++)
        CHECK(tcps_decode_status_text((tcps_decode_status)s)[0] != '\0', "status %d has a text", s);
}

int main(void)
{
    const char *td = getenv("TCPS_TEST_TMPDIR");
    if (td && *td) snprintf(tmpdir, sizeof tmpdir, "%s", td);

    test_status_text();
    test_link_layers();
    test_ip_layers();
    test_tunnel_depth();
    test_options();
    test_encoder();
    test_truncation();
    test_mutation();
    test_pcap_roundtrip(0);
    test_pcap_roundtrip(1);
    test_pcap_byte_orders();
    test_pcap_errors();
    test_pcap_pipeline();

    for (size_t i = 0; i < nframes; i++) free(frames[i].data);
    printf("%u passed, %u failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
