/*
 * Spool: see spool.h.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "lib/clock.h"
#include "lib/le.h"
#include "lib/log.h"
#include "pipeline/spool.h"
#include "lib/strbuf.h"

#define SPOOL_MAGIC       "PSSPOOL"      /* 8 bytes with its NUL */
#define SPOOL_VERSION     1
#define SPOOL_SUFFIX      ".seg"
#define SPOOL_MAX_RINGS   65536
#define LAST_MAGIC        "PSLAST"       /* 8 bytes with its NULs */
#define LAST_VERSION      1
#define LAST_NAME         "last.end"

typedef struct {
    uint64_t  seq;
    uint64_t  size;
} spool_file_t;

struct ps_spool_s {
    /* mu: the files, the head, the last end and reading or writing a
     * segment (the writer and the replayer are threads of their own);
     * st_mu: the stats the main thread reads, never held across I/O */
    pthread_mutex_t    mu;
    pthread_mutex_t    st_mu;
    ps_spool_stats_t   pub;          /* under st_mu: a copy of st */
    ps_buf_t           wbuf;         /* the segment being written */

    char              *dir;
    char              *node_id;
    uint64_t           max_bytes;
    size_t             max_keys;

    spool_file_t      *files;        /* oldest first */
    size_t             nfiles;
    size_t             cap;
    uint64_t           next_seq;

    /* the newest segment's zone and end positions */
    uint64_t           last_zone;
    uint32_t           last_nrings;
    uint64_t          *last_end;

    /* the loaded head segment */
    uint64_t           head_seq;     /* UINT64_MAX: none loaded */
    ps_agg_table_t    *head_delta;
    uint64_t           head_zone;
    uint32_t           head_nrings;
    uint64_t           head_records;
    uint64_t          *head_pos;     /* start[nrings], end[nrings] */

    ps_buf_t           buf;
    ps_spool_stats_t   st;
};

static int write_all(int fd, const char *p, size_t n);

/* a parsed segment; positions point into the file's bytes */
typedef struct {
    uint32_t        nrings;
    uint64_t        zone_id;
    uint64_t        records;
    uint64_t        entries;
    const uint8_t  *pos;             /* start, then end, raw */
    const uint8_t  *body;
    const uint8_t  *body_end;
} spool_hdr_t;


/* Copies the stats for the readers; under sp->mu. */
static void
publish(ps_spool_t *sp)
{
    sp->st.segments = sp->nfiles;

    pthread_mutex_lock(&sp->st_mu);
    sp->pub = sp->st;
    pthread_mutex_unlock(&sp->st_mu);
}


static void
put_u32(ps_buf_t *b, uint32_t v, int *err)
{
    uint8_t  x[4];

    ps_le32_put(x, v);
    *err |= ps_buf_append(b, x, 4);
}


static void
put_u64(ps_buf_t *b, uint64_t v, int *err)
{
    uint8_t  x[8];

    ps_le64_put(x, v);
    *err |= ps_buf_append(b, x, 8);
}


/* a bounds-checked reader over a segment's bytes */
typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
    int             bad;
} rd_t;


static const uint8_t *
rd_take(rd_t *r, size_t n)
{
    const uint8_t  *p = r->p;

    if (r->bad || (size_t) (r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }

    r->p += n;
    return p;
}


static uint64_t
rd_u64(rd_t *r)
{
    const uint8_t  *p = rd_take(r, 8);

    return p ? ps_le64_get(p) : 0;
}


static uint32_t
rd_u32(rd_t *r)
{
    const uint8_t  *p = rd_take(r, 4);

    return p ? ps_le32_get(p) : 0;
}


static char *
path_of(const ps_spool_t *sp, const char *sub, uint64_t seq,
    const char *suffix)
{
    char  *path;
    size_t n = strlen(sp->dir) + strlen(sub) + 48;

    path = malloc(n);
    if (path == NULL) {
        return NULL;
    }

    snprintf(path, n, "%s/%s%016" PRIx64 "%s", sp->dir, sub, seq, suffix);

    return path;
}


static int
fsync_dir(const char *dir)
{
    int  fd, rc;

    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return -1;
    }

    rc = fsync(fd);
    close(fd);

    return rc;
}


