/*
 * Row selection: the rows of one window that a snapshot shows.  Every key
 * of the window is visited once by its counters alone (cheap: no
 * histogram, no clients); the keep most requested are chosen (a heap),
 * the others only summed into the rest; then the chosen ones are read
 * whole into rows, most requested first.  The window's totals are kept
 * by the windows as one more key, so that what the rows leave out is
 * still counted without reading it whole.  Each row carries what every
 * output needs: its counters, percentiles (capped at the maximum, as the
 * histogram's buckets are wider than one value), unique clients, and for
 * the 24h window its cumulative Prometheus buckets (le, apart: 88 bytes a
 * row less in the other windows).
 */

#ifndef PS_ROWS_H
#define PS_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "agg/windows.h"
#include "lib/counts.h"
#include "lib/histogram.h"
#include "pathstats_snapshot.h"

typedef struct {
    const char  *host;
    const char  *method;
    const char  *path;
    uint32_t     hlen, mlen, plen;
    ps_counts_t  counts;
    uint64_t     first_us;
    uint64_t     last_us;
    double       p50, p95, p99;        /* us, capped at the max */
    uint64_t     unique;
    unsigned     flags;                /* PS_REC_KEY_TRUNCATED, _NORMALIZED */
    uint32_t     rank;                 /* of its key in the windows
                                          (ps_windows_key_rank()): rows
                                          of one windows with a rank
                                          sort by it, not their text */
} ps_row_t;

typedef struct {
    ps_row_t        *rows;             /* most requested first */
    size_t           n;
    size_t           cap;
    size_t           total_rows;       /* keys in the window */
    struct {                           /* the keys beyond the rows kept */
        ps_counts_t  counts;
    } rest;
    ps_win_stats_t   total;
    int              shrunk;           /* rows cut to fit the buffer */

    /* what ps_rowset_collect() chose from: collected again from the same
     * windows while nothing in the window changed (ps_win_stamp_t), the
     * set stays as it is and fn sees the rows it saw then, kept here */
    ps_win_stamp_t   stamp;            /* zeroed: nothing to keep */
    uint64_t         last_gen;         /* the windows' at the last one */
    size_t           keep;
    uint64_t         fn_min;
    int              fn_on;
    ps_row_t        *seen;             /* the rows fn saw */
    size_t           nseen;
    size_t           seen_cap;
    int              reused;           /* the last collect kept the rows
                                          of the one before */
} ps_rowset_t;

/* Called with each row as it is collected (before it is kept or not). */
typedef void (*ps_row_fn)(void *ctx, const ps_row_t *r);

/* An empty set; 0. */
int ps_rowset_init(ps_rowset_t *rs);

/* Frees what the set holds; it is then empty and uninitialised. */
void ps_rowset_free(ps_rowset_t *rs);

/* Replaces the set's rows with window win of w at now_us (after
 * ps_windows_expire()): the keep most requested keys as rows; fn (may be
 * NULL) sees the row of every key with at least fn_min requests.  Row
 * strings point into w until it changes.  When nothing in the window
 * changed since the set was last collected from it with the same keep,
 * fn and fn_min, the rows are those already there: no key is read, and
 * fn sees the rows it saw then.  (Those rows are kept only by a collect
 * with nothing counted since the one before, and at most 100 000: else
 * the next collect reads the window again.)  0, or -1 if memory ran
 * out. */
int ps_rowset_collect(ps_rowset_t *rs, ps_windows_t *w, int win,
    uint64_t now_us, size_t keep, ps_row_fn fn, void *ctx,
    uint64_t fn_min);

/* A source of keys and their stats for ps_rowset_collect_from(): calls
 * fn(fn_ctx, ...) for every key, as ps_windows_foreach() does; 0, -1, or
 * the first non-zero value of fn. */
typedef int (*ps_rowset_source_fn)(void *src, ps_win_key_fn fn,
    void *fn_ctx);

/* ps_rowset_collect() from any source of keys (the fleet's rows, for
 * one); the row strings point into what the source gave. */
int ps_rowset_collect_from(ps_rowset_t *rs, ps_rowset_source_fn source,
    void *src, size_t keep, ps_row_fn fn, void *ctx);

/* Percentile q of h, capped at max_us. */
double ps_row_percentile(const ps_hist_t *h, double q, uint64_t max_us);

/* Order of two rows by sort (PS_SNAP_SORT_*): descending by its value,
 * then ascending by path, host and method; <0, 0 or >0. */
int ps_row_cmp(const ps_row_t *a, const ps_row_t *b, int sort);

/* out[sort][0..n) = the indexes of rs's first n rows (n <= rs->n) in
 * the order of each sort (PS_SNAP_SORT_*), as ps_row_cmp() says (the
 * integer values compared exactly); 0, or -1 if memory ran out. */
int ps_rowset_orders(const ps_rowset_t *rs, size_t n,
    uint32_t *const out[PS_SNAP_SORTS]);

/* 1 for the overflow key's row (agg_table.h: "*", "*", "{other}"). */
int ps_row_is_other(const ps_row_t *r);

/* Swaps two rows. */
void ps_row_swap(ps_row_t *a, ps_row_t *b);

#endif /* PS_ROWS_H */
