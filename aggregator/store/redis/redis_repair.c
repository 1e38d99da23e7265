/*
 * Redis repair state (see redis_repair.h): a few hour slots, each with
 * an open-addressing index over its fields and one over its clients.
 */

#include <stdlib.h>
#include <string.h>

#include "lib/key_hash.h"
#include "store/redis/redis_repair.h"
#include "store/redis/redis_shard.h"

#define PS_REPAIR_OTHER_FIELD  PS_AGG_OTHER_HOST "\t" PS_AGG_OTHER_METHOD \
                               "\t" PS_AGG_OTHER_PATH

struct ps_redis_repair_s {
    ps_redis_repair_hour_t  hours[PS_REDIS_REPAIR_HOURS];
    size_t                  max_keys;
    size_t                  max_clients;
    unsigned                shards;
    int64_t                 keep_from;     /* hours before: never kept */
};


static void
ps_repair_hour_free(ps_redis_repair_hour_t *h)
{
    size_t  i;

    for (i = 0; i < h->nentries; i++) {
        free(h->entries[i].field);
    }
    free(h->entries);
    free(h->index);
    free(h->clients);
    free(h->cindex);
    memset(h, 0, sizeof(*h));
    h->hour = -1;
}


ps_redis_repair_t *
ps_redis_repair_create(size_t max_keys, size_t max_clients, unsigned shards)
{
    ps_redis_repair_t  *rp;
    unsigned            i;

    rp = calloc(1, sizeof(*rp));
    if (rp == NULL) {
        return NULL;
    }
    for (i = 0; i < PS_REDIS_REPAIR_HOURS; i++) {
        rp->hours[i].hour = -1;
    }
    rp->max_keys = max_keys ? max_keys : 1;
    rp->max_clients = max_clients;
    rp->shards = shards ? shards : 1;
    rp->keep_from = 0;
    return rp;
}


void
ps_redis_repair_destroy(ps_redis_repair_t *rp)
{
    unsigned  i;

    if (rp == NULL) {
        return;
    }
    for (i = 0; i < PS_REDIS_REPAIR_HOURS; i++) {
        ps_repair_hour_free(&rp->hours[i]);
    }
    free(rp);
}


void
ps_redis_repair_keep_from(ps_redis_repair_t *rp, int64_t hour)
{
    unsigned  i;

    if (hour > rp->keep_from) {
        rp->keep_from = hour;
    }
    for (i = 0; i < PS_REDIS_REPAIR_HOURS; i++) {
        if (rp->hours[i].hour != -1 && rp->hours[i].hour < rp->keep_from) {
            ps_repair_hour_free(&rp->hours[i]);
        }
    }
}


/* The slot of hour, created when it may be kept; NULL otherwise. */
static ps_redis_repair_hour_t *
ps_repair_slot(ps_redis_repair_t *rp, int64_t hour)
{
    ps_redis_repair_hour_t  *h, *free_slot = NULL, *oldest = NULL;
    unsigned                 i;

    if (hour < 0 || hour < rp->keep_from) {
        return NULL;
    }

    for (i = 0; i < PS_REDIS_REPAIR_HOURS; i++) {
        h = &rp->hours[i];
        if (h->hour == hour) {
            return h->broken ? NULL : h;
        }
        if (h->hour == -1) {
            if (free_slot == NULL) {
                free_slot = h;
            }
        } else if (oldest == NULL || h->hour < oldest->hour) {
            oldest = h;
        }
    }

    if (free_slot == NULL) {
        if (oldest->hour > hour) {
            return NULL;
        }
        /* a newer hour wins; the evicted one is never kept again */
        ps_redis_repair_keep_from(rp, oldest->hour + 3600);
        free_slot = oldest;
    }

    free_slot->hour = hour;
    return free_slot;
}


/* Grows an index of *cap slots (entry + 1, 0 = free) to twice n. */
static int
ps_repair_index_grow(uint32_t **index, size_t *cap, size_t n,
    const void *items, size_t item_size, size_t hash_off)
{
    size_t     ncap, i, slot;
    uint32_t  *nidx;
    uint64_t   hash;

    if (*cap != 0 && 2 * (n + 1) <= *cap) {
        return 0;
    }

    ncap = *cap ? 2 * *cap : 64;
    while (ncap < 2 * (n + 1)) {
        ncap *= 2;
    }
    nidx = calloc(ncap, sizeof(*nidx));
    if (nidx == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        memcpy(&hash, (const char *) items + i * item_size + hash_off,
               sizeof(hash));
        slot = hash & (ncap - 1);
        while (nidx[slot] != 0) {
            slot = (slot + 1) & (ncap - 1);
        }
        nidx[slot] = (uint32_t) (i + 1);
    }
    free(*index);
    *index = nidx;
    *cap = ncap;
    return 0;
}


