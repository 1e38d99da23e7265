/*
 * Lifetime counters: what Prometheus can rate().  Requests by status
 * class, response bytes and a cumulative latency histogram (at the
 * Prometheus edges of lib/histogram.h) for every request the aggregator
 * saw since it started: per path for the paths in the top set, one
 * {other} series for the rest, and a total.  They only grow; they start
 * at zero when the aggregator starts (a counter reset to Prometheus).
 *
 * Which paths have a series of their own is decided by ps_lifetime_rank()
 * (the snapshot passes the most requested paths of the 24h window, at most
 * max_series) and, between two rankings, by arrival: a new path gets a
 * series at once while fewer than max_series are exported.  A request is
 * counted in its path's series when the path is exported at that moment,
 * else in {other}; so every request is in exactly one series, the series
 * sum to the total, and no series ever goes down.  A path that leaves
 * the top set keeps its counters, frozen, and continues from them when it
 * returns, so its counter never goes backwards within one aggregator's
 * life -- for up to 8 x max_series such paths; beyond that their slots
 * are reused in turn, and a path whose slot was reused starts again at
 * zero when it returns (a counter reset).
 *
 * Per record: one probe of a table of at most 8 x max_series keys by the
 * record's key hash, no rescan of all keys.  Not thread-safe.
 */

#ifndef PS_LIFETIME_H
#define PS_LIFETIME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/histogram.h"
#include "ring/rec.h"

/* status classes 1xx..5xx, then requests whose status has none */
#define PS_LIFETIME_CLASSES  6

typedef struct ps_lifetime_s  ps_lifetime_t;

/* One series' counters; le[] is cumulative (requests <= the edge). */
typedef struct {
    const char  *host;
    const char  *method;
    const char  *path;
    size_t       hlen, mlen, plen;
    uint64_t     requests;
    uint64_t     status[PS_LIFETIME_CLASSES];
    uint64_t     bytes_out;
    uint64_t     latency_sum_us;
    uint64_t     le[PS_HIST_PROM_NLE];
} ps_lifetime_series_t;

/* A path as ps_lifetime_rank() takes it. */
typedef struct {
    const char  *host;
    const char  *method;
    const char  *path;
    size_t       hlen, mlen, plen;
} ps_lifetime_key_t;

/* Counters with at most max_series (>= 1) path series; NULL on failure. */
ps_lifetime_t *ps_lifetime_create(size_t max_series);

/* NULL is allowed. */
void ps_lifetime_destroy(ps_lifetime_t *lt);

/* Counts one decoded record (its key_hash set). */
void ps_lifetime_add(ps_lifetime_t *lt, const ps_rec_t *rec);

/* ps_rec_observer_fn shape for the pipeline: ctx is the ps_lifetime_t. */
void ps_lifetime_observe(void *ctx, const ps_rec_t *rec);

/* Makes keys[0..n) (most requested first; the overflow key is skipped)
 * the exported paths, the first max_series of them; the others keep
 * their counters unexported.  0, or -1 if memory ran out (some keys are
 * then not exported). */
int ps_lifetime_rank(ps_lifetime_t *lt, const ps_lifetime_key_t *keys,
    size_t n);

/* Number of exported path series. */
size_t ps_lifetime_count(const ps_lifetime_t *lt);

/* Series i (< ps_lifetime_count()) in rank order, then arrival; its
 * strings are valid until the next add or rank. */
void ps_lifetime_get(const ps_lifetime_t *lt, size_t i,
    ps_lifetime_series_t *out);

/* The {other} series (host "*", method "*", path "{other}") and the
 * total of all requests (labels empty). */
void ps_lifetime_other(const ps_lifetime_t *lt, ps_lifetime_series_t *out);
void ps_lifetime_total(const ps_lifetime_t *lt, ps_lifetime_series_t *out);

#endif /* PS_LIFETIME_H */