/* Checks a segment's bytes and fills h; 0, or -1 with the reason. */
static int
parse_header(const uint8_t *data, size_t len, spool_hdr_t *h,
    const char **why)
{
    rd_t       r;
    uint32_t   nlen;

    if (len < 8 + 4 + 4 + 8 * 5 + 4 + 4) {
        *why = "truncated";
        return -1;
    }

    if (memcmp(data, SPOOL_MAGIC, 8) != 0) {
        *why = "bad magic";
        return -1;
    }

    if (ps_le64_get(data + 16) != len) {
        *why = "truncated";
        return -1;
    }

    if (ps_le32_get(data + len - 4) != (uint32_t) crc32(0L, data, len - 4)) {
        *why = "bad checksum";
        return -1;
    }

    r.p = data + 8;
    r.end = data + len - 4;
    r.bad = 0;

    if (rd_u32(&r) != SPOOL_VERSION) {
        *why = "unknown version";
        return -1;
    }

    h->nrings = rd_u32(&r);
    (void) rd_u64(&r);                         /* file length */
    h->zone_id = rd_u64(&r);
    h->records = rd_u64(&r);
    h->entries = rd_u64(&r);
    (void) rd_u64(&r);                         /* created */
    nlen = rd_u32(&r);
    (void) rd_take(&r, nlen);

    if (h->nrings == 0 || h->nrings > SPOOL_MAX_RINGS) {
        *why = "bad ring count";
        return -1;
    }

    h->pos = rd_take(&r, (size_t) h->nrings * 16);

    if (r.bad) {
        *why = "truncated header";
        return -1;
    }

    h->body = r.p;
    h->body_end = r.end;

    return 0;
}


/* Reads a whole file into sp->buf; 0, or -1 (errno set). */
static int
read_file(ps_spool_t *sp, const char *path)
{
    int      fd;
    ssize_t  n;
    char     chunk[65536];

    ps_buf_reset(&sp->buf);

    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }

    for ( ;; ) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (ps_buf_append(&sp->buf, chunk, (size_t) n) != 0) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
    }

    close(fd);

    return n < 0 ? -1 : 0;
}


/* Moves segment i to corrupt/ and forgets it. */
static void
quarantine(ps_spool_t *sp, size_t i, const char *why)
{
    char  *from, *to;

    from = path_of(sp, "", sp->files[i].seq, SPOOL_SUFFIX);
    to = path_of(sp, "corrupt/", sp->files[i].seq, SPOOL_SUFFIX);

    ps_log(PS_LOG_ERROR, "event=spool_corrupt file=\"%s\" error=\"%s\" "
           "action=\"moved to corrupt/, not applied\"",
           from ? from : "?", why);

    if (from && to && rename(from, to) != 0) {
        ps_log(PS_LOG_ERROR, "event=spool_corrupt_move_failed file=\"%s\" "
               "error=\"%s\"", from, strerror(errno));
        (void) unlink(from);
    }

    free(from);
    free(to);

    (void) fsync_dir(sp->dir);

    sp->st.corrupt++;
    sp->st.bytes -= sp->files[i].size;
    memmove(&sp->files[i], &sp->files[i + 1],
            (sp->nfiles - i - 1) * sizeof(spool_file_t));
    sp->nfiles--;
}


static int
cmp_file(const void *a, const void *b)
{
    const spool_file_t  *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}


/* Makes room for one more file in the index; 0, or -1. */
static int
reserve_file(ps_spool_t *sp)
{
    spool_file_t  *f;

    if (sp->nfiles == sp->cap) {
        f = realloc(sp->files, (sp->cap ? sp->cap * 2 : 16)
                               * sizeof(spool_file_t));
        if (f == NULL) {
            return -1;
        }
        sp->files = f;
        sp->cap = sp->cap ? sp->cap * 2 : 16;
    }

    return 0;
}


static int
add_file(ps_spool_t *sp, uint64_t seq, uint64_t size)
{
    if (reserve_file(sp) != 0) {
        return -1;
    }

    sp->files[sp->nfiles].seq = seq;
    sp->files[sp->nfiles].size = size;
    sp->nfiles++;
    sp->st.bytes += size;

    return 0;
}


static int
set_last_end(ps_spool_t *sp, uint64_t zone_id, uint32_t nrings,
    const uint64_t *end)
{
    uint64_t  *e;

    if (nrings != sp->last_nrings) {
        e = realloc(sp->last_end, nrings * sizeof(uint64_t));
        if (e == NULL) {
            return -1;
        }
        sp->last_end = e;
        sp->last_nrings = nrings;
    }

    memcpy(sp->last_end, end, nrings * sizeof(uint64_t));
    sp->last_zone = zone_id;

    return 0;
}


