/*
 * Unit tests for aggregator/agg/agg_table.c and aggregator/lib/hour.c: exact
 * counts, status classes, the {other} overflow, hour rollover, merge,
 * iteration, removal, bounded memory, plus a throughput measurement.
 * Prints TAP.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg/agg_table.h"
#include "lib/hour.h"
#include "lib/key_hash.h"
#include "lib/murmur3.h"
#include "rng.h"
#include "tap.h"

static uint64_t rng_state = 7;

static uint64_t
rng(void)
{
    return rng_next(&rng_state);
}

static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

#define H0    1795428000LL           /* 2026-11-23T10:00:00Z */
#define H0US  (H0 * 1000000LL)

static int
add_s(ps_agg_table_t *t, int64_t hour, const char *host, const char *method,
    const char *path, unsigned status, uint64_t us)
{
    return ps_agg_add(t, hour, host, strlen(host), method, strlen(method),
                      path, strlen(path), status, us, 10, 100, NULL,
                      (uint64_t) hour * 1000000 + us);
}

static const ps_agg_entry_t *
find_s(ps_agg_table_t *t, int64_t hour, const char *host, const char *method,
    const char *path)
{
    return ps_agg_find(t, hour, host, strlen(host), method, strlen(method),
                       path, strlen(path));
}

static void
test_hour(void)
{
    char  buf[PS_ISO8601_MAX];

    ok(ps_hour_of(H0US - 1) == H0 - 3600,
       "09:59:59.999999 is in the 09:00 hour");
    ok(ps_hour_of(H0US) == H0, "10:00:00.000000 is in the 10:00 hour");
    ok(ps_hour_of(H0US + 3599999999LL) == H0,
       "10:59:59.999999 is in the 10:00 hour");
    ok(ps_hour_of(0) == 0 && ps_hour_of(-1) == -3600,
       "hours floor before 1970 too");

    is_str(ps_format_iso8601(H0US, buf), "2026-11-23T10:00:00Z",
           "ISO 8601 of an hour start");
    is_str(ps_format_iso8601(H0US - 1, buf), "2026-11-23T09:59:59Z",
           "ISO 8601 truncates fractions");
    is_str(ps_format_iso8601_frac(H0US - 1, buf, 6),
           "2026-11-23T09:59:59.999999Z", "ISO 8601 with microseconds");
    is_str(ps_format_iso8601_frac(H0US + 45000, buf, 3),
           "2026-11-23T10:00:00.045Z", "ISO 8601 with milliseconds");
    is_str(ps_format_iso8601(0, buf), "1970-01-01T00:00:00Z", "epoch");
    is_str(ps_format_iso8601(1709210096LL * 1000000, buf),
           "2024-02-29T12:34:56Z", "leap day");
    is_str(ps_format_iso8601(253402300799LL * 1000000, buf),
           "9999-12-31T23:59:59Z", "year 9999");
    is_str(ps_format_iso8601(-2203891200LL * 1000000, buf),
           "1900-03-01T00:00:00Z", "1900-03-01 (not a leap year)");
    is_str(ps_format_iso8601_frac(253402300800LL * 1000000 + 7, buf, 6),
           "10000-01-01T00:00:00.000007Z", "year 10000, five digits");
    is_str(ps_format_iso8601_frac(-1, buf, 6),
           "1969-12-31T23:59:59.999999Z", "a microsecond before 1970");
    is_str(ps_format_iso8601_frac(-62167219200LL * 1000000 + 10000, buf, 3),
           "0000-01-01T00:00:00.010Z", "year 0");
    is_str(ps_format_iso8601_frac(253402300800LL * 1000000 + 8, buf, 6),
           "10000-01-01T00:00:00.000008Z", "year 10000 again (no date kept)");
    is_str(ps_format_iso8601(H0US + 50399999999LL, buf),
           "2026-11-23T23:59:59Z", "the last second of a day");
    is_str(ps_format_iso8601(H0US + 50400000000LL, buf),
           "2026-11-24T00:00:00Z", "the next day's first");
    is_str(ps_format_iso8601(H0US + 50399999999LL, buf),
           "2026-11-23T23:59:59Z", "and back: the date follows the day");
    is_str(ps_format_iso8601_frac(-1, buf, 6), "1969-12-31T23:59:59.999999Z",
           "one microsecond before the epoch");
}

