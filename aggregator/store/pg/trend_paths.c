/*
 * Per-path trends: see trend_paths.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/histogram.h"
#include "lib/key_hash.h"
#include "lib/log.h"
#include "store/pg/trend_paths.h"
#include "store/pg/trends.h"

#define HOUR_S  3600

/* the rows of pathstats_hourly of the paths in $1..$3 (ordinality = the
 * index in this query's list, from 1) from the hour $4 on */
static const char  paths_sql[] =
    "SELECT extract(epoch FROM h.hour)::bigint, k.i, h.requests, h.errors,"
    " h.latency_hist"
    " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY"
    " AS k(host, method, path, i)"
    " JOIN pathstats_hourly h ON h.host = k.host AND h.method = k.method"
    " AND h.path = k.path"
    " WHERE h.hour >= to_timestamp($4)";

typedef struct {
    int64_t     hour;
    uint64_t    requests;
    uint64_t    errors;
    ps_hist_t   hist;
} tp_hour_t;

typedef struct {
    char       *text;               /* host, method, path */
    uint32_t    hlen, mlen, plen;
    uint64_t    hash;
    tp_hour_t  *hours;              /* non-empty ones, ascending */
    size_t      n, cap;
    int         loaded;
    int         added;              /* new in ps_trend_paths_apply() */
} tp_key_t;

struct ps_trend_paths_s {
    tp_key_t         *keys;         /* the set, in the order given */
    size_t            n;
    ps_trend_hour_t  *dense;        /* render scratch */
    size_t            dense_n;
};


/* packed lists: each string as a 32-bit length and its bytes */

static int
put_str(ps_buf_t *b, const char *s, uint32_t len)
{
    return ps_buf_append(b, &len, sizeof(len)) != 0
           || ps_buf_append(b, s, len) != 0 ? -1 : 0;
}


static int
get_str(const ps_buf_t *b, size_t *pos, const char **s, uint32_t *len)
{
    if (b->len - *pos < sizeof(uint32_t)) {
        return -1;
    }

    memcpy(len, b->data + *pos, sizeof(uint32_t));
    *pos += sizeof(uint32_t);

    if (b->len - *pos < *len) {
        return -1;
    }

    *s = b->data + *pos;
    *pos += *len;

    return 0;
}


int
ps_trend_keys_add(ps_buf_t *b, const ps_trend_key_t *key)
{
    return put_str(b, key->host, key->hlen) != 0
           || put_str(b, key->method, key->mlen) != 0
           || put_str(b, key->path, key->plen) != 0 ? -1 : 0;
}


int
ps_trend_keys_next(const ps_buf_t *b, size_t *pos, ps_trend_key_t *key)
{
    if (*pos >= b->len) {
        return 0;
    }

    return get_str(b, pos, &key->host, &key->hlen) != 0
           || get_str(b, pos, &key->method, &key->mlen) != 0
           || get_str(b, pos, &key->path, &key->plen) != 0 ? -1 : 1;
}


int
ps_trend_paths_next(const ps_buf_t *b, size_t *pos,
    ps_trend_path_json_t *out)
{
    int  r, rc;

    rc = ps_trend_keys_next(b, pos, &out->key);
    if (rc != 1) {
        return rc;
    }

    for (r = 0; r < PS_TREND_RANGES; r++) {
        if (get_str(b, pos, &out->json[r], &out->jlen[r]) != 0) {
            return -1;
        }
    }

    return 1;
}


ps_trend_paths_t *
ps_trend_paths_create(void)
{
    return calloc(1, sizeof(ps_trend_paths_t));
}


static void
key_free(tp_key_t *k)
{
    size_t  i;

    for (i = 0; i < k->n; i++) {
        ps_hist_free(&k->hours[i].hist);
    }

    free(k->hours);
    free(k->text);
}


void
ps_trend_paths_destroy(ps_trend_paths_t *p)
{
    size_t  i;

    if (p == NULL) {
        return;
    }

    for (i = 0; i < p->n; i++) {
        key_free(&p->keys[i]);
    }

    free(p->keys);
    free(p->dense);
    free(p);
}


