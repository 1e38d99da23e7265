/*
 * Live per-path windows: see windows.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg_table.h"
#include "agg/windows.h"
#include "lib/hour.h"
#include "lib/key_hash.h"
#include "lib/key_order.h"
#include "lib/log.h"

#define LEVEL_SEC    0
#define LEVEL_MIN    1
#define LEVEL_HOUR   2

#define CLIENT_SLOTS 60            /* minutes of the 1h window */

static const uint64_t  level_period_us[PS_WIN_COUNT] = {
    PS_US_PER_SEC, 60 * PS_US_PER_SEC, PS_US_PER_HOUR
};

/*
 * Keys are folded into the overflow key once the table holds more than
 * FOLD_HIGH / 8 of max_keys, down to FOLD_LOW / 8 (see fold_old_keys()).
 */
#define FOLD_HIGH    7
#define FOLD_LOW     6

/* ages in hours that fold_old_keys() tells apart; older is the oldest */
#define FOLD_AGES    26

static const int64_t   level_span[PS_WIN_COUNT] = { 60, 60, 24 };

static uint64_t        gen_base;    /* windows made, for their gen */

typedef struct {
    int64_t         t;              /* time_us / period */
    ps_win_stats_t  st;
} win_bucket_t;

typedef struct {
    win_bucket_t  *b;               /* ascending t */
    uint32_t       n;
    uint32_t       cap;
} win_level_t;

/*
 * A second bucket: what a second needs of ps_win_stats_t in 96 bytes
 * instead of 168 (there are up to 60 a key): 32-bit counts (no key gets
 * 2^32 requests in one second), first and last seen as offsets in the
 * second, errors = the 5xx count (as stats_add() counts them), and no
 * clients.
 */
typedef struct {
    int64_t     t;
    uint32_t    requests;
    uint32_t    status[5];
    uint32_t    first_off;          /* us after the second's start */
    uint32_t    last_off;
    uint64_t    bytes_in;
    uint64_t    bytes_out;
    uint64_t    latency_sum_us;
    uint64_t    latency_max_us;
    ps_hist_t   latency;
} win_sec_t;

typedef struct {
    win_sec_t  *b;                  /* ascending t */
    uint32_t    n;
    uint32_t    cap;
} win_sec_level_t;

typedef struct win_key_s  win_key_t;

struct win_key_s {
    uint64_t      hash;             /* ps_key_hash() */
    uint64_t      hash2;            /* ps_key_hash2(): with hash, the
                                       key's identity (see keys below) */
    int64_t       admitted[2];      /* the hours it was admitted in
                                       under the per-hour limit */
    char         *host;             /* into text: host, method, path */
    char         *method;
    char         *path;
    uint32_t      hlen, mlen, plen;
    uint32_t      ord;              /* 1 + its place in the windows'
                                       order, 0: not placed yet */
    int64_t       sealed_hour;      /* minutes of hours up to this one
                                       are in the hour level */
    win_sec_level_t  sec;           /* the seconds: level[LEVEL_SEC]
                                       stays empty */
    win_level_t   level[PS_WIN_COUNT];
    char          text[];           /* allocated with the key */
};

typedef struct win_client_s  win_client_t;

struct win_client_s {
    win_client_t  *next;
    uint64_t       hash;
    char           text[PS_REC_CLIENT_MAX];
    int64_t        minute[CLIENT_SLOTS];
    uint64_t       count[CLIENT_SLOTS];
};

/*
 * The totals' pending second: every request is counted into the totals
 * as well as into its key, so the totals would search their large
 * histograms and walk their buckets once more per request.  Instead the
 * requests of one second gather here, an increment each, and go into
 * the totals' buckets at once (total_settle()): when a request of
 * another second comes, when PENDING_MAX are pending, and before
 * anything reads, seals or expires the totals.  The same counts, in
 * other words, added later.
 */
#define PENDING_MAX  4096           /* requests */

typedef struct {
    int64_t        sec;             /* time_us / 1 s of them all */
    ps_counts_t    counts;          /* requests: 0 when none is pending */
    uint64_t       first_us;
    uint64_t       last_us;
    unsigned       flags;
    uint32_t       nclients;
    uint64_t       clients[PENDING_MAX];    /* their clients' hashes */
    ps_hist_acc_t  latency;
} win_pending_t;

/* keys admitted per hour, for the latest hours */
#define KL_HOURS     3

typedef struct {
    int64_t   hour;
    size_t    keys;
} win_kl_t;

/*
 * The keys: a dense array of pointers (to go through them), and an
 * open-addressing index (linear probing, at most half full) whose slots
 * hold a key's hash and its pointer (to find one: the slot and the key
 * are all a record touches).  A key is found
 * by its two 64-bit hashes (ps_key_hash() and ps_key_hash2(), computed
 * once per record by the pipeline), not by its bytes: one probe and one
 * key touched per record.  Two keys whose 128 bits agree would share a
 * row; among a million keys the odds are below 10^-26.
 */
typedef struct {
    uint64_t         hash;
    win_key_t       *k;             /* NULL: a free slot */
} win_slot_t;

struct ps_windows_s {
    win_key_t      **keys;
    size_t           keys_cap;
    win_slot_t      *slots;
    size_t           smask;         /* slots - 1 */
    int              compact;       /* keys[] has holes to close */
    size_t           nkeys;
    size_t           per_hour;      /* the key limit; 0: none */
    win_kl_t         kl[KL_HOURS];
    uint64_t         limited;       /* records not admitted */
    size_t           max_keys;
    uint64_t         overflowed;
    uint64_t         folded;        /* keys folded into the overflow key */

    win_client_t   **ctable;
    size_t           cmask;
    size_t           nclients;
    int64_t          cother_minute[CLIENT_SLOTS];
    uint64_t         cother_count[CLIENT_SLOTS];

    win_key_t       *total;         /* every request counted: the
                                       windows' totals (not a key) */
    win_pending_t   *pending;       /* the totals' requests not in
                                       total yet */

    /* the keys in the order of their text (ps_windows_order()): the
     * nfresh keys made since are the last of keys[], not placed yet;
     * a removed key leaves a hole (NULL) */
    win_key_t      **order;
    size_t           norder;        /* holes included */
    size_t           order_cap;
    size_t           holes;
    size_t           nfresh;

    /* moves whenever a key's stats in a window may have changed but for
     * the clock: a request counted, an hour merged, a key made,
     * removed or folded, an hour sealed (ps_windows_stamp()) */
    uint64_t         gen;
    uint64_t         quiet_gen;     /* gen after the last expire that */
    int64_t          quiet_minute;  /* read the keys, in this minute */
    int              total_short;   /* the totals missed a request (out
                                       of memory): a key may have a
                                       bucket they lack, so no stamp is
                                       the same and no expiry skipped */

    ps_win_stats_t   scratch;
    ps_win_client_t *ctop;          /* scratch for top clients */
    size_t           ctop_cap;
};


void
ps_win_stats_init(ps_win_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    ps_hist_init(&st->latency);
    ps_hll_init(&st->clients);
}


void
ps_win_stats_reset(ps_win_stats_t *st)
{
    ps_hist_t  h = st->latency;
    ps_hll_t   c = st->clients;

    ps_hist_reset(&h);
    ps_hll_reset(&c);
    memset(st, 0, sizeof(*st));
    st->latency = h;
    st->clients = c;
}


void
ps_win_stats_free(ps_win_stats_t *st)
{
    ps_hist_free(&st->latency);
    ps_hll_free(&st->clients);
    memset(st, 0, sizeof(*st));
}


/* dst's counters, first and last seen and flags += those of requests
 * (some) seen from first_us to last_us. */
static void
stats_merge_counts(ps_win_stats_t *dst, const ps_counts_t *c,
    uint64_t first_us, uint64_t last_us, unsigned flags)
{
    if (dst->counts.requests == 0 || first_us < dst->first_seen_us) {
        dst->first_seen_us = first_us;
    }

    if (last_us > dst->last_seen_us) {
        dst->last_seen_us = last_us;
    }

    ps_counts_merge(&dst->counts, c);
    dst->flags |= flags;
}


int
ps_win_stats_merge(ps_win_stats_t *dst, const ps_win_stats_t *src)
{
    if (src->counts.requests == 0) {
        return 0;
    }

    if (ps_hist_merge(&dst->latency, &src->latency) != 0
        || ps_hll_merge(&dst->clients, &src->clients) != 0)
    {
        return -1;
    }

    stats_merge_counts(dst, &src->counts, src->first_seen_us,
                       src->last_seen_us, src->flags);

    return 0;
}


