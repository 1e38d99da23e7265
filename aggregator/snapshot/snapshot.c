/*
 * Snapshot writer: see snapshot.h and include/pathstats_snapshot.h.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg/alerts.h"
#include "agg/agg_table.h"
#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/json_escape.h"
#include "lib/log.h"
#include "snapshot/metrics.h"
#include "pathstats_snapshot.h"
#include "snapshot/snapshot.h"
#include "lib/strbuf.h"

#ifndef PATHSTATS_VERSION
#define PATHSTATS_VERSION  "unknown"
#endif

/* sections: blob, 3 rows, 18 orders, 3 window infos, summary, 3 trends,
 * metrics, health */
#define NSECTIONS  (1 + PS_SNAP_WINDOWS * (2 + PS_SNAP_SORTS) + 1 \
                    + PS_SNAP_RANGES + 2)

static const char *const  window_names[PS_SNAP_WINDOWS] = {
    "1m", "1h", "24h"
};

static const double  window_seconds[PS_SNAP_WINDOWS] = {
    60, 3600, 86400
};

typedef struct {
    const char  *host;
    const char  *method;
    const char  *path;
    uint32_t     hlen, mlen, plen;
    uint32_t     le_at;                /* 24h: its le[] in the window's */
    uint64_t     requests;
    uint64_t     errors;
    uint64_t     status[5];
    uint64_t     bytes_in;
    uint64_t     bytes_out;
    uint64_t     latency_sum_us;
    uint64_t     latency_max_us;
    uint64_t     first_us;
    uint64_t     last_us;
    double       p50, p95, p99;        /* us, capped at the max */
    uint64_t     unique;
} snap_row_t;

typedef struct {
    snap_row_t      *rows;             /* most requested first */
    size_t           n;
    size_t           cap;
    uint64_t        *le;               /* 24h: PS_HIST_PROM_NLE per row,
                                          apart: 88 bytes a row less */
    size_t           le_cap;           /* rows */
    size_t           total_rows;       /* keys in the window */
    struct {                           /* the keys beyond the rows kept */
        uint64_t     requests, errors, bytes_in, bytes_out;
        uint64_t     latency_sum_us;
        uint64_t     status[5];
        uint64_t     le[PS_HIST_PROM_NLE];
    } rest;
    ps_win_stats_t   total;
    int              shrunk;           /* rows cut to fit the buffer */
} snap_window_t;

struct ps_snapshot_s {
    const ps_config_t  *cfg;
    ps_windows_t       *w;
    ps_alerts_t        *alerts;
    ps_trends_t        *trends_src;
    snap_window_t       win[PS_SNAP_WINDOWS];
    ps_buf_t            trends[PS_SNAP_RANGES];
    uint64_t            sequence;
    double              last_gen_seconds;
    int                 shrink_logged;

    /* scratch reused per build */
    ps_buf_t            blob;
    ps_buf_t            text;
    uint32_t           *order;
    size_t              order_cap;
    ps_snap_row_t      *prow[PS_SNAP_WINDOWS];
    size_t              fit[PS_SNAP_WINDOWS];  /* rows that fit, when
                                                  the last build shrank */
    size_t              top;               /* metrics' paths this build */
    size_t              fit_top;           /* those that fit, when the
                                              last build shrank them */
    uint32_t           *porder[PS_SNAP_WINDOWS][PS_SNAP_SORTS];
    uint64_t           *out;               /* 8-byte aligned */
    size_t              out_cap;
};

typedef struct {
    ps_snapshot_t  *s;
    int             win;
    uint64_t        now_us;
} collect_ctx_t;

static int row_by_requests(const void *a, const void *b);
static size_t rows_needed(const ps_snapshot_t *s);
static void row_swap(snap_row_t *a, snap_row_t *b);


ps_snapshot_t *
ps_snapshot_create(const ps_config_t *cfg, ps_windows_t *w)
{
    ps_snapshot_t      *s;
    ps_alert_limits_t   lim;
    int                 i;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        goto fail;
    }

    s->cfg = cfg;
    s->w = w;

    ps_alert_limits_from_config(&lim, cfg);
    s->alerts = ps_alerts_create(&lim);
    if (s->alerts == NULL) {
        goto fail;
    }

    for (i = 0; i < PS_SNAP_WINDOWS; i++) {
        ps_win_stats_init(&s->win[i].total);
    }

    for (i = 0; i < PS_SNAP_RANGES; i++) {
        if (ps_buf_puts(&s->trends[i], "[]") != 0) {
            goto fail;
        }
    }

    return s;

fail:

    ps_log(PS_LOG_ERROR, "event=snapshot_create_failed reason=no_memory");
    ps_snapshot_destroy(s);
    return NULL;
}


void
ps_snapshot_destroy(ps_snapshot_t *s)
{
    int  i, k;

    if (s == NULL) {
        return;
    }

    ps_alerts_destroy(s->alerts);

    for (i = 0; i < PS_SNAP_WINDOWS; i++) {
        free(s->win[i].rows);
        free(s->win[i].le);
        ps_win_stats_free(&s->win[i].total);
        free(s->prow[i]);
        for (k = 0; k < PS_SNAP_SORTS; k++) {
            free(s->porder[i][k]);
        }
    }

    for (i = 0; i < PS_SNAP_RANGES; i++) {
        ps_buf_free(&s->trends[i]);
    }

    ps_buf_free(&s->blob);
    ps_buf_free(&s->text);
    free(s->order);
    free(s->out);
    free(s);
}


int
ps_snapshot_set_trends(ps_snapshot_t *s, int range, const char *json,
    size_t len)
{
    if (range < 0 || range >= PS_SNAP_RANGES) {
        return -1;
    }

    ps_buf_reset(&s->trends[range]);

    return ps_buf_append(&s->trends[range], json, len);
}


void
ps_snapshot_use_trends(ps_snapshot_t *s, ps_trends_t *t)
{
    s->trends_src = t;
}


