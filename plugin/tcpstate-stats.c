/*
 * tcpstate-stats.c: Statistics tables (`-z tcpstate,flows`,
 * `-z tcpstate,states`, Statistics menu) and the flow graph
 * (`-z flow,tcpstate,network`, Statistics > Flow Graph).
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <epan/packet.h>
#include <epan/stat_tap_ui.h>
#include <epan/tap.h>

#include "tcpstate_priv.h"
#include "seq_compat.h"

static tap_param filter_params[] = {{PARAM_FILTER, "filter", "Filter", NULL, TRUE}};

/* ---- helpers for rows --------------------------------------------------------- */
static void set_uint(stat_tap_table *t, guint row, guint col, guint v)
{
    stat_tap_table_item_type *it = stat_tap_get_field_data(t, row, col);
    it->type = TABLE_ITEM_UINT;
    it->value.uint_value = v;
}

static void set_float(stat_tap_table *t, guint row, guint col, double v)
{
    stat_tap_table_item_type *it = stat_tap_get_field_data(t, row, col);
    it->type = TABLE_ITEM_FLOAT;
    it->value.float_value = v;
}

/* Strings we own are marked with user_data.uint_value = 1. */
static void set_str(stat_tap_table *t, guint row, guint col, const char *s)
{
    stat_tap_table_item_type *it = stat_tap_get_field_data(t, row, col);
    if (it->type == TABLE_ITEM_STRING && it->user_data.uint_value == 1) {
        if (it->value.string_value && strcmp(it->value.string_value, s) == 0)
            return;
        g_free((char *)it->value.string_value);
    }
    it->type = TABLE_ITEM_STRING;
    it->value.string_value = g_strdup(s);
    it->user_data.uint_value = 1;
}

static void free_item(stat_tap_table *table _U_, guint row _U_, guint column _U_,
                      stat_tap_table_item_type *field_data)
{
    if (field_data->type == TABLE_ITEM_STRING && field_data->user_data.uint_value == 1) {
        g_free((char *)field_data->value.string_value);
        field_data->value.string_value = NULL;
        field_data->user_data.uint_value = 0;
    }
}

/* Remove every row (the tables grow one row per connection). */
static void drop_rows(stat_tap_table *t)
{
    for (guint r = 0; r < t->num_elements; r++) {
        for (guint c = 0; c < t->num_fields; c++)
            free_item(t, r, c, &t->elements[r][c]);
        g_free(t->elements[r]);
    }
    g_free(t->elements);
    t->elements = NULL;
    t->num_elements = 0;
}

