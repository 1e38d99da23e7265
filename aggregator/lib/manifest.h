/*
 * An archive's manifest: the JSON file FILE.manifest.json beside each
 * archive FILE, saying what it holds (table, day, part, schema version,
 * row count, sums of requests/errors/bytes_in/bytes_out, its SHA-256 and
 * size, when it was made), so that a file can be checked and restored
 * without the database that wrote it.
 */

#ifndef PS_MANIFEST_H
#define PS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/archive.h"

typedef struct {
    char      table[64];        /* pathstats_hourly, pathstats_daily, ... */
    char      day[16];          /* YYYY-MM-DD; "" for a whole table */
    int       part;
    int       schema_version;
    char      file[256];        /* the archive's name (no directory) */
    int64_t   rows;
    char      requests[32];     /* decimal sums */
    char      errors[32];
    char      bytes_in[32];
    char      bytes_out[32];
    char      sha256[PS_SHA256_HEX];
    uint64_t  bytes;
    char      created_at[40];
} ps_manifest_t;

/* The manifest's path for archive path, into buf; returns buf. */
const char *ps_manifest_path(const char *archive, char *buf, size_t size);

/* Writes m as archive's manifest (temporary file, fsync, rename); 0, or
 * -1 (err set). */
int ps_manifest_write(const char *archive, const ps_manifest_t *m,
    char *err, size_t errlen);

/* Reads archive's manifest into m; 0, or -1 (err names the file). */
int ps_manifest_read(const char *archive, ps_manifest_t *m, char *err,
    size_t errlen);

/* Checks archive against m: its SHA-256 and size, then, decompressed,
 * its row count and sums; 0, or -1 with err naming the file and what
 * differs. */
int ps_manifest_check(const char *archive, const ps_manifest_t *m,
    char *err, size_t errlen);

#endif /* PS_MANIFEST_H */
