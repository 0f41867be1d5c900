/* tcpstate-lab: a thin main over a command table. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lab.h"
#include "tcpstate/tcpstate.h"

void lab_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("tcpstate-lab: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#ifdef TCPSTATE_LAB_FULL
const char *lab_state_name(unsigned st)
{
    return st == LAB_ST_NONE ? "NONE" : tcps_state_name(st);
}

unsigned lab_kstate(unsigned k)
{
    static const unsigned map[] = {
        LAB_ST_NONE,        TCPS_ST_ESTABLISHED, TCPS_ST_SYN_SENT,  TCPS_ST_SYN_RECV,
        TCPS_ST_FIN_WAIT_1, TCPS_ST_FIN_WAIT_2,  TCPS_ST_TIME_WAIT, TCPS_ST_CLOSED,
        TCPS_ST_CLOSE_WAIT, TCPS_ST_LAST_ACK,    TCPS_ST_LISTEN,    TCPS_ST_CLOSING,
        TCPS_ST_SYN_RECV /* NEW_SYN_RECV: a pending request */};
    return k < sizeof map / sizeof map[0] ? map[k] : LAB_ST_NONE;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t lab_now_ns(void) { return clock_ns(CLOCK_REALTIME); }
uint64_t lab_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

int lab_cmd_list(int argc, char **argv)
{
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: tcpstate-lab list [-v]\n"
                   "The experiments 'tcpstate-lab run' knows, one line each.\n"
                   "  -v, --verbose   also what each one shows, its sysctls and rules\n");
            return 0;
        }
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbose = 1;
            continue;
        }
        lab_error("list: unknown argument '%s' (see tcpstate-lab list --help)", argv[i]);
        return 2;
    }
    if (!verbose) {
        lab_experiment_list(stdout);
        return 0;
    }
    for (size_t i = 0; i < lab_experiment_count(); i++) {
        const lab_experiment *x = lab_experiment_at(i);
        printf("%s\n  %s\n  %s\n", x->name, x->desc, x->about);
        for (int k = 0; k < LAB_MAX_SYSCTLS && x->sysctls[k].name; k++)
            printf("  sysctl net.ipv4.%s=%s\n", x->sysctls[k].name, x->sysctls[k].value);
        for (int k = 0; k < LAB_MAX_RULES && x->rules[k].match; k++)
            printf("  rule (%s, %s): %s\n", LAB_SIDE_NAME(x->rules[k].side), x->rules[k].hook,
                   x->rules[k].match);
        printf("\n");
    }
    return 0;
}

#endif

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
#ifdef TCPSTATE_LAB_FULL
    {"list", lab_cmd_list, "the experiments, one line each"},
    {"run", lab_cmd_run, "run an experiment (or --all) and write a commented pcapng (root)"},
#endif
    {"analyze", lab_cmd_analyze, "infer endpoint states for every packet of a capture"},
#ifdef TCPSTATE_LAB_FULL
    {"check", lab_cmd_check, "compare the engine with the kernel states recorded by run"},
#endif
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: tcpstate-lab COMMAND [options]   (tcpstate %s)\n\ncommands:\n", TCPS_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(fp, "\n'tcpstate-lab COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tcpstate-lab %s\n", TCPS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    lab_error("unknown command '%s' (see tcpstate-lab --help)", argv[1]);
    return 2;
}
