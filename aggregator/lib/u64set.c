/*
 * A set of 64-bit values: see u64set.h.
 */

#include <stdlib.h>
#include <string.h>

#include "lib/u64set.h"

#define U64SET_MIN_SLOTS  16


/* The slot of v, or the empty slot where it would go. */
static size_t
probe(const uint64_t *slots, size_t mask, uint64_t v)
{
    size_t  i;

    for (i = (size_t) v & mask; slots[i] != 0 && slots[i] != v;
         i = (i + 1) & mask)
    {
        /* void */
    }

    return i;
}


int
ps_u64set_has(const ps_u64set_t *s, uint64_t v)
{
    if (s->slots == NULL || v == 0) {
        return 0;
    }

    return s->slots[probe(s->slots, s->mask, v)] == v;
}


int
ps_u64set_reserve(ps_u64set_t *s, size_t n)
{
    size_t     i, slots;
    uint64_t  *t;

    if (s->slots != NULL && 2 * n <= s->mask + 1) {
        return 0;
    }

    for (slots = U64SET_MIN_SLOTS; slots < 2 * n; slots *= 2) {
        /* void */
    }

    t = calloc(slots, sizeof(uint64_t));
    if (t == NULL) {
        return -1;
    }

    for (i = 0; s->slots != NULL && i <= s->mask; i++) {
        if (s->slots[i] != 0) {
            t[probe(t, slots - 1, s->slots[i])] = s->slots[i];
        }
    }

    free(s->slots);
    s->slots = t;
    s->mask = slots - 1;

    return 0;
}


int
ps_u64set_add(ps_u64set_t *s, uint64_t v)
{
    size_t  i;

    /* room first: growing moves the slot v would take */
    if (ps_u64set_reserve(s, s->n + 1) != 0) {
        return ps_u64set_has(s, v) ? 0 : -1;
    }

    i = probe(s->slots, s->mask, v);

    if (s->slots[i] == v) {
        return 0;
    }

    s->slots[i] = v;
    s->n++;

    return 1;
}


void
ps_u64set_clear(ps_u64set_t *s)
{
    if (s->slots != NULL) {
        memset(s->slots, 0, (s->mask + 1) * sizeof(uint64_t));
    }

    s->n = 0;
}


void
ps_u64set_free(ps_u64set_t *s)
{
    free(s->slots);
    s->slots = NULL;
    s->mask = 0;
    s->n = 0;
}
