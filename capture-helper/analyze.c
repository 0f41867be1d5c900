/*
 * tcpstate-lab analyze: run the engine over a pcap/pcapng file.
 *
 * Built for captures too big for tshark: libpcap reads the file (twice in
 * the default two-pass mode), nothing is allocated per packet, and the
 * lines are formatted by hand into a stdio buffer of 1 MiB (printf's
 * parsing of the format costs more than the engine's work per packet).
 * bench/analyze.sh measures it against tcptrace and a bare libpcap loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <pcap/pcap.h>

#include "lab.h"
#include "tcpstate/labcomment.h"
#include "tcpstate/pkt.h"
#include "tcpstate/tcpstate.h"

typedef struct an_opts {
    int flows, one_pass, quiet, no_lab_profile;
    tcps_config cfg;
} an_opts;

typedef struct an_stats {
    uint64_t packets, tcp, skipped, trunc;
    uint64_t first_ts;
    int have_first;
} an_stats;

/* ---- output: a line is built in a char buffer, then written at once ---- */
typedef struct line {
    char *p; /* next free byte */
    char buf[512];
} line;

static void put_str(line *l, const char *s)
{
    size_t n = strlen(s), room = (size_t)(l->buf + sizeof l->buf - 1 - l->p);
    if (n > room)
        n = room;
    memcpy(l->p, s, n);
    l->p += n;
}
static void put_ch(line *l, char c)
{
    if (l->p < l->buf + sizeof l->buf - 1)
        *l->p++ = c;
}
static void put_u64(line *l, uint64_t v)
{
    char d[20];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (l->p + n >= l->buf + sizeof l->buf)
        return;
    while (n)
        *l->p++ = d[--n];
}
/* Nanoseconds as seconds with six decimals: what printf("%.6f", ns / 1e9)
 * prints.  The integer rounding gives the same digits except exactly half
 * way between two microseconds, where the double's representation decides,
 * and for values so large that the double is coarser than a nanosecond:
 * those go through printf. */
static void put_sec6(line *l, uint64_t ns)
{
    uint64_t us = ns / 1000, r = ns % 1000;
    if (r == 500 || ns >= (1ull << 52)) {
        char t[48];
        snprintf(t, sizeof t, "%.6f", (double)ns / 1e9);
        put_str(l, t);
        return;
    }
    if (r > 500)
        us++;
    put_u64(l, us / 1000000);
    char f[8];
    uint64_t frac = us % 1000000;
    for (int i = 5; i >= 0; i--, frac /= 10)
        f[i] = (char)('0' + frac % 10);
    f[6] = '\0';
    put_ch(l, '.');
    put_str(l, f);
}
static void put_endpoint(line *l, uint8_t af, const uint8_t *a, uint16_t port)
{
    if (af == 6) {
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, a, ip, sizeof ip);
        put_ch(l, '[');
        put_str(l, ip);
        put_ch(l, ']');
    } else {
        for (int i = 0; i < 4; i++) {
            if (i)
                put_ch(l, '.');
            put_u64(l, a[i]);
        }
    }
    put_ch(l, ':');
    put_u64(l, port);
}
static void line_write(line *l)
{
    fwrite(l->buf, 1, (size_t)(l->p - l->buf), stdout);
    l->p = l->buf;
}

static void flags_str(uint8_t fl, char out[9])
{
    static const char letters[] = "FSRPAUEC";
    int n = 0;
    for (int i = 0; i < 8; i++)
        if (fl & (1u << i))
            out[n++] = letters[i];
    if (!n)
        out[n++] = '.';
    out[n] = '\0';
}

