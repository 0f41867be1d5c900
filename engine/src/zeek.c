/*
 * Zeek-compatible `history` and `conn_state` for one TCP connection.
 *
 * This re-implements, from reading Zeek's sources (9.1-dev:
 * packet_analysis/protocol/tcp/TCPSessionAdapter.cc, analyzer/protocol/tcp/
 * TCP_Endpoint.{h,cc}, session/Session.{h,cc},
 * scripts/base/protocols/conn/main.zeek), the per-packet bookkeeping Zeek
 * does for a TCP connection, reduced to what the history letters and
 * conn_state depend on.  Per packet, in Zeek's order:
 *
 *   1. set up the sender's sequence base (first packet from a side, or a SYN
 *      that restarts it);
 *   2. history letter for the flags, relative to that base;
 *   3. zero-window letter;
 *   4. the ACK moves the peer's acknowledged point (or sets up the peer's
 *      sequence base while the peer has sent nothing);
 *   5. the highest sequence sent moves, or payload at or below it counts as
 *      a retransmission;
 *   6. the endpoint state machine (INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL,
 *      ESTABLISHED, CLOSED, RESET).
 *
 * Letters supported (upper case: originator, lower case: responder):
 *   S s  SYN without ACK          H h  SYN+ACK
 *   A a  pure ACK (once)          D d  payload (once)
 *   F f  FIN                      R r  RST
 *   I i  FIN+RST (once)           Q q  SYN+FIN or SYN+RST (once)
 *   T t  retransmitted payload, logged at the 1st, 10th, 100th... time
 *   W w  zero window advertised, logged at the 1st, 10th, 100th... time
 * S/H, F and R are logged again only when their relative sequence number
 * (for a FIN: the sequence number after its payload) differs from the last
 * packet of that kind from the same side.  Only one of SYN/FIN/RST letters
 * is given per packet; a packet with one of those flags gets no A/D letter.
 *
 * Not supported, and the deviations from Zeek:
 *   - C c (bad checksum): no checksum here.  Zeek drops such packets after
 *     logging the letter; do not feed packets known to be corrupt.
 *   - G g (content gap): needs stream reassembly.
 *   - ^ (roles flipped) and the flips themselves: the caller's roles are
 *     final.  Zeek may swap roles when a connection starts without a SYN
 *     (port heuristic), when the history is exactly "H" and a pure ACK or
 *     payload follows (it becomes "^h..."), and on a SYN-ACK then SYN
 *     reversal.  Here the state changes those code paths make are applied
 *     without the swap, so where Zeek flipped, its history has a '^' and its
 *     endpoint states (so conn_state) can differ, e.g. a SYN-ACK-first flow
 *     that never closes is OTH in Zeek and S1 here.
 *   - X x (analyzer limits): not TCP state.
 *   - Sequence-space wraps are not counted: relative sequence numbers are
 *     taken modulo 2^32.  This only matters for control packets 4 GiB
 *     apart, for Zeek ignoring acks more than 2 GiB past the ISN, and for
 *     the byte-size test below after 4 GiB.
 *   - The history keeps TCPS_ZEEK_HIST_MAX letters; later ones are dropped
 *     (RSTOS0, which tests the history, still sees every letter).
 *   - t/w counters saturate at 65535, so the letters for the 100000th,
 *     1000000th... retransmission or zero window are never added.
 *   - Zeek defers closing a side while reassembled data is pending; the
 *     did_close flag here (used only by tcps_zeek_is_reuse) does not.
 *   - Connection boundaries are the caller's.  Zeek starts a new connection
 *     on a reused 4-tuple (tcps_zeek_is_reuse tells when), and ends them on
 *     timers, after which later packets make a new conn.log entry: a SYN
 *     still unanswered after tcp_attempt_delay (5 s), 5 s after a close or
 *     reset (tcp_close_delay, tcp_reset_delay), tcp_inactivity_timeout
 *     (5 min), and others.
 *   - Packets Zeek never processes (truncated TCP header, bad checksum
 *     without -C, capture filters) must not be fed.
 *
 * conn_state follows main.zeek's conn_state(): REJ when the responder reset
 * while the originator was still in its handshake, or both reset with no
 * payload either way (Zeek's endpoint size: highest of last sent and last
 * acked, minus the SYN and FIN octets); RSTOS0 when the originator reset, the
 * responder never got going and the history matches /^\^?S[^HAFGIQ]*R/.
 */
