/*
 * Row selection: see rows.h.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg_table.h"
#include "lib/key_order.h"
#include "pathstats_snapshot.h"
#include "snapshot/rows.h"

typedef struct {
    ps_rowset_t  *rs;
    size_t        keep;
    ps_row_fn     fn;
    void         *fn_ctx;
    uint64_t      fn_min;
    int           in_order;     /* the rows come sorted, keep at most */
    uint32_t      rank;         /* of the key whose row comes next */
    int           seen_ok;      /* every row fn saw is in rs->seen */
} collect_ctx_t;

/* rows fn saw that a set keeps for a collect that changes nothing: with
 * more, the window is read again (the rows are 200 bytes each) */
#define SEEN_MAX  100000

static int row_by_requests(const void *a, const void *b);


double
ps_row_percentile(const ps_hist_t *h, double q, uint64_t max_us)
{
    double  v = ps_hist_percentile(h, q);

    return v > (double) max_us ? (double) max_us : v;
}


/* Room for more rows in *rows (*cap of them): twice as many, first at
 * first, never more than max (> *cap); 0 or -1. */
static int
rows_grow(ps_row_t **rows, size_t *cap, size_t first, size_t max)
{
    size_t     n;
    ps_row_t  *p;

    n = *cap ? 2 * *cap : first;
    n = n < max ? n : max;

    p = realloc(*rows, n * sizeof(ps_row_t));
    if (p == NULL) {
        return -1;
    }

    *rows = p;
    *cap = n;

    return 0;
}


/* The keys beyond the rows kept count in the window's rest. */
static void
rest_add(ps_rowset_t *sw, const ps_row_t *r)
{
    ps_counts_merge(&sw->rest.counts, &r->counts);
}


/* rows[] is a heap while collecting: every row sorts before its
 * parent, so the root is the row that sorts last (the one to drop) */
static void
heap_up(ps_row_t *rows, size_t i)
{
    size_t  p;

    while (i > 0) {
        p = (i - 1) / 2;
        if (row_by_requests(&rows[i], &rows[p]) <= 0) {
            break;
        }
        ps_row_swap(&rows[i], &rows[p]);
        i = p;
    }
}


static void
heap_down(ps_row_t *rows, size_t n, size_t i)
{
    size_t  l, w;

    for ( ;; ) {
        l = 2 * i + 1;
        w = i;
        if (l < n && row_by_requests(&rows[l], &rows[w]) > 0) {
            w = l;
        }
        if (l + 1 < n && row_by_requests(&rows[l + 1], &rows[w]) > 0) {
            w = l + 1;
        }
        if (w == i) {
            return;
        }
        ps_row_swap(&rows[i], &rows[w]);
        i = w;
    }
}


/*
 * Keeps r (and its le, 24h only) if it is among the keep most requested
 * rows so far, else adds it (or the row it pushes out) to the rest: the
 * rows take keep x their size, not the number of keys.  in_order: the
 * caller gives at most keep rows, in their order; they are appended
 * (no heap to keep).
 */
static int
row_keep(ps_rowset_t *sw, const ps_row_t *r, size_t keep, int in_order)
{
    size_t  at;

    if (sw->n < keep) {
        if (sw->n == sw->cap
            && rows_grow(&sw->rows, &sw->cap, 256, keep) != 0)
        {
            return -1;
        }

        at = sw->n++;
        sw->rows[at] = *r;
        if (!in_order) {
            heap_up(sw->rows, at);
        }

        return 0;
    }

    if (row_by_requests(r, &sw->rows[0]) >= 0) {
        rest_add(sw, r);
        return 0;
    }

    /* r sorts before the last row kept: that one goes */
    rest_add(sw, &sw->rows[0]);
    sw->rows[0] = *r;
    heap_down(sw->rows, sw->n, 0);

    return 0;
}


/* ascending by path, host, method: the tie break of every order; the
 * windows' rank of two keys says the same for an integer comparison */
static int
row_key_cmp(const ps_row_t *a, const ps_row_t *b)
{
    if (a->rank != 0 && b->rank != 0) {
        return (a->rank > b->rank) - (a->rank < b->rank);
    }

    return ps_key_text_cmp(a->path, a->plen, a->host, a->hlen, a->method,
                           a->mlen, b->path, b->plen, b->host, b->hlen,
                           b->method, b->mlen);
}


