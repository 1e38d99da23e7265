/*
 * The PostgreSQL sink's memory of its rows: see pg_rows.h.
 *
 * One table per hour: rows in an array, an open-addressing index over
 * them (linear probing, at most half full; a slot is the row's position
 * + 1, 0 = free), and the key bytes in one growing arena addressed by
 * offset.  Rows are looked up by the aggregation table's (hour, key)
 * hash and then compared byte for byte, so two keys never share a row.
 */

#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_rows.h"

typedef struct {
    uint64_t   hash;                /* ps_agg_entry_t.hash */
    uint32_t   key;                 /* offset of host, method, path */
    uint32_t   hlen;
    uint32_t   mlen;
    uint32_t   plen;
    ps_hist_t  hist;
} pg_row_t;

typedef struct {
    int64_t    hour;
    int        used;
    int        complete;
    pg_row_t  *rows;
    size_t     n, cap;
    uint32_t  *index;               /* position + 1, 0 = free */
    size_t     index_size;          /* power of two, or 0 */
    char      *text;                /* key bytes */
    size_t     text_len, text_cap;
} pg_hour_t;

struct ps_pg_rows_s {
    int64_t    start_hour;
    int64_t    keep_from;
    int64_t    forgot;              /* the latest hour whose rows were
                                       forgotten: never complete again */
    int        cleared;             /* nothing complete since a clear */
    pg_hour_t  hours[PS_PG_ROWS_HOURS];
};


static void
hour_free(pg_hour_t *h)
{
    size_t  i;

    for (i = 0; i < h->n; i++) {
        ps_hist_free(&h->rows[i].hist);
    }

    free(h->rows);
    free(h->index);
    free(h->text);
    memset(h, 0, sizeof(*h));
}


/* Frees h, remembering that its hour's rows are no longer all here. */
static void
hour_forget(ps_pg_rows_t *r, pg_hour_t *h)
{
    if (h->used && h->hour > r->forgot) {
        r->forgot = h->hour;
    }

    hour_free(h);
}


ps_pg_rows_t *
ps_pg_rows_create(int64_t start_hour)
{
    ps_pg_rows_t  *r;

    r = calloc(1, sizeof(ps_pg_rows_t));
    if (r == NULL) {
        return NULL;
    }

    r->start_hour = start_hour;
    r->keep_from = INT64_MIN;
    r->forgot = INT64_MIN;

    return r;
}


void
ps_pg_rows_destroy(ps_pg_rows_t *r)
{
    unsigned  i;

    if (r == NULL) {
        return;
    }

    for (i = 0; i < PS_PG_ROWS_HOURS; i++) {
        hour_free(&r->hours[i]);
    }

    free(r);
}


void
ps_pg_rows_clear(ps_pg_rows_t *r)
{
    unsigned  i;

    for (i = 0; i < PS_PG_ROWS_HOURS; i++) {
        hour_free(&r->hours[i]);
    }

    /* whatever was written behind our back may be in any hour */
    r->cleared = 1;
}


void
ps_pg_rows_keep_from(ps_pg_rows_t *r, int64_t hour)
{
    unsigned  i;

    r->keep_from = hour;

    for (i = 0; i < PS_PG_ROWS_HOURS; i++) {
        if (r->hours[i].used && r->hours[i].hour < hour) {
            hour_forget(r, &r->hours[i]);
        }
    }
}


static pg_hour_t *
hour_find(const ps_pg_rows_t *r, int64_t hour)
{
    unsigned  i;

    for (i = 0; i < PS_PG_ROWS_HOURS; i++) {
        if (r->hours[i].used && r->hours[i].hour == hour) {
            return (pg_hour_t *) &r->hours[i];
        }
    }

    return NULL;
}


/* The table of hour, created (replacing the oldest) if needed; NULL
 * when hour is not kept. */