static int
key_is(const tp_key_t *k, uint64_t hash, const ps_trend_key_t *w)
{
    return k->hash == hash && k->hlen == w->hlen && k->mlen == w->mlen
           && k->plen == w->plen
           && memcmp(k->text, w->host, w->hlen) == 0
           && memcmp(k->text + w->hlen, w->method, w->mlen) == 0
           && memcmp(k->text + w->hlen + w->mlen, w->path, w->plen) == 0;
}


int
ps_trend_paths_apply(ps_trend_paths_t *p, const ps_buf_t *keys)
{
    ps_trend_key_t   w;
    tp_key_t        *next = NULL, *k;
    size_t          *index = NULL, mask, pos, n = 0, cap, i, j;
    uint64_t         hash;
    const char      *reason = "no_memory";
    int              rc;

    /* the keys now held, by hash: open addressing, n + 1 = empty */

    for (mask = 15; mask < 2 * p->n; mask = 2 * mask + 1) {
        /* void */
    }

    index = malloc((mask + 1) * sizeof(size_t));
    if (index == NULL) {
        goto fail;
    }

    for (i = 0; i <= mask; i++) {
        index[i] = p->n + 1;
    }

    for (i = 0; i < p->n; i++) {
        for (j = p->keys[i].hash & mask; index[j] != p->n + 1;
             j = (j + 1) & mask)
        {
            /* void */
        }
        index[j] = i;
    }

    n = 0;
    cap = 0;
    pos = 0;

    while ((rc = ps_trend_keys_next(keys, &pos, &w)) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            k = realloc(next, cap * sizeof(tp_key_t));
            if (k == NULL) {
                goto fail;
            }
            next = k;
        }

        hash = ps_key_hash(w.host, w.hlen, w.method, w.mlen, w.path, w.plen);

        for (j = hash & mask; index[j] != p->n + 1; j = (j + 1) & mask) {
            if (index[j] != p->n && key_is(&p->keys[index[j]], hash, &w)) {
                break;
            }
        }

        if (index[j] != p->n + 1) {
            /* a path that stays: moved with its hours */
            next[n++] = p->keys[index[j]];
            index[j] = p->n;
            continue;
        }

        k = &next[n];
        memset(k, 0, sizeof(*k));

        k->text = malloc((size_t) w.hlen + w.mlen + w.plen + 1);
        if (k->text == NULL) {
            goto fail;
        }

        memcpy(k->text, w.host, w.hlen);
        memcpy(k->text + w.hlen, w.method, w.mlen);
        memcpy(k->text + w.hlen + w.mlen, w.path, w.plen);
        k->hlen = w.hlen;
        k->mlen = w.mlen;
        k->plen = w.plen;
        k->hash = hash;
        k->added = 1;
        n++;
    }

    if (rc != 0) {
        reason = "bad_key_list";
        goto fail;
    }

    /* the paths that left the set; p->n marks the moved ones */

    for (j = 0; j <= mask; j++) {
        if (index[j] < p->n) {
            key_free(&p->keys[index[j]]);
        }
    }

    for (i = 0; i < n; i++) {
        next[i].added = 0;
    }

    free(p->keys);
    free(index);

    p->keys = next;
    p->n = n;

    return 0;

fail:

    /* the set is unchanged: only what was added goes */
    for (i = 0; i < n; i++) {
        if (next[i].added) {
            free(next[i].text);
        }
    }

    free(next);
    free(index);
    ps_log(PS_LOG_WARN, "event=trends_failed reason=%s", reason);

    return -1;
}


int
ps_trend_paths_pending(const ps_trend_paths_t *p)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        if (!p->keys[i].loaded) {
            return 1;
        }
    }

    return 0;
}


/* Drops the hours of k before from (or from from on, when after). */
static void
key_cut(tp_key_t *k, int64_t from, int after)
{
    size_t  i, o;

    for (i = 0, o = 0; i < k->n; i++) {
        if ((k->hours[i].hour >= from) == (after != 0)) {
            ps_hist_free(&k->hours[i].hist);
            continue;
        }
        k->hours[o++] = k->hours[i];
    }

    k->n = o;
}