static void
take_trends(ps_snapshot_t *s)
{
    int  r;

    if (s->trends_src == NULL
        || ps_trends_take(s->trends_src, s->trends, PS_SNAP_RANGES) >= 0)
    {
        return;
    }

    for (r = 0; r < PS_SNAP_RANGES; r++) {
        ps_buf_reset(&s->trends[r]);
        (void) ps_buf_puts(&s->trends[r], "[]");
    }
}


/* collecting the windows ------------------------------------------------ */

static double
capped_percentile(const ps_hist_t *h, double q, uint64_t max_us)
{
    double  v = ps_hist_percentile(h, q);

    return v > (double) max_us ? (double) max_us : v;
}


/* The keys beyond the rows kept count in the window's rest. */
static void
rest_add(snap_window_t *sw, const snap_row_t *r, const uint64_t *le)
{
    int  i;

    sw->rest.requests += r->requests;
    sw->rest.errors += r->errors;
    sw->rest.bytes_in += r->bytes_in;
    sw->rest.bytes_out += r->bytes_out;
    sw->rest.latency_sum_us += r->latency_sum_us;
    for (i = 0; i < 5; i++) {
        sw->rest.status[i] += r->status[i];
    }
    for (i = 0; le != NULL && i < PS_HIST_PROM_NLE; i++) {
        sw->rest.le[i] += le[i];
    }
}


/* rows[] is a heap while collecting: every row sorts before its
 * parent, so the root is the row that sorts last (the one to drop) */
static void
heap_up(snap_row_t *rows, size_t i)
{
    size_t  p;

    while (i > 0) {
        p = (i - 1) / 2;
        if (row_by_requests(&rows[i], &rows[p]) <= 0) {
            break;
        }
        row_swap(&rows[i], &rows[p]);
        i = p;
    }
}


static void
heap_down(snap_row_t *rows, size_t n, size_t i)
{
    size_t  l, w;

    for ( ;; ) {
        l = 2 * i + 1;
        w = i;
        if (l < n && row_by_requests(&rows[l], &rows[w]) > 0) {
            w = l;
        }
        if (l + 1 < n && row_by_requests(&rows[l + 1], &rows[w]) > 0) {
            w = l + 1;
        }
        if (w == i) {
            return;
        }
        row_swap(&rows[i], &rows[w]);
        i = w;
    }
}


/*
 * Keeps r (and its le, 24h only) if it is among the keep most requested
 * rows so far, else adds it (or the row it pushes out) to the rest: the
 * rows take keep x their size, not the number of keys.
 */
static int
row_keep(snap_window_t *sw, const snap_row_t *r, const uint64_t *le,
    size_t keep)
{
    snap_row_t  *rows;
    uint64_t    *l;
    size_t       cap, at;

    if (sw->n < keep) {
        if (sw->n == sw->cap) {
            cap = sw->cap ? sw->cap * 2 : 256;
            cap = cap < keep ? cap : keep;
            rows = realloc(sw->rows, cap * sizeof(snap_row_t));
            if (rows == NULL) {
                return -1;
            }
            sw->rows = rows;
            sw->cap = cap;
        }

        if (le != NULL && sw->le_cap < sw->cap) {
            l = realloc(sw->le, sw->cap * PS_HIST_PROM_NLE
                                * sizeof(uint64_t));
            if (l == NULL) {
                return -1;
            }
            sw->le = l;
            sw->le_cap = sw->cap;
        }

        at = sw->n++;
        sw->rows[at] = *r;
        if (le != NULL) {
            sw->rows[at].le_at = (uint32_t) at;
            memcpy(&sw->le[at * PS_HIST_PROM_NLE], le,
                   PS_HIST_PROM_NLE * sizeof(uint64_t));
        }
        heap_up(sw->rows, at);

        return 0;
    }

    if (row_by_requests(r, &sw->rows[0]) >= 0) {
        rest_add(sw, r, le);
        return 0;
    }

    /* r sorts before the last row kept: that one goes */
    at = sw->rows[0].le_at;
    rest_add(sw, &sw->rows[0],
             le != NULL ? &sw->le[at * PS_HIST_PROM_NLE] : NULL);
    sw->rows[0] = *r;
    if (le != NULL) {
        sw->rows[0].le_at = (uint32_t) at;
        memcpy(&sw->le[at * PS_HIST_PROM_NLE], le,
               PS_HIST_PROM_NLE * sizeof(uint64_t));
    }
    heap_down(sw->rows, sw->n, 0);

    return 0;
}


static int
collect_row(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    collect_ctx_t  *c = ctx;
    snap_window_t  *sw = &c->s->win[c->win];
    snap_row_t      row, *r = &row;
    uint64_t        le[PS_HIST_PROM_NLE];

    memset(r, 0, sizeof(*r));

    r->host = host;
    r->method = method;
    r->path = path;
    r->hlen = (uint32_t) hlen;
    r->mlen = (uint32_t) mlen;
    r->plen = (uint32_t) plen;
    r->requests = st->requests;
    r->errors = st->errors;
    memcpy(r->status, st->status, sizeof(r->status));
    r->bytes_in = st->bytes_in;
    r->bytes_out = st->bytes_out;
    r->latency_sum_us = st->latency_sum_us;
    r->latency_max_us = st->latency_max_us;
    r->first_us = st->first_seen_us;
    r->last_us = st->last_seen_us;
    r->p50 = capped_percentile(&st->latency, 0.50, st->latency_max_us);
    r->p95 = capped_percentile(&st->latency, 0.95, st->latency_max_us);
    r->p99 = capped_percentile(&st->latency, 0.99, st->latency_max_us);
    r->unique = (uint64_t) llround(ps_hll_cardinality(&st->clients));

    if (c->win == PS_SNAP_WIN_24H) {
        ps_hist_cumulative(&st->latency, ps_hist_prom_le_us,
                           PS_HIST_PROM_NLE, le);
    }

    if (c->win == PS_SNAP_WIN_1M) {
        ps_alerts_check(c->s->alerts, host, hlen, method, mlen, path, plen,
                        r->requests, r->errors, r->p95 / 1000, c->now_us);
    }

    sw->total_rows++;

    if (row_keep(sw, r, c->win == PS_SNAP_WIN_24H ? le : NULL,
                 rows_needed(c->s)) != 0)
    {
        return -1;
    }

    return ps_win_stats_merge(&sw->total, st);
}