/* ---- tcpstate,flows ----------------------------------------------------------- */
enum {
    FC_ID, FC_CLIENT, FC_SERVER, FC_CONN_STATE, FC_HISTORY, FC_CLOSE, FC_CFINAL, FC_SFINAL,
    FC_DURATION, FC_PACKETS, FC_RETRANS, FC_KA, FC_ZW, FC_CTIMES, FC_STIMES, FC_SUMMARY,
    FC_COUNT
};
static stat_tap_table_item flows_fields[FC_COUNT] = {
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Conn", "%u"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Client", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Server", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Conn state", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "History", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Close", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Client final", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Server final", "%s"},
    {TABLE_ITEM_FLOAT, TAP_ALIGN_RIGHT, "Duration (s)", "%.6f"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Packets", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Retrans", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "KA probes", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "ZW probes", "%u"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Client time in states (s)", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Server time in states (s)", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Summary", "%s"},
};
#define FLOWS_TABLE "TCP connections"
static GHashTable *flow_rows; /* flow id -> row + 1 */

static void flows_reset(stat_tap_table *t)
{
    drop_rows(t);
    if (flow_rows)
        g_hash_table_remove_all(flow_rows);
}

static void flows_init(stat_tap_table_ui *ui)
{
    if (!flow_rows)
        flow_rows = g_hash_table_new(g_direct_hash, g_direct_equal);
    stat_tap_table *t = stat_tap_find_table(ui, FLOWS_TABLE);
    if (t) {
        flows_reset(t);
        return;
    }
    t = stat_tap_init_table(FLOWS_TABLE, FC_COUNT, 0, "tcpstate.flow.id");
    stat_tap_add_table(ui, t);
}

static void times_str(const tcps_flow_summary *s, unsigned side, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned st = 0; st < TCPS_ST_COUNT && n + 1 < cap; st++) {
        double v = s->time_in_state[side][st];
        if (v <= 0)
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s=%.6f", n ? " " : "", tcps_state_name(st), v);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (n >= cap)
        buf[cap - 1] = '\0';
}

/* The packet's tap record and the (only) table of a statistic, or NULL. */
static stat_tap_table *tap_table(void *tapdata, const void *data, const tp_tap_info **ti)
{
    stat_data_t *sd = (stat_data_t *)tapdata;
    *ti = (const tp_tap_info *)data;
    if (!*ti || !(*ti)->rec || !sd->stat_tap_data->tables || sd->stat_tap_data->tables->len == 0)
        return NULL;
    return g_array_index(sd->stat_tap_data->tables, stat_tap_table *, 0);
}

static tap_packet_status flows_packet(void *tapdata, packet_info *pinfo _U_,
                                      epan_dissect_t *edt _U_, const void *data,
                                      tap_flags_t flags _U_)
{
    const tp_tap_info *ti;
    stat_tap_table *t = tap_table(tapdata, data, &ti);
    if (!t)
        return TAP_PACKET_DONT_REDRAW;
    if (!flow_rows)
        flow_rows = g_hash_table_new(g_direct_hash, g_direct_equal);
    const tcps_result *r = &ti->rec->r;
    gpointer key = GUINT_TO_POINTER(r->flow_id);
    guint row = GPOINTER_TO_UINT(g_hash_table_lookup(flow_rows, key));
    if (row == 0) {
        stat_tap_table_item_type items[FC_COUNT];
        memset(items, 0, sizeof items);
        for (int c = 0; c < FC_COUNT; c++)
            items[c].type = flows_fields[c].type;
        for (int c = 0; c < FC_COUNT; c++)
            if (items[c].type == TABLE_ITEM_STRING)
                items[c].value.string_value = "";
        row = t->num_elements + 1;
        stat_tap_init_table_row(t, row - 1, FC_COUNT, items);
        g_hash_table_insert(flow_rows, key, GUINT_TO_POINTER(row));
    }
    row--;
    const tcps_flow_summary *s = ti->flow;
    char buf[512];
    set_uint(t, row, FC_ID, r->flow_id);
    if (s) {
        if (s->af == 4 || s->af == 6) {
            tp_endpoint_str(s->af, s->addr[TCPS_CLIENT], s->port[TCPS_CLIENT], buf, sizeof buf);
            set_str(t, row, FC_CLIENT, buf);
            tp_endpoint_str(s->af, s->addr[TCPS_SERVER], s->port[TCPS_SERVER], buf, sizeof buf);
            set_str(t, row, FC_SERVER, buf);
        }
        set_str(t, row, FC_CONN_STATE, tcps_conn_state_name(s->conn_state));
        set_str(t, row, FC_HISTORY, s->history[0] ? s->history : "-");
        set_str(t, row, FC_CLOSE, tcps_close_id(s->close_kind));
        set_str(t, row, FC_CFINAL, tcps_state_name(s->final_state[TCPS_CLIENT]));
        set_str(t, row, FC_SFINAL, tcps_state_name(s->final_state[TCPS_SERVER]));
        set_float(t, row, FC_DURATION,
                  s->last_ns > s->first_ns ? (double)(s->last_ns - s->first_ns) / 1e9 : 0.0);
        set_uint(t, row, FC_PACKETS, s->packets[0] + s->packets[1]);
        set_uint(t, row, FC_RETRANS, s->retrans[0] + s->retrans[1]);
        set_uint(t, row, FC_KA, s->ka_probes[0] + s->ka_probes[1]);
        set_uint(t, row, FC_ZW, s->zw_probes[0] + s->zw_probes[1]);
        times_str(s, TCPS_CLIENT, buf, sizeof buf);
        set_str(t, row, FC_CTIMES, buf);
        times_str(s, TCPS_SERVER, buf, sizeof buf);
        set_str(t, row, FC_STIMES, buf);
        set_str(t, row, FC_SUMMARY, ti->flow_final ? "final" : "so far");
    } else {
        set_str(t, row, FC_CLOSE, tcps_close_id(r->close_kind));
        set_str(t, row, FC_CFINAL, tcps_state_name(r->state[TCPS_CLIENT]));
        set_str(t, row, FC_SFINAL, tcps_state_name(r->state[TCPS_SERVER]));
        set_str(t, row, FC_SUMMARY, "so far");
    }
    return TAP_PACKET_REDRAW;
}

static stat_tap_table_ui flows_ui = {
    REGISTER_PACKET_STAT_GROUP_UNSORTED,
    "TCP Endpoint States/Connections",
    "tcpstate",
    "tcpstate,flows",
    flows_init,
    flows_packet,
    flows_reset,
    free_item,
    NULL,
    sizeof(flows_fields) / sizeof(stat_tap_table_item),
    flows_fields,
    sizeof(filter_params) / sizeof(tap_param),
    filter_params,
    NULL,
    0};

/* ---- tcpstate,states ---------------------------------------------------------- */
enum { SC_STATE, SC_CPKTS, SC_SPKTS, SC_CFLOWS, SC_SFLOWS, SC_CFINAL, SC_SFINAL, SC_COUNT };
static stat_tap_table_item states_fields[SC_COUNT] = {
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "State", "%-12s"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Client packets", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Server packets", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Client flows", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Server flows", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Client flows ending", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Server flows ending", "%u"},
};
#define STATES_TABLE "TCP endpoint states"