/* The entry of field in h, created (or the overflow field, *folded then
 * set) as needed. */
static ps_redis_repair_entry_t *
ps_repair_entry(ps_redis_repair_t *rp, ps_redis_repair_hour_t *h,
    const char *field, size_t len, int may_fold, int *folded)
{
    ps_redis_repair_entry_t  *e, *ne;
    uint64_t                  hash;
    size_t                    slot, ncap;

    hash = ps_bytes_hash(0, field, len);

    if (h->index_cap != 0) {
        slot = hash & (h->index_cap - 1);
        while (h->index[slot] != 0) {
            e = &h->entries[h->index[slot] - 1];
            if (e->hash == hash && e->field_len == len
                && memcmp(e->field, field, len) == 0)
            {
                return e;
            }
            slot = (slot + 1) & (h->index_cap - 1);
        }
    }

    if (may_fold && h->nentries >= rp->max_keys) {
        *folded = 1;
        return ps_repair_entry(rp, h, PS_REPAIR_OTHER_FIELD,
                               sizeof(PS_REPAIR_OTHER_FIELD) - 1, 0, folded);
    }

    if (ps_repair_index_grow(&h->index, &h->index_cap, h->nentries,
                             h->entries, sizeof(*h->entries),
                             offsetof(ps_redis_repair_entry_t, hash))
        != 0)
    {
        return NULL;
    }

    if (h->nentries == h->entries_cap) {
        ncap = h->entries_cap ? 2 * h->entries_cap : 64;
        ne = realloc(h->entries, ncap * sizeof(*ne));
        if (ne == NULL) {
            return NULL;
        }
        h->entries = ne;
        h->entries_cap = ncap;
    }

    e = &h->entries[h->nentries];
    memset(e, 0, sizeof(*e));
    e->field = malloc(len + 1);
    if (e->field == NULL) {
        return NULL;
    }
    memcpy(e->field, field, len);
    e->field[len] = '\0';
    e->field_len = (uint32_t) len;
    e->shard = (uint16_t) ps_redis_shard_of(field, len, rp->shards);
    e->hash = hash;

    slot = hash & (h->index_cap - 1);
    while (h->index[slot] != 0) {
        slot = (slot + 1) & (h->index_cap - 1);
    }
    h->index[slot] = (uint32_t) ++h->nentries;
    return e;
}


int
ps_redis_repair_add_entry(ps_redis_repair_t *rp, const ps_agg_entry_t *src,
    uint32_t *at)
{
    ps_redis_repair_hour_t   *h;
    ps_redis_repair_entry_t  *e;
    char                     *field;
    size_t                    len;
    int                       folded = 0;

    if (at != NULL) {
        *at = 0;
    }
    h = ps_repair_slot(rp, src->hour);
    if (h == NULL) {
        return 1;
    }

    len = (size_t) src->host_len + src->method_len + src->path_len + 2;
    field = malloc(len);
    if (field == NULL) {
        goto fail;
    }
    memcpy(field, src->host, src->host_len);
    field[src->host_len] = '\t';
    memcpy(field + src->host_len + 1, src->method, src->method_len);
    field[src->host_len + 1 + src->method_len] = '\t';
    memcpy(field + src->host_len + 2 + src->method_len, src->path,
           src->path_len);

    e = ps_repair_entry(rp, h, field, len, 1, &folded);
    free(field);
    if (e == NULL) {
        goto fail;
    }

    ps_counts_merge(&e->counts, &src->counts);
    if (at != NULL && !folded) {
        *at = (uint32_t) (e - h->entries) + 1;
    }

    return 0;

fail:

    h->broken = 1;
    return -1;
}