/*
 * The end positions of the last segment removed, kept once the spool is
 * empty (spool_dir/last.end: "PSLAST\0\0", u32 version, u32 nrings, u64
 * zone_id, u64 end[nrings], u32 CRC-32 of the bytes before it), so that
 * a restart resumes reading past what was applied even when the rings
 * were not released that far before the process died.  Written (to a
 * temporary name, fsync'd, renamed) before the last segment goes; 0 or
 * -1 (logged).
 */
static int
write_last(ps_spool_t *sp)
{
    int         fd, err = 0;
    char       *tmp, *path;
    uint32_t    r;
    uint8_t     x[4];
    ps_buf_t    b = PS_BUF_INIT;

    if (sp->last_end == NULL) {
        return 0;
    }

    err |= ps_buf_append(&b, LAST_MAGIC "\0", 8);
    put_u32(&b, LAST_VERSION, &err);
    put_u32(&b, sp->last_nrings, &err);
    put_u64(&b, sp->last_zone, &err);
    for (r = 0; r < sp->last_nrings; r++) {
        put_u64(&b, sp->last_end[r], &err);
    }
    if (!err) {
        ps_le32_put(x, (uint32_t) crc32(0L, (const Bytef *) b.data,
                                        (uInt) b.len));
        err |= ps_buf_append(&b, x, 4);
    }

    tmp = malloc(strlen(sp->dir) + sizeof("/" LAST_NAME ".tmp"));
    path = malloc(strlen(sp->dir) + sizeof("/" LAST_NAME));
    if (err || tmp == NULL || path == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    sprintf(tmp, "%s/" LAST_NAME ".tmp", sp->dir);
    sprintf(path, "%s/" LAST_NAME, sp->dir);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        goto fail;
    }
    if (write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
        close(fd);
        goto fail;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        goto fail;
    }
    (void) fsync_dir(sp->dir);

    free(tmp);
    free(path);
    ps_buf_free(&b);

    return 0;

fail:

    ps_log(PS_LOG_ERROR, "event=spool_write_failed file=\"%s\" "
           "error=\"%s\"", tmp ? tmp : LAST_NAME, strerror(errno));
    if (tmp) {
        (void) unlink(tmp);
    }
    free(tmp);
    free(path);
    ps_buf_free(&b);

    return -1;
}


/* Reads spool_dir/last.end into the last end positions, if it is there
 * and sound. */
static void
read_last(ps_spool_t *sp)
{
    char      *path;
    size_t     len;
    uint32_t   nrings, r;
    uint64_t  *end;
    const uint8_t  *d;

    path = malloc(strlen(sp->dir) + sizeof("/" LAST_NAME));
    if (path == NULL) {
        return;
    }
    sprintf(path, "%s/" LAST_NAME, sp->dir);

    if (read_file(sp, path) != 0) {
        free(path);
        return;
    }
    free(path);

    d = (const uint8_t *) sp->buf.data;
    len = sp->buf.len;

    if (len < 28 || memcmp(d, LAST_MAGIC "\0", 8) != 0
        || ps_le32_get(d + 8) != LAST_VERSION
        || (nrings = ps_le32_get(d + 12)) == 0 || nrings > SPOOL_MAX_RINGS
        || len != 24 + (size_t) nrings * 8 + 4
        || ps_le32_get(d + len - 4)
           != (uint32_t) crc32(0L, (const Bytef *) d, (uInt) (len - 4)))
    {
        ps_log(PS_LOG_WARN, "event=spool_last_end_ignored dir=\"%s\" "
               "reason=malformed", sp->dir);
        return;
    }

    end = malloc(nrings * sizeof(uint64_t));
    if (end == NULL) {
        return;
    }
    for (r = 0; r < nrings; r++) {
        end[r] = ps_le64_get(d + 24 + (size_t) r * 8);
    }
    (void) set_last_end(sp, ps_le64_get(d + 16), nrings, end);
    free(end);
}