typedef struct flow_seen {
    guint32 mask[2];   /* states each side was in after some packet */
    guint8 last[2];    /* state counted in the "ending" columns */
    guint8 counted;
} flow_seen;
static GHashTable *state_flows; /* flow id -> flow_seen* */

static void states_reset(stat_tap_table *t)
{
    for (guint r = 0; r < t->num_elements; r++)
        for (guint c = SC_CPKTS; c < SC_COUNT; c++)
            set_uint(t, r, c, 0);
    if (state_flows)
        g_hash_table_remove_all(state_flows);
}

static void states_init(stat_tap_table_ui *ui)
{
    if (!state_flows)
        state_flows = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    stat_tap_table *t = stat_tap_find_table(ui, STATES_TABLE);
    if (t) {
        states_reset(t);
        return;
    }
    t = stat_tap_init_table(STATES_TABLE, SC_COUNT, 0, "tcpstate.client.state");
    stat_tap_add_table(ui, t);
    stat_tap_table_item_type items[SC_COUNT];
    for (unsigned st = 0; st < TCPS_ST_COUNT; st++) {
        memset(items, 0, sizeof items);
        items[SC_STATE].type = TABLE_ITEM_STRING;
        items[SC_STATE].value.string_value = tcps_state_name(st); /* static: not ours */
        for (int c = SC_CPKTS; c < SC_COUNT; c++)
            items[c].type = TABLE_ITEM_UINT;
        stat_tap_init_table_row(t, st, SC_COUNT, items);
    }
}

static void bump(stat_tap_table *t, guint row, guint col, int d)
{
    if (row >= t->num_elements)
        return;
    stat_tap_table_item_type *it = stat_tap_get_field_data(t, row, col);
    if (d < 0 && it->value.uint_value == 0)
        return;
    it->value.uint_value = (guint)((int)it->value.uint_value + d);
}