ps_windows_t *
ps_windows_create(size_t max_keys)
{
    ps_windows_t  *w;

    if (max_keys == 0) {
        max_keys = 1;
    }

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        goto fail;
    }

    w->smask = 2047;
    w->slots = calloc(w->smask + 1, sizeof(win_slot_t));
    w->keys_cap = 1024;
    w->keys = calloc(w->keys_cap, sizeof(win_key_t *));
    w->cmask = 1023;
    w->ctable = calloc(w->cmask + 1, sizeof(win_client_t *));
    if (w->slots == NULL || w->keys == NULL || w->ctable == NULL) {
        goto fail;
    }

    w->max_keys = max_keys;
    ps_win_stats_init(&w->scratch);

    /* each windows' generations start 2^40 after the last one's: a
     * stamp of one matches none of another made at the same address
     * (short of 10^12 changes) */
    w->gen = __atomic_add_fetch(&gen_base, 1, __ATOMIC_RELAXED) << 40;

    w->total = calloc(1, sizeof(win_key_t) + 3);
    if (w->total == NULL) {
        goto fail;
    }
    w->total->host = w->total->text;
    w->total->method = w->total->text + 1;
    w->total->path = w->total->text + 2;
    w->total->sealed_hour = INT64_MIN;

    w->pending = calloc(1, sizeof(win_pending_t));
    if (w->pending == NULL) {
        goto fail;
    }

    return w;

fail:

    ps_log(PS_LOG_ERROR, "event=windows_create_failed reason=no_memory");
    if (w != NULL) {
        free(w->slots);
        free(w->keys);
        free(w->ctable);
        free(w->total);
        free(w->pending);
        free(w);
    }
    return NULL;
}


static void
key_free(win_key_t *k)
{
    uint32_t  l, i;

    for (l = 0; l < PS_WIN_COUNT; l++) {
        for (i = 0; i < k->level[l].n; i++) {
            ps_win_stats_free(&k->level[l].b[i].st);
        }
        free(k->level[l].b);
    }

    for (i = 0; i < k->sec.n; i++) {
        ps_hist_free(&k->sec.b[i].latency);
    }
    free(k->sec.b);

    free(k);
}


/* Frees keys[j], leaving a hole in keys[] (keys_compact() closes it) and
 * in the order. */
static void
key_remove(ps_windows_t *w, size_t j)
{
    win_key_t  *k = w->keys[j];

    if (k->ord != 0) {
        w->order[k->ord - 1] = NULL;
        w->holes++;
    } else {
        w->nfresh--;
    }

    key_free(k);
    w->keys[j] = NULL;
    w->compact = 1;
    w->gen++;
}


void
ps_windows_destroy(ps_windows_t *w)
{
    win_client_t  *c, *cnext;
    size_t         i;

    if (w == NULL) {
        return;
    }

    for (i = 0; i < w->nkeys; i++) {
        if (w->keys[i] != NULL) {
            key_free(w->keys[i]);
        }
    }

    for (i = 0; i <= w->cmask; i++) {
        for (c = w->ctable[i]; c != NULL; c = cnext) {
            cnext = c->next;
            free(c);
        }
    }

    key_free(w->total);
    free(w->pending);
    ps_win_stats_free(&w->scratch);
    free(w->slots);
    free(w->keys);
    free(w->order);
    free(w->ctable);
    free(w->ctop);
    free(w);
}


/* Puts k into slots (size - 1 = mask). */
static void
slot_put(win_slot_t *slots, size_t mask, win_key_t *k)
{
    size_t  j;

    for (j = k->hash & mask; slots[j].k != NULL; j = (j + 1) & mask) {
        /* linear probing */
    }

    slots[j].hash = k->hash;
    slots[j].k = k;
}


/* Rebuilds the index over keys[0 .. nkeys), at a size that keeps it at
 * most half full; 0, or -1 (the old index stays) if memory ran out. */
static int
index_rebuild(ps_windows_t *w)
{
    size_t       size, i;
    win_slot_t  *slots;

    for (size = w->smask + 1; size < 2 * (w->nkeys + 1); size *= 2) {
        /* void */
    }

    slots = calloc(size, sizeof(win_slot_t));
    if (slots == NULL) {
        return -1;
    }

    for (i = 0; i < w->nkeys; i++) {
        slot_put(slots, size - 1, w->keys[i]);
    }

    free(w->slots);
    w->slots = slots;
    w->smask = size - 1;

    return 0;
}


/* Closes the holes that removed keys left in keys[] and re-indexes. */
static void
keys_compact(ps_windows_t *w)
{
    size_t  i, j;

    if (!w->compact) {
        return;
    }

    for (i = 0, j = 0; i < w->nkeys; i++) {
        if (w->keys[i] != NULL) {
            w->keys[j++] = w->keys[i];
        }
    }

    w->nkeys = j;
    w->compact = 0;

    if (index_rebuild(w) != 0) {
        /* the old index points at freed keys: it must go */
        memset(w->slots, 0, (w->smask + 1) * sizeof(win_slot_t));
        for (i = 0; i < w->nkeys; i++) {
            slot_put(w->slots, w->smask, w->keys[i]);
        }
    }
}


/* The key of (h, h2), or NULL; *slot: its index slot, or the free one
 * where it would go. */
static win_key_t *
key_find(const ps_windows_t *w, uint64_t h, uint64_t h2, size_t *slot)
{
    size_t              i;
    const win_slot_t   *sl;

    for (i = h & w->smask; (sl = &w->slots[i])->k != NULL;
         i = (i + 1) & w->smask)
    {
        if (sl->hash == h && sl->k->hash2 == h2) {
            *slot = i;
            return sl->k;
        }
    }

    *slot = i;

    return NULL;
}


static win_key_t *
key_get(ps_windows_t *w, uint64_t h, uint64_t h2, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen, int *overflow)
{
    win_key_t   *k, **keys;
    size_t       slot;
    char        *p;

    *overflow = 0;

    if (hlen > UINT32_MAX || mlen > UINT32_MAX || plen > UINT32_MAX) {
        return NULL;
    }

    k = key_find(w, h, h2, &slot);
    if (k != NULL) {
        return k;
    }

    if (w->nkeys >= w->max_keys) {
        *overflow = 1;
        return NULL;
    }

    if (w->nkeys == w->keys_cap) {
        keys = realloc(w->keys, 2 * w->keys_cap * sizeof(win_key_t *));
        if (keys == NULL) {
            return NULL;
        }
        w->keys = keys;
        w->keys_cap *= 2;
    }

    k = calloc(1, sizeof(*k) + hlen + mlen + plen + 3);
    if (k == NULL) {
        return NULL;
    }

    p = k->text;
    k->host = p;
    memcpy(p, host, hlen);
    p[hlen] = '\0';
    k->method = p + hlen + 1;
    memcpy(k->method, method, mlen);
    k->method[mlen] = '\0';
    k->path = k->method + mlen + 1;
    memcpy(k->path, path, plen);
    k->path[plen] = '\0';
    k->hlen = (uint32_t) hlen;
    k->mlen = (uint32_t) mlen;
    k->plen = (uint32_t) plen;
    k->hash = h;
    k->hash2 = h2;
    k->sealed_hour = INT64_MIN;
    k->admitted[0] = INT64_MIN;
    k->admitted[1] = INT64_MIN;

    w->keys[w->nkeys] = k;
    w->slots[slot].hash = h;
    w->slots[slot].k = k;
    w->nkeys++;
    w->nfresh++;
    w->gen++;

    if (2 * (w->nkeys + 1) > w->smask + 1) {
        (void) index_rebuild(w);
    }

    return k;
}


/* The overflow key, which does not count toward the limit. */
static win_key_t *
other_key(ps_windows_t *w)
{
    win_key_t  *k;
    int         overflow;

    w->max_keys++;
    k = key_get(w, ps_key_hash(PS_AGG_OTHER_HOST, 1, PS_AGG_OTHER_METHOD, 1,
                               PS_AGG_OTHER_PATH,
                               sizeof(PS_AGG_OTHER_PATH) - 1),
                ps_key_hash2(PS_AGG_OTHER_HOST, 1, PS_AGG_OTHER_METHOD, 1,
                             PS_AGG_OTHER_PATH,
                             sizeof(PS_AGG_OTHER_PATH) - 1),
                PS_AGG_OTHER_HOST, 1, PS_AGG_OTHER_METHOD, 1,
                PS_AGG_OTHER_PATH, sizeof(PS_AGG_OTHER_PATH) - 1, &overflow);
    w->max_keys--;

    return k;
}


