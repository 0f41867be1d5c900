/* tcpstate-lab: shared declarations of the subcommands and the lab pieces. */
#ifndef TCPSTATE_LAB_H
#define TCPSTATE_LAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Print "tcpstate-lab: MESSAGE" on stderr. */
void lab_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int lab_cmd_analyze(int argc, char **argv);
int lab_cmd_list(int argc, char **argv);
int lab_cmd_run(int argc, char **argv);
int lab_cmd_check(int argc, char **argv);

/* ---- common -------------------------------------------------------------- */
enum { LAB_CLIENT = 0, LAB_SERVER = 1, LAB_LAB = 2 };
#define LAB_SIDE_NAME(s) ((s) == LAB_CLIENT ? "client" : (s) == LAB_SERVER ? "server" : "lab")

/* A side's socket does not exist (yet): not a tcpstate state. */
#define LAB_ST_NONE 255
const char *lab_state_name(unsigned st); /* tcpstate names, "NONE" */
/* Kernel TCP_* state (1..12) to a tcpstate state; LAB_ST_NONE if unknown. */
unsigned lab_kstate(unsigned kernel_state);

uint64_t lab_now_ns(void);      /* CLOCK_REALTIME: the capture clock */
uint64_t lab_mono_ns(void);     /* CLOCK_MONOTONIC: the trace clock */

/* Fixed addresses of the lab (never anything else). */
#define LAB_ADDR4_CLIENT "10.77.0.1"
#define LAB_ADDR4_SERVER "10.77.0.2"
#define LAB_ADDR6_CLIENT "fd77::1"
#define LAB_ADDR6_SERVER "fd77::2"
#define LAB_SERVER_PORT 8080
#define LAB_IFNAME_CLIENT "veth-client"
#define LAB_IFNAME_SERVER "veth-server"

/* ---- experiments (experiments.c) ------------------------------------------ */
typedef enum {
    ACT_LISTEN,      /* server: socket, bind, listen */
    ACT_CONNECT,     /* client: new socket bound to the client port, non-blocking connect */
    ACT_ACCEPT,      /* server: accept the pending connection (waits) */
    ACT_SEND,        /* side: send arg bytes */
    ACT_CLOSE,       /* side: close() the connection socket (arg 1: right after a
                        timer tick) */
    ACT_SHUT_WR,     /* side: shutdown(SHUT_WR) */
    ACT_LINGER0,     /* side: setsockopt(SO_LINGER, {1, 0}) */
    ACT_KEEPALIVE,   /* side: setsockopt(SO_KEEPALIVE, 1) */
    ACT_NOREAD,      /* side: stop reading what arrives */
    ACT_RULE_ADD,    /* lab: add rule number arg */
    ACT_RULE_DEL,    /* lab: delete rule number arg */
    ACT_SLEEP,       /* lab: wait delay only */
    ACT_WAIT_STATE,  /* side: wait until the kernel shows state arg for the side's socket */
    ACT_WAIT_GONE,   /* side: wait until the side's socket is gone (kernel) */
    ACT_WAIT_EOF,    /* side: wait until the application read end of file */
    ACT_WAIT_ERROR,  /* side: wait until the socket reports an error (errno in the log) */
    ACT_WAIT_KAPROBES, /* side: wait until arg keepalive probes from side were captured */
    ACT_WAIT_FINRTX, /* side: wait until arg retransmitted FINs from side were captured */
    ACT_WAIT_RST,    /* side: wait until a RST from side was captured */
    ACT_END
} lab_act;

typedef struct lab_step {
    uint32_t delay_ms; /* after the previous step completed */
    uint8_t side;      /* LAB_CLIENT, LAB_SERVER, LAB_LAB */
    uint8_t act;       /* lab_act */
    int arg;
    uint32_t timeout_ms; /* waits (scaled timers; --real-timers lifts it) */
} lab_step;

typedef struct lab_rule {
    uint8_t side;          /* namespace holding the rule */
    const char *hook;      /* "input" */
    const char *match;     /* nft match, {S} = server port, {C} = client port */
    const char *iptables;  /* the documents' equivalent, same placeholders */
} lab_rule;

typedef struct lab_sysctl {
    const char *name;  /* under /proc/sys/net/ipv4 */
    const char *value;
    int timer;         /* 1: timer scaling, left at the default with --real-timers */
} lab_sysctl;

#define LAB_MAX_RULES 4
#define LAB_MAX_SYSCTLS 12
#define LAB_MAX_STEPS 40

typedef struct lab_experiment {
    const char *name;
    const char *desc;           /* one line */
    const char *about;          /* a paragraph: what to look at */
    int capture_at;             /* default capture point */
    lab_sysctl sysctls[LAB_MAX_SYSCTLS];
    lab_rule rules[LAB_MAX_RULES];
    lab_step steps[LAB_MAX_STEPS];
} lab_experiment;

size_t lab_experiment_count(void);
const lab_experiment *lab_experiment_at(size_t i);
const lab_experiment *lab_experiment_find(const char *name);
void lab_experiment_list(FILE *fp);
/* The sysctls recorded in every capture (the values the engine needs). */
extern const char *const lab_recorded_sysctls[];

/* ---- namespaces and veth (netns.c) ---------------------------------------- */
typedef struct lab_ns {
    int host_fd;    /* the namespace the helper started in */
    int fd[2];      /* client, server */
    dev_t dev[2];
    ino_t ino[2];
    int ifindex[2];
} lab_ns;