static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);
    if (rc != 0) {
        return rc;
    }

    return alen < blen ? -1 : alen > blen;
}


/* ascending by path, host, method: the tie break of every order */
static int
row_key_cmp(const snap_row_t *a, const snap_row_t *b)
{
    int  rc;

    rc = bytes_cmp(a->path, a->plen, b->path, b->plen);
    if (rc == 0) {
        rc = bytes_cmp(a->host, a->hlen, b->host, b->hlen);
    }
    if (rc == 0) {
        rc = bytes_cmp(a->method, a->mlen, b->method, b->mlen);
    }

    return rc;
}


static double
row_sort_value(const snap_row_t *r, int sort)
{
    switch (sort) {
    case PS_SNAP_SORT_REQUESTS:
        return (double) r->requests;
    case PS_SNAP_SORT_ERRORS:
        return (double) r->errors;
    case PS_SNAP_SORT_ERROR_RATE:
        return r->requests ? (double) r->errors / (double) r->requests : 0;
    case PS_SNAP_SORT_P95:
        return r->p95;
    case PS_SNAP_SORT_BYTES:
        return (double) r->bytes_out;
    default:
        return (double) r->last_us;
    }
}


/* descending by the sort value; exact for the integer keys up to 2^53 */
static int
row_cmp(const snap_row_t *a, const snap_row_t *b, int sort)
{
    double  x, y;

    if (sort == PS_SNAP_SORT_REQUESTS) {
        if (a->requests != b->requests) {
            return a->requests > b->requests ? -1 : 1;
        }
    } else if (sort == PS_SNAP_SORT_LAST_SEEN) {
        if (a->last_us != b->last_us) {
            return a->last_us > b->last_us ? -1 : 1;
        }
    } else {
        x = row_sort_value(a, sort);
        y = row_sort_value(b, sort);
        if (x != y) {
            return x > y ? -1 : 1;
        }
    }

    return row_key_cmp(a, b);
}


static int
row_by_requests(const void *a, const void *b)
{
    return row_cmp(a, b, PS_SNAP_SORT_REQUESTS);
}


typedef struct {
    const snap_row_t  *rows;
    int                sort;
} order_ctx_t;


static int
order_cmp(const void *a, const void *b, void *arg)
{
    const order_ctx_t  *o = arg;

    return row_cmp(&o->rows[*(const uint32_t *) a],
                   &o->rows[*(const uint32_t *) b], o->sort);
}


/* How many rows, most requested first, a build can use: the rows shown
 * (snapshot_max_rows) and the metrics' top_n (one more: the overflow
 * key does not count there).  The rest is only summed. */
static size_t
rows_needed(const ps_snapshot_t *s)
{
    size_t  max_rows, top;

    max_rows = s->cfg->snapshot_max_rows ? s->cfg->snapshot_max_rows
                                         : 10000;
    top = s->cfg->top_n + 1;

    return max_rows > top ? max_rows : top;
}


static void
row_swap(snap_row_t *a, snap_row_t *b)
{
    snap_row_t  t;

    t = *a;
    *a = *b;
    *b = t;
}


static int
is_other_key(const snap_row_t *r)
{
    return r->hlen == 1 && r->mlen == 1
           && r->plen == sizeof(PS_AGG_OTHER_PATH) - 1
           && memcmp(r->path, PS_AGG_OTHER_PATH, r->plen) == 0
           && r->host[0] == '*' && r->method[0] == '*';
}


static int
collect(ps_snapshot_t *s, uint64_t now_us)
{
    collect_ctx_t   c;
    snap_window_t  *sw;
    int             i;

    ps_windows_expire(s->w, now_us);
    ps_alerts_begin(s->alerts);

    for (i = 0; i < PS_SNAP_WINDOWS; i++) {
        sw = &s->win[i];
        sw->n = 0;
        sw->total_rows = 0;
        memset(&sw->rest, 0, sizeof(sw->rest));
        sw->shrunk = 0;
        ps_win_stats_reset(&sw->total);

        c.s = s;
        c.win = i;
        c.now_us = now_us;

        if (ps_windows_foreach(s->w, i, now_us, collect_row, &c) != 0) {
            ps_log(PS_LOG_ERROR, "event=snapshot_failed reason=no_memory");
            return -1;
        }

        /* the rows kept, most requested first */
        if (sw->n > 1) {
            qsort(sw->rows, sw->n, sizeof(snap_row_t), row_by_requests);
        }
    }

    sw = &s->win[PS_SNAP_WIN_1M];
    ps_alerts_check(s->alerts, NULL, 0, NULL, 0, NULL, 0,
                    sw->total.requests, sw->total.errors,
                    capped_percentile(&sw->total.latency, 0.95,
                                      sw->total.latency_max_us) / 1000,
                    now_us);
    ps_alerts_end(s->alerts, now_us);

    return 0;
}


/* rendering ------------------------------------------------------------- */

static int
put_ms(ps_buf_t *b, const char *name, double us)
{
    return ps_buf_printf(b, "\"%s\":%.3f", name, us / 1000);
}


static int
put_iso(ps_buf_t *b, uint64_t us)
{
    char  iso[PS_ISO8601_MAX];

    if (us == 0) {
        return ps_buf_puts(b, "null");
    }

    return ps_buf_printf(b, "\"%s\"",
                         ps_format_iso8601_frac((int64_t) us, iso, 3));
}