#include "zeek.h"

#include <string.h>

enum {
    ST_INACTIVE = TCPS_ZEEK_INACTIVE,
    ST_SYN_SENT = TCPS_ZEEK_SYN_SENT,
    ST_SYN_ACK_SENT = TCPS_ZEEK_SYN_ACK_SENT,
    ST_PARTIAL = TCPS_ZEEK_PARTIAL,
    ST_ESTABLISHED = TCPS_ZEEK_ESTABLISHED,
    ST_CLOSED = TCPS_ZEEK_CLOSED,
    ST_RESET = TCPS_ZEEK_RESET
};

/* once-only history masks (per side; the responder's are shifted by 8) */
enum {
    M_SYN = 1u << 0,    /* first S/H */
    M_FIN = 1u << 1,    /* first F */
    M_RST = 1u << 2,    /* first R */
    M_FINRST = 1u << 3, /* I */
    M_DATA = 1u << 4,   /* D */
    M_ACK = 1u << 5,    /* A */
    M_MULTI = 1u << 6   /* Q */
};

#define EP_FIN 0x40u
#define EP_CLOSED 0x80u

/* Beyond this, a SYN's or RST's sequence number is not trusted to move the
 * highest sequence sent (Zeek's TOO_LARGE_SEQ_DELTA). */
#define TOO_LARGE_DELTA 1048576

/* RSTOS0 matcher states (misc bits 4-5) */
enum { RX_START = 0, RX_AFTER_S = 1, RX_MATCH = 2, RX_FAIL = 3 };

/* 5-bit history codes; 0 is unused */
static const char hist_codes[] = "?SHADFRTWIQshadfrtwiq";

static int32_t seq_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

static unsigned st(const tcps_zeek *z, int e) { return z->ep[e] & 7u; }
static unsigned prev_st(const tcps_zeek *z, int e) { return (z->ep[e] >> 3) & 7u; }

static void set_st(tcps_zeek *z, int e, unsigned s) {
    unsigned cur = st(z, e);
    if (s == cur)
        return;
    z->ep[e] = (uint8_t)((z->ep[e] & (EP_FIN | EP_CLOSED)) | (cur << 3) | s);
}

static unsigned ackd(const tcps_zeek *z, int e) { return (z->misc >> (2 * e)) & 3u; }

static void set_ackd(tcps_zeek *z, int e, uint32_t d) {
    unsigned v = d >= 3 ? 3u : (unsigned)d;
    z->misc = (uint8_t)((z->misc & ~(3u << (2 * e))) | (v << (2 * e)));
}

/* New sequence base for side e: start and acked point at seq, highest sent
 * at last. */
static void reinit(tcps_zeek *z, int e, uint32_t start, uint32_t last) {
    z->start[e] = start;
    z->last[e] = last;
    set_ackd(z, e, 0);
}

static void rx_step(tcps_zeek *z, char c) {
    unsigned s = (z->misc >> 4) & 3u;
    switch (s) {
    case RX_START: s = c == 'S' ? RX_AFTER_S : RX_FAIL; break;
    case RX_AFTER_S:
        if (c == 'R')
            s = RX_MATCH;
        else if (c == 'H' || c == 'A' || c == 'F' || c == 'G' || c == 'I' || c == 'Q')
            s = RX_FAIL;
        break;
    default: break;
    }
    z->misc = (uint8_t)((z->misc & ~(3u << 4)) | (s << 4));
}

