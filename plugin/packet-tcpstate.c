/*
 * packet-tcpstate.c: "TCP Endpoint States", a postdissector over TCP.
 *
 * The first pass over a capture (frames not yet visited) turns the TCP/IP
 * fields of each frame into a tcps_segment, feeds the engine and stores the
 * answer per frame.  Every later dissection of a frame only draws what was
 * stored: the TCP fields the engine needs are not there on the second pass
 * of `tshark -2`, and the engine must see each segment once, in order.
 *
 * With the "two-pass" preference (default) the segments are kept, and the
 * first time a frame is drawn after the first pass the engine is run again
 * in its two-pass mode over every segment seen so far; its answers replace
 * the stored ones.  `tshark -2` and the GUI's revisits therefore show final
 * answers, a one-pass `tshark -r` the streaming (provisional) ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <epan/packet.h>
#include <epan/prefs.h>
#include <epan/expert.h>
#include <epan/proto_data.h>
#include <epan/tap.h>
#include <epan/epan.h>
#include <epan/wmem_scopes.h>
#include <wiretap/wtap.h>

#include "tcpstate_priv.h"
#include "tcpstate/labcomment.h"

int tp_proto = -1;
int tp_tap = -1;

/* ---- fields ---------------------------------------------------------------- */
static int hf_client_state = -1, hf_server_state = -1, hf_from = -1, hf_phase = -1;
static int hf_transition = -1, hf_client_tis = -1, hf_server_tis = -1;
static int hf_client_reason = -1, hf_server_reason = -1;
static int hf_half_closed = -1, hf_orphan = -1, hf_orphan_evidence = -1;
static int hf_rtx_kind = -1, hf_rtx_index = -1, hf_rtx_gap = -1, hf_rtx_sched = -1;
static int hf_rtx_budget = -1, hf_rtx_budget_time = -1, hf_rtx_backoff = -1;
static int hf_ka_index = -1, hf_ka_idle = -1, hf_ka_ack = -1, hf_zwp = -1;
static int hf_rst_cause = -1, hf_rst_cause_id = -1;
static int hf_flow_id = -1, hf_flow_conn_index = -1, hf_flow_conn_state = -1;
static int hf_flow_history = -1, hf_flow_close = -1, hf_flow_client_final = -1;
static int hf_flow_server_final = -1, hf_flow_final = -1, hf_flow_client = -1;
static int hf_flow_server = -1;
static int hf_kernel_client_state = -1, hf_kernel_server_state = -1;
static int hf_kernel_client_timer = -1, hf_kernel_server_timer = -1;
static int hf_kernel_agree = -1, hf_kernel_transition = -1;
static int hf_lab_experiment = -1, hf_lab_event = -1, hf_lab_rule = -1, hf_comment = -1;
static int hf_revised = -1, hf_provisional = -1, hf_pass = -1, hf_not_received = -1;
static int hf_port_reuse = -1, hf_roles_guessed = -1, hf_event = -1, hf_config = -1;

static gint ett_tcpstate = -1, ett_side = -1, ett_rtx = -1, ett_probe = -1;
static gint ett_flow = -1, ett_lab = -1, ett_orphan = -1, ett_events = -1;

static expert_field ei_event[TCPS_EV_COUNT];
static expert_field ei_not_received = EI_INIT;
static expert_field ei_revised = EI_INIT;
static expert_field ei_kernel_disagree = EI_INIT;

/* ---- preferences ------------------------------------------------------------- */
static gint pref_profile = 0;
static const char *pref_overrides = "";
/* bool preferences are gboolean up to 4.2, C99 bool from 4.4 (4.3 dev) on */
#if TP_WS_VERSION >= 40300
typedef bool tp_pref_bool;
#else
typedef gboolean tp_pref_bool;
#endif
static tp_pref_bool pref_two_pass = TRUE;
static guint pref_close_wait_s = 60;
static tp_pref_bool pref_info_tag = TRUE;
static tp_pref_bool pref_lab_profile = TRUE;
static enum_val_t *profile_enum;

/* ---- fields the postdissector reads ------------------------------------------ */
enum {
    W_TCP, W_SRCPORT, W_DSTPORT, W_SEQ, W_ACK, W_FLAGS, W_LEN, W_WIN, W_OPTKIND,
    W_MSS, W_WS, W_SACK_LE, W_SACK_RE, W_TSVAL, W_TSECR, W_IP_SRC, W_IP6_SRC,
    W_ICMP, W_ICMP6, W_COUNT
};
static const char *const wanted_names[W_COUNT] = {
    "tcp", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
    "tcp.len", "tcp.window_size_value", "tcp.option_kind", "tcp.options.mss_val",
    "tcp.options.wscale.shift", "tcp.options.sack_le", "tcp.options.sack_re",
    "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr", "ip.src", "ipv6.src",
    "icmp", "icmpv6"};
static int wanted_id[W_COUNT];

/* ---- per capture file ---------------------------------------------------------- */
typedef struct tp_state {
    tcps_config cfg;
    tcps_engine *E;          /* streaming (one-pass) engine */
    tp_rec *recs;            /* one per TCP segment fed, in feed order */
    tcps_segment *segs;      /* copies for the two-pass rerun (two_pass only) */
    size_t n, cap;
    int two_pass;
    size_t rerun_n;          /* segments the last two-pass rerun covered */
    GHashTable *flows_final; /* flow id -> tcps_flow_summary*, from the rerun */
    GHashTable *flows_ended; /* flow id -> tcps_flow_summary*, ended in the streaming engine */
    GHashTable *flows_live;  /* flow id -> tcps_flow_summary*, the engine's summary so far */
    uint64_t max_ts;         /* latest frame time seen (any frame) */
    unsigned gen;
    char config_text[256];
    GHashTable *endpoints;   /* flow id -> tp_endpoints: formatted once per connection */
    char *experiment;        /* tcpstate-lab experiment name and description, */
    char *experiment_desc;   /* from the first comment that names it */
} tp_state;


typedef struct tp_frame_ref {
    unsigned gen;
    uint32_t idx;
} tp_frame_ref;

static tp_state *S;
static unsigned tp_gen;

const char *tp_side_name(unsigned side) { return side == TCPS_CLIENT ? "client" : "server"; }

void tp_endpoint_str(uint8_t af, const uint8_t *addr, uint16_t port, char *buf, size_t cap)
{
    if (af == 6) {
        /* RFC 5952 text via GLib's inet helpers would need GIO; print it
         * ourselves: the longest run of zero groups becomes "::". */
        uint16_t g[8];
        for (int i = 0; i < 8; i++)
            g[i] = (uint16_t)((addr[2 * i] << 8) | addr[2 * i + 1]);
        int bs = -1, bl = 0;
        for (int i = 0; i < 8;) {
            if (g[i] != 0) {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && g[j] == 0)
                j++;
            if (j - i > bl && j - i > 1) {
                bs = i;
                bl = j - i;
            }
            i = j;
        }
        char ip[48];
        size_t n = 0;
        for (int i = 0; i < 8; i++) {
            if (i == bs) {
                n += (size_t)snprintf(ip + n, sizeof ip - n, "::");
                i += bl - 1;
                continue;
            }
            n += (size_t)snprintf(ip + n, sizeof ip - n, "%s%x",
                                  (n && ip[n - 1] != ':') ? ":" : "", g[i]);
        }
        snprintf(buf, cap, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, cap, "%u.%u.%u.%u:%u", addr[0], addr[1], addr[2], addr[3], port);
    }
}

void tp_flags_str(uint8_t flags, char *buf, size_t cap)
{
    static const char *const names[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    /* Wireshark's order: SYN, FIN, RST, PSH, ACK, URG, ECE, CWR */
    static const int order[8] = {1, 0, 2, 3, 4, 5, 6, 7};
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; k < 8; k++) {
        int i = order[k];
        if (flags & (1u << i)) {
            int w = snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", names[i]);
            if (w < 0 || (size_t)w >= cap - n)
                break;
            n += (size_t)w;
        }
    }
    if (n == 0)
        snprintf(buf, cap, "<none>");
}

/* ---- engine configuration from the preferences ---------------------------- */
typedef struct lab_note_ctx {
    char *text;
    size_t cap, *n;
    int first;
} lab_note_ctx;

