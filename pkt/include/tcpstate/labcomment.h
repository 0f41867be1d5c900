/*
 * The pcapng comment format tcpstate-lab writes and the plugin reads.
 * One line per fact; a comment may hold several lines ('\n').
 *
 *   tcpstate-lab/1 KIND key=value key="value with spaces" ...
 *
 * Values are bare (no spaces, quotes or backslashes) or double-quoted with
 * \" and \\ escapes.  Keys are [a-z0-9_.]+.  Unknown kinds and keys are
 * ignored by readers (forward compatible); the version after the slash
 * changes only for incompatible changes.
 *
 * Kinds:
 *   experiment  (section comment) name= desc= capture=client|server
 *               kernel= tool= ipv6=0|1 real_timers=0|1, sysctl.NAME=VALUE,
 *               rule= (nft text), iptables= (the documents' equivalent);
 *               again at the start of the first packet's comment with
 *               name= desc= capture= kernel= sysctl.* only (Wireshark 4.0
 *               does not show dissectors the section comment)
 *   kernel      (packet comment) the kernel's socket states right after this
 *               packet: client=STATE server=STATE, optional client.timer=
 *               server.timer= in netstat -o style ("on(0.20/1/0)",
 *               "keepalive(7.03/0/0)", "timewait(59.80/0/0)", "off"),
 *               t= (seconds, capture clock), src=diag|trace
 *   transition  (packet comment, on the next packet after it happened)
 *               t= side=client|server from=STATE to=STATE src=diag|trace
 *   event       t= side=client|server|lab what= (e.g. "close()",
 *               "shutdown(SHUT_WR)", "setsockopt(SO_LINGER,{1,0})")
 *   rule        t= action=add|delete text= (nft rule text)
 * STATE is a tcpstate state name (ESTABLISHED, FIN_WAIT_1, ..., CLOSED;
 * NONE when the socket does not exist yet).
 *
 * libc only.
 */
#ifndef TCPSTATE_LABCOMMENT_H
#define TCPSTATE_LABCOMMENT_H

#include <stddef.h>

#define TCPS_LAB_PREFIX "tcpstate-lab/"
#define TCPS_LAB_VERSION 1
#define TCPS_LAB_MAX_KV 32

typedef struct tcps_lab_kv {
    char key[32];
    char value[256];
} tcps_lab_kv;

typedef struct tcps_lab_line {
    int version;
    char kind[24];
    int nkv;
    tcps_lab_kv kv[TCPS_LAB_MAX_KV];
} tcps_lab_line;

/* Parse one line (without '\n').  Returns 0, or -1 if it is not a
 * tcpstate-lab line or is malformed (then *out is unusable). */
int tcps_lab_parse(const char *line, size_t len, tcps_lab_line *out);
/* The value of key, or NULL. */
const char *tcps_lab_get(const tcps_lab_line *l, const char *key);

/* Build a line: start with tcps_lab_begin, add pairs, read the text.
 * Values are quoted when needed.  Returns -1 when it would not fit. */
typedef struct tcps_lab_writer {
    char buf[2048];
    size_t len;
    int overflow;
} tcps_lab_writer;
void tcps_lab_begin(tcps_lab_writer *w, const char *kind);
int tcps_lab_add(tcps_lab_writer *w, const char *key, const char *value);
int tcps_lab_addf(tcps_lab_writer *w, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *tcps_lab_text(const tcps_lab_writer *w); /* NULL after overflow */

/* The stack profile an `experiment` line records: linux-pre-6.5 for a
 * kernel older than 6.5 (else *p is kept), then every sysctl.tcp_* value it
 * carries, converted to the profile's keys and units.  note (may be NULL)
 * is called for every value set.  Returns how many values were set, or -1
 * if the line is not an experiment line. */
struct tcps_profile;
int tcps_lab_profile(const tcps_lab_line *experiment, struct tcps_profile *p,
                     void (*note)(const char *key, const char *value, const char *from, void *u),
                     void *u);

#endif
