/*
 * Archive files: see archive.h.
 */

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "lib/archive.h"

#define OUT_CHUNK  (256 * 1024)

struct ps_archive_writer_s {
    int          fd;
    z_stream     z;
    EVP_MD_CTX  *md;
    uint64_t     bytes;
    char        *path;
    char        *tmp;
    unsigned char  out[OUT_CHUNK];
};


static void
hex(const unsigned char *d, unsigned n, char *out)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        (void) snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
    out[2 * n] = '\0';
}


/* Writes all of p (len bytes) to fd; 0 or -1 (errno). */
static int
write_all(int fd, const void *p, size_t len)
{
    ssize_t      n;
    const char  *c = p;

    while (len > 0) {
        n = write(fd, c, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        c += n;
        len -= (size_t) n;
    }

    return 0;
}


/* fsyncs the directory of path, so that a rename in it is durable. */
static int
sync_dir(const char *path)
{
    int    fd, rc;
    char  *copy;

    copy = strdup(path);
    if (copy == NULL) {
        return -1;
    }

    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);

    if (fd < 0) {
        return -1;
    }

    rc = fsync(fd);
    close(fd);

    return rc;
}


ps_archive_writer_t *
ps_archive_create(const char *path, char *err, size_t errlen)
{
    ps_archive_writer_t  *w;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    w->fd = -1;
    w->path = strdup(path);
    if (w->path == NULL || asprintf(&w->tmp, "%s.tmp", path) < 0) {
        w->tmp = NULL;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
                 | O_NOFOLLOW, 0640);
    if (w->fd < 0) {
        snprintf(err, errlen, "%s: %s", w->tmp, strerror(errno));
        goto fail;
    }

    w->md = EVP_MD_CTX_new();
    if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "SHA-256 unavailable");
        goto fail;
    }

    /* 15 + 16: a gzip header and trailer around the deflate stream;
     * level 3: most of level 6's ratio on these CSV rows at about half
     * its CPU time */
    if (deflateInit2(&w->z, 3, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        snprintf(err, errlen, "zlib: deflateInit2 failed");
        goto fail;
    }

    return w;

fail:

    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    EVP_MD_CTX_free(w->md);
    free(w->tmp);
    free(w->path);
    free(w);

    return NULL;
}


/* Runs deflate with flush over the pending input, writing what comes
 * out; 0 or -1. */
static int
pump(ps_archive_writer_t *w, int flush, char *err, size_t errlen)
{
    int     zrc;
    size_t  n;

    do {
        w->z.next_out = w->out;
        w->z.avail_out = OUT_CHUNK;
        zrc = deflate(&w->z, flush);

        if (zrc == Z_STREAM_ERROR) {
            snprintf(err, errlen, "zlib: deflate failed");
            return -1;
        }

        n = OUT_CHUNK - w->z.avail_out;

        if (n > 0) {
            if (write_all(w->fd, w->out, n) != 0) {
                snprintf(err, errlen, "%s: %s", w->tmp, strerror(errno));
                return -1;
            }
            (void) EVP_DigestUpdate(w->md, w->out, n);
            w->bytes += n;
        }
    } while (w->z.avail_out == 0
             || (flush == Z_FINISH && zrc != Z_STREAM_END));

    return 0;
}


int
ps_archive_write(ps_archive_writer_t *w, const void *p, size_t len,
    char *err, size_t errlen)
{
    w->z.next_in = (unsigned char *) p;
    w->z.avail_in = (uInt) len;

    return pump(w, Z_NO_FLUSH, err, errlen);
}


void
ps_archive_abort(ps_archive_writer_t *w)
{
    if (w == NULL) {
        return;
    }

    deflateEnd(&w->z);
    close(w->fd);
    unlink(w->tmp);
    EVP_MD_CTX_free(w->md);
    free(w->tmp);
    free(w->path);
    free(w);
}


