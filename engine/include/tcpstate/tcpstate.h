/*
 * tcpstate engine: infer both TCP endpoints' states from captured segments.
 *
 * Pure C11, libc only.  The engine never reads a clock: time is what the
 * segments say.  It owns its memory; results are written into structs the
 * caller owns.
 *
 * One-pass mode: feed segments in capture order, each result is the best
 * estimate at that moment.
 * Two-pass mode: feed every segment (pass 1), call tcps_engine_begin_pass2(),
 * feed the same segments again in the same order (pass 2).  Pass-2 results
 * use what the whole capture showed (which segments the receiver never got,
 * who answered with RST, which retransmission was a tail loss probe) and mark
 * the packets whose states differ from pass 1 as revised.
 */
#ifndef TCPSTATE_H
#define TCPSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "tcpstate_defs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TCPS_VERSION "0.1.0"

/* ---- generated enums ---------------------------------------------------- */
#define TCPS_ENUM_(id, ...) TCPS_ST_##id,
typedef enum { TCPS_STATE_LIST(TCPS_ENUM_) TCPS_ST_COUNT } tcps_state;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_R_##id,
typedef enum { TCPS_REASON_LIST(TCPS_ENUM_) TCPS_R_COUNT } tcps_reason;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_RTX_##id,
typedef enum { TCPS_RTX_KIND_LIST(TCPS_ENUM_) TCPS_RTX_COUNT } tcps_rtx_kind;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_SCHED_##id,
typedef enum { TCPS_SCHED_LIST(TCPS_ENUM_) TCPS_SCHED_COUNT } tcps_sched;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_RST_##id,
typedef enum { TCPS_RST_CAUSE_LIST(TCPS_ENUM_) TCPS_RST_COUNT } tcps_rst_cause;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_PH_##id,
typedef enum { TCPS_PHASE_LIST(TCPS_ENUM_) TCPS_PH_COUNT } tcps_phase;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_CLOSE_##id,
typedef enum { TCPS_CLOSE_LIST(TCPS_ENUM_) TCPS_CLOSE_COUNT } tcps_close_kind;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_OEV_##id,
typedef enum { TCPS_ORPHAN_EV_LIST(TCPS_ENUM_) TCPS_OEV_COUNT } tcps_orphan_ev;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_CS_##id,
typedef enum { TCPS_CONN_STATE_LIST(TCPS_ENUM_) TCPS_CS_COUNT } tcps_conn_state;
#undef TCPS_ENUM_
#define TCPS_ENUM_(id, ...) TCPS_EV_##id,
typedef enum { TCPS_EVENT_LIST(TCPS_ENUM_) TCPS_EV_COUNT } tcps_event;
#undef TCPS_ENUM_

typedef enum { TCPS_SEV_CHAT, TCPS_SEV_NOTE, TCPS_SEV_WARN, TCPS_SEV_ERROR } tcps_severity;

/* Names and texts (never NULL; "" for NONE values, "?" out of range). */
const char *tcps_state_name(unsigned s);
int tcps_state_from_name(const char *name); /* -1 if unknown */
const char *tcps_reason_text(unsigned r);
const char *tcps_rtx_kind_name(unsigned k);
const char *tcps_sched_name(unsigned s);
const char *tcps_rst_cause_text(unsigned c);
const char *tcps_phase_name(unsigned p);
const char *tcps_close_name(unsigned c);
const char *tcps_orphan_ev_text(unsigned e);
const char *tcps_conn_state_name(unsigned c);
const char *tcps_event_id_name(unsigned e); /* "SYN_RETRANS" */
const char *tcps_event_template(unsigned e);
tcps_severity tcps_event_severity(unsigned e);
/* Enum identifiers as strings ("FIN", "TLP", "REFUSED", ...), for scripts. */
const char *tcps_rtx_kind_id(unsigned k);
const char *tcps_sched_id(unsigned s);
const char *tcps_rst_cause_id(unsigned c);
const char *tcps_close_id(unsigned c);
const char *tcps_orphan_ev_id(unsigned e);
const char *tcps_reason_id(unsigned r);

