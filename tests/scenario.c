/* Scenario file parser. */
#define _POSIX_C_SOURCE 200809L
#include "scenario.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

static int fail(char *err, size_t cap, const char *path, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, cap, "%s:%d: ", path, line);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < cap)
        vsnprintf(err + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* "10.0.0.1:80" or "[2001:db8::1]:80" */
static int parse_endpoint(const char *t, uint8_t *af, uint8_t addr[16], uint16_t *port)
{
    char host[128];
    const char *colon;
    if (t[0] == '[') {
        const char *rb = strchr(t, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - t - 1) >= sizeof host)
            return -1;
        memcpy(host, t + 1, (size_t)(rb - t - 1));
        host[rb - t - 1] = '\0';
        colon = rb + 1;
        *af = 6;
    } else {
        colon = strrchr(t, ':');
        if (!colon || (size_t)(colon - t) >= sizeof host)
            return -1;
        memcpy(host, t, (size_t)(colon - t));
        host[colon - t] = '\0';
        *af = 4;
    }
    memset(addr, 0, 16);
    if (inet_pton(*af == 6 ? AF_INET6 : AF_INET, host, addr) != 1)
        return -1;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || *end || p > 65535 || end == colon + 1)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

static int parse_u32(const char *t, uint32_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(t, &end, 10);
    if (errno || *end || end == t || x > 0xffffffffull || t[0] == '-')
        return -1;
    *v = (uint32_t)x;
    return 0;
}

static int parse_flags(const char *t, uint8_t *fl)
{
    *fl = 0;
    if (strcmp(t, ".") == 0)
        return 0;
    for (; *t; t++) {
        switch (*t) {
        case 'S': *fl |= TCPS_F_SYN; break;
        case 'A': *fl |= TCPS_F_ACK; break;
        case 'F': *fl |= TCPS_F_FIN; break;
        case 'R': *fl |= TCPS_F_RST; break;
        case 'P': *fl |= TCPS_F_PSH; break;
        case 'U': *fl |= TCPS_F_URG; break;
        case 'E': *fl |= TCPS_F_ECE; break;
        case 'W': *fl |= TCPS_F_CWR; break;
        default: return -1;
        }
    }
    return 0;
}

static int parse_option(const char *t, tcps_segment *g)
{
    uint32_t v;
    if (strncmp(t, "win=", 4) == 0) {
        if (parse_u32(t + 4, &v) || v > 65535)
            return -1;
        g->window = (uint16_t)v;
    } else if (strncmp(t, "mss=", 4) == 0) {
        if (parse_u32(t + 4, &v) || v > 65535)
            return -1;
        g->opt.mss = (uint16_t)v;
        g->opt.present |= TCPS_OPT_MSS;
    } else if (strncmp(t, "ws=", 3) == 0) {
        if (parse_u32(t + 3, &v) || v > 255)
            return -1;
        g->opt.wscale = (uint8_t)v;
        g->opt.present |= TCPS_OPT_WSCALE;
    } else if (strcmp(t, "badopt") == 0) {
        g->opt.present |= TCPS_OPT_MALFORMED;
    } else if (strcmp(t, "sackok") == 0) {
        g->opt.present |= TCPS_OPT_SACK_PERM;
    } else if (strncmp(t, "sack=", 5) == 0) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", t + 5);
        char *save = NULL;
        for (char *b = strtok_r(buf, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
            char *dash = strchr(b, '-');
            if (!dash || g->opt.nsack >= 4)
                return -1;
            *dash = '\0';
            uint32_t l, r;
            if (parse_u32(b, &l) || parse_u32(dash + 1, &r))
                return -1;
            g->opt.sack[g->opt.nsack][0] = l;
            g->opt.sack[g->opt.nsack][1] = r;
            g->opt.nsack++;
        }
        g->opt.present |= TCPS_OPT_SACK;
    } else if (strncmp(t, "ts=", 3) == 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", t + 3);
        char *slash = strchr(buf, '/');
        if (!slash)
            return -1;
        *slash = '\0';
        if (parse_u32(buf, &g->opt.tsval) || parse_u32(slash + 1, &g->opt.tsecr))
            return -1;
        g->opt.present |= TCPS_OPT_TS;
    } else {
        return -1;
    }
    return 0;
}