/* Two new network namespaces (unshare: they vanish with the process).  The
 * calling thread ends in the host namespace. */
int lab_ns_create(lab_ns *n, char *err, size_t cap);
/* Move the calling thread into side's namespace, and check it is there. */
int lab_ns_enter(const lab_ns *n, int side);
void lab_ns_leave(const lab_ns *n);
void lab_ns_destroy(lab_ns *n);
/* veth pair, addresses, links up. */
int lab_ns_link(lab_ns *n, int ipv6, char *err, size_t cap);
/* /proc/sys/net/ipv4/NAME inside side's namespace. */
int lab_ns_sysctl_set(const lab_ns *n, int side, const char *name, const char *value);
int lab_ns_sysctl_get(const lab_ns *n, int side, const char *name, char *out, size_t cap);
/* Any /proc/sys path under net/ (inside side's namespace). */
int lab_ns_proc_write(const lab_ns *n, int side, const char *path, const char *value);

/* ---- running without root (userns.c) --------------------------------------- */
/* Become root of a new user namespace (own uid/gid mapped to 0) in a new
 * network namespace it owns.  0, or -1 with the failing call and errno in
 * err. */
int lab_userns_enter(char *err, size_t cap);

/* ---- nftables (nft.c) ------------------------------------------------------ */
typedef struct lab_nft lab_nft;
lab_nft *lab_nft_new(const lab_ns *n, char *err, size_t cap);
/* Rule number id of rule r in its namespace; text is the nft match. */
int lab_nft_add(lab_nft *f, int id, int side, const char *hook, const char *match, char *err,
                size_t cap);
int lab_nft_del(lab_nft *f, int id, int side, char *err, size_t cap);
void lab_nft_free(lab_nft *f); /* deletes the lab's table in both namespaces */

/* ---- sock_diag (diag.c) ---------------------------------------------------- */
enum { SK_NONE = 0, SK_FULL, SK_REQ, SK_TW };
typedef struct lab_sk {
    uint8_t kind;      /* SK_* */
    uint8_t kstate;    /* kernel TCP_* state (tw: substate) */
    uint8_t timer;     /* idiag_timer */
    uint8_t retrans;   /* retransmissions of the timer's segment */
    uint8_t probes;    /* keepalive / window probes sent */
    uint32_t expires_ms;
    uint32_t rqueue, wqueue;
} lab_sk;
typedef struct lab_diag_view {
    lab_sk conn;       /* the lab connection's socket on this side */
    uint8_t listener;  /* server: a listener on the server port */
} lab_diag_view;
typedef struct lab_diag lab_diag;
lab_diag *lab_diag_open(const lab_ns *n, int side, int family);
/* One dump; fills *v for the connection local:lport <-> rport. */
int lab_diag_poll(lab_diag *d, uint16_t lport, uint16_t rport, lab_diag_view *v);
void lab_diag_close(lab_diag *d);
/* netstat -o style timer text: "on(0.20/1/0)", "off". */
void lab_timer_text(const lab_sk *s, int64_t elapsed_ms, char *out, size_t cap);

/* ---- tracefs (trace.c) ----------------------------------------------------- */
typedef struct lab_trace_ev {
    uint64_t t;        /* realtime ns */
    uint16_t sport, dport;
    uint8_t family;    /* 4 or 6 */
    uint8_t saddr[16], daddr[16];
    uint8_t oldstate, newstate; /* kernel TCP_* */
} lab_trace_ev;
typedef struct lab_trace lab_trace;
/* NULL (with a warning in warn) when tracefs cannot be used.  *client_port
 * may be changed to one no other live run's instance filters on. */
lab_trace *lab_trace_open(uint16_t *client_port, char *warn, size_t cap);
/* Reads what is pending; calls fn for each event. */
int lab_trace_read(lab_trace *t, void (*fn)(const lab_trace_ev *, void *), void *user);
const char *lab_trace_instance(const lab_trace *t);
void lab_trace_close(lab_trace *t);   /* removes the instance */

/* ---- pcapng (pcapng.c) ----------------------------------------------------- */
typedef struct lab_pcapng lab_pcapng;
void lab_wtap_init(void);
/* fd: already opened for writing (so an unwritable path fails early). */
lab_pcapng *lab_pcapng_open(int fd, const char *path, const char *shb_comment,
                            const char *ifname, const char *os, char *err, size_t cap);
int lab_pcapng_write(lab_pcapng *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                     uint32_t len, const char *comment);
int lab_pcapng_flush(lab_pcapng *w); /* what was written is on disk, complete */
int lab_pcapng_close(lab_pcapng *w, char *err, size_t cap);

/* Reader: section comment and the records (Ethernet/raw frames + comment). */
typedef struct lab_pcapng_rec {
    uint64_t ts_ns;
    int linktype;         /* LINKTYPE_* */
    const uint8_t *data;
    uint32_t caplen;
    char *comment;        /* all comments joined by '\n' (malloc'ed, or NULL) */
} lab_pcapng_rec;
typedef struct lab_pcapng_reader lab_pcapng_reader;
lab_pcapng_reader *lab_pcapng_read_open(const char *path, char *err, size_t cap);
const char *lab_pcapng_section_comment(lab_pcapng_reader *r); /* "" if none */
/* 1 record, 0 end, -1 error (message in err). */
int lab_pcapng_read_next(lab_pcapng_reader *r, lab_pcapng_rec *rec, char *err, size_t cap);
void lab_pcapng_read_close(lab_pcapng_reader *r);

#endif
