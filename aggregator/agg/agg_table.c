/*
 * Aggregation table: see agg_table.h.
 *
 * Entries live in one array in insertion order; an open-addressing index
 * (linear probing, load <= 1/2) maps key hashes to them.  Each index slot
 * is one word: the high 32 bits of the key hash as a tag, and the entry's
 * position + 1 (0 = free).  Key bytes go into an arena of chunks that
 * never move, so entries can point into it.
 */

#include <stdlib.h>
#include <string.h>

#include "agg/agg_table.h"
#include "lib/key_hash.h"

#define ARENA_CHUNK     (64 * 1024)
#define INDEX_MIN       64

#define OTHER_HOST_LEN     (sizeof(PS_AGG_OTHER_HOST) - 1)
#define OTHER_METHOD_LEN   (sizeof(PS_AGG_OTHER_METHOD) - 1)
#define OTHER_PATH_LEN     (sizeof(PS_AGG_OTHER_PATH) - 1)

typedef struct ps_agg_chunk_s  ps_agg_chunk_t;

struct ps_agg_chunk_s {
    ps_agg_chunk_t  *next;
    size_t           size;
    size_t           used;
    char             data[];
};

typedef struct {
    int64_t   hour;
    size_t    keys;             /* keys counted toward max_keys */
} ps_agg_hour_t;

typedef struct {
    int64_t      hour;
    const char  *host;
    const char  *method;
    const char  *path;
    size_t       hlen;
    size_t       mlen;
    size_t       plen;
    uint64_t     hash;
} ps_agg_key_t;

struct ps_agg_table_s {
    size_t           max_keys;

    ps_agg_entry_t  *entries;
    size_t           n;
    size_t           cap;

    uint64_t        *index;     /* tag << 32 | (position + 1) */
    size_t           index_size; /* power of two */

    ps_agg_chunk_t  *arena;     /* newest chunk first */

    ps_agg_hour_t   *hours;
    size_t           nhours;
    size_t           hours_cap;

    uint64_t         overflowed;
};


static int
key_equal(const ps_agg_entry_t *e, const ps_agg_key_t *k)
{
    return e->hash == k->hash && e->hour == k->hour
           && e->path_len == k->plen && e->host_len == k->hlen
           && e->method_len == k->mlen
           && memcmp(e->path, k->path, k->plen) == 0
           && memcmp(e->host, k->host, k->hlen) == 0
           && memcmp(e->method, k->method, k->mlen) == 0;
}


static int
key_is_other(const ps_agg_key_t *k)
{
    return ps_agg_is_other(k->host, k->hlen, k->method, k->mlen, k->path,
                           k->plen);
}


/* Index slot holding k, or the free slot where it would go. */
static size_t
index_probe(const ps_agg_table_t *t, const ps_agg_key_t *k)
{
    size_t    mask, i;
    uint64_t  slot, tag;

    mask = t->index_size - 1;
    tag = k->hash >> 32;

    for (i = k->hash & mask; ; i = (i + 1) & mask) {
        slot = t->index[i];
        if (slot == 0) {
            return i;
        }
        if ((slot >> 32) == tag
            && key_equal(&t->entries[(slot & 0xffffffff) - 1], k))
        {
            return i;
        }
    }
}


static void
index_insert(uint64_t *index, size_t size, uint64_t hash, size_t pos)
{
    size_t  mask, i;

    mask = size - 1;
    for (i = hash & mask; index[i] != 0; i = (i + 1) & mask) {
        /* linear probing */
    }

    index[i] = (hash >> 32 << 32) | (uint64_t) (pos + 1);
}


/* Rebuilds the index for the current entries at the given size. */
static void
index_rebuild(uint64_t *index, size_t size, const ps_agg_entry_t *entries,
    size_t n)
{
    size_t  i;

    memset(index, 0, size * sizeof(uint64_t));
    for (i = 0; i < n; i++) {
        index_insert(index, size, entries[i].hash, i);
    }
}