static int find_flow(const scenario *s, const char *name)
{
    for (int i = 0; i < s->nflows; i++)
        if (strcmp(s->flows[i].name, name) == 0)
            return i;
    return -1;
}

int scn_load(const char *path, scenario *s, char *err, size_t errcap)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->profile = *tcps_profile_at(0);
    s->end = -1;
    s->nflows = 1;
    snprintf(s->flows[0].name, sizeof s->flows[0].name, "%s", "");
    parse_endpoint("10.0.0.1:40000", &s->flows[0].af, s->flows[0].addr[0], &s->flows[0].port[0]);
    parse_endpoint("10.0.0.2:80", &s->flows[0].af, s->flows[0].addr[1], &s->flows[0].port[1]);

    FILE *fp = fopen(path, "r");
    if (!fp)
        return fail(err, errcap, path, 0, "cannot open: %s", strerror(errno));
    char line[1024];
    int ln = 0, capp = 0, cape = 0, have_name = 0, profile_set = 0, any_set = 0;
    double last_t = 0;
    while (fgets(line, sizeof line, fp)) {
        ln++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *tok[40];
        int nt = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 40;
             t = strtok_r(NULL, " \t\r\n", &save))
            tok[nt++] = t;
        if (nt == 0)
            continue;
        const char *k = tok[0];
        if (strcmp(k, "name") == 0) {
            s->name[0] = '\0';
            for (int i = 1; i < nt; i++) {
                size_t l = strlen(s->name);
                snprintf(s->name + l, sizeof s->name - l, "%s%s", i > 1 ? " " : "", tok[i]);
            }
            have_name = 1;
        } else if (strcmp(k, "profile") == 0) {
            if (nt != 2 || !tcps_profile_find(tok[1]))
                goto bad;
            if (any_set) {
                fclose(fp);
                return fail(err, errcap, path, ln, "profile must come before set");
            }
            s->profile = *tcps_profile_find(tok[1]);
            profile_set = 1;
        } else if (strcmp(k, "set") == 0) {
            for (int i = 1; i < nt; i++) {
                char *eq = strchr(tok[i], '=');
                if (!eq)
                    goto bad;
                *eq = '\0';
                if (tcps_profile_set(&s->profile, tok[i], eq + 1)) {
                    fclose(fp);
                    return fail(err, errcap, path, ln, "bad profile key or value: %s", tok[i]);
                }
            }
            any_set = 1;
        } else if (strcmp(k, "client") == 0 || strcmp(k, "server") == 0) {
            int side = k[0] == 's';
            if (nt != 2 || parse_endpoint(tok[1], &s->flows[0].af, s->flows[0].addr[side],
                                          &s->flows[0].port[side]))
                goto bad;
        } else if (strcmp(k, "flow") == 0) {
            if (nt != 4 || s->nflows >= 16 || find_flow(s, tok[1]) >= 0)
                goto bad;
            scn_flow *fl = &s->flows[s->nflows];
            snprintf(fl->name, sizeof fl->name, "%s", tok[1]);
            uint8_t af2;
            if (parse_endpoint(tok[2], &fl->af, fl->addr[0], &fl->port[0]) ||
                parse_endpoint(tok[3], &af2, fl->addr[1], &fl->port[1]) || af2 != fl->af)
                goto bad;
            s->nflows++;
        } else if (strcmp(k, "end") == 0) {
            char *e;
            if (nt != 2)
                goto bad;
            s->end = strtod(tok[1], &e);
            if (*e)
                goto bad;
        } else if (strncmp(k, "expect", 6) == 0 || strncmp(k, "final", 5) == 0) {
            int is_final = k[0] == 'f';
            const char *suf = k + (is_final ? 5 : 6);
            int modes = !*suf ? SCN_BOTH : strcmp(suf, "1") == 0 ? SCN_ONE
                                       : strcmp(suf, "2") == 0   ? SCN_TWO
                                                                 : 0;
            if (!modes)
                goto bad;
            if (!is_final && s->npkts == 0) {
                fclose(fp);
                return fail(err, errcap, path, ln, "expect before any packet");
            }
            int flow = 0, conn = 0;
            for (int i = 1; i < nt; i++) {
                char *eq = strchr(tok[i], '=');
                if (!eq || eq == tok[i])
                    goto bad;
                *eq = '\0';
                if (is_final && strcmp(tok[i], "flow") == 0) {
                    flow = find_flow(s, eq + 1);
                    if (flow < 0)
                        goto bad;
                    continue;
                }
                if (is_final && strcmp(tok[i], "conn") == 0) {
                    conn = atoi(eq + 1);
                    continue;
                }
                if (s->nexp == cape) {
                    cape = cape ? cape * 2 : 64;
                    scn_expect *n = realloc(s->exp, (size_t)cape * sizeof *n);
                    if (!n)
                        goto oom;
                    s->exp = n;
                }
                scn_expect *x = &s->exp[s->nexp++];
                memset(x, 0, sizeof *x);
                x->pkt = is_final ? -1 : s->npkts - 1;
                x->modes = modes;
                x->line = ln;
                snprintf(x->key, sizeof x->key, "%s", tok[i]);
                snprintf(x->value, sizeof x->value, "%s", eq + 1);
            }
            if (is_final)
                for (int i = s->nexp - 1; i >= 0 && s->exp[i].line == ln; i--) {
                    s->exp[i].flow = flow;
                    s->exp[i].conn = conn;
                }
        } else if (isdigit((unsigned char)k[0])) {
            if (nt < 6)
                goto bad;
            char *e;
            double t = strtod(tok[0], &e);
            if (*e || t < 0)
                goto bad;
            if (t + 1e-12 < last_t) {
                fclose(fp);
                return fail(err, errcap, path, ln, "time goes backwards");
            }
            last_t = t;
            /* direction */
            const char *d = tok[1];
            int flow = 0;
            const char *dot = strchr(d, '.');
            if (dot) {
                char nm[32];
                if ((size_t)(dot - d) >= sizeof nm)
                    goto bad;
                memcpy(nm, d, (size_t)(dot - d));
                nm[dot - d] = '\0';
                flow = find_flow(s, nm);
                if (flow < 0) {
                    fclose(fp);
                    return fail(err, errcap, path, ln, "unknown flow %s", nm);
                }
                d = dot + 1;
            }
            int from;
            if (strcmp(d, "C>S") == 0)
                from = 0;
            else if (strcmp(d, "S>C") == 0)
                from = 1;
            else
                goto bad;
            if (s->npkts == capp) {
                capp = capp ? capp * 2 : 64;
                scn_packet *n = realloc(s->pkts, (size_t)capp * sizeof *n);
                if (!n)
                    goto oom;
                s->pkts = n;
            }
            scn_packet *pk = &s->pkts[s->npkts];
            memset(pk, 0, sizeof *pk);
            pk->flow = flow;
            pk->line = ln;
            tcps_segment *g = &pk->seg;
            const scn_flow *fl = &s->flows[flow];
            g->ts_ns = (uint64_t)(t * 1e9 + 0.5);
            g->af = fl->af;
            memcpy(g->src, fl->addr[from], 16);
            memcpy(g->dst, fl->addr[!from], 16);
            g->sport = fl->port[from];
            g->dport = fl->port[!from];
            g->window = 64240;
            if (parse_flags(tok[2], &g->flags) || parse_u32(tok[3], &g->seq) ||
                parse_u32(tok[4], &g->ack) || parse_u32(tok[5], &g->len))
                goto bad;
            for (int i = 6; i < nt; i++)
                if (parse_option(tok[i], g)) {
                    fclose(fp);
                    return fail(err, errcap, path, ln, "bad option %s", tok[i]);
                }
            s->npkts++;
        } else {
            goto bad;
        }
        continue;
    bad:
        fclose(fp);
        return fail(err, errcap, path, ln, "cannot parse this line");
    }
    fclose(fp);
    (void)profile_set;
    if (!have_name)
        return fail(err, errcap, path, 0, "no name line");
    if (s->npkts == 0)
        return fail(err, errcap, path, 0, "no packets");
    return 0;
oom:
    fclose(fp);
    return fail(err, errcap, path, ln, "out of memory");
}

void scn_free(scenario *s)
{
    free(s->pkts);
    free(s->exp);
    s->pkts = NULL;
    s->exp = NULL;
}
