/* tcpstate-lab: shared declarations of the subcommands. */
#ifndef TCPSTATE_LAB_H
#define TCPSTATE_LAB_H

/* Print "tcpstate-lab: MESSAGE" on stderr. */
void lab_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int lab_cmd_analyze(int argc, char **argv);

#endif