/* Indexes the directory; checks the newest segment for its positions. */
static int
scan(ps_spool_t *sp)
{
    DIR            *d;
    struct dirent  *de;
    struct stat     sb;
    uint64_t        seq, *end;
    uint32_t        r;
    char           *path, *stop;
    const char     *why;
    size_t          nlen;
    spool_hdr_t     h;

    d = opendir(sp->dir);
    if (d == NULL) {
        ps_log(PS_LOG_ERROR, "event=spool_open_failed dir=\"%s\" "
               "error=\"%s\"", sp->dir, strerror(errno));
        return -1;
    }

    while ((de = readdir(d)) != NULL) {
        nlen = strlen(de->d_name);

        if (nlen > 4 && strcmp(de->d_name + nlen - 4, ".tmp") == 0) {
            /* a write that did not finish: never acknowledged */
            if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
                ps_log(PS_LOG_WARN, "event=spool_tmp_removed file=\"%s\"",
                       de->d_name);
            }
            continue;
        }

        if (nlen != 16 + strlen(SPOOL_SUFFIX)
            || strcmp(de->d_name + 16, SPOOL_SUFFIX) != 0)
        {
            continue;
        }

        errno = 0;
        seq = strtoull(de->d_name, &stop, 16);
        if (errno || stop != de->d_name + 16) {
            continue;
        }

        if (fstatat(dirfd(d), de->d_name, &sb, 0) != 0
            || !S_ISREG(sb.st_mode))
        {
            continue;
        }

        if (add_file(sp, seq, (uint64_t) sb.st_size) != 0) {
            closedir(d);
            return -1;
        }
    }

    closedir(d);

    if (sp->nfiles > 1) {
        qsort(sp->files, sp->nfiles, sizeof(spool_file_t), cmp_file);
    }

    sp->next_seq = sp->nfiles ? sp->files[sp->nfiles - 1].seq + 1 : 1;

    /* where the last removed segment ended; a newer one says more */
    read_last(sp);

    while (sp->nfiles) {
        path = path_of(sp, "", sp->files[sp->nfiles - 1].seq, SPOOL_SUFFIX);
        if (path == NULL || read_file(sp, path) != 0) {
            ps_log(PS_LOG_ERROR, "event=spool_read_failed file=\"%s\" "
                   "error=\"%s\"", path ? path : "?", strerror(errno));
            free(path);
            return -1;
        }
        free(path);

        if (parse_header((uint8_t *) sp->buf.data, sp->buf.len, &h, &why)
            != 0)
        {
            quarantine(sp, sp->nfiles - 1, why);
            continue;
        }

        end = malloc(h.nrings * sizeof(uint64_t));
        if (end == NULL) {
            return -1;
        }
        for (r = 0; r < h.nrings; r++) {
            end[r] = ps_le64_get(h.pos + (h.nrings + r) * 8);
        }
        r = (uint32_t) set_last_end(sp, h.zone_id, h.nrings, end);
        free(end);

        if (r != 0) {
            return -1;
        }
        break;
    }

    sp->st.segments = sp->nfiles;

    return 0;
}


ps_spool_t *
ps_spool_open(const char *dir, uint64_t max_bytes, const char *node_id,
    size_t max_keys)
{
    char        *corrupt;
    ps_spool_t  *sp;

    sp = calloc(1, sizeof(ps_spool_t));
    if (sp == NULL) {
        goto fail;
    }

    sp->dir = strdup(dir);
    sp->node_id = strdup(node_id ? node_id : "");
    sp->max_bytes = max_bytes;
    sp->max_keys = max_keys ? max_keys : 1;
    sp->head_seq = UINT64_MAX;
    sp->st.max_bytes = max_bytes;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_mutex_init(&sp->st_mu, NULL);

    if (sp->dir == NULL || sp->node_id == NULL) {
        goto fail;
    }

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        ps_log(PS_LOG_ERROR, "event=spool_open_failed dir=\"%s\" "
               "error=\"%s\"", dir, strerror(errno));
        goto fail;
    }

    corrupt = malloc(strlen(dir) + sizeof("/corrupt"));
    if (corrupt == NULL) {
        goto fail;
    }
    sprintf(corrupt, "%s/corrupt", dir);

    if (mkdir(corrupt, 0700) != 0 && errno != EEXIST) {
        ps_log(PS_LOG_ERROR, "event=spool_open_failed dir=\"%s\" "
               "error=\"%s\"", corrupt, strerror(errno));
        free(corrupt);
        goto fail;
    }
    free(corrupt);

    if (scan(sp) != 0) {
        goto fail;
    }

    publish(sp);

    ps_log(PS_LOG_INFO, "event=spool_open dir=\"%s\" segments=%zu bytes=%"
           PRIu64 " max_bytes=%" PRIu64, dir, sp->nfiles, sp->st.bytes,
           max_bytes);

    return sp;

