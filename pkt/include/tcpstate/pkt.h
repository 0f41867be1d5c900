/*
 * tcpstate_pkt: captured link-layer frames <-> tcps_segment, and classic
 * pcap files.
 *
 * Pure C11, libc only (stdio for the pcap files).  The decoder never reads
 * beyond the captured length and keeps no state.
 */
#ifndef TCPSTATE_PKT_H
#define TCPSTATE_PKT_H

#include <stddef.h>
#include <stdint.h>

#include "tcpstate/tcpstate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Link types: the DLT/LINKTYPE numbers of libpcap.  12 and 14 (DLT_RAW on
 * some platforms) are decoded as raw IP too. */
enum {
    TCPS_LINK_NULL = 0,        /* BSD loopback: 4-byte family, host order */
    TCPS_LINK_ETHERNET = 1,
    TCPS_LINK_RAW = 101,       /* IPv4 or IPv6 by the version nibble */
    TCPS_LINK_LOOP = 108,      /* OpenBSD loopback: family, network order */
    TCPS_LINK_LINUX_SLL = 113,
    TCPS_LINK_IPV4 = 228,
    TCPS_LINK_IPV6 = 229,
    TCPS_LINK_LINUX_SLL2 = 276
};

typedef enum {
    TCPS_DEC_OK = 0,
    TCPS_DEC_NOT_IP,            /* link layer carries something else (ARP, ...) */
    TCPS_DEC_NOT_TCP,           /* IP, but not TCP (UDP, ICMP, ESP, ...) */
    TCPS_DEC_TRUNCATED,         /* a header needed was not fully captured */
    TCPS_DEC_MALFORMED,         /* lengths or fields that cannot be right */
    TCPS_DEC_FRAGMENT,          /* IP fragment without the TCP header */
    TCPS_DEC_UNSUPPORTED_LINK
} tcps_decode_status;

/* "ok", "not IP", ... (never NULL; "?" out of range). */
const char *tcps_decode_status_text(tcps_decode_status s);

/*
 * Decode one captured frame.  data/caplen: the captured bytes; ts_ns: the
 * capture time, copied to seg->ts_ns.  On TCPS_DEC_OK *seg is filled
 * completely (unused bytes zero); otherwise *seg is not touched.
 *
 * Link layers: Ethernet II (any number of 802.1Q/802.1ad tags, 802.3
 * LLC/SNAP, MPLS label stacks, PPPoE session), Linux cooked SLL and SLL2,
 * BSD null/loopback (either byte order), raw IPv4/IPv6.
 * Network layer: IPv4 with options, IPv6 with extension headers (hop-by-hop,
 * routing, destination options, fragment, AH); tunnels IPv4/IPv6 in IPv4 or
 * IPv6, GRE (checksum/key/sequence fields; IPv4, IPv6 or Ethernet inside)
 * and VXLAN (UDP port 4789), at most TCPS_DECODE_MAX_DEPTH IP headers.  The
 * innermost TCP segment is decoded.
 *
 * seg->len is the TCP payload length from the IP length fields, not from
 * caplen: a packet cut short by the snap length still gives its real length
 * as long as the TCP header was captured.  An IPv4 total length of 0 (TSO
 * captures) or an IPv6 payload length of 0 (jumbogram/TSO) uses the captured
 * length.  A first IP fragment whose TCP header is complete is decoded (len
 * then counts only the payload in this fragment; see tcps_decode_info);
 * later fragments give TCPS_DEC_FRAGMENT.
 *
 * TCP options: MSS, window scale (shift capped at 14), SACK-permitted, SACK
 * (up to 4 blocks), timestamps.  An option with a bad length sets
 * TCPS_OPT_MALFORMED and ends the parsing (what came before is kept).
 */
tcps_decode_status tcps_decode(int linktype, const uint8_t *data, size_t caplen,
                               uint64_t ts_ns, tcps_segment *seg);

#define TCPS_DECODE_MAX_DEPTH 4 /* IP headers, the innermost included */