static double
row_sort_value(const ps_row_t *r, int sort)
{
    switch (sort) {
    case PS_SNAP_SORT_REQUESTS:
        return (double) r->counts.requests;
    case PS_SNAP_SORT_ERRORS:
        return (double) r->counts.errors;
    case PS_SNAP_SORT_ERROR_RATE:
        return r->counts.requests ? (double) r->counts.errors
                                    / (double) r->counts.requests
                                  : 0;
    case PS_SNAP_SORT_P95:
        return r->p95;
    case PS_SNAP_SORT_BYTES:
        return (double) r->counts.bytes_out;
    default:
        return (double) r->last_us;
    }
}


/* descending by the sort value; exact for the integer keys up to 2^53 */
int
ps_row_cmp(const ps_row_t *a, const ps_row_t *b, int sort)
{
    double  x, y;

    if (sort == PS_SNAP_SORT_REQUESTS) {
        if (a->counts.requests != b->counts.requests) {
            return a->counts.requests > b->counts.requests ? -1 : 1;
        }
    } else if (sort == PS_SNAP_SORT_LAST_SEEN) {
        if (a->last_us != b->last_us) {
            return a->last_us > b->last_us ? -1 : 1;
        }
    } else {
        x = row_sort_value(a, sort);
        y = row_sort_value(b, sort);
        if (x != y) {
            return x > y ? -1 : 1;
        }
    }

    return row_key_cmp(a, b);
}


static int
row_by_requests(const void *a, const void *b)
{
    return ps_row_cmp(a, b, PS_SNAP_SORT_REQUESTS);
}


void
ps_row_swap(ps_row_t *a, ps_row_t *b)
{
    ps_row_t  t;

    t = *a;
    *a = *b;
    *b = t;
}


/*
 * The orders of a window's rows, five sorts of up to snapshot_max_rows
 * rows a snapshot.  Each is a radix sort (8 bits a pass, a pass skipped
 * when all rows share its digit) of the rows taken in the order of their
 * keys: stable, so that the ties (most rows have no error) stay in the
 * order of their keys, as ps_row_cmp() has them, at no comparison.  The
 * order of the keys is that of their windows' ranks when the rows have
 * them, else a sort by their text.
 */

/* Sorts key[] descending, idx[] along, stably; tkey and tidx are
 * scratch of n. */
static void
radix_desc(uint64_t *key, uint32_t *idx, size_t n, uint64_t *tkey,
    uint32_t *tidx)
{
    size_t     count[256], i, sum, c;
    uint64_t  *k = key, *tk = tkey, *swk;
    uint32_t  *x = idx, *tx = tidx, *swx;
    unsigned   shift, d;

    for (shift = 0; shift < 64; shift += 8) {
        memset(count, 0, sizeof(count));
        for (i = 0; i < n; i++) {
            count[255 - ((k[i] >> shift) & 255)]++;
        }

        /* the rows share this digit: the pass would change nothing */
        if (count[255 - ((k[0] >> shift) & 255)] == n) {
            continue;
        }

        for (d = 0, sum = 0; d < 256; d++) {
            c = count[d];
            count[d] = sum;
            sum += c;
        }

        for (i = 0; i < n; i++) {
            c = count[255 - ((k[i] >> shift) & 255)]++;
            tk[c] = k[i];
            tx[c] = x[i];
        }

        swk = k;
        k = tk;
        tk = swk;
        swx = x;
        x = tx;
        tx = swx;
    }

    if (k != key) {
        memcpy(key, k, n * sizeof(uint64_t));
        memcpy(idx, x, n * sizeof(uint32_t));
    }
}


/* A real sort value as an integer of the same order (IEEE 754: the bits
 * of a non-negative double order as the doubles do; negative ones flip). */
static uint64_t
real_key(double v)
{
    uint64_t  u;

    if (v == 0) {
        return UINT64_C(1) << 63;       /* -0 as 0 */
    }

    memcpy(&u, &v, sizeof(u));

    return u >> 63 ? ~u : u | UINT64_C(1) << 63;
}