static void
test_exact_counts(void)
{
    ps_agg_table_t        *t;
    const ps_agg_entry_t  *e;
    char                   path[32];
    uint64_t               i, n = 1000000, k = 1000, total = 0, bad = 0;
    uint64_t               sum_us = 0;

    t = ps_agg_table_create(5000);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/p/%" PRIu64, i % k);
        if (add_s(t, H0, "example.com", "GET", path, 200, i / k % 1000)
            != 0)
        {
            bad++;
        }
        sum_us += i / k % 1000;
    }
    is_u64(bad, 0, "1e6 adds succeed");
    is_u64(ps_agg_count(t), k, "1000 keys");

    bad = 0;
    for (i = 0; i < ps_agg_count(t); i++) {
        e = ps_agg_entry_at(t, i);
        total += e->counts.requests;
        bad += e->counts.requests != n / k || e->counts.status[1] != n / k
               || e->counts.bytes_in != 10 * (n / k)
               || e->counts.bytes_out != 100 * (n / k)
               || ps_hist_count(&e->latency) != n / k;
    }
    is_u64(bad, 0, "each key has exactly 1000 requests, 2xx, bytes, hist");
    is_u64(total, n, "requests add up to 1e6");

    total = 0;
    for (i = 0; i < ps_agg_count(t); i++) {
        total += ps_agg_entry_at(t, i)->counts.latency_sum_us;
    }
    is_u64(total, sum_us, "latency sums add up");

    e = find_s(t, H0, "example.com", "GET", "/p/7");
    ok(e != NULL && e->counts.latency_max_us == 999 && e->first_seen_us == H0US
       && e->last_seen_us == H0US + 999,
       "max latency, first and last seen of /p/7");
    ok(find_s(t, H0, "example.com", "GET", "/p/1000") == NULL,
       "find of a missing key is NULL");
    ok(find_s(t, H0 + 3600, "example.com", "GET", "/p/7") == NULL,
       "same key in another hour is another key");
    is_u64(ps_agg_overflowed(t), 0, "no overflow below max_keys");

    ps_agg_table_destroy(t);
}

static void
test_status(void)
{
    ps_agg_table_t        *t;
    const ps_agg_entry_t  *e;
    static const unsigned  st[] = { 0, 99, 100, 199, 200, 204, 301, 304,
                                    404, 499, 500, 503, 599, 600, 999,
                                    65535 };
    size_t                 i;

    t = ps_agg_table_create(10);
    for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        add_s(t, H0, "h", "GET", "/", st[i], 1);
    }
    e = find_s(t, H0, "h", "GET", "/");
    is_u64(e->counts.requests, 16, "16 requests");
    ok(e->counts.status[0] == 2 && e->counts.status[1] == 2
       && e->counts.status[2] == 2 && e->counts.status[3] == 2
       && e->counts.status[4] == 3,
       "1xx=2 2xx=2 3xx=2 4xx=2 5xx=3");
    is_u64(e->counts.errors, 3, "errors = 5xx = 3");
    is_u64(e->counts.status[0] + e->counts.status[1] + e->counts.status[2]
           + e->counts.status[3] + e->counts.status[4], 11, "0, 99, 600, 999, 65535 are in no class");
    ps_agg_table_destroy(t);
}

