/* tcpstate-lab analyze: run the engine over a pcap/pcapng file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <pcap/pcap.h>

#include "lab.h"
#include "tcpstate/pkt.h"
#include "tcpstate/tcpstate.h"

typedef struct an_opts {
    int flows, one_pass, quiet;
    tcps_config cfg;
} an_opts;

typedef struct an_stats {
    uint64_t packets, tcp, skipped, trunc;
    uint64_t first_ts;
    int have_first;
} an_stats;

static void addr_str(uint8_t af, const uint8_t *a, uint16_t port, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(af == 6 ? AF_INET6 : AF_INET, a, ip, sizeof ip);
    snprintf(out, cap, af == 6 ? "[%s]:%u" : "%s:%u", ip, port);
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
    char c[64], sv[64];
    addr_str(s->af, s->addr[0], s->port[0], c, sizeof c);
    addr_str(s->af, s->addr[1], s->port[1], sv, sizeof sv);
    printf("%u\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.6f\t%u\t%u\t%u\t%u%s\n", s->flow_id, c, sv,
           tcps_conn_state_name(s->conn_state), s->history[0] ? s->history : "-",
           tcps_close_id(s->close_kind), tcps_state_name(s->final_state[0]),
           tcps_state_name(s->final_state[1]), (double)(s->last_ns - s->first_ns) / 1e9,
           s->packets[0] + s->packets[1], s->retrans[0] + s->retrans[1],
           s->ka_probes[0] + s->ka_probes[1], s->zw_probes[0] + s->zw_probes[1],
           s->roles_guessed ? "\troles-guessed" : "");
}

static void print_packet(const an_stats *st, const tcps_engine *E, const tcps_segment *g,
                         const tcps_result *r)
{
    char fl[9], tr[160] = "", msg[200];
    flags_str(g->flags, fl);
    tcps_transition_text(r, tr, sizeof tr);
    printf("%llu\t%.6f\t%u\t%s\t%s\t%u\t%u\t%u\t%s\t%s", (unsigned long long)st->packets,
           (double)(g->ts_ns - st->first_ts) / 1e9, r->flow_id,
           r->from == TCPS_CLIENT ? "C>S" : "S>C", fl, g->seq, g->ack, g->len,
           tcps_state_name(r->state[0]), tcps_state_name(r->state[1]));
    int first = 1;
#define NOTE(...)                                                                              \
    do {                                                                                       \
        printf(first ? "\t" : "; ");                                                           \
        printf(__VA_ARGS__);                                                                   \
        first = 0;                                                                             \
    } while (0)
    if (tr[0])
        NOTE("%s", tr);
    for (unsigned ev = 0; ev < TCPS_EV_COUNT; ev++)
        if (r->events & (1u << ev)) {
            tcps_event_message(E, ev, r, msg, sizeof msg);
            NOTE("%s", msg);
        }
    if (!r->delivered && !(r->events & (1u << TCPS_EV_NOT_RECEIVED)))
        NOTE("%s did not receive it", r->from == TCPS_CLIENT ? "server" : "client");
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
            "  --profiles       list the profiles and keys\n"
            "  --max-flows N    live connections kept in memory (default 262144)\n"
            "  --quiet          print only the summary line on stderr\n"
            "Per packet: number, time, connection, direction, flags, seq, ack, length,\n"
            "client state, server state, then transitions and events.\n"
            "Per flow: id, client, server, conn_state, history, close, client final,\n"
            "server final, duration, packets, retransmissions, keepalive probes,\n"
            "zero-window probes.\n");
}

int lab_cmd_analyze(int argc, char **argv)
{
    an_opts o;
    memset(&o, 0, sizeof o);
    tcps_config_default(&o.cfg);
    static const struct option lopts[] = {
        {"flows", no_argument, 0, 'f'},       {"one-pass", no_argument, 0, '1'},
        {"profile", required_argument, 0, 'p'}, {"set", required_argument, 0, 's'},
        {"profiles", no_argument, 0, 'P'},    {"max-flows", required_argument, 0, 'm'},
        {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "f1p:s:m:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': o.flows = 1; break;
        case '1': o.one_pass = 1; break;
        case 'q': o.quiet = 1; break;
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
            if (tcps_profile_set(&o.cfg.profile, kv, eq + 1)) {
                lab_error("bad profile setting '%s' (try --profiles)", optarg);
                return 2;
            }
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