static pg_hour_t *
hour_get(ps_pg_rows_t *r, int64_t hour)
{
    unsigned    i;
    pg_hour_t  *h, *oldest = NULL;

    h = hour_find(r, hour);
    if (h != NULL) {
        return h;
    }

    if (hour < r->keep_from) {
        return NULL;
    }

    for (i = 0; i < PS_PG_ROWS_HOURS; i++) {
        h = &r->hours[i];
        if (!h->used) {
            oldest = h;
            break;
        }
        if (oldest == NULL || h->hour < oldest->hour) {
            oldest = h;
        }
    }

    if (oldest->used && oldest->hour > hour) {
        return NULL;
    }

    hour_forget(r, oldest);
    oldest->used = 1;
    oldest->hour = hour;
    oldest->complete = !r->cleared && hour > r->start_hour
                       && hour > r->forgot;

    return oldest;
}


int
ps_pg_rows_complete(const ps_pg_rows_t *r, int64_t hour)
{
    const pg_hour_t  *h;

    h = hour_find(r, hour);
    if (h != NULL) {
        return h->complete;
    }

    /* an hour not met yet is complete if it began after the start (and
     * it will be kept, or nothing can be known about it) */
    return !r->cleared && hour > r->start_hour && hour > r->forgot
           && hour >= r->keep_from;
}


void
ps_pg_rows_set_complete(ps_pg_rows_t *r, int64_t hour)
{
    pg_hour_t  *h;

    h = hour_get(r, hour);
    if (h != NULL) {
        h->complete = 1;
    }
}


int
ps_pg_rows_kept(const ps_pg_rows_t *r, int64_t hour)
{
    return hour >= r->keep_from;
}


static int
row_is(const pg_hour_t *h, const pg_row_t *row, const ps_agg_entry_t *e)
{
    const char  *k = h->text + row->key;

    return row->hash == e->hash && row->plen == e->path_len
           && row->hlen == e->host_len && row->mlen == e->method_len
           && memcmp(k + row->hlen + row->mlen, e->path, e->path_len) == 0
           && memcmp(k, e->host, e->host_len) == 0
           && memcmp(k + row->hlen, e->method, e->method_len) == 0;
}


/* The index slot of e's row, or the free slot where it would go. */
static size_t
slot_of(const pg_hour_t *h, const ps_agg_entry_t *e)
{
    size_t  mask, i;

    mask = h->index_size - 1;

    for (i = e->hash & mask; h->index[i] != 0; i = (i + 1) & mask) {
        if (row_is(h, &h->rows[h->index[i] - 1], e)) {
            break;
        }
    }

    return i;
}


static pg_row_t *
row_find(const pg_hour_t *h, const ps_agg_entry_t *e)
{
    size_t  i;

    if (h->index_size == 0) {
        return NULL;
    }

    i = slot_of(h, e);

    return h->index[i] ? &h->rows[h->index[i] - 1] : NULL;
}


const ps_hist_t *
ps_pg_rows_find(ps_pg_rows_t *r, const ps_agg_entry_t *e)
{
    pg_hour_t  *h;
    pg_row_t   *row;

    h = hour_find(r, e->hour);
    if (h == NULL) {
        return NULL;
    }

    row = row_find(h, e);

    return row ? &row->hist : NULL;
}