/* Row r's value in sort (not requests) as an integer of the same order. */
static uint64_t
sort_key(const ps_row_t *r, int sort)
{
    switch (sort) {
    case PS_SNAP_SORT_ERRORS:
        return r->counts.errors;
    case PS_SNAP_SORT_ERROR_RATE:
        return real_key(row_sort_value(r, sort));
    case PS_SNAP_SORT_P95:
        return real_key(r->p95);
    case PS_SNAP_SORT_BYTES:
        return r->counts.bytes_out;
    default:
        return r->last_us;
    }
}


static int
key_rank_cmp(const void *a, const void *b, void *arg)
{
    const ps_row_t  *rows = arg;

    return row_key_cmp(&rows[*(const uint32_t *) a],
                       &rows[*(const uint32_t *) b]);
}


int
ps_rowset_orders(const ps_rowset_t *rs, size_t n,
    uint32_t *const out[PS_SNAP_SORTS])
{
    uint64_t  *key, *tkey;
    uint32_t  *byk, *tidx;
    size_t     i;
    int        sort, ranked;

    for (i = 0; i < n; i++) {
        out[PS_SNAP_SORT_REQUESTS][i] = (uint32_t) i;
    }

    if (n < 2) {
        for (sort = 1; sort < PS_SNAP_SORTS; sort++) {
            for (i = 0; i < n; i++) {
                out[sort][i] = (uint32_t) i;
            }
        }
        return 0;
    }

    key = malloc(2 * n * sizeof(uint64_t));
    byk = malloc(2 * n * sizeof(uint32_t));
    if (key == NULL || byk == NULL) {
        free(key);
        free(byk);
        return -1;
    }

    tkey = key + n;
    tidx = byk + n;

    /* the rows in the order of their keys */
    ranked = 1;
    for (i = 0; i < n; i++) {
        byk[i] = (uint32_t) i;
        key[i] = ~(uint64_t) rs->rows[i].rank;     /* ascending rank */
        ranked &= rs->rows[i].rank != 0;
    }

    if (ranked) {
        radix_desc(key, byk, n, tkey, tidx);
    } else {
        qsort_r(byk, n, sizeof(uint32_t), key_rank_cmp, rs->rows);
    }

    /* the rows themselves are in the order of requests; the others sort
     * the rows by value, ties left in the order of their keys */
    for (sort = 1; sort < PS_SNAP_SORTS; sort++) {
        for (i = 0; i < n; i++) {
            out[sort][i] = byk[i];
            key[i] = sort_key(&rs->rows[byk[i]], sort);
        }

        radix_desc(key, out[sort], n, tkey, tidx);
    }

    free(key);
    free(byk);

    return 0;
}


int
ps_row_is_other(const ps_row_t *r)
{
    return ps_agg_is_other(r->host, r->hlen, r->method, r->mlen, r->path,
                           r->plen);
}


/* A key chosen in the first pass, with its counters (the rest's share
 * if it does not stay). */
typedef struct {
    ps_win_key_t  *k;
    ps_counts_t    counts;
} pick_t;

/* A chosen key as the selection and the sort of the chosen see it: what
 * orders it, so that they move 16 bytes, not a pick, and compare
 * integers (the text of its pick only when a rank is missing). */
typedef struct {
    uint64_t       requests;
    uint32_t       rank;
    uint32_t       slot;        /* in picks[] */
} pick_ref_t;

/*
 * The keys chosen so far: refs[0 .. n) and their picks.  Once 2 x keep
 * are chosen, the keep best stay (a selection, linear in the keys) and
 * the worst of them is the cut: a key that sorts after it cannot be a
 * row any more and costs one or two integer comparisons.
 */
typedef struct {
    ps_rowset_t   *rs;
    size_t         keep;
    pick_t        *picks;       /* by slot */
    size_t         picks_cap;
    size_t         used;        /* slots handed out */
    uint32_t      *free;        /* slots given back */
    size_t         nfree;
    pick_ref_t    *refs;        /* 2 x keep */
    size_t         n;
    int            has_cut;
    pick_ref_t     cut;         /* the worst of the keep best */
    ps_win_key_t  *cut_key;     /* its key, for a comparison by text */
    ps_win_key_t **cand;        /* keys fn must see */
    size_t         ncand, cand_cap;
    uint64_t       fn_min;
    int            fn_on;
} choose_ctx_t;