static int
is_other_key(const win_key_t *k)
{
    return k->plen == sizeof(PS_AGG_OTHER_PATH) - 1 && k->hlen == 1
           && k->mlen == 1
           && memcmp(k->path, PS_AGG_OTHER_PATH, k->plen) == 0
           && k->host[0] == PS_AGG_OTHER_HOST[0]
           && k->method[0] == PS_AGG_OTHER_METHOD[0];
}


static win_key_t *
key_get_or_other(ps_windows_t *w, uint64_t h, uint64_t h2, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen, uint64_t requests)
{
    win_key_t  *k;
    int         overflow;

    k = key_get(w, h, h2, host, hlen, method, mlen, path, plen, &overflow);

    if (k == NULL && overflow) {
        k = other_key(w);
        if (k != NULL) {
            w->overflowed += requests;
        }
    }

    return k;
}


/*
 * The bucket of period t in an array (*base, *n, *cap) of buckets of size
 * bytes, ascending by the int64_t t that each begins with (win_bucket_t,
 * win_sec_t), inserted in order if needed: the array grows to cap0, then
 * doubles.  *created tells the caller to initialize a new bucket, t
 * included.  NULL when out of memory.
 */
static void *
sorted_bucket(void **base, uint32_t *n, uint32_t *cap, uint32_t cap0,
    size_t size, int64_t t, int *created)
{
    char      *b;
    uint32_t   i, c;

    *created = 0;
    b = *base;

    /* records of several rings arrive nearly, not exactly, in order */
    i = *n;
    while (i > 0 && *(int64_t *) (b + (i - 1) * size) > t) {
        i--;
    }

    if (i > 0 && *(int64_t *) (b + (i - 1) * size) == t) {
        return b + (i - 1) * size;
    }

    if (*n == *cap) {
        c = *cap ? *cap * 2 : cap0;
        b = realloc(b, c * size);
        if (b == NULL) {
            return NULL;
        }
        *base = b;
        *cap = c;
    }

    memmove(b + (i + 1) * size, b + i * size, (*n - i) * size);
    (*n)++;
    *created = 1;

    return b + i * size;
}


/* The bucket of period t in a level, created in order if needed. */
static win_bucket_t *
level_bucket(win_level_t *lv, int64_t t)
{
    int            created;
    void          *base;
    win_bucket_t  *b;

    if (lv->n > 0 && lv->b[lv->n - 1].t == t) {
        return &lv->b[lv->n - 1];
    }

    /* most keys have one minute and one hour bucket: start at 1 */
    base = lv->b;
    b = sorted_bucket(&base, &lv->n, &lv->cap, 1, sizeof(win_bucket_t), t,
                      &created);
    lv->b = base;

    if (b != NULL && created) {
        b->t = t;
        ps_win_stats_init(&b->st);
    }

    return b;
}


/* The second bucket t, created in order if needed (as level_bucket()). */
static win_sec_t *
sec_bucket(win_sec_level_t *lv, int64_t t)
{
    int         created;
    void       *base;
    win_sec_t  *b;

    if (lv->n > 0 && lv->b[lv->n - 1].t == t) {
        return &lv->b[lv->n - 1];
    }

    base = lv->b;
    b = sorted_bucket(&base, &lv->n, &lv->cap, 2, sizeof(win_sec_t), t,
                      &created);
    lv->b = base;

    if (b != NULL && created) {
        memset(b, 0, sizeof(win_sec_t));
        b->t = t;
        ps_hist_init(&b->latency);
    }

    return b;
}


static int
sec_add(win_sec_t *b, unsigned status, uint64_t request_us,
    unsigned hist_index, uint64_t bytes_in, uint64_t bytes_out,
    uint64_t time_us)
{
    uint32_t  off;

    if (ps_hist_add_bucket(&b->latency, hist_index, 1) != 0) {
        return -1;
    }

    off = (uint32_t) (time_us - (uint64_t) b->t * PS_US_PER_SEC);

    if (b->requests == 0 || off < b->first_off) {
        b->first_off = off;
    }
    if (off > b->last_off) {
        b->last_off = off;
    }

    b->requests++;
    if (status >= 100 && status <= 599) {
        b->status[status / 100 - 1]++;
    }

    b->bytes_in += bytes_in;
    b->bytes_out += bytes_out;
    b->latency_sum_us += request_us;
    if (request_us > b->latency_max_us) {
        b->latency_max_us = request_us;
    }

    return 0;
}


/* dst += a second bucket; 0 or -1. */
static int
sec_merge(ps_win_stats_t *dst, const win_sec_t *b)
{
    uint64_t  first, last;
    int       i;

    if (b->requests == 0) {
        return 0;
    }

    if (ps_hist_merge(&dst->latency, &b->latency) != 0) {
        return -1;
    }

    first = (uint64_t) b->t * PS_US_PER_SEC + b->first_off;
    last = (uint64_t) b->t * PS_US_PER_SEC + b->last_off;

    if (dst->counts.requests == 0 || first < dst->first_seen_us) {
        dst->first_seen_us = first;
    }
    if (last > dst->last_seen_us) {
        dst->last_seen_us = last;
    }
    if (b->latency_max_us > dst->counts.latency_max_us) {
        dst->counts.latency_max_us = b->latency_max_us;
    }

    dst->counts.requests += b->requests;
    dst->counts.errors += b->status[4];
    for (i = 0; i < 5; i++) {
        dst->counts.status[i] += b->status[i];
    }
    dst->counts.bytes_in += b->bytes_in;
    dst->counts.bytes_out += b->bytes_out;
    dst->counts.latency_sum_us += b->latency_sum_us;

    return 0;
}


static int
stats_add(ps_win_stats_t *st, unsigned status, uint64_t request_us,
    unsigned hist_index, uint64_t bytes_in, uint64_t bytes_out,
    const uint64_t *client_hash, uint64_t time_us, unsigned flags)
{
    if (ps_hist_add_bucket(&st->latency, hist_index, 1) != 0) {
        return -1;
    }

    if (client_hash != NULL && ps_hll_add_hash(&st->clients, *client_hash))
    {
        return -1;
    }

    if (st->counts.requests == 0 || time_us < st->first_seen_us) {
        st->first_seen_us = time_us;
    }

    if (time_us > st->last_seen_us) {
        st->last_seen_us = time_us;
    }

    ps_counts_add(&st->counts, status, request_us, bytes_in, bytes_out);

    st->flags |= flags;

    return 0;
}


static void
client_add(ps_windows_t *w, const char *text, uint64_t time_us)
{
    win_client_t  *c;
    int64_t        minute;
    uint64_t       h;
    unsigned       slot;

    minute = (int64_t) (time_us / level_period_us[LEVEL_MIN]);
    slot = (unsigned) (minute % CLIENT_SLOTS);
    h = ps_bytes_hash(0, text, strlen(text));

    for (c = w->ctable[h & w->cmask]; c != NULL; c = c->next) {
        if (c->hash == h && strcmp(c->text, text) == 0) {
            break;
        }
    }

    if (c == NULL && w->nclients < PS_WIN_CLIENTS_MAX) {
        c = calloc(1, sizeof(*c));
        if (c != NULL) {
            c->hash = h;
            strncpy(c->text, text, sizeof(c->text) - 1);
            c->next = w->ctable[h & w->cmask];
            w->ctable[h & w->cmask] = c;
            w->nclients++;
        }
    }

    if (c == NULL) {
        if (w->cother_minute[slot] != minute) {
            w->cother_minute[slot] = minute;
            w->cother_count[slot] = 0;
        }
        w->cother_count[slot]++;
        return;
    }

    if (c->minute[slot] != minute) {
        c->minute[slot] = minute;
        c->count[slot] = 0;
    }
    c->count[slot]++;
}