static void lab_note(const char *key, const char *value, const char *from, void *u)
{
    lab_note_ctx *x = (lab_note_ctx *)u;
    (void)from;
    if (*x->n < x->cap)
        *x->n += (size_t)snprintf(x->text + *x->n, x->cap - *x->n, "%s%s=%s",
                                  x->first ? ", from the capture: " : " ", key, value);
    x->first = 0;
}

/* lab: the experiment line of a tcpstate-lab capture (its kernel and
 * sysctls come before the user's overrides), or NULL. */
static void build_config(tcps_config *c, char *text, size_t cap, const tcps_lab_line *lab)
{
    tcps_config_default(c);
    const tcps_profile *p = tcps_profile_at((size_t)pref_profile);
    if (!p)
        p = tcps_profile_at(0);
    c->profile = *p;
    c->close_wait_warn_ns = (uint64_t)pref_close_wait_s * 1000000000ull;
    size_t n = (size_t)snprintf(text, cap, "profile %s (%s)", p->name, p->description);
    if (lab && pref_lab_profile) {
        lab_note_ctx x = {text, cap, &n, 1};
        tcps_lab_profile(lab, &c->profile, lab_note, &x);
    }
    /* KEY=VALUE pairs separated by spaces, commas or semicolons */
    char *dup = g_strdup(pref_overrides ? pref_overrides : "");
    char *save = NULL;
    int first_ok = 1, first_bad = 1;
    GString *bad = g_string_new("");
    for (char *tok = strtok_r(dup, " ,;\t", &save); tok; tok = strtok_r(NULL, " ,;\t", &save)) {
        char *eq = strchr(tok, '=');
        int ok = 0;
        if (eq) {
            *eq = '\0';
            ok = tcps_profile_set(&c->profile, tok, eq + 1) == 0;
            *eq = '=';
        }
        if (ok && n < cap) {
            n += (size_t)snprintf(text + n, cap - n, "%s%s", first_ok ? ", overrides: " : " ", tok);
            first_ok = 0;
        } else if (!ok) {
            g_string_append_printf(bad, "%s%s", first_bad ? "" : " ", tok);
            first_bad = 0;
        }
    }
    if (bad->len && n < cap)
        snprintf(text + n, cap - n, "; ignored (unknown key or bad value): %s", bad->str);
    g_string_free(bad, TRUE);
    g_free(dup);
}

static void free_summary(gpointer p) { g_free(p); }

static void on_flow_end_stream(const tcps_flow_summary *s, void *user)
{
    tp_state *st = (tp_state *)user;
    g_hash_table_replace(st->flows_ended, GUINT_TO_POINTER(s->flow_id), g_memdup2(s, sizeof *s));
    g_hash_table_remove(st->flows_live, GUINT_TO_POINTER(s->flow_id));
}

static void on_flow_end_final(const tcps_flow_summary *s, void *user)
{
    tp_state *st = (tp_state *)user;
    g_hash_table_replace(st->flows_final, GUINT_TO_POINTER(s->flow_id), g_memdup2(s, sizeof *s));
}

static tcps_engine *stream_engine(tp_state *st)
{
    tcps_config c = st->cfg;
    c.two_pass = 0;
    c.on_flow_end = on_flow_end_stream;
    c.user = st;
    return tcps_engine_new(&c);
}

static void state_free(tp_state *st)
{
    if (!st)
        return;
    tcps_engine_free(st->E);
    g_free(st->recs);
    g_free(st->segs);
    if (st->flows_final)
        g_hash_table_destroy(st->flows_final);
    if (st->flows_ended)
        g_hash_table_destroy(st->flows_ended);
    if (st->flows_live)
        g_hash_table_destroy(st->flows_live);
    if (st->endpoints)
        g_hash_table_destroy(st->endpoints);
    g_free(st->experiment);
    g_free(st->experiment_desc);
    g_free(st);
}

static tp_state *state_new(void)
{
    tp_state *st = g_new0(tp_state, 1);
    build_config(&st->cfg, st->config_text, sizeof st->config_text, NULL);
    st->two_pass = pref_two_pass ? 1 : 0;
    st->gen = ++tp_gen;
    st->flows_final = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free_summary);
    st->flows_ended = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free_summary);
    st->flows_live = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, free_summary);
    st->endpoints = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    st->E = stream_engine(st);
    if (!st->E) {
        state_free(st);
        return NULL;
    }
    return st;
}

static void tp_init(void)
{
    state_free(S);
    S = state_new();
}

static void tp_cleanup(void)
{
    state_free(S);
    S = NULL;
}

/* The engine in two-pass mode over every segment kept; its answers and
 * final connection summaries replace the stored ones. */
static void rerun_two_pass(tp_state *st)
{
    tcps_config c = st->cfg;
    c.two_pass = 1;
    c.on_flow_end = on_flow_end_final;
    c.user = st;
    tcps_engine *E2 = tcps_engine_new(&c);
    if (!E2)
        return;
    g_hash_table_remove_all(st->flows_final);
    tcps_result r;
    for (size_t i = 0; i < st->n; i++)
        tcps_engine_feed(E2, &st->segs[i], &r);
    tcps_engine_note_time(E2, st->max_ts);
    tcps_engine_begin_pass2(E2);
    for (size_t i = 0; i < st->n; i++)
        if (tcps_engine_feed(E2, &st->segs[i], &r) == 0) {
            st->recs[i].r = r;
            st->recs[i].pass = 2;
        }
    tcps_engine_note_time(E2, st->max_ts);
    tcps_engine_finish(E2);
    tcps_engine_free(E2);
    st->rerun_n = st->n;
}

static void maybe_rerun(tp_state *st)
{
    if (!st->two_pass || st->n == 0 || st->rerun_n == st->n)
        return;
    /* A live capture keeps adding frames: rerun when the capture grew by an
     * eighth (amortised linear), always while it is small. */
    if (st->rerun_n == 0 || st->n < 20000 || st->n - st->rerun_n >= st->rerun_n / 8)
        rerun_two_pass(st);
}

/* ---- the TCP/IP fields of this frame -> tcps_segment ------------------------- */
static field_info *last_of(proto_tree *tree, int w)
{
    if (wanted_id[w] < 0)
        return NULL;
    GPtrArray *a = proto_get_finfo_ptr_array(tree, wanted_id[w]);
    if (!a || a->len == 0)
        return NULL;
    return (field_info *)g_ptr_array_index(a, a->len - 1);
}

static guint count_of(proto_tree *tree, int w)
{
    if (wanted_id[w] < 0)
        return 0;
    GPtrArray *a = proto_get_finfo_ptr_array(tree, wanted_id[w]);
    return a ? a->len : 0;
}

#define TP_TCP_SPAN 60 /* the largest TCP header */

static int in_header(const field_info *fi, const field_info *t)
{
    return fi->ds_tvb == t->ds_tvb && fi->start >= t->start && fi->start < t->start + TP_TCP_SPAN;
}

/* The last occurrence of field w inside the TCP header t; with a single TCP
 * layer in the frame, any occurrence (generated fields may sit elsewhere). */
static field_info *tcp_field(proto_tree *tree, int w, const field_info *t, int single)
{
    if (wanted_id[w] < 0)
        return NULL;
    GPtrArray *a = proto_get_finfo_ptr_array(tree, wanted_id[w]);
    if (!a || a->len == 0)
        return NULL;
    for (guint i = a->len; i-- > 0;) {
        field_info *fi = (field_info *)g_ptr_array_index(a, i);
        if (in_header(fi, t))
            return fi;
    }
    return single ? (field_info *)g_ptr_array_index(a, a->len - 1) : NULL;
}

static int fi_uint(const field_info *fi, guint32 *v)
{
    if (!fi)
        return 0;
    *v = fvalue_get_uinteger(TP_FI_FVALUE((field_info *)fi));
    return 1;
}

/* The bytes under a field, as on the wire (SACK edges and timestamps may be
 * shown relative). */
static int fi_raw32(const field_info *fi, guint32 *v)
{
    if (!fi || !fi->ds_tvb || fi->length < 4 || !tvb_bytes_exist(fi->ds_tvb, fi->start, 4))
        return 0;
    *v = tvb_get_ntohl(fi->ds_tvb, fi->start);
    return 1;
}