static void
test_overflow(void)
{
    ps_agg_table_t        *t;
    const ps_agg_entry_t  *e;
    char                   path[32];
    int                    i;
    uint64_t               total;

    t = ps_agg_table_create(10);
    for (i = 0; i < 25; i++) {
        snprintf(path, sizeof(path), "/k%d", i);
        add_s(t, H0, "h", "GET", path, 200, 5);
        add_s(t, H0, "h", "GET", path, 500, 7);
    }
    is_u64(ps_agg_count(t), 11, "25 keys, max 10: 10 keys + {other}");
    e = find_s(t, H0, PS_AGG_OTHER_HOST, PS_AGG_OTHER_METHOD,
               PS_AGG_OTHER_PATH);
    ok(e != NULL, "the overflow key is (hour, *, *, {other})");
    is_u64(e->counts.requests, 30, "{other} has the 30 requests of 15 keys");
    ok(e->counts.status[1] == 15 && e->counts.errors == 15
       && e->counts.bytes_out == 3000
       && e->counts.latency_sum_us == 15 * 12 && e->counts.latency_max_us == 7
       && ps_hist_count(&e->latency) == 30, "{other} counters are exact");
    is_u64(ps_agg_overflowed(t), 30, "overflowed counts 30 requests");

    add_s(t, H0, "h", "GET", "/k3", 200, 5);
    is_u64(find_s(t, H0, "h", "GET", "/k3")->counts.requests, 3,
           "a known key still counts into itself when the hour is full");
    ok(find_s(t, H0, "h", "GET", "/k20") == NULL, "/k20 has no key");

    add_s(t, H0, PS_AGG_OTHER_HOST, PS_AGG_OTHER_METHOD, PS_AGG_OTHER_PATH,
          200, 5);
    is_u64(ps_agg_overflowed(t), 30,
           "a record for {other} itself is not an overflow");

    for (i = 0; i < 12; i++) {
        snprintf(path, sizeof(path), "/k%d", i);
        add_s(t, H0 + 3600, "h", "GET", path, 200, 5);
    }
    is_u64(ps_agg_count(t), 22, "the next hour has its own 10 keys + other");

    total = 0;
    for (i = 0; i < (int) ps_agg_count(t); i++) {
        total += ps_agg_entry_at(t, i)->counts.requests;
    }
    is_u64(total, 50 + 1 + 1 + 12, "every request is counted once");

    ps_agg_table_destroy(t);
}

static void
test_rollover(void)
{
    ps_agg_table_t  *t;
    uint64_t         a = (uint64_t) H0US - 1, b = (uint64_t) H0US;

    t = ps_agg_table_create(10);
    ps_agg_add(t, ps_hour_of((int64_t) a), "h", 1, "GET", 3, "/", 1, 200, 1,
               0, 0, NULL, a);
    ps_agg_add(t, ps_hour_of((int64_t) b), "h", 1, "GET", 3, "/", 1, 200, 1,
               0, 0, NULL, b);
    ok(ps_agg_count(t) == 2
       && find_s(t, H0 - 3600, "h", "GET", "/")->last_seen_us == a
       && find_s(t, H0, "h", "GET", "/")->first_seen_us == b,
       "records 1 us apart across the hour boundary land in two hours");
    ps_agg_table_destroy(t);
}

static void
test_binary_keys(void)
{
    ps_agg_table_t        *t;
    const ps_agg_entry_t  *e;
    static const char      host[] = "a\0b", path[] = "/\0\xff\"\\\n";

    t = ps_agg_table_create(10);
    ps_agg_add(t, H0, host, 3, "GET", 3, path, 6, 200, 1, 0, 0, NULL, 1);
    ps_agg_add(t, H0, host, 1, "GET", 3, path, 6, 200, 1, 0, 0, NULL, 1);
    ps_agg_add(t, H0, "ab", 2, "c", 1, "/", 1, 200, 1, 0, 0, NULL, 1);
    ps_agg_add(t, H0, "a", 1, "bc", 2, "/", 1, 200, 1, 0, 0, NULL, 1);
    ps_agg_add(t, H0, "", 0, "", 0, "", 0, 200, 1, 0, 0, NULL, 1);
    is_u64(ps_agg_count(t), 5, "NUL bytes and boundaries make distinct keys");
    e = ps_agg_find(t, H0, host, 3, "GET", 3, path, 6);
    ok(e != NULL && e->host_len == 3 && memcmp(e->host, host, 3) == 0
       && e->path_len == 6 && memcmp(e->path, path, 6) == 0
       && e->path[6] == '\0', "binary key bytes are kept exactly");
    ps_agg_table_destroy(t);
}