static int
render_row_json(ps_buf_t *b, const snap_row_t *r)
{
    double  avg;

    avg = r->requests ? (double) r->latency_sum_us / (double) r->requests
                      : 0;

    return ps_buf_puts(b, "{\"host\":") != 0
           || ps_json_quote(b, r->host, r->hlen) != 0
           || ps_buf_puts(b, ",\"method\":") != 0
           || ps_json_quote(b, r->method, r->mlen) != 0
           || ps_buf_puts(b, ",\"path\":") != 0
           || ps_json_quote(b, r->path, r->plen) != 0
           || ps_buf_printf(b, ",\"requests\":%llu,\"errors\":%llu,"
                  "\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
                  "\"4xx\":%llu,\"5xx\":%llu},\"bytes_in\":%llu,"
                  "\"bytes_out\":%llu,\"latency_ms\":{",
                  (unsigned long long) r->requests,
                  (unsigned long long) r->errors,
                  (unsigned long long) r->status[0],
                  (unsigned long long) r->status[1],
                  (unsigned long long) r->status[2],
                  (unsigned long long) r->status[3],
                  (unsigned long long) r->status[4],
                  (unsigned long long) r->bytes_in,
                  (unsigned long long) r->bytes_out) != 0
           || put_ms(b, "avg", avg) != 0 || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p50", r->p50) != 0 || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p95", r->p95) != 0 || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p99", r->p99) != 0 || ps_buf_putc(b, ',') != 0
           || put_ms(b, "max", (double) r->latency_max_us) != 0
           || ps_buf_printf(b, "},\"unique_clients\":%llu,\"first_seen\":",
                            (unsigned long long) r->unique) != 0
           || put_iso(b, r->first_us) != 0
           || ps_buf_puts(b, ",\"last_seen\":") != 0
           || put_iso(b, r->last_us) != 0
           || ps_buf_putc(b, '}') != 0 ? -1 : 0;
}


static int
blob_ref(ps_buf_t *blob, ps_snap_ref_t *ref, size_t start)
{
    if (blob->len > UINT32_MAX) {
        return -1;
    }

    ref->off = (uint32_t) start;
    ref->len = (uint32_t) (blob->len - start);

    return 0;
}


static int
blob_bytes(ps_buf_t *blob, ps_snap_ref_t *ref, const char *p, size_t len)
{
    size_t  start = blob->len;

    return ps_buf_append(blob, p, len) != 0 ? -1
                                            : blob_ref(blob, ref, start);
}


static int
render_window_info(ps_snapshot_t *s, int win, size_t shown, ps_buf_t *b)
{
    snap_window_t  *sw = &s->win[win];
    uint64_t        req, err, bin, bout;
    size_t          i;

    req = sw->rest.requests;
    err = sw->rest.errors;
    bin = sw->rest.bytes_in;
    bout = sw->rest.bytes_out;

    for (i = shown; i < sw->n; i++) {
        req += sw->rows[i].requests;
        err += sw->rows[i].errors;
        bin += sw->rows[i].bytes_in;
        bout += sw->rows[i].bytes_out;
    }

    return ps_buf_printf(b, "{\"window\":\"%s\",\"seconds\":%.0f,"
                         "\"rows_total\":%zu,\"rows_shown\":%zu,"
                         "\"limited_by\":%s,"
                         "\"other\":{\"requests\":%llu,\"errors\":%llu,"
                         "\"bytes_in\":%llu,\"bytes_out\":%llu}}",
                         window_names[win], window_seconds[win],
                         sw->total_rows, shown,
                         shown == sw->total_rows ? "null"
                         : sw->shrunk ? "\"snapshot_size\""
                         : "\"snapshot_max_rows\"",
                         (unsigned long long) req, (unsigned long long) err,
                         (unsigned long long) bin,
                         (unsigned long long) bout);
}


/* Appends msg as the next string of the health array; 0 or -1. */
static int
health_reason(ps_buf_t *b, const ps_buf_t *msg, int *problems)
{
    if ((*problems && ps_buf_putc(b, ',') != 0)
        || ps_json_quote(b, msg->data, msg->len) != 0)
    {
        return -1;
    }

    (*problems)++;

    return 0;
}


static int
render_health(const ps_snapshot_inputs_t *in, ps_buf_t *b, int *problems)
{
    const ps_sink_status_t  *st;
    unsigned                 i;
    ps_buf_t                 msg = PS_BUF_INIT;
    int                      rc = -1;

    *problems = 0;

    if (ps_buf_putc(b, '[') != 0) {
        goto done;
    }

    for (i = 0; i < in->nsinks; i++) {
        st = &in->sinks[i];

        if (!st->up) {
            ps_buf_reset(&msg);
            if (ps_buf_printf(&msg, "sink %s is down%s%s", st->name,
                              st->last_error[0] ? ": " : "",
                              st->last_error) != 0
                || health_reason(b, &msg, problems) != 0)
            {
                goto done;
            }
        }

        /* the spool loses what it cannot keep: say so while it does */
        if (st->spool_full && st->spool_dropped) {
            ps_buf_reset(&msg);
            if (ps_buf_printf(&msg, "spool of sink %s is full: %llu "
                              "requests lost", st->name,
                              (unsigned long long) st->spool_dropped) != 0
                || health_reason(b, &msg, problems) != 0)
            {
                goto done;
            }
        }

        if (st->spool_error[0]) {
            ps_buf_reset(&msg);
            if (ps_buf_printf(&msg, "spool of sink %s cannot write: %s",
                              st->name, st->spool_error) != 0
                || health_reason(b, &msg, problems) != 0)
            {
                goto done;
            }
        }
    }

    rc = ps_buf_putc(b, ']');

done:

    ps_buf_free(&msg);
    return rc;
}


