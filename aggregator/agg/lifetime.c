/*
 * Lifetime counters: see lifetime.h.
 */

#include <stdlib.h>
#include <string.h>

#include "agg/agg_table.h"
#include "agg/lifetime.h"
#include "lib/key_hash.h"
#include "lib/log.h"

#define KEPT_PER_SERIES  8          /* keys kept per exported series */
#define KEPT_MIN         64

/* the counters of one series, latency by Prometheus bucket (the last
 * one: above every edge) rather than cumulative, so that a request
 * adds to one of them */
typedef struct {
    uint64_t  requests;
    uint64_t  status[PS_LIFETIME_CLASSES];
    uint64_t  bytes_out;
    uint64_t  latency_sum_us;
    uint64_t  bucket[PS_HIST_PROM_NLE + 1];
} counters_t;

typedef struct {
    uint64_t    hash;               /* ps_key_hash() of the key */
    char       *key;                /* host, method, path; one allocation */
    uint32_t    hlen, mlen, plen;
    int         exported;
    counters_t  c;
} entry_t;

struct ps_lifetime_s {
    size_t       max_series;
    size_t       cap;               /* entries kept at most */
    entry_t     *ent;
    size_t       n;                 /* entries used */
    size_t       hand;              /* where the next reuse looks first */

    uint32_t    *index;             /* entry + 1, 0 = free; linear probing */
    size_t       mask;

    uint32_t    *order;             /* exported entries, in rank order */
    size_t       nexp;
    size_t      *sel;               /* ps_lifetime_rank()'s choice */

    uint64_t     other_hash;
    counters_t   other;
    counters_t   total;
};


/* what a request adds: its class and bucket, found once for the two
 * series it counts in (its own or {other}, and the total) */
typedef struct {
    unsigned  cls;
    unsigned  bucket;
    uint64_t  bytes_out;
    uint64_t  us;
} sample_t;


static void
sample_of(sample_t *x, const ps_rec_t *rec)
{
    unsigned  i;

    x->cls = rec->status >= 100 && rec->status <= 599
             ? rec->status / 100 - 1 : PS_LIFETIME_CLASSES - 1;
    x->bytes_out = rec->bytes_out;
    x->us = rec->request_us;

    for (i = 0; i < PS_HIST_PROM_NLE && x->us > ps_hist_prom_le_us[i]; i++)
    {
        /* most requests stop at the first edge */
    }

    x->bucket = i;
}


static void
counters_add(counters_t *c, const sample_t *x)
{
    c->requests++;
    c->status[x->cls]++;
    c->bytes_out += x->bytes_out;
    c->latency_sum_us += x->us;
    c->bucket[x->bucket]++;
}


static void
counters_out(const counters_t *c, ps_lifetime_series_t *out)
{
    uint64_t  sum = 0;
    int       i;

    out->requests = c->requests;
    memcpy(out->status, c->status, sizeof(out->status));
    out->bytes_out = c->bytes_out;
    out->latency_sum_us = c->latency_sum_us;

    for (i = 0; i < PS_HIST_PROM_NLE; i++) {
        sum += c->bucket[i];
        out->le[i] = sum;
    }
}


ps_lifetime_t *
ps_lifetime_create(size_t max_series)
{
    ps_lifetime_t  *lt;
    size_t          size;

    lt = calloc(1, sizeof(*lt));
    if (lt == NULL) {
        goto fail;
    }

    lt->max_series = max_series ? max_series : 1;
    lt->cap = lt->max_series * KEPT_PER_SERIES;
    lt->cap = lt->cap < KEPT_MIN ? KEPT_MIN : lt->cap;

    for (size = 16; size < 2 * lt->cap; size *= 2) { /* void */ }

    lt->mask = size - 1;
    lt->index = calloc(size, sizeof(uint32_t));
    lt->ent = calloc(lt->cap, sizeof(entry_t));
    lt->order = calloc(lt->max_series, sizeof(uint32_t));
    lt->sel = calloc(lt->max_series, sizeof(size_t));

    if (lt->index == NULL || lt->ent == NULL || lt->order == NULL
        || lt->sel == NULL)
    {
        goto fail;
    }

    lt->other_hash = ps_key_hash(PS_AGG_OTHER_HOST,
                                 sizeof(PS_AGG_OTHER_HOST) - 1,
                                 PS_AGG_OTHER_METHOD,
                                 sizeof(PS_AGG_OTHER_METHOD) - 1,
                                 PS_AGG_OTHER_PATH,
                                 sizeof(PS_AGG_OTHER_PATH) - 1);
    return lt;

fail:

    ps_log(PS_LOG_ERROR, "event=lifetime_create_failed reason=no_memory");
    ps_lifetime_destroy(lt);
    return NULL;
}