/* The innermost IP header before the TCP header t: same data source and the
 * largest offset before it; else the deepest layer before it; else the last. */
static const field_info *inner_ip(proto_tree *tree, const field_info *t, int *af)
{
    const field_info *best = NULL, *layer_best = NULL, *last = NULL;
    int best_af = 0, layer_af = 0, last_af = 0;
    for (int k = 0; k < 2; k++) {
        int w = k ? W_IP6_SRC : W_IP_SRC;
        if (wanted_id[w] < 0)
            continue;
        GPtrArray *a = proto_get_finfo_ptr_array(tree, wanted_id[w]);
        if (!a)
            continue;
        for (guint i = 0; i < a->len; i++) {
            const field_info *fi = (const field_info *)g_ptr_array_index(a, i);
            int this_af = k ? 6 : 4;
            if (fi->ds_tvb == t->ds_tvb && fi->start < t->start &&
                (!best || fi->start > best->start)) {
                best = fi;
                best_af = this_af;
            }
            if (fi->total_layer_num < t->total_layer_num &&
                (!layer_best || fi->total_layer_num >= layer_best->total_layer_num)) {
                layer_best = fi;
                layer_af = this_af;
            }
            if (!last || fi->total_layer_num >= last->total_layer_num) {
                last = fi;
                last_af = this_af;
            }
        }
    }
    if (best) {
        *af = best_af;
        return best;
    }
    if (layer_best) {
        *af = layer_af;
        return layer_best;
    }
    *af = last_af;
    return last;
}

static int collect_segment(proto_tree *tree, packet_info *pinfo, tcps_segment *g)
{
    if (!tree)
        return -1;
    if (count_of(tree, W_ICMP) || count_of(tree, W_ICMP6))
        return -1; /* a TCP header quoted in an ICMP error is not a segment */
    field_info *t = last_of(tree, W_TCP);
    if (!t || !t->ds_tvb)
        return -1;
    int single = count_of(tree, W_TCP) == 1;
    guint32 sport, dport, seq, flags, v;
    if (!fi_uint(tcp_field(tree, W_SRCPORT, t, single), &sport) ||
        !fi_uint(tcp_field(tree, W_DSTPORT, t, single), &dport) ||
        !fi_uint(tcp_field(tree, W_SEQ, t, single), &seq) ||
        !fi_uint(tcp_field(tree, W_FLAGS, t, single), &flags))
        return -1;
    int af = 0;
    const field_info *ip = inner_ip(tree, t, &af);
    if (!ip || !ip->ds_tvb)
        return -1;
    int alen = af == 6 ? 16 : 4;
    /* the destination address follows the source in both IPv4 and IPv6 */
    if (!tvb_bytes_exist(ip->ds_tvb, ip->start, 2 * alen))
        return -1;
    memset(g, 0, sizeof *g);
    g->af = (uint8_t)af;
    tvb_memcpy(ip->ds_tvb, g->src, ip->start, alen);
    tvb_memcpy(ip->ds_tvb, g->dst, ip->start + alen, alen);
    g->sport = (uint16_t)sport;
    g->dport = (uint16_t)dport;
    g->seq = seq;
    g->flags = (uint8_t)(flags & 0xff);
    if (fi_uint(tcp_field(tree, W_ACK, t, single), &v))
        g->ack = v;
    if (fi_uint(tcp_field(tree, W_LEN, t, single), &v))
        g->len = v;
    if (fi_uint(tcp_field(tree, W_WIN, t, single), &v))
        g->window = (uint16_t)v;
    gint64 secs = (gint64)pinfo->abs_ts.secs;
    g->ts_ns = secs < 0 ? 0 : (uint64_t)secs * 1000000000ull + (uint64_t)pinfo->abs_ts.nsecs;

    /* options: only those inside this TCP header */
    GPtrArray *kinds = wanted_id[W_OPTKIND] >= 0 ? proto_get_finfo_ptr_array(tree, wanted_id[W_OPTKIND]) : NULL;
    for (guint i = 0; kinds && i < kinds->len; i++) {
        field_info *fi = (field_info *)g_ptr_array_index(kinds, i);
        guint32 k;
        if (in_header(fi, t) && fi_uint(fi, &k) && k == 4)
            g->opt.present |= TCPS_OPT_SACK_PERM;
    }
    field_info *fi = tcp_field(tree, W_MSS, t, 0);
    if (fi_uint(fi, &v)) {
        g->opt.present |= TCPS_OPT_MSS;
        g->opt.mss = (uint16_t)v;
    }
    fi = tcp_field(tree, W_WS, t, 0);
    if (fi_uint(fi, &v)) {
        g->opt.present |= TCPS_OPT_WSCALE;
        g->opt.wscale = (uint8_t)v;
    }
    guint32 tsval, tsecr;
    if (fi_raw32(tcp_field(tree, W_TSVAL, t, 0), &tsval) &&
        fi_raw32(tcp_field(tree, W_TSECR, t, 0), &tsecr)) {
        g->opt.present |= TCPS_OPT_TS;
        g->opt.tsval = tsval;
        g->opt.tsecr = tsecr;
    }
    GPtrArray *le = wanted_id[W_SACK_LE] >= 0 ? proto_get_finfo_ptr_array(tree, wanted_id[W_SACK_LE]) : NULL;
    GPtrArray *re = wanted_id[W_SACK_RE] >= 0 ? proto_get_finfo_ptr_array(tree, wanted_id[W_SACK_RE]) : NULL;
    if (le && re) {
        guint j = 0;
        for (guint i = 0; i < le->len && g->opt.nsack < 4; i++) {
            field_info *l = (field_info *)g_ptr_array_index(le, i);
            if (!in_header(l, t))
                continue;
            /* the right edge that follows this left edge */
            field_info *r = NULL;
            for (; j < re->len; j++) {
                field_info *c = (field_info *)g_ptr_array_index(re, j);
                if (c->ds_tvb == l->ds_tvb && c->start == l->start + 4) {
                    r = c;
                    j++;
                    break;
                }
            }
            guint32 lv, rv;
            if (r && fi_raw32(l, &lv) && fi_raw32(r, &rv)) {
                g->opt.sack[g->opt.nsack][0] = lv;
                g->opt.sack[g->opt.nsack][1] = rv;
                g->opt.nsack++;
            }
        }
        if (g->opt.nsack)
            g->opt.present |= TCPS_OPT_SACK;
    }
    return 0;
}

/* ---- first pass: feed ------------------------------------------------------- */
static tp_rec *rec_of(packet_info *pinfo)
{
    tp_frame_ref *ref = (tp_frame_ref *)p_get_proto_data(wmem_file_scope(), pinfo, tp_proto, 0);
    if (!ref || !S || ref->gen != S->gen || ref->idx >= S->n)
        return NULL;
    tp_rec *rec = &S->recs[ref->idx];
    return rec->frame == pinfo->num ? rec : NULL;
}

static int grow(tp_state *st)
{
    if (st->n < st->cap)
        return 0;
    size_t nc = st->cap ? st->cap * 2 : 1024;
    tp_rec *nr = (tp_rec *)g_try_realloc(st->recs, nc * sizeof *nr);
    if (!nr)
        return -1;
    st->recs = nr;
    if (st->two_pass) {
        tcps_segment *ns = (tcps_segment *)g_try_realloc(st->segs, nc * sizeof *ns);
        if (!ns)
            return -1;
        st->segs = ns;
    }
    st->cap = nc;
    return 0;
}

/* The running summary of the segment's connection after this answer, as
 * the streaming engine has it (constant time for the connection just fed). */
static const tcps_flow_summary *live_update(tp_state *st, const tcps_result *r)
{
    gpointer key = GUINT_TO_POINTER(r->flow_id);
    tcps_flow_summary *ls = (tcps_flow_summary *)g_hash_table_lookup(st->flows_live, key);
    if (!ls) {
        ls = g_new0(tcps_flow_summary, 1);
        g_hash_table_insert(st->flows_live, key, ls);
    }
    if (tcps_engine_flow_summary(st->E, r->flow_id, ls) != 0) {
        g_hash_table_remove(st->flows_live, key);
        return NULL;
    }
    return ls;
}