/* Counts one request into the buckets of k (a key, or the totals). */
static int
key_count(win_key_t *k, unsigned status, uint64_t request_us,
    unsigned hist_index, uint64_t bytes_in, uint64_t bytes_out,
    const uint64_t *client_hash, uint64_t time_us, unsigned flags)
{
    win_bucket_t  *b;
    win_sec_t     *sb;
    int            l, rc = 0;

    sb = sec_bucket(&k->sec, (int64_t) (time_us / PS_US_PER_SEC));
    if (sb == NULL
        || sec_add(sb, status, request_us, hist_index, bytes_in, bytes_out,
                   time_us) != 0)
    {
        rc = -1;
    }

    /*
     * Seconds and minutes only: the hour level gets the minutes of an
     * hour once the hour is over (seal(), from ps_windows_expire()), and
     * the 24h window adds the minutes not sealed yet.  A late record of
     * an hour already sealed goes to its hour bucket directly.
     */
    for (l = LEVEL_MIN; l < PS_WIN_COUNT; l++) {
        if (l == LEVEL_HOUR && (int64_t) (time_us / level_period_us[l])
                               > k->sealed_hour)
        {
            break;
        }

        b = level_bucket(&k->level[l],
                         (int64_t) (time_us / level_period_us[l]));

        /* no clients in second buckets: the 1m window takes its unique
         * clients from the minute level (see ps_windows_foreach) */
        if (b == NULL
            || stats_add(&b->st, status, request_us, hist_index, bytes_in,
                         bytes_out, client_hash, time_us, flags) != 0)
        {
            rc = -1;
        }
    }

    return rc;
}


/* The pending requests into the second bucket b. */
static int
sec_add_pending(win_sec_t *b, const win_pending_t *p)
{
    uint64_t  start;
    uint32_t  first, last;
    int       i;

    if (ps_hist_acc_merge(&b->latency, &p->latency) != 0) {
        return -1;
    }

    start = (uint64_t) b->t * PS_US_PER_SEC;
    first = (uint32_t) (p->first_us - start);
    last = (uint32_t) (p->last_us - start);

    if (b->requests == 0 || first < b->first_off) {
        b->first_off = first;
    }
    if (last > b->last_off) {
        b->last_off = last;
    }

    b->requests += (uint32_t) p->counts.requests;
    for (i = 0; i < 5; i++) {
        b->status[i] += (uint32_t) p->counts.status[i];
    }
    b->bytes_in += p->counts.bytes_in;
    b->bytes_out += p->counts.bytes_out;
    b->latency_sum_us += p->counts.latency_sum_us;
    if (p->counts.latency_max_us > b->latency_max_us) {
        b->latency_max_us = p->counts.latency_max_us;
    }

    return 0;
}


/* The pending requests into a minute or hour bucket's stats. */
static int
stats_add_pending(ps_win_stats_t *st, const win_pending_t *p)
{
    uint32_t  i;

    if (ps_hist_acc_merge(&st->latency, &p->latency) != 0) {
        return -1;
    }

    for (i = 0; i < p->nclients; i++) {
        if (ps_hll_add_hash(&st->clients, p->clients[i]) != 0) {
            return -1;
        }
    }

    stats_merge_counts(st, &p->counts, p->first_us, p->last_us, p->flags);

    return 0;
}


/* The pending requests into the totals' buckets, as key_count() would
 * have counted them one by one; 0, or -1 if memory ran out (they are
 * lost to the totals, as one request is when key_count() fails). */
static int
total_settle(ps_windows_t *w)
{
    win_pending_t  *p = w->pending;
    win_key_t      *k = w->total;
    win_bucket_t   *b;
    win_sec_t      *sb;
    int64_t         t;
    int             l, rc = 0;

    if (p->counts.requests == 0) {
        return 0;
    }

    sb = sec_bucket(&k->sec, p->sec);
    if (sb == NULL || sec_add_pending(sb, p) != 0) {
        rc = -1;
    }

    /* minutes, and the hour if it is sealed already (key_count()) */
    for (l = LEVEL_MIN; l < PS_WIN_COUNT; l++) {
        t = p->sec / (int64_t) (level_period_us[l] / PS_US_PER_SEC);
        if (l == LEVEL_HOUR && t > k->sealed_hour) {
            break;
        }

        b = level_bucket(&k->level[l], t);
        if (b == NULL || stats_add_pending(&b->st, p) != 0) {
            rc = -1;
        }
    }

    memset(&p->counts, 0, sizeof(p->counts));
    p->flags = 0;
    p->nclients = 0;
    ps_hist_acc_clear(&p->latency);

    return rc;
}


/* Before the totals are read, sealed or expired. */
static void
total_settle_now(ps_windows_t *w)
{
    if (total_settle(w) != 0) {
        w->total_short = 1;
        ps_log(PS_LOG_WARN, "event=windows_add_failed reason=no_memory");
    }
}


/* Counts one request into the totals' pending second, settling the
 * second pending before if it is another, or full. */
static int
total_count(ps_windows_t *w, unsigned status, uint64_t request_us,
    unsigned hist_index, uint64_t bytes_in, uint64_t bytes_out,
    const uint64_t *client_hash, uint64_t time_us, unsigned flags)
{
    win_pending_t  *p = w->pending;
    int64_t         sec;
    int             rc = 0;

    sec = (int64_t) (time_us / PS_US_PER_SEC);

    if (p->counts.requests != 0
        && (sec != p->sec || p->counts.requests == PENDING_MAX))
    {
        rc = total_settle(w);
    }

    if (p->counts.requests == 0) {
        p->sec = sec;
        p->first_us = time_us;
        p->last_us = time_us;
    } else if (time_us < p->first_us) {
        p->first_us = time_us;
    } else if (time_us > p->last_us) {
        p->last_us = time_us;
    }

    ps_counts_add(&p->counts, status, request_us, bytes_in, bytes_out);
    ps_hist_acc_add(&p->latency, hist_index);
    if (client_hash != NULL) {
        p->clients[p->nclients++] = *client_hash;
    }
    p->flags |= flags;

    return rc;
}


/* Counts one request into key k and into the totals. */
static int
windows_add_to(ps_windows_t *w, win_key_t *k, unsigned status,
    uint64_t request_us, uint64_t bytes_in, uint64_t bytes_out,
    const uint64_t *client_hash, const char *client, uint64_t time_us,
    unsigned flags)
{
    unsigned  hist_index;
    int       rc;

    hist_index = ps_hist_bucket_of(request_us);
    w->gen++;

    rc = key_count(k, status, request_us, hist_index, bytes_in, bytes_out,
                   client_hash, time_us, flags);

    if (total_count(w, status, request_us, hist_index, bytes_in, bytes_out,
                    client_hash, time_us, flags) != 0)
    {
        w->total_short = 1;
        rc = -1;
    }

    if (client != NULL && client[0] != '\0') {
        client_add(w, client, time_us);
    }

    return rc;
}


int
ps_windows_add(ps_windows_t *w, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    unsigned status, uint64_t request_us, uint64_t bytes_in,
    uint64_t bytes_out, const uint64_t *client_hash, const char *client,
    uint64_t time_us)
{
    win_key_t  *k;

    k = key_get_or_other(w, ps_key_hash(host, hlen, method, mlen, path, plen),
                         ps_key_hash2(host, hlen, method, mlen, path, plen),
                         host, hlen, method, mlen, path, plen, 1);
    if (k == NULL) {
        return -1;
    }

    return windows_add_to(w, k, status, request_us, bytes_in, bytes_out,
                          client_hash, client, time_us, 0);
}


int
ps_windows_add_to(ps_windows_t *w, ps_win_key_t *k, const ps_rec_t *rec)
{
    return windows_add_to(w, k, rec->status, rec->request_us, rec->bytes_in,
                          rec->bytes_out, rec->client_hash, rec->client,
                          rec->time_us,
                          rec->flags & (PS_REC_KEY_TRUNCATED
                                        | PS_REC_NORMALIZED));
}


/* The key limit's count of hour (the slot of the oldest hour reused for
 * a new one); NULL for an hour older than every one kept. */
static win_kl_t *
kl_hour(ps_windows_t *w, int64_t hour)
{
    unsigned   i;
    win_kl_t  *oldest = NULL;

    for (i = 0; i < KL_HOURS; i++) {
        if (w->kl[i].keys && w->kl[i].hour == hour) {
            return &w->kl[i];
        }
    }

    for (i = 0; i < KL_HOURS; i++) {
        if (w->kl[i].keys == 0) {
            oldest = &w->kl[i];
            break;
        }
        if (oldest == NULL || w->kl[i].hour < oldest->hour) {
            oldest = &w->kl[i];
        }
    }

    if (oldest->keys && oldest->hour > hour) {
        return NULL;
    }

    oldest->hour = hour;
    oldest->keys = 0;

    return oldest;
}