void
ps_lifetime_destroy(ps_lifetime_t *lt)
{
    size_t  i;

    if (lt == NULL) {
        return;
    }

    for (i = 0; lt->ent && i < lt->n; i++) {
        free(lt->ent[i].key);
    }

    free(lt->ent);
    free(lt->index);
    free(lt->order);
    free(lt->sel);
    free(lt);
}


static int
entry_is(const entry_t *e, uint64_t hash, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen)
{
    return e->hash == hash && e->hlen == hlen && e->mlen == mlen
           && e->plen == plen && memcmp(e->key, host, hlen) == 0
           && memcmp(e->key + hlen, method, mlen) == 0
           && memcmp(e->key + hlen + mlen, path, plen) == 0;
}


/* The index slot holding the key, or the free slot where it would go. */
static size_t
slot_of(const ps_lifetime_t *lt, uint64_t hash, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen)
{
    size_t  i;

    for (i = hash & lt->mask; lt->index[i] != 0; i = (i + 1) & lt->mask) {
        if (entry_is(&lt->ent[lt->index[i] - 1], hash, host, hlen, method,
                     mlen, path, plen))
        {
            break;
        }
    }

    return i;
}


/* Removes slot i from the index, moving back the entries after it that
 * would no longer be found (deletion in linear probing). */
static void
index_remove(ps_lifetime_t *lt, size_t i)
{
    size_t  j, home;

    lt->index[i] = 0;

    for (j = (i + 1) & lt->mask; lt->index[j] != 0; j = (j + 1) & lt->mask) {
        home = lt->ent[lt->index[j] - 1].hash & lt->mask;

        /* j's entry may move to i unless its home lies in (i, j] */
        if ((j > i && (home <= i || home > j))
            || (j < i && home <= i && home > j))
        {
            lt->index[i] = lt->index[j];
            lt->index[j] = 0;
            i = j;
        }
    }
}


/* An entry for a new key, at index slot `slot`: a free one, else the
 * next unexported one after the hand (its counters are dropped).  The
 * entry index, or -1. */
static long
entry_new(ps_lifetime_t *lt, size_t slot, uint64_t hash, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen)
{
    entry_t  *e;
    char     *key;
    size_t    k, i;

    key = malloc(hlen + mlen + plen + 1);
    if (key == NULL) {
        return -1;
    }

    if (lt->n < lt->cap) {
        k = lt->n++;

    } else {
        /* at most max_series of the cap > max_series entries are
         * exported, so the hand finds one that is not */
        for (k = lt->hand; lt->ent[k].exported; k = (k + 1) % lt->cap) {
            /* void */
        }
        lt->hand = (k + 1) % lt->cap;

        e = &lt->ent[k];
        i = slot_of(lt, e->hash, e->key, e->hlen, e->key + e->hlen, e->mlen,
                    e->key + e->hlen + e->mlen, e->plen);
        index_remove(lt, i);
        free(e->key);

        /* the removal may have moved what was at the new key's slot */
        slot = slot_of(lt, hash, host, hlen, method, mlen, path, plen);
    }

    e = &lt->ent[k];
    memset(e, 0, sizeof(*e));
    e->hash = hash;
    e->key = key;
    e->hlen = (uint32_t) hlen;
    e->mlen = (uint32_t) mlen;
    e->plen = (uint32_t) plen;
    memcpy(key, host, hlen);
    memcpy(key + hlen, method, mlen);
    memcpy(key + hlen + mlen, path, plen);
    key[hlen + mlen + plen] = '\0';

    lt->index[slot] = (uint32_t) (k + 1);

    return (long) k;
}


static void
export_entry(ps_lifetime_t *lt, size_t k)
{
    lt->ent[k].exported = 1;
    lt->order[lt->nexp++] = (uint32_t) k;
}


/* 1 for the overflow key, which only ever counts in {other} */
static int
is_other(const ps_lifetime_t *lt, uint64_t hash, const char *path,
    size_t plen)
{
    return hash == lt->other_hash && plen == sizeof(PS_AGG_OTHER_PATH) - 1
           && memcmp(path, PS_AGG_OTHER_PATH, plen) == 0;
}