fail:

    ps_log(PS_LOG_ERROR, "event=spool_open_failed dir=\"%s\"", dir);
    ps_spool_close(sp);

    return NULL;
}


void
ps_spool_close(ps_spool_t *sp)
{
    if (sp == NULL) {
        return;
    }

    ps_agg_table_destroy(sp->head_delta);
    ps_buf_free(&sp->buf);
    ps_buf_free(&sp->wbuf);
    pthread_mutex_destroy(&sp->mu);
    pthread_mutex_destroy(&sp->st_mu);
    free(sp->head_pos);
    free(sp->last_end);
    free(sp->files);
    free(sp->node_id);
    free(sp->dir);
    free(sp);
}


static int
encode(ps_spool_t *sp, uint64_t zone_id, const ps_agg_table_t *delta,
    const uint64_t *start, const uint64_t *end, uint32_t nrings,
    uint64_t records)
{
    int                    err = 0;
    size_t                 i, n, len, at;
    uint32_t               r;
    ps_buf_t              *b = &sp->wbuf;
    const ps_agg_entry_t  *e;

    ps_buf_reset(b);
    n = ps_agg_count(delta);

    err |= ps_buf_append(b, SPOOL_MAGIC, 8);
    put_u32(b, SPOOL_VERSION, &err);
    put_u32(b, nrings, &err);
    put_u64(b, 0, &err);                        /* length, set below */
    put_u64(b, zone_id, &err);
    put_u64(b, records, &err);
    put_u64(b, n, &err);
    put_u64(b, ps_now_us(), &err);
    put_u32(b, (uint32_t) strlen(sp->node_id), &err);
    err |= ps_buf_append(b, sp->node_id, strlen(sp->node_id));

    for (r = 0; r < nrings; r++) {
        put_u64(b, start[r], &err);
    }
    for (r = 0; r < nrings; r++) {
        put_u64(b, end[r], &err);
    }

    for (i = 0; i < n && !err; i++) {
        e = ps_agg_entry_at(delta, i);

        put_u64(b, (uint64_t) e->hour, &err);
        put_u32(b, e->host_len, &err);
        put_u32(b, e->method_len, &err);
        put_u32(b, e->path_len, &err);
        err |= ps_buf_append(b, e->host, e->host_len);
        err |= ps_buf_append(b, e->method, e->method_len);
        err |= ps_buf_append(b, e->path, e->path_len);

        put_u64(b, e->counts.requests, &err);
        for (r = 0; r < 5; r++) {
            put_u64(b, e->counts.status[r], &err);
        }
        put_u64(b, e->counts.errors, &err);
        put_u64(b, e->counts.bytes_in, &err);
        put_u64(b, e->counts.bytes_out, &err);
        put_u64(b, e->counts.latency_sum_us, &err);
        put_u64(b, e->counts.latency_max_us, &err);
        put_u64(b, e->first_seen_us, &err);
        put_u64(b, e->last_seen_us, &err);

        len = ps_hist_encoded_size(&e->latency);
        put_u32(b, (uint32_t) len, &err);
        if (err || ps_buf_reserve(b, len) != 0) {
            return -1;
        }
        at = b->len;
        if (len && ps_hist_encode(&e->latency, (uint8_t *) b->data + at,
                                  len) != len)
        {
            return -1;
        }
        b->len += len;

        len = ps_hll_serialized_size(&e->clients);
        put_u32(b, (uint32_t) len, &err);
        if (err || ps_buf_reserve(b, len) != 0) {
            return -1;
        }
        at = b->len;
        if (len && ps_hll_serialize(&e->clients, (uint8_t *) b->data + at,
                                    len) != len)
        {
            return -1;
        }
        b->len += len;
    }

    if (err || ps_buf_reserve(b, 4) != 0) {
        return -1;
    }

    len = b->len + 4;
    ps_le64_put((uint8_t *) b->data + 16, (uint64_t) len);

    put_u32(b, (uint32_t) crc32(0L, (const Bytef *) b->data, b->len), &err);

    return err ? -1 : 0;
}


static int
write_all(int fd, const char *p, size_t n)
{
    ssize_t  w;

    while (n) {
        w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t) w;
    }

    return 0;
}


