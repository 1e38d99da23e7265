/*
 * Key limit: bounds the distinct (host, method, path) keys of an hour
 * across every flush, sink and window, so that a flood of random paths
 * keeps PostgreSQL rows, Redis fields and memory bounded.  A key that
 * arrives once its hour already has max_keys is counted under the
 * overflow key (agg_table.h: "*", "*", "{other}") everywhere.
 *
 * Keys are remembered by a 64-bit hash (a collision merely lets a new key
 * share an admitted key's slot in this set, never merges two rows), for
 * the three most recent hours seen.  At startup the pipeline admits the
 * keys that PostgreSQL already has rows for in the current hour
 * (sink.h: load_keys), so a restart within an hour does not add up to
 * max_keys more.
 */

#ifndef PS_KEY_LIMIT_H
#define PS_KEY_LIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ps_key_limit_s  ps_key_limit_t;

/* Creates a limit of max_keys (>= 1) keys per hour; NULL on failure. */
ps_key_limit_t *ps_key_limit_create(size_t max_keys);

/* Frees it; NULL is allowed. */
void ps_key_limit_destroy(ps_key_limit_t *kl);

/* 1 when the key whose ps_key_hash() is key_hash (key_hash.h, never 0)
 * may have its own row in hour (known, or admitted now), 0 when it must
 * be counted as overflow. */
int ps_key_limit_admit(ps_key_limit_t *kl, int64_t hour, uint64_t key_hash);

/* Records counted as overflow so far. */
uint64_t ps_key_limit_overflowed(const ps_key_limit_t *kl);

#endif /* PS_KEY_LIMIT_H */