static int
render_window_summary(ps_snapshot_t *s, int win, ps_buf_t *b)
{
    snap_window_t   *sw = &s->win[win];
    ps_win_stats_t  *t = &sw->total;
    double           avg, rate;

    avg = t->requests ? (double) t->latency_sum_us / (double) t->requests
                      : 0;
    rate = t->requests ? (double) t->errors / (double) t->requests : 0;

    return ps_buf_printf(b, "\"%s\":{\"requests\":%llu,\"errors\":%llu,"
                  "\"error_rate\":%.6f,\"requests_per_second\":%.3f,"
                  "\"bytes_in\":%llu,\"bytes_out\":%llu,"
                  "\"paths\":%zu,\"unique_clients\":%llu,\"latency_ms\":{",
                  window_names[win], (unsigned long long) t->requests,
                  (unsigned long long) t->errors, rate,
                  (double) t->requests / window_seconds[win],
                  (unsigned long long) t->bytes_in,
                  (unsigned long long) t->bytes_out, sw->total_rows,
                  (unsigned long long)
                      llround(ps_hll_cardinality(&t->clients))) != 0
           || put_ms(b, "avg", avg) != 0 || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p50", capped_percentile(&t->latency, 0.50,
                                                 t->latency_max_us)) != 0
           || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p95", capped_percentile(&t->latency, 0.95,
                                                 t->latency_max_us)) != 0
           || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p99", capped_percentile(&t->latency, 0.99,
                                                 t->latency_max_us)) != 0
           || ps_buf_putc(b, ',') != 0
           || put_ms(b, "max", (double) t->latency_max_us) != 0
           || ps_buf_puts(b, "}}") != 0 ? -1 : 0;
}


/* ,"spool":{...} of a sink with a disk spool; 0 or -1. */
static int
render_spool(const ps_sink_status_t *st, ps_buf_t *b)
{
    return ps_buf_printf(b, ",\"spool\":{\"segments\":%llu,\"bytes\":%llu,"
                         "\"max_bytes\":%llu,\"dropped_requests\":%llu,"
                         "\"corrupt_segments\":%llu,\"full\":%s,"
                         "\"last_error\":",
                         (unsigned long long) st->spool_segments,
                         (unsigned long long) st->spool_bytes,
                         (unsigned long long) st->spool_max_bytes,
                         (unsigned long long) st->spool_dropped,
                         (unsigned long long) st->spool_corrupt,
                         st->spool_full ? "true" : "false") != 0
           || (st->spool_error[0]
               ? ps_json_quote(b, st->spool_error,
                               strnlen(st->spool_error,
                                       sizeof(st->spool_error)))
               : ps_buf_puts(b, "null")) != 0
           || ps_buf_putc(b, '}') != 0 ? -1 : 0;
}


static int
render_sinks(const ps_snapshot_inputs_t *in, ps_buf_t *b)
{
    const ps_sink_status_t  *st;
    unsigned                 i;

    if (ps_buf_putc(b, '[') != 0) {
        return -1;
    }

    for (i = 0; i < in->nsinks; i++) {
        st = &in->sinks[i];

        if (ps_buf_puts(b, i ? ",{\"name\":" : "{\"name\":") != 0
            || ps_json_quote(b, st->name, strlen(st->name)) != 0
            || ps_buf_printf(b, ",\"up\":%s,\"durable\":%s,"
                             "\"flushes\":%llu,\"failures\":%llu,"
                             "\"lag_records\":%llu,\"pending_keys\":%llu,"
                             "\"last_flush_at\":",
                             st->up ? "true" : "false",
                             st->durable ? "true" : "false",
                             (unsigned long long) st->flushes,
                             (unsigned long long) st->failures,
                             (unsigned long long) st->lag_records,
                             (unsigned long long) st->pending_keys) != 0
            || put_iso(b, st->last_flush_us) != 0
            || ps_buf_puts(b, ",\"last_error\":") != 0
            || (st->last_error[0]
                ? ps_json_quote(b, st->last_error,
                                strnlen(st->last_error,
                                        sizeof(st->last_error)))
                : ps_buf_puts(b, "null")) != 0
            || (st->spool && render_spool(st, b) != 0)
            || ps_buf_putc(b, '}') != 0)
        {
            return -1;
        }
    }

    return ps_buf_putc(b, ']');
}


static int
render_summary(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    uint64_t now_us, const char *health, size_t health_len, ps_buf_t *b)
{
    ps_win_client_t  top[PS_SNAPSHOT_TOP_CLIENTS];
    uint64_t         other, uptime;
    size_t           n, i;
    int              w;

    uptime = (in->started_us && now_us > in->started_us)
             ? (now_us - in->started_us) / 1000000 : 0;

    if (ps_buf_puts(b, "{\"generated_at\":") != 0
        || put_iso(b, now_us) != 0
        || ps_buf_puts(b, ",\"node_id\":") != 0
        || ps_json_quote(b, in->node_id ? in->node_id : "",
                         in->node_id ? strlen(in->node_id) : 0) != 0
        || ps_buf_printf(b, ",\"version\":\"%s\",\"pid\":%llu,"
                         "\"uptime_seconds\":%llu,\"started_at\":",
                         PATHSTATS_VERSION, (unsigned long long) in->pid,
                         (unsigned long long) uptime) != 0
        || put_iso(b, in->started_us) != 0
        || ps_buf_puts(b, ",\"heartbeat_at\":") != 0
        || put_iso(b, in->heartbeat_us) != 0
        || ps_buf_printf(b, ",\"requests_per_second\":%.3f,\"windows\":{",
                         (double) s->win[PS_SNAP_WIN_1M].total.requests
                         / 60) != 0)
    {
        return -1;
    }

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        if ((w && ps_buf_putc(b, ',') != 0)
            || render_window_summary(s, w, b) != 0)
        {
            return -1;
        }
    }

    n = ps_windows_top_clients(s->w, now_us, top, PS_SNAPSHOT_TOP_CLIENTS,
                               &other);

    if (ps_buf_puts(b, "},\"top_clients\":[") != 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (ps_buf_puts(b, i ? ",{\"client\":" : "{\"client\":") != 0
            || ps_json_quote(b, top[i].client, strlen(top[i].client)) != 0
            || ps_buf_printf(b, ",\"requests\":%llu}",
                             (unsigned long long) top[i].requests) != 0)
        {
            return -1;
        }
    }

    if (ps_buf_printf(b, "],\"top_clients_window\":\"1h\","
                      "\"top_clients_other\":%llu,\"alerts\":",
                      (unsigned long long) other) != 0
        || ps_alerts_json(s->alerts, b) != 0
        || ps_buf_printf(b, ",\"pipeline\":{\"rings\":{\"count\":%u,"
                  "\"seen\":%llu,\"recorded\":%llu,\"dropped\":%llu,"
                  "\"consumed\":%llu,\"in_ring\":%llu,\"lost\":%llu},"
                  "\"records_read\":%llu,\"window_keys\":%zu,"
                  "\"window_overflow_requests\":%llu,"
                  "\"snapshot_sequence\":%llu,"
                  "\"snapshot_generation_seconds\":%.6f,\"sinks\":",
                  in->ring_count, (unsigned long long) in->rings.seen,
                  (unsigned long long) in->rings.recorded,
                  (unsigned long long) in->rings.dropped,
                  (unsigned long long) in->rings.consumed,
                  (unsigned long long) in->rings.in_ring,
                  (unsigned long long) in->rings.lost,
                  (unsigned long long) in->records,
                  ps_windows_keys(s->w),
                  (unsigned long long) ps_windows_overflowed(s->w),
                  (unsigned long long) s->sequence,
                  s->last_gen_seconds) != 0
        || render_sinks(in, b) != 0
        || ps_buf_puts(b, "},\"health\":") != 0
        || ps_buf_append(b, health, health_len) != 0
        || ps_buf_putc(b, '}') != 0)
    {
        return -1;
    }

    return 0;
}