void
ps_lifetime_add(ps_lifetime_t *lt, const ps_rec_t *rec)
{
    sample_t  x;
    size_t    slot;
    long      k;

    sample_of(&x, rec);
    counters_add(&lt->total, &x);

    if (is_other(lt, rec->key_hash, rec->path, rec->path_len)) {
        counters_add(&lt->other, &x);
        return;
    }

    slot = slot_of(lt, rec->key_hash, rec->host, rec->host_len, rec->method,
                   rec->method_len, rec->path, rec->path_len);
    k = (long) lt->index[slot] - 1;

    if (k >= 0 && lt->ent[k].exported) {
        counters_add(&lt->ent[k].c, &x);
        return;
    }

    /* a path not exported: its own series while there is room */
    if (lt->nexp < lt->max_series) {
        if (k < 0) {
            k = entry_new(lt, slot, rec->key_hash, rec->host, rec->host_len,
                          rec->method, rec->method_len, rec->path,
                          rec->path_len);
        }

        if (k >= 0) {
            export_entry(lt, (size_t) k);
            counters_add(&lt->ent[k].c, &x);
            return;
        }
    }

    counters_add(&lt->other, &x);
}


void
ps_lifetime_observe(void *ctx, const ps_rec_t *rec)
{
    ps_lifetime_add(ctx, rec);
}


int
ps_lifetime_rank(ps_lifetime_t *lt, const ps_lifetime_key_t *keys, size_t n)
{
    const ps_lifetime_key_t  *key;
    uint64_t                  hash;
    size_t                    i, j, nsel, slot;
    long                      k;
    int                       rc = 0;

    for (i = 0; i < lt->nexp; i++) {
        lt->ent[lt->order[i]].exported = 0;
    }
    lt->nexp = 0;

    /* first the keys that have counters are marked, so that making room
     * for a new key never takes the entry of one that stays */
    nsel = 0;

    for (i = 0; i < n && nsel < lt->max_series; i++) {
        key = &keys[i];
        hash = ps_key_hash(key->host, key->hlen, key->method, key->mlen,
                           key->path, key->plen);

        if (is_other(lt, hash, key->path, key->plen)) {
            continue;
        }

        slot = slot_of(lt, hash, key->host, key->hlen, key->method,
                       key->mlen, key->path, key->plen);
        k = (long) lt->index[slot] - 1;

        if (k >= 0) {
            if (lt->ent[k].exported) {
                continue;       /* twice in the list */
            }
            lt->ent[k].exported = 1;
        }

        lt->sel[nsel++] = i;
    }

    for (j = 0; j < nsel; j++) {
        key = &keys[lt->sel[j]];
        hash = ps_key_hash(key->host, key->hlen, key->method, key->mlen,
                           key->path, key->plen);
        slot = slot_of(lt, hash, key->host, key->hlen, key->method,
                       key->mlen, key->path, key->plen);
        k = (long) lt->index[slot] - 1;

        if (k < 0) {
            k = entry_new(lt, slot, hash, key->host, key->hlen, key->method,
                          key->mlen, key->path, key->plen);
            if (k < 0) {
                rc = -1;
                continue;
            }

        } else if (lt->ent[k].exported == 2) {
            continue;           /* a new key twice in the list */
        }

        lt->ent[k].exported = 2;
        lt->order[lt->nexp++] = (uint32_t) k;
    }

    for (j = 0; j < lt->nexp; j++) {
        lt->ent[lt->order[j]].exported = 1;
    }

    return rc;
}


size_t
ps_lifetime_count(const ps_lifetime_t *lt)
{
    return lt->nexp;
}


void
ps_lifetime_get(const ps_lifetime_t *lt, size_t i, ps_lifetime_series_t *out)
{
    const entry_t  *e = &lt->ent[lt->order[i]];

    out->host = e->key;
    out->hlen = e->hlen;
    out->method = e->key + e->hlen;
    out->mlen = e->mlen;
    out->path = e->key + e->hlen + e->mlen;
    out->plen = e->plen;
    counters_out(&e->c, out);
}


void
ps_lifetime_other(const ps_lifetime_t *lt, ps_lifetime_series_t *out)
{
    out->host = PS_AGG_OTHER_HOST;
    out->hlen = sizeof(PS_AGG_OTHER_HOST) - 1;
    out->method = PS_AGG_OTHER_METHOD;
    out->mlen = sizeof(PS_AGG_OTHER_METHOD) - 1;
    out->path = PS_AGG_OTHER_PATH;
    out->plen = sizeof(PS_AGG_OTHER_PATH) - 1;
    counters_out(&lt->other, out);
}


void
ps_lifetime_total(const ps_lifetime_t *lt, ps_lifetime_series_t *out)
{
    out->host = "";
    out->hlen = 0;
    out->method = "";
    out->mlen = 0;
    out->path = "";
    out->plen = 0;
    counters_out(&lt->total, out);
}
