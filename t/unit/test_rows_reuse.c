/*
 * Unit tests for the rows a set keeps from one collect to the next
 * (aggregator/snapshot/rows.c, ps_windows_stamp() in agg/windows.c):
 * collected again from windows where nothing changed, a set keeps its
 * rows and gives fn the rows it saw; whatever changed, it holds what a
 * set collected afresh at that time holds, field by field, and fn sees
 * the same rows.  The windows' expiry that reads no key when nothing can
 * leave still drops every key whose time is over.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "rng.h"
#include "agg/windows.h"
#include "snapshot/rows.h"

#define SEC    1000000ULL
#define MIN    (60 * SEC)
#define HOUR   (3600 * SEC)
#define T0     (1795000000ULL / 3600 * 3600 * SEC)

#define NKEYS  150
#define KEEP   40
#define STEPS  1500

static const char  *names[] = { "1m", "1h", "24h" };

/* the rows fn saw, in order */
typedef struct {
    ps_row_t  *r;
    size_t     n, cap;
} seen_t;


static void
seen_row(void *ctx, const ps_row_t *r)
{
    seen_t    *s = ctx;
    ps_row_t  *p;

    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        p = realloc(s->r, s->cap * sizeof(ps_row_t));
        if (p == NULL) {
            bail_out("out of memory");
        }
        s->r = p;
    }
    s->r[s->n++] = *r;
}


/* 1 when two rows are the same in every field (the text by its bytes) */
static int
row_same(const ps_row_t *a, const ps_row_t *b)
{
    return a->hlen == b->hlen && a->mlen == b->mlen && a->plen == b->plen
           && memcmp(a->host, b->host, a->hlen) == 0
           && memcmp(a->method, b->method, a->mlen) == 0
           && memcmp(a->path, b->path, a->plen) == 0
           && memcmp(&a->counts, &b->counts, sizeof(a->counts)) == 0
           && a->first_us == b->first_us && a->last_us == b->last_us
           && a->p50 == b->p50 && a->p95 == b->p95 && a->p99 == b->p99
           && a->unique == b->unique && a->flags == b->flags
           && a->rank == b->rank;
}


/* the fields of the sets and of what fn saw that differ (0: none) */
static size_t
sets_differ(const ps_rowset_t *a, const ps_rowset_t *b, const seen_t *sa,
    const seen_t *sb)
{
    size_t  i, bad = 0;

    bad += a->n != b->n;
    bad += a->total_rows != b->total_rows;
    bad += memcmp(&a->rest.counts, &b->rest.counts,
                  sizeof(a->rest.counts)) != 0;
    bad += memcmp(&a->total.counts, &b->total.counts,
                  sizeof(a->total.counts)) != 0;
    bad += a->total.first_seen_us != b->total.first_seen_us;
    bad += a->total.last_seen_us != b->total.last_seen_us;
    for (i = 0; i < a->n && i < b->n; i++) {
        bad += !row_same(&a->rows[i], &b->rows[i]);
    }

    bad += sa->n != sb->n;
    for (i = 0; i < sa->n && i < sb->n; i++) {
        bad += !row_same(&sa->r[i], &sb->r[i]);
    }

    return bad;
}


/* one request of key i at t from client c */
static void
request(ps_windows_t *w, unsigned i, uint64_t t, uint64_t c, unsigned status)
{
    char      path[32];
    uint64_t  client = c * 0x9e3779b97f4a7c15ULL;
    int       n;

    n = snprintf(path, sizeof(path), "/r/%u", i);
    if (ps_windows_add(w, "h", 1, "GET", 3, path, (size_t) n, status,
                       1000 + 37 * (t % 1000) + i, 10, 100, &client, NULL, t)
        != 0)
    {
        bail_out("ps_windows_add failed");
    }
}


/* The set kept in ks (and what fn saw of it) against one collected
 * afresh at t; *kept tells whether ks stayed as it was. */
static size_t
collect_both(ps_windows_t *w, ps_rowset_t *ks, int win, uint64_t t,
    uint64_t fn_min, int *kept)
{
    ps_rowset_t     fresh;
    ps_win_stamp_t  now;
    seen_t          sk = { 0 }, sf = { 0 };
    size_t          bad;

    ps_row_fn       fn = win == PS_WIN_1M ? seen_row : NULL;

    ps_windows_stamp(w, win, t, &now);
    *kept = ps_win_stamp_same(&now, &ks->stamp);

    /* fn, as the snapshot has it, for 1m only */
    ps_rowset_init(&fresh);
    if (ps_rowset_collect(ks, w, win, t, KEEP, fn, &sk, fn_min) != 0
        || ps_rowset_collect(&fresh, w, win, t, KEEP, fn, &sf, fn_min) != 0)
    {
        bail_out("ps_rowset_collect failed");
    }

    bad = sets_differ(ks, &fresh, &sk, &sf);

    ps_rowset_free(&fresh);
    free(sk.r);
    free(sf.r);

    return bad;
}