int
ps_redis_repair_add_client(ps_redis_repair_t *rp, int64_t hour,
    const char *text, size_t len, uint64_t requests)
{
    ps_redis_repair_hour_t    *h;
    ps_redis_repair_client_t  *c, *nc;
    uint64_t                   hash;
    size_t                     slot, ncap;

    h = ps_repair_slot(rp, hour);
    if (h == NULL) {
        return 1;
    }

    if (len == 0 || len >= PS_REC_CLIENT_MAX) {
        h->clients_folded += requests;
        return 0;
    }

    hash = ps_bytes_hash(0, text, len);
    if (h->cindex_cap != 0) {
        slot = hash & (h->cindex_cap - 1);
        while (h->cindex[slot] != 0) {
            c = &h->clients[h->cindex[slot] - 1];
            if (c->hash == hash && c->len == len
                && memcmp(c->text, text, len) == 0)
            {
                c->requests += requests;
                return 0;
            }
            slot = (slot + 1) & (h->cindex_cap - 1);
        }
    }

    if (h->nclients >= rp->max_clients) {
        h->clients_folded += requests;
        return 0;
    }

    if (ps_repair_index_grow(&h->cindex, &h->cindex_cap, h->nclients,
                             h->clients, sizeof(*h->clients),
                             offsetof(ps_redis_repair_client_t, hash))
        != 0)
    {
        goto fail;
    }

    if (h->nclients == h->clients_cap) {
        ncap = h->clients_cap ? 2 * h->clients_cap : 64;
        nc = realloc(h->clients, ncap * sizeof(*nc));
        if (nc == NULL) {
            goto fail;
        }
        h->clients = nc;
        h->clients_cap = ncap;
    }

    c = &h->clients[h->nclients];
    c->requests = requests;
    c->hash = hash;
    c->shard = (uint16_t) ps_redis_shard_of(text, len, rp->shards);
    c->len = (uint8_t) len;
    memcpy(c->text, text, len);

    slot = hash & (h->cindex_cap - 1);
    while (h->cindex[slot] != 0) {
        slot = (slot + 1) & (h->cindex_cap - 1);
    }
    h->cindex[slot] = (uint32_t) ++h->nclients;
    return 0;

fail:

    h->broken = 1;
    return -1;
}


void
ps_redis_repair_break(ps_redis_repair_t *rp, int64_t hour)
{
    unsigned  i;

    for (i = 0; i < PS_REDIS_REPAIR_HOURS; i++) {
        if (rp->hours[i].hour == hour) {
            rp->hours[i].broken = 1;
        }
    }
}


const ps_redis_repair_hour_t *
ps_redis_repair_hour(const ps_redis_repair_t *rp, int64_t hour)
{
    unsigned  i;

    for (i = 0; i < PS_REDIS_REPAIR_HOURS; i++) {
        if (rp->hours[i].hour == hour && hour != -1) {
            return rp->hours[i].broken ? NULL : &rp->hours[i];
        }
    }
    return NULL;
}


size_t
ps_redis_repair_hours(const ps_redis_repair_t *rp, int64_t *hours)
{
    size_t   n = 0, i, j;
    int64_t  t;

    for (i = 0; i < PS_REDIS_REPAIR_HOURS; i++) {
        if (rp->hours[i].hour != -1 && !rp->hours[i].broken) {
            hours[n++] = rp->hours[i].hour;
        }
    }
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && hours[j - 1] > hours[j]; j--) {
            t = hours[j];
            hours[j] = hours[j - 1];
            hours[j - 1] = t;
        }
    }
    return n;
}


uint64_t
ps_redis_repair_requests(const ps_redis_repair_hour_t *h)
{
    uint64_t  sum = 0;
    size_t    i;

    if (h == NULL) {
        return 0;
    }
    for (i = 0; i < h->nentries; i++) {
        sum += h->entries[i].counts.requests;
    }
    return sum;
}


/* chunk in cost units, bounded so that no product below overflows */
static size_t
ps_repair_chunk_units(size_t chunk)
{
    size_t  max = SIZE_MAX / 4 / PS_REDIS_REPAIR_CLIENT_COST;

    if (chunk == 0) {
        chunk = 1;
    }
    return (chunk < max ? chunk : max) * PS_REDIS_REPAIR_CLIENT_COST;
}


size_t
ps_redis_repair_nchunks(size_t nfields, size_t nclients, size_t chunk)
{
    size_t  units, total;

    units = ps_repair_chunk_units(chunk);
    total = nfields * PS_REDIS_REPAIR_CLIENT_COST + nclients;
    return total == 0 ? 1 : (total - 1) / units + 1;
}


void
ps_redis_repair_span(size_t nfields, size_t nclients, size_t chunk,
    size_t k, ps_redis_repair_span_t *span)
{
    size_t  units, lo, hi, f, c0, c1;

    units = ps_repair_chunk_units(chunk);
    lo = k * units;
    hi = lo + units;

    /* a field costs PS_REDIS_REPAIR_CLIENT_COST units and the fields
     * start at unit 0, so no field straddles two chunks */
    f = nfields * PS_REDIS_REPAIR_CLIENT_COST;
    span->field0 = lo < f ? lo / PS_REDIS_REPAIR_CLIENT_COST : nfields;
    span->nfields = (hi < f ? hi / PS_REDIS_REPAIR_CLIENT_COST : nfields)
                    - span->field0;

    c0 = lo > f ? lo - f : 0;
    c1 = hi > f ? hi - f : 0;
    span->client0 = c0 < nclients ? c0 : nclients;
    span->nclients = (c1 < nclients ? c1 : nclients) - span->client0;
}
