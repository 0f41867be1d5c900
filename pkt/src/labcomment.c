/* tcpstate-lab comment lines: parse and build (see labcomment.h). */
#include "tcpstate/labcomment.h"

#include <errno.h>
#include <stdlib.h>

#include "tcpstate/tcpstate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

int tcps_lab_parse(const char *s, size_t len, tcps_lab_line *out)
{
    memset(out, 0, sizeof *out);
    size_t plen = strlen(TCPS_LAB_PREFIX), i = 0;
    if (len < plen || memcmp(s, TCPS_LAB_PREFIX, plen) != 0)
        return -1;
    i = plen;
    int v = 0, digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
        v = v * 10 + (s[i++] - '0');
        digits++;
    }
    if (!digits || i >= len || s[i] != ' ')
        return -1;
    out->version = v;
    while (i < len && s[i] == ' ')
        i++;
    size_t k = 0;
    while (i < len && key_char(s[i]) && k + 1 < sizeof out->kind)
        out->kind[k++] = s[i++];
    if (!k || (i < len && s[i] != ' '))
        return -1;
    for (;;) {
        while (i < len && s[i] == ' ')
            i++;
        if (i >= len)
            return 0;
        if (out->nkv == TCPS_LAB_MAX_KV)
            return -1;
        tcps_lab_kv *kv = &out->kv[out->nkv];
        k = 0;
        while (i < len && key_char(s[i]) && k + 1 < sizeof kv->key)
            kv->key[k++] = s[i++];
        if (!k || i >= len || s[i] != '=')
            return -1;
        i++;
        size_t n = 0;
        if (i < len && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1; /* unterminated */
                char c = s[i++];
                if (c == '"')
                    break;
                if (c == '\\') {
                    if (i >= len || (s[i] != '"' && s[i] != '\\'))
                        return -1;
                    c = s[i++];
                }
                if (n + 1 >= sizeof kv->value)
                    return -1;
                kv->value[n++] = c;
            }
            if (i < len && s[i] != ' ')
                return -1;
        } else {
            while (i < len && s[i] != ' ') {
                if (s[i] == '"' || s[i] == '\\' || n + 1 >= sizeof kv->value)
                    return -1;
                kv->value[n++] = s[i++];
            }
        }
        kv->value[n] = '\0';
        out->nkv++;
    }
}

const char *tcps_lab_get(const tcps_lab_line *l, const char *key)
{
    for (int i = 0; i < l->nkv; i++)
        if (strcmp(l->kv[i].key, key) == 0)
            return l->kv[i].value;
    return NULL;
}

static void put(tcps_lab_writer *w, const char *s, size_t n)
{
    if (w->overflow || w->len + n + 1 > sizeof w->buf) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

void tcps_lab_begin(tcps_lab_writer *w, const char *kind)
{
    w->len = 0;
    w->overflow = 0;
    w->buf[0] = '\0';
    char head[64];
    int n = snprintf(head, sizeof head, "%s%d %s", TCPS_LAB_PREFIX, TCPS_LAB_VERSION, kind);
    put(w, head, (size_t)n);
}

int tcps_lab_add(tcps_lab_writer *w, const char *key, const char *value)
{
    for (const char *k = key; *k; k++)
        if (!key_char(*k))
            return -1;
    if (!*key || strlen(value) >= sizeof((tcps_lab_kv *)0)->value || strpbrk(value, "\n\r"))
        return -1;
    put(w, " ", 1);
    put(w, key, strlen(key));
    put(w, "=", 1);
    int quote = !*value || strpbrk(value, " \"\\\t\n") != NULL;
    if (!quote) {
        put(w, value, strlen(value));
    } else {
        put(w, "\"", 1);
        for (const char *c = value; *c; c++) {
            if (*c == '"' || *c == '\\')
                put(w, "\\", 1);
            put(w, c, 1);
        }
        put(w, "\"", 1);
    }
    return w->overflow ? -1 : 0;
}

int tcps_lab_addf(tcps_lab_writer *w, const char *key, const char *fmt, ...)
{
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof v)
        return -1;
    return tcps_lab_add(w, key, v);
}

const char *tcps_lab_text(const tcps_lab_writer *w) { return w->overflow ? NULL : w->buf; }

/* ---- the profile an experiment ran with ----------------------------------- */
static const struct {
    const char *sysctl, *key;
    unsigned mul, div;
} lab_sysmap[] = {
    {"tcp_syn_retries", "syn_retries", 1, 1},
    {"tcp_syn_linear_timeouts", "syn_linear", 1, 1},
    {"tcp_synack_retries", "synack_retries", 1, 1},
    {"tcp_orphan_retries", "orphan_retries", 1, 1},
    {"tcp_retries2", "retries2", 1, 1},
    {"tcp_fin_timeout", "fin_timeout_ms", 1000, 1},
    {"tcp_keepalive_time", "ka_time_ms", 1000, 1},
    {"tcp_keepalive_intvl", "ka_intvl_ms", 1000, 1},
    {"tcp_keepalive_probes", "ka_probes", 1, 1},
    {"tcp_rfc1337", "rfc1337", 1, 1},
    {"tcp_rto_min_us", "rto_min_ms", 1, 1000},
    {"tcp_rto_max_ms", "rto_max_ms", 1, 1},
};

int tcps_lab_profile(const tcps_lab_line *l, struct tcps_profile *p,
                     void (*note)(const char *key, const char *value, const char *from, void *u),
                     void *u)
{
    if (!l || !p || strcmp(l->kind, "experiment") != 0)
        return -1;
    int n = 0;
    const char *k = tcps_lab_get(l, "kernel");
    int maj = 0, min = 0;
    if (k && sscanf(k, "%d.%d", &maj, &min) == 2 && (maj < 6 || (maj == 6 && min < 5))) {
        const tcps_profile *old = tcps_profile_find("linux-pre-6.5");
        if (old) {
            *p = *old;
            if (note)
                note("profile", old->name, "kernel", u);
            n++;
        }
    }
    for (size_t i = 0; i < sizeof lab_sysmap / sizeof lab_sysmap[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "sysctl.%s", lab_sysmap[i].sysctl);
        const char *sv = tcps_lab_get(l, key);
        if (!sv || !*sv)
            continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(sv, &end, 10);
        if (errno || *end || v > 0xffffffffull)
            continue;
        char val[32];
        snprintf(val, sizeof val, "%llu", v * lab_sysmap[i].mul / lab_sysmap[i].div);
        if (tcps_profile_set(p, lab_sysmap[i].key, val) == 0) {
            if (note)
                note(lab_sysmap[i].key, val, key, u);
            n++;
        }
    }
    return n;
}