/* a's pick against b's: most requested first, then by key (rank, or
 * text where a rank is missing) */
static int
ref_cmp(const choose_ctx_t *c, const pick_ref_t *a, const pick_ref_t *b)
{
    if (a->requests != b->requests) {
        return a->requests > b->requests ? -1 : 1;
    }

    if (a->rank != 0 && b->rank != 0) {
        return (a->rank > b->rank) - (a->rank < b->rank);
    }

    return ps_windows_key_cmp(c->picks[a->slot].k, c->picks[b->slot].k);
}


static int
ref_qcmp(const void *a, const void *b, void *ctx)
{
    return ref_cmp(ctx, a, b);
}


/* Key k, of ref, sorts after the cut: most keys say so by their
 * requests or rank alone, their text unread. */
static int
after_cut(const choose_ctx_t *c, ps_win_key_t *k, const pick_ref_t *ref)
{
    if (ref->requests != c->cut.requests) {
        return ref->requests < c->cut.requests;
    }

    if (ref->rank != 0 && c->cut.rank != 0) {
        return ref->rank > c->cut.rank;
    }

    return ps_windows_key_cmp(k, c->cut_key) > 0;
}


static void
ref_swap(pick_ref_t *a, pick_ref_t *b)
{
    pick_ref_t  t = *a;

    *a = *b;
    *b = t;
}


/* Puts the k best of r[0 .. n) first, in any order, the worst of them
 * at r[k - 1] (0 < k < n): quickselect, median of three. */
static void
refs_select(const choose_ctx_t *c, pick_ref_t *r, size_t n, size_t k)
{
    size_t      lo = 0, hi = n - 1, mid, i, j, t = k - 1;
    pick_ref_t  pivot;

    while (hi > lo) {
        mid = lo + (hi - lo) / 2;
        if (ref_cmp(c, &r[mid], &r[lo]) < 0) {
            ref_swap(&r[mid], &r[lo]);
        }
        if (ref_cmp(c, &r[hi], &r[lo]) < 0) {
            ref_swap(&r[hi], &r[lo]);
        }
        if (ref_cmp(c, &r[hi], &r[mid]) < 0) {
            ref_swap(&r[hi], &r[mid]);
        }
        if (hi - lo < 3) {
            return;                 /* three or fewer: sorted now */
        }

        /* r[lo] <= pivot <= r[hi]: both stop the scans below */
        pivot = r[mid];
        ref_swap(&r[mid], &r[hi - 1]);
        i = lo;
        j = hi - 1;

        for ( ;; ) {
            while (ref_cmp(c, &r[++i], &pivot) < 0) {
                /* void */
            }
            while (ref_cmp(c, &r[--j], &pivot) > 0) {
                /* void */
            }
            if (i >= j) {
                break;
            }
            ref_swap(&r[i], &r[j]);
        }

        ref_swap(&r[i], &r[hi - 1]);    /* the pivot to its place, i */

        if (t < i) {
            hi = i - 1;
        } else if (t > i) {
            lo = i + 1;
        } else {
            return;
        }
    }
}


/* Keeps the keep best of the n > keep chosen: the others go to the rest,
 * their slots free, and the worst kept is the cut. */
static void
choose_shrink(choose_ctx_t *c)
{
    size_t  i;

    refs_select(c, c->refs, c->n, c->keep);

    for (i = c->keep; i < c->n; i++) {
        ps_counts_merge(&c->rs->rest.counts,
                        &c->picks[c->refs[i].slot].counts);
        c->free[c->nfree++] = c->refs[i].slot;
    }

    c->n = c->keep;
    c->cut = c->refs[c->keep - 1];
    c->cut_key = c->picks[c->cut.slot].k;
    c->has_cut = 1;
}


/* First pass: every key of the window with its counters: the keep most
 * requested are picked, the rest only summed; those fn must see are
 * noted.  */