static tap_packet_status states_packet(void *tapdata, packet_info *pinfo _U_,
                                       epan_dissect_t *edt _U_, const void *data,
                                       tap_flags_t flags _U_)
{
    const tp_tap_info *ti;
    stat_tap_table *t = tap_table(tapdata, data, &ti);
    if (!t)
        return TAP_PACKET_DONT_REDRAW;
    if (!state_flows)
        state_flows = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    const tcps_result *r = &ti->rec->r;
    gpointer key = GUINT_TO_POINTER(r->flow_id);
    flow_seen *fs = (flow_seen *)g_hash_table_lookup(state_flows, key);
    if (!fs) {
        fs = g_new0(flow_seen, 1);
        g_hash_table_insert(state_flows, key, fs);
    }
    for (unsigned side = 0; side < 2; side++) {
        unsigned st = r->state[side];
        if (st >= TCPS_ST_COUNT)
            continue;
        bump(t, st, side ? SC_SPKTS : SC_CPKTS, 1);
        if (!(fs->mask[side] & (1u << st))) {
            fs->mask[side] |= 1u << st;
            bump(t, st, side ? SC_SFLOWS : SC_CFLOWS, 1);
        }
        /* the state the connection ends in: the final summary when known */
        unsigned fin = ti->flow ? ti->flow->final_state[side] : st;
        if (fin >= TCPS_ST_COUNT)
            continue;
        if (fs->counted & (1u << side)) {
            if (fs->last[side] == fin)
                continue;
            bump(t, fs->last[side], side ? SC_SFINAL : SC_CFINAL, -1);
        }
        bump(t, fin, side ? SC_SFINAL : SC_CFINAL, 1);
        fs->last[side] = (guint8)fin;
        fs->counted |= (guint8)(1u << side);
    }
    return TAP_PACKET_REDRAW;
}

static stat_tap_table_ui states_ui = {
    REGISTER_PACKET_STAT_GROUP_UNSORTED,
    "TCP Endpoint States/States",
    "tcpstate",
    "tcpstate,states",
    states_init,
    states_packet,
    states_reset,
    free_item,
    NULL,
    sizeof(states_fields) / sizeof(stat_tap_table_item),
    states_fields,
    sizeof(filter_params) / sizeof(tap_param),
    filter_params,
    NULL,
    0};

void tp_register_stats(void)
{
    register_stat_tap_table_ui(&flows_ui);
    register_stat_tap_table_ui(&states_ui);
}

/* ---- flow graph ------------------------------------------------------------------ */
#if TP_HAVE_SEQ_ANALYSIS
static tap_packet_status seq_packet(void *tapdata, packet_info *pinfo, epan_dissect_t *edt _U_,
                                    const void *data, tap_flags_t flags _U_)
{
    seq_analysis_info_t *sainfo = (seq_analysis_info_t *)tapdata;
    const tp_tap_info *ti = (const tp_tap_info *)data;
    if (!ti || !ti->rec)
        return TAP_PACKET_DONT_REDRAW;
    seq_analysis_item_t *sai = sequence_analysis_create_sai_with_addresses(pinfo, sainfo);
    if (!sai)
        return TAP_PACKET_DONT_REDRAW;
    const tp_rec *rec = ti->rec;
    const tcps_result *r = &rec->r;
    char fl[64], tr[256];
    tp_flags_str(rec->flags, fl, sizeof fl);
    sai->frame_number = pinfo->num;
    sai->port_src = (guint16)pinfo->srcport;
    sai->port_dst = (guint16)pinfo->destport;
    if (rec->len)
        sai->frame_label = g_strdup_printf("%s Len=%u", fl, rec->len);
    else
        sai->frame_label = g_strdup(fl);
    tr[0] = '\0';
    tcps_transition_text(r, tr, sizeof tr);
    sai->comment = g_strdup_printf("[C:%s S:%s]%s%s", tcps_state_name(r->state[TCPS_CLIENT]),
                                   tcps_state_name(r->state[TCPS_SERVER]), tr[0] ? " " : "", tr);
    sai->line_style = 1;
    sai->conv_num = (guint16)r->flow_id;
    sai->display = TRUE; /* tshark prints only displayed items; the GUI sets it itself */
    g_queue_push_tail(sainfo->items, sai);
    return TAP_PACKET_REDRAW;
}

void tp_register_seq_analysis(void)
{
    register_seq_analysis("tcpstate", "TCP Endpoint States", tp_proto, "tcpstate",
                          TL_REQUIRES_NOTHING, seq_packet);
}
#else
void tp_register_seq_analysis(void) {}
#endif
