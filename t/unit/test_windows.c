/*
 * Unit tests for aggregator/agg/windows.c: exact counts per window, bucket
 * expiry at the window boundary, the overflow key, top clients, the keys'
 * order by text.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "rng.h"
#include "tied_keys.h"
#include "agg/windows.h"

#define SEC   1000000ULL
#define MIN   (60 * SEC)
#define HOUR  (60 * MIN)

/* an hour start, so that minute and hour buckets line up */
#define T0    (1795000000ULL / 3600 * 3600 * SEC)

typedef struct {
    uint64_t  requests, errors, status2, status5, bytes_out, keys;
    uint64_t  unique;
    uint64_t  max_us;
    uint64_t  first, last, sum_us, bytes_in;
} sum_t;


static int
sum_key(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    sum_t  *s = ctx;

    s->requests += st->counts.requests;
    s->errors += st->counts.errors;
    s->status2 += st->counts.status[1];
    s->status5 += st->counts.status[4];
    s->bytes_out += st->counts.bytes_out;
    s->keys++;
    s->unique += (uint64_t) ps_hll_cardinality(&st->clients);
    if (st->counts.latency_max_us > s->max_us) {
        s->max_us = st->counts.latency_max_us;
    }
    if (s->first == 0 || st->first_seen_us < s->first) {
        s->first = st->first_seen_us;
    }
    if (st->last_seen_us > s->last) {
        s->last = st->last_seen_us;
    }
    s->sum_us += st->counts.latency_sum_us;
    s->bytes_in += st->counts.bytes_in;

    return 0;
}


static sum_t
window(ps_windows_t *w, int win, uint64_t now)
{
    sum_t  s;

    memset(&s, 0, sizeof(s));
    ps_windows_foreach(w, win, now, sum_key, &s);

    return s;
}


static void
add(ps_windows_t *w, const char *path, unsigned status, uint64_t t,
    uint64_t client)
{
    char  text[32];

    snprintf(text, sizeof(text), "10.0.0.%llu",
             (unsigned long long) (client % 256));

    if (ps_windows_add(w, "h", 1, "GET", 3, path, strlen(path), status,
                       1000 + client, 10, 100, &client, text, t) != 0)
    {
        bail_out("ps_windows_add failed");
    }
}


/* the requests of one path in a window */
typedef struct {
    const char  *path;
    uint64_t     requests;
} path_sum_t;


static int
path_key(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    path_sum_t  *ps = ctx;

    if (plen == strlen(ps->path) && memcmp(path, ps->path, plen) == 0) {
        ps->requests += st->counts.requests;
    }

    return 0;
}


static uint64_t
path_requests(ps_windows_t *w, int win, uint64_t now, const char *path)
{
    path_sum_t  ps = { path, 0 };

    ps_windows_foreach(w, win, now, path_key, &ps);

    return ps.requests;
}


/* The keys of the 24h window, to check their ranks against their text. */
typedef struct {
    ps_win_key_t  *k[4096];
    size_t         n;
} keys_t;


static int
key_of(void *ctx, ps_win_key_t *k, const ps_counts_t *c, uint64_t first_us,
    uint64_t last_us)
{
    keys_t  *ks = ctx;

    (void) c;
    (void) first_us;
    (void) last_us;

    if (ks->n == sizeof(ks->k) / sizeof(ks->k[0])) {
        bail_out("more keys than the test holds");
    }
    ks->k[ks->n++] = k;

    return 0;
}


static int
by_rank(const void *a, const void *b)
{
    uint32_t  x = ps_windows_key_rank(*(ps_win_key_t *const *) a);
    uint32_t  y = ps_windows_key_rank(*(ps_win_key_t *const *) b);

    return (x > y) - (x < y);
}


/* bytewise, a prefix first, by path, host, method: as the snapshot
 * orders rows, written out here once more */