/* Room for one more entry in the array and the index. */
static int
table_reserve(ps_agg_table_t *t)
{
    size_t           cap, size;
    ps_agg_entry_t  *entries;
    uint64_t        *index;

    if (t->n + 1 > t->cap) {
        cap = t->cap ? t->cap * 2 : 64;
        if (cap > 0xfffffffeU) {
            return -1;
        }
        entries = realloc(t->entries, cap * sizeof(ps_agg_entry_t));
        if (entries == NULL) {
            return -1;
        }
        t->entries = entries;
        t->cap = cap;
    }

    if (2 * (t->n + 1) > t->index_size) {
        size = t->index_size * 2;
        index = malloc(size * sizeof(uint64_t));
        if (index == NULL) {
            return -1;
        }
        index_rebuild(index, size, t->entries, t->n);
        free(t->index);
        t->index = index;
        t->index_size = size;
    }

    return 0;
}


static char *
arena_alloc(ps_agg_table_t *t, size_t len)
{
    ps_agg_chunk_t  *c;
    size_t           size;
    char            *p;

    c = t->arena;
    if (c == NULL || c->size - c->used < len) {
        size = len > ARENA_CHUNK ? len : ARENA_CHUNK;
        c = malloc(sizeof(ps_agg_chunk_t) + size);
        if (c == NULL) {
            return NULL;
        }
        c->size = size;
        c->used = 0;
        c->next = t->arena;
        t->arena = c;
    }

    p = c->data + c->used;
    c->used += len;

    return p;
}


