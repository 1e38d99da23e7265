/*
 * The fleet's rows: see fleet_table.h.
 */

#include <stdlib.h>
#include <string.h>

#include "agg/fleet_table.h"
#include "lib/key_hash.h"

#define MIN_SLOTS  1024

typedef struct fleet_key_s  fleet_key_t;

struct fleet_key_s {
    fleet_key_t     *next;              /* hash chain */
    uint64_t         hash;
    uint32_t         hlen, mlen, plen;
    int              has[PS_FLEET_PARTS];
    ps_win_stats_t   part[PS_FLEET_PARTS];
    char             text[];            /* host, method, path */
};

struct ps_fleet_table_s {
    fleet_key_t    **slots;
    size_t           mask;
    size_t           n;
    ps_win_stats_t   scratch;
};


ps_fleet_table_t *
ps_fleet_table_create(void)
{
    ps_fleet_table_t  *t;

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }

    t->slots = calloc(MIN_SLOTS, sizeof(*t->slots));
    if (t->slots == NULL) {
        free(t);
        return NULL;
    }

    t->mask = MIN_SLOTS - 1;
    ps_win_stats_init(&t->scratch);

    return t;
}


static void
key_free(fleet_key_t *k)
{
    int  i;

    for (i = 0; i < PS_FLEET_PARTS; i++) {
        ps_win_stats_free(&k->part[i]);
    }
    free(k);
}


void
ps_fleet_table_destroy(ps_fleet_table_t *t)
{
    size_t        i;
    fleet_key_t  *k, *next;

    if (t == NULL) {
        return;
    }

    for (i = 0; i <= t->mask; i++) {
        for (k = t->slots[i]; k != NULL; k = next) {
            next = k->next;
            key_free(k);
        }
    }

    ps_win_stats_free(&t->scratch);
    free(t->slots);
    free(t);
}


void
ps_fleet_table_reset(ps_fleet_table_t *t, int part)
{
    size_t         i;
    fleet_key_t  **pp, *k;

    /* a key is dropped a reset after it was left empty: the rows of the
     * next read are mostly the same keys, which find their memory (key,
     * histograms, clients) where it was instead of allocating it again */
    for (i = 0; i <= t->mask; i++) {
        pp = &t->slots[i];
        while ((k = *pp) != NULL) {
            if (!k->has[PS_FLEET_CLOSED] && !k->has[PS_FLEET_LIVE]) {
                *pp = k->next;
                key_free(k);
                t->n--;
                continue;
            }
            k->has[part] = 0;
            ps_win_stats_reset(&k->part[part]);
            pp = &k->next;
        }
    }
}


/* Doubles the slots when the chains grow long; best effort. */
static void
grow(ps_fleet_table_t *t)
{
    fleet_key_t  **slots, *k, *next;
    size_t         i, mask;

    mask = 2 * (t->mask + 1) - 1;
    slots = calloc(mask + 1, sizeof(*slots));
    if (slots == NULL) {
        return;
    }

    for (i = 0; i <= t->mask; i++) {
        for (k = t->slots[i]; k != NULL; k = next) {
            next = k->next;
            k->next = slots[k->hash & mask];
            slots[k->hash & mask] = k;
        }
    }

    free(t->slots);
    t->slots = slots;
    t->mask = mask;
}


int
ps_fleet_table_add(ps_fleet_table_t *t, int part, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen, const ps_win_stats_t *st)
{
    uint64_t      h;
    fleet_key_t  *k;
    int           i;

    h = ps_key_hash(host, hlen, method, mlen, path, plen);

    for (k = t->slots[h & t->mask]; k != NULL; k = k->next) {
        if (k->hash == h && k->hlen == hlen && k->mlen == mlen
            && k->plen == plen && memcmp(k->text, host, hlen) == 0
            && memcmp(k->text + hlen, method, mlen) == 0
            && memcmp(k->text + hlen + mlen, path, plen) == 0)
        {
            break;
        }
    }

    if (k == NULL) {
        k = malloc(sizeof(*k) + hlen + mlen + plen);
        if (k == NULL) {
            return -1;
        }
        memset(k, 0, sizeof(*k));
        k->hash = h;
        k->hlen = (uint32_t) hlen;
        k->mlen = (uint32_t) mlen;
        k->plen = (uint32_t) plen;
        memcpy(k->text, host, hlen);
        memcpy(k->text + hlen, method, mlen);
        memcpy(k->text + hlen + mlen, path, plen);
        for (i = 0; i < PS_FLEET_PARTS; i++) {
            ps_win_stats_init(&k->part[i]);
        }
        k->next = t->slots[h & t->mask];
        t->slots[h & t->mask] = k;
        if (++t->n > 2 * (t->mask + 1)) {
            grow(t);
        }
    }

    k->has[part] = 1;
    return ps_win_stats_merge(&k->part[part], st);
}


int
ps_fleet_table_foreach(void *src, ps_win_key_fn fn, void *ctx)
{
    ps_fleet_table_t  *t = src;
    fleet_key_t       *k;
    size_t             i;
    int                rc;

    for (i = 0; i <= t->mask; i++) {
        for (k = t->slots[i]; k != NULL; k = k->next) {
            ps_win_stats_reset(&t->scratch);
            if (ps_win_stats_merge(&t->scratch, &k->part[PS_FLEET_CLOSED])
                != 0
                || ps_win_stats_merge(&t->scratch, &k->part[PS_FLEET_LIVE])
                   != 0)
            {
                return -1;
            }
            if (t->scratch.counts.requests == 0) {
                continue;
            }
            rc = fn(ctx, k->text, k->hlen, k->text + k->hlen, k->mlen,
                    k->text + k->hlen + k->mlen, k->plen, &t->scratch);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


size_t
ps_fleet_table_keys(const ps_fleet_table_t *t)
{
    return t->n;
}