static wtap_block_t block_of(packet_info *pinfo)
{
    if (pinfo->fd && pinfo->fd->has_modified_block)
        return epan_get_modified_block(pinfo->epan, pinfo->fd);
    return pinfo->rec ? pinfo->rec->block : NULL;
}

static void use_lab_profile(tp_state *st, const tcps_lab_line *l)
{
    tcps_config cfg;
    char text[sizeof st->config_text];
    build_config(&cfg, text, sizeof text, l);
    tcps_config keep = st->cfg;
    st->cfg = cfg;
    tcps_engine *E = stream_engine(st);
    if (!E) {
        st->cfg = keep;
        return;
    }
    tcps_engine_free(st->E);
    st->E = E;
    memcpy(st->config_text, text, sizeof text);
}

/* A tcpstate-lab capture names its experiment in the section comment and
 * again in the first packet's comment (dissectors do not see the section
 * comment in Wireshark 4.0); every later packet shows it too. */
static void note_experiment(tp_state *st, packet_info *pinfo)
{
    wtap_block_t block = block_of(pinfo);
    char *str;
    if (!block || wtap_block_get_nth_string_option_value(block, OPT_COMMENT, 0, &str) !=
                      WTAP_OPTTYPE_SUCCESS || !str)
        return;
    static const char key[] = "tcpstate-lab/1 experiment ";
    for (const char *p = str; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > sizeof key - 1 && memcmp(p, key, sizeof key - 1) == 0) {
            tcps_lab_line *l = g_new(tcps_lab_line, 1);
            if (tcps_lab_parse(p, len, l) == 0 && tcps_lab_get(l, "name")) {
                st->experiment = g_strdup(tcps_lab_get(l, "name"));
                if (tcps_lab_get(l, "desc"))
                    st->experiment_desc = g_strdup(tcps_lab_get(l, "desc"));
                /* before the first segment: the engine takes the stack
                 * values the capture was made with */
                if (st->n == 0 && pref_lab_profile)
                    use_lab_profile(st, l);
            }
            g_free(l);
            return;
        }
        p = nl ? nl + 1 : NULL;
    }
}

static tp_rec *feed(packet_info *pinfo, proto_tree *tree)
{
    tcps_segment g;
    if (collect_segment(tree, pinfo, &g) != 0)
        return NULL;
    if (!S->experiment)
        note_experiment(S, pinfo);
    if (grow(S) != 0)
        return NULL;
    tcps_result r;
    if (tcps_engine_feed(S->E, &g, &r) != 0)
        return NULL;
    size_t i = S->n++;
    tp_rec *rec = &S->recs[i];
    memset(rec, 0, sizeof *rec);
    rec->r = r;
    rec->frame = pinfo->num;
    rec->len = g.len;
    rec->flags = g.flags;
    rec->pass = 1;
    if (S->two_pass)
        S->segs[i] = g;
    const tcps_flow_summary *ls = live_update(S, &r);
    if (ls) {
        rec->have_snap = 1;
        rec->snap_conn_state = ls->conn_state;
        memcpy(rec->snap_history, ls->history, sizeof rec->snap_history);
    }
    tp_frame_ref *ref = wmem_new(wmem_file_scope(), tp_frame_ref);
    ref->gen = S->gen;
    ref->idx = (uint32_t)i;
    p_remove_proto_data(wmem_file_scope(), pinfo, tp_proto, 0);
    p_add_proto_data(wmem_file_scope(), pinfo, tp_proto, 0, ref);
    return rec;
}

/* The connection summary for a packet.  Two-pass answers: the final one.
 * One-pass answers: on their first pass, the running summary (what is known
 * at this packet); later, for the tree, the snapshot kept with the packet
 * (conn_state and history at this packet), for the statistics (full=1) the
 * latest summary (the one-pass end summary if the connection ended). */
static const tcps_flow_summary *flow_of(const tp_rec *rec, int first_pass, int full,
                                        tcps_flow_summary *tmp, int *final)
{
    *final = 0;
    if (!S)
        return NULL;
    gpointer key = GUINT_TO_POINTER(rec->r.flow_id);
    if (rec->pass == 2) {
        const tcps_flow_summary *s = (const tcps_flow_summary *)g_hash_table_lookup(S->flows_final, key);
        if (s) {
            *final = 1;
            return s;
        }
    }
    const tcps_flow_summary *latest = (const tcps_flow_summary *)g_hash_table_lookup(S->flows_live, key);
    if (!latest)
        latest = (const tcps_flow_summary *)g_hash_table_lookup(S->flows_ended, key);
    if (first_pass || full || !rec->have_snap)
        return latest;
    if (latest)
        *tmp = *latest;
    else
        memset(tmp, 0, sizeof *tmp);
    tmp->flow_id = rec->r.flow_id;
    tmp->conn_index = rec->r.conn_index;
    tmp->roles_guessed = rec->r.roles_guessed;
    tmp->conn_state = rec->snap_conn_state;
    memcpy(tmp->history, rec->snap_history, sizeof tmp->history);
    tmp->close_kind = rec->r.close_kind;
    tmp->final_state[0] = rec->r.state[0];
    tmp->final_state[1] = rec->r.state[1];
    return tmp;
}

/* ---- drawing ------------------------------------------------------------------ */
typedef struct draw_ctx {
    tvbuff_t *tvb;
    packet_info *pinfo;
} draw_ctx;

static proto_item *gen(proto_item *it)
{
    if (it)
        proto_item_set_generated(it);
    return it;
}

static proto_item *add_str(draw_ctx *d, proto_tree *t, int hf, const char *s)
{
    return gen(proto_tree_add_string(t, hf, d->tvb, 0, 0, s));
}

static proto_item *add_uint(draw_ctx *d, proto_tree *t, int hf, guint32 v)
{
    return gen(proto_tree_add_uint(t, hf, d->tvb, 0, 0, v));
}

/* Seconds, as a relative time (shown "0.208000000 seconds"; the label is
 * only built when it is shown). */
static proto_item *add_secs(draw_ctx *d, proto_tree *t, int hf, uint64_t ns)
{
    nstime_t v;
    v.secs = (time_t)(ns / 1000000000ull);
    v.nsecs = (int)(ns % 1000000000ull);
    return gen(proto_tree_add_time(t, hf, d->tvb, 0, 0, &v));
}

static proto_item *add_bool(draw_ctx *d, proto_tree *t, int hf, gboolean v)
{
    return gen(proto_tree_add_boolean(t, hf, d->tvb, 0, 0, v));
}

static void valid_utf8(const char *in, gsize len, GString *out)
{
    if (g_utf8_validate(in, (gssize)len, NULL)) {
        g_string_append_len(out, in, (gssize)len);
    } else {
        gchar *ok = g_utf8_make_valid(in, (gssize)len);
        g_string_append(out, ok);
        g_free(ok);
    }
}

static int kernel_agrees(const char *kernel, unsigned ours)
{
    if (!kernel)
        return 1;
    if (strcmp(kernel, tcps_state_name(ours)) == 0)
        return 1;
    /* NONE: the connection's socket does not exist (yet, or any more) */
    return strcmp(kernel, "NONE") == 0 &&
           (ours == TCPS_ST_CLOSED || ours == TCPS_ST_LISTEN || ours == TCPS_ST_UNKNOWN);
}