/* ---- input ---------------------------------------------------------------- */
enum {
    TCPS_F_FIN = 0x01, TCPS_F_SYN = 0x02, TCPS_F_RST = 0x04, TCPS_F_PSH = 0x08,
    TCPS_F_ACK = 0x10, TCPS_F_URG = 0x20, TCPS_F_ECE = 0x40, TCPS_F_CWR = 0x80
};

enum { /* tcps_options.present bits */
    TCPS_OPT_MSS = 1u << 0, TCPS_OPT_WSCALE = 1u << 1, TCPS_OPT_SACK_PERM = 1u << 2,
    TCPS_OPT_SACK = 1u << 3, TCPS_OPT_TS = 1u << 4,
    TCPS_OPT_MALFORMED = 1u << 7 /* an option's length was wrong: rest ignored */
};

typedef struct tcps_options {
    uint8_t present;   /* TCPS_OPT_* */
    uint8_t wscale;    /* shift count as sent (the engine caps it at 14) */
    uint16_t mss;
    uint8_t nsack;     /* SACK blocks (0..4) */
    uint32_t sack[4][2];
    uint32_t tsval, tsecr;
} tcps_options;

typedef struct tcps_segment {
    uint64_t ts_ns;      /* capture time, nanoseconds (any epoch) */
    uint8_t af;          /* 4 or 6 */
    uint8_t src[16], dst[16]; /* IPv4 uses the first 4 bytes */
    uint16_t sport, dport;
    uint8_t flags;       /* TCPS_F_* */
    uint32_t seq, ack;   /* raw, as on the wire */
    uint32_t len;        /* TCP payload bytes */
    uint16_t window;     /* raw (unscaled) */
    tcps_options opt;
} tcps_segment;

/* ---- stack profiles --------------------------------------------------------- */
typedef struct tcps_profile {
    char name[24];
    char description[48];     /* "Linux default", ... */
    unsigned syn_retries;     /* tcp_syn_retries */
    unsigned syn_linear;      /* tcp_syn_linear_timeouts (0 before 6.5) */
    unsigned synack_retries;  /* tcp_synack_retries */
    unsigned orphan_retries;  /* tcp_orphan_retries (0 means 8 on Linux) */
    unsigned retries2;        /* tcp_retries2 */
    unsigned ka_probes;       /* tcp_keepalive_probes */
    uint32_t rto_init_ms;     /* TCP_TIMEOUT_INIT */
    uint32_t rto_min_ms;      /* TCP_RTO_MIN */
    uint32_t rto_max_ms;      /* TCP_RTO_MAX */
    uint32_t fin_timeout_ms;  /* tcp_fin_timeout */
    uint32_t timewait_ms;     /* TIME_WAIT length */
    uint32_t ka_time_ms;      /* tcp_keepalive_time */
    uint32_t ka_intvl_ms;     /* tcp_keepalive_intvl */
    uint8_t rfc1337;          /* tcp_rfc1337: RST does not end TIME_WAIT */
    uint8_t model_budget;     /* 1: Linux time-budget model of retries */
} tcps_profile;

size_t tcps_profile_count(void);
const tcps_profile *tcps_profile_at(size_t i);
const tcps_profile *tcps_profile_find(const char *name); /* NULL if none */
/* Set one value by its sysctl-style key ("syn_retries", "fin_timeout_ms",
 * ...).  Returns 0, or -1 for an unknown key or a bad value. */
int tcps_profile_set(tcps_profile *p, const char *key, const char *value);
/* Keys accepted by tcps_profile_set, NULL-terminated. */
const char *const *tcps_profile_keys(void);
/* Budgets derived from a profile (Linux's tcp_model_timeout). */
unsigned tcps_profile_syn_budget(const tcps_profile *p);      /* count */
uint64_t tcps_profile_syn_giveup_ns(const tcps_profile *p);   /* after first SYN */
uint64_t tcps_profile_synack_giveup_ns(const tcps_profile *p);/* after first SYN-ACK */
uint64_t tcps_profile_retry_budget_ns(const tcps_profile *p, unsigned retries);
unsigned tcps_profile_orphan_retries(const tcps_profile *p);