/* feeds the same pseudo-random records into several tables */
static void
feed(ps_agg_table_t **tabs, size_t ntabs, uint64_t n, uint64_t seed)
{
    char      path[32], host[16];
    uint64_t  i, r, us, client;
    size_t    which;

    rng_state = seed;
    for (i = 0; i < n; i++) {
        r = rng();
        snprintf(path, sizeof(path), "/m/%" PRIu64, r % 300);
        snprintf(host, sizeof(host), "h%" PRIu64, (r >> 20) % 3);
        us = (r >> 32) % 2000000;
        client = ps_murmur3_hll_hash(&r, 2);
        which = (size_t) (i % ntabs);
        ps_agg_add(tabs[which], H0 + 3600 * (int64_t) ((r >> 40) % 2), host,
                   strlen(host), "GET", 3, path, strlen(path),
                   100 * (unsigned) (1 + (r >> 50) % 5), us, r % 1000,
                   r % 100000, (r >> 45) % 7 ? &client : NULL,
                   (uint64_t) H0US + i);
    }
}

static int
entries_equal(const ps_agg_entry_t *a, const ps_agg_entry_t *b)
{
    uint8_t  ba[PS_HIST_BUCKETS * 10 + 1], bb[PS_HIST_BUCKETS * 10 + 1];
    uint8_t  ha[PS_HLL_MAX_BYTES], hb[PS_HLL_MAX_BYTES];
    size_t   la, lb, lha, lhb;

    la = ps_hist_encode(&a->latency, ba, sizeof(ba));
    lb = ps_hist_encode(&b->latency, bb, sizeof(bb));
    lha = ps_hll_serialize(&a->clients, ha, sizeof(ha));
    lhb = ps_hll_serialize(&b->clients, hb, sizeof(hb));

    return memcmp(&a->counts, &b->counts, sizeof(ps_counts_t)) == 0
           && a->first_seen_us == b->first_seen_us
           && a->last_seen_us == b->last_seen_us
           && la == lb && memcmp(ba, bb, la) == 0
           && lha == lhb && memcmp(ha, hb, lha) == 0;
}

static void
test_merge(void)
{
    ps_agg_table_t        *parts[3], *whole, *merged, *small;
    const ps_agg_entry_t  *e, *o;
    size_t                 i, p;
    uint64_t               bad = 0, total = 0, req;

    for (p = 0; p < 3; p++) {
        parts[p] = ps_agg_table_create(10000);
    }
    whole = ps_agg_table_create(10000);
    merged = ps_agg_table_create(10000);
    small = ps_agg_table_create(100);

    feed(parts, 3, 300000, 99);
    feed(&whole, 1, 300000, 99);

    for (p = 0; p < 3; p++) {
        for (i = 0; i < ps_agg_count(parts[p]); i++) {
            bad += ps_agg_merge_entry(merged, ps_agg_entry_at(parts[p], i))
                   != 0;
            bad += ps_agg_merge_entry(small, ps_agg_entry_at(parts[p], i))
                   != 0;
        }
    }
    is_u64(bad, 0, "merges succeed");
    is_u64(ps_agg_count(merged), ps_agg_count(whole),
           "merged table has the keys of the whole table");

    for (i = 0; i < ps_agg_count(whole); i++) {
        e = ps_agg_entry_at(whole, i);
        o = ps_agg_find(merged, e->hour, e->host, e->host_len, e->method,
                        e->method_len, e->path, e->path_len);
        bad += o == NULL || !entries_equal(e, o);
    }
    is_u64(bad, 0, "every merged entry equals the entry built from all "
           "records (counters, histogram bytes, HLL bytes)");

    /* merging into a table with a smaller limit overflows exactly */
    is_u64(ps_agg_count(small), 2 * 101, "max 100: 100 keys + other per hour");
    for (i = 0; i < ps_agg_count(small); i++) {
        total += ps_agg_entry_at(small, i)->counts.requests;
    }
    is_u64(total, 300000, "all 300000 requests are still counted");
    req = 0;
    for (i = 0; i < ps_agg_count(small); i++) {
        e = ps_agg_entry_at(small, i);
        if (e->path_len == strlen(PS_AGG_OTHER_PATH)) {
            req += e->counts.requests;
        }
    }
    is_u64(ps_agg_overflowed(small), req,
           "overflowed = requests in {other}");

    for (p = 0; p < 3; p++) {
        ps_agg_table_destroy(parts[p]);
    }
    ps_agg_table_destroy(whole);
    ps_agg_table_destroy(merged);
    ps_agg_table_destroy(small);
}

