/* Scenario file -> engine fuzzer input (fuzz_input.h). */
#ifndef TCPSTATE_SCN_CONVERT_H
#define TCPSTATE_SCN_CONVERT_H

#include "fuzz_input.h"
#include "scenario.h"

/* Encode a loaded scenario in one-pass or two-pass mode; the bytes are
 * malloc'ed (*out).  0, or -1 with a message in err. */
int scn_to_fuzz(const scenario *sc, int two_pass, uint8_t **out, size_t *outlen, char *err,
                size_t errcap);

#endif
