/*
 * tcpstate Wireshark plugin: what the dissector shares with the statistics
 * and flow-graph code.
 */
#ifndef TCPSTATE_PRIV_H
#define TCPSTATE_PRIV_H

#include <glib.h>
#include <epan/packet.h>
#include <ws_version.h>

#include "tcpstate/tcpstate.h"

/* Wireshark version as one number: 40017 for 4.0.17. */
#define TP_WS_VERSION                                                          \
    (WIRESHARK_VERSION_MAJOR * 10000 + WIRESHARK_VERSION_MINOR * 100 +         \
     WIRESHARK_VERSION_MICRO)

/* field_info.value: embedded fvalue_t up to 4.0, a pointer from 4.1 on. */
#if TP_WS_VERSION >= 40100
#define TP_FI_FVALUE(fi) ((fi)->value)
#else
#define TP_FI_FVALUE(fi) (&(fi)->value)
#endif

/* One TCP packet's answer, kept for the whole capture file. */
typedef struct tp_rec {
    tcps_result r;
    uint32_t frame;
    uint32_t len;          /* TCP payload length */
    uint8_t flags;         /* TCPS_F_* */
    uint8_t pass;          /* 1: one-pass answer, 2: two-pass (final) answer */
    uint8_t have_snap;     /* snap_* hold the flow summary known at this packet */
    uint8_t snap_conn_state;
    char snap_history[32];
} tp_rec;

/* What the "tcpstate" tap hands its listeners (packet scope). */
typedef struct tp_tap_info {
    const tp_rec *rec;
    /* Connection summary: final after two passes, else as known so far
     * (NULL if not computed for this packet). */
    const tcps_flow_summary *flow;
    int flow_final;        /* 1: flow is the final summary */
} tp_tap_info;

extern int tp_proto;       /* proto_tcpstate */
extern int tp_tap;         /* tap id of "tcpstate" */

/* Short names used in tables and labels. */
const char *tp_side_name(unsigned side);
/* "10.0.0.1:80" or "[2001:db8::1]:80" into a buffer. */
void tp_endpoint_str(uint8_t af, const uint8_t *addr, uint16_t port, char *buf, size_t cap);
/* "S", "SA", "FA", ... Wireshark-style flag names ("FIN, ACK") into buf. */
void tp_flags_str(uint8_t flags, char *buf, size_t cap);

/* tcpstate-stats.c */
void tp_register_stats(void);
void tp_register_seq_analysis(void);

#endif
