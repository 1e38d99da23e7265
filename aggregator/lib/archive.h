/*
 * Archive files: gzip (zlib) streams written to a temporary name beside
 * the final one, fsync'd, renamed into place and the directory fsync'd,
 * with the SHA-256 (OpenSSL's libcrypto) of the bytes on disk; read back
 * through the same checksum, so that a flipped byte is found.
 */

#ifndef PS_ARCHIVE_H
#define PS_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#define PS_SHA256_HEX  65          /* 64 hex digits and the NUL */

typedef struct ps_archive_writer_s  ps_archive_writer_t;

/* Opens path's temporary file (path + ".tmp", replaced if there) for a
 * gzip stream; NULL with the reason in err. */
ps_archive_writer_t *ps_archive_create(const char *path, char *err,
    size_t errlen);

/* Compresses len bytes of p into the file; 0, or -1 (err set). */
int ps_archive_write(ps_archive_writer_t *w, const void *p, size_t len,
    char *err, size_t errlen);

/* Ends the stream, fsyncs, renames the file to its path and fsyncs the
 * directory; the SHA-256 of the file (hex) into sha, its size into
 * *bytes.  The writer is freed either way; on failure (-1, err set) the
 * temporary file is removed and path untouched. */
int ps_archive_finish(ps_archive_writer_t *w, char *sha, uint64_t *bytes,
    char *err, size_t errlen);

/* Abandons a writer: the temporary file is removed; NULL is allowed. */
void ps_archive_abort(ps_archive_writer_t *w);

/* Called with each piece of the decompressed stream; 0 to go on, -1 to
 * stop (ps_archive_read() then fails with the callback's err). */
typedef int (*ps_archive_cb)(void *ctx, const char *p, size_t len,
    char *err, size_t errlen);

/* Reads path, decompressing it into cb (may be NULL: checksum only) and
 * computing the SHA-256 of its bytes (hex, into sha) and its size; 0, or
 * -1 (err set) on an I/O, gzip or callback error. */
int ps_archive_read(const char *path, ps_archive_cb cb, void *ctx,
    char *sha, uint64_t *bytes, char *err, size_t errlen);

/* Writes len bytes of text to path through a temporary file, fsync'd
 * and renamed (the manifests); 0, or -1 (err set). */
int ps_archive_write_text(const char *path, const char *text, size_t len,
    char *err, size_t errlen);

#endif /* PS_ARCHIVE_H */
