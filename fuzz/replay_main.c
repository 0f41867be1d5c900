/*
 * tcpstate-fuzz-replay: run the engine fuzzer's harness over given inputs
 * without libFuzzer (any compiler; CTest runs it under the normal and the
 * ASan/UBSan builds).
 *
 *   tcpstate-fuzz-replay [-v] [--mutate N] PATH...
 *
 * PATH: a fuzz input, a scenario file (*.scn: converted, in one-pass and in
 * two-pass mode), or a directory of them (README* and dot files skipped).
 * --mutate N: also N deterministic mutations of every input (byte changes,
 * insertions, deletions, copied runs).  -v prints every answer.  --last
 * FILE: each input is written to FILE before it runs (removed at the end if
 * all passed): after a failure FILE holds the input that failed.
 * Exit 0 when every input passed; a violated invariant aborts.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scn_convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int fz_verbose;

static unsigned long runs, mutate;
static const char *last_path;

static void run_input(const uint8_t *d, size_t n)
{
    if (last_path) {
        FILE *fp = fopen(last_path, "wb");
        if (!fp || fwrite(d, 1, n, fp) != n || fclose(fp)) {
            fprintf(stderr, "tcpstate-fuzz-replay: %s: %s\n", last_path, strerror(errno));
            exit(1);
        }
    }
    LLVMFuzzerTestOneInput(d, n);
    runs++;
}
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void run_one(const char *name, const uint8_t *d, size_t n)
{
    if (fz_verbose)
        printf("== %s (%zu bytes)\n", name, n);
    run_input(d, n);
    if (!mutate)
        return;
    size_t cap = n + 64;
    uint8_t *m = malloc(cap);
    if (!m) {
        fprintf(stderr, "tcpstate-fuzz-replay: out of memory\n");
        exit(1);
    }
    for (unsigned long k = 0; k < mutate; k++) {
        size_t len = n;
        memcpy(m, d, n);
        int edits = 1 + (int)(rnd() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? (size_t)(rnd() % len) : 0;
            switch (rnd() % 5) {
            case 0: /* change a byte */
            case 1:
                if (len)
                    m[at] = (rnd() & 1) ? (uint8_t)rnd() : (uint8_t)(m[at] ^ (1u << (rnd() % 8)));
                break;
            case 2: /* insert a byte */
                if (len < cap) {
                    memmove(m + at + 1, m + at, len - at);
                    m[at] = (uint8_t)rnd();
                    len++;
                }
                break;
            case 3: /* delete a run */
                if (len) {
                    size_t r = 1 + (size_t)(rnd() % 8);
                    if (r > len - at)
                        r = len - at;
                    memmove(m + at, m + at + r, len - at - r);
                    len -= r;
                }
                break;
            default: /* copy a run over another place */
                if (len > 2) {
                    size_t from = (size_t)(rnd() % len), r = 1 + (size_t)(rnd() % 16);
                    if (r > len - from)
                        r = len - from;
                    if (r > len - at)
                        r = len - at;
                    memmove(m + at, m + from, r);
                }
                break;
            }
        }
        if (fz_verbose)
            printf("== %s mutation %lu\n", name, k);
        run_input(m, len);
    }
    free(m);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "tcpstate-fuzz-replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        struct dirent **ents;
        int n = scandir(path, &ents, NULL, alphasort);
        if (n < 0) {
            fprintf(stderr, "tcpstate-fuzz-replay: %s: %s\n", path, strerror(errno));
            return -1;
        }
        int rc = 0;
        for (int i = 0; i < n; i++) {
            const char *nm = ents[i]->d_name;
            if (nm[0] != '.' && strncmp(nm, "README", 6) != 0) {
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, nm);
                if (run_path(sub))
                    rc = -1;
            }
            free(ents[i]);
        }
        free(ents);
        return rc;
    }
    if (ends_with(path, ".scn")) {
        scenario sc;
        char err[600];
        if (scn_load(path, &sc, err, sizeof err)) {
            fprintf(stderr, "tcpstate-fuzz-replay: %s\n", err);
            return -1;
        }
        for (int two = 0; two < 2; two++) {
            uint8_t *buf;
            size_t len;
            if (scn_to_fuzz(&sc, two, &buf, &len, err, sizeof err)) {
                fprintf(stderr, "tcpstate-fuzz-replay: %s\n", err);
                scn_free(&sc);
                return -1;
            }
            run_one(path, buf, len);
            free(buf);
        }
        scn_free(&sc);
        return 0;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "tcpstate-fuzz-replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, fp) : 0;
    fclose(fp);
    if (!buf || n != (size_t)st.st_size) {
        fprintf(stderr, "tcpstate-fuzz-replay: %s: cannot read\n", path);
        free(buf);
        return -1;
    }
    run_one(path, buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1, rc = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-v")) {
            fz_verbose = 1;
            setvbuf(stdout, NULL, _IOLBF, 0);
        } else if (!strcmp(argv[i], "--last") && i + 1 < argc) {
            last_path = argv[++i];
        } else if (!strcmp(argv[i], "--mutate") && i + 1 < argc) {
            char *end;
            mutate = strtoul(argv[++i], &end, 10);
            if (*end) {
                fprintf(stderr, "tcpstate-fuzz-replay: --mutate takes a number\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: tcpstate-fuzz-replay [-v] [--mutate N] [--last FILE] PATH...\n");
            return 2;
        }
    }
    if (i == argc) {
        fprintf(stderr, "usage: tcpstate-fuzz-replay [-v] [--mutate N] PATH...\n");
        return 2;
    }
    for (; i < argc; i++)
        if (run_path(argv[i]))
            rc = 1;
    if (last_path && !rc)
        remove(last_path);
    printf("tcpstate-fuzz-replay: %lu inputs, no invariant violated\n", runs);
    return rc;
}
