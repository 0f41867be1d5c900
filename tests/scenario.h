/* Scenario files (tests/scenarios/README.md): parser shared by the scenario
 * runner and the capture generator.  libc only. */
#ifndef TCPSTATE_SCENARIO_H
#define TCPSTATE_SCENARIO_H

#include <stddef.h>

#include "tcpstate/tcpstate.h"

enum { SCN_BOTH = 3, SCN_ONE = 1, SCN_TWO = 2 };

typedef struct scn_expect {
    int pkt;       /* packet index, or -1 for a final line */
    int modes;     /* SCN_ONE | SCN_TWO */
    int line;
    int flow;      /* final: flow index (0 default) */
    int conn;      /* final: connection number (0 = the last one) */
    char key[32];
    char value[64];
} scn_expect;

typedef struct scn_flow {
    char name[32];
    uint8_t af;
    uint8_t addr[2][16]; /* client, server */
    uint16_t port[2];
} scn_flow;

typedef struct scn_packet {
    tcps_segment seg;
    int flow;
    int line;
} scn_packet;

typedef struct scenario {
    char path[512];
    char name[160];
    tcps_profile profile;
    scn_flow flows[16];
    int nflows;
    scn_packet *pkts;
    int npkts;
    scn_expect *exp;
    int nexp;
    double end;     /* capture end, seconds (<0: last packet) */
} scenario;

/* Parse a file.  Returns 0, or -1 with a "file:line: message" in err. */
int scn_load(const char *path, scenario *s, char *err, size_t errcap);
void scn_free(scenario *s);

#endif
