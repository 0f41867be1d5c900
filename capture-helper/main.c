/* tcpstate-lab: a thin main over a command table. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "tcpstate/tcpstate.h"

void lab_error(const char *fmt, ...)
{
    va_list ap;
    fputs("tcpstate-lab: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"analyze", lab_cmd_analyze, "infer endpoint states for every packet of a capture"},
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
