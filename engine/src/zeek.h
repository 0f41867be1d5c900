/*
 * Zeek-compatible connection summary for one TCP connection: the conn.log
 * `history` string and `conn_state`, computed packet by packet.
 *
 * Internal header of the tcpstate engine.  Pure C11, libc only.  See the
 * comment at the top of zeek.c for the letters supported and the ways this
 * differs from Zeek.
 */
#ifndef TCPS_ZEEK_H
#define TCPS_ZEEK_H

#include <stddef.h>
#include <stdint.h>

#include "tcpstate/tcpstate.h"

/* Letters kept; later ones are dropped (the flow summary holds 31). */
#define TCPS_ZEEK_HIST_MAX 28

/* Zeek's TCP endpoint states (TCP_ENDPOINT_*), same order and values. */
enum {
    TCPS_ZEEK_INACTIVE = 0,     /* nothing seen from this side */
    TCPS_ZEEK_SYN_SENT = 1,     /* SYN seen, no ack */
    TCPS_ZEEK_SYN_ACK_SENT = 2, /* SYN-ACK seen with no SYN before it */
    TCPS_ZEEK_PARTIAL = 3,      /* traffic seen, no SYN */
    TCPS_ZEEK_ESTABLISHED = 4,
    TCPS_ZEEK_CLOSED = 5,       /* FIN seen */
    TCPS_ZEEK_RESET = 6         /* RST seen */
};

/*
 * 72 bytes.  Index 0 is the originator, 1 the responder.  Sequence numbers
 * are kept modulo 2^32 (Zeek also counts 32-bit wraps; see zeek.c).
 */
typedef struct tcps_zeek {
    uint32_t start[2];  /* Zeek's start_seq (ISN, or first seq - 1) */
    uint32_t last[2];   /* Zeek's last_seq: one past the highest seq sent */
    uint32_t h_syn[2];  /* relative seq of the last SYN / SYN-ACK */
    uint32_t h_fin[2];  /* relative seq + payload of the last FIN */
    uint32_t h_rst[2];  /* relative seq of the last RST */
    uint16_t rxmt[2];   /* retransmissions (saturates at 65535) */
    uint16_t win0[2];   /* zero-window advertisements (saturates) */
    uint16_t seen;      /* once-only history masks, responder's << 8 */
    uint8_t ep[2];      /* bits 0-2 state, 3-5 previous state,
                           6 FIN sent, 7 Zeek's did_close */
    uint8_t misc;       /* bits 0-1 / 2-3: acked bytes of orig / resp
                           relative to start, saturated at 3;
                           bits 4-5: RSTOS0 history pattern matcher */
    uint8_t hlen;       /* bits 0-6 letters stored, bit 7 letters dropped */
    uint8_t hist[(TCPS_ZEEK_HIST_MAX * 5 + 7) / 8]; /* 5-bit letter codes */
} tcps_zeek;

void tcps_zeek_init(tcps_zeek *z);

/*
 * One packet.  is_orig = 1 if sent by the originator.  flags are TCPS_F_*,
 * seq/ack raw as on the wire, len the TCP payload length, window the raw
 * (unscaled) window field.
 */
void tcps_zeek_packet(tcps_zeek *z, int is_orig, uint8_t flags, uint32_t seq,
                      uint32_t ack, uint32_t len, uint16_t window);

/* Zeek's conn_state for the connection as it stands. */
tcps_conn_state tcps_zeek_conn_state(const tcps_zeek *z);

/* NUL-terminated history into out (cap >= 32 recommended); returns the
 * length written (at most cap - 1). */
size_t tcps_zeek_history(const tcps_zeek *z, char *out, size_t cap);

/*
 * 1 if Zeek would end this connection and start a new one with a packet
 * carrying these flags and this sequence number (Zeek's TCP IsReuse: a SYN
 * that does not repeat the originator's ISN, or any SYN once either side
 * has closed).  Call before tcps_zeek_packet(); to mimic Zeek, log this
 * connection and tcps_zeek_init() a new one for the packet.  A connection
 * that has seen no packet returns 0.
 */
int tcps_zeek_is_reuse(const tcps_zeek *z, uint8_t flags, uint32_t seq);

/* Zeek endpoint state (TCPS_ZEEK_*) of the originator (1) or responder (0). */
int tcps_zeek_endpoint_state(const tcps_zeek *z, int is_orig);

/* 1 if history letters were dropped because the buffer was full. */
int tcps_zeek_history_truncated(const tcps_zeek *z);

#endif