/* Counts a flush that did not fit as lost; under sp->mu. */
static void
count_dropped(ps_spool_t *sp, uint64_t records, uint64_t bytes)
{
    sp->st.dropped_flushes++;
    sp->st.dropped_records += records;
    ps_log(PS_LOG_ERROR, "event=spool_full dir=\"%s\" bytes=%" PRIu64
           " max_bytes=%" PRIu64 " segment_bytes=%" PRIu64
           " dropped_records=%" PRIu64 " dropped_total=%" PRIu64
           " error=\"spool full: these requests are lost\"", sp->dir,
           sp->st.bytes, sp->max_bytes, bytes, records,
           sp->st.dropped_records);
    sp->st.full = 1;
    publish(sp);
}


void
ps_spool_drop(ps_spool_t *sp, uint64_t records)
{
    pthread_mutex_lock(&sp->mu);
    count_dropped(sp, records, 0);
    pthread_mutex_unlock(&sp->mu);
}


int
ps_spool_write(ps_spool_t *sp, uint64_t zone_id,
    const ps_agg_table_t *delta, const uint64_t *start,
    const uint64_t *end, uint32_t nrings, uint64_t records, int drop)
{
    int          fd = -1, err;
    char        *tmp = NULL, *path = NULL;
    const char  *op, *name;

    if (encode(sp, zone_id, delta, start, end, nrings, records) != 0) {
        ps_log(PS_LOG_ERROR, "event=spool_write_failed error=\"out of "
               "memory\"");
        pthread_mutex_lock(&sp->mu);
        snprintf(sp->st.error, sizeof(sp->st.error),
                 "encode: out of memory");
        publish(sp);
        pthread_mutex_unlock(&sp->mu);
        return -1;
    }

    pthread_mutex_lock(&sp->mu);

    if (sp->st.bytes + sp->wbuf.len > sp->max_bytes) {
        if (!drop) {
            pthread_mutex_unlock(&sp->mu);
            return 2;
        }
        count_dropped(sp, records, sp->wbuf.len);
        pthread_mutex_unlock(&sp->mu);
        return 1;
    }

    tmp = path_of(sp, "", sp->next_seq, ".tmp");
    path = path_of(sp, "", sp->next_seq, SPOOL_SUFFIX);

    /* no allocation may fail once the segment has its name: a retry
     * would then write the same flush twice */
    op = "allocate";
    if (tmp == NULL || path == NULL || reserve_file(sp) != 0) {
        errno = ENOMEM;
        goto fail;
    }

    op = "open";
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        goto fail;
    }

    op = "write";
    if (write_all(fd, sp->wbuf.data, sp->wbuf.len) != 0) {
        goto fail;
    }

    op = "fsync";
    if (fsync(fd) != 0) {
        goto fail;
    }

    op = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;

    op = "rename";
    if (rename(tmp, path) != 0) {
        goto fail;
    }

    if (fsync_dir(sp->dir) != 0) {
        /* the segment is there under its name: it counts as written */
        ps_log(PS_LOG_WARN, "event=spool_dir_fsync_failed dir=\"%s\" "
               "error=\"%s\"", sp->dir, strerror(errno));
    }

    (void) add_file(sp, sp->next_seq, sp->wbuf.len);    /* reserved */

    /* only the open's scan needs it exactly (where reading resumes) */
    (void) set_last_end(sp, zone_id, nrings, end);

    ps_log(PS_LOG_DEBUG, "event=spool_write seq=%" PRIu64 " bytes=%zu "
           "keys=%zu records=%" PRIu64, sp->next_seq, sp->wbuf.len,
           ps_agg_count(delta), records);

    sp->next_seq++;
    sp->st.written++;
    sp->st.segments = sp->nfiles;
    sp->st.full = 0;
    sp->st.error[0] = '\0';
    publish(sp);
    pthread_mutex_unlock(&sp->mu);

    /* a large segment's buffer is not kept */
    if (sp->wbuf.cap > 16 * 1024 * 1024) {
        ps_buf_free(&sp->wbuf);
    }

    free(tmp);
    free(path);

    return 0;

fail:

    err = errno;

    ps_log(PS_LOG_ERROR, "event=spool_write_failed file=\"%s\" op=%s "
           "error=\"%s\"", tmp ? tmp : "?", op, strerror(err));

    /* kept for the summary and /health until a write succeeds */
    name = tmp ? strrchr(tmp, '/') : NULL;
    snprintf(sp->st.error, sizeof(sp->st.error), "%s %s: %s", op,
             name ? name + 1 : "segment", strerror(err));

    if (fd >= 0) {
        close(fd);
    }
    if (tmp) {
        (void) unlink(tmp);
    }

    publish(sp);
    pthread_mutex_unlock(&sp->mu);

    free(tmp);
    free(path);

    return -1;
}