/* One tcpstate-lab line. */
static void draw_lab_line(draw_ctx *d, proto_tree *t, const tcps_lab_line *l, const tp_rec *rec)
{
    if (strcmp(l->kind, "kernel") == 0) {
        const char *c = tcps_lab_get(l, "client"), *s = tcps_lab_get(l, "server");
        GString *b = g_string_new("");
        if (c) {
            proto_item *it = add_str(d, t, hf_kernel_client_state, c);
            const char *tm = tcps_lab_get(l, "client.timer");
            if (tm)
                add_str(d, t, hf_kernel_client_timer, tm);
            if (it && tcps_lab_get(l, "src"))
                proto_item_append_text(it, " (%s)", tcps_lab_get(l, "src"));
        }
        if (s) {
            proto_item *it = add_str(d, t, hf_kernel_server_state, s);
            const char *tm = tcps_lab_get(l, "server.timer");
            if (tm)
                add_str(d, t, hf_kernel_server_timer, tm);
            if (it && tcps_lab_get(l, "src"))
                proto_item_append_text(it, " (%s)", tcps_lab_get(l, "src"));
        }
        if (c || s) {
            int ac = kernel_agrees(c, rec->r.state[TCPS_CLIENT]);
            int as = kernel_agrees(s, rec->r.state[TCPS_SERVER]);
            proto_item *it = add_bool(d, t, hf_kernel_agree, ac && as);
            if (!ac)
                g_string_append_printf(b, "client: kernel %s, inferred %s", c,
                                       tcps_state_name(rec->r.state[TCPS_CLIENT]));
            if (!as)
                g_string_append_printf(b, "%sserver: kernel %s, inferred %s", b->len ? "; " : "",
                                       s, tcps_state_name(rec->r.state[TCPS_SERVER]));
            if (b->len)
                expert_add_info_format(d->pinfo, it, &ei_kernel_disagree,
                                       "kernel and tcpstate disagree: %s", b->str);
        }
        g_string_free(b, TRUE);
    } else if (strcmp(l->kind, "transition") == 0) {
        const char *side = tcps_lab_get(l, "side"), *from = tcps_lab_get(l, "from"),
                   *to = tcps_lab_get(l, "to");
        char buf[160];
        snprintf(buf, sizeof buf, "%s %s \xe2\x86\x92 %s", side ? side : "?", from ? from : "?",
                 to ? to : "?");
        add_str(d, t, hf_kernel_transition, buf);
    } else if (strcmp(l->kind, "event") == 0) {
        const char *side = tcps_lab_get(l, "side"), *what = tcps_lab_get(l, "what");
        char buf[320];
        snprintf(buf, sizeof buf, "%s%s%s", side ? side : "", side ? " " : "", what ? what : "");
        add_str(d, t, hf_lab_event, buf);
    } else if (strcmp(l->kind, "experiment") == 0) {
        const char *name = tcps_lab_get(l, "name"), *desc = tcps_lab_get(l, "desc");
        proto_item *it = add_str(d, t, hf_lab_experiment, name ? name : "");
        if (it && desc)
            proto_item_append_text(it, " (%s)", desc);
    } else if (strcmp(l->kind, "rule") == 0) {
        const char *action = tcps_lab_get(l, "action"), *text = tcps_lab_get(l, "text");
        char buf[320];
        snprintf(buf, sizeof buf, "%s%s%s", action ? action : "", action ? ": " : "",
                 text ? text : "");
        add_str(d, t, hf_lab_rule, buf);
    }
    /* unknown kinds are ignored (forward compatible) */
}

static void draw_comments(draw_ctx *d, proto_tree *tree, const tp_rec *rec)
{
    wtap_block_t block = block_of(d->pinfo);
    proto_tree *lt = NULL;
    int named = 0; /* this packet's comment names the experiment */
    tcps_lab_line *line = NULL;
    char *str;
    for (guint i = 0;
         block &&
         wtap_block_get_nth_string_option_value(block, OPT_COMMENT, i, &str) == WTAP_OPTTYPE_SUCCESS;
         i++) {
        if (!str)
            continue;
        if (!line)
            line = g_new(tcps_lab_line, 1);
        GString *other = g_string_new("");
        const char *p = str;
        int any_lab = 0;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            size_t l2 = len;
            if (l2 && p[l2 - 1] == '\r')
                l2--;
            /* a version this reader does not know is shown as plain text */
            if (tcps_lab_parse(p, l2, line) == 0 && line->version == TCPS_LAB_VERSION) {
                any_lab = 1;
                if (!lt) {
                    proto_item *it = NULL;
                    lt = proto_tree_add_subtree(tree, d->tvb, 0, 0, ett_lab, &it,
                                                "tcpstate-lab comments");
                    gen(it);
                }
                draw_lab_line(d, lt, line, rec);
                named |= strcmp(line->kind, "experiment") == 0;
            } else if (l2) {
                if (other->len)
                    g_string_append_c(other, '\n');
                valid_utf8(p, l2, other);
            }
            p += len;
            if (*p == '\n')
                p++;
        }
        if (!any_lab) {
            g_string_truncate(other, 0);
            valid_utf8(str, strlen(str), other);
        }
        if (other->len)
            add_str(d, tree, hf_comment, other->str);
        g_string_free(other, TRUE);
    }
    g_free(line);
    if (!named && S && S->experiment) {
        if (!lt) {
            proto_item *it = NULL;
            lt = proto_tree_add_subtree(tree, d->tvb, 0, 0, ett_lab, &it, "tcpstate-lab comments");
            gen(it);
        }
        proto_item *it = add_str(d, lt, hf_lab_experiment, S->experiment);
        if (it && S->experiment_desc)
            proto_item_append_text(it, " (%s)", S->experiment_desc);
    }
}

typedef struct tp_endpoints {
    uint16_t port[2];
    char s[2][64];
} tp_endpoints;

/* "addr:port" of both ends of a connection, formatted once. */
static const tp_endpoints *endpoints_of(const tcps_flow_summary *fs)
{
    if (fs->af != 4 && fs->af != 6)
        return NULL;
    tp_endpoints *e = S && S->endpoints
                          ? (tp_endpoints *)g_hash_table_lookup(S->endpoints,
                                                                GUINT_TO_POINTER(fs->flow_id))
                          : NULL;
    if (e && e->port[0] == fs->port[0] && e->port[1] == fs->port[1])
        return e;
    if (!e) {
        if (!S || !S->endpoints)
            return NULL;
        e = g_new(tp_endpoints, 1);
        g_hash_table_insert(S->endpoints, GUINT_TO_POINTER(fs->flow_id), e);
    }
    for (int i = 0; i < 2; i++) {
        e->port[i] = fs->port[i];
        tp_endpoint_str(fs->af, fs->addr[i], fs->port[i], e->s[i], sizeof e->s[i]);
    }
    return e;
}