/* Append letter (upper-case form) for side e. */
static void add(tcps_zeek *z, int e, char upper) {
    char c = e ? (char)(upper - 'A' + 'a') : upper;
    const char *p = strchr(hist_codes + 1, c);
    unsigned n = z->hlen & 0x7fu;

    rx_step(z, c);
    if (!p)
        return;
    if (n >= TCPS_ZEEK_HIST_MAX) {
        z->hlen |= 0x80u;
        return;
    }
    unsigned code = (unsigned)(p - hist_codes);
    unsigned bit = n * 5;
    for (unsigned i = 0; i < 5; i++, bit++)
        if (code & (1u << i))
            z->hist[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    z->hlen = (uint8_t)((z->hlen & 0x80u) | (n + 1));
}

/* Once-only letter: added the first time the mask is met.  Returns 1 if the
 * mask had been met before (no letter added), 0 if the letter was added. */
static int once(tcps_zeek *z, int e, unsigned mask, char upper) {
    unsigned m = mask << (8 * e);
    if (z->seen & m)
        return 1;
    z->seen = (uint16_t)(z->seen | m);
    add(z, e, upper);
    return 0;
}

/* Logarithmic letter: added at the 1st, 10th, 100th... occurrence. */
static void scaled(tcps_zeek *z, int e, uint16_t *cnt, char upper) {
    if (*cnt == UINT16_MAX)
        return;
    unsigned n = ++*cnt;
    if (n == 1 || n == 10 || n == 100 || n == 1000 || n == 10000)
        add(z, e, upper);
}

void tcps_zeek_init(tcps_zeek *z) { memset(z, 0, sizeof *z); }

static void history_letters(tcps_zeek *z, int e, uint8_t flags, uint32_t rel, uint32_t len) {
    int syn = flags & TCPS_F_SYN, fin = flags & TCPS_F_FIN, rst = flags & TCPS_F_RST;
    int nctl = !!syn + !!fin + !!rst;

    if (nctl > 1) {
        if (fin && rst)
            once(z, e, M_FINRST, 'I');
        else
            once(z, e, M_MULTI, 'Q');
    } else if (syn) {
        char c = (flags & TCPS_F_ACK) ? 'H' : 'S';
        if (once(z, e, M_SYN, c) && rel != z->h_syn[e])
            add(z, e, c);
        z->h_syn[e] = rel;
    } else if (fin) {
        uint32_t end = rel + len; /* a FIN sits after its payload */
        if (once(z, e, M_FIN, 'F') && end != z->h_fin[e])
            add(z, e, 'F');
        z->h_fin[e] = end;
    } else if (rst) {
        if (once(z, e, M_RST, 'R') && rel != z->h_rst[e])
            add(z, e, 'R');
        z->h_rst[e] = rel;
    } else if (len) {
        once(z, e, M_DATA, 'D');
    } else if (flags & TCPS_F_ACK) {
        once(z, e, M_ACK, 'A');
    }
}

/* Endpoint state machine; returns 1 if Zeek reports the sender as closing. */
static int state_machine(tcps_zeek *z, int e, int is_orig, uint8_t flags, uint32_t len) {
    int p = e ^ 1;
    int syn = flags & TCPS_F_SYN, fin = flags & TCPS_F_FIN, rst = flags & TCPS_F_RST;
    int ack = flags & TCPS_F_ACK;
    int closing = 0;

    switch (st(z, e)) {
    case ST_INACTIVE:
        if (syn) {
            if (is_orig) {
                set_st(z, e, ack ? ST_SYN_ACK_SENT : ST_SYN_SENT);
            } else {
                /* A SYN from the responder after the originator's SYN-ACK:
                 * Zeek swaps the roles here (not emulated) and takes the
                 * originator as established. */
                if (!ack && st(z, p) == ST_SYN_ACK_SENT)
                    set_st(z, p, ST_ESTABLISHED);
                if (st(z, p) == ST_SYN_SENT)
                    set_st(z, p, ST_ESTABLISHED);
                set_st(z, e, ST_ESTABLISHED);
            }
        }
        if (fin) {
            set_st(z, e, ST_CLOSED);
            closing = 1;
        }
        if (rst) {
            set_st(z, e, ST_RESET);
            closing = 1;
        }
        if (st(z, e) == ST_INACTIVE) {
            if (!is_orig && len == 0 && st(z, 0) == ST_SYN_SENT)
                ; /* a bare ACK of the SYN before the SYN-ACK: still nothing */
            else if (ack && st(z, p) == ST_ESTABLISHED)
                set_st(z, e, ST_ESTABLISHED); /* missed SYN, saw the SYN-ACK */
            else
                set_st(z, e, ST_PARTIAL);
        }
        break;

    case ST_SYN_SENT:
    case ST_SYN_ACK_SENT:
        if (fin) {
            set_st(z, e, ST_CLOSED);
            closing = 1;
        }
        if (rst) {
            set_st(z, e, ST_RESET);
            closing = 1;
        }
        break;

    case ST_ESTABLISHED:
    case ST_PARTIAL:
        if (syn && !ack && st(z, e) == ST_PARTIAL && st(z, p) == ST_INACTIVE)
            set_st(z, e, ST_SYN_SENT);
        if (fin && !rst) {
            set_st(z, e, ST_CLOSED);
            /* the peer's FIN then RST was a normal close after all */
            if (st(z, p) == ST_RESET && prev_st(z, p) == ST_CLOSED)
                set_st(z, p, ST_CLOSED);
            closing = 1;
        }
        if (rst) {
            set_st(z, e, ST_RESET);
            closing = 1;
        }
        break;

    case ST_CLOSED:
        if (rst && st(z, p) != ST_CLOSED)
            set_st(z, e, ST_RESET); /* did_close is already set */
        break;

    default: /* ST_RESET: nothing changes */
        break;
    }
    return closing;
}

void tcps_zeek_packet(tcps_zeek *z, int is_orig, uint8_t flags, uint32_t seq,
                      uint32_t ack, uint32_t len, uint16_t window) {
    int e = is_orig ? 0 : 1, p = e ^ 1;
    int syn = flags & TCPS_F_SYN, fin = flags & TCPS_F_FIN, rst = flags & TCPS_F_RST;

    /* sequence space this segment takes: payload, SYN, FIN; a RST's payload
     * is not part of the stream */
    uint32_t seg_len = len + (syn ? 1u : 0u) + (fin ? 1u : 0u);
    if (rst)
        seg_len -= len;
    uint32_t end = seq + seg_len;

    /* 1. sequence base of the sender */
    switch (st(z, e)) {
    case ST_INACTIVE:
        if (syn)
            reinit(z, e, seq, end);
        else /* as if a SYN had come just before; first packet not a dup */
            reinit(z, e, seq - 1, seq);
        break;
    case ST_SYN_SENT:
    case ST_SYN_ACK_SENT:
        if (syn && seq != z->start[e])
            reinit(z, e, seq, end);
        break;
    case ST_ESTABLISHED:
    case ST_PARTIAL:
        if (syn)
            reinit(z, e, seq, end);
        break;
    case ST_RESET:
        /* a RST set up the numbers; a later SYN is more trustworthy */
        if (syn && prev_st(z, e) == ST_INACTIVE)
            reinit(z, e, seq, end);
        break;
    default: break;
    }
    uint32_t rel = seq - z->start[e];

    /* 2. letters for the flags */
    history_letters(z, e, flags, rel, len);

    /* 3. zero window, unless it comes with or after a RST or after the
     * peer's FIN (the window is 0 after scaling only if the field is) */
    if (window == 0 && !rst && st(z, p) != ST_CLOSED && st(z, e) != ST_RESET)
        scaled(z, e, &z->win0[e], 'W');

    if (fin)
        z->ep[e] |= EP_FIN;

    /* 4. acknowledgement */
    if (flags & TCPS_F_ACK) {
        if (st(z, p) == ST_INACTIVE) {
            reinit(z, p, ack - 1, ack - 1);
        } else if (seq_diff(ack, z->start[p]) >= 0 && !rst && ackd(z, p) < 3) {
            /* acks below the peer's base are ignored, as are RSTs' acks;
             * once 3 or more past the base only "3+" matters */
            uint32_t cur = z->start[p] + ackd(z, p);
            int32_t d = seq_diff(ack, cur);
            if (ack == 0 && d > TOO_LARGE_DELTA)
                ; /* more likely a broken ack than a wrap onto 0 */
            else if (d > 0)
                set_ackd(z, p, ack - z->start[p]);
        }
    }

    /* 5. highest sequence sent, or a retransmission */
    int32_t dl = seq_diff(end, z->last[e]);
    if ((syn || rst) && (dl > TOO_LARGE_DELTA || dl < -TOO_LARGE_DELTA))
        ; /* implausible jump: keep the old value */
    else if (fin && z->last[e] == z->start[e] + 1)
        z->last[e] = end; /* only the SYN seen so far: trust the FIN */
    else if (st(z, e) == ST_RESET)
        ; /* nothing after a RST is trusted */
    else if (dl > 0)
        z->last[e] = end;
    else if (len > 0)
        scaled(z, e, &z->rxmt[e], 'T');

    /* 6. endpoint states */
    if (state_machine(z, e, is_orig, flags, len))
        z->ep[e] |= EP_CLOSED;
}

/* Zeek's endpoint size is 0: the highest of last sent and last acked is at
 * most 1 past the base (the SYN), or 2 with a FIN. */
static int size_zero(const tcps_zeek *z, int e) {
    uint32_t dl = z->last[e] - z->start[e];
    unsigned da = ackd(z, e);
    uint32_t lim = (z->ep[e] & EP_FIN) ? 2u : 1u;
    return dl <= lim && da <= lim;
}

tcps_conn_state tcps_zeek_conn_state(const tcps_zeek *z) {
    unsigned os = st(z, 0), rs = st(z, 1);
    int o_inactive = os == ST_INACTIVE || os == ST_PARTIAL;
    int r_inactive = rs == ST_INACTIVE || rs == ST_PARTIAL;

    if (rs == ST_RESET) {
        if (os == ST_SYN_SENT || os == ST_SYN_ACK_SENT ||
            (os == ST_RESET && size_zero(z, 0) && size_zero(z, 1)))
            return TCPS_CS_REJ;
        return o_inactive ? TCPS_CS_RSTRH : TCPS_CS_RSTR;
    }
    if (os == ST_RESET) {
        if (r_inactive)
            return ((z->misc >> 4) & 3u) == RX_MATCH ? TCPS_CS_RSTOS0 : TCPS_CS_OTH;
        return TCPS_CS_RSTO;
    }
    if (rs == ST_CLOSED && os == ST_CLOSED)
        return TCPS_CS_SF;
    if (os == ST_CLOSED)
        return r_inactive ? TCPS_CS_SH : TCPS_CS_S2;
    if (rs == ST_CLOSED)
        return o_inactive ? TCPS_CS_SHR : TCPS_CS_S3;
    if (os == ST_SYN_SENT && rs == ST_INACTIVE)
        return TCPS_CS_S0;
    if (os == ST_ESTABLISHED && rs == ST_ESTABLISHED)
        return TCPS_CS_S1;
    return TCPS_CS_OTH;
}

size_t tcps_zeek_history(const tcps_zeek *z, char *out, size_t cap) {
    if (!out || cap == 0)
        return 0;
    size_t n = z->hlen & 0x7fu;
    if (n > cap - 1)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned code = 0, bit = (unsigned)i * 5;
        for (unsigned b = 0; b < 5; b++, bit++)
            if (z->hist[bit >> 3] & (1u << (bit & 7)))
                code |= 1u << b;
        out[i] = code < sizeof hist_codes - 1 ? hist_codes[code] : '?';
    }
    out[n] = '\0';
    return n;
}