/* Extra facts about a decoded frame (all offsets into data). */
typedef struct tcps_decode_info {
    size_t ip_offset;        /* innermost IP header */
    size_t tcp_offset;       /* TCP header */
    size_t payload_offset;   /* first payload byte */
    size_t payload_captured; /* payload bytes present in data (<= seg->len) */
    uint16_t vlan_id;        /* outermost 802.1Q/802.1ad VLAN ID (0: none) */
    uint8_t vlans;           /* VLAN tags seen */
    uint8_t tunnels;         /* encapsulations around the innermost IP header */
    uint8_t ttl;             /* innermost IPv4 TTL / IPv6 hop limit */
    uint8_t first_fragment;  /* 1: first fragment of a fragmented datagram */
} tcps_decode_info;

/* tcps_decode plus *info (may be NULL; filled on TCPS_DEC_OK only). */
tcps_decode_status tcps_decode_ex(int linktype, const uint8_t *data, size_t caplen,
                                  uint64_t ts_ns, tcps_segment *seg,
                                  tcps_decode_info *info);

/*
 * Build a frame for a segment, for generating test and benchmark captures.
 * IPv4 or IPv6 by seg->af (TTL/hop limit 64, IPv4 DF set), correct IP and
 * TCP checksums, the options of seg->opt laid out as Linux does (MSS,
 * SACK-permitted, timestamps, window scale, SACK blocks; NOPs align them to
 * 4 bytes).  SACK blocks that do not fit the 40 bytes of option space are
 * left out (with timestamps at most 3 fit, as in Linux).  TCPS_OPT_MALFORMED
 * is ignored.  seg->len payload bytes, zero-filled.
 * Returns the frame length, or 0 if cap is too small, seg->af is not 4/6 or
 * the IP length field cannot hold the packet.
 */
size_t tcps_encode_ether(const tcps_segment *seg, uint8_t *buf, size_t cap);
/* Same without the Ethernet header (for TCPS_LINK_RAW captures). */
size_t tcps_encode_ip(const tcps_segment *seg, uint8_t *buf, size_t cap);
/* The MAC addresses tcps_encode_ether uses (locally administered). */
#define TCPS_ENCODE_SRC_MAC {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
#define TCPS_ENCODE_DST_MAC {0x02, 0x00, 0x00, 0x00, 0x00, 0x02}

/* ---- classic pcap files --------------------------------------------------- */
/* Writer: native byte order, magic 0xa1b2c3d4 (microseconds) or 0xa1b23c4d
 * (nanosec != 0).  snaplen 0 means 262144; records longer than the snaplen
 * are cut to it. */
typedef struct tcps_pcap_writer tcps_pcap_writer;
tcps_pcap_writer *tcps_pcap_open_write(const char *path, int linktype, int nanosec,
                                       uint32_t snaplen); /* NULL + errno on failure */
/* 0 ok, -1 on error (errno set; the error also makes tcps_pcap_close fail).
 * wirelen below caplen is raised to caplen; seconds must fit 32 bits. */
int tcps_pcap_write(tcps_pcap_writer *w, uint64_t ts_ns, const uint8_t *data,
                    size_t caplen, size_t wirelen);
int tcps_pcap_close(tcps_pcap_writer *w); /* 0 ok, -1 on any write error */

/* Reader: both magics in both byte orders.  pcapng is recognised and refused
 * with a message saying so. */
typedef struct tcps_pcap_reader tcps_pcap_reader;
/* NULL on failure, with a one-line message in err (if err && errcap). */
tcps_pcap_reader *tcps_pcap_open_read(const char *path, char *err, size_t errcap);
int tcps_pcap_linktype(const tcps_pcap_reader *r); /* LINKTYPE (FCS bits removed) */
uint32_t tcps_pcap_snaplen(const tcps_pcap_reader *r);
int tcps_pcap_nanosec(const tcps_pcap_reader *r);  /* 1: nanosecond magic */
int tcps_pcap_swapped(const tcps_pcap_reader *r);  /* 1: other byte order */
/* 1 = got a record, 0 = clean end of file, -1 = error (truncated record,
 * implausible length, read error: message via tcps_pcap_error; further calls
 * return -1 again).  *data stays valid until the next call or close. */
int tcps_pcap_next(tcps_pcap_reader *r, uint64_t *ts_ns, const uint8_t **data,
                   size_t *caplen, size_t *wirelen);
const char *tcps_pcap_error(const tcps_pcap_reader *r); /* "" if none */
void tcps_pcap_close_read(tcps_pcap_reader *r);

#define TCPS_PCAP_MAX_RECORD (64u * 1024u * 1024u) /* larger records: corrupt file */

#ifdef __cplusplus
}
#endif
#endif