static void
metrics_row(ps_metrics_path_t *m, const snap_row_t *r, const uint64_t *le)
{
    m->host = r->host;
    m->method = r->method;
    m->path = r->path;
    m->hlen = r->hlen;
    m->mlen = r->mlen;
    m->plen = r->plen;
    m->requests = r->requests;
    memcpy(m->status, r->status, sizeof(m->status));
    m->latency_sum_us = r->latency_sum_us;
    memcpy(m->le, &le[(size_t) r->le_at * PS_HIST_PROM_NLE],
           sizeof(m->le));
}


static int
render_metrics(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    ps_buf_t *b)
{
    snap_window_t       *sw = &s->win[PS_SNAP_WIN_24H];
    ps_metrics_path_t   *top, other, overall;
    ps_metrics_input_t   mi;
    size_t               i, n = 0, max;
    int                  c, k, rc;

    max = s->top;
    top = calloc(max ? max : 1, sizeof(ps_metrics_path_t));
    if (top == NULL) {
        return -1;
    }

    memset(&other, 0, sizeof(other));
    other.host = PS_AGG_OTHER_HOST;
    other.method = PS_AGG_OTHER_METHOD;
    other.path = PS_AGG_OTHER_PATH;
    other.hlen = 1;
    other.mlen = 1;
    other.plen = sizeof(PS_AGG_OTHER_PATH) - 1;

    for (i = 0; i < sw->n; i++) {
        if (n < max && !is_other_key(&sw->rows[i])) {
            metrics_row(&top[n++], &sw->rows[i], sw->le);
            continue;
        }

        other.requests += sw->rows[i].requests;
        other.latency_sum_us += sw->rows[i].latency_sum_us;
        for (c = 0; c < 5; c++) {
            other.status[c] += sw->rows[i].status[c];
        }
        for (k = 0; k < PS_HIST_PROM_NLE; k++) {
            other.le[k] += sw->le[(size_t) sw->rows[i].le_at
                                  * PS_HIST_PROM_NLE + k];
        }
    }

    /* and the keys beyond the rows kept */
    other.requests += sw->rest.requests;
    other.latency_sum_us += sw->rest.latency_sum_us;
    for (c = 0; c < 5; c++) {
        other.status[c] += sw->rest.status[c];
    }
    for (k = 0; k < PS_HIST_PROM_NLE; k++) {
        other.le[k] += sw->rest.le[k];
    }

    memset(&overall, 0, sizeof(overall));
    overall.requests = sw->total.requests;
    overall.latency_sum_us = sw->total.latency_sum_us;
    ps_hist_cumulative(&sw->total.latency, ps_hist_prom_le_us,
                       PS_HIST_PROM_NLE, overall.le);

    memset(&mi, 0, sizeof(mi));
    mi.paths = top;
    mi.npaths = n;
    mi.other = other.requests ? &other : NULL;
    mi.overall = &overall;
    mi.rings = &in->rings;
    mi.sinks = in->sinks;
    mi.nsinks = in->nsinks;
    mi.generation_seconds = s->last_gen_seconds;
    mi.snapshot_sequence = s->sequence;

    rc = ps_metrics_render(b, &mi);
    free(top);

    return rc;
}


/* assembling ------------------------------------------------------------ */

static size_t
align8(size_t n)
{
    return (n + 7) & ~(size_t) 7;
}


static int
grow_u32(uint32_t **p, size_t n)
{
    uint32_t  *q;

    q = realloc(*p, (n ? n : 1) * sizeof(uint32_t));
    if (q == NULL) {
        return -1;
    }

    *p = q;
    return 0;
}


/*
 * Renders everything with at most limit[w] rows per window into s->out;
 * returns its length, or 0 on failure.
 */