static void
arena_free(ps_agg_chunk_t *c)
{
    ps_agg_chunk_t  *next;

    for ( /* void */ ; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
}


static ps_agg_hour_t *
hour_find(ps_agg_table_t *t, int64_t hour)
{
    size_t  i;

    for (i = 0; i < t->nhours; i++) {
        if (t->hours[i].hour == hour) {
            return &t->hours[i];
        }
    }

    return NULL;
}


static ps_agg_hour_t *
hour_get(ps_agg_table_t *t, int64_t hour)
{
    ps_agg_hour_t  *h;
    size_t          cap;

    h = hour_find(t, hour);
    if (h != NULL) {
        return h;
    }

    if (t->nhours == t->hours_cap) {
        cap = t->hours_cap ? t->hours_cap * 2 : 4;
        h = realloc(t->hours, cap * sizeof(ps_agg_hour_t));
        if (h == NULL) {
            return NULL;
        }
        t->hours = h;
        t->hours_cap = cap;
    }

    h = &t->hours[t->nhours++];
    h->hour = hour;
    h->keys = 0;

    return h;
}


/* Copies a key's three strings, NUL-terminated, into the arena. */
static int
entry_set_key(ps_agg_table_t *t, ps_agg_entry_t *e, const ps_agg_key_t *k)
{
    char  *p;

    p = arena_alloc(t, k->hlen + k->mlen + k->plen + 3);
    if (p == NULL) {
        return -1;
    }

    e->host = p;
    memcpy(p, k->host, k->hlen);
    p[k->hlen] = '\0';
    p += k->hlen + 1;

    e->method = p;
    memcpy(p, k->method, k->mlen);
    p[k->mlen] = '\0';
    p += k->mlen + 1;

    e->path = p;
    memcpy(p, k->path, k->plen);
    p[k->plen] = '\0';

    e->host_len = (uint32_t) k->hlen;
    e->method_len = (uint32_t) k->mlen;
    e->path_len = (uint32_t) k->plen;

    return 0;
}


/* key_hash: ps_key_hash() of host, method and path */
static void
key_make(ps_agg_key_t *k, uint64_t key_hash, int64_t hour, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen)
{
    k->hour = hour;
    k->host = host;
    k->hlen = hlen;
    k->method = method;
    k->mlen = mlen;
    k->path = path;
    k->plen = plen;
    k->hash = ps_key_hash_hour(key_hash, hour);
}


static void
key_make_hashing(ps_agg_key_t *k, int64_t hour, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen)
{
    key_make(k, ps_key_hash(host, hlen, method, mlen, path, plen), hour,
             host, hlen, method, mlen, path, plen);
}


/*
 * The entry that a request or merged entry with key k counts into:
 * the existing one, a new one, or the hour's overflow entry when the hour
 * is full; *overflow tells which.
 */
static ps_agg_entry_t *
entry_for(ps_agg_table_t *t, const ps_agg_key_t *k, int *overflow)
{
    ps_agg_key_t    other;
    ps_agg_hour_t  *h;
    ps_agg_entry_t *e;
    size_t          slot;
    int             is_other;

    *overflow = 0;

    slot = index_probe(t, k);
    if (t->index[slot] != 0) {
        return &t->entries[(t->index[slot] & 0xffffffff) - 1];
    }

    if (k->hlen > UINT32_MAX || k->mlen > UINT32_MAX
        || k->plen > UINT32_MAX)
    {
        return NULL;
    }

    h = hour_get(t, k->hour);
    if (h == NULL) {
        return NULL;
    }

    is_other = key_is_other(k);

    if (!is_other && h->keys >= t->max_keys) {
        *overflow = 1;
        key_make_hashing(&other, k->hour, PS_AGG_OTHER_HOST,
                         OTHER_HOST_LEN, PS_AGG_OTHER_METHOD,
                         OTHER_METHOD_LEN, PS_AGG_OTHER_PATH,
                         OTHER_PATH_LEN);
        k = &other;
        is_other = 1;
        slot = index_probe(t, k);
        if (t->index[slot] != 0) {
            return &t->entries[(t->index[slot] & 0xffffffff) - 1];
        }
    }

    if (table_reserve(t) != 0) {
        return NULL;
    }

    e = &t->entries[t->n];
    memset(e, 0, sizeof(*e));
    e->hour = k->hour;
    e->hash = k->hash;
    ps_hist_init(&e->latency);
    ps_hll_init(&e->clients);

    if (entry_set_key(t, e, k) != 0) {
        return NULL;
    }

    /* the index may have been resized by table_reserve: probe again */
    index_insert(t->index, t->index_size, k->hash, t->n);
    t->n++;

    if (!is_other) {
        h->keys++;
    }

    return e;
}


ps_agg_table_t *
ps_agg_table_create(size_t max_keys)
{
    ps_agg_table_t  *t;

    if (max_keys < 1) {
        return NULL;
    }

    t = calloc(1, sizeof(ps_agg_table_t));
    if (t == NULL) {
        return NULL;
    }

    t->max_keys = max_keys;
    t->index_size = INDEX_MIN;
    t->index = calloc(t->index_size, sizeof(uint64_t));
    if (t->index == NULL) {
        free(t);
        return NULL;
    }

    return t;
}


static void
entries_free(ps_agg_table_t *t)
{
    size_t  i;

    for (i = 0; i < t->n; i++) {
        ps_hist_free(&t->entries[i].latency);
        ps_hll_free(&t->entries[i].clients);
    }
}


void
ps_agg_table_destroy(ps_agg_table_t *t)
{
    if (t == NULL) {
        return;
    }

    entries_free(t);
    free(t->entries);
    free(t->index);
    free(t->hours);
    arena_free(t->arena);
    free(t);
}


static int
agg_add(ps_agg_table_t *t, const ps_agg_key_t *k, unsigned status,
    uint64_t request_us, uint64_t bytes_in, uint64_t bytes_out,
    const uint64_t *client_hash, uint64_t time_us)
{
    ps_agg_entry_t  *e;
    int              overflow;

    e = entry_for(t, k, &overflow);
    if (e == NULL) {
        return -1;
    }

    if (ps_hist_add(&e->latency, request_us) != 0) {
        return -1;
    }

    if (client_hash != NULL
        && ps_hll_add_hash(&e->clients, *client_hash) != 0)
    {
        return -1;
    }

    if (e->counts.requests == 0 || time_us < e->first_seen_us) {
        e->first_seen_us = time_us;
    }
    if (time_us > e->last_seen_us) {
        e->last_seen_us = time_us;
    }

    ps_counts_add(&e->counts, status, request_us, bytes_in, bytes_out);

    t->overflowed += overflow;

    return 0;
}


int
ps_agg_add(ps_agg_table_t *t, int64_t hour, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    unsigned status, uint64_t request_us, uint64_t bytes_in,
    uint64_t bytes_out, const uint64_t *client_hash, uint64_t time_us)
{
    ps_agg_key_t  k;

    key_make_hashing(&k, hour, host, hlen, method, mlen, path, plen);

    return agg_add(t, &k, status, request_us, bytes_in, bytes_out,
                   client_hash, time_us);
}


int
ps_agg_add_rec(ps_agg_table_t *t, const ps_rec_t *rec)
{
    ps_agg_key_t  k;

    key_make(&k, rec->key_hash, rec->hour, rec->host, rec->host_len,
             rec->method, rec->method_len, rec->path, rec->path_len);

    return agg_add(t, &k, rec->status, rec->request_us, rec->bytes_in,
                   rec->bytes_out, rec->client_hash, rec->time_us);
}


/* The first index slot of the key of hash (where index_probe() starts). */
static const uint64_t *
first_slot(const ps_agg_table_t *t, uint64_t hash)
{
    return &t->index[hash & (t->index_size - 1)];
}


/* The entry the first index slot of rec's key names, if the slot's tag
 * is the key's (a hint: the key is not compared). */
static const ps_agg_entry_t *
entry_hint(const ps_agg_table_t *t, const ps_rec_t *rec)
{
    uint64_t  hash, slot;

    hash = ps_key_hash_hour(rec->key_hash, rec->hour);
    slot = *first_slot(t, hash);

    if (slot == 0 || (slot >> 32) != (hash >> 32)
        || (slot & 0xffffffff) > t->n)
    {
        return NULL;
    }

    return &t->entries[(slot & 0xffffffff) - 1];
}


void
ps_agg_prefetch_slot(const ps_agg_table_t *t, const ps_rec_t *rec)
{
    __builtin_prefetch(first_slot(t, ps_key_hash_hour(rec->key_hash,
                                                      rec->hour)));
}


void
ps_agg_prefetch_entry(const ps_agg_table_t *t, const ps_rec_t *rec)
{
    const ps_agg_entry_t  *e = entry_hint(t, rec);

    if (e != NULL) {
        __builtin_prefetch(e);
        __builtin_prefetch((const char *) e + sizeof(*e) - 1);
    }
}


void
ps_agg_prefetch_heap(const ps_agg_table_t *t, const ps_rec_t *rec)
{
    const ps_agg_entry_t  *e = entry_hint(t, rec);

    if (e != NULL) {
        __builtin_prefetch(e->path);
        ps_hist_prefetch(&e->latency);
        if (rec->client_hash != NULL) {
            ps_hll_prefetch(&e->clients, *rec->client_hash);
        }
    }
}


int
ps_agg_merge_entry(ps_agg_table_t *t, const ps_agg_entry_t *src)
{
    ps_agg_key_t     k;
    ps_agg_entry_t  *e;
    int              overflow;

    /* the same hash in every table: src's is not computed again, unless
     * src was built outside a table (a spool segment read back) */
    if (src->hash != 0) {
        key_make(&k, 0, src->hour, src->host, src->host_len, src->method,
                 src->method_len, src->path, src->path_len);
        k.hash = src->hash;

    } else {
        key_make_hashing(&k, src->hour, src->host, src->host_len,
                         src->method, src->method_len, src->path,
                         src->path_len);
    }

    e = entry_for(t, &k, &overflow);
    if (e == NULL) {
        return -1;
    }

    if (ps_hist_merge(&e->latency, &src->latency) != 0
        || ps_hll_merge(&e->clients, &src->clients) != 0)
    {
        return -1;
    }

    if (src->counts.requests != 0) {
        if (e->counts.requests == 0 || src->first_seen_us < e->first_seen_us) {
            e->first_seen_us = src->first_seen_us;
        }
        if (src->last_seen_us > e->last_seen_us) {
            e->last_seen_us = src->last_seen_us;
        }
    }

    ps_counts_merge(&e->counts, &src->counts);

    if (overflow) {
        t->overflowed += src->counts.requests;
    }

    return 0;
}


const ps_agg_entry_t *
ps_agg_find(const ps_agg_table_t *t, int64_t hour, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen)
{
    ps_agg_key_t  k;
    size_t        slot;

    key_make_hashing(&k, hour, host, hlen, method, mlen, path, plen);

    slot = index_probe(t, &k);
    if (t->index[slot] == 0) {
        return NULL;
    }

    return &t->entries[(t->index[slot] & 0xffffffff) - 1];
}


int
ps_agg_foreach(const ps_agg_table_t *t, ps_agg_entry_fn fn, void *ctx)
{
    size_t  i;
    int     rc;

    for (i = 0; i < t->n; i++) {
        rc = fn(ctx, &t->entries[i]);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


const ps_agg_entry_t *
ps_agg_entry_at(const ps_agg_table_t *t, size_t i)
{
    return i < t->n ? &t->entries[i] : NULL;
}


size_t
ps_agg_count(const ps_agg_table_t *t)
{
    return t->n;
}


uint64_t
ps_agg_overflowed(const ps_agg_table_t *t)
{
    return t->overflowed;
}


void
ps_agg_table_clear(ps_agg_table_t *t)
{
    ps_agg_chunk_t  *c;

    entries_free(t);
    t->n = 0;
    t->nhours = 0;
    t->overflowed = 0;
    memset(t->index, 0, t->index_size * sizeof(uint64_t));

    /* keep the newest chunk only: a steady table refills it */
    c = t->arena;
    if (c != NULL) {
        arena_free(c->next);
        c->next = NULL;
        c->used = 0;
    }
}


int
ps_agg_remove_hours_before(ps_agg_table_t *t, int64_t hour)
{
    ps_agg_chunk_t  *c;
    ps_agg_entry_t  *e;
    size_t           i, j, need;
    char            *p;

    need = 0;
    for (i = 0; i < t->n; i++) {
        e = &t->entries[i];
        if (e->hour >= hour) {
            need += (size_t) e->host_len + e->method_len + e->path_len + 3;
        }
    }

    if (need == 0) {
        c = NULL;
    } else {
        /* one chunk for all surviving keys, allocated before any change */
        c = malloc(sizeof(ps_agg_chunk_t) + need);
        if (c == NULL) {
            return -1;
        }
        c->next = NULL;
        c->size = need;
        c->used = 0;
    }

    for (i = 0, j = 0; i < t->n; i++) {
        e = &t->entries[i];

        if (e->hour < hour) {
            ps_hist_free(&e->latency);
            ps_hll_free(&e->clients);
            continue;
        }

        p = c->data + c->used;
        memcpy(p, e->host, e->host_len + 1);
        e->host = p;
        p += e->host_len + 1;
        memcpy(p, e->method, e->method_len + 1);
        e->method = p;
        p += e->method_len + 1;
        memcpy(p, e->path, e->path_len + 1);
        e->path = p;
        c->used += (size_t) e->host_len + e->method_len + e->path_len + 3;

        if (i != j) {
            t->entries[j] = *e;
        }
        j++;
    }

    t->n = j;
    arena_free(t->arena);
    t->arena = c;

    index_rebuild(t->index, t->index_size, t->entries, t->n);

    for (i = 0, j = 0; i < t->nhours; i++) {
        if (t->hours[i].hour >= hour) {
            t->hours[j++] = t->hours[i];
        }
    }
    t->nhours = j;

    return 0;
}


size_t
ps_agg_memory(const ps_agg_table_t *t)
{
    const ps_agg_chunk_t  *c;
    size_t                 bytes, i;

    bytes = sizeof(ps_agg_table_t)
            + t->cap * sizeof(ps_agg_entry_t)
            + t->index_size * sizeof(uint64_t)
            + t->hours_cap * sizeof(ps_agg_hour_t);

    for (c = t->arena; c != NULL; c = c->next) {
        bytes += sizeof(ps_agg_chunk_t) + c->size;
    }

    for (i = 0; i < t->n; i++) {
        bytes += ps_hist_mem(&t->entries[i].latency)
                 + ps_hll_mem(&t->entries[i].clients);
    }

    return bytes;
}
