/*
 * pcapng with libwiretap: a section comment (the experiment), one interface
 * (the veth end where the capture was made) and packets with comments.
 * libpcap 1.10 cannot write comments; libwiretap can.  Reading goes through
 * libwiretap as well, since libpcap does not return comments.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wireshark.h>
#include <wiretap/wtap.h>
#include <wsutil/buffer.h>
#include <wsutil/wslog.h>

#include "lab.h"
#include "tcpstate/labcomment.h"
#include "tcpstate/tcpstate.h"

struct lab_pcapng {
    wtap_dumper *d;
    GArray *shbs;
    wtapng_iface_descriptions_t *idb_inf;
    int fd;
    char *first; /* the experiment line again, on the first packet */
};

void lab_wtap_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    ws_log_init("tcpstate-lab", NULL);
    ws_log_set_level(LOG_LEVEL_CRITICAL);
    wtap_init(FALSE);
}

static void wtap_err(char *err, size_t cap, const char *what, int code, gchar *info)
{
    snprintf(err, cap, "%s: %s%s%s", what, wtap_strerror(code), info ? ": " : "", info ? info : "");
    g_free(info);
}

lab_pcapng *lab_pcapng_open(int fd, const char *path, const char *shb_comment,
                            const char *ifname, const char *os, char *err, size_t cap)
{
    lab_wtap_init();
    lab_pcapng *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    w->fd = fd;
    wtap_dump_params p = WTAP_DUMP_PARAMS_INIT;
    p.encap = WTAP_ENCAP_ETHERNET;
    p.snaplen = 262144;
    p.tsprec = WTAP_TSPREC_NSEC;
    w->shbs = g_array_new(FALSE, FALSE, sizeof(wtap_block_t));
    wtap_block_t shb = wtap_block_create(WTAP_BLOCK_SECTION);
    wtap_block_add_string_option(shb, OPT_COMMENT, shb_comment, strlen(shb_comment));
    char appl[64];
    snprintf(appl, sizeof appl, "tcpstate-lab %s", TCPS_VERSION);
    wtap_block_add_string_option(shb, OPT_SHB_USERAPPL, appl, strlen(appl));
    if (os)
        wtap_block_add_string_option(shb, OPT_SHB_OS, os, strlen(os));
    g_array_append_val(w->shbs, shb);
    /* Wireshark 4.0 does not give dissectors the section comment: the
     * first packet's comment names the experiment too, with what the
     * plugin needs to use the same stack values (kernel, sysctls) */
    tcps_lab_line *l = malloc(sizeof *l);
    if (l && tcps_lab_parse(shb_comment, strlen(shb_comment), l) == 0 &&
        strcmp(l->kind, "experiment") == 0) {
        tcps_lab_writer lw;
        tcps_lab_begin(&lw, "experiment");
        for (int i = 0; i < l->nkv; i++) {
            const char *k = l->kv[i].key;
            if (!strcmp(k, "name") || !strcmp(k, "desc") || !strcmp(k, "capture") ||
                !strcmp(k, "kernel") || !strncmp(k, "sysctl.", 7))
                tcps_lab_add(&lw, k, l->kv[i].value);
        }
        const char *t = tcps_lab_text(&lw);
        if (t)
            w->first = strdup(t);
    }
    free(l);
    p.shb_hdrs = w->shbs;
    w->idb_inf = g_new0(wtapng_iface_descriptions_t, 1);
    w->idb_inf->interface_data = g_array_new(FALSE, FALSE, sizeof(wtap_block_t));
    wtap_block_t idb = wtap_block_create(WTAP_BLOCK_IF_ID_AND_INFO);
    wtapng_if_descr_mandatory_t *m = wtap_block_get_mandatory_data(idb);
    m->wtap_encap = WTAP_ENCAP_ETHERNET;
    m->time_units_per_second = 1000000000;
    m->tsprecision = WTAP_TSPREC_NSEC;
    m->snap_len = 262144;
    wtap_block_add_string_option(idb, OPT_IDB_NAME, ifname, strlen(ifname));
    wtap_block_add_uint8_option(idb, OPT_IDB_TSRESOL, 9);
    g_array_append_val(w->idb_inf->interface_data, idb);
    p.idb_inf = w->idb_inf;
    int e = 0;
    gchar *info = NULL;
    w->d = wtap_dump_fdopen(fd, wtap_pcapng_file_type_subtype(), WTAP_UNCOMPRESSED, &p, &e, &info);
    if (!w->d) {
        char what[600];
        snprintf(what, sizeof what, "cannot write %s", path);
        wtap_err(err, cap, what, e, info);
        lab_pcapng_close(w, NULL, 0);
        return NULL;
    }
    return w;
}

