/*
 * Live per-path windows for the snapshot: for every (host, method, path)
 * the requests of the last minute, hour and day, exact to the bucket.
 *
 * Each key keeps three sparse levels of buckets, only non-empty ones:
 * seconds (for 1m), minutes (for 1h) and hours (for 24h).  A record is
 * counted into its second and its minute bucket; an hour's minute
 * buckets are merged into its hour bucket once the hour is over
 * (ps_windows_expire(), before they can leave), and the 24h window adds
 * the minute buckets not merged yet (a late record of a merged hour
 * goes to its hour bucket directly).  At time now the windows are
 *
 *   1m   the current second and the 59 before it
 *   1h   the current minute and the 59 before it
 *   24h  the current UTC hour and the 23 before it
 *
 * so a bucket leaves its window exactly when its period is 60 (24)
 * periods old.  A key with no bucket left in any level is dropped.
 *
 * Requests, statuses, bytes, latencies (histogram, sum, max) and
 * first/last seen are exact to the bucket in every window.  Second
 * buckets keep no clients: unique_clients of the 1m window is the union
 * of the key's minute buckets that overlap it, exact when the window is
 * one whole minute, else an upper bound that may count clients of up to
 * 59 seconds before the window.
 * Memory is bounded by max_keys: a new key beyond it is counted in the
 * overflow key ("*", "*", "{other}", as in agg_table.h), so totals stay
 * exact.  Top client addresses (client text) are kept for the 1h window
 * in a separate bounded table.  Not thread-safe.
 */

#ifndef PS_WINDOWS_H
#define PS_WINDOWS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/counts.h"
#include "lib/histogram.h"
#include "lib/hll.h"
#include "ring/rec.h"

enum {
    PS_WIN_1M = 0,
    PS_WIN_1H,
    PS_WIN_24H,
    PS_WIN_COUNT
};

#define PS_WIN_CLIENTS_MAX  10000   /* client addresses tracked */

typedef struct ps_windows_s  ps_windows_t;
typedef struct win_key_s     ps_win_key_t;

/* One key's aggregate over a window (or a bucket). */
typedef struct {
    ps_counts_t  counts;
    uint64_t   first_seen_us;
    uint64_t   last_seen_us;
    ps_hist_t  latency;
    ps_hll_t   clients;
    unsigned   flags;           /* PS_REC_KEY_TRUNCATED, PS_REC_NORMALIZED
                                   of any request counted */
} ps_win_stats_t;

/* Called per key by ps_windows_foreach() with the key's window stats. */
typedef int (*ps_win_key_fn)(void *ctx, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    const ps_win_stats_t *st);

/* A client address and its requests in the 1h window. */
typedef struct {
    const char  *client;
    uint64_t     requests;
} ps_win_client_t;

/* Creates empty windows holding at most max_keys (>= 1) keys; NULL on
 * failure.  Once the table is nearly full, ps_windows_expire() folds the
 * keys not seen for the longest (an hour at least: they are in the 24h
 * window only) into the overflow key, so that keys age out with their
 * windows and a new key finds room. */
ps_windows_t *ps_windows_create(size_t max_keys);

/* Frees everything; NULL is allowed. */
void ps_windows_destroy(ps_windows_t *w);

/* Counts one request at time_us; 0, or -1 if memory ran out. */
int ps_windows_add(ps_windows_t *w, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    unsigned status, uint64_t request_us, uint64_t bytes_in,
    uint64_t bytes_out, const uint64_t *client_hash, const char *client,
    uint64_t time_us);

/*
 * The windows as the key table of the pipeline: one probe per record,
 * by the record's key_hash and key_hash2, finds (or makes) the key that
 * the windows count the record into and that the per-hour key limit
 * admits.  A handle is valid until the next ps_windows_expire().
 */

/* Sets the key limit: at most per_hour distinct keys admitted per hour
 * (0: none, the default). */
void ps_windows_set_limit(ps_windows_t *w, size_t per_hour);

/* rec's key, admitted for rec->hour (known, or new and within the
 * limit); NULL when the hour is full (or the windows are, until their
 * fold makes room): the record then counts as the overflow key. */
ps_win_key_t *ps_windows_admit(ps_windows_t *w, const ps_rec_t *rec);

/*
 * Hints for a batch of records (the pipeline's): with 100 000 keys each
 * step of counting a record waits for memory (index slot, key, newest
 * buckets, their histograms and client sets).  Taking a batch through
 * these steps in turn, each for every record of the batch before the
 * next, lets the loads of the batch overlap; ps_windows_admit() and
 * ps_windows_add_to() then find everything in cache.  None changes
 * anything, and a handle is good until the windows next change.
 *
 *   ps_windows_prefetch_slot(w, rec)      rec's index slot
 *   k = ps_windows_peek(w, rec)           rec's key, loading; NULL: new
 *   ps_windows_prefetch_buckets(k)        the key's newest buckets
 *   ps_windows_prefetch_heap(k, rec)      their heap memory
 */
void ps_windows_prefetch_slot(const ps_windows_t *w, const ps_rec_t *rec);
const ps_win_key_t *ps_windows_peek(const ps_windows_t *w,
    const ps_rec_t *rec);
void ps_windows_prefetch_buckets(const ps_win_key_t *k);
void ps_windows_prefetch_heap(const ps_win_key_t *k, const ps_rec_t *rec);

