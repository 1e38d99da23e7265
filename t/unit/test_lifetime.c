/*
 * Unit tests for aggregator/agg/lifetime.c: the counters Prometheus can
 * rate.  Every request counts in exactly one series (its path's while the
 * path is exported, else {other}), the series sum to the total, a path
 * that leaves the top set and returns continues from its frozen value,
 * the overflow key never gets a series of its own, and the table of kept
 * keys stays consistent while its slots are reused.
 */

#include <stdio.h>
#include <string.h>

#include "agg/agg_table.h"
#include "agg/lifetime.h"
#include "lib/key_hash.h"
#include "rng.h"
#include "tap.h"

static ps_lifetime_t  *lt;


static void
add(const char *path, unsigned status, uint64_t us, uint64_t bytes)
{
    ps_rec_t  r;

    memset(&r, 0, sizeof(r));
    r.host = "h";
    r.host_len = 1;
    r.method = "GET";
    r.method_len = 3;
    r.path = path;
    r.path_len = strlen(path);
    r.key_hash = ps_key_hash(r.host, r.host_len, r.method, r.method_len,
                             r.path, r.path_len);
    r.status = status;
    r.request_us = us;
    r.bytes_out = bytes;
    ps_lifetime_observe(lt, &r);
}


static void
rank(const char *const *paths, size_t n)
{
    ps_lifetime_key_t  k[64];
    size_t             i;

    for (i = 0; i < n; i++) {
        k[i].host = "h";
        k[i].hlen = 1;
        k[i].method = "GET";
        k[i].mlen = 3;
        k[i].path = paths[i];
        k[i].plen = strlen(paths[i]);
    }

    if (ps_lifetime_rank(lt, k, n) != 0) {
        bail_out("rank failed");
    }
}


/* requests of the exported series of path, -1 if it has none */
static long long
series(const char *path)
{
    ps_lifetime_series_t  s;
    size_t                i;

    for (i = 0; i < ps_lifetime_count(lt); i++) {
        ps_lifetime_get(lt, i, &s);
        if (s.plen == strlen(path) && memcmp(s.path, path, s.plen) == 0) {
            return (long long) s.requests;
        }
    }

    return -1;
}


static uint64_t
other(void)
{
    ps_lifetime_series_t  s;

    ps_lifetime_other(lt, &s);
    return s.requests;
}


/* requests of the exported series and {other} together */
static uint64_t
visible(void)
{
    ps_lifetime_series_t  s;
    uint64_t              sum;
    size_t                i;

    ps_lifetime_other(lt, &s);
    sum = s.requests;

    for (i = 0; i < ps_lifetime_count(lt); i++) {
        ps_lifetime_get(lt, i, &s);
        sum += s.requests;
    }

    return sum;
}


/* the exported series and {other} add up to the total, in every field
 * (while no path was ranked out: a frozen series is not exported) */
static int
sums_up(void)
{
    ps_lifetime_series_t  s, t, sum;
    size_t                i;
    int                   c;

    memset(&sum, 0, sizeof(sum));

    for (i = 0; i <= ps_lifetime_count(lt); i++) {
        if (i < ps_lifetime_count(lt)) {
            ps_lifetime_get(lt, i, &s);
        } else {
            ps_lifetime_other(lt, &s);
        }
        sum.requests += s.requests;
        sum.bytes_out += s.bytes_out;
        sum.latency_sum_us += s.latency_sum_us;
        for (c = 0; c < PS_LIFETIME_CLASSES; c++) {
            sum.status[c] += s.status[c];
        }
        for (c = 0; c < PS_HIST_PROM_NLE; c++) {
            sum.le[c] += s.le[c];
        }
    }

    ps_lifetime_total(lt, &t);

    return sum.requests == t.requests && sum.bytes_out == t.bytes_out
           && sum.latency_sum_us == t.latency_sum_us
           && memcmp(sum.status, t.status, sizeof(t.status)) == 0
           && memcmp(sum.le, t.le, sizeof(t.le)) == 0;
}


