/* The lab <-> plugin comment format: build, parse, reject. */
#include <stdio.h>
#include <string.h>

#include "tcpstate/labcomment.h"
#include "tcpstate/tcpstate.h"

static int passed, failed;
#define CHECK(c, msg)                                                                         \
    do {                                                                                      \
        if (c)                                                                                \
            passed++;                                                                         \
        else {                                                                                \
            failed++;                                                                         \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, msg);                              \
        }                                                                                     \
    } while (0)

static int parses(const char *s)
{
    tcps_lab_line l;
    return tcps_lab_parse(s, strlen(s), &l) == 0;
}

int main(void)
{
    tcps_lab_writer w;
    tcps_lab_begin(&w, "kernel");
    tcps_lab_add(&w, "client", "FIN_WAIT_1");
    tcps_lab_add(&w, "client.timer", "on(0.20/1/0)");
    tcps_lab_add(&w, "desc", "say \"hi\" \\ there");
    tcps_lab_addf(&w, "t", "%.6f", 1.5);
    const char *txt = tcps_lab_text(&w);
    CHECK(txt && strcmp(txt, "tcpstate-lab/1 kernel client=FIN_WAIT_1 client.timer=on(0.20/1/0) "
                             "desc=\"say \\\"hi\\\" \\\\ there\" t=1.500000") == 0,
          "written text");
    tcps_lab_line l;
    CHECK(txt && tcps_lab_parse(txt, strlen(txt), &l) == 0, "parses back");
    CHECK(l.version == 1 && strcmp(l.kind, "kernel") == 0 && l.nkv == 4, "kind and count");
    CHECK(tcps_lab_get(&l, "client") && strcmp(tcps_lab_get(&l, "client"), "FIN_WAIT_1") == 0,
          "value");
    CHECK(tcps_lab_get(&l, "desc") && strcmp(tcps_lab_get(&l, "desc"), "say \"hi\" \\ there") == 0,
          "escapes round trip");
    CHECK(tcps_lab_get(&l, "server") == NULL, "absent key");
    /* parsing stops at the given length (a comment holds several lines) */
    const char *two = "tcpstate-lab/1 event what=close()\ntcpstate-lab/1 rule action=add";
    CHECK(tcps_lab_parse(two, strchr(two, '\n') - two, &l) == 0 && l.nkv == 1, "length bound");
    CHECK(!parses("hello world"), "other comments");
    CHECK(!parses("tcpstate-lab/ kernel"), "no version");
    CHECK(!parses("tcpstate-lab/1"), "no kind");
    CHECK(!parses("tcpstate-lab/1 kernel client"), "key without value");
    CHECK(!parses("tcpstate-lab/1 kernel a=\"unterminated"), "unterminated quote");
    CHECK(!parses("tcpstate-lab/1 kernel a=\"x\"y"), "junk after quote");
    CHECK(!parses("tcpstate-lab/1 kernel A=1"), "upper-case key");
    CHECK(!parses("tcpstate-lab/1 kernel a=b\"c"), "bare quote");
    CHECK(parses("tcpstate-lab/2 future x=1 y=2"), "later versions parse (readers check)");
    CHECK(parses("tcpstate-lab/1 kernel  client=X   server=Y "), "extra spaces");
    tcps_lab_begin(&w, "event");
    CHECK(tcps_lab_add(&w, "what", "a\nb") == -1, "newline refused");
    CHECK(tcps_lab_add(&w, "Bad", "x") == -1, "bad key refused");
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(tcps_lab_add(&w, "v", big) == -1, "value too long refused");
    tcps_lab_begin(&w, "event");
    for (int i = 0; i < 20; i++)
        tcps_lab_add(&w, "k", "0123456789012345678901234567890123456789012345678901234567890123456789"
                              "0123456789012345678901234567890123456789");
    CHECK(tcps_lab_text(&w) == NULL, "overflow reported");

    /* the profile an experiment ran with: kernel version, sysctls in the
     * kernel's units (seconds, microseconds) turned into the profile's */
    const char *exp = "tcpstate-lab/1 experiment name=x kernel=6.1.0-18-amd64 "
                      "sysctl.tcp_fin_timeout=3 sysctl.tcp_rto_min_us=50000 "
                      "sysctl.tcp_orphan_retries=2 sysctl.tcp_keepalive_probes=-1 "
                      "sysctl.tcp_syn_retries=abc";
    tcps_profile p = *tcps_profile_find("linux");
    unsigned ka = p.ka_probes, syn = p.syn_retries;
    CHECK(tcps_lab_parse(exp, strlen(exp), &l) == 0, "experiment line parses");
    CHECK(tcps_lab_profile(&l, &p, NULL, NULL) == 4, "kernel + three usable sysctls");
    CHECK(strcmp(p.name, "linux-pre-6.5") == 0, "a 6.1 kernel: the pre-6.5 profile");
    CHECK(p.fin_timeout_ms == 3000, "tcp_fin_timeout seconds -> ms");
    CHECK(p.rto_min_ms == 50, "tcp_rto_min_us -> ms");
    CHECK(p.orphan_retries == 2, "orphan retries");
    CHECK(p.ka_probes == ka && p.syn_retries == syn, "unusable values ignored");
    const char *exp2 = "tcpstate-lab/1 experiment name=y kernel=6.18.4";
    p = *tcps_profile_find("linux");
    CHECK(tcps_lab_parse(exp2, strlen(exp2), &l) == 0 && tcps_lab_profile(&l, &p, NULL, NULL) == 0 &&
              strcmp(p.name, "linux") == 0,
          "a 6.18 kernel keeps the profile");
    const char *kern = "tcpstate-lab/1 kernel client=CLOSED";
    CHECK(tcps_lab_parse(kern, strlen(kern), &l) == 0 && tcps_lab_profile(&l, &p, NULL, NULL) == -1,
          "not an experiment line");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
