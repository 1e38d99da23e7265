/*
 * Aggregation table: per (hour, host, method, path) counters, latency
 * histogram and unique-client HyperLogLog, in one hash table.
 *
 * Keys: hour is the unix seconds of the UTC hour start (ps_hour_of());
 * host, method and path are byte strings with lengths and may contain
 * any byte, NUL included.  The table copies key bytes into its own arena
 * (stored with a trailing NUL for convenience, not counted in the
 * length); entry key pointers stay valid until the entry is removed or
 * the table is cleared or destroyed.
 *
 * Bounded memory: an hour holds at most max_keys distinct keys.  A
 * record or merged entry whose key is new once its hour is full is
 * counted in that hour's overflow key, host "*", method "*", path
 * "{other}" (PS_AGG_OTHER_*), which itself does not count toward the
 * limit; ps_agg_overflowed() counts the requests that went there.  So
 * totals per hour stay exact, and memory is bounded by hours x max_keys.
 *
 * Status classes: 100..199 count in status[0] (1xx) ... 500..599 in
 * status[4] (5xx); a status below 100 or above 599 (e.g. 0 for a request
 * that got no response) counts in requests but in no class.  errors is
 * the number of 5xx responses.
 *
 * Entry pointers handed out by ps_agg_foreach(), ps_agg_entry_at() and
 * ps_agg_find() are valid until the next call that adds, merges, removes
 * or clears (the entry array may move).  Not thread-safe.
 */

#ifndef PS_AGG_TABLE_H
#define PS_AGG_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/counts.h"
#include "lib/histogram.h"
#include "lib/hll.h"
#include "ring/rec.h"

#define PS_AGG_OTHER_HOST     "*"
#define PS_AGG_OTHER_METHOD   "*"
#define PS_AGG_OTHER_PATH     "{other}"

/* 1 when host, method and path are the key that the keys past the
 * limit are folded into ("*", "*", "{other}"). */
static inline int
ps_agg_is_other(const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen)
{
    return hlen == sizeof(PS_AGG_OTHER_HOST) - 1
           && mlen == sizeof(PS_AGG_OTHER_METHOD) - 1
           && plen == sizeof(PS_AGG_OTHER_PATH) - 1
           && memcmp(path, PS_AGG_OTHER_PATH, plen) == 0
           && memcmp(host, PS_AGG_OTHER_HOST, hlen) == 0
           && memcmp(method, PS_AGG_OTHER_METHOD, mlen) == 0;
}

typedef struct ps_agg_table_s  ps_agg_table_t;

typedef struct {
    int64_t      hour;            /* unix seconds, UTC hour start */
    const char  *host;            /* key bytes, see above */
    const char  *method;
    const char  *path;
    uint32_t     host_len;
    uint32_t     method_len;
    uint32_t     path_len;

    ps_counts_t  counts;
    uint64_t     first_seen_us;   /* smallest time_us added */
    uint64_t     last_seen_us;    /* largest time_us added */
    ps_hist_t    latency;         /* request_us of every request */
    ps_hll_t     clients;         /* client address hashes */

    uint64_t     hash;            /* ps_key_hash_hour() of the key: what
                                     sets of (hour, key) may keep; 0 in
                                     an entry built outside a table */
} ps_agg_entry_t;

/* Called per entry by ps_agg_foreach(); a non-zero return stops it. */
typedef int (*ps_agg_entry_fn)(void *ctx, const ps_agg_entry_t *e);

/* Creates an empty table allowing max_keys (>= 1) keys per hour; NULL
 * on failure. */
ps_agg_table_t *ps_agg_table_create(size_t max_keys);

/* Frees the table and everything in it; NULL is allowed. */
void ps_agg_table_destroy(ps_agg_table_t *t);

/* Counts one request into its key (or the hour's overflow key):
 * status class, bytes, latency sum/max/histogram, client hash into the
 * HyperLogLog unless client_hash is NULL (murmur3.h: the hash of the raw
 * address bytes), first/last seen from time_us.  0, or -1 if memory ran
 * out or a string is 4 GB or longer (the request may then be partly
 * counted). */
int ps_agg_add(ps_agg_table_t *t, int64_t hour, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen, unsigned status, uint64_t request_us, uint64_t bytes_in,
    uint64_t bytes_out, const uint64_t *client_hash, uint64_t time_us);

/* ps_agg_add() of a decoded record, whose key_hash is set. */
int ps_agg_add_rec(ps_agg_table_t *t, const ps_rec_t *rec);

/* Hints before ps_agg_add_rec(t, rec), a step at a time over a batch of
 * records as the windows' are (pipeline.c), so that the adds do not
 * each wait for memory: the index slot of rec's key; then the entry it
 * names, if any; then that entry's key text, histogram and clients.  No
 * effect on t. */
void ps_agg_prefetch_slot(const ps_agg_table_t *t, const ps_rec_t *rec);

void ps_agg_prefetch_entry(const ps_agg_table_t *t, const ps_rec_t *rec);

void ps_agg_prefetch_heap(const ps_agg_table_t *t, const ps_rec_t *rec);

/* Adds everything in src (an entry of another table, never of t) into
 * the entry of the same key in t, creating it or using the overflow key
 * as ps_agg_add would.  0, or -1 if memory ran out (src may then be
 * partly merged). */
int ps_agg_merge_entry(ps_agg_table_t *t, const ps_agg_entry_t *src);

/* Entry of a key, or NULL. */
const ps_agg_entry_t *ps_agg_find(const ps_agg_table_t *t, int64_t hour,
    const char *host, size_t hlen, const char *method, size_t mlen,
    const char *path, size_t plen);

/* Calls fn once per entry, in insertion order; returns 0, or the first
 * non-zero value fn returned. */
int ps_agg_foreach(const ps_agg_table_t *t, ps_agg_entry_fn fn,
    void *ctx);

/* The i-th entry (i < ps_agg_count()), in insertion order. */
const ps_agg_entry_t *ps_agg_entry_at(const ps_agg_table_t *t, size_t i);

/* Number of entries (overflow keys included). */
size_t ps_agg_count(const ps_agg_table_t *t);

/* Requests counted into overflow keys since creation or the last clear. */
uint64_t ps_agg_overflowed(const ps_agg_table_t *t);

/* Removes every entry and zeroes the overflow count, keeping the hash
 * index, entry array and one arena chunk for reuse. */
void ps_agg_table_clear(ps_agg_table_t *t);

/* Removes the entries of hours before hour, compacting the key arena;
 * 0, or -1 if memory ran out (the table is then unchanged). */
int ps_agg_remove_hours_before(ps_agg_table_t *t, int64_t hour);

/* Heap bytes the table uses: index, entries, key arena, histograms and
 * HyperLogLogs. */
size_t ps_agg_memory(const ps_agg_table_t *t);

#endif /* PS_AGG_TABLE_H */
