/*
 * The PostgreSQL sink's memory of its rows: histograms of committed rows
 * found byte for byte by (hour, host, method, path); hours after the
 * start hour complete, the start hour and earlier ones not until set;
 * commits adding the delta's histogram; hours before keep_from and the
 * oldest of too many forgotten (and never complete again); a clear
 * forgetting everything.
 */

#include <stdio.h>
#include <string.h>

#include "agg/agg_table.h"
#include "lib/key_hash.h"
#include "store/pg/pg_rows.h"
#include "tap.h"

#define NKEYS  3000
#define H      ((int64_t) 1700000000 / 3600 * 3600)

static char  paths[NKEYS][16];


static ps_agg_entry_t *
key(ps_agg_entry_t *e, int64_t hour, const char *host, const char *method,
    const char *path)
{
    memset(e, 0, sizeof(*e));
    e->hour = hour;
    e->host = host;
    e->host_len = (uint32_t) strlen(host);
    e->method = method;
    e->method_len = (uint32_t) strlen(method);
    e->path = path;
    e->path_len = (uint32_t) strlen(path);
    ps_hist_init(&e->latency);

    /* as the aggregation table hashes its entries */
    e->hash = ps_key_hash_hour(ps_key_hash(host, e->host_len, method,
                                           e->method_len, path,
                                           e->path_len), hour);

    return e;
}


static uint64_t
count_of(ps_pg_rows_t *r, const ps_agg_entry_t *e)
{
    const ps_hist_t  *h = ps_pg_rows_find(r, e);

    return h ? ps_hist_count(h) : UINT64_MAX;
}


int
main(void)
{
    size_t           i, found;
    uint8_t          enc[64];
    size_t           n;
    ps_hist_t        h;
    ps_pg_rows_t    *r;
    ps_agg_entry_t   e, f;

    r = ps_pg_rows_create(H);
    ok(r != NULL, "created with start hour H");
    ps_pg_rows_keep_from(r, H - 3600);

    ok(!ps_pg_rows_complete(r, H), "the start hour is not complete");
    ok(!ps_pg_rows_complete(r, H - 3600), "nor the one before");
    ok(ps_pg_rows_complete(r, H + 3600), "the next hour is");
    ok(!ps_pg_rows_complete(r, H - 7200), "an hour not kept is not");
    ok(ps_pg_rows_find(r, key(&e, H, "h", "GET", "/a")) == NULL,
       "nothing known yet");

    /* a row read back: its histogram, found byte for byte */
    ps_hist_init(&h);
    ps_hist_add(&h, 5);
    ps_hist_add(&h, 5000);
    n = ps_hist_encode(&h, enc, sizeof(enc));
    ok(ps_pg_rows_put(r, key(&e, H, "h", "GET", "/a"), enc, n) == 0,
       "a row read back is put");
    is_u64(count_of(r, &e), 2, "  with its histogram");
    ok(ps_pg_rows_find(r, key(&f, H, "hG", "ET", "/a")) == NULL,
       "  another split of the same bytes is another key");
    ok(ps_pg_rows_find(r, key(&f, H + 3600, "h", "GET", "/a")) == NULL,
       "  the same key in another hour is another row");
    ok(ps_pg_rows_put(r, key(&f, H, "h", "GET", "/bad"),
                      (const uint8_t *) "\x99", 1) == 0
       && count_of(r, &f) == 0, "an undecodable histogram is empty");
    ok(ps_pg_rows_put(r, key(&f, H - 7200, "h", "GET", "/a"), enc, n) == -1,
       "a row of an hour not kept is not put");

    /* commits add the delta's histogram */
    key(&e, H, "h", "GET", "/a");
    ps_hist_add(&e.latency, 7);
    ok(ps_pg_rows_commit(r, &e) == 0, "a commit onto a known row");
    is_u64(count_of(r, &e), 3, "  adds the delta's histogram");
    ps_hist_free(&e.latency);

    for (i = 0; i < NKEYS; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/p/%zu", i);
        key(&e, H + 3600, "h", "GET", paths[i]);
        ps_hist_add(&e.latency, i);
        if (ps_pg_rows_commit(r, &e) != 0) {
            break;
        }
        ps_hist_free(&e.latency);
    }
    is_int((long long) i, NKEYS, "%d new rows committed", NKEYS);

    for (i = 0, found = 0; i < NKEYS; i++) {
        found += count_of(r, key(&e, H + 3600, "h", "GET", paths[i])) == 1;
    }
    is_int((long long) found, NKEYS, "  each found with its one value");
    is_int((long long) ps_pg_rows_count(r), NKEYS + 2, "  rows in all");
    ok(ps_pg_rows_memory(r) > NKEYS * 40, "  memory is accounted");

    ps_pg_rows_set_complete(r, H);
    ok(ps_pg_rows_complete(r, H), "the start hour, once read whole, is");

    /* forgetting: hours before keep_from go, and stay incomplete */
    ps_pg_rows_keep_from(r, H + 3600);
    ok(ps_pg_rows_find(r, key(&e, H, "h", "GET", "/a")) == NULL,
       "keep_from forgets the hours before it");
    ok(!ps_pg_rows_complete(r, H), "  which are not complete any more");
    is_int((long long) ps_pg_rows_count(r), NKEYS, "  the later one stays");

    /* more hours than kept: the oldest goes, and is never complete */
    for (i = 2; i <= PS_PG_ROWS_HOURS + 1; i++) {
        key(&e, H + (int64_t) i * 3600, "h", "GET", "/x");
        ok(ps_pg_rows_commit(r, &e) == 0, "a row of hour H+%zu", i);
    }
    ok(ps_pg_rows_find(r, key(&e, H + 3600, "h", "GET", paths[0])) == NULL,
       "  the oldest hour was forgotten for the newest");
    ok(!ps_pg_rows_complete(r, H + 3600), "  and is no longer complete");
    ok(ps_pg_rows_complete(r, H + 9 * 3600), "  a later new hour is");

    /* a clear: nothing known, nothing complete */
    ps_pg_rows_clear(r);
    is_int((long long) ps_pg_rows_count(r), 0, "a clear forgets every row");
    ok(!ps_pg_rows_complete(r, H + 9 * 3600), "  and every hour");

    ps_hist_free(&h);
    ps_pg_rows_destroy(r);
    ps_pg_rows_destroy(NULL);

    return done_testing();
}
