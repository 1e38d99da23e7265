/*
 * Archive manifests: see manifest.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/csv_sums.h"
#include "lib/manifest.h"


const char *
ps_manifest_path(const char *archive, char *buf, size_t size)
{
    (void) snprintf(buf, size, "%s.manifest.json", archive);

    return buf;
}


int
ps_manifest_write(const char *archive, const ps_manifest_t *m, char *err,
    size_t errlen)
{
    int      rc;
    char     path[4096], *text;
    json_t  *o;

    o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:I, s:s, s:s, s:s, s:s, s:s,"
                  " s:I, s:s}",
                  "table", m->table, "day", m->day, "part", m->part,
                  "schema_version", m->schema_version, "file", m->file,
                  "rows", (json_int_t) m->rows, "requests", m->requests,
                  "errors", m->errors, "bytes_in", m->bytes_in,
                  "bytes_out", m->bytes_out, "sha256", m->sha256,
                  "bytes", (json_int_t) m->bytes,
                  "created_at", m->created_at);
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);

    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    rc = ps_archive_write_text(ps_manifest_path(archive, path, sizeof(path)),
                               text, strlen(text), err, errlen);
    free(text);

    return rc;
}


static int
get_str(json_t *o, const char *key, char *dst, size_t size)
{
    json_t  *v;

    v = json_object_get(o, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) >= size) {
        return -1;
    }

    memcpy(dst, json_string_value(v), strlen(json_string_value(v)) + 1);

    return 0;
}


int
ps_manifest_read(const char *archive, ps_manifest_t *m, char *err,
    size_t errlen)
{
    char          path[4096];
    json_t       *o, *v;
    json_error_t  je;

    memset(m, 0, sizeof(*m));
    ps_manifest_path(archive, path, sizeof(path));

    o = json_load_file(path, 0, &je);
    if (o == NULL) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return -1;
    }

    if (get_str(o, "table", m->table, sizeof(m->table)) != 0
        || get_str(o, "day", m->day, sizeof(m->day)) != 0
        || get_str(o, "file", m->file, sizeof(m->file)) != 0
        || get_str(o, "requests", m->requests, sizeof(m->requests)) != 0
        || get_str(o, "errors", m->errors, sizeof(m->errors)) != 0
        || get_str(o, "bytes_in", m->bytes_in, sizeof(m->bytes_in)) != 0
        || get_str(o, "bytes_out", m->bytes_out, sizeof(m->bytes_out)) != 0
        || get_str(o, "sha256", m->sha256, sizeof(m->sha256)) != 0
        || get_str(o, "created_at", m->created_at,
                   sizeof(m->created_at)) != 0
        || !json_is_integer(json_object_get(o, "rows"))
        || !json_is_integer(json_object_get(o, "bytes"))
        || !json_is_integer(json_object_get(o, "part"))
        || !json_is_integer(json_object_get(o, "schema_version")))
    {
        snprintf(err, errlen, "%s: not a pathstats manifest (a field is "
                 "missing or of the wrong type)", path);
        json_decref(o);
        return -1;
    }

    v = json_object_get(o, "rows");
    m->rows = (int64_t) json_integer_value(v);
    m->bytes = (uint64_t) json_integer_value(json_object_get(o, "bytes"));
    m->part = (int) json_integer_value(json_object_get(o, "part"));
    m->schema_version =
        (int) json_integer_value(json_object_get(o, "schema_version"));
    json_decref(o);

    return 0;
}


static int
feed(void *ctx, const char *p, size_t len, char *err, size_t errlen)
{
    return ps_csv_sums_feed(ctx, p, len, err, errlen);
}


int
ps_manifest_check(const char *archive, const ps_manifest_t *m, char *err,
    size_t errlen)
{
    int            i;
    char           sha[PS_SHA256_HEX], why[512], got[32];
    uint64_t       bytes;
    ps_csv_sums_t  c;
    const char    *want[PS_CSV_SUM_COLS];

    static const char *const  names[PS_CSV_SUM_COLS] = {
        "requests", "errors", "bytes_in", "bytes_out"
    };

    ps_csv_sums_init(&c);

    if (ps_archive_read(archive, feed, &c, sha, &bytes, why,
                        sizeof(why)) != 0)
    {
        /* a flipped byte shows first as a bad gzip stream or CRC */
        (void) snprintf(err, errlen, "%s (manifest sha256 %.12s...)", why,
                        m->sha256);
        return -1;
    }

    if (strcmp(sha, m->sha256) != 0 || bytes != m->bytes) {
        (void) snprintf(err, errlen, "%s: sha256 %s, %llu bytes, but its "
                        "manifest says %s, %llu bytes", archive, sha,
                        (unsigned long long) bytes, m->sha256,
                        (unsigned long long) m->bytes);
        return -1;
    }

    if (ps_csv_sums_end(&c, why, sizeof(why)) != 0) {
        (void) snprintf(err, errlen, "%s: %s", archive, why);
        return -1;
    }

    if (c.rows != m->rows) {
        (void) snprintf(err, errlen, "%s: %lld rows, its manifest says "
                        "%lld", archive, (long long) c.rows,
                        (long long) m->rows);
        return -1;
    }

    want[0] = m->requests;
    want[1] = m->errors;
    want[2] = m->bytes_in;
    want[3] = m->bytes_out;

    for (i = 0; i < PS_CSV_SUM_COLS; i++) {
        (void) snprintf(got, sizeof(got), "%llu",
                        (unsigned long long) c.sum[i]);
        if (strcmp(got, want[i]) != 0) {
            (void) snprintf(err, errlen, "%s: %s sum to %s, its manifest "
                            "says %s", archive, names[i], got, want[i]);
            return -1;
        }
    }

    return 0;
}
