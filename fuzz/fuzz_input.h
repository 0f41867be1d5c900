/*
 * The engine fuzzer's input encoding (fuzz/README.md): bytes -> engine
 * configuration and a list of operations (segments, time notes, API calls).
 * Shared by the libFuzzer harness, the replay driver and the scenario
 * converter.  libc only.
 */
#ifndef TCPSTATE_FUZZ_INPUT_H
#define TCPSTATE_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "tcpstate/tcpstate.h"

#define FZ_MAX_OPS 4096
#define FZ_NTUPLES 7
#define FZ_MAX_OVERRIDES 16

/* header byte 0 */
enum {
    FZ_H0_PROFILE = 0x03,   /* profile index (mod the number of profiles) */
    FZ_H0_TWO_PASS = 0x04,
    FZ_H0_MAXFLOWS = 0x38,  /* >> 3: index into fz_max_flows[] */
    FZ_H0_OVERRIDES = 0x40, /* a profile override block follows */
    FZ_H0_TUPLES = 0x80     /* a tuple block follows */
};
/* header byte 1: bits 0-5 CLOSE_WAIT warning (seconds), 6-7 ISN base */

/* record control byte */
enum {
    FZ_C_TUPLE = 0x07, /* 0..6 a tuple; 7: a command */
    FZ_C_DIR = 0x08,   /* 1: tuple's b -> a */
    FZ_C_TIME = 0x30,  /* >> 4: time mode */
    FZ_C_RAWSEQ = 0x40,/* 4-byte seq and ack follow (else two signed deltas) */
    FZ_C_OPTS = 0x80   /* TCP options follow */
};
enum { FZ_T_MS8, FZ_T_MS16, FZ_T_DS16, FZ_T_US32 };
/* command byte: 0xfc..0xff a burst, otherwise the byte mod 4 */
enum { FZ_CMD_ADVANCE, FZ_CMD_NOTE_TIME, FZ_CMD_BAD_AF, FZ_CMD_SUMMARY, FZ_CMD_BURST };

typedef enum { FZ_OP_SEG, FZ_OP_NOTE_TIME, FZ_OP_BAD_AF, FZ_OP_SUMMARY } fz_op_kind;

typedef struct fz_op {
    fz_op_kind kind;
    uint8_t tuple;       /* FZ_OP_SEG (a burst segment: its tuple, another port) */
    uint8_t burst;       /* FZ_OP_SEG: from a burst (not on the tuple's 4-tuple) */
    uint64_t ts;         /* FZ_OP_NOTE_TIME: the time noted */
    uint32_t id;         /* FZ_OP_SUMMARY: the flow id asked for */
    tcps_segment seg;    /* FZ_OP_SEG, FZ_OP_BAD_AF */
} fz_op;

typedef struct fz_tuple {
    uint8_t af;
    uint8_t addr[2][16];
    uint16_t port[2];
} fz_tuple;

typedef struct fz_program {
    tcps_config cfg;     /* on_flow_end/user left for the caller */
    fz_tuple tuples[FZ_NTUPLES];
    int ntuples;
    fz_op *ops;          /* FZ_MAX_OPS entries, owned */
    int nops;
} fz_program;

extern const size_t fz_max_flows[8];

/* Decode.  Never fails: unusable bytes end the list.  0, or -1 without
 * memory.  fz_free releases ops. */
int fz_decode(const uint8_t *data, size_t size, fz_program *p);
void fz_free(fz_program *p);
/* The tuple table's addresses: a.b.c.LAST / 2001:db8::LAST. */
void fz_tuple_addr(uint8_t af, uint8_t last, uint8_t out[16]);

/* ---- writing (the scenario converter) -------------------------------------- */
typedef struct fz_writer {
    uint8_t *buf;
    size_t len, cap;
    int err;
    uint64_t clock;               /* the decoder's clock */
    uint32_t nxt[FZ_NTUPLES][2];  /* the decoder's sequence model */
} fz_writer;

void fz_w_init(fz_writer *w);
void fz_w_free(fz_writer *w);
void fz_w_u8(fz_writer *w, uint8_t v);
void fz_w_u16(fz_writer *w, uint16_t v);
void fz_w_u32(fz_writer *w, uint32_t v);
/* Header: profile index, mode, max_flows index, close-wait seconds, ISN
 * base; then call fz_w_overrides / fz_w_tuples if the flags say so. */
void fz_w_header(fz_writer *w, unsigned profile, int two_pass, unsigned maxflows_idx,
                 int overrides, int tuples, unsigned cw_secs, unsigned isn_base);
/* A segment on tuple t (dir 0: a -> b) at absolute time ts (>= the clock),
 * written exactly (raw sequence numbers).  -1 if it cannot be encoded. */
int fz_w_segment(fz_writer *w, unsigned t, int dir, const tcps_segment *g);
/* Move the clock to ts and note it (tcps_engine_note_time). */
int fz_w_note_time(fz_writer *w, uint64_t ts);

#endif