/* Admits k for hour if it was, or if the hour has room; 1 or 0. */
static int
kl_admit(ps_windows_t *w, win_key_t *k, int64_t hour)
{
    win_kl_t  *h;

    if (k->admitted[0] == hour || k->admitted[1] == hour) {
        return 1;
    }

    h = kl_hour(w, hour);
    if (h == NULL || h->keys >= w->per_hour) {
        return 0;
    }

    h->keys++;
    k->admitted[k->admitted[0] < k->admitted[1] ? 0 : 1] = hour;

    return 1;
}


void
ps_windows_set_limit(ps_windows_t *w, size_t per_hour)
{
    w->per_hour = per_hour;
}


ps_win_key_t *
ps_windows_admit(ps_windows_t *w, const ps_rec_t *rec)
{
    int         overflow;
    size_t      slot;
    win_key_t  *k;

    k = key_find(w, rec->key_hash, rec->key_hash2, &slot);

    if (k == NULL) {
        /* no room in the hour: not even a key of the windows */
        if (w->per_hour) {
            win_kl_t  *h = kl_hour(w, rec->hour);

            if (h == NULL || h->keys >= w->per_hour) {
                w->limited++;
                return NULL;
            }
        }

        k = key_get(w, rec->key_hash, rec->key_hash2, rec->host,
                    rec->host_len, rec->method, rec->method_len, rec->path,
                    rec->path_len, &overflow);
        if (k == NULL) {
            /* the windows are full (their fold makes room later) */
            w->limited++;
            return NULL;
        }
    }

    if (w->per_hour && !kl_admit(w, k, rec->hour)) {
        w->limited++;
        return NULL;
    }

    return k;
}


/* The lines of size bytes at p. */
static void
prefetch_bytes(const void *p, size_t size)
{
    const char  *c = p;
    size_t       off;

    for (off = 0; off < size; off += 64) {
        __builtin_prefetch(c + off);
    }
    __builtin_prefetch(c + size - 1);
}


void
ps_windows_prefetch_slot(const ps_windows_t *w, const ps_rec_t *rec)
{
    __builtin_prefetch(&w->slots[rec->key_hash & w->smask]);
}


const ps_win_key_t *
ps_windows_peek(const ps_windows_t *w, const ps_rec_t *rec)
{
    size_t             slot;
    const win_key_t   *k;

    k = key_find(w, rec->key_hash, rec->key_hash2, &slot);
    if (k != NULL) {
        /* from hash to level[]: three lines, whatever the alignment */
        prefetch_bytes(k, sizeof(*k));
    }

    return k;
}


void
ps_windows_prefetch_buckets(const ps_win_key_t *k)
{
    const win_level_t  *mlv = &k->level[LEVEL_MIN];

    if (k->sec.n > 0) {
        prefetch_bytes(&k->sec.b[k->sec.n - 1], sizeof(win_sec_t));
    }

    if (mlv->n > 0) {
        prefetch_bytes(&mlv->b[mlv->n - 1], sizeof(win_bucket_t));
    }
}


void
ps_windows_prefetch_heap(const ps_win_key_t *k, const ps_rec_t *rec)
{
    const win_level_t  *mlv = &k->level[LEVEL_MIN];
    const win_bucket_t *b;

    if (k->sec.n > 0) {
        ps_hist_prefetch(&k->sec.b[k->sec.n - 1].latency);
    }

    if (mlv->n > 0) {
        b = &mlv->b[mlv->n - 1];
        ps_hist_prefetch(&b->st.latency);
        if (rec->client_hash != NULL) {
            ps_hll_prefetch(&b->st.clients, *rec->client_hash);
        }
    }
}


ps_win_key_t *
ps_windows_other(ps_windows_t *w)
{
    return other_key(w);
}


int
ps_windows_seed(ps_windows_t *w, int64_t hour, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen)
{
    int         overflow;
    win_key_t  *k;

    k = key_get(w, ps_key_hash(host, hlen, method, mlen, path, plen),
                ps_key_hash2(host, hlen, method, mlen, path, plen), host,
                hlen, method, mlen, path, plen, &overflow);

    return k != NULL && kl_admit(w, k, hour) ? 0 : -1;
}


uint64_t
ps_windows_limited(const ps_windows_t *w)
{
    return w->limited;
}


int
ps_windows_add_hour(ps_windows_t *w, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    int64_t hour, const ps_win_stats_t *st)
{
    win_key_t     *k;
    win_bucket_t  *b;

    k = key_get_or_other(w, ps_key_hash(host, hlen, method, mlen, path,
                                        plen),
                         ps_key_hash2(host, hlen, method, mlen, path, plen),
                         host, hlen, method, mlen, path, plen,
                         st->counts.requests);
    if (k == NULL) {
        return -1;
    }

    w->gen++;

    b = level_bucket(&k->level[LEVEL_HOUR],
                     hour * PS_US_PER_SEC / PS_US_PER_HOUR);
    if (b == NULL || ps_win_stats_merge(&b->st, st) != 0) {
        return -1;
    }

    b = level_bucket(&w->total->level[LEVEL_HOUR],
                     hour * PS_US_PER_SEC / PS_US_PER_HOUR);
    if (b == NULL || ps_win_stats_merge(&b->st, st) != 0) {
        w->total_short = 1;         /* the key has what the totals lack */
        return -1;
    }

    return 0;
}


/* Merges the minute buckets of the hours before now_hour that are not
 * sealed yet into their hour buckets; 0 or -1 (out of memory).  The 24h
 * window then reads the hour (the same requests, the clients' union
 * perhaps in another form): a change of w's. */
static int
seal(ps_windows_t *w, win_key_t *k, int64_t now_hour)
{
    win_level_t   *mlv = &k->level[LEVEL_MIN];
    win_bucket_t  *hb;
    int64_t        hour;
    uint32_t       i;
    int            rc = 0;

    if (now_hour - 1 <= k->sealed_hour) {
        return 0;
    }

    w->gen++;

    for (i = 0; i < mlv->n; i++) {
        hour = mlv->b[i].t / 60;
        if (hour <= k->sealed_hour) {
            continue;
        }
        if (hour >= now_hour) {
            break;
        }

        hb = level_bucket(&k->level[LEVEL_HOUR], hour);
        if (hb == NULL || ps_win_stats_merge(&hb->st, &mlv->b[i].st) != 0) {
            rc = -1;
        }
    }

    k->sealed_hour = now_hour - 1;

    return rc;
}


/*
 * Age of a key whose only buckets left are hours (not seen for an hour):
 * whole hours since its last one, at most FOLD_AGES - 1; -1 for a key
 * that is still in the 1m or 1h window, or the overflow key.
 */
static int
fold_age(const win_key_t *k, int64_t now_hour)
{
    const win_level_t  *hlv = &k->level[LEVEL_HOUR];
    int64_t             age;

    if (k->sec.n > 0 || k->level[LEVEL_MIN].n > 0 || hlv->n == 0
        || is_other_key(k))
    {
        return -1;
    }

    age = now_hour - hlv->b[hlv->n - 1].t;

    return (int) (age < 0 ? 0 : age >= FOLD_AGES ? FOLD_AGES - 1 : age);
}


/*
 * Makes room for new keys once the table is nearly full: the keys not
 * seen for the longest (only in the 24h window by now) are folded into
 * the overflow key, their hours merged into its hours.  So the 24h
 * totals stay exact, and a flood of paths leaves the windows as it ages
 * instead of sending every new path to the overflow key for a day.
 * Keys seen within the hour are never folded: the pipeline admits at
 * most max_keys_per_hour keys an hour, and the table holds two hours of
 * them.
 */
