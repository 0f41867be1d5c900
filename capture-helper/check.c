/*
 * tcpstate-lab check: run the engine over a capture written by `run` and
 * compare, packet by packet, its client and server states with the kernel's
 * (the "kernel" comment of every packet).
 *
 * The engine's profile comes from the capture: the section comment records
 * the kernel version (linux or linux-pre-6.5 profile) and the sysctls of the
 * lab's namespaces (scaled timers), mapped onto the profile keys.  Packets
 * and comments are read with libwiretap (libpcap does not return comments).
 *
 * A kernel state NONE (the connection's socket does not exist) matches the
 * engine's CLOSED, LISTEN or UNKNOWN, as in the Wireshark plugin.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab.h"
#include "tcpstate/labcomment.h"
#include "tcpstate/pkt.h"
#include "tcpstate/tcpstate.h"

typedef struct ck_pkt {
    tcps_segment g;
    int ok;           /* decoded TCP */
    int have_kernel;
    uint8_t k[2];     /* kernel states (tcps_state or LAB_ST_NONE) */
    char ktimer[2][40];
} ck_pkt;

static int state_of(const char *s, uint8_t *out)
{
    if (!s)
        return -1;
    if (!strcmp(s, "NONE")) {
        *out = LAB_ST_NONE;
        return 0;
    }
    int v = tcps_state_from_name(s);
    if (v < 0)
        return -1;
    *out = (uint8_t)v;
    return 0;
}

/* Same rule as the Wireshark plugin: NONE (the connection's socket does not
 * exist) matches the engine's CLOSED, LISTEN or UNKNOWN. */
static int agree(uint8_t kernel, uint8_t engine)
{
    if (kernel == engine)
        return 1;
    return kernel == LAB_ST_NONE &&
           (engine == TCPS_ST_CLOSED || engine == TCPS_ST_LISTEN || engine == TCPS_ST_UNKNOWN);
}

static void print_profile_value(const char *key, const char *value, const char *from, void *u)
{
    (void)u;
    printf("profile %s=%s (from %s)\n", key, value, from);
}

/* The profile the capture was made with.  Returns the experiment name. */
static void profile_from(const char *shb, tcps_config *cfg, char *name, size_t ncap, int verbose)
{
    snprintf(name, ncap, "?");
    const char *p = shb;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        tcps_lab_line l;
        if (tcps_lab_parse(p, len, &l) == 0 && !strcmp(l.kind, "experiment")) {
            const char *v = tcps_lab_get(&l, "name");
            if (v)
                snprintf(name, ncap, "%s", v);
            tcps_lab_profile(&l, &cfg->profile, verbose ? print_profile_value : NULL, NULL);
            return;
        }
        p = e ? e + 1 : NULL;
    }
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: tcpstate-lab check [options] FILE.pcapng\n"
            "Compare the engine's inference with the kernel states recorded by\n"
            "'tcpstate-lab run' (the 'kernel' comment of every packet).  Prints the\n"
            "agreement and every disagreement; exits 1 below the threshold.\n"
            "  --threshold PCT  minimum agreement in percent (default 99)\n"
            "  --packets        print every packet: kernel and engine states\n"
            "  --comments       print the section comment and every packet's lab\n"
            "                   comments (events, rules, transitions, kernel states)\n"
            "  --one-pass       check the engine's one-pass answers (default: two passes)\n"
            "  --set KEY=VALUE  override a profile value after the capture's sysctls\n"
            "  --quiet          only the agreement line\n"
            "The engine's profile comes from the capture's section comment (kernel\n"
            "version and the lab's sysctls).  Kernel NONE (no socket) matches CLOSED,\n"
            "LISTEN or UNKNOWN, as in the Wireshark plugin.\n"
            "A TCP packet without a kernel comment counts as a disagreement.\n");
}