int
main(void)
{
    ps_lifetime_series_t  s;
    static const char    *ca[] = { "/c", "/a" }, *bc[] = { "/b", "/c" },
                         *dup[] = { "/b", "/b", "/{other}", "/c" };
    char                  path[32];
    uint64_t              rng = 14, last[200];
    long long             v;
    size_t                i, round;
    unsigned              start;
    int                   monotonic, consistent;

    lt = ps_lifetime_create(2);
    ok(lt != NULL, "create with 2 series");

    /* a small site: every path has its series from its first request */
    add("/a", 200, 3000, 100);
    add("/a", 503, 20000, 10);
    add("/b", 404, 2000000, 5);
    is_int(series("/a"), 2, "/a: 2 requests, exported at once");
    is_int(series("/b"), 1, "/b: 1 request");

    ps_lifetime_get(lt, 0, &s);
    is_u64(s.status[1] + s.status[4], 2, "/a: one 2xx, one 5xx");
    is_u64(s.bytes_out, 110, "/a: 110 bytes");
    is_u64(s.latency_sum_us, 23000, "/a: 23 ms in all");
    is_u64(s.le[0], 1, "/a: 1 request <= 5 ms");
    is_u64(s.le[2], 2, "/a: 2 requests <= 25 ms");
    is_u64(s.le[PS_HIST_PROM_NLE - 1], 2, "/a: both <= 10 s");

    /* no room: a third path counts in {other} */
    add("/c", 200, 1, 1);
    add("/c", 99, 1, 1);
    is_int(series("/c"), -1, "/c: no series while 2 are exported");
    is_u64(other(), 2, "its requests in {other}");
    ps_lifetime_other(lt, &s);
    is_u64(s.status[PS_LIFETIME_CLASSES - 1], 1,
           "a status without class (99) counts in the last class");
    ok(sums_up(), "series + {other} = total");

    /* /c joins the top set, /b leaves it: /b is frozen, not lost */
    rank(ca, 2);
    is_int(series("/c"), 0, "/c ranked in: a series from 0");
    is_int(series("/b"), -1, "/b ranked out: no series");
    add("/b", 200, 1, 1);
    add("/c", 200, 1, 1);
    is_u64(other(), 3, "/b's request while out counts in {other}");
    is_int(series("/c"), 1, "/c counts in its series");

    rank(bc, 2);
    is_int(series("/b"), 1, "/b back: continues from 1, never backwards");
    v = (long long) visible();
    add("/b", 200, 1, 1);
    add("/a", 200, 1, 1);
    add("/c", 200, 1, 1);
    is_int(series("/b"), 2, "and counts on");
    is_int((long long) visible() - v, 3,
           "3 requests: the exported series and {other} grow by 3");

    /* a ranking with room left: a frozen path that comes back between
     * two rankings continues from its value too */
    rank(ca + 1, 1);
    is_int(series("/b"), -1, "only /a ranked: /b frozen at 2");
    add("/b", 200, 1, 1);
    is_int(series("/b"), 3, "/b admitted again: 3, not 1");

    /* duplicates and the overflow key in a ranking */
    rank(dup, 4);
    is_u64(ps_lifetime_count(lt), 2, "a duplicate and {other} are skipped");
    is_int(series("/b"), 3, "/b kept its value");
    ps_lifetime_destroy(lt);

    /* the overflow key of the pipeline never gets a series */
    lt = ps_lifetime_create(5);
    {
        ps_rec_t  r;

        memset(&r, 0, sizeof(r));
        r.host = PS_AGG_OTHER_HOST;
        r.host_len = 1;
        r.method = PS_AGG_OTHER_METHOD;
        r.method_len = 1;
        r.path = PS_AGG_OTHER_PATH;
        r.path_len = strlen(PS_AGG_OTHER_PATH);
        r.key_hash = ps_key_hash(r.host, 1, r.method, 1, r.path, r.path_len);
        r.status = 200;
        ps_lifetime_add(lt, &r);
    }
    is_u64(ps_lifetime_count(lt), 0, "the overflow key: no series");
    is_u64(other(), 1, "it counts in {other}");
    ps_lifetime_destroy(lt);

    /* churn: 200 paths, 5 series, slots reused (64 kept): every series
     * only grows while its path stays kept, and everything sums up */
    lt = ps_lifetime_create(5);
    memset(last, 0, sizeof(last));
    monotonic = 1;
    consistent = 1;

    for (round = 0; round < 2000; round++) {
        const char  *top[8];
        char         names[8][32];

        v = (long long) visible();
        for (i = 0; i < 40; i++) {
            snprintf(path, sizeof(path), "/p%u",
                     (unsigned) (rng_next(&rng) % 200));
            add(path, 200, rng_next(&rng) % 100000, 7);
        }
        if ((long long) visible() - v != 40) {
            consistent = 0;
        }

        /* 8 distinct paths: 5 exported, so none is admitted between
         * two rankings and each batch adds exactly 40 */
        start = (unsigned) rng_next(&rng);
        for (i = 0; i < 8; i++) {
            snprintf(names[i], sizeof(names[i]), "/p%u",
                     round < 1000 ? (start + (unsigned) i) % 12
                                  : (start + 7 * (unsigned) i) % 200);
            top[i] = names[i];
        }
        rank(top, 8);

        for (i = 0; i < ps_lifetime_count(lt); i++) {
            unsigned  p;

            ps_lifetime_get(lt, i, &s);
            if (sscanf(s.path, "/p%u", &p) != 1 || p >= 200) {
                consistent = 0;
                continue;
            }
            /* in the first half only 12 paths are ever ranked: none of
             * them can lose its slot */
            if (round < 1000 && s.requests < last[p]) {
                monotonic = 0;
            }
            last[p] = s.requests;
        }

    }

    ok(monotonic, "no counter went backwards while its path was kept");
    ok(consistent, "every request counts in exactly one exported series "
       "or {other}; every key found");
    is_u64(ps_lifetime_count(lt), 5, "5 series exported");

    /* after the churn every exported key still finds its own entry */
    for (i = 0; i < ps_lifetime_count(lt); i++) {
        ps_lifetime_get(lt, i, &s);
        memcpy(path, s.path, s.plen);
        path[s.plen] = '\0';
        v = series(path);
        add(path, 200, 1, 1);
        if (series(path) != v + 1) {
            break;
        }
    }
    is_u64(i, 5, "a request of each exported path counts in its series");

    ps_lifetime_destroy(lt);

    return done_testing();
}
