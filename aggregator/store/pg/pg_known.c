/*
 * Known keys of the PostgreSQL sink: see pg_known.h.  A set of the hashes
 * that the aggregation table already holds for its (hour, key) entries,
 * so that no key is hashed again.
 */

#include <stdlib.h>
#include <string.h>

#include "lib/u64set.h"
#include "store/pg/pg_known.h"

#define KNOWN_HOURS    4           /* hours whose known keys are counted */

struct ps_pg_known_s {
    ps_u64set_t  keys;             /* hashes of keys that have a row */
    size_t       max;
    int64_t      hour[KNOWN_HOURS];  /* the latest hours, and */
    size_t       count[KNOWN_HOURS]; /* how many keys each */
};


ps_pg_known_t *
ps_pg_known_create(size_t max_keys)
{
    ps_pg_known_t  *k;

    k = calloc(1, sizeof(ps_pg_known_t));
    if (k == NULL) {
        return NULL;
    }

    k->max = max_keys;

    return k;
}


void
ps_pg_known_destroy(ps_pg_known_t *k)
{
    if (k == NULL) {
        return;
    }

    ps_u64set_free(&k->keys);
    free(k);
}


void
ps_pg_known_clear(ps_pg_known_t *k)
{
    ps_u64set_free(&k->keys);
    memset(k->hour, 0, sizeof(k->hour));
    memset(k->count, 0, sizeof(k->count));
}


/* Counts a newly known key of hour (the latest KNOWN_HOURS hours). */
static void
count_hour(ps_pg_known_t *k, int64_t hour)
{
    unsigned  i, oldest;

    for (i = 0, oldest = 0; i < KNOWN_HOURS; i++) {
        if (k->hour[i] == hour) {
            k->count[i]++;
            return;
        }
        if (k->hour[i] < k->hour[oldest]) {
            oldest = i;
        }
    }

    if (hour > k->hour[oldest]) {
        k->hour[oldest] = hour;
        k->count[oldest] = 1;
    }
}


size_t
ps_pg_known_in_hours(const ps_pg_known_t *k, int64_t first, int64_t last)
{
    size_t    n;
    unsigned  i;

    for (i = 0, n = 0; i < KNOWN_HOURS; i++) {
        if (k->hour[i] >= first && k->hour[i] <= last) {
            n += k->count[i];
        }
    }

    return n;
}


int
ps_pg_known_has(ps_pg_known_t *k, const ps_agg_entry_t *e)
{
    return ps_u64set_has(&k->keys, e->hash);
}


void
ps_pg_known_add(ps_pg_known_t *k, const ps_agg_entry_t *const *entries,
    size_t n)
{
    size_t  i;
    int     rc;

    if (k->keys.n + n > k->max) {
        ps_pg_known_clear(k);
        if (n > k->max) {
            return;
        }
    }

    if (ps_u64set_reserve(&k->keys, k->keys.n + n) != 0) {
        ps_pg_known_clear(k);
        return;
    }

    for (i = 0; i < n; i++) {
        rc = ps_u64set_add(&k->keys, entries[i]->hash);
        if (rc == 1) {
            count_hour(k, entries[i]->hour);
        }
    }
}