static void
fold_old_keys(ps_windows_t *w, uint64_t now_us)
{
    win_key_t      *k, *other;
    win_bucket_t   *ob;
    size_t          j, need, sum, quota, count[FOLD_AGES];
    int64_t         now_hour;
    uint32_t        i;
    int             age, limit;

    if (w->nkeys * 8 <= w->max_keys * FOLD_HIGH) {
        return;
    }

    now_hour = (int64_t) (now_us / PS_US_PER_HOUR);
    need = w->nkeys - w->max_keys * FOLD_LOW / 8;

    memset(count, 0, sizeof(count));

    for (j = 0; j < w->nkeys; j++) {
        age = fold_age(w->keys[j], now_hour);
        if (age >= 0) {
            count[age]++;
        }
    }

    /* the oldest ages first, down to the one that gives enough: all
     * keys older than limit go, and quota of the keys of age limit */
    sum = 0;
    for (limit = FOLD_AGES - 1; limit > 0 && sum + count[limit] < need;
         limit--)
    {
        sum += count[limit];
    }

    quota = need > sum ? need - sum : 0;

    other = other_key(w);
    if (other == NULL) {
        return;
    }

    for (j = 0; j < w->nkeys; j++) {
        k = w->keys[j];
        age = fold_age(k, now_hour);

        if (age < limit || (age == limit && quota == 0)) {
            continue;
        }

        if (age == limit) {
            quota--;
        }

        for (i = 0; i < k->level[LEVEL_HOUR].n; i++) {
            ob = level_bucket(&other->level[LEVEL_HOUR],
                              k->level[LEVEL_HOUR].b[i].t);
            if (ob == NULL
                || ps_win_stats_merge(&ob->st, &k->level[LEVEL_HOUR].b[i].st)
                   != 0)
            {
                ps_log(PS_LOG_WARN, "event=windows_fold_failed "
                       "reason=no_memory");
                keys_compact(w);
                return;
            }
        }

        key_remove(w, j);
        w->folded++;
    }

    keys_compact(w);
}


/* 1 when a bucket of the totals leaves at now_us: every bucket of a key
 * has one of the totals at the same time, so none of a key leaves
 * otherwise. */
static int
total_expires(const ps_windows_t *w, uint64_t now_us)
{
    const win_key_t  *t = w->total;
    int               l;

    for (l = 0; l < PS_WIN_COUNT; l++) {
        if (t->level[l].n > 0
            && t->level[l].b[0].t
               <= (int64_t) (now_us / level_period_us[l]) - level_span[l])
        {
            return 1;
        }
    }

    return t->sec.n > 0
           && t->sec.b[0].t <= (int64_t) (now_us / PS_US_PER_SEC) - 60;
}


void
ps_windows_expire(ps_windows_t *w, uint64_t now_us)
{
    win_key_t      *k;
    win_client_t  **pc, *c;
    win_level_t    *lv;
    int64_t         oldest, minute, now_hour;
    uint32_t        i, drop;
    size_t          j;
    int             l, s, live;

    now_hour = (int64_t) (now_us / PS_US_PER_HOUR) * 3600;
    minute = (int64_t) (now_us / level_period_us[LEVEL_MIN]);

    total_settle_now(w);

    /* nothing changed since the last pass in this minute (so no hour to
     * seal, key to fold or client to drop), and no key has a bucket to
     * drop, as the totals have none: no key to read */
    if (w->gen == w->quiet_gen && !w->total_short
        && minute == w->quiet_minute && !total_expires(w, now_us))
    {
        return;
    }

    /* the keys, and the totals last */
    for (j = 0; j <= w->nkeys; j++) {
        k = j < w->nkeys ? w->keys[j] : w->total;
        {
            /* a key admitted in this hour or the last stays while it may
             * still count against the limit */
            live = k->admitted[0] >= now_hour - 3600
                   || k->admitted[1] >= now_hour - 3600;

            /* before any minute bucket leaves */
            if (seal(w, k, (int64_t) (now_us / level_period_us[LEVEL_HOUR]))
                != 0)
            {
                ps_log(PS_LOG_WARN, "event=windows_seal_failed "
                       "reason=no_memory");
            }

            for (l = 0; l < PS_WIN_COUNT; l++) {
                lv = &k->level[l];
                oldest = (int64_t) (now_us / level_period_us[l])
                         - level_span[l];

                for (drop = 0; drop < lv->n && lv->b[drop].t <= oldest;
                     drop++)
                {
                    ps_win_stats_free(&lv->b[drop].st);
                }

                if (drop > 0) {
                    memmove(lv->b, lv->b + drop,
                            (lv->n - drop) * sizeof(win_bucket_t));
                    lv->n -= drop;
                }

                if (lv->n == 0 && lv->cap > 0) {
                    free(lv->b);
                    lv->b = NULL;
                    lv->cap = 0;
                }

                live |= (lv->n > 0);
            }

            oldest = (int64_t) (now_us / PS_US_PER_SEC) - 60;

            for (drop = 0; drop < k->sec.n && k->sec.b[drop].t <= oldest;
                 drop++)
            {
                ps_hist_free(&k->sec.b[drop].latency);
            }

            if (drop > 0) {
                memmove(k->sec.b, k->sec.b + drop,
                        (k->sec.n - drop) * sizeof(win_sec_t));
                k->sec.n -= drop;
            }

            if (k->sec.n == 0 && k->sec.cap > 0) {
                free(k->sec.b);
                k->sec.b = NULL;
                k->sec.cap = 0;
            }

            live |= (k->sec.n > 0);

            if (!live && k != w->total) {
                key_remove(w, j);
            }
        }
    }

    keys_compact(w);

    for (j = 0; j <= w->cmask; j++) {
        pc = &w->ctable[j];

        while ((c = *pc) != NULL) {
            live = 0;
            for (s = 0; s < CLIENT_SLOTS; s++) {
                if (c->minute[s] > minute - CLIENT_SLOTS && c->count[s]) {
                    live = 1;
                    break;
                }
            }

            if (!live) {
                *pc = c->next;
                free(c);
                w->nclients--;
                continue;
            }

            pc = &c->next;
        }
    }

    fold_old_keys(w, now_us);

    w->quiet_gen = w->gen;
    w->quiet_minute = minute;

    (void) i;
}


/*
 * One key of the 1m window: the second buckets from first on, and as
 * unique clients the union of the key's minute buckets that overlap the
 * window (second buckets keep no clients).  So the 1m unique_clients
 * is exact when the window is one whole minute and otherwise counts the
 * clients of up to 59 seconds before the window too: an upper bound
 * over at most the last two minutes.  Requests, statuses, bytes and
 * latencies stay exact.
 */
static int
foreach_1m(ps_windows_t *w, win_key_t *k, int64_t oldest,
    int64_t first_minute, ps_win_key_fn fn, void *ctx)
{
    win_level_t  *mlv = &k->level[LEVEL_MIN];
    uint32_t      i, m, nm;
    int           rc, borrowed = 0;
    ps_hll_t      own;

    /* buckets are ascending: skip the expired ones */
    for (i = 0; i < k->sec.n && k->sec.b[i].t <= oldest; i++) {
        /* void */
    }

    if (i == k->sec.n) {
        return 0;
    }

    ps_win_stats_reset(&w->scratch);

    for ( /* void */ ; i < k->sec.n; i++) {
        if (sec_merge(&w->scratch, &k->sec.b[i]) != 0) {
            return -1;
        }
    }

    if (w->scratch.counts.requests == 0) {
        return 0;
    }

    for (m = 0; m < mlv->n && mlv->b[m].t < first_minute; m++) {
        /* void */
    }

    nm = mlv->n - m;

    /* seconds keep no flags either: the minutes have them */

    if (nm == 1) {
        /* one minute: lend its clients, no copy (given back below; the
         * scratch's own, empty, may hold an array: set aside) */
        own = w->scratch.clients;
        w->scratch.clients = mlv->b[m].st.clients;
        w->scratch.flags |= mlv->b[m].st.flags;
        borrowed = 1;

    } else {
        for ( /* void */ ; m < mlv->n; m++) {
            w->scratch.flags |= mlv->b[m].st.flags;

            if (ps_hll_merge(&w->scratch.clients, &mlv->b[m].st.clients)
                != 0)
            {
                return -1;
            }
        }
    }

    rc = fn(ctx, k->host, k->hlen, k->method, k->mlen, k->path, k->plen,
            &w->scratch);

    if (borrowed) {
        w->scratch.clients = own;
    }

    return rc;
}


/*
 * One key of the 24h window: its hour buckets after oldest and the
 * minute buckets not sealed into them yet (the current hour's).
 */