static int
choose_key(void *ctx, ps_win_key_t *k, const ps_counts_t *counts,
    uint64_t first_us, uint64_t last_us)
{
    size_t          cap;
    uint32_t        slot;
    choose_ctx_t   *c = ctx;
    pick_t         *picks;
    pick_ref_t      ref;
    ps_win_key_t  **cand;

    (void) first_us;
    (void) last_us;

    c->rs->total_rows++;

    if (c->fn_on && counts->requests >= c->fn_min) {
        if (c->ncand == c->cand_cap) {
            c->cand_cap = c->cand_cap ? 2 * c->cand_cap : 256;
            cand = realloc(c->cand, c->cand_cap * sizeof(*cand));
            if (cand == NULL) {
                return -1;
            }
            c->cand = cand;
        }
        c->cand[c->ncand++] = k;
    }

    ref.requests = counts->requests;
    ref.rank = ps_windows_key_rank(k);

    if (c->keep == 0 || (c->has_cut && after_cut(c, k, &ref))) {
        ps_counts_merge(&c->rs->rest.counts, counts);
        return 0;
    }

    if (c->n == 2 * c->keep) {
        choose_shrink(c);
        if (after_cut(c, k, &ref)) {
            ps_counts_merge(&c->rs->rest.counts, counts);
            return 0;
        }
    }

    if (c->nfree > 0) {
        slot = c->free[--c->nfree];

    } else {
        if (c->used == c->picks_cap) {
            cap = c->picks_cap ? 2 * c->picks_cap : 1024;
            cap = cap < 2 * c->keep ? cap : 2 * c->keep;
            picks = realloc(c->picks, cap * sizeof(pick_t));
            if (picks == NULL) {
                return -1;
            }
            c->picks = picks;
            c->picks_cap = cap;
        }
        slot = (uint32_t) c->used++;
    }

    c->picks[slot].k = k;
    c->picks[slot].counts = *counts;

    ref.slot = slot;
    c->refs[c->n++] = ref;

    return 0;
}


/* Sorts the picks' refs most requested first, ties by rank: two radix
 * passes (by rank, then stably by requests) when every pick has a rank,
 * else a sort that compares their text; 0, or -1 if memory ran out. */
static int
refs_sort(choose_ctx_t *c)
{
    size_t       i, n = c->n;
    uint64_t    *key;
    uint32_t    *idx;
    pick_ref_t  *sorted;

    for (i = 0; i < n; i++) {
        if (c->refs[i].rank == 0) {
            qsort_r(c->refs, n, sizeof(pick_ref_t), ref_qcmp, c);
            return 0;
        }
    }

    key = malloc(2 * n * sizeof(uint64_t));
    idx = malloc(2 * n * sizeof(uint32_t));
    sorted = malloc(n * sizeof(pick_ref_t));
    if (key == NULL || idx == NULL || sorted == NULL) {
        free(key);
        free(idx);
        free(sorted);
        return -1;
    }

    for (i = 0; i < n; i++) {
        idx[i] = (uint32_t) i;
        key[i] = ~(uint64_t) c->refs[i].rank;      /* ascending rank */
    }
    radix_desc(key, idx, n, key + n, idx + n);

    for (i = 0; i < n; i++) {
        key[i] = c->refs[idx[i]].requests;
    }
    radix_desc(key, idx, n, key + n, idx + n);

    for (i = 0; i < n; i++) {
        sorted[i] = c->refs[idx[i]];
    }

    free(c->refs);
    c->refs = sorted;
    free(key);
    free(idx);

    return 0;
}


/* Keeps r, which fn saw, for a collect that changes nothing; 0 or -1. */
static int
seen_add(ps_rowset_t *rs, const ps_row_t *r)
{
    if (rs->nseen == rs->seen_cap
        && (rs->seen_cap >= SEEN_MAX
            || rows_grow(&rs->seen, &rs->seen_cap, 64, SEEN_MAX) != 0))
    {
        return -1;
    }

    rs->seen[rs->nseen++] = *r;

    return 0;
}


