/*
 * The floor for reading a capture: libpcap's own read loop and nothing else.
 *   pcap_loop FILE [PASSES]
 * Opens FILE with pcap_open_offline (nanosecond timestamps, as analyze does),
 * calls pcap_next_ex until the end, PASSES times (default 1; analyze reads
 * the file twice in its default two-pass mode), and prints the packets, the
 * captured bytes and a checksum over each packet's first and last byte and
 * timestamp, so that the loop cannot be optimised away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <pcap/pcap.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: pcap_loop FILE [PASSES]\n");
        return 2;
    }
    int passes = argc == 3 ? atoi(argv[2]) : 1;
    if (passes < 1) {
        fprintf(stderr, "pcap_loop: PASSES must be at least 1\n");
        return 2;
    }
    uint64_t packets = 0, bytes = 0, sum = 0;
    for (int p = 0; p < passes; p++) {
        char err[PCAP_ERRBUF_SIZE];
        pcap_t *pc = pcap_open_offline_with_tstamp_precision(argv[1], PCAP_TSTAMP_PRECISION_NANO,
                                                             err);
        if (!pc) {
            fprintf(stderr, "pcap_loop: %s: %s\n", argv[1], err);
            return 1;
        }
        struct pcap_pkthdr *h;
        const u_char *d;
        int rc;
        while ((rc = pcap_next_ex(pc, &h, &d)) == 1) {
            packets++;
            bytes += h->caplen;
            sum += (uint64_t)h->ts.tv_usec + (h->caplen ? d[0] + d[h->caplen - 1] : 0);
        }
        if (rc == -1) {
            fprintf(stderr, "pcap_loop: %s: %s\n", argv[1], pcap_geterr(pc));
            pcap_close(pc);
            return 1;
        }
        pcap_close(pc);
    }
    printf("%llu packets, %llu bytes (checksum %llu)\n", (unsigned long long)packets,
           (unsigned long long)bytes, (unsigned long long)sum);
    return 0;
}