static int
foreach_24h(ps_windows_t *w, win_key_t *k, int64_t oldest, ps_win_key_fn fn,
    void *ctx)
{
    win_level_t           *hlv = &k->level[LEVEL_HOUR];
    win_level_t           *mlv = &k->level[LEVEL_MIN];
    const ps_win_stats_t  *one = NULL;
    int64_t                hour;
    uint32_t               i, n = 0;

    for (i = 0; i < hlv->n; i++) {
        if (hlv->b[i].t > oldest) {
            one = &hlv->b[i].st;
            n++;
        }
    }

    for (i = 0; i < mlv->n; i++) {
        hour = mlv->b[i].t / 60;
        if (hour > k->sealed_hour && hour > oldest) {
            one = &mlv->b[i].st;
            n++;
        }
    }

    if (n == 0) {
        return 0;
    }

    if (n > 1) {
        ps_win_stats_reset(&w->scratch);

        for (i = 0; i < hlv->n; i++) {
            if (hlv->b[i].t > oldest
                && ps_win_stats_merge(&w->scratch, &hlv->b[i].st) != 0)
            {
                return -1;
            }
        }

        for (i = 0; i < mlv->n; i++) {
            hour = mlv->b[i].t / 60;
            if (hour > k->sealed_hour && hour > oldest
                && ps_win_stats_merge(&w->scratch, &mlv->b[i].st) != 0)
            {
                return -1;
            }
        }

        one = &w->scratch;     /* else one bucket: no copy */
    }

    if (one->counts.requests == 0) {
        return 0;
    }

    return fn(ctx, k->host, k->hlen, k->method, k->mlen, k->path, k->plen,
              one);
}