/* Requests, time and expiry at random, the three windows collected
 * after each step into kept sets and fresh ones; the keys held against
 * those with a request in the last 24 whole hours. */
static void
random_steps(void)
{
    static const uint64_t  steps[] = {
        0, SEC / 10, SEC / 2, SEC, 7 * SEC, 59 * SEC, 61 * SEC, 10 * MIN,
        HOUR + 3 * SEC, 5 * HOUR
    };
    static int64_t  last_hour[NKEYS];
    ps_windows_t   *w;
    ps_rowset_t     ks[PS_WIN_COUNT];
    uint64_t        rng = 11, t = T0 + 30 * MIN, r;
    size_t          bad[PS_WIN_COUNT] = { 0 }, badkeys = 0, live;
    size_t          kept[PS_WIN_COUNT] = { 0 }, fresh[PS_WIN_COUNT] = { 0 };
    unsigned        i, n, key;
    int             step, win, k;

    w = ps_windows_create(10 * NKEYS);
    for (win = 0; win < PS_WIN_COUNT; win++) {
        ps_rowset_init(&ks[win]);
    }
    for (i = 0; i < NKEYS; i++) {
        last_hour[i] = INT64_MIN;
    }

    for (step = 0; step < STEPS; step++) {
        r = rng_next(&rng);
        t += steps[r % 8 == 7 ? 8 + (r >> 8) % 2 : (r >> 8) % 8];

        /* requests in two steps of three, a few keys (clients from the
         * last minutes), at times up to 50 s back */
        if (rng_next(&rng) % 3 != 0) {
            n = 1 + (unsigned) (rng_next(&rng) % 30);
            for (i = 0; i < n; i++) {
                key = (unsigned) (rng_next(&rng) % NKEYS);
                r = t - rng_next(&rng) % (50 * SEC);
                request(w, key, r, rng_next(&rng) % 40 + r / MIN % 7,
                        rng_next(&rng) % 10 == 0 ? 500 : 200);
                if ((int64_t) (r / HOUR) > last_hour[key]) {
                    last_hour[key] = (int64_t) (r / HOUR);
                }
            }
        }

        ps_windows_expire(w, t);

        live = 0;
        for (i = 0; i < NKEYS; i++) {
            live += last_hour[i] > (int64_t) (t / HOUR) - 24;
        }
        badkeys += ps_windows_keys(w) != live;

        for (win = 0; win < PS_WIN_COUNT; win++) {
            bad[win] += collect_both(w, &ks[win], win, t,
                                     win == PS_WIN_1M ? 2 : 0, &k);
            kept[win] += k;
            fresh[win] += !k;
        }
    }

    for (win = 0; win < PS_WIN_COUNT; win++) {
        is_u64(bad[win], 0, "%s: %d steps, the kept set is the fresh one "
               "at every step, and fn saw the same rows", names[win], STEPS);
        ok(kept[win] >= STEPS / 20 && fresh[win] >= STEPS / 10,
           "  kept as it was %zu times, read again %zu", kept[win],
           fresh[win]);
    }
    is_u64(badkeys, 0, "the keys held are those with a request in the "
           "last 24 hours, after every expiry");

    for (win = 0; win < PS_WIN_COUNT; win++) {
        ps_rowset_free(&ks[win]);
    }
    ps_windows_destroy(w);
}


/* The windows expired at t and window win collected into ks and into
 * a fresh set; whether ks was kept as it was (the fields that differ
 * from the fresh set are added to *bad). */
static int
kept_at(ps_windows_t *w, ps_rowset_t *ks, int win, uint64_t t,
    size_t *bad)
{
    int  k;

    ps_windows_expire(w, t);
    *bad += collect_both(w, ks, win, t, 0, &k);

    return k;
}


