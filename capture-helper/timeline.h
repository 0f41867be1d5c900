/* tcpstate-lab run: what was recorded during one experiment, and the kernel
 * state timeline of both sides built from it (timeline.c). */
#ifndef TCPSTATE_LAB_TIMELINE_H
#define TCPSTATE_LAB_TIMELINE_H

#include <stdint.h>
#include <stdio.h>

#include "lab.h"

typedef struct lab_pkt {
    uint64_t t;
    uint8_t *data;
    uint32_t caplen, len;
    int8_t dir;        /* 0 client->server, 1 server->client, -1 not the lab connection */
    uint8_t flags;
    uint32_t seq, ack, plen;
    uint8_t rtx;       /* sends data, SYN or FIN already sent */
    uint8_t kaprobe;   /* zero-length ACK with seq = next - 1 */
    uint16_t copy;     /* SYN/FIN: 0 first transmission, 1.. retransmission */
    uint64_t gap;      /* since the previous copy */
} lab_pkt;

enum { NOTE_CALL, NOTE_EVENT, NOTE_RULE };
typedef struct lab_note {
    uint64_t t0, t1;   /* t1: end of the call */
    uint8_t side;      /* LAB_CLIENT, LAB_SERVER, LAB_LAB */
    uint8_t kind;      /* NOTE_* */
    uint8_t act;       /* lab_act of a call */
    uint8_t consumed;  /* a traced transition was attributed to this call */
    char *line;        /* the comment line */
    char *text;        /* the progress text */
} lab_note;

typedef struct lab_trev {
    uint64_t t;
    uint8_t side, oldk, newk;
} lab_trev;

typedef struct lab_drec {
    uint64_t tprev, tsend, trecv;
    uint8_t side;
    lab_diag_view v;
} lab_drec;

enum { SRC_TRACE, SRC_DIAG };
typedef struct lab_change {
    uint64_t t;
    long cause;        /* index of the packet that caused it, -1 if none */
    uint8_t from, to, src;
} lab_change;

typedef struct lab_timerrec {
    uint64_t t;
    uint8_t state;
    lab_sk sk;
} lab_timerrec;

typedef struct lab_side {
    lab_change *ch;
    size_t nch, capch;
    lab_timerrec *tr;
    size_t ntr, captr;
    uint8_t cur, had, listener;
    uint64_t last_t;
    int pending;          /* a traced ->CLOSE waits for sock_diag (timewait hand-over?) */
    uint64_t pc_t, pc_raw;
    long pc_cause;
    uint8_t pc_old;
    lab_drec proc;        /* last processed sock_diag record */
    int have_proc;
    lab_drec last;        /* last stored sock_diag record */
    int have_last;
    size_t rec_npkts, rec_nnotes; /* packets and notes at the last poll */
    uint64_t polls[256][2];       /* the last polls: request and answer times */
    size_t npolls;
    size_t icomment;      /* next change to put in a comment */
} lab_side;

typedef struct lab_tl {
    lab_pkt *pkts;
    size_t npkts, cappkts;
    lab_note *notes;
    size_t nnotes, capnotes;
    lab_trev *trevs;
    size_t ntrevs, captrevs;
    lab_drec *drecs;
    size_t ndrecs, capdrecs;
    lab_side side[2];
    /* processing */
    size_t inote, itrev, idrec, ipkt;
    uint64_t horizon;     /* everything up to here is processed */
    size_t written;       /* packets written */
    size_t inote_c;       /* next note to put in a comment */
    /* the lab connection */
    int ipv6;
    uint8_t addr[2][16];
    uint16_t port[2];
    int use_trace;
    /* output */
    lab_pcapng *w;
    int write_error;
    FILE *progress;       /* NULL: quiet */
    uint64_t t0;          /* experiment start (progress times) */
    /* capture counters */
    uint32_t nxt[2];
    int have_nxt[2];
    unsigned sent[2], retrans[2], kaprobes[2], finrtx[2], rsts[2];
    uint32_t ctl_seq[2];  /* last SYN/FIN sent, per direction */
    uint8_t ctl_flags[2];
    uint16_t ctl_copies[2];
    uint64_t ctl_t[2];
} lab_tl;

void tl_init(lab_tl *tl, int ipv6, uint16_t cport, uint16_t sport, int use_trace, FILE *progress,
             uint64_t t0);
void tl_free(lab_tl *tl);
void tl_add_packet(lab_tl *tl, uint64_t t, const uint8_t *data, uint32_t caplen, uint32_t len);
/* Adds a note; returns its index. */
size_t tl_add_note(lab_tl *tl, uint64_t t0, uint64_t t1, int side, int kind, int act,
                   const char *line, const char *text);
void tl_add_trace(lab_tl *tl, const lab_trace_ev *ev);
void tl_add_diag(lab_tl *tl, int side, uint64_t tsend, uint64_t trecv, const lab_diag_view *v);
/* The state the live view shows (for the experiment's waits). */
uint8_t tl_view_state(const lab_tl *tl, int side, const lab_diag_view *v);
void tl_process(lab_tl *tl, uint64_t horizon);
/* Write the packets whose answer is final (all of them when final). */
void tl_flush(lab_tl *tl, int final);
uint8_t tl_state_now(const lab_tl *tl, int side);

#endif
