/*
 * tcpstate-fuzz-seeds: write the engine fuzzer's seed corpus from scenario
 * files: NAME.1p (one-pass) and NAME.2p (two-pass) per scenario.
 *
 *   tcpstate-fuzz-seeds OUTDIR FILE.scn...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scn_convert.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tcpstate-fuzz-seeds OUTDIR FILE.scn...\n");
        return 2;
    }
    int n = 0;
    for (int i = 2; i < argc; i++) {
        scenario sc;
        char err[600];
        if (scn_load(argv[i], &sc, err, sizeof err)) {
            fprintf(stderr, "tcpstate-fuzz-seeds: %s\n", err);
            return 1;
        }
        const char *base = strrchr(argv[i], '/');
        base = base ? base + 1 : argv[i];
        for (int two = 0; two < 2; two++) {
            uint8_t *buf;
            size_t len;
            if (scn_to_fuzz(&sc, two, &buf, &len, err, sizeof err)) {
                fprintf(stderr, "tcpstate-fuzz-seeds: %s\n", err);
                scn_free(&sc);
                return 1;
            }
            char path[4096];
            snprintf(path, sizeof path, "%s/%.*s.%s", argv[1],
                     (int)(strlen(base) > 4 ? strlen(base) - 4 : strlen(base)), base, two ? "2p" : "1p");
            FILE *fp = fopen(path, "wb");
            if (!fp || fwrite(buf, 1, len, fp) != len || fclose(fp)) {
                fprintf(stderr, "tcpstate-fuzz-seeds: %s: %s\n", path, strerror(errno));
                free(buf);
                scn_free(&sc);
                return 1;
            }
            free(buf);
            n++;
        }
        scn_free(&sc);
    }
    printf("tcpstate-fuzz-seeds: %d inputs in %s\n", n, argv[1]);
    return 0;
}