typedef struct {
    size_t                  n;
    const ps_agg_entry_t  **seen;
    int                     stop_at;
} visit_ctx_t;

static int
visit(void *ctx, const ps_agg_entry_t *e)
{
    visit_ctx_t  *v = ctx;

    v->seen[v->n++] = e;
    return v->stop_at && (int) v->n == v->stop_at ? 42 : 0;
}

static int
cmp_ptr(const void *a, const void *b)
{
    const void  *x = *(const void * const *) a, *y = *(const void * const *) b;

    return x < y ? -1 : x > y;
}

static void
test_foreach(void)
{
    ps_agg_table_t  *t;
    visit_ctx_t      v;
    char             path[32];
    size_t           i, dup = 0;

    t = ps_agg_table_create(100000);
    for (i = 0; i < 50000; i++) {
        snprintf(path, sizeof(path), "/f/%zu", i % 7919);
        add_s(t, H0 + 3600 * (int64_t) (i % 3), "h", "GET", path, 200, 1);
    }

    v.n = 0;
    v.stop_at = 0;
    v.seen = calloc(ps_agg_count(t) + 1, sizeof(*v.seen));
    ok(ps_agg_foreach(t, visit, &v) == 0, "foreach returns 0");
    is_u64(v.n, ps_agg_count(t), "foreach visits count() entries");
    qsort(v.seen, v.n, sizeof(*v.seen), cmp_ptr);
    for (i = 1; i < v.n; i++) {
        dup += v.seen[i] == v.seen[i - 1];
    }
    is_u64(dup, 0, "no entry is visited twice");

    v.n = 0;
    v.stop_at = 10;
    ok(ps_agg_foreach(t, visit, &v) == 42 && v.n == 10,
       "a non-zero return stops foreach and is returned");
    ok(ps_agg_entry_at(t, ps_agg_count(t)) == NULL,
       "entry_at past the end is NULL");

    free(v.seen);
    ps_agg_table_destroy(t);
}

static void
test_remove_and_clear(void)
{
    ps_agg_table_t        *t;
    const ps_agg_entry_t  *e;
    char                   path[32];
    int                    h, i;
    uint64_t               bad = 0;
    size_t                 mem_before;

    t = ps_agg_table_create(50);
    for (h = 0; h < 4; h++) {
        for (i = 0; i < 60; i++) {
            snprintf(path, sizeof(path), "/r/%d/%d", h, i);
            add_s(t, H0 + 3600 * h, "host", "POST", path, 200, 1);
        }
    }
    is_u64(ps_agg_count(t), 4 * 51, "4 hours of 50 keys + other");

    ok(ps_agg_remove_hours_before(t, H0 + 2 * 3600) == 0,
       "remove hours before H0+2h");
    is_u64(ps_agg_count(t), 2 * 51, "2 hours left");
    for (i = 0; i < (int) ps_agg_count(t); i++) {
        bad += ps_agg_entry_at(t, (size_t) i)->hour < H0 + 2 * 3600;
    }
    is_u64(bad, 0, "no entry of a removed hour is left");
    e = find_s(t, H0 + 3 * 3600, "host", "POST", "/r/3/49");
    ok(e != NULL && e->counts.requests == 1
       && memcmp(e->path, "/r/3/49", 8) == 0,
       "surviving keys are found, with their bytes");
    ok(find_s(t, H0, "host", "POST", "/r/0/1") == NULL,
       "removed keys are gone");

    add_s(t, H0 + 2 * 3600, "host", "POST", "/new", 200, 1);
    is_u64(ps_agg_count(t), 2 * 51,
           "a surviving full hour still overflows new keys");
    add_s(t, H0, "host", "POST", "/r/0/1", 200, 1);
    is_u64(ps_agg_count(t), 2 * 51 + 1, "a removed hour starts afresh");

    ok(ps_agg_remove_hours_before(t, H0 + 100 * 3600) == 0
       && ps_agg_count(t) == 0, "removing every hour empties the table");

    for (i = 0; i < 60; i++) {
        snprintf(path, sizeof(path), "/c/%d", i);
        add_s(t, H0, "host", "GET", path, 200, 1);
    }
    mem_before = ps_agg_memory(t);
    ps_agg_table_clear(t);
    ok(ps_agg_count(t) == 0 && ps_agg_overflowed(t) == 0,
       "clear: no entries, overflow count 0");
    ok(ps_agg_memory(t) <= mem_before, "clear does not grow memory");
    for (i = 0; i < 60; i++) {
        snprintf(path, sizeof(path), "/c/%d", i);
        add_s(t, H0, "host", "GET", path, 200, 1);
    }
    ok(ps_agg_count(t) == 51 && ps_agg_overflowed(t) == 10
       && ps_agg_memory(t) == mem_before,
       "refilled after clear: same keys, same memory");

    ps_agg_table_destroy(t);
}

