/* Names, texts and messages generated from the X-macro lists. */
#include <stdio.h>
#include <string.h>

#include "tcpstate/tcpstate.h"

#define STR2_(id, s) s,
#define ID_(id, ...) #id,
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define LOOKUP(fn, arr)                                                        \
    const char *fn(unsigned i) { return i < COUNT_OF(arr) ? arr[i] : "?"; }

static const char *const state_names[] = {TCPS_STATE_LIST(STR2_)};
static const char *const reason_texts[] = {TCPS_REASON_LIST(STR2_)};
static const char *const reason_ids[] = {TCPS_REASON_LIST(ID_)};
static const char *const rtx_names[] = {TCPS_RTX_KIND_LIST(STR2_)};
static const char *const rtx_ids[] = {TCPS_RTX_KIND_LIST(ID_)};
static const char *const sched_names[] = {TCPS_SCHED_LIST(STR2_)};
static const char *const sched_ids[] = {TCPS_SCHED_LIST(ID_)};
static const char *const rst_texts[] = {TCPS_RST_CAUSE_LIST(STR2_)};
static const char *const rst_ids[] = {TCPS_RST_CAUSE_LIST(ID_)};
static const char *const phase_names[] = {TCPS_PHASE_LIST(STR2_)};
static const char *const close_names[] = {TCPS_CLOSE_LIST(STR2_)};
static const char *const close_ids[] = {TCPS_CLOSE_LIST(ID_)};
static const char *const oev_texts[] = {TCPS_ORPHAN_EV_LIST(STR2_)};
static const char *const oev_ids[] = {TCPS_ORPHAN_EV_LIST(ID_)};
static const char *const cs_names[] = {TCPS_CONN_STATE_LIST(STR2_)};

#define EV_ID_(id, sev, tmpl) #id,
#define EV_SEV_(id, sev, tmpl) TCPS_SEV_##sev,
#define EV_TMPL_(id, sev, tmpl) tmpl,
static const char *const event_ids[] = {TCPS_EVENT_LIST(EV_ID_)};
static const tcps_severity event_sev[] = {TCPS_EVENT_LIST(EV_SEV_)};
static const char *const event_tmpl[] = {TCPS_EVENT_LIST(EV_TMPL_)};

LOOKUP(tcps_state_name, state_names)
LOOKUP(tcps_reason_text, reason_texts)
LOOKUP(tcps_reason_id, reason_ids)
LOOKUP(tcps_rtx_kind_name, rtx_names)
LOOKUP(tcps_rtx_kind_id, rtx_ids)
LOOKUP(tcps_sched_name, sched_names)
LOOKUP(tcps_sched_id, sched_ids)
LOOKUP(tcps_rst_cause_text, rst_texts)
LOOKUP(tcps_rst_cause_id, rst_ids)
LOOKUP(tcps_phase_name, phase_names)
LOOKUP(tcps_close_name, close_names)
LOOKUP(tcps_close_id, close_ids)
LOOKUP(tcps_orphan_ev_text, oev_texts)
LOOKUP(tcps_orphan_ev_id, oev_ids)
LOOKUP(tcps_conn_state_name, cs_names)
LOOKUP(tcps_event_id_name, event_ids)
LOOKUP(tcps_event_template, event_tmpl)

tcps_severity tcps_event_severity(unsigned e)
{
    return e < COUNT_OF(event_sev) ? event_sev[e] : TCPS_SEV_NOTE;
}

int tcps_state_from_name(const char *name)
{
    for (unsigned i = 0; i < COUNT_OF(state_names); i++)
        if (strcmp(state_names[i], name) == 0)
            return (int)i;
    return -1;
}

static const char *side_name(unsigned s) { return s == TCPS_CLIENT ? "client" : "server"; }

size_t tcps_transition_text(const tcps_result *r, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    for (unsigned s = 0; s < 2; s++) {
        if (r->prev_state[s] == r->state[s])
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s %s \xe2\x86\x92 %s", n ? "; " : "",
                         side_name(s), tcps_state_name(r->prev_state[s]),
                         tcps_state_name(r->state[s]));
        if (w < 0)
            break;
        n += (size_t)w;
        if (n >= cap) {
            n = cap - 1;
            break;
        }
    }
    return n;
}

/* Message rendering needs the profile (for {profile}); engine.c provides it. */
const tcps_profile *tcps__engine_profile(const tcps_engine *e);

size_t tcps_event_message(const tcps_engine *e, unsigned ev, const tcps_result *r, char *buf,
                          size_t cap)
{
    if (cap == 0)
        return 0;
    const char *t = tcps_event_template(ev);
    unsigned side = ev < TCPS_EV_COUNT ? r->event_side[ev] : r->from;
    const tcps_profile *p = e ? tcps__engine_profile(e) : NULL;
    size_t n = 0;
    char tmp[96];
    while (*t && n + 1 < cap) {
        if (*t != '{') {
            buf[n++] = *t++;
            continue;
        }
        const char *end = strchr(t, '}');
        if (!end) {
            buf[n++] = *t++;
            continue;
        }
        size_t kl = (size_t)(end - t - 1);
        const char *k = t + 1;
        tmp[0] = '\0';
#define KEY(s) (kl == sizeof(s) - 1 && memcmp(k, s, kl) == 0)
        if (KEY("from"))
            snprintf(tmp, sizeof tmp, "%s", side_name(r->from));
        else if (KEY("to"))
            snprintf(tmp, sizeof tmp, "%s", side_name(!r->from));
        else if (KEY("side"))
            snprintf(tmp, sizeof tmp, "%s", side_name(side));
        else if (KEY("state"))
            snprintf(tmp, sizeof tmp, "%s", tcps_state_name(r->prev_state[side & 1]));
        else if (KEY("secs"))
            snprintf(tmp, sizeof tmp, "%.0f",
                     (ev == TCPS_EV_KEEPALIVE ? r->ka_idle_ns : r->time_in_state_ns[side & 1]) /
                         1e9);
        else if (KEY("index"))
            snprintf(tmp, sizeof tmp, "%u",
                     (unsigned)(r->rtx_index       ? r->rtx_index
                                : r->ka_index      ? r->ka_index
                                : r->ka_unanswered ? r->ka_unanswered
                                                   : r->zwp_index));
        else if (KEY("timer_index"))
            snprintf(tmp, sizeof tmp, "%u", (unsigned)r->rtx_timer_index);
        else if (KEY("budget"))
            snprintf(tmp, sizeof tmp, "%u", (unsigned)r->rtx_budget);
        else if (KEY("budget_s"))
            snprintf(tmp, sizeof tmp, "%.0f", r->rtx_budget_ns / 1e9);
        else if (KEY("profile"))
            snprintf(tmp, sizeof tmp, "%s", p ? p->description : "");
        else if (KEY("sched"))
            snprintf(tmp, sizeof tmp, "%s", tcps_sched_name(r->rtx_sched));
        else if (KEY("cause"))
            snprintf(tmp, sizeof tmp, "%s", tcps_rst_cause_text(r->rst_cause));
#undef KEY
        for (const char *s = tmp; *s && n + 1 < cap; s++)
            buf[n++] = *s;
        t = end + 1;
    }
    buf[n] = '\0';
    return n;
}