static void print_flow(const tcps_flow_summary *s, void *user)
{
    (void)user;
    line l;
    l.p = l.buf;
    put_u64(&l, s->flow_id);
    put_ch(&l, '\t');
    put_endpoint(&l, s->af, s->addr[0], s->port[0]);
    put_ch(&l, '\t');
    put_endpoint(&l, s->af, s->addr[1], s->port[1]);
    put_ch(&l, '\t');
    put_str(&l, tcps_conn_state_name(s->conn_state));
    put_ch(&l, '\t');
    put_str(&l, s->history[0] ? s->history : "-");
    put_ch(&l, '\t');
    put_str(&l, tcps_close_id(s->close_kind));
    put_ch(&l, '\t');
    put_str(&l, tcps_state_name(s->final_state[0]));
    put_ch(&l, '\t');
    put_str(&l, tcps_state_name(s->final_state[1]));
    put_ch(&l, '\t');
    put_sec6(&l, s->last_ns - s->first_ns);
    const unsigned n[4] = {s->packets[0] + s->packets[1], s->retrans[0] + s->retrans[1],
                           s->ka_probes[0] + s->ka_probes[1], s->zw_probes[0] + s->zw_probes[1]};
    for (int i = 0; i < 4; i++) {
        put_ch(&l, '\t');
        put_u64(&l, n[i]);
    }
    if (s->roles_guessed)
        put_str(&l, "\troles-guessed");
    put_ch(&l, '\n');
    line_write(&l);
}

static void print_packet(const an_stats *st, const tcps_engine *E, const tcps_segment *g,
                         const tcps_result *r)
{
    char fl[9], tr[160] = "", msg[200];
    flags_str(g->flags, fl);
    line l;
    l.p = l.buf;
    put_u64(&l, st->packets);
    put_ch(&l, '\t');
    put_sec6(&l, g->ts_ns - st->first_ts);
    put_ch(&l, '\t');
    put_u64(&l, r->flow_id);
    put_str(&l, r->from == TCPS_CLIENT ? "\tC>S\t" : "\tS>C\t");
    put_str(&l, fl);
    const uint32_t n[3] = {g->seq, g->ack, g->len};
    for (int i = 0; i < 3; i++) {
        put_ch(&l, '\t');
        put_u64(&l, n[i]);
    }
    put_ch(&l, '\t');
    put_str(&l, tcps_state_name(r->state[0]));
    put_ch(&l, '\t');
    put_str(&l, tcps_state_name(r->state[1]));
    line_write(&l);
    /* the notes: any length, straight to stdio */
    const char *sep = "\t";
#define NOTE(text)                                                                             \
    do {                                                                                       \
        fputs(sep, stdout);                                                                    \
        fputs(text, stdout);                                                                   \
        sep = "; ";                                                                            \
    } while (0)
    if (tcps_transition_text(r, tr, sizeof tr))
        NOTE(tr);
    for (unsigned ev = 0; ev < TCPS_EV_COUNT; ev++)
        if (r->events & (1u << ev)) {
            tcps_event_message(E, ev, r, msg, sizeof msg);
            NOTE(msg);
        }
    if (!r->delivered && !(r->events & (1u << TCPS_EV_NOT_RECEIVED)))
        NOTE(r->from == TCPS_CLIENT ? "server did not receive it" : "client did not receive it");
    if (r->revised)
        NOTE("revised by the second pass");
#undef NOTE
    putchar('\n');
}

