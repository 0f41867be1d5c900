/*
 * Engine benchmark: a generated capture of N segments over F interleaved
 * connections (handshake, data both ways, 4-packet close), replayed in
 * memory.  Reports the engine's segments per second next to a baseline
 * measured in the same run over the same segments (a plain loop that reads
 * every segment and hashes its 4-tuple), the ratio, and the engine's bytes
 * per live connection.
 *   bench_engine [--flows F] [--segments N] [--two-pass] [--repeat R]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcpstate/tcpstate.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* Segments of one connection, in order. */
static size_t gen_flow(tcps_segment *out, uint32_t i, int nseg, uint64_t t0)
{
    tcps_segment base;
    memset(&base, 0, sizeof base);
    base.af = 4;
    uint32_t cli = 0x0a000000u | (i & 0xffffff), srv = 0x0a800000u | (i % 251);
    memcpy(base.src, &cli, 4);
    memcpy(base.dst, &srv, 4);
    base.sport = (uint16_t)(1024 + i % 60000);
    base.dport = 80;
    base.window = 502;
    uint32_t cs = rnd(), ss = rnd();
    int k = 0;
    uint64_t t = t0;
#define SEG(c2s, fl, sq, ak, ln)                                                              \
    do {                                                                                      \
        tcps_segment *g = &out[k++];                                                          \
        *g = base;                                                                            \
        if (!(c2s)) {                                                                         \
            memcpy(g->src, &srv, 4);                                                          \
            memcpy(g->dst, &cli, 4);                                                          \
            g->sport = base.dport;                                                            \
            g->dport = base.sport;                                                            \
        }                                                                                     \
        g->flags = (fl);                                                                      \
        g->seq = (sq);                                                                        \
        g->ack = (ak);                                                                        \
        g->len = (ln);                                                                        \
        g->ts_ns = t;                                                                         \
        t += 100000;                                                                          \
    } while (0)
    SEG(1, TCPS_F_SYN, cs, 0, 0);
    SEG(0, TCPS_F_SYN | TCPS_F_ACK, ss, cs + 1, 0);
    SEG(1, TCPS_F_ACK, cs + 1, ss + 1, 0);
    uint32_t c = cs + 1, s = ss + 1;
    int data = nseg - 7;
    for (int d = 0; d < data; d++) {
        if (d % 2 == 0) {
            SEG(1, TCPS_F_ACK | TCPS_F_PSH, c, s, 100);
            c += 100;
        } else {
            SEG(0, TCPS_F_ACK | TCPS_F_PSH, s, c, 1000);
            s += 1000;
        }
    }
    SEG(1, TCPS_F_FIN | TCPS_F_ACK, c, s, 0);
    SEG(0, TCPS_F_ACK, s, c + 1, 0);
    SEG(0, TCPS_F_FIN | TCPS_F_ACK, s, c + 1, 0);
    SEG(1, TCPS_F_ACK, c + 1, s + 1, 0);
#undef SEG
    return (size_t)k;
}

int main(int argc, char **argv)
{
    size_t flows = 100000, segs = 1000000;
    int two_pass = 0, repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--flows") && i + 1 < argc)
            flows = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--segments") && i + 1 < argc)
            segs = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--two-pass"))
            two_pass = 1;
        else {
            fprintf(stderr, "usage: bench_engine [--flows F] [--segments N] [--two-pass] [--repeat R]\n");
            return 2;
        }
    }
    if (flows == 0 || segs < flows * 8 || repeat < 1) {
        fprintf(stderr, "bench_engine: need at least 8 segments per flow\n");
        return 2;
    }
    int per = (int)(segs / flows);
    size_t total = (size_t)per * flows;
    /* generate per flow, then interleave round-robin: every connection is
     * live at once, the hardest case for the flow table */
    tcps_segment *byflow = malloc(total * sizeof *byflow);
    tcps_segment *cap = malloc(total * sizeof *cap);
    if (!byflow || !cap) {
        fprintf(stderr, "bench_engine: out of memory\n");
        return 1;
    }
    for (size_t f = 0; f < flows; f++)
        gen_flow(byflow + f * (size_t)per, (uint32_t)f, per, (uint64_t)f * 1000);
    size_t k = 0;
    for (int j = 0; j < per; j++)
        for (size_t f = 0; f < flows; f++) {
            cap[k] = byflow[f * (size_t)per + (size_t)j];
            cap[k].ts_ns = 1000000000ull + (uint64_t)k * 1000;
            k++;
        }
    free(byflow);

    double best_base = 1e30, best_eng = 1e30;
    size_t peak = 0, live_max = 0;
    uint64_t sink = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < total; i++) {
            const tcps_segment *g = &cap[i];
            uint32_t a, b;
            memcpy(&a, g->src, 4);
            memcpy(&b, g->dst, 4);
            uint64_t h = ((uint64_t)(a ^ b) << 16 ^ (uint64_t)(g->sport ^ g->dport)) *
                         0x9e3779b97f4a7c15ull;
            sink += (h >> 40) + g->seq + g->ack + g->len + g->flags + g->ts_ns;
        }
        double t1 = now_s();
        if (t1 - t0 < best_base)
            best_base = t1 - t0;

        tcps_config cfg;
        tcps_config_default(&cfg);
        cfg.two_pass = two_pass;
        cfg.max_flows = flows * 2;
        tcps_engine *E = tcps_engine_new(&cfg);
        tcps_result res;
        double t2 = now_s();
        for (int pass = 0; pass < (two_pass ? 2 : 1); pass++) {
            if (pass)
                tcps_engine_begin_pass2(E);
            for (size_t i = 0; i < total; i++) {
                tcps_engine_feed(E, &cap[i], &res);
                sink += res.state[0];
                if ((i & 0xffff) == 0 && tcps_engine_live_flows(E) > live_max)
                    live_max = tcps_engine_live_flows(E);
            }
        }
        tcps_engine_finish(E);
        double t3 = now_s();
        if (t3 - t2 < best_eng)
            best_eng = t3 - t2;
        if (tcps_engine_peak_memory(E) > peak)
            peak = tcps_engine_peak_memory(E);
        tcps_engine_free(E);
    }
    double passes = two_pass ? 2.0 : 1.0;
    double base_rate = (double)total / best_base, eng_rate = (double)total * passes / best_eng;
    printf("segments        %zu over %zu interleaved connections (%s)\n", total, flows,
           two_pass ? "two-pass" : "one-pass");
    printf("baseline loop   %.1f M segments/s\n", base_rate / 1e6);
    printf("engine          %.1f M segments/s\n", eng_rate / 1e6);
    printf("ratio           %.2f (baseline time / engine time per segment)\n",
           base_rate / eng_rate);
    printf("memory          %.0f bytes per connection (peak %zu bytes, %zu live; struct %zu)\n",
           live_max ? (double)peak / (double)live_max : 0.0, peak, live_max, tcps_flow_bytes());
    fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);
    free(cap);
    return 0;
}