static void draw(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const tp_rec *rec,
                 const tcps_flow_summary *fs, int fs_final)
{
    const tcps_result *r = &rec->r;
    const char *cs = tcps_state_name(r->state[TCPS_CLIENT]);
    const char *ss = tcps_state_name(r->state[TCPS_SERVER]);
    if (pref_info_tag)
        col_append_fstr(pinfo->cinfo, COL_INFO, " [C:%s S:%s]", cs, ss);
    if (!tree)
        return;
    draw_ctx dc = {tvb, pinfo}, *d = &dc;
    char buf[512];

    proto_item *top = gen(proto_tree_add_item(tree, tp_proto, tvb, 0, 0, ENC_NA));
    proto_item_append_text(top, ": client %s, server %s (%s)", cs, ss,
                           rec->pass == 2 ? "two-pass, final" : "one-pass");
    proto_tree *t = proto_item_add_subtree(top, ett_tcpstate);

    proto_item *it = add_str(d, t, hf_client_state, cs);
    if (r->reason[TCPS_CLIENT])
        proto_item_append_text(it, " (%s)", tcps_reason_text(r->reason[TCPS_CLIENT]));
    it = add_str(d, t, hf_server_state, ss);
    if (r->reason[TCPS_SERVER])
        proto_item_append_text(it, " (%s)", tcps_reason_text(r->reason[TCPS_SERVER]));
    add_str(d, t, hf_from, tp_side_name(r->from));
    add_str(d, t, hf_phase, tcps_phase_name(r->phase));
    if (tcps_transition_text(r, buf, sizeof buf))
        add_str(d, t, hf_transition, buf);
    for (unsigned s = 0; s < 2; s++)
        if (r->reason[s])
            add_str(d, t, s ? hf_server_reason : hf_client_reason, tcps_reason_text(r->reason[s]));
    add_secs(d, t, hf_client_tis, r->time_in_state_ns[TCPS_CLIENT]);
    add_secs(d, t, hf_server_tis, r->time_in_state_ns[TCPS_SERVER]);
    add_uint(d, t, hf_pass, rec->pass);
    if (rec->pass == 2 && r->revised) {
        it = add_bool(d, t, hf_revised, TRUE);
        expert_add_info(pinfo, it, &ei_revised);
    }
    if (rec->pass == 1 && r->provisional)
        add_bool(d, t, hf_provisional, TRUE);
    if (!r->delivered) {
        it = add_bool(d, t, hf_not_received, TRUE);
        if (!(r->events & (1u << TCPS_EV_NOT_RECEIVED)))
            expert_add_info_format(pinfo, it, &ei_not_received, "%s did not receive this segment",
                                   tp_side_name(!r->from));
    }
    if (r->port_reuse)
        add_bool(d, t, hf_port_reuse, TRUE);
    if (r->roles_guessed)
        add_bool(d, t, hf_roles_guessed, TRUE);

    if (r->half_closed) {
        unsigned side = (unsigned)(r->half_closed - 1);
        it = add_str(d, t, hf_half_closed, tp_side_name(side));
        proto_item_append_text(it, " (shut down its sending side: its FIN was sent; the %s, "
                                   "in CLOSE_WAIT, can still send)",
                               tp_side_name(!side));
    }
    for (unsigned s = 0; s < 2; s++)
        if (r->orphan[s] == TCPS_ORPHAN_YES) {
            it = add_str(d, t, hf_orphan, tp_side_name(s));
            proto_item_append_text(it, " (socket closed by its application: %s)",
                                   tcps_orphan_ev_text(r->orphan_ev[s]));
            proto_tree *ot = proto_item_add_subtree(it, ett_orphan);
            add_str(d, ot, hf_orphan_evidence, tcps_orphan_ev_text(r->orphan_ev[s]));
        }

    if (r->rtx_kind) {
        it = add_str(d, t, hf_rtx_kind, tcps_rtx_kind_name(r->rtx_kind));
        proto_item_append_text(it, " retransmission %u", r->rtx_index);
        proto_tree *rt = proto_item_add_subtree(it, ett_rtx);
        add_uint(d, rt, hf_rtx_index, r->rtx_index);
        add_secs(d, rt, hf_rtx_gap, r->rtx_gap_ns);
        if (r->rtx_sched)
            add_str(d, rt, hf_rtx_sched, tcps_sched_name(r->rtx_sched));
        if (r->rtx_budget)
            add_uint(d, rt, hf_rtx_budget, r->rtx_budget);
        if (r->rtx_budget_ns)
            add_secs(d, rt, hf_rtx_budget_time, r->rtx_budget_ns);
        if (r->rtx_backoff)
            add_uint(d, rt, hf_rtx_backoff, r->rtx_backoff);
    }
    if (r->ka_index) {
        it = add_uint(d, t, hf_ka_index, r->ka_index);
        proto_tree *kt = proto_item_add_subtree(it, ett_probe);
        add_secs(d, kt, hf_ka_idle, r->ka_idle_ns);
    }
    if (r->ka_ack)
        add_uint(d, t, hf_ka_ack, r->ka_ack);
    if (r->zwp_index)
        add_uint(d, t, hf_zwp, r->zwp_index);
    if (r->rst_cause) {
        add_str(d, t, hf_rst_cause, tcps_rst_cause_text(r->rst_cause));
        add_str(d, t, hf_rst_cause_id, tcps_rst_cause_id(r->rst_cause));
    }

    /* events -> expert infos */
    if (r->events) {
        for (unsigned ev = 0; ev < TCPS_EV_COUNT; ev++) {
            if (!(r->events & (1u << ev)))
                continue;
            tcps_event_message(S ? S->E : NULL, ev, r, buf, sizeof buf);
            it = gen(proto_tree_add_string_format_value(t, hf_event, tvb, 0, 0,
                                                        tcps_event_id_name(ev), "%s", buf));
            expert_add_info_format(pinfo, it, &ei_event[ev], "%s", buf);
        }
    }

    /* connection */
    it = add_uint(d, t, hf_flow_id, r->flow_id);
    proto_tree *ft = proto_item_add_subtree(it, ett_flow);
    add_uint(d, ft, hf_flow_conn_index, r->conn_index);
    if (fs) {
        const tp_endpoints *eps = endpoints_of(fs);
        if (eps) {
            add_str(d, ft, hf_flow_client, eps->s[TCPS_CLIENT]);
            add_str(d, ft, hf_flow_server, eps->s[TCPS_SERVER]);
        }
        add_str(d, ft, hf_flow_conn_state, tcps_conn_state_name(fs->conn_state));
        add_str(d, ft, hf_flow_history, fs->history);
        add_str(d, ft, hf_flow_close, tcps_close_id(fs->close_kind));
        add_str(d, ft, hf_flow_client_final, tcps_state_name(fs->final_state[TCPS_CLIENT]));
        add_str(d, ft, hf_flow_server_final, tcps_state_name(fs->final_state[TCPS_SERVER]));
        add_bool(d, ft, hf_flow_final, fs_final ? TRUE : FALSE);
    } else {
        add_str(d, ft, hf_flow_close, tcps_close_id(r->close_kind));
    }
    if (S)
        add_str(d, t, hf_config, S->config_text);

    draw_comments(d, t, rec);
}

/* ---- the postdissector -------------------------------------------------------- */
static int dissect_tcpstate(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    if (!S) {
        S = state_new();
        if (!S)
            return 0;
    }
    tp_rec *rec = NULL;
    if (!PINFO_FD_VISITED(pinfo)) {
        /* A new first pass (another file, a redissection after a
         * preference change) comes with a new epan session, whose creation
         * runs the init routine.  Frame numbers are not unique within a
         * first pass: `tshark -2 -R` numbers the frame after a dropped one
         * like the dropped one. */
        uint64_t ts = pinfo->abs_ts.secs < 0 ? 0
                      : (uint64_t)pinfo->abs_ts.secs * 1000000000ull + (uint64_t)pinfo->abs_ts.nsecs;
        if (ts > S->max_ts)
            S->max_ts = ts;
        rec = rec_of(pinfo);
        if (!rec)
            rec = feed(pinfo, tree);
        if (!rec)
            return 0;
    } else {
        maybe_rerun(S);
        rec = rec_of(pinfo);
        if (!rec)
            return 0;
    }

    int first_pass = !PINFO_FD_VISITED(pinfo);
    tcps_flow_summary tmp;
    int fs_final = 0;
    const tcps_flow_summary *fs = flow_of(rec, first_pass, 0, &tmp, &fs_final);
    draw(tvb, pinfo, tree, rec, fs, fs_final);

    if (have_tap_listener(tp_tap)) {
        tp_tap_info *ti = wmem_new0(pinfo->pool, tp_tap_info);
        tp_rec *rc = wmem_new(pinfo->pool, tp_rec);
        *rc = *rec;
        ti->rec = rc;
        int tf_final = 0;
        const tcps_flow_summary *tf = flow_of(rec, first_pass, 1, &tmp, &tf_final);
        if (tf) {
            tcps_flow_summary *c = wmem_new(pinfo->pool, tcps_flow_summary);
            *c = *tf;
            ti->flow = c;
            ti->flow_final = tf_final;
        }
        tap_queue_packet(tp_tap, pinfo, ti);
    }
    return tvb_captured_length(tvb);
}

/* ---- registration ----------------------------------------------------------- */
static char *lower_dup(const char *s)
{
    char *d = g_ascii_strdown(s, -1);
    return d;
}

void proto_register_tcpstate(void);
void proto_reg_handoff_tcpstate(void);

static const value_string pass_vals[] = {
    {1, "one pass (streaming, provisional)"},
    {2, "two passes (final)"},
    {0, NULL}};

static const true_false_string tfs_final = {"yes (end of the connection, after two passes)",
                                            "no (what is known so far)"};