static size_t
assemble(ps_snapshot_t *s, const ps_snapshot_inputs_t *in, uint64_t now_us,
    const size_t *limit, int problems)
{
    ps_buf_t            *blob = &s->blob;
    ps_snap_header_t    *h;
    ps_snap_section_t   *sec;
    ps_snap_ref_t        info[PS_SNAP_WINDOWS], summary, metrics, health;
    ps_snap_ref_t        trends[PS_SNAP_RANGES];
    snap_window_t       *sw;
    order_ctx_t          oc;
    size_t               off, total, start, i, n, nsec;
    uint64_t            *out;
    char                *p;
    int                  w, k;

    ps_buf_reset(blob);

    /* rows, raw key text and JSON, and their orders */

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        sw = &s->win[w];
        n = sw->n < limit[w] ? sw->n : limit[w];

        free(s->prow[w]);
        s->prow[w] = calloc(n ? n : 1, sizeof(ps_snap_row_t));
        if (s->prow[w] == NULL) {
            return 0;
        }

        for (i = 0; i < n; i++) {
            ps_snap_row_t  *pr = &s->prow[w][i];
            snap_row_t     *r = &sw->rows[i];

            if (blob_bytes(blob, &pr->host, r->host, r->hlen) != 0
                || blob_bytes(blob, &pr->method, r->method, r->mlen) != 0
                || blob_bytes(blob, &pr->path, r->path, r->plen) != 0)
            {
                return 0;
            }

            start = blob->len;
            if (render_row_json(blob, r) != 0
                || blob_ref(blob, &pr->json, start) != 0)
            {
                return 0;
            }
        }

        oc.rows = sw->rows;

        for (k = 0; k < PS_SNAP_SORTS; k++) {
            if (grow_u32(&s->porder[w][k], n) != 0) {
                return 0;
            }

            for (i = 0; i < n; i++) {
                s->porder[w][k][i] = (uint32_t) i;
            }

            /* the rows themselves are in the order of requests */
            if (k != PS_SNAP_SORT_REQUESTS && n > 1) {
                oc.sort = k;
                qsort_r(s->porder[w][k], n, sizeof(uint32_t), order_cmp,
                        &oc);
            }
        }

        start = blob->len;
        if (render_window_info(s, w, n, blob) != 0
            || blob_ref(blob, &info[w], start) != 0)
        {
            return 0;
        }
    }

    /* health first: the summary embeds it */

    ps_buf_reset(&s->text);
    if (render_health(in, &s->text, &problems) != 0
        || blob_bytes(blob, &health, s->text.data, s->text.len) != 0)
    {
        return 0;
    }

    start = blob->len;
    if (render_summary(s, in, now_us, s->text.data, s->text.len, blob) != 0
        || blob_ref(blob, &summary, start) != 0)
    {
        return 0;
    }

    for (k = 0; k < PS_SNAP_RANGES; k++) {
        if (blob_bytes(blob, &trends[k], s->trends[k].data,
                       s->trends[k].len) != 0)
        {
            return 0;
        }
    }

    ps_buf_reset(&s->text);
    if (render_metrics(s, in, &s->text) != 0
        || blob_bytes(blob, &metrics, s->text.data, s->text.len) != 0)
    {
        return 0;
    }

    /* layout: header, table, ref bodies, rows, orders, blob */

    nsec = NSECTIONS;
    off = align8(sizeof(ps_snap_header_t) + nsec * sizeof(ps_snap_section_t));
    total = off + (PS_SNAP_WINDOWS + 1 + PS_SNAP_RANGES + 2)
                  * sizeof(ps_snap_ref_t);

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        n = s->win[w].n < limit[w] ? s->win[w].n : limit[w];
        total += align8(n * sizeof(ps_snap_row_t));
        total += PS_SNAP_SORTS * align8(n * sizeof(uint32_t));
    }

    total += align8(blob->len);

    if (total > s->out_cap) {
        out = realloc(s->out, total);
        if (out == NULL) {
            return 0;
        }
        s->out = out;
        s->out_cap = total;
    }

    p = (char *) s->out;
    memset(p, 0, total);

    h = (ps_snap_header_t *) p;
    h->magic = PS_SNAP_MAGIC;
    h->version = PS_SNAP_VERSION;
    h->total_len = total;
    h->generated_us = now_us;
    h->sequence = s->sequence;
    h->heartbeat_us = in->heartbeat_us ? in->heartbeat_us : now_us;
    h->section_count = (uint32_t) nsec;
    h->flags = problems ? 0 : PS_SNAP_F_AGGREGATOR_OK;

    sec = (ps_snap_section_t *) (p + sizeof(ps_snap_header_t));
    i = 0;

#define SECTION(t, a, body, blen)                                            \
    do {                                                                     \
        sec[i].type = (t);                                                   \
        sec[i].arg = (uint32_t) (a);                                         \
        sec[i].off = off;                                                    \
        sec[i].len = (blen);                                                 \
        if ((blen) > 0) {                                                    \
            memcpy(p + off, (body), (blen));                                 \
        }                                                                    \
        off += align8(blen);                                                 \
        i++;                                                                 \
    } while (0)

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        SECTION(PS_SNAP_WINDOW_INFO, w, &info[w], sizeof(ps_snap_ref_t));
    }
    SECTION(PS_SNAP_SUMMARY, 0, &summary, sizeof(ps_snap_ref_t));
    for (k = 0; k < PS_SNAP_RANGES; k++) {
        SECTION(PS_SNAP_TRENDS, k, &trends[k], sizeof(ps_snap_ref_t));
    }
    SECTION(PS_SNAP_METRICS, 0, &metrics, sizeof(ps_snap_ref_t));
    SECTION(PS_SNAP_HEALTH, 0, &health, sizeof(ps_snap_ref_t));

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        n = s->win[w].n < limit[w] ? s->win[w].n : limit[w];
        SECTION(PS_SNAP_ROWS, w, s->prow[w], n * sizeof(ps_snap_row_t));
        for (k = 0; k < PS_SNAP_SORTS; k++) {
            SECTION(PS_SNAP_ORDER, w * PS_SNAP_SORTS + k, s->porder[w][k],
                    n * sizeof(uint32_t));
        }
    }

    SECTION(PS_SNAP_BLOB, 0, blob->data, blob->len);

#undef SECTION

    return total;
}