static int
hour_cmp(const void *a, const void *b)
{
    const tp_hour_t  *x = a, *y = b;

    return (x->hour > y->hour) - (x->hour < y->hour);
}


/* Sorts k's hours and sums the rows of one hour (one per node) into
 * one; 0, or -1 if memory ran out. */
static int
hours_merge(tp_key_t *k)
{
    size_t  i, j;
    int     rc = 0;

    if (k->n < 2) {
        return 0;
    }

    qsort(k->hours, k->n, sizeof(tp_hour_t), hour_cmp);

    for (i = 1, j = 0; i < k->n; i++) {
        if (k->hours[i].hour != k->hours[j].hour) {
            k->hours[++j] = k->hours[i];
            continue;
        }

        k->hours[j].requests += k->hours[i].requests;
        k->hours[j].errors += k->hours[i].errors;
        if (ps_hist_merge(&k->hours[j].hist, &k->hours[i].hist) != 0) {
            rc = -1;
        }
        ps_hist_free(&k->hours[i].hist);
    }

    k->n = j + 1;

    return rc;
}


/* Appends the array literal {"a","b"} of one part of keys to b. */
static int
array_literal(ps_buf_t *b, tp_key_t **keys, size_t n, int part)
{
    const char  *s;
    uint32_t     len, j;
    size_t       i;

    if (ps_buf_putc(b, '{') != 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        s = keys[i]->text;
        len = keys[i]->hlen;

        if (part > 0) {
            s += keys[i]->hlen;
            len = keys[i]->mlen;
        }

        if (part > 1) {
            s += keys[i]->mlen;
            len = keys[i]->plen;
        }

        if ((i && ps_buf_putc(b, ',') != 0) || ps_buf_putc(b, '"') != 0) {
            return -1;
        }

        for (j = 0; j < len; j++) {
            if (((s[j] == '"' || s[j] == '\\') && ps_buf_putc(b, '\\') != 0)
                || ps_buf_putc(b, s[j]) != 0)
            {
                return -1;
            }
        }

        if (ps_buf_putc(b, '"') != 0) {
            return -1;
        }
    }

    return ps_buf_putc(b, '}');
}


/* Loads the hours from "from" on of keys[0..n) (cut first); 0 or -1. */
static int
load(PGconn *conn, tp_key_t **keys, size_t n, int64_t from)
{
    const char      *params[4];
    ps_buf_t         arr[3] = { PS_BUF_INIT, PS_BUF_INIT, PS_BUF_INIT };
    PGresult        *res;
    tp_key_t        *k;
    tp_hour_t       *h;
    unsigned char   *bytes;
    size_t           i, blen, cap;
    int64_t          idx;
    char             since[32], err[300];
    int              part, rc = -1, failed = 0;

    if (n == 0) {
        return 0;
    }

    for (part = 0; part < 3; part++) {
        if (array_literal(&arr[part], keys, n, part) != 0
            || ps_buf_putc(&arr[part], '\0') != 0)
        {
            goto done;
        }
        params[part] = arr[part].data;
    }

    snprintf(since, sizeof(since), "%lld", (long long) from);
    params[3] = since;

    for (i = 0; i < n; i++) {
        key_cut(keys[i], from, 1);
    }

    if (!PQsendQueryParams(conn, paths_sql, 4, NULL, params, NULL, NULL, 0)
        || !PQsetSingleRowMode(conn))
    {
        ps_log(PS_LOG_WARN, "event=trends_failed reason=query error=%s",
               ps_log_quote(err, sizeof(err), PQerrorMessage(conn)));
        goto done;
    }

    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
            idx = strtoll(PQgetvalue(res, 0, 1), NULL, 10);

            if (idx >= 1 && (size_t) idx <= n) {
                k = keys[idx - 1];

                if (k->n == k->cap) {
                    cap = k->cap ? 2 * k->cap : 8;
                    h = realloc(k->hours, cap * sizeof(tp_hour_t));
                    if (h == NULL) {
                        failed = 1;
                        PQclear(res);
                        continue;
                    }
                    k->hours = h;
                    k->cap = cap;
                }

                h = &k->hours[k->n++];
                h->hour = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                h->requests = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
                h->errors = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
                ps_hist_init(&h->hist);

                if (!PQgetisnull(res, 0, 4)) {
                    bytes = PQunescapeBytea((const unsigned char *)
                                            PQgetvalue(res, 0, 4), &blen);
                    if (bytes != NULL) {
                        (void) ps_hist_decode(&h->hist, bytes, blen);
                        PQfreemem(bytes);
                    }
                }
            }

        } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            ps_log(PS_LOG_WARN, "event=trends_failed reason=query error=%s",
                   ps_log_quote(err, sizeof(err),
                                PQresultErrorMessage(res)));
            failed = 1;
        }

        PQclear(res);
    }

    /* a row per node and hour: the fleet's hour is their sum */
    for (i = 0; i < n; i++) {
        if (hours_merge(keys[i]) != 0) {
            failed = 1;
        }
    }

    if (failed) {
        goto done;
    }

    rc = 0;