int tcps_zeek_is_reuse(const tcps_zeek *z, uint8_t flags, uint32_t seq) {
    if (!(flags & TCPS_F_SYN))
        return 0;
    if (st(z, 0) == ST_INACTIVE && st(z, 1) == ST_INACTIVE)
        return 0; /* no packet yet: nothing to reuse */

    int co = 0; /* whose ISN a SYN must repeat */
    if (flags & TCPS_F_ACK) {
        if (st(z, 0) != ST_INACTIVE)
            return 0; /* a SYN-ACK only starts over a half connection */
        co = 1;
    }
    if ((z->ep[0] | z->ep[1]) & EP_CLOSED)
        return 1; /* any SYN after a side closed */
    if (seq == z->start[co])
        return 0;
    if (!(flags & TCPS_F_ACK) && st(z, co) == ST_SYN_ACK_SENT &&
        st(z, 1) == ST_INACTIVE && seq == z->start[1])
        return 0; /* SYN and SYN-ACK seen in reverse order */
    return 1;
}

int tcps_zeek_endpoint_state(const tcps_zeek *z, int is_orig) {
    return (int)st(z, is_orig ? 0 : 1);
}

int tcps_zeek_history_truncated(const tcps_zeek *z) { return (z->hlen & 0x80u) != 0; }

_Static_assert(sizeof(tcps_zeek) <= 72, "tcps_zeek grew");
