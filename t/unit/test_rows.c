/*
 * Unit tests for aggregator/snapshot/rows.c: the rows a window keeps are
 * exactly its most requested keys, ties broken by path, host and method,
 * and the rest sums the others; with keys that come and go between the
 * collections (the windows' order by text is kept up as they do).  The
 * orders of the rows are those of ps_row_cmp() by their text.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pathstats_snapshot.h"
#include "tap.h"
#include "rng.h"
#include "tied_keys.h"
#include "agg/windows.h"
#include "snapshot/rows.h"

#define SEC   1000000ULL
#define HOUR  (3600 * SEC)
#define T0    (1795000000ULL / 3600 * 3600 * SEC)

#define KEEP       300
#define MAX_KEYS   4096

/* a key of the window, as the brute force sees it */
typedef struct {
    char      host[8], method[8], path[32];
    uint64_t  requests;
} want_t;

typedef struct {
    want_t    k[MAX_KEYS];
    size_t    n;
    uint64_t  requests;
} wants_t;


static int
want_key(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    wants_t  *ws = ctx;
    want_t   *k;

    if (ws->n == MAX_KEYS || hlen >= sizeof(k->host)
        || mlen >= sizeof(k->method) || plen >= sizeof(k->path))
    {
        bail_out("a key the test does not hold");
    }

    k = &ws->k[ws->n++];
    memcpy(k->host, host, hlen);
    k->host[hlen] = '\0';
    memcpy(k->method, method, mlen);
    k->method[mlen] = '\0';
    memcpy(k->path, path, plen);
    k->path[plen] = '\0';
    k->requests = st->counts.requests;
    ws->requests += st->counts.requests;

    return 0;
}


/* most requests first, then by path, host, method (strcmp is bytewise,
 * a prefix first, as the snapshot orders them) */
static int
want_cmp(const void *a, const void *b)
{
    const want_t  *x = a, *y = b;
    int            rc;

    if (x->requests != y->requests) {
        return x->requests > y->requests ? -1 : 1;
    }

    rc = strcmp(x->path, y->path);
    if (rc == 0) {
        rc = strcmp(x->host, y->host);
    }
    if (rc == 0) {
        rc = strcmp(x->method, y->method);
    }

    return rc;
}


static int
same(const ps_row_t *r, const want_t *k)
{
    return r->counts.requests == k->requests
           && r->plen == strlen(k->path)
           && memcmp(r->path, k->path, r->plen) == 0
           && r->hlen == strlen(k->host)
           && memcmp(r->host, k->host, r->hlen) == 0
           && r->mlen == strlen(k->method)
           && memcmp(r->method, k->method, r->mlen) == 0;
}


static ps_row_t  *plain;        /* the rows without their rank */
static int        plain_sort;


static int
plain_cmp(const void *a, const void *b)
{
    return ps_row_cmp(&plain[*(const uint32_t *) a],
                      &plain[*(const uint32_t *) b], plain_sort);
}


/* The rows' orders against a sort of the rows by ps_row_cmp() with no
 * rank (their text breaks the ties); the number of places that differ. */
static size_t
orders_differ(const ps_rowset_t *rs)
{
    static uint32_t   got[PS_SNAP_SORTS][KEEP], want[KEEP];
    uint32_t         *out[PS_SNAP_SORTS];
    size_t            i, bad = 0;
    int               k;

    for (k = 0; k < PS_SNAP_SORTS; k++) {
        out[k] = got[k];
    }
    if (ps_rowset_orders(rs, rs->n, out) != 0) {
        bail_out("ps_rowset_orders failed");
    }

    plain = malloc(rs->n * sizeof(ps_row_t) + 1);
    if (plain == NULL) {
        bail_out("out of memory");
    }
    memcpy(plain, rs->rows, rs->n * sizeof(ps_row_t));
    for (i = 0; i < rs->n; i++) {
        plain[i].rank = 0;
    }

    for (k = 0; k < PS_SNAP_SORTS; k++) {
        for (i = 0; i < rs->n; i++) {
            want[i] = (uint32_t) i;
        }
        plain_sort = k;
        qsort(want, rs->n, sizeof(uint32_t), plain_cmp);
        for (i = 0; i < rs->n; i++) {
            bad += got[k][i] != want[i];
        }
    }

    free(plain);

    return bad;
}


int
main(void)
{
    static wants_t  ws;
    static const char *names[] = { "1m", "1h", "24h" };
    ps_windows_t   *w;
    ps_rowset_t     rs;
    uint64_t        rng = 7, t, kept;
    size_t          i, bad, keep;
    int             round, win;

    w = ps_windows_create(MAX_KEYS - 1);
    ps_rowset_init(&rs);

    for (round = 0; round < 4; round++) {
        /* the last round a day later: every key before it is gone */
        t = T0 + (uint64_t) round * 20 * SEC + (round == 3 ? 25 * HOUR : 0);
        tied_keys_add(w, &rng, round == 0 ? 3000 : 1200, t, 200, 2 * SEC);
        ps_windows_expire(w, t);

        for (win = PS_WIN_1M; win < PS_WIN_COUNT; win++) {
            ws.n = 0;
            ws.requests = 0;
            if (ps_windows_foreach(w, win, t, want_key, &ws) != 0) {
                bail_out("ps_windows_foreach failed");
            }
            qsort(ws.k, ws.n, sizeof(ws.k[0]), want_cmp);

            ok(ps_rowset_collect(&rs, w, win, t, KEEP, NULL, NULL, 0) == 0,
               "round %d, %s: collected", round, names[win]);

            keep = ws.n < KEEP ? ws.n : KEEP;
            is_u64(rs.n, keep, "  %zu rows of %zu keys", keep, ws.n);
            is_u64(rs.total_rows, ws.n, "  every key counted");

            bad = 0;
            kept = 0;
            for (i = 0; i < rs.n && i < keep; i++) {
                bad += !same(&rs.rows[i], &ws.k[i]);
                kept += rs.rows[i].counts.requests;
            }
            is_u64(bad, 0, "  the rows are the most requested keys, "
                   "ties by path, host, method");
            is_u64(rs.rest.counts.requests, ws.requests - kept,
                   "  the rest holds the other %llu requests",
                   (unsigned long long) (ws.requests - kept));
            is_u64(rs.total.counts.requests, ws.requests,
                   "  the total holds all %llu",
                   (unsigned long long) ws.requests);
            is_u64(orders_differ(&rs), 0, "  the rows' %d orders are "
                   "ps_row_cmp()'s by text", PS_SNAP_SORTS);
        }
    }

    ps_rowset_free(&rs);
    ps_windows_destroy(w);

    return done_testing();
}