/* One pass over the file.  Returns 0, or -1 after printing an error. */
static int read_pass(const char *path, tcps_engine *E, an_opts *o, an_stats *st, int print,
                     int report)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!pc) {
        if (report)
            lab_error("%s: %s", path, errbuf);
        return -1;
    }
    int lt = pcap_datalink(pc);
    memset(st, 0, sizeof *st);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
        st->packets++;
        uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
        tcps_segment g;
        tcps_decode_status ds = tcps_decode(lt, data, h->caplen, ts, &g);
        if (ds != TCPS_DEC_OK) {
            if (ds == TCPS_DEC_TRUNCATED || ds == TCPS_DEC_MALFORMED)
                st->trunc++;
            else
                st->skipped++;
            continue;
        }
        st->tcp++;
        if (!st->have_first) {
            st->first_ts = ts;
            st->have_first = 1;
        }
        tcps_result r;
        if (tcps_engine_feed(E, &g, &r) == 0 && print && !o->flows && !o->quiet)
            print_packet(st, E, &g, &r);
    }
    int ret = rc == -1 ? -1 : 0;
    if (rc == -1 && report) {
        lab_error("%s: %s (after %llu packets)", path, pcap_geterr(pc),
                  (unsigned long long)st->packets);
    }
    pcap_close(pc);
    return ret;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: tcpstate-lab analyze [options] FILE\n"
            "Infer both endpoints' TCP states for every packet of a pcap or pcapng file.\n"
            "  --flows          one line per connection instead of per packet\n"
            "  --one-pass       streaming answers (default: two passes, final answers)\n"
            "  --profile NAME   stack profile (default linux; see --profiles)\n"
            "  --set KEY=VALUE  override a profile value (repeatable)\n"
            "  --no-lab-profile ignore the stack values a tcpstate-lab capture records\n"
            "  --profiles       list the profiles and keys\n"
            "  --max-flows N    live connections kept in memory (default 262144)\n"
            "  --quiet          print only the summary line on stderr\n"
            "Per packet: number, time, connection, direction, flags, seq, ack, length,\n"
            "client state, server state, then transitions and events.\n"
            "Per flow: id, client, server, conn_state, history, close, client final,\n"
            "server final, duration, packets, retransmissions, keepalive probes,\n"
            "zero-window probes.\n"
            "A pcapng file written by 'tcpstate-lab run' records its kernel version and\n"
            "TCP sysctls (the experiments scale the timers down): they are used before\n"
            "the --set values, as 'tcpstate-lab check' does.\n");
}

typedef struct lab_note_ctx {
    char buf[512];
    size_t n;
} lab_note_ctx;

static void lab_note(const char *key, const char *value, const char *from, void *u)
{
    lab_note_ctx *x = u;
    (void)from;
    if (x->n < sizeof x->buf)
        x->n += (size_t)snprintf(x->buf + x->n, sizeof x->buf - x->n, " %s=%s", key, value);
}

/* The stack values of a tcpstate-lab capture (its section comment). */
static void use_lab_profile(const char *path, tcps_profile *prof, int quiet)
{
    FILE *f = fopen(path, "rb");
    unsigned char magic[4] = {0};
    if (!f)
        return; /* the read pass reports it */
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got != 4 || memcmp(magic, "\x0a\x0d\x0d\x0a", 4) != 0)
        return; /* not pcapng */
    char err[256];
    lab_pcapng_reader *r = lab_pcapng_read_open(path, err, sizeof err);
    if (!r)
        return;
    const char *shb = lab_pcapng_section_comment(r);
    tcps_lab_line *l = malloc(sizeof *l);
    for (const char *p = shb; l && p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (tcps_lab_parse(p, len, l) == 0 && strcmp(l->kind, "experiment") == 0) {
            lab_note_ctx x = {{0}, 0};
            if (tcps_lab_profile(l, prof, lab_note, &x) > 0 && !quiet)
                fprintf(stderr, "tcpstate-lab: stack values of the capture (experiment %s):%s\n",
                        tcps_lab_get(l, "name") ? tcps_lab_get(l, "name") : "?", x.buf);
            break;
        }
        p = e ? e + 1 : NULL;
    }
    free(l);
    lab_pcapng_read_close(r);
}