int lab_cmd_check(int argc, char **argv)
{
    double threshold = 99.0;
    int all = 0, one_pass = 0, quiet = 0, comments = 0;
    const char *sets[32];
    int nsets = 0;
    static const struct option lopts[] = {
        {"threshold", required_argument, 0, 't'}, {"packets", no_argument, 0, 'p'},
        {"one-pass", no_argument, 0, '1'},        {"set", required_argument, 0, 's'},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {"comments", no_argument, 0, 'c'},        {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "t:p1s:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 't': {
            char *end;
            threshold = strtod(optarg, &end);
            if (*end || threshold < 0 || threshold > 100) {
                lab_error("--threshold takes a percentage, not '%s'", optarg);
                return 2;
            }
            break;
        }
        case 'p': all = 1; break;
        case 'c': comments = 1; break;
        case '1': one_pass = 1; break;
        case 'q': quiet = 1; break;
        case 's':
            if (nsets < 32)
                sets[nsets++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default:
            lab_error("check: unknown option '%s' (see tcpstate-lab check --help)", argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1) {
        lab_error("check takes one capture file (see tcpstate-lab check --help)");
        return 2;
    }
    const char *path = argv[optind];
    char err[1024];
    lab_pcapng_reader *r = lab_pcapng_read_open(path, err, sizeof err);
    if (!r) {
        lab_error("%s", err);
        return 2;
    }
    tcps_config cfg;
    tcps_config_default(&cfg);
    cfg.two_pass = !one_pass;
    char name[128];
    const char *shb = lab_pcapng_section_comment(r);
    if (!strstr(shb, TCPS_LAB_PREFIX)) {
        lab_error("%s: not a tcpstate-lab capture (no experiment section comment)", path);
        lab_pcapng_read_close(r);
        return 2;
    }
    profile_from(shb, &cfg, name, sizeof name, all && !quiet);
    if (comments)
        printf("section: %s\n", shb);
    for (int i = 0; i < nsets; i++) {
        char kv[128];
        snprintf(kv, sizeof kv, "%s", sets[i]);
        char *eq = strchr(kv, '=');
        if (!eq || (*eq = '\0', tcps_profile_set(&cfg.profile, kv, eq + 1) != 0)) {
            lab_error("bad profile setting '%s'", sets[i]);
            lab_pcapng_read_close(r);
            return 2;
        }
    }
    ck_pkt *pk = NULL;
    size_t n = 0, cap = 0;
    lab_pcapng_rec rec;
    int rc;
    while ((rc = lab_pcapng_read_next(r, &rec, err, sizeof err)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            ck_pkt *q = realloc(pk, cap * sizeof *pk);
            if (!q) {
                lab_error("out of memory");
                free(pk);
                lab_pcapng_read_close(r);
                return 2;
            }
            pk = q;
        }
        ck_pkt *p = &pk[n++];
        memset(p, 0, sizeof *p);
        p->ok = rec.linktype >= 0 &&
                tcps_decode(rec.linktype, rec.data, rec.caplen, rec.ts_ns, &p->g) == TCPS_DEC_OK;
        if (comments && rec.comment)
            for (const char *c = rec.comment; c && *c;) {
                const char *e = strchr(c, '\n');
                int len = e ? (int)(e - c) : (int)strlen(c);
                printf("packet %zu: %.*s\n", n, len, c);
                c = e ? e + 1 : NULL;
            }
        const char *cm = rec.comment;
        while (cm && *cm) {
            const char *e = strchr(cm, '\n');
            size_t len = e ? (size_t)(e - cm) : strlen(cm);
            tcps_lab_line l;
            if (tcps_lab_parse(cm, len, &l) == 0 && !strcmp(l.kind, "kernel") &&
                state_of(tcps_lab_get(&l, "client"), &p->k[0]) == 0 &&
                state_of(tcps_lab_get(&l, "server"), &p->k[1]) == 0) {
                p->have_kernel = 1;
                for (int s = 0; s < 2; s++) {
                    const char *tv = tcps_lab_get(&l, s ? "server.timer" : "client.timer");
                    snprintf(p->ktimer[s], sizeof p->ktimer[s], "%s", tv ? tv : "");
                }
            }
            cm = e ? e + 1 : NULL;
        }
    }
    lab_pcapng_read_close(r);
    int damaged = rc < 0;
    if (damaged) /* check what could be read */
        lab_error("warning: %s: %s (after %zu packets)", path, err, n);
    tcps_engine *E = tcps_engine_new(&cfg);
    if (!E) {
        lab_error("cannot create the engine");
        free(pk);
        return 2;
    }
    tcps_result res;
    if (!one_pass) {
        for (size_t i = 0; i < n; i++)
            if (pk[i].ok)
                tcps_engine_feed(E, &pk[i].g, &res);
        tcps_engine_begin_pass2(E);
    }
    size_t compared = 0, agreed = 0, nk = 0;
    uint64_t first = 0;
    int have_first = 0;
    if (all && !quiet)
        printf("#no\ttime\tdir\tflags\tseq\tack\tlen\tkernel_client\tkernel_server\tengine_client\t"
               "engine_server\tmatch\n");
    for (size_t i = 0; i < n; i++) {
        ck_pkt *p = &pk[i];
        if (!p->ok)
            continue;
        if (!have_first) {
            first = p->g.ts_ns;
            have_first = 1;
        }
        if (tcps_engine_feed(E, &p->g, &res) != 0)
            continue;
        compared++;
        if (!p->have_kernel) {
            if (all && !quiet)
                printf("%zu\t-\t-\t-\t-\t-\t-\t-\t-\t%s\t%s\tNOKERNEL\n", i + 1,
                       tcps_state_name(res.state[0]), tcps_state_name(res.state[1]));
            else if (!quiet)
                printf("packet %zu: no kernel comment\n", i + 1);
            continue;
        }
        nk++;
        int ok = agree(p->k[0], res.state[0]) && agree(p->k[1], res.state[1]);
        agreed += ok;
        char fl[9];
        static const char letters[] = "FSRPAUEC";
        int f = 0;
        for (int b = 0; b < 8; b++)
            if (p->g.flags & (1u << b))
                fl[f++] = letters[b];
        fl[f] = '\0';
        double t = (double)(p->g.ts_ns - first) / 1e9;
        if (all && !quiet)
            printf("%zu\t%.6f\t%s\t%s\t%u\t%u\t%u\t%s\t%s\t%s\t%s\t%s\n", i + 1, t,
                   res.from == TCPS_CLIENT ? "C>S" : "S>C", fl, p->g.seq, p->g.ack, p->g.len,
                   lab_state_name(p->k[0]), lab_state_name(p->k[1]), tcps_state_name(res.state[0]),
                   tcps_state_name(res.state[1]), ok ? "ok" : "DIFF");
        else if (!ok && !quiet)
            printf("packet %zu (%.6f s, %s %s seq=%u ack=%u len=%u): kernel client=%s server=%s, "
                   "engine client=%s server=%s\n",
                   i + 1, t, res.from == TCPS_CLIENT ? "C>S" : "S>C", fl, p->g.seq, p->g.ack,
                   p->g.len, lab_state_name(p->k[0]), lab_state_name(p->k[1]),
                   tcps_state_name(res.state[0]), tcps_state_name(res.state[1]));
    }
    tcps_engine_finish(E);
    tcps_engine_free(E);
    free(pk);
    if (!nk) {
        lab_error("%s: no packet carries a kernel comment", path);
        return 2;
    }
    double pct = 100.0 * (double)agreed / (double)compared;
    printf("%s: the engine (%s) agrees with the kernel on %zu of %zu packets (%.1f%%); "
           "threshold %.1f%%: %s\n",
           name, one_pass ? "one pass" : "two passes", agreed, compared, pct, threshold,
           pct + 1e-9 >= threshold ? "ok" : "BELOW");
    if (damaged)
        return 1;
    return pct + 1e-9 >= threshold ? 0 : 1;
}