/* ---- output ----------------------------------------------------------------- */
enum { TCPS_CLIENT = 0, TCPS_SERVER = 1 };
enum { TCPS_ORPHAN_UNKNOWN = 0, TCPS_ORPHAN_NO = 1, TCPS_ORPHAN_YES = 2 };

typedef struct tcps_result {
    uint32_t flow_id;         /* connection id, 1.. (a reused 4-tuple gets a new one) */
    uint16_t conn_index;      /* 1.. : connection number on this 4-tuple */
    uint8_t from;             /* TCPS_CLIENT or TCPS_SERVER: the sender */
    uint8_t roles_guessed;    /* no SYN seen: client/server are a guess */
    uint8_t state[2];         /* after this packet, [TCPS_CLIENT], [TCPS_SERVER] */
    uint8_t prev_state[2];    /* before this packet (and before any timer) */
    uint8_t reason[2];        /* tcps_reason of the last change, NONE if unchanged */
    uint8_t phase;            /* tcps_phase */
    uint8_t revised;          /* pass 2: states differ from pass 1 */
    uint8_t provisional;      /* one-pass: a later packet may change this answer */
    uint8_t delivered;        /* 0: the receiver did not get this segment */
    uint64_t time_in_state_ns[2]; /* how long each endpoint has been in state[] */
    uint64_t timer_at_ns[2];  /* a timer changed the state (reason) at this time; 0 if none */

    /* retransmission of the sender's segment */
    uint8_t rtx_kind;         /* tcps_rtx_kind */
    uint8_t rtx_sched;        /* tcps_sched */
    uint16_t rtx_index;       /* 1 = first retransmission */
    uint64_t rtx_gap_ns;      /* since the previous transmission */
    uint16_t rtx_budget;      /* retransmissions the profile allows (0: time budget only) */
    uint64_t rtx_budget_ns;   /* time budget from the first retransmission/transmission */
    uint16_t rtx_backoff;     /* exponent of the RTO doubling at this retransmission */
    uint16_t rtx_timer_index; /* SYN-ACK: the request timer's retransmissions so far (the
                                 budget counts these, not replies to a retransmitted SYN) */

    /* keepalive and zero-window probes */
    uint16_t ka_index;        /* keepalive probe number since the peer last spoke */
    uint64_t ka_idle_ns;      /* idle time before this probe */
    uint16_t ka_ack;          /* this packet answers keepalive probe N */
    uint16_t zwp_index;       /* zero-window probe number (0: not one) */
    uint16_t ka_unanswered;   /* a keepalive RST: probes its sender sent without an answer */

    uint8_t rst_cause;        /* tcps_rst_cause */
    uint8_t half_closed;      /* 0 none, 1 + side that shut down its sending half */
    uint8_t orphan[2];        /* TCPS_ORPHAN_* */
    uint8_t orphan_ev[2];     /* tcps_orphan_ev */
    uint8_t port_reuse;       /* 1: first packet of a connection on a reused 4-tuple */
    uint8_t close_kind;       /* tcps_close_kind as known so far */
    uint8_t event_side[TCPS_EV_COUNT]; /* side an event is about (0/1) */
    uint32_t events;          /* bit (1u << TCPS_EV_x) for each expert event */
} tcps_result;