int lab_cmd_analyze(int argc, char **argv)
{
    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    an_opts o;
    memset(&o, 0, sizeof o);
    tcps_config_default(&o.cfg);
    static const struct option lopts[] = {
        {"flows", no_argument, 0, 'f'},       {"one-pass", no_argument, 0, '1'},
        {"profile", required_argument, 0, 'p'}, {"set", required_argument, 0, 's'},
        {"profiles", no_argument, 0, 'P'},    {"max-flows", required_argument, 0, 'm'},
        {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
        {"no-lab-profile", no_argument, 0, 'L'}, {0, 0, 0, 0}};
    const char *sets[64];
    int nsets = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "f1p:s:m:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': o.flows = 1; break;
        case '1': o.one_pass = 1; break;
        case 'q': o.quiet = 1; break;
        case 'L': o.no_lab_profile = 1; break;
        case 'p': {
            const tcps_profile *p = tcps_profile_find(optarg);
            if (!p) {
                lab_error("unknown profile '%s' (try --profiles)", optarg);
                return 2;
            }
            o.cfg.profile = *p;
            break;
        }
        case 's': {
            char kv[128];
            snprintf(kv, sizeof kv, "%s", optarg);
            char *eq = strchr(kv, '=');
            if (!eq) {
                lab_error("--set takes KEY=VALUE, got '%s'", optarg);
                return 2;
            }
            *eq = '\0';
            tcps_profile probe = o.cfg.profile;
            if (tcps_profile_set(&probe, kv, eq + 1)) {
                lab_error("bad profile setting '%s' (try --profiles)", optarg);
                return 2;
            }
            if (nsets == (int)(sizeof sets / sizeof sets[0])) {
                lab_error("too many --set options");
                return 2;
            }
            sets[nsets++] = optarg; /* applied after the capture's own values */
            break;
        }
        case 'P':
            for (size_t i = 0; i < tcps_profile_count(); i++)
                printf("%-16s %s\n", tcps_profile_at(i)->name, tcps_profile_at(i)->description);
            printf("keys:");
            for (const char *const *k = tcps_profile_keys(); *k; k++)
                printf(" %s", *k);
            printf("\n");
            return 0;
        case 'm': {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || *end || v == 0) {
                lab_error("--max-flows takes a positive number, got '%s'", optarg);
                return 2;
            }
            o.cfg.max_flows = v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            lab_error("analyze: unknown option '%s' (see tcpstate-lab analyze --help)",
                      argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1) {
        lab_error("analyze takes one capture file (see tcpstate-lab analyze --help)");
        return 2;
    }
    const char *path = argv[optind];
    if (!o.no_lab_profile)
        use_lab_profile(path, &o.cfg.profile, o.quiet);
    for (int i = 0; i < nsets; i++) {
        char kv[128];
        snprintf(kv, sizeof kv, "%s", sets[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';
        tcps_profile_set(&o.cfg.profile, kv, eq + 1);
    }
    o.cfg.two_pass = !o.one_pass;
    if (o.flows) {
        o.cfg.on_flow_end = print_flow;
        printf("#id\tclient\tserver\tconn_state\thistory\tclose\tclient_final\tserver_final\t"
               "duration\tpackets\tretrans\tka_probes\tzw_probes\n");
    } else if (!o.quiet) {
        printf("#no\ttime\tconn\tdir\tflags\tseq\tack\tlen\tclient\tserver\tnotes\n");
    }
    tcps_engine *E = tcps_engine_new(&o.cfg);
    if (!E) {
        lab_error("out of memory");
        return 1;
    }
    an_stats st;
    int rc = 0;
    /* a damaged file still gets answers for what could be read: pass 2
     * reads as far as pass 1 did and reports the error */
    if (o.cfg.two_pass) {
        read_pass(path, E, &o, &st, 0, 0);
        tcps_engine_begin_pass2(E);
    }
    if (read_pass(path, E, &o, &st, 1, 1))
        rc = 1;
    tcps_engine_finish(E);
    fflush(stdout);
    if (!rc)
        fprintf(stderr, "tcpstate-lab: %llu packets, %llu TCP segments, %llu not TCP, %llu truncated or malformed\n",
            (unsigned long long)st.packets, (unsigned long long)st.tcp,
            (unsigned long long)st.skipped, (unsigned long long)st.trunc);
    if (!rc && st.tcp == 0) {
        lab_error("%s: no TCP segments in %llu packets", path, (unsigned long long)st.packets);
        rc = 1;
    }
    tcps_engine_free(E);
    return rc;
}