void proto_register_tcpstate(void)
{
    static hf_register_info hf[] = {
        {&hf_client_state, {"Client state", "tcpstate.client.state", FT_STRING, BASE_NONE, NULL, 0x0,
                            "The client socket's state after this packet", HFILL}},
        {&hf_server_state, {"Server state", "tcpstate.server.state", FT_STRING, BASE_NONE, NULL, 0x0,
                            "The server socket's state after this packet", HFILL}},
        {&hf_from, {"Sent by", "tcpstate.from", FT_STRING, BASE_NONE, NULL, 0x0,
                    "client or server (the client sent the first SYN)", HFILL}},
        {&hf_phase, {"Phase", "tcpstate.phase", FT_STRING, BASE_NONE, NULL, 0x0,
                     "handshake, established, half-closed, closing, time-wait, closed, reset, unknown", HFILL}},
        {&hf_transition, {"Transition", "tcpstate.transition", FT_STRING, BASE_NONE, NULL, 0x0,
                          "State changes this packet caused", HFILL}},
        {&hf_client_reason, {"Client change reason", "tcpstate.client.reason", FT_STRING, BASE_NONE, NULL, 0x0,
                             "Why the client's state changed", HFILL}},
        {&hf_server_reason, {"Server change reason", "tcpstate.server.reason", FT_STRING, BASE_NONE, NULL, 0x0,
                             "Why the server's state changed", HFILL}},
        {&hf_client_tis, {"Client time in state", "tcpstate.client.time_in_state", FT_RELATIVE_TIME, BASE_NONE, NULL, 0x0,
                          "Seconds the client has been in its state", HFILL}},
        {&hf_server_tis, {"Server time in state", "tcpstate.server.time_in_state", FT_RELATIVE_TIME, BASE_NONE, NULL, 0x0,
                          "Seconds the server has been in its state", HFILL}},
        {&hf_half_closed, {"Half-closed", "tcpstate.half_closed", FT_STRING, BASE_NONE, NULL, 0x0,
                           "The side that shut down its sending half", HFILL}},
        {&hf_orphan, {"Orphan socket", "tcpstate.orphan", FT_STRING, BASE_NONE, NULL, 0x0,
                      "The side whose application closed its socket while the connection went on", HFILL}},
        {&hf_orphan_evidence, {"Evidence", "tcpstate.orphan.evidence", FT_STRING, BASE_NONE, NULL, 0x0,
                               "What shows the socket is an orphan", HFILL}},
        {&hf_rtx_kind, {"Retransmission", "tcpstate.retrans.kind", FT_STRING, BASE_NONE, NULL, 0x0,
                        "SYN, SYN-ACK, FIN, data or RST", HFILL}},
        {&hf_rtx_index, {"Index", "tcpstate.retrans.index", FT_UINT16, BASE_DEC, NULL, 0x0,
                         "1 = first retransmission", HFILL}},
        {&hf_rtx_gap, {"Gap", "tcpstate.retrans.gap", FT_RELATIVE_TIME, BASE_NONE, NULL, 0x0,
                       "Seconds since the previous transmission", HFILL}},
        {&hf_rtx_sched, {"Schedule", "tcpstate.retrans.schedule", FT_STRING, BASE_NONE, NULL, 0x0,
                         "How the retransmission was scheduled", HFILL}},
        {&hf_rtx_budget, {"Budget", "tcpstate.retrans.budget", FT_UINT16, BASE_DEC, NULL, 0x0,
                          "Retransmissions the stack profile allows", HFILL}},
        {&hf_rtx_budget_time, {"Time budget", "tcpstate.retrans.budget_time", FT_RELATIVE_TIME, BASE_NONE, NULL, 0x0,
                               "Seconds the stack keeps retrying", HFILL}},
        {&hf_rtx_backoff, {"Backoff", "tcpstate.retrans.backoff", FT_UINT16, BASE_DEC, NULL, 0x0,
                           "Exponent of the RTO doubling", HFILL}},
        {&hf_ka_index, {"Keepalive probe", "tcpstate.keepalive.index", FT_UINT16, BASE_DEC, NULL, 0x0,
                        "Keepalive probe number since the peer last spoke", HFILL}},
        {&hf_ka_idle, {"Idle before probe", "tcpstate.keepalive.idle", FT_RELATIVE_TIME, BASE_NONE, NULL, 0x0,
                       "Seconds idle before this keepalive probe", HFILL}},
        {&hf_ka_ack, {"Answers keepalive probe", "tcpstate.keepalive.ack", FT_UINT16, BASE_DEC, NULL, 0x0,
                      "This packet answers keepalive probe N", HFILL}},
        {&hf_zwp, {"Zero-window probe", "tcpstate.zero_window_probe", FT_UINT16, BASE_DEC, NULL, 0x0,
                   "Zero-window probe number", HFILL}},
        {&hf_rst_cause, {"RST cause", "tcpstate.rst.cause", FT_STRING, BASE_NONE, NULL, 0x0,
                         "Why this RST was sent", HFILL}},
        {&hf_rst_cause_id, {"RST cause id", "tcpstate.rst.cause_id", FT_STRING, BASE_NONE, NULL, 0x0,
                            "REFUSED, UNREAD_DATA, ... (for scripts)", HFILL}},
        {&hf_flow_id, {"Connection", "tcpstate.flow.id", FT_UINT32, BASE_DEC, NULL, 0x0,
                       "Connection id (a reused 4-tuple gets a new one)", HFILL}},
        {&hf_flow_conn_index, {"Connection on 4-tuple", "tcpstate.flow.conn_index", FT_UINT16, BASE_DEC, NULL, 0x0,
                               "1.. : connection number on this 4-tuple", HFILL}},
        {&hf_flow_client, {"Client", "tcpstate.flow.client", FT_STRING, BASE_NONE, NULL, 0x0,
                           "Client address and port", HFILL}},
        {&hf_flow_server, {"Server", "tcpstate.flow.server", FT_STRING, BASE_NONE, NULL, 0x0,
                           "Server address and port", HFILL}},
        {&hf_flow_conn_state, {"Conn state", "tcpstate.flow.conn_state", FT_STRING, BASE_NONE, NULL, 0x0,
                               "Zeek conn_state", HFILL}},
        {&hf_flow_history, {"History", "tcpstate.flow.history", FT_STRING, BASE_NONE, NULL, 0x0,
                            "Zeek history", HFILL}},
        {&hf_flow_close, {"Close", "tcpstate.flow.close", FT_STRING, BASE_NONE, NULL, 0x0,
                          "THREE_WAY, FOUR_WAY, SIMULTANEOUS, ABORT, TIMEOUT, REFUSED, UNFINISHED", HFILL}},
        {&hf_flow_client_final, {"Client final state", "tcpstate.flow.client.final", FT_STRING, BASE_NONE, NULL, 0x0,
                                 NULL, HFILL}},
        {&hf_flow_server_final, {"Server final state", "tcpstate.flow.server.final", FT_STRING, BASE_NONE, NULL, 0x0,
                                 NULL, HFILL}},
        {&hf_flow_final, {"Summary is final", "tcpstate.flow.final", FT_BOOLEAN, BASE_NONE, TFS(&tfs_final), 0x0,
                          "True: end-of-connection summary after two passes", HFILL}},
        {&hf_kernel_client_state, {"Kernel client state", "tcpstate.kernel.client.state", FT_STRING, BASE_NONE, NULL, 0x0,
                                   "The client socket's state as the kernel reported it (tcpstate-lab)", HFILL}},
        {&hf_kernel_server_state, {"Kernel server state", "tcpstate.kernel.server.state", FT_STRING, BASE_NONE, NULL, 0x0,
                                   "The server socket's state as the kernel reported it (tcpstate-lab)", HFILL}},
        {&hf_kernel_client_timer, {"Kernel client timer", "tcpstate.kernel.client.timer", FT_STRING, BASE_NONE, NULL, 0x0,
                                   NULL, HFILL}},
        {&hf_kernel_server_timer, {"Kernel server timer", "tcpstate.kernel.server.timer", FT_STRING, BASE_NONE, NULL, 0x0,
                                   NULL, HFILL}},
        {&hf_kernel_agree, {"Kernel agrees", "tcpstate.kernel.agree", FT_BOOLEAN, BASE_NONE, NULL, 0x0,
                            "The kernel's states match the inferred ones", HFILL}},
        {&hf_kernel_transition, {"Kernel transition", "tcpstate.kernel.transition", FT_STRING, BASE_NONE, NULL, 0x0,
                                 NULL, HFILL}},
        {&hf_lab_experiment, {"Experiment", "tcpstate.lab.experiment", FT_STRING, BASE_NONE, NULL, 0x0,
                              NULL, HFILL}},
        {&hf_lab_event, {"Lab event", "tcpstate.lab.event", FT_STRING, BASE_NONE, NULL, 0x0,
                         "What the experiment did (close(), shutdown(SHUT_WR), ...)", HFILL}},
        {&hf_lab_rule, {"Lab rule", "tcpstate.lab.rule", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
        {&hf_comment, {"Comment", "tcpstate.comment", FT_STRING, BASE_NONE, NULL, 0x0,
                       "A packet comment that is not a tcpstate-lab line", HFILL}},
        {&hf_revised, {"Revised by the second pass", "tcpstate.revised", FT_BOOLEAN, BASE_NONE, NULL, 0x0,
                       "The two-pass answer differs from the one-pass one", HFILL}},
        {&hf_provisional, {"Provisional", "tcpstate.provisional", FT_BOOLEAN, BASE_NONE, NULL, 0x0,
                           "One-pass answer that a later packet may change", HFILL}},
        {&hf_pass, {"Answer from", "tcpstate.pass", FT_UINT8, BASE_DEC, VALS(pass_vals), 0x0,
                    "1: one pass (streaming), 2: two passes (final)", HFILL}},
        {&hf_not_received, {"Not received", "tcpstate.not_received", FT_BOOLEAN, BASE_NONE, NULL, 0x0,
                            "The receiver did not get this segment", HFILL}},
        {&hf_port_reuse, {"Reused 4-tuple", "tcpstate.port_reuse", FT_BOOLEAN, BASE_NONE, NULL, 0x0,
                          "First packet of a connection on a reused 4-tuple", HFILL}},
        {&hf_roles_guessed, {"Roles guessed", "tcpstate.roles_guessed", FT_BOOLEAN, BASE_NONE, NULL, 0x0,
                             "No SYN seen: client and server are a guess", HFILL}},
        {&hf_event, {"Event", "tcpstate.event", FT_STRING, BASE_NONE, NULL, 0x0,
                     "Engine event id (SYN_RETRANS, RST, ...)", HFILL}},
        {&hf_config, {"Configuration", "tcpstate.config", FT_STRING, BASE_NONE, NULL, 0x0,
                      "Stack profile and overrides in use", HFILL}},
    };
    static gint *ett[] = {&ett_tcpstate, &ett_side, &ett_rtx, &ett_probe,
                          &ett_flow, &ett_lab, &ett_orphan, &ett_events};

    tp_proto = proto_register_protocol("TCP Endpoint States", "TCPSTATE", "tcpstate");
    proto_register_field_array(tp_proto, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));

    /* one expert field per engine event, from the vocabulary */
    static ei_register_info ei[TCPS_EV_COUNT + 3];
    memset(ei, 0, sizeof ei);
    for (unsigned ev = 0; ev < TCPS_EV_COUNT; ev++) {
        int sev;
        switch (tcps_event_severity(ev)) {
        case TCPS_SEV_CHAT: sev = PI_CHAT; break;
        case TCPS_SEV_NOTE: sev = PI_NOTE; break;
        case TCPS_SEV_ERROR: sev = PI_ERROR; break;
        default: sev = PI_WARN; break;
        }
        char *id = lower_dup(tcps_event_id_name(ev));
        ei_event[ev].ei = EI_INIT_EI;
        ei_event[ev].hf = EI_INIT_HF;
        ei[ev].ids = &ei_event[ev];
        ei[ev].eiinfo.name = g_strdup_printf("tcpstate.ev.%s", id);
        ei[ev].eiinfo.group = PI_SEQUENCE;
        ei[ev].eiinfo.severity = sev;
        ei[ev].eiinfo.summary = tcps_event_template(ev);
        g_free(id);
    }
    ei[TCPS_EV_COUNT].ids = &ei_not_received;
    ei[TCPS_EV_COUNT].eiinfo.name = "tcpstate.not_received.expert";
    ei[TCPS_EV_COUNT].eiinfo.group = PI_SEQUENCE;
    ei[TCPS_EV_COUNT].eiinfo.severity = PI_NOTE;
    ei[TCPS_EV_COUNT].eiinfo.summary = "The receiver did not get this segment";
    ei[TCPS_EV_COUNT + 1].ids = &ei_revised;
    ei[TCPS_EV_COUNT + 1].eiinfo.name = "tcpstate.revised.expert";
    ei[TCPS_EV_COUNT + 1].eiinfo.group = PI_SEQUENCE;
    ei[TCPS_EV_COUNT + 1].eiinfo.severity = PI_CHAT;
    ei[TCPS_EV_COUNT + 1].eiinfo.summary = "States revised by the second pass";
    ei[TCPS_EV_COUNT + 2].ids = &ei_kernel_disagree;
    ei[TCPS_EV_COUNT + 2].eiinfo.name = "tcpstate.kernel.disagree";
    ei[TCPS_EV_COUNT + 2].eiinfo.group = PI_COMMENTS_GROUP;
    ei[TCPS_EV_COUNT + 2].eiinfo.severity = PI_WARN;
    ei[TCPS_EV_COUNT + 2].eiinfo.summary = "Kernel and tcpstate disagree";
    expert_module_t *em = expert_register_protocol(tp_proto);
    expert_register_field_array(em, ei, array_length(ei));

    /* preferences */
    size_t np = tcps_profile_count();
    profile_enum = g_new0(enum_val_t, np + 1);
    for (size_t i = 0; i < np; i++) {
        const tcps_profile *p = tcps_profile_at(i);
        profile_enum[i].name = p->name;
        profile_enum[i].description = g_strdup_printf("%s: %s", p->name, p->description);
        profile_enum[i].value = (gint)i;
    }
    module_t *m = prefs_register_protocol(tp_proto, NULL);
    prefs_register_enum_preference(m, "profile", "Stack profile",
                                   "TCP stack whose timers and retry counts the engine assumes",
                                   &pref_profile, profile_enum, FALSE);
    GString *keys = g_string_new("");
    for (const char *const *k = tcps_profile_keys(); *k; k++)
        g_string_append_printf(keys, "%s%s", keys->len ? ", " : "", *k);
    prefs_register_string_preference(
        m, "overrides", "Profile overrides",
        g_strdup_printf("KEY=VALUE pairs separated by spaces or commas that change the "
                        "profile's values (a capture made with tcp_orphan_retries=1 needs "
                        "orphan_retries=1). Keys: %s",
                        keys->str),
        &pref_overrides);
    g_string_free(keys, TRUE);
    prefs_register_bool_preference(
        m, "two_pass", "Two-pass analysis",
        "Keep the segments and, once the first pass is over, run the engine again in its "
        "two-pass mode so that revisited packets (tshark -2, the GUI) show final answers. "
        "Off: every packet keeps its one-pass (streaming) answer.",
        &pref_two_pass);
    prefs_register_uint_preference(m, "close_wait_threshold", "CLOSE_WAIT warning (seconds)",
                                   "Warn when an endpoint stays in CLOSE_WAIT this long", 10,
                                   &pref_close_wait_s);
    prefs_register_bool_preference(m, "info_tag", "State tag in the Info column",
                                   "Append [C:client-state S:server-state] to the Info column",
                                   &pref_info_tag);
    prefs_register_bool_preference(
        m, "lab_profile", "Use a tcpstate-lab capture's stack values",
        "A capture written by tcpstate-lab records the kernel version and TCP sysctls it "
        "was made with (the experiments scale the timers down): use them, before the "
        "overrides above.",
        &pref_lab_profile);

    register_init_routine(tp_init);
    register_cleanup_routine(tp_cleanup);
    tp_tap = register_tap("tcpstate");
    tp_register_stats();
    tp_register_seq_analysis();
}

void proto_reg_handoff_tcpstate(void)
{
    dissector_handle_t h = create_dissector_handle(dissect_tcpstate, tp_proto);
    register_postdissector(h);
    GArray *want = g_array_new(FALSE, FALSE, (guint)sizeof(int));
    for (int w = 0; w < W_COUNT; w++) {
        wanted_id[w] = proto_registrar_get_id_byname(wanted_names[w]);
        if (wanted_id[w] > 0)
            g_array_append_val(want, wanted_id[w]);
        else
            wanted_id[w] = -1;
    }
    set_postdissector_wanted_hfids(h, want);
}