/* The hints before an add (ps_agg_prefetch_*()) change nothing: every
 * record added after its three hints, on an empty table, on keys that
 * are there and on keys that are not, the same counts as without. */
static void
test_prefetch_hints(void)
{
    ps_agg_table_t        *t, *plain;
    const ps_agg_entry_t  *a, *b;
    ps_rec_t               rec;
    char                   path[32];
    uint64_t               i, client, bad = 0;

    t = ps_agg_table_create(100000);
    plain = ps_agg_table_create(100000);

    for (i = 0; i < 20000; i++) {
        memset(&rec, 0, sizeof(rec));
        snprintf(path, sizeof(path), "/hint/%" PRIu64, rng() % 3000);
        rec.host = "h";
        rec.host_len = 1;
        rec.method = "GET";
        rec.method_len = 3;
        rec.path = path;
        rec.path_len = strlen(path);
        rec.hour = H0 + 3600 * (int64_t) (i / 10000);
        rec.time_us = (uint64_t) rec.hour * 1000000 + i;
        rec.key_hash = ps_key_hash(rec.host, rec.host_len, rec.method,
                                   rec.method_len, rec.path, rec.path_len);
        rec.status = 200 + (unsigned) (i % 4) * 100;
        rec.request_us = rng() % 100000;
        client = rng() % 50;
        rec.client_hash = i % 3 ? &client : NULL;

        ps_agg_prefetch_slot(t, &rec);
        ps_agg_prefetch_entry(t, &rec);
        ps_agg_prefetch_heap(t, &rec);

        bad += ps_agg_add_rec(t, &rec) != 0;
        bad += ps_agg_add_rec(plain, &rec) != 0;
    }

    is_u64(bad, 0, "20000 adds after their hints succeed");
    is_u64(ps_agg_count(t), ps_agg_count(plain), "  as many keys as "
           "without the hints (%zu)", ps_agg_count(t));

    for (i = 0; i < ps_agg_count(t); i++) {
        a = ps_agg_entry_at(t, i);
        b = ps_agg_entry_at(plain, i);
        bad += memcmp(&a->counts, &b->counts, sizeof(a->counts)) != 0
               || ps_hist_count(&a->latency) != ps_hist_count(&b->latency)
               || ps_hll_cardinality(&a->clients)
                  != ps_hll_cardinality(&b->clients)
               || a->path_len != b->path_len
               || memcmp(a->path, b->path, a->path_len) != 0;
    }
    is_u64(bad, 0, "  and the same counts in each");

    ps_agg_table_destroy(t);
    ps_agg_table_destroy(plain);
}

