/*
 * Writes a few valid snapshots (the format of pathstats_snapshot.h,
 * built directly) into a directory, as the fuzzer's seed corpus:
 *
 *   gen_seed DIR
 *
 * seed-empty: a blob and nothing else; seed-one: one window of three
 * rows with summary and metrics; seed-full: every window, sort, range
 * and section; seed-zero-rows: windows with no rows.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pathstats_snapshot.h"


#define SEED_MAX  65536

typedef struct {
    unsigned char      buf[SEED_MAX];
    ps_snap_section_t  sec[PS_SNAP_MAX_SECTIONS];
    uint32_t           nsec;
    char               blob[8192];
    uint32_t           blob_len;
    /* section bodies other than the blob, in order */
    unsigned char      body[32768];
    uint32_t           body_len;
} seed_t;


static ps_snap_ref_t
blob_add(seed_t *s, const char *str)
{
    ps_snap_ref_t  ref;

    ref.off = s->blob_len;
    ref.len = (uint32_t) strlen(str);
    memcpy(s->blob + s->blob_len, str, ref.len);
    s->blob_len += ref.len;

    return ref;
}


/* adds a section whose body is copied later, after the table */
static void
section_add(seed_t *s, uint32_t type, uint32_t arg, const void *body,
    uint32_t len)
{
    s->sec[s->nsec].type = type;
    s->sec[s->nsec].arg = arg;
    s->sec[s->nsec].off = s->body_len;      /* relative for now */
    s->sec[s->nsec].len = len;
    s->nsec++;

    memcpy(s->body + s->body_len, body, len);
    s->body_len += (len + 7) & ~7u;
}


static void
ref_section(seed_t *s, uint32_t type, uint32_t arg, const char *str)
{
    ps_snap_ref_t  ref = blob_add(s, str);

    section_add(s, type, arg, &ref, sizeof(ref));
}


static void
window_add(seed_t *s, uint32_t w, uint32_t n)
{
    char           path[64], json[256];
    uint32_t       i, k, order[64];
    ps_snap_row_t  rows[64];

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/w%u/p%u", w, i);
        snprintf(json, sizeof(json),
                 "{\"host\":\"h\",\"method\":\"GET\",\"path\":\"%s\","
                 "\"requests\":%u}", path, n - i);
        rows[i].host = blob_add(s, "h");
        rows[i].method = blob_add(s, i % 2 ? "POST" : "GET");
        rows[i].path = blob_add(s, path);
        rows[i].json = blob_add(s, json);
    }

    section_add(s, PS_SNAP_ROWS, w, rows, n * sizeof(ps_snap_row_t));

    for (k = 0; k < PS_SNAP_SORTS; k++) {
        for (i = 0; i < n; i++) {
            order[i] = (k % 2) ? n - 1 - i : i;
        }

        section_add(s, PS_SNAP_ORDER, w * PS_SNAP_SORTS + k, order,
                    n * sizeof(uint32_t));
    }
}


static int
seed_write(seed_t *s, const char *dir, const char *name, uint64_t seq)
{
    FILE              *f;
    char               file[4096];
    uint32_t           i, table, blob_off, bodies_off, total;
    ps_snap_header_t   h;

    /* the blob goes first among the bodies, then the others */

    table = sizeof(ps_snap_header_t)
            + (s->nsec + 1) * sizeof(ps_snap_section_t);
    blob_off = (table + 7) & ~7u;
    bodies_off = blob_off + ((s->blob_len + 7) & ~7u);
    total = bodies_off + s->body_len;

    if (total > SEED_MAX) {
        fprintf(stderr, "gen_seed: %s too large\n", name);
        return -1;
    }

    memset(s->buf, 0, sizeof(s->buf));

    memset(&h, 0, sizeof(h));
    h.magic = PS_SNAP_MAGIC;
    h.version = PS_SNAP_VERSION;
    h.total_len = total;
    h.generated_us = 1767225600000000ULL;
    h.sequence = seq;
    h.heartbeat_us = h.generated_us;
    h.section_count = s->nsec + 1;
    h.flags = PS_SNAP_F_AGGREGATOR_OK;
    memcpy(s->buf, &h, sizeof(h));

    {
        ps_snap_section_t  blob = { PS_SNAP_BLOB, 0, blob_off, s->blob_len };

        memcpy(s->buf + sizeof(h), &blob, sizeof(blob));
    }

    for (i = 0; i < s->nsec; i++) {
        s->sec[i].off += bodies_off;
        memcpy(s->buf + sizeof(h) + (i + 1) * sizeof(ps_snap_section_t),
               &s->sec[i], sizeof(ps_snap_section_t));
    }

    memcpy(s->buf + blob_off, s->blob, s->blob_len);
    memcpy(s->buf + bodies_off, s->body, s->body_len);

    {
        ps_snap_view_t  view;
        const char     *reason = ps_snap_validate(s->buf, total, &view);

        if (reason) {
            fprintf(stderr, "gen_seed: %s is invalid: %s\n", name, reason);
            return -1;
        }
    }

    snprintf(file, sizeof(file), "%s/%s", dir, name);

    f = fopen(file, "wb");
    if (f == NULL || fwrite(s->buf, 1, total, f) != total) {
        perror(file);
        return -1;
    }

    fclose(f);

    return 0;
}


int
main(int argc, char **argv)
{
    static seed_t  s;
    int            rc;

    if (argc != 2) {
        fprintf(stderr, "usage: gen_seed DIR\n");
        return 1;
    }

    rc = 0;

    memset(&s, 0, sizeof(s));
    blob_add(&s, "x");
    rc |= seed_write(&s, argv[1], "seed-empty", 1);

    memset(&s, 0, sizeof(s));
    window_add(&s, PS_SNAP_WIN_24H, 3);
    ref_section(&s, PS_SNAP_SUMMARY, 0, "{\"requests\":6}");
    ref_section(&s, PS_SNAP_METRICS, 0, "pathstats_requests_total 6\n");
    rc |= seed_write(&s, argv[1], "seed-one", 2);

    memset(&s, 0, sizeof(s));
    window_add(&s, PS_SNAP_WIN_1M, 2);
    window_add(&s, PS_SNAP_WIN_1H, 5);
    window_add(&s, PS_SNAP_WIN_24H, 9);
    ref_section(&s, PS_SNAP_SUMMARY, 0, "{\"requests\":16,\"alerts\":[]}");
    ref_section(&s, PS_SNAP_TRENDS, PS_SNAP_RANGE_24H, "[1,2]");
    ref_section(&s, PS_SNAP_TRENDS, PS_SNAP_RANGE_7D, "[3]");
    ref_section(&s, PS_SNAP_TRENDS, PS_SNAP_RANGE_30D, "[]");
    ref_section(&s, PS_SNAP_METRICS, 0, "# TYPE x counter\nx 1\n");
    ref_section(&s, PS_SNAP_HEALTH, 0, "[\"redis down\"]");
    ref_section(&s, PS_SNAP_WINDOW_INFO, PS_SNAP_WIN_24H,
                "{\"rows_left_out\":0}");
    rc |= seed_write(&s, argv[1], "seed-full", 3);

    memset(&s, 0, sizeof(s));
    window_add(&s, PS_SNAP_WIN_1M, 0);
    window_add(&s, PS_SNAP_WIN_24H, 0);
    ref_section(&s, PS_SNAP_HEALTH, 0, "[]");
    rc |= seed_write(&s, argv[1], "seed-zero-rows", 4);

    return rc ? 1 : 0;
}
