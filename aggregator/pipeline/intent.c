/*
 * Intent: see intent.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "pipeline/intent.h"
#include "lib/le.h"
#include "lib/log.h"

#define INTENT_MAGIC    "PSINTNT"        /* 8 bytes with its NUL */
#define INTENT_VERSION  1
#define INTENT_FILE     "inflight"
#define INTENT_HEADER   32               /* magic, version, nrings, seq,
                                            zone_id */

struct ps_intent_s {
    char       *path;
    int         fd;
    uint32_t    nrings;
    size_t      len;                     /* bytes used in a slot */
    size_t      slot;                    /* slot size, 4 KB aligned */
    uint64_t    seq;                     /* of the newest slot */
    unsigned    next;                    /* slot written next */
    uint8_t    *buf;                     /* one slot */
};


/* Reads slot i into in->buf: its sequence number, or 0 when it is not a
 * valid intent for in->nrings rings. */
static uint64_t
load_slot(ps_intent_t *in, unsigned i)
{
    ssize_t  n;

    n = pread(in->fd, in->buf, in->len, (off_t) (i * in->slot));

    if (n != (ssize_t) in->len
        || memcmp(in->buf, INTENT_MAGIC, 8) != 0
        || ps_le32_get(in->buf + 8) != INTENT_VERSION
        || ps_le32_get(in->buf + 12) != in->nrings
        || ps_le32_get(in->buf + in->len - 4)
           != (uint32_t) crc32(0L, in->buf, (uInt) (in->len - 4)))
    {
        return 0;
    }

    return ps_le64_get(in->buf + 16);
}


ps_intent_t *
ps_intent_open(const char *dir, uint32_t nrings)
{
    int           rc;
    size_t        n;
    uint64_t      seq[2];
    ps_intent_t  *in;

    in = calloc(1, sizeof(ps_intent_t));
    if (in == NULL) {
        goto nomem;
    }

    in->fd = -1;
    in->nrings = nrings;
    in->len = INTENT_HEADER + (size_t) nrings * 16 + 4;
    in->slot = (in->len + 4095) & ~(size_t) 4095;

    n = strlen(dir) + sizeof(INTENT_FILE) + 1;
    in->path = malloc(n);
    in->buf = calloc(1, in->slot);
    if (in->path == NULL || in->buf == NULL) {
        goto nomem;
    }
    snprintf(in->path, n, "%s/%s", dir, INTENT_FILE);

    in->fd = open(in->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (in->fd < 0) {
        goto fail;
    }

    /* both slots' blocks exist from here: overwriting them needs no
     * free space */
    rc = posix_fallocate(in->fd, 0, (off_t) (2 * in->slot));
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
        errno = rc;
        goto fail;
    }

    seq[0] = load_slot(in, 0);
    seq[1] = load_slot(in, 1);
    in->next = seq[0] > seq[1] ? 1 : 0;
    in->seq = seq[0] > seq[1] ? seq[0] : seq[1];

    return in;

nomem:

    errno = ENOMEM;

fail:

    ps_log(PS_LOG_ERROR, "event=intent_open_failed file=\"%s/%s\" "
           "error=\"%s\"", dir, INTENT_FILE, strerror(errno));
    ps_intent_close(in);

    return NULL;
}


void
ps_intent_close(ps_intent_t *in)
{
    if (in == NULL) {
        return;
    }

    if (in->fd >= 0) {
        close(in->fd);
    }

    free(in->buf);
    free(in->path);
    free(in);
}


int
ps_intent_write(ps_intent_t *in, uint64_t zone_id, const uint64_t *start,
    const uint64_t *end)
{
    uint8_t   *p;
    uint32_t   r;
    ssize_t    n;

    p = in->buf;
    memcpy(p, INTENT_MAGIC, 8);
    ps_le32_put(p + 8, INTENT_VERSION);
    ps_le32_put(p + 12, in->nrings);
    ps_le64_put(p + 16, in->seq + 1);
    ps_le64_put(p + 24, zone_id);
    p += INTENT_HEADER;

    for (r = 0; r < in->nrings; r++, p += 8) {
        ps_le64_put(p, start[r]);
    }
    for (r = 0; r < in->nrings; r++, p += 8) {
        ps_le64_put(p, end[r]);
    }

    ps_le32_put(p, (uint32_t) crc32(0L, in->buf, (uInt) (in->len - 4)));

    do {
        n = pwrite(in->fd, in->buf, in->len, (off_t) (in->next * in->slot));
    } while (n < 0 && errno == EINTR);

    if (n != (ssize_t) in->len || fdatasync(in->fd) != 0) {
        if (n >= 0 && n != (ssize_t) in->len) {
            errno = EIO;
        }
        ps_log(PS_LOG_ERROR, "event=intent_write_failed file=\"%s\" "
               "error=\"%s\"", in->path, strerror(errno));
        return -1;
    }

    in->seq++;
    in->next ^= 1;

    return 0;
}


int
ps_intent_read(ps_intent_t *in, uint64_t zone_id, uint64_t *start,
    uint64_t *end)
{
    unsigned  i;
    uint32_t  r;
    uint64_t  seq[2];
    uint8_t  *p;

    seq[0] = load_slot(in, 0);
    seq[1] = load_slot(in, 1);

    if (seq[0] == 0 && seq[1] == 0) {
        return 1;
    }

    i = seq[0] > seq[1] ? 0 : 1;
    if (load_slot(in, i) == 0 || ps_le64_get(in->buf + 24) != zone_id) {
        return 1;
    }

    p = in->buf + INTENT_HEADER;

    for (r = 0; r < in->nrings; r++, p += 8) {
        start[r] = ps_le64_get(p);
    }
    for (r = 0; r < in->nrings; r++, p += 8) {
        end[r] = ps_le64_get(p);
    }

    return 0;
}