int
ps_snapshot_build(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    uint64_t now_us, size_t cap, const void **out, size_t *len)
{
    size_t    limit[PS_SNAP_WINDOWS], total, max_rows, n;
    uint64_t  t0;
    int       w, any, top_shrunk;
    double    f;

    t0 = ps_mono_us();
    s->sequence++;
    take_trends(s);

    if (collect(s, now_us) != 0) {
        return -1;
    }

    max_rows = s->cfg->snapshot_max_rows ? s->cfg->snapshot_max_rows
                                         : 10000;

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        limit[w] = s->win[w].n < max_rows ? s->win[w].n : max_rows;

        /* the last build had to shrink: start near what fitted then
         * (an eighth more, so that it grows back) rather than render
         * everything once more only to find it too large */
        if (s->fit[w] > 0 && s->fit[w] + s->fit[w] / 8 + 1 < limit[w]) {
            limit[w] = s->fit[w] + s->fit[w] / 8 + 1;
            s->win[w].shrunk = 1;
        }
    }

    /* the same for the metrics' top paths, whose series (a histogram
     * each) can outweigh the rows when paths are long */
    s->top = s->cfg->top_n;
    top_shrunk = 0;
    if (s->fit_top > 0 && s->fit_top + s->fit_top / 8 + 1 < s->top) {
        s->top = s->fit_top + s->fit_top / 8 + 1;
        top_shrunk = 1;
    }

    for ( ;; ) {
        total = assemble(s, in, now_us, limit, 0);
        if (total == 0) {
            ps_log(PS_LOG_ERROR, "event=snapshot_failed reason=no_memory");
            return -1;
        }

        if (total <= cap) {
            break;
        }

        /* rows and the metrics' paths make up most of the size: scale
         * them to fit, with a margin (halve when that would not shrink
         * them) */
        any = 0;
        f = 0.9 * (double) cap / (double) total;

        for (w = 0; w < PS_SNAP_WINDOWS; w++) {
            if (limit[w] > 0) {
                n = (size_t) ((double) limit[w] * f);
                limit[w] = n < limit[w] ? n : limit[w] / 2;
                s->win[w].shrunk = 1;
                any = 1;
            }
        }

        if (s->top > 0) {
            n = (size_t) ((double) s->top * f);
            s->top = n < s->top ? n : s->top / 2;
            top_shrunk = 1;
            any = 1;
        }

        if (!s->shrink_logged) {
            ps_log(PS_LOG_WARN, "event=snapshot_shrunk size=%zu "
                   "buffer=%zu rows_1m=%zu rows_1h=%zu rows_24h=%zu "
                   "metrics_paths=%zu", total, cap, limit[0], limit[1],
                   limit[2], s->top);
            s->shrink_logged = 1;
        }

        if (!any) {
            ps_log(PS_LOG_ERROR, "event=snapshot_failed "
                   "reason=too_large size=%zu buffer=%zu", total, cap);
            return -1;
        }
    }

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        s->fit[w] = s->win[w].shrunk ? limit[w] : 0;
    }
    s->fit_top = top_shrunk ? s->top : 0;

    s->last_gen_seconds = (double) (ps_mono_us() - t0) / 1e6;

    *out = s->out;
    *len = total;

    return 0;
}


int
ps_snapshot_write_zone(ps_zone_t *zone, const void *buf, size_t len,
    uint64_t generated_us)
{
    ps_snapshot_ctl_t  *ctl = &zone->header->snapshot;
    uint64_t            version, seq, boff;
    unsigned            i;

    version = ps_load_acquire(&ctl->version);
    i = (unsigned) ((version + 1) % 2);

    /* where the buffer is: the geometry validated at open, never the
     * header, which whoever writes the file may have rewritten */
    boff = zone->geo.snap_buf_off[i];

    if (len > zone->geo.snap_buf_size) {
        return -1;
    }

    seq = ps_load_relaxed(&ctl->buf_seq[i]);
    if (seq & 1) {
        seq++;      /* a writer died mid-copy: start a fresh odd value */
    }

    ps_store_relaxed(&ctl->buf_seq[i], seq + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);

    memcpy((char *) zone->header + boff, buf, len);
    ps_store_relaxed(&ctl->buf_len[i], len);
    ps_store_relaxed(&ctl->generated_us[i], generated_us);

    ps_store_release(&ctl->buf_seq[i], seq + 2);
    ps_store_release(&ctl->version, version + 1);

    return 0;
}


int
ps_snapshot_publish(ps_snapshot_t *s, ps_zone_t *zone,
    const ps_sink_status_t *sinks, unsigned nsinks, uint64_t records,
    uint64_t now_us)
{
    ps_zone_header_t      *zh = zone->header;
    ps_snapshot_inputs_t   in;
    ps_ring_stats_t        rs;
    const void            *buf;
    size_t                 len;
    uint32_t               i;

    memset(&in, 0, sizeof(in));
    in.node_id = s->cfg->node_id;
    in.pid = (uint64_t) getpid();
    in.started_us = ps_load_relaxed(&zh->aggregator_started_us);
    in.heartbeat_us = ps_load_acquire(&zh->aggregator_heartbeat_us);
    in.ring_count = zone->geo.ring_count;
    in.sinks = sinks;
    in.nsinks = nsinks;
    in.records = records;

    for (i = 0; i < zone->geo.ring_count; i++) {
        ps_stats_ring(zone, i, &rs);
        in.rings.seen += rs.seen;
        in.rings.recorded += rs.recorded;
        in.rings.dropped += rs.dropped;
        in.rings.consumed += rs.consumed;
        in.rings.in_ring += rs.in_ring;
        in.rings.lost += rs.lost;
        in.rings.claims += rs.claims;
    }

    if (ps_snapshot_build(s, &in, now_us, zone->geo.snap_buf_size, &buf,
                          &len)
        != 0)
    {
        return -1;
    }

    if (ps_snapshot_write_zone(zone, buf, len, now_us) != 0) {
        ps_log(PS_LOG_ERROR, "event=snapshot_failed reason=buffer "
               "size=%zu buffer=%llu", len,
               (unsigned long long) zone->geo.snap_buf_size);
        return -1;
    }

    return 0;
}