uint64_t
ps_spool_pending(const ps_spool_t *sp)
{
    uint64_t  n;

    pthread_mutex_lock((pthread_mutex_t *) &sp->st_mu);
    n = sp->pub.segments;
    pthread_mutex_unlock((pthread_mutex_t *) &sp->st_mu);

    return n;
}


/* Parses the body of a checked segment into sp->head_delta; 0, or -1
 * with the reason. */
static int
decode_body(ps_spool_t *sp, const spool_hdr_t *h, const char **why)
{
    int             rc = -1;
    rd_t            r;
    uint32_t        i, len;
    uint64_t        k;
    ps_agg_entry_t  e;
    const uint8_t  *p;

    r.p = h->body;
    r.end = h->body_end;
    r.bad = 0;

    *why = "malformed entry";

    for (k = 0; k < h->entries; k++) {
        memset(&e, 0, sizeof(e));
        ps_hist_init(&e.latency);
        ps_hll_init(&e.clients);

        e.hour = (int64_t) rd_u64(&r);
        e.host_len = rd_u32(&r);
        e.method_len = rd_u32(&r);
        e.path_len = rd_u32(&r);
        e.host = (const char *) rd_take(&r, e.host_len);
        e.method = (const char *) rd_take(&r, e.method_len);
        e.path = (const char *) rd_take(&r, e.path_len);

        e.counts.requests = rd_u64(&r);
        for (i = 0; i < 5; i++) {
            e.counts.status[i] = rd_u64(&r);
        }
        e.counts.errors = rd_u64(&r);
        e.counts.bytes_in = rd_u64(&r);
        e.counts.bytes_out = rd_u64(&r);
        e.counts.latency_sum_us = rd_u64(&r);
        e.counts.latency_max_us = rd_u64(&r);
        e.first_seen_us = rd_u64(&r);
        e.last_seen_us = rd_u64(&r);

        len = rd_u32(&r);
        p = rd_take(&r, len);
        if (r.bad || (len && ps_hist_decode(&e.latency, p, len) != 0)) {
            goto done;
        }

        len = rd_u32(&r);
        p = rd_take(&r, len);
        if (r.bad || (len && ps_hll_deserialize(&e.clients, p, len) != 0)) {
            goto done;
        }

        if (ps_agg_merge_entry(sp->head_delta, &e) != 0) {
            *why = "out of memory";
            goto done;
        }

        ps_hist_free(&e.latency);
        ps_hll_free(&e.clients);
    }

    if (r.p != r.end) {
        *why = "trailing bytes";
        return -1;
    }

    return 0;

done:

    ps_hist_free(&e.latency);
    ps_hll_free(&e.clients);

    return rc;
}


/* Loads segment i (0: the oldest) into the head slot; 0, 1 when there
 * are i segments or fewer, -1 on an I/O error; under sp->mu. */