/* Cases where only one thing moves. */
static void
each_change(void)
{
    ps_windows_t    *w, *w2;
    ps_rowset_t      ks, ks2;
    ps_win_stamp_t   a, b, zero;
    size_t           bad = 0;

    /* a second with a request leaves the 1m window, in the same minute
     * of the window's start: the totals' requests tell */
    w = ps_windows_create(100);
    ps_rowset_init(&ks);
    request(w, 1, T0 + 62 * SEC, 1, 200);
    request(w, 2, T0 + 90 * SEC, 2, 200);
    (void) kept_at(w, &ks, PS_WIN_1M, T0 + 121 * SEC, &bad);
    is_u64(ks.nseen, 0, "1m: requests since the last collect: the rows fn "
           "saw are not copied");
    ok(!kept_at(w, &ks, PS_WIN_1M, T0 + 121 * SEC + SEC / 4, &bad),
       "1m: the first collect with nothing new reads again");
    is_u64(ks.nseen, 2, "  and copies the 2 rows fn saw");
    ok(kept_at(w, &ks, PS_WIN_1M, T0 + 121 * SEC + SEC / 2, &bad),
       "1m: nothing left or came: kept");
    ok(!kept_at(w, &ks, PS_WIN_1M, T0 + 122 * SEC + SEC / 2, &bad),
       "1m: a second with a request left: read again");
    is_u64(ks.n, 1, "  one row left");
    is_u64(bad, 0, "  as a fresh set");

    /* the 1m window's start moves into the next minute, no second with
     * a request leaves: its unique clients now come from one minute */
    bad = 0;
    request(w, 3, T0 + 125 * SEC, 3, 200);
    request(w, 3, T0 + 185 * SEC, 4, 200);
    (void) kept_at(w, &ks, PS_WIN_1M, T0 + 186 * SEC, &bad);
    is_u64(ks.n == 1 ? ks.rows[0].unique : 0, 2,
           "1m: the clients of the minutes it overlaps: 2");
    ok(!kept_at(w, &ks, PS_WIN_1M, T0 + 240 * SEC, &bad),
       "1m: its clients' first minute moved: read again");
    is_u64(ks.n == 1 ? ks.rows[0].unique : 0, 1, "  1 client now");
    is_u64(bad, 0, "  as a fresh set");
    ps_rowset_free(&ks);

    /* a request, a past hour merged, a key made: read again */
    bad = 0;
    ps_rowset_init(&ks);
    (void) kept_at(w, &ks, PS_WIN_24H, T0 + 200 * SEC, &bad);
    ok(kept_at(w, &ks, PS_WIN_24H, T0 + 201 * SEC, &bad), "24h: kept");
    request(w, 3, T0 + 201 * SEC, 4, 200);
    ok(!kept_at(w, &ks, PS_WIN_24H, T0 + 201 * SEC, &bad),
       "24h: a request: read again");
    {
        ps_win_stats_t  st;
        uint64_t        client = 99;

        ps_win_stats_init(&st);
        st.counts.requests = 5;
        st.counts.status[1] = 5;
        st.first_seen_us = T0 - 2 * HOUR;
        st.last_seen_us = T0 - 2 * HOUR + SEC;
        if (ps_hist_add(&st.latency, 1000) != 0
            || ps_hll_add_hash(&st.clients, client) != 0
            || ps_windows_add_hour(w, "h", 1, "GET", 3, "/old", 4,
                                   (int64_t) ((T0 - 2 * HOUR) / SEC), &st)
               != 0)
        {
            bail_out("ps_windows_add_hour failed");
        }
        ps_win_stats_free(&st);
    }
    ok(!kept_at(w, &ks, PS_WIN_24H, T0 + 202 * SEC, &bad),
       "24h: a past hour merged: read again");
    ps_windows_set_limit(w, 1000);
    if (ps_windows_seed(w, (int64_t) (T0 / SEC), "h", 1, "GET", 3, "/new",
                        4) != 0)
    {
        bail_out("ps_windows_seed failed");
    }
    ok(!kept_at(w, &ks, PS_WIN_24H, T0 + 202 * SEC, &bad),
       "24h: a key made: read again");
    ok(kept_at(w, &ks, PS_WIN_24H, T0 + 203 * SEC, &bad), "24h: kept");

    /* the next hour: its minutes are sealed */
    ok(!kept_at(w, &ks, PS_WIN_24H, T0 + HOUR + SEC, &bad),
       "24h: the hour sealed: read again");
    is_u64(bad, 0, "  as a fresh set each time");

    /* another keep reads again */
    ok(ps_rowset_collect(&ks, w, PS_WIN_24H, T0 + HOUR + SEC, 1, NULL, NULL,
                         0) == 0 && ks.n == 1,
       "another keep: read again (1 row)");
    ps_rowset_free(&ks);

    /* stamps of other windows, and a zeroed one, are never the same */
    w2 = ps_windows_create(100);
    ps_windows_stamp(w, PS_WIN_1H, T0 + HOUR + SEC, &a);
    ps_windows_stamp(w, PS_WIN_1H, T0 + HOUR + SEC, &b);
    ok(ps_win_stamp_same(&a, &b), "the same windows, the same stamp");
    ps_windows_stamp(w, PS_WIN_24H, T0 + HOUR + SEC, &b);
    ok(!ps_win_stamp_same(&a, &b), "another window: not the same");
    ps_windows_stamp(w2, PS_WIN_1H, T0 + HOUR + SEC, &b);
    ok(!ps_win_stamp_same(&a, &b), "other windows: not the same");
    memset(&zero, 0, sizeof(zero));
    ok(!ps_win_stamp_same(&zero, &zero), "a zeroed stamp: never the same");

    /* a set collected from other windows is read again */
    bad = 0;
    ps_rowset_init(&ks2);
    request(w2, 1, T0 + HOUR, 1, 200);
    (void) kept_at(w, &ks2, PS_WIN_1H, T0 + HOUR + SEC, &bad);
    ok(!kept_at(w2, &ks2, PS_WIN_1H, T0 + HOUR + SEC, &bad),
       "other windows: read again");
    is_u64(ks2.n, 1, "  their one row");
    is_u64(bad, 0, "  as a fresh set");
    ps_rowset_free(&ks2);

    ps_windows_destroy(w2);
    ps_windows_destroy(w);
}


int
main(void)
{
    random_steps();
    each_change();

    return done_testing();
}