static void
test_memory_bound(void)
{
    ps_agg_table_t  *t;
    char             path[64];
    uint64_t         i, r;
    size_t           mem, peak = 0;

    t = ps_agg_table_create(1000);
    for (i = 0; i < 1000000; i++) {
        r = rng();
        snprintf(path, sizeof(path), "/random/%016" PRIx64 "/%" PRIu64,
                 r, i);
        add_s(t, H0, "example.com", "GET", path, 200, r % 100000);
        if (i % 10000 == 0 && (mem = ps_agg_memory(t)) > peak) {
            peak = mem;
        }
    }
    mem = ps_agg_memory(t);
    if (mem > peak) {
        peak = mem;
    }
    is_u64(ps_agg_count(t), 1001, "1e6 random paths, max 1000: 1001 keys");
    is_u64(ps_agg_overflowed(t), 1000000 - 1000,
           "all but the first 1000 paths overflow");
    ok(peak < 2 * 1024 * 1024, "memory stays under 2 MB (peak %zu bytes)",
       peak);
    ps_agg_table_destroy(t);
}

static void
test_bytes_per_key(void)
{
    ps_agg_table_t  *t;
    char             path[64];
    uint64_t         i, r, client;
    size_t           mem;

    /* 100000 keys, 10 requests and 2 clients each, whole-ms latencies */
    t = ps_agg_table_create(200000);
    for (i = 0; i < 1000000; i++) {
        r = rng();
        snprintf(path, sizeof(path), "/api/v1/items/%" PRIu64, i % 100000);
        client = (i / 100000) % 2;
        ps_agg_add(t, H0, "shop.example.com", 16, "GET", 3, path,
                   strlen(path), 200, (r % 200) * 1000, 300, 2000, &client,
                   (uint64_t) H0US + i);
    }
    mem = ps_agg_memory(t);
    printf("# 100000 keys x 10 requests, 2 clients: %zu bytes, "
           "%zu bytes/key (entry struct %zu)\n", mem, mem / 100000,
           sizeof(ps_agg_entry_t));
    ok(mem / 100000 < 600, "light keys cost < 600 bytes each (%zu)",
       mem / 100000);
    ps_agg_table_destroy(t);
}

static void
bench(void)
{
    ps_agg_table_t  *t;
    static char      paths[200][48];
    static uint64_t  clients[5000];
    static const char *hosts[] = { "example.com", "api.example.com",
                                   "static.example.com" };
    static const char *methods[] = { "GET", "GET", "GET", "POST", "PUT",
                                     "DELETE", "GET", "HEAD" };
    static uint64_t  rnd[1 << 16];
    size_t           i, n = 10000000, plen[200];
    uint64_t         r;
    unsigned         status;
    double           t0, dt;
    uint32_t         a;

    for (i = 0; i < 200; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/api/v2/resource%zu/{id}/items",
                 i);
        plen[i] = strlen(paths[i]);
    }
    for (i = 0; i < 5000; i++) {
        a = 0x0a000000u + (uint32_t) i * 7919;
        clients[i] = ps_murmur3_hll_hash(&a, 4);
    }
    for (i = 0; i < (1 << 16); i++) {
        rnd[i] = rng();
    }

    t = ps_agg_table_create(10000);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        r = rnd[i & 0xffff] ^ i;
        status = (r & 0xff) < 230 ? 200 : (r & 0xff) < 245 ? 404 : 502;
        ps_agg_add(t, H0, hosts[(r >> 8) % 3], strlen(hosts[(r >> 8) % 3]),
                   methods[(r >> 12) & 7], strlen(methods[(r >> 12) & 7]),
                   paths[(r >> 16) % 200], plen[(r >> 16) % 200], status,
                   ((r >> 24) % 300) * 1000, 400, 5000,
                   &clients[(r >> 40) % 5000], (uint64_t) H0US + i);
    }
    dt = now_s() - t0;
    printf("# bench: %zu adds (200 paths x 3 hosts x 6 methods, 5000 "
           "clients) in %.3f s = %.2f M adds/s, %zu keys, %zu bytes\n",
           n, dt, (double) n / dt / 1e6, ps_agg_count(t), ps_agg_memory(t));
    ok(ps_agg_count(t) > 0, "bench ran");
    ps_agg_table_destroy(t);
}

int
main(void)
{
    test_hour();
    test_exact_counts();
    test_status();
    test_overflow();
    test_rollover();
    test_binary_keys();
    test_merge();
    test_foreach();
    test_remove_and_clear();
    test_prefetch_hints();
    test_memory_bound();
    test_bytes_per_key();
    bench();

    return done_testing();
}