static int
text_after(const ps_win_key_t *a, const ps_win_key_t *b)
{
    const char  *s[2][3];
    size_t       len[2][3], i, n;
    int          rc;

    ps_windows_key_text(a, &s[0][1], &len[0][1], &s[0][2], &len[0][2],
                        &s[0][0], &len[0][0]);
    ps_windows_key_text(b, &s[1][1], &len[1][1], &s[1][2], &len[1][2],
                        &s[1][0], &len[1][0]);

    for (i = 0; i < 3; i++) {
        n = len[0][i] < len[1][i] ? len[0][i] : len[1][i];
        rc = memcmp(s[0][i], s[1][i], n);
        if (rc == 0) {
            rc = (len[0][i] > len[1][i]) - (len[0][i] < len[1][i]);
        }
        if (rc != 0) {
            return rc > 0;
        }
    }

    return 0;                   /* the same text: two keys for one */
}


/* Every key of w ranked, and in rank order strictly by text. */
static void
check_order(ps_windows_t *w, uint64_t now, const char *what)
{
    static keys_t  ks;
    size_t         i, unranked = 0, bad = 0;

    ks.n = 0;
    ps_windows_foreach_counts(w, PS_WIN_24H, now, key_of, &ks);

    for (i = 0; i < ks.n; i++) {
        unranked += ps_windows_key_rank(ks.k[i]) == 0;
    }

    qsort(ks.k, ks.n, sizeof(ks.k[0]), by_rank);

    for (i = 1; i < ks.n; i++) {
        bad += ps_windows_key_rank(ks.k[i - 1])
                   == ps_windows_key_rank(ks.k[i])
               || !text_after(ks.k[i], ks.k[i - 1]);
    }

    is_u64(ks.n, ps_windows_keys(w), what);
    is_u64(unranked, 0, "  every key ranked");
    is_u64(bad, 0, "  in rank order, strictly ascending by text");
}


/* A window's stats summed over its keys, histograms and unique clients
 * merged: what the totals must hold when no key was folded or dropped. */
typedef struct {
    ps_win_stats_t  st;
} merged_t;


static int
merge_key(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    merged_t  *m = ctx;

    (void) host; (void) hlen; (void) method; (void) mlen; (void) path;
    (void) plen;

    if (st->counts.requests == 0) {
        return 0;
    }
    if (ps_win_stats_merge(&m->st, st) != 0) {
        bail_out("ps_win_stats_merge failed");
    }

    return 0;
}


/* The totals of window win against the merge of its keys, field by
 * field: counts, first and last seen, every percentile, unique clients. */
static void
check_totals(ps_windows_t *w, int win, uint64_t now, uint64_t want,
    const char *what)
{
    merged_t  keys, total;
    unsigned  q, bad = 0;
    double    a, b;

    memset(&keys, 0, sizeof(keys));
    memset(&total, 0, sizeof(total));
    ps_win_stats_init(&keys.st);
    ps_win_stats_init(&total.st);

    ps_windows_foreach(w, win, now, merge_key, &keys);
    ps_windows_total(w, win, now, merge_key, &total);

    is_u64(total.st.counts.requests, want, "%s: requests", what);
    is_u64(keys.st.counts.requests, want, "  the keys' requests");
    ok(memcmp(&total.st.counts, &keys.st.counts, sizeof(ps_counts_t)) == 0,
       "  status classes, errors, bytes, latency sum and maximum");
    is_u64(total.st.first_seen_us, keys.st.first_seen_us, "  first seen");
    is_u64(total.st.last_seen_us, keys.st.last_seen_us, "  last seen");
    is_u64(ps_hist_count(&total.st.latency), want, "  latencies counted");

    for (q = 1; q <= 100; q++) {
        a = ps_hist_percentile(&total.st.latency, q / 100.0);
        b = ps_hist_percentile(&keys.st.latency, q / 100.0);
        bad += a != b;
    }
    is_u64(bad, 0, "  the same latency at every percentile");

    ok(ps_hll_cardinality(&total.st.clients)
       == ps_hll_cardinality(&keys.st.clients), "  unique clients (%.0f)",
       ps_hll_cardinality(&total.st.clients));

    ps_win_stats_free(&keys.st);
    ps_win_stats_free(&total.st);
}