int
ps_windows_foreach(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_key_fn fn, void *ctx)
{
    win_key_t             *k;
    win_level_t           *lv;
    const ps_win_stats_t  *st;
    int64_t                oldest, first_minute;
    uint32_t               i, first;
    size_t                 j;
    int                    rc;

    if (win < 0 || win >= PS_WIN_COUNT) {
        return -1;
    }

    oldest = (int64_t) (now_us / level_period_us[win]) - level_span[win];

    /* the minutes that overlap the 1m window: its unique clients */
    first_minute = (oldest + 1) / 60;

    for (j = 0; j < w->nkeys; j++) {
        k = w->keys[j];
        {
            if (win == PS_WIN_24H) {
                rc = foreach_24h(w, k, oldest, fn, ctx);
                if (rc != 0) {
                    return rc;
                }
                continue;
            }

            if (win == PS_WIN_1M) {
                rc = foreach_1m(w, k, oldest, first_minute, fn, ctx);
                if (rc != 0) {
                    return rc;
                }
                continue;
            }

            lv = &k->level[win];

            /* buckets are ascending: skip the expired ones */
            for (first = 0; first < lv->n && lv->b[first].t <= oldest;
                 first++)
            {
                /* void */
            }

            if (first == lv->n) {
                continue;
            }

            if (first == lv->n - 1) {
                st = &lv->b[first].st;     /* one bucket: no copy */

            } else {
                ps_win_stats_reset(&w->scratch);

                for (i = first; i < lv->n; i++) {
                    if (ps_win_stats_merge(&w->scratch, &lv->b[i].st) != 0)
                    {
                        return -1;
                    }
                }

                st = &w->scratch;
            }

            if (st->counts.requests == 0) {
                continue;
            }

            rc = fn(ctx, k->host, k->hlen, k->method, k->mlen, k->path,
                    k->plen, st);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


/* fn's arguments for one key: the stats of window win (see
 * ps_windows_foreach()); 0 when the key has no request in it. */
static int
key_window(ps_windows_t *w, win_key_t *k, int win, uint64_t now_us,
    ps_win_key_fn fn, void *ctx)
{
    win_level_t           *lv;
    const ps_win_stats_t  *st;
    int64_t                oldest;
    uint32_t               i, first;

    oldest = (int64_t) (now_us / level_period_us[win]) - level_span[win];

    if (win == PS_WIN_24H) {
        return foreach_24h(w, k, oldest, fn, ctx);
    }

    if (win == PS_WIN_1M) {
        return foreach_1m(w, k, oldest, (oldest + 1) / 60, fn, ctx);
    }

    lv = &k->level[win];

    for (first = 0; first < lv->n && lv->b[first].t <= oldest; first++) {
        /* void */
    }

    if (first == lv->n) {
        return 0;
    }

    if (first == lv->n - 1) {
        st = &lv->b[first].st;

    } else {
        ps_win_stats_reset(&w->scratch);

        for (i = first; i < lv->n; i++) {
            if (ps_win_stats_merge(&w->scratch, &lv->b[i].st) != 0) {
                return -1;
            }
        }

        st = &w->scratch;
    }

    if (st->counts.requests == 0) {
        return 0;
    }

    return fn(ctx, k->host, k->hlen, k->method, k->mlen, k->path, k->plen,
              st);
}


int
ps_windows_key_stats(ps_windows_t *w, ps_win_key_t *k, int win,
    uint64_t now_us, ps_win_key_fn fn, void *ctx)
{
    if (win < 0 || win >= PS_WIN_COUNT) {
        return -1;
    }

    return key_window(w, k, win, now_us, fn, ctx);
}


int
ps_windows_total(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_key_fn fn, void *ctx)
{
    if (win < 0 || win >= PS_WIN_COUNT) {
        return -1;
    }

    total_settle_now(w);

    return key_window(w, w->total, win, now_us, fn, ctx);
}


#define SCAN_AHEAD  8               /* keys */

/* Starts loading what key_counts() reads of k for window win (the
 * newest seconds, the minutes, the hours) and the key's text, which the
 * caller's choice may compare. */
static void
scan_prefetch(const win_key_t *k, int win)
{
    const win_level_t  *lv;

    if (win == PS_WIN_1M) {
        if (k->sec.n > 0) {
            prefetch_bytes(&k->sec.b[k->sec.n - 1], sizeof(win_sec_t));
            if (k->sec.n > 1) {
                __builtin_prefetch(&k->sec.b[k->sec.n - 2]);
            }
        }
    } else {
        lv = &k->level[win == PS_WIN_24H ? LEVEL_HOUR : LEVEL_MIN];
        if (lv->n > 0) {
            prefetch_bytes(lv->b, sizeof(win_bucket_t));
        }
        lv = &k->level[LEVEL_MIN];
        if (win == PS_WIN_24H && lv->n > 0) {
            prefetch_bytes(lv->b, sizeof(win_bucket_t));
        }
    }

    __builtin_prefetch(k->path);
}


/* The counters of k in window win (no histogram, no clients): what the
 * row selection orders by; first and last seen too. */
static void
key_counts(const win_key_t *k, int win, int64_t oldest, ps_counts_t *c,
    uint64_t *first_us, uint64_t *last_us)
{
    const win_level_t   *lv;
    const win_sec_t     *sb;
    const win_bucket_t  *b;
    uint32_t             i, j;
    int64_t              hour;
    uint64_t             f, l;

    memset(c, 0, sizeof(*c));
    *first_us = 0;
    *last_us = 0;

    if (win == PS_WIN_1M) {
        for (i = k->sec.n; i > 0 && k->sec.b[i - 1].t > oldest; i--) {
            sb = &k->sec.b[i - 1];
            if (sb->requests == 0) {
                continue;
            }
            f = (uint64_t) sb->t * PS_US_PER_SEC + sb->first_off;
            l = (uint64_t) sb->t * PS_US_PER_SEC + sb->last_off;
            if (c->requests == 0 || f < *first_us) {
                *first_us = f;
            }
            if (l > *last_us) {
                *last_us = l;
            }
            c->requests += sb->requests;
            for (j = 0; j < 5; j++) {
                c->status[j] += sb->status[j];
            }
            c->errors += sb->status[4];
            c->bytes_in += sb->bytes_in;
            c->bytes_out += sb->bytes_out;
            c->latency_sum_us += sb->latency_sum_us;
            if (sb->latency_max_us > c->latency_max_us) {
                c->latency_max_us = sb->latency_max_us;
            }
        }
        return;
    }

    for (j = 0; j < 2; j++) {
        if (win == PS_WIN_1H && j == 1) {
            break;
        }

        /* 1h: the minutes; 24h: the hours, then the minutes not sealed */
        lv = win == PS_WIN_1H || j == 1 ? &k->level[LEVEL_MIN]
                                        : &k->level[LEVEL_HOUR];

        for (i = 0; i < lv->n; i++) {
            b = &lv->b[i];

            if (win == PS_WIN_24H && j == 1) {
                hour = b->t / 60;
                if (hour <= k->sealed_hour || hour <= oldest) {
                    continue;
                }
            } else if (b->t <= oldest) {
                continue;
            }

            if (b->st.counts.requests == 0) {
                continue;
            }
            if (c->requests == 0 || b->st.first_seen_us < *first_us) {
                *first_us = b->st.first_seen_us;
            }
            if (b->st.last_seen_us > *last_us) {
                *last_us = b->st.last_seen_us;
            }
            ps_counts_merge(c, &b->st.counts);
        }
    }
}


int
ps_windows_foreach_counts(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_counts_fn fn, void *ctx)
{
    size_t        j;
    int64_t       oldest;
    uint64_t      first, last;
    win_key_t    *k;
    ps_counts_t   c;
    int           rc;

    if (win < 0 || win >= PS_WIN_COUNT) {
        return -1;
    }

    oldest = (int64_t) (now_us / level_period_us[win]) - level_span[win];

    for (j = 0; j < w->nkeys; j++) {
        /* a pass over every key waits for memory at each: the keys a
         * little ahead, and their buckets, are on their way meanwhile */
        if (j + 2 * SCAN_AHEAD < w->nkeys) {
            prefetch_bytes(w->keys[j + 2 * SCAN_AHEAD], sizeof(win_key_t));
        }
        if (j + SCAN_AHEAD < w->nkeys && w->keys[j + SCAN_AHEAD] != NULL) {
            scan_prefetch(w->keys[j + SCAN_AHEAD], win);
        }

        k = w->keys[j];
        key_counts(k, win, oldest, &c, &first, &last);

        if (c.requests == 0) {
            continue;
        }

        rc = fn(ctx, k, &c, first, last);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


void
ps_windows_stamp(ps_windows_t *w, int win, uint64_t now_us,
    ps_win_stamp_t *st)
{
    ps_counts_t  c;
    uint64_t     first, last;
    int64_t      oldest;

    memset(st, 0, sizeof(*st));

    if (win < 0 || win >= PS_WIN_COUNT) {
        return;
    }

    /* every bucket of a key has a request, and the totals have one at
     * the same time: the same requests in the totals' window, and no
     * key's bucket has left it */
    total_settle_now(w);
    if (w->total_short) {
        return;                     /* zeroed: never the same */
    }
    oldest = (int64_t) (now_us / level_period_us[win]) - level_span[win];
    key_counts(w->total, win, oldest, &c, &first, &last);

    st->gen = w->gen;
    st->requests = c.requests;
    st->win = win;
    st->minute = win == PS_WIN_1M ? (oldest + 1) / 60 : 0;
}


int
ps_win_stamp_same(const ps_win_stamp_t *a, const ps_win_stamp_t *b)
{
    return a->gen != 0 && a->gen == b->gen && a->requests == b->requests
           && a->win == b->win && a->minute == b->minute;
}


/* by path, host, method: the order of ps_windows_order() */
int
ps_windows_key_cmp(const ps_win_key_t *a, const ps_win_key_t *b)
{
    return ps_key_text_cmp(a->path, a->plen, a->host, a->hlen, a->method,
                           a->mlen, b->path, b->plen, b->host, b->hlen,
                           b->method, b->mlen);
}


static int
key_text_qcmp(const void *a, const void *b)
{
    return ps_windows_key_cmp(*(win_key_t *const *) a,
                              *(win_key_t *const *) b);
}


/*
 * Places the keys made since the last call in the order: they are sorted
 * among themselves, then each goes to its place by a binary search, so
 * that a call costs m log(n) comparisons for m new keys among n, and
 * nothing when no key came.  Then the keys from the first one that moved
 * learn their new place.
 */
int
ps_windows_order(ps_windows_t *w)
{
    size_t       m, n, i, j, lo, hi, mid, end, first, cap;
    win_key_t  **fresh, **order;

    m = w->nfresh;

    if (m == 0 && w->holes == 0) {
        return 0;
    }

    n = w->norder - w->holes;

    if (n + m > w->order_cap) {
        for (cap = w->order_cap ? w->order_cap : 1024; cap < n + m; cap *= 2) {
            /* void */
        }
        order = realloc(w->order, cap * sizeof(win_key_t *));
        if (order == NULL) {
            return -1;
        }
        w->order = order;
        w->order_cap = cap;
    }

    order = w->order;
    first = w->norder;

    /* the holes close up; the keys before the first stay where they are */
    for (i = 0, j = 0; i < w->norder; i++) {
        if (order[i] == NULL) {
            if (first == w->norder) {
                first = j;
            }
            continue;
        }
        order[j++] = order[i];
    }

    w->norder = j;
    w->holes = 0;

    if (m > 0) {
        /* sorted where they are: keys[] is in no order that anything
         * needs (the fold takes keys of one age as keys[] has them) */
        fresh = &w->keys[w->nkeys - m];
        if (m > 1) {
            qsort(fresh, m, sizeof(win_key_t *), key_text_qcmp);
        }

        /* from the last new key down: it goes after the old keys that
         * sort before it; the old keys after it (not moved yet) move up
         * by the j new keys that sort before them: each moves once */
        end = n;
        for (j = m; j > 0; j--) {
            lo = 0;
            hi = end;
            while (lo < hi) {
                mid = lo + (hi - lo) / 2;
                if (ps_windows_key_cmp(order[mid], fresh[j - 1]) < 0) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }

            memmove(&order[lo + j], &order[lo],
                    (end - lo) * sizeof(win_key_t *));
            order[lo + j - 1] = fresh[j - 1];
            end = lo;
        }

        if (end < first) {
            first = end;
        }

        w->norder = n + m;
        w->nfresh = 0;
    }

    for (i = first; i < w->norder; i++) {
        order[i]->ord = (uint32_t) (i + 1);
    }

    return 0;
}


uint32_t
ps_windows_key_rank(const ps_win_key_t *k)
{
    return k->ord;
}


void
ps_windows_key_text(const ps_win_key_t *k, const char **host, size_t *hlen,
    const char **method, size_t *mlen, const char **path, size_t *plen)
{
    *host = k->host;
    *hlen = k->hlen;
    *method = k->method;
    *mlen = k->mlen;
    *path = k->path;
    *plen = k->plen;
}


size_t
ps_windows_keys(const ps_windows_t *w)
{
    return w->nkeys;
}


uint64_t
ps_windows_folded(const ps_windows_t *w)
{
    return w->folded;
}


uint64_t
ps_windows_overflowed(const ps_windows_t *w)
{
    return w->overflowed;
}


static int
client_cmp(const void *a, const void *b)
{
    const ps_win_client_t  *x = a, *y = b;

    if (x->requests != y->requests) {
        return x->requests > y->requests ? -1 : 1;
    }

    return strcmp(x->client, y->client);
}


size_t
ps_windows_top_clients(ps_windows_t *w, uint64_t now_us,
    ps_win_client_t *out, size_t n, uint64_t *other)
{
    win_client_t     *c;
    ps_win_client_t  *t;
    int64_t           minute;
    uint64_t          sum, rest = 0;
    size_t            j, m = 0, i;
    int               s;

    minute = (int64_t) (now_us / level_period_us[LEVEL_MIN]);

    for (s = 0; s < CLIENT_SLOTS; s++) {
        if (w->cother_minute[s] > minute - CLIENT_SLOTS
            && w->cother_minute[s] <= minute)
        {
            rest += w->cother_count[s];
        }
    }

    if (w->ctop_cap < w->nclients) {
        t = realloc(w->ctop, w->nclients * sizeof(ps_win_client_t));
        if (t == NULL) {
            *other = rest;
            return 0;
        }
        w->ctop = t;
        w->ctop_cap = w->nclients;
    }

    for (j = 0; j <= w->cmask; j++) {
        for (c = w->ctable[j]; c != NULL; c = c->next) {
            sum = 0;
            for (s = 0; s < CLIENT_SLOTS; s++) {
                if (c->minute[s] > minute - CLIENT_SLOTS
                    && c->minute[s] <= minute)
                {
                    sum += c->count[s];
                }
            }
            if (sum > 0 && m < w->ctop_cap) {
                w->ctop[m].client = c->text;
                w->ctop[m].requests = sum;
                m++;
            }
        }
    }

    if (m > 1) {
        qsort(w->ctop, m, sizeof(ps_win_client_t), client_cmp);
    }

    for (i = 0; i < m; i++) {
        if (i < n) {
            out[i] = w->ctop[i];
        } else {
            rest += w->ctop[i].requests;
        }
    }

    *other = rest;

    return m < n ? m : n;
}
