/*
 * Requests over keys that tie, for the C unit tests of the windows' order
 * and the snapshot's rows: paths, hosts and methods that share prefixes
 * and are prefixes of each other (so that every part of a key breaks
 * ties), a few requests a key, some of them errors.
 */

#ifndef PS_TEST_TIED_KEYS_H
#define PS_TEST_TIED_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "agg/windows.h"

/* Adds n requests to w at times in (t - spread_us, t], over the keys of
 * npaths paths ("/k/<i>" and "/k/<i>/") x 4 hosts x 3 methods, drawn
 * from the sequence *rng (rng.h); bails out if w runs out of memory. */
void tied_keys_add(ps_windows_t *w, uint64_t *rng, size_t n, uint64_t t,
    unsigned npaths, uint64_t spread_us);

#endif /* PS_TEST_TIED_KEYS_H */