/* The overflow key ("*", "*", "{other}"); NULL if memory ran out. */
ps_win_key_t *ps_windows_other(ps_windows_t *w);

/* Counts rec into k; 0, or -1 if memory ran out. */
int ps_windows_add_to(ps_windows_t *w, ps_win_key_t *k, const ps_rec_t *rec);

/* Admits a key for hour without counting a request (a key that already
 * has a row of this node in hour: a restart within the hour takes the
 * hour no further than the limit); 0, or -1 when it does not fit. */
int ps_windows_seed(ps_windows_t *w, int64_t hour, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen);

/* Records counted as overflow because the limit (or the windows) were
 * full. */
uint64_t ps_windows_limited(const ps_windows_t *w);

/* Merges stats counted for one whole past hour (rebuilt from history)
 * into that hour's bucket of the key; 0 or -1. */
int ps_windows_add_hour(ps_windows_t *w, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    int64_t hour, const ps_win_stats_t *st);

/* Drops buckets that left their window at now_us, and empty keys; folds
 * old keys into the overflow key when the table is nearly full. */
void ps_windows_expire(ps_windows_t *w, uint64_t now_us);

/* Calls fn for every key with requests in window win at now_us (after
 * ps_windows_expire()); st is valid during the call only.  0, -1 if
 * memory ran out, or the first non-zero value of fn. */
int ps_windows_foreach(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_key_fn fn, void *ctx);

/* Called per key by ps_windows_foreach_counts(): its counters in the
 * window (no histogram, no clients), first and last seen. */
typedef int (*ps_win_counts_fn)(void *ctx, ps_win_key_t *k,
    const ps_counts_t *c, uint64_t first_us, uint64_t last_us);

/* Calls fn for every key with requests in window win at now_us (after
 * ps_windows_expire()) with its counters only: far cheaper than
 * ps_windows_foreach(), for choosing which keys to look at whole.  0, or
 * the first non-zero value of fn. */
int ps_windows_foreach_counts(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_counts_fn fn, void *ctx);

/*
 * What window win shows at now_us, in brief: two stamps of the same
 * windows are the same (ps_win_stamp_same()) only if every key's stats
 * in the window are: nothing was counted, merged, made, removed, folded
 * or sealed between them, no bucket with a request left the window (its
 * requests in the totals are the same) and, for 1m, its unique clients
 * come from the same minutes.  Two stamps of different windows are
 * never the same, nor is a zeroed one; once the totals missed a request
 * (memory ran out) every stamp is zeroed.
 */
typedef struct {
    uint64_t  gen;
    uint64_t  requests;
    int64_t   minute;
    int       win;
} ps_win_stamp_t;

void ps_windows_stamp(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_stamp_t *st);

int ps_win_stamp_same(const ps_win_stamp_t *a, const ps_win_stamp_t *b);

/* fn with key k's stats in window win at now_us, as ps_windows_foreach()
 * would call it (not at all without a request in the window); k as
 * handed out since the last ps_windows_expire().  0, -1, or fn's value. */
int ps_windows_key_stats(ps_windows_t *w, ps_win_key_t *k, int win,
    uint64_t now_us, ps_win_key_fn fn, void *ctx);

/* fn with the stats of every request in window win (host, method and
 * path empty): the window's totals, kept as one more key is. */
int ps_windows_total(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_key_fn fn, void *ctx);

/* k's host, method and path (valid while k is). */
void ps_windows_key_text(const ps_win_key_t *k, const char **host,
    size_t *hlen, const char **method, size_t *mlen, const char **path,
    size_t *plen);

/* Places the keys made since the last call in the order of their text
 * (path, host, method, bytewise: the snapshot's tie break), so that
 * ps_windows_key_rank() orders any two keys by an integer.  Costs
 * nothing when no key came; 0, or -1 if memory ran out (the new keys'
 * rank then stays 0). */
int ps_windows_order(ps_windows_t *w);

/* a against b in that order, by their text: < 0, 0 (the same key) or
 * > 0. */
int ps_windows_key_cmp(const ps_win_key_t *a, const ps_win_key_t *b);

/* k's place in that order, from 1: keys ranked by the same windows sort
 * as their text does, whatever came or went between the calls; 0 for a
 * key made since the last ps_windows_order(). */
uint32_t ps_windows_key_rank(const ps_win_key_t *k);

/* Keys held (the overflow key included), requests that went to the
 * overflow key since creation because the table was full, and keys
 * folded into it to make room (ps_windows_expire()). */
size_t ps_windows_keys(const ps_windows_t *w);
uint64_t ps_windows_overflowed(const ps_windows_t *w);
uint64_t ps_windows_folded(const ps_windows_t *w);

/* Fills out with up to n client addresses of the 1h window at now_us,
 * most requests first (ties by address); returns how many.  The
 * pointers are valid until the next add or expire.  *other gets the
 * requests of clients not listed (including those beyond the table). */
size_t ps_windows_top_clients(ps_windows_t *w, uint64_t now_us,
    ps_win_client_t *out, size_t n, uint64_t *other);

/* Stats helpers: init (empty, owns nothing), reset (keep memory), free,
 * and dst += src. */
void ps_win_stats_init(ps_win_stats_t *st);
void ps_win_stats_reset(ps_win_stats_t *st);
void ps_win_stats_free(ps_win_stats_t *st);
int ps_win_stats_merge(ps_win_stats_t *dst, const ps_win_stats_t *src);

#endif /* PS_WINDOWS_H */