int
main(void)
{
    ps_windows_t     *w;
    ps_win_client_t   top[3];
    uint64_t          other, i, t;
    sum_t             s;
    size_t            n;

    w = ps_windows_create(1000);
    ok(w != NULL, "create");

    /* 120 requests, one per second over two minutes from T0 */
    for (i = 0; i < 120; i++) {
        add(w, "/a", i % 10 == 0 ? 503 : 200, T0 + i * SEC, i);
    }

    t = T0 + 119 * SEC;
    ps_windows_expire(w, t);

    s = window(w, PS_WIN_1M, t);
    is_u64(s.requests, 60, "1m holds the last 60 seconds");
    is_u64(s.errors, 6, "1m errors");
    is_u64(s.status2 + s.status5, 60, "1m status classes add up");
    is_u64(s.unique, 60, "1m unique clients");
    is_u64(s.max_us, 1119, "1m max latency");

    s = window(w, PS_WIN_1H, t);
    is_u64(s.requests, 120, "1h holds both minutes");
    is_u64(s.errors, 12, "1h errors");
    is_u64(s.bytes_out, 12000, "1h bytes_out");

    s = window(w, PS_WIN_24H, t);
    is_u64(s.requests, 120, "24h holds everything");
    is_u64(s.keys, 1, "one key");

    /* the boundary: the minute bucket of T0 leaves 1h exactly at T0+60m */
    t = T0 + 60 * MIN - 1;
    ps_windows_expire(w, t);
    is_u64(window(w, PS_WIN_1H, t).requests, 120,
           "1h at 59:59.999999 still holds minute 0");
    is_u64(window(w, PS_WIN_1M, t).requests, 0, "1m is empty by then");

    t = T0 + 60 * MIN;
    ps_windows_expire(w, t);
    is_u64(window(w, PS_WIN_1H, t).requests, 60,
           "1h at 60:00 dropped minute 0");

    t = T0 + 61 * MIN;
    ps_windows_expire(w, t);
    is_u64(window(w, PS_WIN_1H, t).requests, 0, "1h at 61:00 is empty");
    is_u64(window(w, PS_WIN_24H, t).requests, 120, "24h still holds them");

    t = T0 + 24 * HOUR - 1;
    ps_windows_expire(w, t);
    is_u64(window(w, PS_WIN_24H, t).requests, 120,
           "24h just before the boundary");
    is_u64(ps_windows_keys(w), 1, "key kept while in 24h");

    t = T0 + 24 * HOUR;
    ps_windows_expire(w, t);
    is_u64(window(w, PS_WIN_24H, t).requests, 0, "24h at the boundary");
    is_u64(ps_windows_keys(w), 0, "empty key dropped");

    /* out-of-order records land in their own second */
    add(w, "/b", 200, T0 + 10 * SEC, 1);
    add(w, "/b", 200, T0 + 5 * SEC, 2);
    add(w, "/b", 200, T0 + 10 * SEC, 3);
    s = window(w, PS_WIN_1M, T0 + 65 * SEC);
    is_u64(s.requests, 2, "out of order: second 5 expired, second 10 not");

    ps_windows_destroy(w);

    /* the key limit: new keys beyond it go to the overflow key */
    w = ps_windows_create(3);
    for (i = 0; i < 10; i++) {
        char  p[16];
        snprintf(p, sizeof(p), "/k%llu", (unsigned long long) i);
        add(w, p, 200, T0 + i, i % 4);
    }
    s = window(w, PS_WIN_1M, T0 + SEC);
    is_u64(s.requests, 10, "totals exact beyond the key limit");
    is_u64(s.keys, 4, "3 keys + the overflow key");
    is_u64(ps_windows_overflowed(w), 7, "7 requests overflowed");

    n = ps_windows_top_clients(w, T0 + SEC, top, 3, &other);
    is_u64(n, 3, "three top clients");
    is_u64(top[0].requests, 3, "top client count");
    is_str(top[0].client, "10.0.0.0", "top client, ties by address");
    is_u64(other, 2, "the rest counted as other");
    ps_windows_destroy(w);

    /* hour buckets rebuilt from history merge with live ones */
    w = ps_windows_create(10);
    {
        ps_win_stats_t  st;

        ps_win_stats_init(&st);
        st.counts.requests = 50;
        st.counts.status[1] = 45;
        st.counts.status[4] = 5;
        st.counts.errors = 5;
        st.first_seen_us = T0 - HOUR;
        st.last_seen_us = T0 - 1;
        ps_hist_add_bucket(&st.latency, 50, 50);
        ok(ps_windows_add_hour(w, "h", 1, "GET", 3, "/a", 2,
                               (int64_t) ((T0 - HOUR) / SEC), &st) == 0,
           "add_hour");
        ps_win_stats_free(&st);
    }
    add(w, "/a", 200, T0 + SEC, 1);
    s = window(w, PS_WIN_24H, T0 + 2 * SEC);
    is_u64(s.requests, 51, "24h = history + live");
    is_u64(s.errors, 5, "24h errors from history");
    is_u64(s.keys, 1, "one key for both");
    is_u64(window(w, PS_WIN_1H, T0 + 2 * SEC).requests, 1,
           "history is not in 1h");
    ps_windows_destroy(w);

    /* the hour level gets an hour's minutes once the hour is over:
     * counted once before, at and after that, late records included */
    w = ps_windows_create(10);
    for (i = 0; i < 30; i++) {
        add(w, "/s", i < 3 ? 500 : 200, T0 + i * MIN, i);
    }
    t = T0 + 30 * MIN;
    ps_windows_expire(w, t);
    s = window(w, PS_WIN_24H, t);
    is_u64(s.requests, 30, "24h from unsealed minutes");
    is_u64(s.unique, 30, "  with their clients");
    t = T0 + HOUR + 5 * MIN;
    ps_windows_expire(w, t);
    add(w, "/s", 200, T0 + HOUR + 6 * MIN, 100);
    s = window(w, PS_WIN_24H, t + 2 * MIN);
    is_u64(s.requests, 31, "24h after the hour is sealed: counted once");
    is_u64(s.errors, 3, "  errors once");
    add(w, "/s", 200, T0 + 59 * MIN, 101);     /* late, sealed hour */
    t = T0 + HOUR + 10 * MIN;
    ps_windows_expire(w, t);
    s = window(w, PS_WIN_24H, t);
    is_u64(s.requests, 32, "a late record of a sealed hour counts");
    is_u64(s.unique, 32, "  its client too");
    is_u64(window(w, PS_WIN_1H, t).requests, 21,
           "1h: minutes 11..29 and 59 of hour 0, minute 6 of hour 1");
    t = T0 + 3 * HOUR;
    ps_windows_expire(w, t);
    is_u64(window(w, PS_WIN_24H, t).requests, 32,
           "24h from hour buckets alone, minutes gone");
    is_u64(window(w, PS_WIN_1H, t).requests, 0, "1h empty");
    t = T0 + 24 * HOUR;
    ps_windows_expire(w, t);
    is_u64(window(w, PS_WIN_24H, t).requests, 1,
           "24h at T0+24h: hour 1 left");
    ps_windows_destroy(w);

    /* 1m unique clients come from the minutes that overlap the window:
     * exact for a whole minute, else an upper bound (documented) */
    w = ps_windows_create(10);
    add(w, "/u", 200, T0 + 5 * SEC, 1);        /* minute 0, not in 1m */
    add(w, "/u", 200, T0 + 50 * SEC, 2);       /* minute 0, in 1m */
    add(w, "/u", 200, T0 + 70 * SEC, 3);       /* minute 1 */
    s = window(w, PS_WIN_1M, T0 + 70 * SEC);
    is_u64(s.requests, 2, "1m requests exact (seconds 11..70)");
    is_u64(s.unique, 3, "1m unique: clients of minutes 0 and 1");
    s = window(w, PS_WIN_1M, T0 + 119 * SEC);
    is_u64(s.requests, 1, "1m = minute 1 exactly");
    is_u64(s.unique, 1, "  unique exact then");
    ps_windows_destroy(w);

    /* compact second buckets: first/last seen to the microsecond, sums */
    w = ps_windows_create(10);
    add(w, "/c", 503, T0 + 10 * SEC + 500000, 7);
    add(w, "/c", 200, T0 + 10 * SEC + 250000, 9);
    add(w, "/c", 404, T0 + 20 * SEC + 999999, 11);
    s = window(w, PS_WIN_1M, T0 + 30 * SEC);
    is_u64(s.requests, 3, "1m from second buckets: requests");
    is_u64(s.errors, 1, "  errors (the 5xx)");
    is_u64(s.status5, 1, "  5xx");
    is_u64(s.first, T0 + 10 * SEC + 250000, "  first seen, to the us");
    is_u64(s.last, T0 + 20 * SEC + 999999, "  last seen, to the us");
    is_u64(s.sum_us, 3000 + 7 + 9 + 11, "  latency sum");
    is_u64(s.max_us, 1011, "  latency max");
    is_u64(s.bytes_in, 30, "  bytes in");
    is_u64(s.bytes_out, 300, "  bytes out");
    ps_windows_expire(w, T0 + 81 * SEC);
    is_u64(window(w, PS_WIN_1M, T0 + 81 * SEC).requests, 0,
           "  seconds expire after 60 s");
    is_u64(window(w, PS_WIN_1H, T0 + 81 * SEC).requests, 3,
           "  the minute keeps them");
    ps_windows_destroy(w);

    /* a flood ages out with the windows: 10 keys fill the table, a key
     * that comes after them is overflow within the hour, and a new key
     * two hours later gets its own row again (it used to be overflow
     * for a whole day) while the 24h totals stay exact */
    w = ps_windows_create(10);
    for (i = 0; i < 10; i++) {
        char  p[16];
        snprintf(p, sizeof(p), "/flood%llu", (unsigned long long) i);
        add(w, p, 404, T0 + i * SEC, i);
    }
    add(w, "/late", 200, T0 + 30 * SEC, 1);
    is_u64(path_requests(w, PS_WIN_1M, T0 + 31 * SEC, "/late"), 0,
           "flood: a key beyond the limit within the hour is overflow");
    is_u64(path_requests(w, PS_WIN_1M, T0 + 31 * SEC, "{other}"), 1,
           "  counted in {other}");
    t = T0 + 2 * HOUR + 5 * MIN;
    ps_windows_expire(w, t);
    is_u64(ps_windows_folded(w), 4,
           "  two hours later 4 flood keys are folded (11 keys, down to 7)");
    add(w, "/new", 200, t, 1);
    is_u64(path_requests(w, PS_WIN_1M, t + SEC, "/new"), 1,
           "  a new key has its own row in the 1m window");
    is_u64(path_requests(w, PS_WIN_1H, t + SEC, "/new"), 1,
           "  and in the 1h window");
    is_u64(path_requests(w, PS_WIN_24H, t + SEC, "/new"), 1,
           "  and in the 24h window");
    is_u64(window(w, PS_WIN_24H, t + SEC).requests, 12,
           "  24h totals exact: 10 flood + /late + /new");
    is_u64(path_requests(w, PS_WIN_24H, t + SEC, "{other}"), 5,
           "  {other} holds /late and the 4 folded keys' requests");
    is_u64(window(w, PS_WIN_24H, t + SEC).keys, 8,
           "  6 flood keys, {other} and /new");
    ps_windows_expire(w, t + 2 * SEC);
    is_u64(ps_windows_folded(w), 4, "  no more folding below the limit");
    ps_windows_destroy(w);

    /* the order by text: new keys placed among the ranked ones, keys
     * that leave (expired, folded, some before they were ever ranked)
     * leave the others in order, ranked or not in between */
    {
        uint64_t  rng = 15;
        int       r;

        w = ps_windows_create(2500);
        for (r = 0; r < 12; r++) {
            t = T0 + (uint64_t) r * 5 * HOUR;
            tied_keys_add(w, &rng, r == 0 ? 1500 : 300, t, 700, 0);
            ps_windows_expire(w, t);

            if (r % 3 == 2) {
                /* not ranked: 200 keys that the next expire drops */
                tied_keys_add(w, &rng, 200, t - 23 * HOUR - 30 * MIN, 700, 0);
                continue;
            }

            ok(ps_windows_order(w) == 0, "order, round %d", r);
            check_order(w, t, "  the keys of the 24h window are all keys");
        }

        ok(ps_windows_folded(w) > 0, "  keys were folded on the way");
        ps_windows_expire(w, t + 25 * HOUR);
        is_u64(ps_windows_keys(w), 0, "  all gone a day later");
        ok(ps_windows_order(w) == 0, "  an empty order");
        tied_keys_add(w, &rng, 50, t + 25 * HOUR, 700, 0);
        ok(ps_windows_order(w) == 0, "  and new keys in it");
        check_order(w, t + 25 * HOUR, "  ranked afresh");
        ps_windows_destroy(w);
    }

    /* the totals, which gather a second's requests before they count
     * them (windows.c, "pending"), hold what the keys hold: seconds out
     * of order, late records of a sealed hour, a burst beyond what one
     * pending second takes, requests without a client */
    {
        static const unsigned  statuses[] = { 200, 404, 500, 0, 99, 600,
                                              302, 503, 101 };
        uint64_t               rng = 77, clock, when, us, hash, sent;
        uint64_t               in_1m, in_1h;
        char                   p[16];
        int                    step, j;

        w = ps_windows_create(100000);
        sent = 0;
        clock = T0 + 50 * MIN;

        for (step = 0; step < 400; step++) {
            clock += 900 * 1000;                   /* 0.9 s a step */

            for (j = 0; j < 40; j++) {
                when = clock - rng_next(&rng) % (3 * SEC);
                if (rng_next(&rng) % 50 == 0) {
                    /* an hour and more late: its hour is sealed */
                    when = clock - 61 * MIN - rng_next(&rng) % (20 * MIN);
                }
                snprintf(p, sizeof(p), "/t%llu",
                         (unsigned long long) (rng_next(&rng) % 60));
                us = rng_next(&rng) % 4 == 0 ? rng_next(&rng) % 20000000000ULL
                                             : rng_next(&rng) % 5000;
                hash = rng_next(&rng) % 500 + 1;
                if (ps_windows_add(w, "h", 1, "GET", 3, p, strlen(p),
                                   statuses[rng_next(&rng) % 9], us,
                                   rng_next(&rng) % 1000,
                                   rng_next(&rng) % 100000,
                                   j % 7 == 0 ? NULL : &hash, NULL, when)
                    != 0)
                {
                    bail_out("ps_windows_add failed");
                }
                sent++;
            }

            if (step % 25 == 0) {
                ps_windows_expire(w, clock);
            }
        }

        /* a burst in one second: more than one pending second holds */
        for (j = 0; j < 10000; j++) {
            hash = (uint64_t) j;
            snprintf(p, sizeof(p), "/b%d", j % 7);
            if (ps_windows_add(w, "h", 1, "GET", 3, p, strlen(p), 200,
                               (uint64_t) j, 1, 2, &hash, NULL,
                               clock + 5 * SEC + (uint64_t) j) != 0)
            {
                bail_out("ps_windows_add failed");
            }
        }
        sent += 10000;
        clock += 6 * SEC;

        /* what each window must hold, from the keys' 24h counts */
        in_1m = window(w, PS_WIN_1M, clock).requests;
        in_1h = window(w, PS_WIN_1H, clock).requests;
        ok(in_1m >= 10000 && in_1m < sent, "the 1m window holds some "
           "(%llu)", (unsigned long long) in_1m);
        ok(in_1h > in_1m && in_1h < sent, "the 1h window more (%llu)",
           (unsigned long long) in_1h);

        check_totals(w, PS_WIN_24H, clock, sent, "totals, 24h");
        check_totals(w, PS_WIN_1H, clock, in_1h, "totals, 1h");
        check_totals(w, PS_WIN_1M, clock, in_1m, "totals, 1m");

        /* and after an expiry that seals the hour and drops seconds */
        ps_windows_expire(w, clock + 2 * MIN);
        check_totals(w, PS_WIN_24H, clock + 2 * MIN, sent,
                     "totals, 24h, expired");
        check_totals(w, PS_WIN_1M, clock + 2 * MIN, 0, "totals, 1m, gone");
        ps_windows_destroy(w);
    }

    return done_testing();
}
