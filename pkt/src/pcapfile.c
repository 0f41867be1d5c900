/*
 * Classic pcap files (not pcapng), stdio only.
 *
 * File header (24 bytes): magic, version major (2), minor (4), thiszone,
 * sigfigs, snaplen, link type.  Record header (16 bytes): seconds,
 * microseconds or nanoseconds, captured length, original length.  All in
 * the writer's byte order, which the magic tells.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpstate/pkt.h"

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du
#define MAGIC_KUZNETZOV 0xa1b2cd34u
#define MAGIC_PCAPNG 0x0a0d0d0au
#define DEFAULT_SNAPLEN 262144u

static uint32_t rd32(const uint8_t *p, int be)
{
    if (be) return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static unsigned rd16(const uint8_t *p, int be)
{
    return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static int host_is_be(void)
{
    const uint16_t one = 1;
    uint8_t b[2];
    memcpy(b, &one, 2);
    return b[0] == 0;
}

/* ---- writer ------------------------------------------------------------------ */
struct tcps_pcap_writer {
    FILE *fp;
    int nanosec;
    uint32_t snaplen;
    int failed;
};

/* Native byte order, as libpcap writes. */
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

tcps_pcap_writer *tcps_pcap_open_write(const char *path, int linktype, int nanosec,
                                       uint32_t snaplen)
{
    if (!path || linktype < 0) {
        errno = EINVAL;
        return NULL;
    }
    tcps_pcap_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->nanosec = nanosec != 0;
    w->snaplen = snaplen ? snaplen : DEFAULT_SNAPLEN;
    w->fp = fopen(path, "wb");
    if (!w->fp) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    uint8_t h[24];
    wr32(h, w->nanosec ? MAGIC_NS : MAGIC_US);
    wr16(h + 4, 2);
    wr16(h + 6, 4);
    wr32(h + 8, 0);  /* thiszone */
    wr32(h + 12, 0); /* sigfigs */
    wr32(h + 16, w->snaplen);
    wr32(h + 20, (uint32_t)linktype);
    if (fwrite(h, 1, sizeof h, w->fp) != sizeof h) {
        int e = errno ? errno : EIO;
        fclose(w->fp);
        free(w);
        errno = e;
        return NULL;
    }
    return w;
}