/* Room for one more row in h (array, index and n key bytes); 0 or -1. */
static int
hour_reserve(pg_hour_t *h, size_t n)
{
    size_t     i, cap, size, mask, j;
    char      *text;
    pg_row_t  *rows;
    uint32_t  *index;

    if (h->n == h->cap) {
        cap = h->cap ? 2 * h->cap : 256;
        if (cap >= UINT32_MAX) {
            return -1;
        }
        rows = realloc(h->rows, cap * sizeof(pg_row_t));
        if (rows == NULL) {
            return -1;
        }
        h->rows = rows;
        h->cap = cap;
    }

    if (h->text_cap - h->text_len < n) {
        cap = h->text_cap ? 2 * h->text_cap : 16384;
        while (cap - h->text_len < n) {
            cap *= 2;
        }
        if (cap > UINT32_MAX) {
            return -1;
        }
        text = realloc(h->text, cap);
        if (text == NULL) {
            return -1;
        }
        h->text = text;
        h->text_cap = cap;
    }

    if (2 * (h->n + 1) > h->index_size) {
        size = h->index_size ? 2 * h->index_size : 512;
        index = calloc(size, sizeof(uint32_t));
        if (index == NULL) {
            return -1;
        }
        mask = size - 1;
        for (i = 0; i < h->n; i++) {
            for (j = h->rows[i].hash & mask; index[j] != 0;
                 j = (j + 1) & mask)
            {
                /* linear probing */
            }
            index[j] = (uint32_t) (i + 1);
        }
        free(h->index);
        h->index = index;
        h->index_size = size;
    }

    return 0;
}


/* e's row in its hour, created empty if new; NULL when the hour is not
 * kept or memory ran out. */
static pg_row_t *
row_get(ps_pg_rows_t *r, const ps_agg_entry_t *e)
{
    size_t      i, len;
    char       *k;
    pg_hour_t  *h;
    pg_row_t   *row;

    h = hour_get(r, e->hour);
    if (h == NULL) {
        return NULL;
    }

    row = row_find(h, e);
    if (row != NULL) {
        return row;
    }

    len = (size_t) e->host_len + e->method_len + e->path_len;

    if (hour_reserve(h, len) != 0) {
        return NULL;
    }

    row = &h->rows[h->n];
    row->hash = e->hash;
    row->key = (uint32_t) h->text_len;
    row->hlen = e->host_len;
    row->mlen = e->method_len;
    row->plen = e->path_len;
    ps_hist_init(&row->hist);

    k = h->text + h->text_len;
    memcpy(k, e->host, e->host_len);
    memcpy(k + e->host_len, e->method, e->method_len);
    memcpy(k + e->host_len + e->method_len, e->path, e->path_len);
    h->text_len += len;

    i = slot_of(h, e);
    h->index[i] = (uint32_t) (h->n + 1);
    h->n++;

    return row;
}


int
ps_pg_rows_put(ps_pg_rows_t *r, const ps_agg_entry_t *e, const uint8_t *buf,
    size_t len)
{
    pg_row_t  *row;

    row = row_get(r, e);
    if (row == NULL) {
        return -1;
    }

    ps_hist_reset(&row->hist);

    if (buf != NULL && ps_hist_decode(&row->hist, buf, len) != 0) {
        /* not ours to repair: the row counts on from what it has */
        ps_hist_reset(&row->hist);
    }

    return 0;
}


int
ps_pg_rows_commit(ps_pg_rows_t *r, const ps_agg_entry_t *e)
{
    pg_row_t  *row;

    if (hour_get(r, e->hour) == NULL) {
        return 0;                       /* an hour not kept */
    }

    row = row_get(r, e);

    if (row == NULL || ps_hist_merge(&row->hist, &e->latency) != 0) {
        ps_pg_rows_clear(r);
        return -1;
    }

    return 0;
}


size_t
ps_pg_rows_count(const ps_pg_rows_t *r)
{
    size_t    n;
    unsigned  i;

    for (i = 0, n = 0; i < PS_PG_ROWS_HOURS; i++) {
        n += r->hours[i].n;
    }

    return n;
}


size_t
ps_pg_rows_memory(const ps_pg_rows_t *r)
{
    size_t            bytes, j;
    unsigned          i;
    const pg_hour_t  *h;

    bytes = sizeof(*r);

    for (i = 0; i < PS_PG_ROWS_HOURS; i++) {
        h = &r->hours[i];
        bytes += h->cap * sizeof(pg_row_t) + h->index_size * sizeof(uint32_t)
                 + h->text_cap;
        for (j = 0; j < h->n; j++) {
            bytes += ps_hist_mem(&h->rows[j].hist);
        }
    }

    return bytes;
}