done:

    for (part = 0; part < 3; part++) {
        ps_buf_free(&arr[part]);
    }

    return rc;
}


int
ps_trend_paths_refresh(ps_trend_paths_t *p, PGconn *conn, int64_t first_hour,
    int64_t recent_from)
{
    tp_key_t  **fresh, **old;
    size_t      i, nf = 0, no = 0;
    int         rc = 0;

    if (p->n == 0) {
        return 0;
    }

    fresh = malloc(2 * p->n * sizeof(tp_key_t *));
    if (fresh == NULL) {
        return -1;
    }

    old = fresh + p->n;

    for (i = 0; i < p->n; i++) {
        key_cut(&p->keys[i], first_hour, 0);

        if (p->keys[i].loaded) {
            old[no++] = &p->keys[i];
        } else {
            fresh[nf++] = &p->keys[i];
        }
    }

    if (load(conn, fresh, nf, first_hour) == 0) {
        for (i = 0; i < nf; i++) {
            fresh[i]->loaded = 1;
        }

    } else {
        rc = -1;
    }

    if (recent_from != 0 && load(conn, old, no, recent_from) != 0) {
        rc = -1;
    }

    free(fresh);

    return rc;
}


int
ps_trend_paths_render(ps_trend_paths_t *p, int64_t first_hour,
    size_t nhours, ps_buf_t *out)
{
    ps_trend_hour_t  *d;
    tp_key_t         *k;
    size_t            i, j, at;
    uint32_t          len;
    int               r;

    ps_buf_reset(out);

    if (p->dense_n < nhours) {
        d = realloc(p->dense, nhours * sizeof(ps_trend_hour_t));
        if (d == NULL) {
            return -1;
        }
        p->dense = d;
        p->dense_n = nhours;
    }

    /* empty hours are zero: no requests, an empty histogram */
    memset(p->dense, 0, nhours * sizeof(ps_trend_hour_t));

    for (i = 0; i < p->n; i++) {
        k = &p->keys[i];

        /* the key's hours lent to the dense array (taken back below) */
        for (j = 0; j < k->n; j++) {
            if (k->hours[j].hour < first_hour) {
                continue;
            }
            at = (size_t) ((k->hours[j].hour - first_hour) / HOUR_S);
            if (at < nhours) {
                p->dense[at].requests = k->hours[j].requests;
                p->dense[at].errors = k->hours[j].errors;
                p->dense[at].hist = k->hours[j].hist;
            }
        }

        if (put_str(out, k->text, k->hlen) != 0
            || put_str(out, k->text + k->hlen, k->mlen) != 0
            || put_str(out, k->text + k->hlen + k->mlen, k->plen) != 0)
        {
            return -1;
        }

        for (r = 0; r < PS_TREND_RANGES; r++) {
            /* the length is known afterwards: written over a placeholder */
            at = out->len;
            len = 0;
            if (ps_buf_append(out, &len, sizeof(len)) != 0
                || ps_trends_render(p->dense, nhours, first_hour, r, out)
                   != 0)
            {
                return -1;
            }
            len = (uint32_t) (out->len - at - sizeof(len));
            memcpy(out->data + at, &len, sizeof(len));
        }

        memset(p->dense, 0, nhours * sizeof(ps_trend_hour_t));
    }

    return 0;
}
