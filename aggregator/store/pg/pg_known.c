/*
 * Known keys of the PostgreSQL sink: see pg_known.h.  An open-addressing
 * set of the keys' murmur3 hashes (0 marks an empty slot), at most half
 * full.
 */

#include <stdlib.h>
#include <string.h>

#include "lib/murmur3.h"
#include "store/pg/pg_known.h"
#include "lib/strbuf.h"

#define KNOWN_HOURS    4           /* hours whose known keys are counted */

struct ps_pg_known_s {
    uint64_t  *slots;              /* hashes of keys that have a row */
    size_t     nslots;             /* a power of two, or 0 */
    size_t     n;
    size_t     max;
    ps_buf_t   keybuf;             /* key hashing scratch */
    int64_t    hour[KNOWN_HOURS];  /* the latest hours, and */
    size_t     count[KNOWN_HOURS]; /* how many keys each */
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

    free(k->slots);
    ps_buf_free(&k->keybuf);
    free(k);
}


void
ps_pg_known_clear(ps_pg_known_t *k)
{
    free(k->slots);
    k->slots = NULL;
    k->nslots = 0;
    k->n = 0;
    memset(k->hour, 0, sizeof(k->hour));
    memset(k->count, 0, sizeof(k->count));
}


/* The key's hash, never 0; 0 if memory ran out (never known). */
static uint64_t
key_hash(ps_pg_known_t *k, const ps_agg_entry_t *e)
{
    uint64_t  h[2];

    ps_buf_reset(&k->keybuf);

    if (ps_buf_append(&k->keybuf, (const char *) &e->hour, sizeof(e->hour))
        != 0
        || ps_buf_append(&k->keybuf, e->host, e->host_len) != 0
        || ps_buf_putc(&k->keybuf, '\0') != 0
        || ps_buf_append(&k->keybuf, e->method, e->method_len) != 0
        || ps_buf_putc(&k->keybuf, '\0') != 0
        || ps_buf_append(&k->keybuf, e->path, e->path_len) != 0)
    {
        return 0;
    }

    ps_murmur3_x64_128(k->keybuf.data, k->keybuf.len, 0x70677331, h);

    return h[0] ? h[0] : 1;
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


static int
has_hash(const ps_pg_known_t *k, uint64_t h)
{
    size_t  i, mask;

    if (k->nslots == 0 || h == 0) {
        return 0;
    }

    mask = k->nslots - 1;

    for (i = (size_t) h & mask; k->slots[i]; i = (i + 1) & mask) {
        if (k->slots[i] == h) {
            return 1;
        }
    }

    return 0;
}


int
ps_pg_known_has(ps_pg_known_t *k, const ps_agg_entry_t *e)
{
    return has_hash(k, key_hash(k, e));
}


static void
put_hash(uint64_t *slots, size_t nslots, uint64_t h)
{
    size_t  i, mask;

    mask = nslots - 1;

    for (i = (size_t) h & mask; slots[i]; i = (i + 1) & mask) {
        if (slots[i] == h) {
            return;
        }
    }

    slots[i] = h;
}


void
ps_pg_known_add(ps_pg_known_t *k, const ps_agg_entry_t *const *entries,
    size_t n)
{
    size_t     i, slots;
    uint64_t  *t, h;

    if (k->n + n > k->max) {
        ps_pg_known_clear(k);
        if (n > k->max) {
            return;
        }
    }

    if (2 * (k->n + n) > k->nslots) {
        for (slots = k->nslots ? k->nslots : 1024;
             slots < 2 * (k->n + n);
             slots *= 2)
        {
            /* void */
        }

        t = calloc(slots, sizeof(uint64_t));
        if (t == NULL) {
            ps_pg_known_clear(k);
            return;
        }

        for (i = 0; i < k->nslots; i++) {
            if (k->slots[i]) {
                put_hash(t, slots, k->slots[i]);
            }
        }

        free(k->slots);
        k->slots = t;
        k->nslots = slots;
    }

    for (i = 0; i < n; i++) {
        h = key_hash(k, entries[i]);
        if (h && !has_hash(k, h)) {
            put_hash(k->slots, k->nslots, h);
            k->n++;
            count_hour(k, entries[i]->hour);
        }
    }
}