int tcps_pcap_write(tcps_pcap_writer *w, uint64_t ts_ns, const uint8_t *data,
                    size_t caplen, size_t wirelen)
{
    if (!w || (!data && caplen)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t sec = ts_ns / 1000000000u, frac = ts_ns % 1000000000u;
    if (!w->nanosec) frac /= 1000u;
    if (wirelen < caplen) wirelen = caplen;
    if (sec > UINT32_MAX || wirelen > UINT32_MAX) {
        errno = ERANGE;
        w->failed = 1;
        return -1;
    }
    size_t incl = caplen < w->snaplen ? caplen : w->snaplen;
    uint8_t h[16];
    wr32(h, (uint32_t)sec);
    wr32(h + 4, (uint32_t)frac);
    wr32(h + 8, (uint32_t)incl);
    wr32(h + 12, (uint32_t)wirelen);
    errno = 0;
    if (fwrite(h, 1, sizeof h, w->fp) != sizeof h ||
        (incl && fwrite(data, 1, incl, w->fp) != incl)) {
        if (!errno) errno = EIO;
        w->failed = 1;
        return -1;
    }
    return 0;
}

int tcps_pcap_close(tcps_pcap_writer *w)
{
    if (!w) return 0;
    int bad = w->failed;
    if (fflush(w->fp) != 0 || ferror(w->fp)) bad = 1;
    if (fclose(w->fp) != 0) bad = 1;
    free(w);
    return bad ? -1 : 0;
}

/* ---- reader ------------------------------------------------------------------ */
struct tcps_pcap_reader {
    FILE *fp;
    char *path;
    int be;       /* file is big-endian */
    int nanosec;
    uint32_t snaplen;
    uint32_t linktype; /* as in the header, FCS bits included */
    uint8_t *buf;
    size_t bufcap;
    uint64_t records; /* records read so far */
    uint64_t offset;  /* file offset of the next record */
    int state;        /* 1 reading, 0 end of file, -1 error */
    char err[256];
};

static void set_msg(char *dst, size_t cap, const char *fmt, ...)
{
    if (!dst || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

tcps_pcap_reader *tcps_pcap_open_read(const char *path, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!path) {
        set_msg(err, errcap, "no file name");
        errno = EINVAL;
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        set_msg(err, errcap, "%s: cannot open: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    uint8_t h[24];
    size_t n = fread(h, 1, sizeof h, fp);
    const char *why = NULL;
    char whybuf[96];
    int be = 0, ns = 0;
    if (n < sizeof h && ferror(fp)) {
        int e = errno;
        snprintf(whybuf, sizeof whybuf, "read error: %s", strerror(e));
        why = whybuf;
    } else if (n == 0) {
        why = "empty file, not a pcap file";
    } else if (n < 4) {
        why = "not a pcap file (too short)";
    } else {
        uint32_t m_be = rd32(h, 1), m_le = rd32(h, 0);
        if (m_be == MAGIC_US || m_be == MAGIC_NS) {
            be = 1;
            ns = m_be == MAGIC_NS;
        } else if (m_le == MAGIC_US || m_le == MAGIC_NS) {
            be = 0;
            ns = m_le == MAGIC_NS;
        } else if (m_be == MAGIC_PCAPNG) {
            why = "pcapng file: only classic pcap is supported "
                  "(convert with: editcap -F pcap IN OUT)";
        } else if (m_be == MAGIC_KUZNETZOV || m_le == MAGIC_KUZNETZOV) {
            why = "modified (Kuznetzov) pcap format is not supported";
        } else {
            snprintf(whybuf, sizeof whybuf,
                     "not a pcap file (starts with %02x %02x %02x %02x)",
                     h[0], h[1], h[2], h[3]);
            why = whybuf;
        }
        if (!why && n < sizeof h) {
            snprintf(whybuf, sizeof whybuf,
                     "truncated pcap file header (%zu of 24 bytes)", n);
            why = whybuf;
        }
        if (!why && rd16(h + 4, be) != 2) {
            snprintf(whybuf, sizeof whybuf, "unsupported pcap version %u.%u",
                     rd16(h + 4, be), rd16(h + 6, be));
            why = whybuf;
        }
    }
    if (why) {
        set_msg(err, errcap, "%s: %s", path, why);
        fclose(fp);
        errno = EINVAL;
        return NULL;
    }

    tcps_pcap_reader *r = calloc(1, sizeof *r);
    size_t plen = strlen(path);
    char *pcopy = malloc(plen + 1);
    if (!r || !pcopy) {
        free(r);
        free(pcopy);
        fclose(fp);
        set_msg(err, errcap, "%s: out of memory", path);
        errno = ENOMEM;
        return NULL;
    }
    memcpy(pcopy, path, plen + 1);
    r->fp = fp;
    r->path = pcopy;
    r->be = be;
    r->nanosec = ns;
    r->snaplen = rd32(h + 16, be);
    r->linktype = rd32(h + 20, be);
    r->offset = 24;
    r->state = 1;
    return r;
}

int tcps_pcap_linktype(const tcps_pcap_reader *r)
{
    return r ? (int)(r->linktype & 0xffff) : -1;
}
uint32_t tcps_pcap_snaplen(const tcps_pcap_reader *r) { return r ? r->snaplen : 0; }
int tcps_pcap_nanosec(const tcps_pcap_reader *r) { return r ? r->nanosec : 0; }
int tcps_pcap_swapped(const tcps_pcap_reader *r) { return r ? r->be != host_is_be() : 0; }
const char *tcps_pcap_error(const tcps_pcap_reader *r) { return r ? r->err : "no reader"; }

static int fail(tcps_pcap_reader *r, const char *fmt, ...)
{
    int k = snprintf(r->err, sizeof r->err, "%s: ", r->path);
    if (k < 0 || (size_t)k >= sizeof r->err) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + k, sizeof r->err - (size_t)k, fmt, ap);
    va_end(ap);
    r->state = -1;
    return -1;
}

int tcps_pcap_next(tcps_pcap_reader *r, uint64_t *ts_ns, const uint8_t **data,
                   size_t *caplen, size_t *wirelen)
{
    static const uint8_t empty[1] = {0};
    if (!r) return -1;
    if (r->state != 1) return r->state;

    uint64_t recno = r->records + 1;
    unsigned long long off = (unsigned long long)r->offset;
    uint8_t h[16];
    size_t n = fread(h, 1, sizeof h, r->fp);
    if (n < sizeof h) {
        if (ferror(r->fp))
            return fail(r, "read error at offset %llu: %s", off, strerror(errno));
        if (n == 0) {
            r->state = 0;
            return 0;
        }
        return fail(r, "truncated record header: record %llu at offset %llu has "
                       "%zu of 16 bytes (file cut short?)",
                    (unsigned long long)recno, off, n);
    }
    uint32_t sec = rd32(h, r->be), frac = rd32(h + 4, r->be);
    uint32_t incl = rd32(h + 8, r->be), orig = rd32(h + 12, r->be);
    if (incl > TCPS_PCAP_MAX_RECORD)
        return fail(r, "record %llu at offset %llu: captured length %lu is "
                       "implausible (corrupt file?)",
                    (unsigned long long)recno, off, (unsigned long)incl);
    if (incl > r->bufcap) {
        size_t nc = r->bufcap ? r->bufcap : 2048;
        while (nc < incl) nc *= 2;
        uint8_t *nb = realloc(r->buf, nc);
        if (!nb) return fail(r, "out of memory for a %lu-byte record", (unsigned long)incl);
        r->buf = nb;
        r->bufcap = nc;
    }
    n = incl ? fread(r->buf, 1, incl, r->fp) : 0;
    if (n < incl) {
        if (ferror(r->fp))
            return fail(r, "read error at offset %llu: %s", off + 16, strerror(errno));
        return fail(r, "truncated record: record %llu at offset %llu says %lu "
                       "captured bytes but the file ends after %zu (file cut short?)",
                    (unsigned long long)recno, off, (unsigned long)incl, n);
    }
    r->records = recno;
    r->offset += 16 + (uint64_t)incl;
    if (ts_ns)
        *ts_ns = (uint64_t)sec * 1000000000u + (uint64_t)frac * (r->nanosec ? 1u : 1000u);
    if (data) *data = incl ? r->buf : empty;
    if (caplen) *caplen = incl;
    if (wirelen) *wirelen = orig;
    return 1;
}

void tcps_pcap_close_read(tcps_pcap_reader *r)
{
    if (!r) return;
    fclose(r->fp);
    free(r->buf);
    free(r->path);
    free(r);
}
