/* Stack profiles: retry counts, RTO bounds and timers of TCP stacks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/tcpstate.h"

/* Linux values: include/net/tcp.h and the sysctl defaults
 * (Documentation/networking/ip-sysctl.rst); tcp_syn_linear_timeouts appeared
 * in 6.5.  macOS and Windows values are their documented defaults and are
 * approximate: their stacks do not use Linux's time-budget model. */
static const tcps_profile profiles[] = {
    {"linux", "Linux default", 6, 4, 5, 0, 15, 9, 1000, 200, 120000, 60000, 60000, 7200000,
     75000, 0, 1},
    {"linux-pre-6.5", "Linux < 6.5 default", 6, 0, 5, 0, 15, 9, 1000, 200, 120000, 60000,
     60000, 7200000, 75000, 0, 1},
    {"macos", "macOS default (approximate)", 10, 5, 5, 12, 12, 8, 1000, 200, 64000, 60000,
     30000, 7200000, 75000, 0, 0},
    {"windows", "Windows default (approximate)", 2, 0, 2, 5, 5, 10, 3000, 300, 60000, 120000,
     120000, 7200000, 1000, 0, 0},
};

size_t tcps_profile_count(void) { return sizeof profiles / sizeof profiles[0]; }

const tcps_profile *tcps_profile_at(size_t i)
{
    return i < tcps_profile_count() ? &profiles[i] : NULL;
}

const tcps_profile *tcps_profile_find(const char *name)
{
    for (size_t i = 0; i < tcps_profile_count(); i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

#define PROFILE_KEYS(X)                                                        \
    X(syn_retries, unsigned, 255)                                              \
    X(syn_linear, unsigned, 255)                                               \
    X(synack_retries, unsigned, 255)                                           \
    X(orphan_retries, unsigned, 255)                                           \
    X(retries2, unsigned, 255)                                                 \
    X(ka_probes, unsigned, 255)                                                \
    X(rto_init_ms, uint32_t, 3600000)                                          \
    X(rto_min_ms, uint32_t, 3600000)                                           \
    X(rto_max_ms, uint32_t, 3600000)                                           \
    X(fin_timeout_ms, uint32_t, 86400000)                                      \
    X(timewait_ms, uint32_t, 86400000)                                         \
    X(ka_time_ms, uint32_t, 864000000)                                         \
    X(ka_intvl_ms, uint32_t, 86400000)                                         \
    X(rfc1337, uint8_t, 1)

static const char *const keys[] = {
#define KEYNAME_(k, t, max) #k,
    PROFILE_KEYS(KEYNAME_)
#undef KEYNAME_
        NULL};

const char *const *tcps_profile_keys(void) { return keys; }

int tcps_profile_set(tcps_profile *p, const char *key, const char *value)
{
    if (!p || !key || !value || !*value)
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (errno || *end || value[0] == '-')
        return -1;
#define SET_(k, t, max)                                                        \
    if (strcmp(key, #k) == 0) {                                                \
        if (v > (max))                                                         \
            return -1;                                                         \
        p->k = (t)v;                                                           \
        return 0;                                                              \
    }
    PROFILE_KEYS(SET_)
#undef SET_
    return -1;
}

static unsigned ilog2_u64(uint64_t v)
{
    unsigned r = 0;
    while (v >>= 1)
        r++;
    return r;
}

/* Linux tcp_model_timeout(): the time budget of `boundary` retries that
 * start at rto_base and double up to rto_max. */
static uint64_t model_timeout_ns(const tcps_profile *p, unsigned boundary, uint64_t base_ms)
{
    if (base_ms == 0)
        base_ms = 1;
    uint64_t max_ms = p->rto_max_ms ? p->rto_max_ms : 120000;
    unsigned thresh = ilog2_u64(max_ms / base_ms);
    uint64_t ms;
    if (boundary > 62)
        boundary = 62;
    if (boundary <= thresh)
        ms = ((2ull << boundary) - 1) * base_ms;
    else
        ms = ((2ull << thresh) - 1) * base_ms + (uint64_t)(boundary - thresh) * max_ms;
    return ms * 1000000ull;
}

uint64_t tcps_profile_retry_budget_ns(const tcps_profile *p, unsigned retries)
{
    return model_timeout_ns(p, retries, p->rto_min_ms);
}

unsigned tcps_profile_orphan_retries(const tcps_profile *p)
{
    return (p->orphan_retries == 0 && p->model_budget) ? 8 : p->orphan_retries;
}

static uint64_t syn_gap_ms(const tcps_profile *p, unsigned k);
static uint64_t model_timeout_ns(const tcps_profile *p, unsigned boundary, uint64_t base_ms);

/* Retransmissions before SYN_SENT gives up: the count limit
 * (tcp_syn_retries + tcp_syn_linear_timeouts) or, first, the time budget
 * (tcp_write_timeout / retransmits_timed_out). */
static unsigned syn_schedule(const tcps_profile *p, uint64_t *giveup_ns)
{
    unsigned max = p->syn_retries + p->syn_linear;
    uint64_t budget = p->model_budget ? model_timeout_ns(p, p->syn_retries, p->rto_init_ms)
                                      : UINT64_MAX;
    uint64_t t = 0;
    unsigned k;
    for (k = 1; k < 1000; k++) {
        t += syn_gap_ms(p, k) * 1000000ull;
        if (k - 1 >= max || t >= budget)
            break;
    }
    if (giveup_ns)
        *giveup_ns = t;
    return k - 1;
}

unsigned tcps_profile_syn_budget(const tcps_profile *p) { return syn_schedule(p, NULL); }

/* Gap before SYN transmission k (k = 1 is the first retransmission, and the
 * gap after the last one is the give-up wait): rto_init for the linear
 * timeouts and the first exponential one, then doubling. */
static uint64_t syn_gap_ms(const tcps_profile *p, unsigned k)
{
    uint64_t g = p->rto_init_ms;
    if (k > p->syn_linear + 1) {
        unsigned sh = k - p->syn_linear - 1;
        g = sh > 30 ? p->rto_max_ms : g << sh;
    }
    return g > p->rto_max_ms ? p->rto_max_ms : g;
}

uint64_t tcps__syn_gap_ns(const tcps_profile *p, unsigned k) { return syn_gap_ms(p, k) * 1000000ull; }

uint64_t tcps_profile_syn_giveup_ns(const tcps_profile *p)
{
    uint64_t t;
    syn_schedule(p, &t);
    return t;
}

uint64_t tcps_profile_synack_giveup_ns(const tcps_profile *p)
{
    uint64_t t = 0;
    for (unsigned k = 0; k <= p->synack_retries; k++) {
        uint64_t g = (uint64_t)p->rto_init_ms << (k > 30 ? 30 : k);
        if (g > p->rto_max_ms)
            g = p->rto_max_ms;
        t += g * 1000000ull;
    }
    return t;
}