int lab_pcapng_write(lab_pcapng *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                     uint32_t len, const char *comment)
{
    wtap_rec rec;
    wtap_rec_init(&rec);
    rec.rec_type = REC_TYPE_PACKET;
    rec.presence_flags = WTAP_HAS_TS | WTAP_HAS_CAP_LEN | WTAP_HAS_INTERFACE_ID;
    rec.ts.secs = (time_t)(ts_ns / 1000000000ull);
    rec.ts.nsecs = (int)(ts_ns % 1000000000ull);
    rec.tsprec = WTAP_TSPREC_NSEC;
    rec.rec_header.packet_header.caplen = caplen;
    rec.rec_header.packet_header.len = len < caplen ? caplen : len;
    rec.rec_header.packet_header.pkt_encap = WTAP_ENCAP_ETHERNET;
    rec.rec_header.packet_header.interface_id = 0;
    rec.block = wtap_block_create(WTAP_BLOCK_PACKET);
    char *joined = NULL;
    if (w->first) {
        size_t a = strlen(w->first), b = comment ? strlen(comment) : 0;
        joined = malloc(a + b + 2);
        if (joined) {
            memcpy(joined, w->first, a);
            if (b) {
                joined[a] = '\n';
                memcpy(joined + a + 1, comment, b + 1);
            } else {
                joined[a] = 0;
            }
            comment = joined;
        }
        free(w->first);
        w->first = NULL;
    }
    if (comment && *comment)
        wtap_block_add_string_option(rec.block, OPT_COMMENT, comment, strlen(comment));
    free(joined);
    int e = 0;
    gchar *info = NULL;
    gboolean ok = wtap_dump(w->d, &rec, data, &e, &info);
    g_free(info);
    wtap_block_unref(rec.block);
    rec.block = NULL;
    wtap_rec_cleanup(&rec);
    return ok ? 0 : -1;
}

int lab_pcapng_flush(lab_pcapng *w)
{
    int e = 0;
    return wtap_dump_flush(w->d, &e) ? 0 : -1;
}

int lab_pcapng_close(lab_pcapng *w, char *err, size_t cap)
{
    int rc = 0;
    if (!w)
        return 0;
    if (w->d) {
        int e = 0;
        gchar *info = NULL;
        if (!wtap_dump_close(w->d, NULL, &e, &info)) {
            if (err)
                wtap_err(err, cap, "closing the capture", e, info);
            else
                g_free(info);
            rc = -1;
        }
    } else if (w->fd >= 0) {
        close(w->fd);
    }
    if (w->shbs)
        wtap_block_array_free(w->shbs);
    if (w->idb_inf) {
        for (guint i = 0; i < w->idb_inf->interface_data->len; i++)
            wtap_block_unref(g_array_index(w->idb_inf->interface_data, wtap_block_t, i));
        g_array_free(w->idb_inf->interface_data, TRUE);
        g_free(w->idb_inf);
    }
    free(w->first);
    free(w);
    return rc;
}

/* ---- reading ------------------------------------------------------------- */

