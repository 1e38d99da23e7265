/*
 * Known keys of the PostgreSQL sink: the (hour, host, method, path) keys
 * known to have a row in pathstats_hourly, which are every key of a
 * committed flush.  The flush's INSERT skips them, which saves its
 * conflict checks when a flush finds its rows (the common case within an
 * hour).  Skipping an existing row is what ON CONFLICT DO NOTHING would
 * have done, so locks are taken as without it.  A key known wrongly (the
 * row was deleted, or two keys' hashes collide) shows as a row missing
 * from the lock: the sink rolls the flush back, clears this set and does
 * it again with every key tried.
 *
 * Keys are remembered by the 64-bit hash the aggregation table holds for
 * them (ps_agg_entry_t.hash), at most max_keys of them (then
 * all are forgotten), with a count of the keys first known per hour for
 * the latest four hours.  In memory only; not thread-safe.
 */

#ifndef PS_PG_KNOWN_H
#define PS_PG_KNOWN_H

#include <stddef.h>
#include <stdint.h>

#include "agg/agg_table.h"

typedef struct ps_pg_known_s  ps_pg_known_t;

/* Creates an empty set of at most max_keys keys; NULL if memory ran
 * out. */
ps_pg_known_t *ps_pg_known_create(size_t max_keys);

/* Frees it; NULL is allowed. */
void ps_pg_known_destroy(ps_pg_known_t *k);

/* Forgets every key and every hour's count. */
void ps_pg_known_clear(ps_pg_known_t *k);

/* 1 when e's key is known to have a row, else 0. */
int ps_pg_known_has(ps_pg_known_t *k, const ps_agg_entry_t *e);

/* Remembers the keys of the n entries of a committed delta, best effort
 * (a key not remembered is only tried by the INSERT again): when they
 * would make more than max_keys, every key known before is forgotten,
 * and when n alone is more, none is remembered. */
void ps_pg_known_add(ps_pg_known_t *k, const ps_agg_entry_t *const *entries,
    size_t n);

/* Keys known in the hours first to last (unix seconds), of the latest
 * four hours that had keys added only. */
size_t ps_pg_known_in_hours(const ps_pg_known_t *k, int64_t first,
    int64_t last);

#endif /* PS_PG_KNOWN_H */