/* Second pass: the row of one chosen key. */
static int
collect_row(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    collect_ctx_t  *c = ctx;
    ps_rowset_t    *rs = c->rs;
    ps_row_t        row, *r = &row;

    memset(r, 0, sizeof(*r));

    r->host = host;
    r->method = method;
    r->path = path;
    r->hlen = (uint32_t) hlen;
    r->mlen = (uint32_t) mlen;
    r->plen = (uint32_t) plen;
    r->counts = st->counts;
    r->first_us = st->first_seen_us;
    r->last_us = st->last_seen_us;
    r->p50 = ps_row_percentile(&st->latency, 0.50,
                               st->counts.latency_max_us);
    r->p95 = ps_row_percentile(&st->latency, 0.95,
                               st->counts.latency_max_us);
    r->p99 = ps_row_percentile(&st->latency, 0.99,
                               st->counts.latency_max_us);
    r->unique = (uint64_t) llround(ps_hll_cardinality(&st->clients));
    r->flags = st->flags;
    r->rank = c->rank;

    if (c->fn != NULL && st->counts.requests >= c->fn_min) {
        c->fn(c->fn_ctx, r);
        if (c->seen_ok) {
            c->seen_ok = seen_add(rs, r) == 0;
        }
    }

    if (c->keep == 0) {
        return 0;                  /* a row for fn alone */
    }

    return row_keep(rs, r, c->keep, c->in_order);
}


static int
total_of(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    ps_rowset_t  *rs = ctx;

    return ps_win_stats_merge(&rs->total, st);
}


static int
cmp_ptr(const void *a, const void *b)
{
    uintptr_t  x = (uintptr_t) *(ps_win_key_t *const *) a;
    uintptr_t  y = (uintptr_t) *(ps_win_key_t *const *) b;

    return (x > y) - (x < y);
}


int
ps_rowset_init(ps_rowset_t *rs)
{
    memset(rs, 0, sizeof(*rs));
    ps_win_stats_init(&rs->total);

    return 0;
}


void
ps_rowset_free(ps_rowset_t *rs)
{
    free(rs->rows);
    free(rs->seen);
    ps_win_stats_free(&rs->total);
    memset(rs, 0, sizeof(*rs));
}