int
ps_archive_finish(ps_archive_writer_t *w, char *sha, uint64_t *bytes,
    char *err, size_t errlen)
{
    unsigned       n;
    unsigned char  d[EVP_MAX_MD_SIZE];

    w->z.next_in = NULL;
    w->z.avail_in = 0;

    if (pump(w, Z_FINISH, err, errlen) != 0) {
        goto fail;
    }

    if (fsync(w->fd) != 0) {
        snprintf(err, errlen, "%s: fsync: %s", w->tmp, strerror(errno));
        goto fail;
    }

    if (rename(w->tmp, w->path) != 0) {
        snprintf(err, errlen, "%s: rename: %s", w->path, strerror(errno));
        goto fail;
    }

    if (sync_dir(w->path) != 0) {
        snprintf(err, errlen, "%s: fsync of its directory: %s", w->path,
                 strerror(errno));
        /* renamed: the file is complete, only its durability unsure */
    }

    (void) EVP_DigestFinal_ex(w->md, d, &n);
    hex(d, n, sha);
    *bytes = w->bytes;

    deflateEnd(&w->z);
    close(w->fd);
    EVP_MD_CTX_free(w->md);
    free(w->tmp);
    free(w->path);
    free(w);

    return 0;

fail:

    ps_archive_abort(w);

    return -1;
}


int
ps_archive_read(const char *path, ps_archive_cb cb, void *ctx, char *sha,
    uint64_t *bytes, char *err, size_t errlen)
{
    int             fd, zrc, rc;
    ssize_t         n;
    unsigned        dn;
    z_stream        z;
    EVP_MD_CTX     *md;
    unsigned char  *in, *out, d[EVP_MAX_MD_SIZE];

    rc = -1;
    zrc = Z_OK;
    *bytes = 0;
    memset(&z, 0, sizeof(z));

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    in = malloc(OUT_CHUNK);
    out = malloc(OUT_CHUNK);
    md = EVP_MD_CTX_new();

    if (in == NULL || out == NULL || md == NULL
        || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || inflateInit2(&z, 15 + 32) != Z_OK)
    {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }

    for ( ;; ) {
        n = read(fd, in, OUT_CHUNK);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0) {
            break;
        }

        (void) EVP_DigestUpdate(md, in, (size_t) n);
        *bytes += (uint64_t) n;

        if (zrc == Z_STREAM_END) {
            /* bytes after the end of the gzip stream */
            snprintf(err, errlen, "%s: data after the end of the gzip "
                     "stream", path);
            goto done;
        }

        z.next_in = in;
        z.avail_in = (uInt) n;

        do {
            z.next_out = out;
            z.avail_out = OUT_CHUNK;
            zrc = inflate(&z, Z_NO_FLUSH);

            if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
                snprintf(err, errlen, "%s: not a valid gzip stream (%s)",
                         path, z.msg ? z.msg : "corrupt");
                goto done;
            }

            if (cb && OUT_CHUNK - z.avail_out > 0
                && cb(ctx, (const char *) out, OUT_CHUNK - z.avail_out, err,
                      errlen) != 0)
            {
                goto done;
            }
        } while (z.avail_out == 0 && zrc != Z_STREAM_END);

        if (zrc == Z_STREAM_END && z.avail_in > 0) {
            snprintf(err, errlen, "%s: data after the end of the gzip "
                     "stream", path);
            goto done;
        }
    }

    if (zrc != Z_STREAM_END) {
        snprintf(err, errlen, "%s: the gzip stream is truncated", path);
        goto done;
    }

    (void) EVP_DigestFinal_ex(md, d, &dn);
    hex(d, dn, sha);
    rc = 0;

done:

    inflateEnd(&z);
    EVP_MD_CTX_free(md);
    free(in);
    free(out);
    close(fd);

    return rc;
}


int
ps_archive_write_text(const char *path, const char *text, size_t len,
    char *err, size_t errlen)
{
    int    fd;
    char  *tmp;

    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0640);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }

    if (write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }

    close(fd);

    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: rename: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }

    free(tmp);
    (void) sync_dir(path);

    return 0;
}