struct lab_pcapng_reader {
    wtap *wth;
    wtap_rec rec;
    Buffer buf;
    char *shb_comment;
    char *comment;
};

lab_pcapng_reader *lab_pcapng_read_open(const char *path, char *err, size_t cap)
{
    lab_wtap_init();
    int e = 0;
    gchar *info = NULL;
    wtap *wth = wtap_open_offline(path, WTAP_TYPE_AUTO, &e, &info, FALSE);
    if (!wth) {
        char what[600];
        snprintf(what, sizeof what, "%s", path);
        wtap_err(err, cap, what, e, info);
        return NULL;
    }
    lab_pcapng_reader *r = calloc(1, sizeof *r);
    if (!r) {
        wtap_close(wth);
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    r->wth = wth;
    wtap_rec_init(&r->rec);
    ws_buffer_init(&r->buf, 1500);
    wtap_block_t shb = wtap_file_get_shb(wth, 0);
    GString *s = g_string_new("");
    if (shb) {
        char *v;
        for (guint i = 0; wtap_block_get_nth_string_option_value(shb, OPT_COMMENT, i, &v) ==
                          WTAP_OPTTYPE_SUCCESS;
             i++) {
            if (s->len)
                g_string_append_c(s, '\n');
            g_string_append(s, v);
        }
    }
    r->shb_comment = g_string_free(s, FALSE);
    return r;
}

const char *lab_pcapng_section_comment(lab_pcapng_reader *r) { return r->shb_comment; }

static int to_linktype(int encap)
{
    switch (encap) {
    case WTAP_ENCAP_ETHERNET: return 1;
    case WTAP_ENCAP_RAW_IP: return 101;
    case WTAP_ENCAP_RAW_IP4: return 228;
    case WTAP_ENCAP_RAW_IP6: return 229;
    case WTAP_ENCAP_SLL: return 113;
    case WTAP_ENCAP_SLL2: return 276;
    case WTAP_ENCAP_NULL: return 0;
    case WTAP_ENCAP_LOOP: return 108;
    default: return -1;
    }
}

int lab_pcapng_read_next(lab_pcapng_reader *r, lab_pcapng_rec *out, char *err, size_t cap)
{
    for (;;) {
        int e = 0;
        gchar *info = NULL;
        gint64 off;
        wtap_rec_reset(&r->rec);
        if (!wtap_read(r->wth, &r->rec, &r->buf, &e, &info, &off)) {
            if (e == 0)
                return 0;
            wtap_err(err, cap, "reading the capture", e, info);
            return -1;
        }
        if (r->rec.rec_type != REC_TYPE_PACKET)
            continue;
        free(r->comment);
        r->comment = NULL;
        if (r->rec.block) {
            size_t len = 0;
            char *v;
            for (guint i = 0; wtap_block_get_nth_string_option_value(r->rec.block, OPT_COMMENT, i,
                                                                     &v) == WTAP_OPTTYPE_SUCCESS;
                 i++) {
                size_t vl = strlen(v);
                char *n = realloc(r->comment, len + vl + 2);
                if (!n)
                    break;
                r->comment = n;
                if (len)
                    r->comment[len++] = '\n';
                memcpy(r->comment + len, v, vl + 1);
                len += vl;
            }
        }
        out->ts_ns = (uint64_t)r->rec.ts.secs * 1000000000ull + (uint64_t)r->rec.ts.nsecs;
        out->linktype = to_linktype(r->rec.rec_header.packet_header.pkt_encap);
        out->data = ws_buffer_start_ptr(&r->buf);
        out->caplen = r->rec.rec_header.packet_header.caplen;
        out->comment = r->comment;
        return 1;
    }
}

void lab_pcapng_read_close(lab_pcapng_reader *r)
{
    if (!r)
        return;
    wtap_rec_cleanup(&r->rec);
    ws_buffer_free(&r->buf);
    wtap_close(r->wth);
    g_free(r->shb_comment);
    free(r->comment);
    free(r);
}