int
ps_rowset_collect(ps_rowset_t *rs, ps_windows_t *w, int win,
    uint64_t now_us, size_t keep, ps_row_fn fn, void *ctx,
    uint64_t fn_min)
{
    int            rc = -1;
    size_t         i, j;
    ps_win_key_t **kept = NULL;
    choose_ctx_t   ch;
    collect_ctx_t  c;
    ps_win_stamp_t stamp;
    int            quiet;

    ps_windows_stamp(w, win, now_us, &stamp);

    if (ps_win_stamp_same(&stamp, &rs->stamp) && rs->keep == keep
        && rs->fn_on == (fn != NULL) && rs->fn_min == fn_min)
    {
        /* the rows, rest and totals as they are; only what this build
         * decides is undone, as below */
        rs->shrunk = 0;
        rs->reused = 1;
        for (i = 0; fn != NULL && i < rs->nseen; i++) {
            fn(ctx, &rs->seen[i]);
        }
        return 0;
    }

    memset(&rs->stamp, 0, sizeof(rs->stamp));
    rs->reused = 0;
    rs->nseen = 0;

    /* the rows fn sees are kept only when nothing was counted since the
     * last collect: a busy box reads its windows again at every build,
     * and copying them (up to every key's) would be wasted; an idle one
     * keeps them from its second build on */
    quiet = fn == NULL || stamp.gen == rs->last_gen;
    rs->last_gen = stamp.gen;

    rs->n = 0;
    rs->total_rows = 0;
    memset(&rs->rest, 0, sizeof(rs->rest));
    rs->shrunk = 0;
    ps_win_stats_reset(&rs->total);

    memset(&ch, 0, sizeof(ch));
    ch.rs = rs;
    ch.keep = keep;
    ch.fn_on = fn != NULL;
    ch.fn_min = fn_min;
    ch.refs = malloc((keep ? 2 * keep : 1) * sizeof(pick_ref_t));
    ch.free = malloc((keep ? 2 * keep : 1) * sizeof(uint32_t));
    if (ch.refs == NULL || ch.free == NULL) {
        free(ch.refs);
        free(ch.free);
        return -1;
    }

    /* the keys new since the last build take their rank, so that ties
     * compare integers; if memory runs out they compare their text */
    (void) ps_windows_order(w);

    /* first pass: which keys, by their counters alone */
    if (ps_windows_foreach_counts(w, win, now_us, choose_key, &ch) != 0) {
        goto done;
    }

    if (ch.n > keep) {
        choose_shrink(&ch);
    }

    /* second pass: their rows whole, most requested first */
    if (ch.n > 1 && refs_sort(&ch) != 0) {
        goto done;
    }

    c.rs = rs;
    c.keep = keep;
    c.fn = fn;
    c.fn_ctx = ctx;
    c.fn_min = fn_min;
    c.seen_ok = quiet;

    c.in_order = 1;                 /* ch.n <= keep */

    for (i = 0; i < ch.n; i++) {
        c.rank = ch.refs[i].rank;
        if (ps_windows_key_stats(w, ch.picks[ch.refs[i].slot].k, win, now_us,
                                 collect_row, &c) != 0)
        {
            goto done;
        }
    }

    /* the rows came in the order of their picks, which is theirs: sorted
     * again only if a key's counters were not the same in both passes */
    for (i = 1; i < rs->n; i++) {
        if (row_by_requests(&rs->rows[i - 1], &rs->rows[i]) > 0) {
            qsort(rs->rows, rs->n, sizeof(ps_row_t), row_by_requests);
            break;
        }
    }

    /* the keys fn must see that are not rows */
    if (ch.ncand > 0) {
        kept = malloc((ch.n ? ch.n : 1) * sizeof(ps_win_key_t *));
        if (kept == NULL) {
            goto done;
        }
        for (i = 0; i < ch.n; i++) {
            kept[i] = ch.picks[ch.refs[i].slot].k;
        }
        qsort(kept, ch.n, sizeof(ps_win_key_t *), cmp_ptr);
        qsort(ch.cand, ch.ncand, sizeof(ps_win_key_t *), cmp_ptr);

        c.keep = 0;
        c.in_order = 0;

        for (i = 0, j = 0; i < ch.ncand; i++) {
            while (j < ch.n && (uintptr_t) kept[j] < (uintptr_t) ch.cand[i]) {
                j++;
            }
            if (j < ch.n && kept[j] == ch.cand[i]) {
                continue;
            }
            c.rank = ps_windows_key_rank(ch.cand[i]);
            if (ps_windows_key_stats(w, ch.cand[i], win, now_us, collect_row,
                                     &c) != 0)
            {
                goto done;
            }
        }
    }

    /* the window's totals, and what the rows leave of them */
    if (ps_windows_total(w, win, now_us, total_of, rs) != 0) {
        goto done;
    }

    if (c.seen_ok) {
        rs->stamp = stamp;
        rs->keep = keep;
        rs->fn_on = fn != NULL;
        rs->fn_min = fn_min;
    }

    rc = 0;

done:

    free(ch.picks);
    free(ch.refs);
    free(ch.free);
    free(ch.cand);
    free(kept);

    return rc;
}


/* A key of any source: counted in the totals, then a row as chosen keys
 * are (collect_row()). */
static int
collect_any(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    collect_ctx_t  *c = ctx;

    c->rs->total_rows++;

    if (ps_win_stats_merge(&c->rs->total, st) != 0) {
        return -1;
    }

    return collect_row(ctx, host, hlen, method, mlen, path, plen, st);
}


int
ps_rowset_collect_from(ps_rowset_t *rs, ps_rowset_source_fn source,
    void *src, size_t keep, ps_row_fn fn, void *ctx)
{
    collect_ctx_t  c;

    memset(&rs->stamp, 0, sizeof(rs->stamp));
    rs->reused = 0;
    rs->nseen = 0;
    rs->n = 0;
    rs->total_rows = 0;
    memset(&rs->rest, 0, sizeof(rs->rest));
    rs->shrunk = 0;
    ps_win_stats_reset(&rs->total);

    c.rs = rs;
    c.keep = keep;
    c.fn = fn;
    c.fn_ctx = ctx;
    c.fn_min = 0;
    c.in_order = 0;
    c.rank = 0;
    c.seen_ok = 0;

    if (source(src, collect_any, &c) != 0) {
        return -1;
    }

    /* row_keep() kept them as a heap */
    if (rs->n > 1) {
        qsort(rs->rows, rs->n, sizeof(ps_row_t), row_by_requests);
    }

    return 0;
}