static int
load(ps_spool_t *sp, size_t i, ps_spool_seg_t *seg)
{
    char         *path;
    uint32_t      r;
    uint64_t     *pos;
    const char   *why;
    spool_hdr_t   h;

    while (i < sp->nfiles) {

        if (sp->head_seq == sp->files[i].seq) {
            seg->seq = sp->head_seq;
            seg->zone_id = sp->head_zone;
            seg->nrings = sp->head_nrings;
            seg->records = sp->head_records;
            seg->start = sp->head_pos;
            seg->end = sp->head_pos + sp->head_nrings;
            seg->delta = sp->head_delta;
            return 0;
        }

        path = path_of(sp, "", sp->files[i].seq, SPOOL_SUFFIX);
        if (path == NULL || read_file(sp, path) != 0) {
            if (path && errno == ENOENT) {
                /* gone behind our back: nothing to replay */
                ps_log(PS_LOG_ERROR, "event=spool_segment_missing "
                       "file=\"%s\"", path);
                free(path);
                sp->st.bytes -= sp->files[i].size;
                memmove(&sp->files[i], &sp->files[i + 1],
                        (sp->nfiles - i - 1) * sizeof(spool_file_t));
                sp->nfiles--;
                sp->st.segments = sp->nfiles;
                continue;
            }
            ps_log(PS_LOG_ERROR, "event=spool_read_failed file=\"%s\" "
                   "error=\"%s\"", path ? path : "?", strerror(errno));
            free(path);
            return -1;
        }
        free(path);

        /* the slot is being replaced */
        sp->head_seq = UINT64_MAX;

        if (parse_header((uint8_t *) sp->buf.data, sp->buf.len, &h, &why)
            != 0)
        {
            quarantine(sp, i, why);
            sp->st.segments = sp->nfiles;
            continue;
        }

        if (sp->head_delta == NULL) {
            sp->head_delta = ps_agg_table_create(sp->max_keys);
            if (sp->head_delta == NULL) {
                return -1;
            }
        }
        ps_agg_table_clear(sp->head_delta);

        pos = realloc(sp->head_pos, 2 * h.nrings * sizeof(uint64_t));
        if (pos == NULL) {
            return -1;
        }
        sp->head_pos = pos;

        for (r = 0; r < 2 * h.nrings; r++) {
            pos[r] = ps_le64_get(h.pos + r * 8);
        }

        if (decode_body(sp, &h, &why) != 0) {
            if (strcmp(why, "out of memory") == 0) {
                ps_log(PS_LOG_ERROR, "event=spool_read_failed "
                       "error=\"out of memory\"");
                return -1;
            }
            quarantine(sp, i, why);
            sp->st.segments = sp->nfiles;
            continue;
        }

        sp->head_seq = sp->files[i].seq;
        sp->head_zone = h.zone_id;
        sp->head_nrings = h.nrings;
        sp->head_records = h.records;
    }

    return 1;
}


int
ps_spool_load(ps_spool_t *sp, size_t i, ps_spool_seg_t *seg)
{
    int  rc;

    pthread_mutex_lock(&sp->mu);
    rc = load(sp, i, seg);
    publish(sp);
    pthread_mutex_unlock(&sp->mu);

    return rc;
}


int
ps_spool_head(ps_spool_t *sp, ps_spool_seg_t *seg)
{
    return ps_spool_load(sp, 0, seg);
}


int
ps_spool_pop(ps_spool_t *sp)
{
    char  *path;

    pthread_mutex_lock(&sp->mu);

    if (sp->nfiles == 0) {
        pthread_mutex_unlock(&sp->mu);
        return 0;
    }

    /* the last one: where it ended outlives it */
    if (sp->nfiles == 1 && write_last(sp) != 0) {
        pthread_mutex_unlock(&sp->mu);
        return -1;
    }

    path = path_of(sp, "", sp->files[0].seq, SPOOL_SUFFIX);
    if (path == NULL) {
        pthread_mutex_unlock(&sp->mu);
        return -1;
    }

    if (unlink(path) != 0 && errno != ENOENT) {
        ps_log(PS_LOG_ERROR, "event=spool_unlink_failed file=\"%s\" "
               "error=\"%s\"", path, strerror(errno));
        free(path);
        pthread_mutex_unlock(&sp->mu);
        return -1;
    }
    free(path);

    /* not fsync'd: a segment that comes back after a crash is found
     * applied by its watermarks and removed again */

    if (sp->head_seq == sp->files[0].seq) {
        sp->head_seq = UINT64_MAX;
    }

    sp->st.bytes -= sp->files[0].size;
    memmove(&sp->files[0], &sp->files[1],
            (sp->nfiles - 1) * sizeof(spool_file_t));
    sp->nfiles--;
    sp->st.segments = sp->nfiles;
    sp->st.replayed++;

    if (sp->nfiles == 0) {
        sp->st.full = 0;           /* replay made room */
    }

    publish(sp);
    pthread_mutex_unlock(&sp->mu);

    return 0;
}


void
ps_spool_last_end(ps_spool_t *sp, uint64_t zone_id, uint64_t *pos,
    uint32_t nrings)
{
    uint32_t  r;

    pthread_mutex_lock(&sp->mu);

    if (sp->last_end != NULL && sp->last_zone == zone_id
        && sp->last_nrings == nrings)
    {
        for (r = 0; r < nrings; r++) {
            if (pos[r] < sp->last_end[r]) {
                pos[r] = sp->last_end[r];
            }
        }
    }

    pthread_mutex_unlock(&sp->mu);
}


void
ps_spool_stats(const ps_spool_t *sp, ps_spool_stats_t *st)
{
    pthread_mutex_lock((pthread_mutex_t *) &sp->st_mu);
    *st = sp->pub;
    pthread_mutex_unlock((pthread_mutex_t *) &sp->st_mu);
}