typedef struct tcps_flow_summary {
    uint32_t flow_id;
    uint16_t conn_index;
    uint8_t af;
    uint8_t roles_guessed;
    uint8_t addr[2][16];      /* [TCPS_CLIENT], [TCPS_SERVER] */
    uint16_t port[2];
    uint64_t first_ns, last_ns;
    uint32_t packets[2];      /* sent by client / server */
    uint64_t bytes[2];        /* payload bytes sent */
    uint8_t final_state[2];
    uint8_t conn_state;       /* tcps_conn_state (Zeek) */
    char history[32];         /* Zeek history string */
    uint8_t close_kind;
    uint8_t orphan[2];
    uint8_t evicted;          /* ended early to keep memory under the cap */
    uint32_t retrans[2];      /* retransmissions sent */
    uint32_t ka_probes[2];    /* keepalive probes sent */
    uint32_t zw_probes[2];
    double time_in_state[2][TCPS_ST_COUNT]; /* seconds */
} tcps_flow_summary;

/* ---- engine ----------------------------------------------------------------- */
typedef void (*tcps_flow_end_fn)(const tcps_flow_summary *s, void *user);

typedef struct tcps_config {
    tcps_profile profile;
    int two_pass;             /* 1: expect begin_pass2 and a second feed */
    size_t max_flows;         /* live connections kept; oldest idle evicted past it */
    uint64_t close_wait_warn_ns; /* CLOSE_WAIT_LONG threshold */
    tcps_flow_end_fn on_flow_end; /* called once per connection when it ends
                                     (in two-pass mode: during pass 2 only) */
    void *user;
} tcps_config;

typedef struct tcps_engine tcps_engine;

void tcps_config_default(tcps_config *c);
tcps_engine *tcps_engine_new(const tcps_config *c); /* NULL on bad config/ENOMEM */
void tcps_engine_free(tcps_engine *e);
/* Feed one segment.  Returns 0, or -1 if the segment is unusable
 * (bad af, ...) in which case *out is zeroed. */
int tcps_engine_feed(tcps_engine *e, const tcps_segment *seg, tcps_result *out);
/* Two-pass mode: end pass 1 and start pass 2.  Returns -1 if not two-pass. */
int tcps_engine_begin_pass2(tcps_engine *e);
/* The capture went on until ts_ns (later than its last segment): timers that
 * fire before it count when connections end. */
void tcps_engine_note_time(tcps_engine *e, uint64_t ts_ns);
/* Capture ended: run timers up to the last time seen and report every live
 * connection through on_flow_end. */
void tcps_engine_finish(tcps_engine *e);
/* Summary of a live connection (0), or -1 if it is not live.  Constant time
 * for the connection of the segment fed last; a scan otherwise. */
int tcps_engine_flow_summary(const tcps_engine *e, uint32_t flow_id, tcps_flow_summary *s);
/* Bytes the engine holds now, and the most it held.
 *
 * The cap: at most max_flows connections are live (past it the oldest idle
 * one is evicted), so in one-pass mode
 *   tcps_engine_memory() <= M0 + 1.25 x (max_flows + 1) x tcps_flow_bytes()
 * at any moment, M0 being a new engine's tcps_engine_memory() (the 1.25:
 * the hash index is a power of two).  Two-pass mode adds, for pass 1 and
 * kept until the engine is freed, 1 byte per segment and 16-byte evidence
 * records (a few per connection, one per retransmitted SYN/SYN-ACK/FIN
 * copy, at most 16 per segment), in arrays that double when full.
 * fuzz/ checks this bound after every call. */
size_t tcps_engine_memory(const tcps_engine *e);
size_t tcps_engine_peak_memory(const tcps_engine *e);
size_t tcps_engine_live_flows(const tcps_engine *e);
/* Bytes of state one live connection costs (its share of the hash index
 * included). */
size_t tcps_flow_bytes(void);

/* Render an event message from its template and a result.  Returns the
 * length written (truncated to cap-1). */
size_t tcps_event_message(const tcps_engine *e, unsigned ev, const tcps_result *r,
                          char *buf, size_t cap);
/* "server ESTABLISHED → CLOSE_WAIT" for each side that changed, joined by
 * "; ".  Returns 0 (and writes "") when nothing changed. */
size_t tcps_transition_text(const tcps_result *r, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
