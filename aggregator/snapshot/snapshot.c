/*
 * Snapshot writer: see snapshot.h and include/pathstats_snapshot.h.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg/alerts.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "pathstats_snapshot.h"
#include "snapshot/monitor.h"
#include "snapshot/render.h"
#include "lib/json_escape.h"
#include "snapshot/fleet.h"
#include "snapshot/rows.h"
#include "snapshot/scope_pack.h"
#include "snapshot/snapshot.h"
#include "store/pg/day_windows.h"
#include "store/pg/trend_paths.h"

#ifndef PATHSTATS_VERSION
#define PATHSTATS_VERSION  "unknown"
#endif

/* sections: blob, 3 rows, 18 orders, 3 window infos, summary, 3 trends,
 * metrics, health, 3 path trends, 2 long trends */
#define NSECTIONS  (1 + PS_SNAP_WINDOWS * (3 + PS_SNAP_SORTS) + 1 \
                    + PS_SNAP_RANGES + 2 + PS_SNAP_RANGES \
                    + PS_SNAP_LONG_RANGES)

/* and the day windows': window info, rows, grams, orders each */
#define NSECTIONS_DAYS  ((PS_SNAP_ALL_WINDOWS - PS_SNAP_WINDOWS) \
                         * (3 + PS_SNAP_SORTS))

/* and the fleet's: self, nodes, scopes */
#define NSECTIONS_FLEET  3

_Static_assert(NSECTIONS + NSECTIONS_FLEET + NSECTIONS_DAYS
               <= PS_SNAP_MAX_SECTIONS, "a snapshot's sections fit");

typedef struct {
    ps_snapshot_t  *s;
    uint64_t        now_us;
} collect_ctx_t;

struct ps_snapshot_s {
    const ps_config_t  *cfg;
    ps_windows_t       *w;
    ps_alerts_t        *alerts;
    ps_trends_t        *trends_src;
    ps_monitor_t       *monitor;           /* counters, notifications */
    ps_scheduler_t     *sched;
    ps_fleet_t         *fleet;
    ps_buf_t            fleet_scopes;      /* PS_SNAP_SCOPES body */
    ps_buf_t            fleet_nodes;       /* /api/nodes */
    ps_buf_t            fleet_metrics;     /* the nodes' gauges */
    int                 has_fleet;
    ps_buf_t            own_view;          /* handed to the fleet */
    ps_snap_scope_desc_t  self;
    ps_snap_ref_t       own_summary;       /* of the last build's blob */
    ps_snap_ref_t       own_health;
    ps_rowset_t         win[PS_SNAP_ALL_WINDOWS];
    ps_day_windows_t   *days_src;
    ps_fleet_table_t   *day_table[PS_DAY_WINDOWS];  /* the day windows'
                                                       rows point here */
    int                 has_days;          /* day windows in snapshots */
    ps_buf_t            trends[PS_SNAP_RANGES];
    ps_buf_t            long_trends[PS_SNAP_LONG_RANGES];
    ps_buf_t            path_trends;       /* packed, trend_paths.h */
    ps_buf_t            trend_keys;        /* the paths asked for */
    uint64_t            sequence;
    double              last_gen_seconds;
    int                 shrink_logged;

    /* scratch reused per build */
    ps_buf_t            blob;
    ps_buf_t            text;
    uint32_t           *order;
    size_t              order_cap;
    ps_snap_row_t      *prow[PS_SNAP_ALL_WINDOWS];
    uint64_t           *pgram[PS_SNAP_ALL_WINDOWS];  /* the rows' grams */
    size_t              fit[PS_SNAP_ALL_WINDOWS];  /* rows that fit, when
                                                  the last build shrank */
    size_t              top;               /* metrics' paths this build */
    size_t              fit_top;           /* those that fit, when the
                                              last build shrank them */
    size_t              trend_limit;       /* path trends this build */
    size_t              fit_trends;        /* those that fit, when the
                                              last build shrank them */
    ps_snap_row_t      *ptrend[PS_SNAP_RANGES];
    uint32_t           *porder[PS_SNAP_ALL_WINDOWS][PS_SNAP_SORTS];
    uint64_t           *out;               /* 8-byte aligned */
    size_t              out_cap;

    /* what the last assemble wrote of each window: its rows' text, JSON
     * and window info are blob[start, end) and its rows, grams and
     * orders are prow, pgram and porder (assemble_window()) */
    struct {
        size_t          start, end, n;
        int             shrunk;
        int             valid;
        ps_snap_ref_t   info;
    } seg[PS_SNAP_WINDOWS];
    uint64_t            windows_kept;      /* windows not rendered again */
    uint64_t            assembles;         /* renderings of a snapshot */
    size_t              last_total;        /* the last build's size */
};

static size_t rows_needed(const ps_snapshot_t *s);


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

    for (i = 0; i < PS_SNAP_ALL_WINDOWS; i++) {
        ps_win_stats_init(&s->win[i].total);
    }

    for (i = 0; i < PS_SNAP_RANGES; i++) {
        if (ps_buf_puts(&s->trends[i], "[]") != 0) {
            goto fail;
        }
    }

    for (i = 0; i < PS_SNAP_LONG_RANGES; i++) {
        if (ps_buf_puts(&s->long_trends[i], "[]") != 0) {
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

    for (i = 0; i < PS_DAY_WINDOWS; i++) {
        ps_fleet_table_destroy(s->day_table[i]);
    }

    for (i = 0; i < PS_SNAP_ALL_WINDOWS; i++) {
        ps_rowset_free(&s->win[i]);
        free(s->prow[i]);
        free(s->pgram[i]);
        for (k = 0; k < PS_SNAP_SORTS; k++) {
            free(s->porder[i][k]);
        }
    }

    for (i = 0; i < PS_SNAP_RANGES; i++) {
        ps_buf_free(&s->trends[i]);
        free(s->ptrend[i]);
    }

    for (i = 0; i < PS_SNAP_LONG_RANGES; i++) {
        ps_buf_free(&s->long_trends[i]);
    }

    ps_buf_free(&s->path_trends);
    ps_buf_free(&s->trend_keys);
    ps_buf_free(&s->fleet_scopes);
    ps_buf_free(&s->fleet_nodes);
    ps_buf_free(&s->fleet_metrics);
    ps_buf_free(&s->own_view);
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


void
ps_snapshot_use_day_windows(ps_snapshot_t *s, ps_day_windows_t *d)
{
    s->days_src = d;
}


void
ps_snapshot_use_monitor(ps_snapshot_t *s, ps_monitor_t *m)
{
    s->monitor = m;
}


void
ps_snapshot_use_scheduler(ps_snapshot_t *s, ps_scheduler_t *sched)
{
    s->sched = sched;
}


void
ps_snapshot_use_fleet(ps_snapshot_t *s, ps_fleet_t *f)
{
    s->fleet = f;
}


static void
take_trends(ps_snapshot_t *s)
{
    int  r;

    if (s->trends_src != NULL
        && ps_trends_take_long(s->trends_src, s->long_trends) < 0)
    {
        for (r = 0; r < PS_SNAP_LONG_RANGES; r++) {
            ps_buf_reset(&s->long_trends[r]);
            (void) ps_buf_puts(&s->long_trends[r], "[]");
        }
    }

    if (s->trends_src == NULL
        || ps_trends_take(s->trends_src, s->trends, PS_SNAP_RANGES,
                          &s->path_trends) >= 0)
    {
        return;
    }

    for (r = 0; r < PS_SNAP_RANGES; r++) {
        ps_buf_reset(&s->trends[r]);
        (void) ps_buf_puts(&s->trends[r], "[]");
    }

    ps_buf_reset(&s->path_trends);
}


/* A new read of the day windows, if there is one, into their row sets
 * (once per read: their rows do not move between reads). */
static void
take_days(ps_snapshot_t *s)
{
    ps_fleet_table_t  *t[PS_DAY_WINDOWS];
    int                i, w;

    if (s->days_src == NULL || ps_day_windows_take(s->days_src, t) != 1) {
        return;
    }

    s->has_days = 1;

    for (i = 0; i < PS_DAY_WINDOWS; i++) {
        w = PS_SNAP_WINDOWS + i;

        if (ps_rowset_collect_from(&s->win[w], ps_fleet_table_foreach, t[i],
                                   rows_needed(s), NULL, NULL)
            != 0)
        {
            ps_log(PS_LOG_ERROR, "event=snapshot_failed reason=no_memory "
                   "window=day");
            s->win[w].n = 0;
            s->win[w].total_rows = 0;
        }

        /* the old rows pointed into the old table */
        ps_fleet_table_destroy(s->day_table[i]);
        s->day_table[i] = t[i];
    }
}


/* Asks the trends for the most requested paths of the 24h window. */
static void
want_trends(ps_snapshot_t *s)
{
    ps_rowset_t     *sw = &s->win[PS_SNAP_WIN_24H];
    ps_trend_key_t   k;
    size_t           i;

    if (s->trends_src == NULL) {
        return;
    }

    ps_buf_reset(&s->trend_keys);

    for (i = 0; i < sw->n && i < s->cfg->trend_paths; i++) {
        k.host = sw->rows[i].host;
        k.method = sw->rows[i].method;
        k.path = sw->rows[i].path;
        k.hlen = sw->rows[i].hlen;
        k.mlen = sw->rows[i].mlen;
        k.plen = sw->rows[i].plen;

        if (ps_trend_keys_add(&s->trend_keys, &k) != 0) {
            return;
        }
    }

    (void) ps_trends_set_paths(s->trends_src, &s->trend_keys);
}


/* collecting the windows ------------------------------------------------ */

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


/* The 1m window's rows are what the per-path alerts watch. */
static void
alert_row(void *ctx, const ps_row_t *r)
{
    collect_ctx_t  *c = ctx;

    ps_alerts_check(c->s->alerts, r->host, r->hlen, r->method, r->mlen,
                    r->path, r->plen, r->counts.requests, r->counts.errors,
                    r->p95 / 1000, c->now_us);
}


static int
collect(ps_snapshot_t *s, uint64_t now_us)
{
    collect_ctx_t   c;
    ps_rowset_t    *sw;
    int             i;

    ps_windows_expire(s->w, now_us);
    ps_alerts_begin(s->alerts);

    c.s = s;
    c.now_us = now_us;

    for (i = 0; i < PS_SNAP_WINDOWS; i++) {
        if (ps_rowset_collect(&s->win[i], s->w, i, now_us, rows_needed(s),
                              i == PS_SNAP_WIN_1M ? alert_row : NULL, &c,
                              s->cfg->alert_min_requests)
            != 0)
        {
            ps_log(PS_LOG_ERROR, "event=snapshot_failed reason=no_memory");
            return -1;
        }
    }

    sw = &s->win[PS_SNAP_WIN_1M];
    ps_alerts_check(s->alerts, NULL, 0, NULL, 0, NULL, 0,
                    sw->total.counts.requests, sw->total.counts.errors,
                    ps_row_percentile(&sw->total.latency, 0.95,
                                      sw->total.counts.latency_max_us)
                    / 1000, now_us);
    ps_alerts_end(s->alerts, now_us);

    if (s->monitor != NULL) {
        ps_monitor_alerts(s->monitor, s->alerts, now_us);
    }

    return 0;
}


/* assembling ------------------------------------------------------------ */

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


/* The path trends' rows of each range: key and JSON refs into the blob,
 * at most limit paths; 0 or -1. */
static int
assemble_path_trends(ps_snapshot_t *s, ps_buf_t *blob, size_t limit,
    size_t *n)
{
    ps_trend_path_json_t   pj;
    ps_snap_row_t         *row;
    ps_snap_ref_t          host, method, path;
    size_t                 pos, cap;
    int                    r;

    *n = 0;
    pos = 0;
    cap = 0;

    for (r = 0; r < PS_SNAP_RANGES; r++) {
        free(s->ptrend[r]);
        s->ptrend[r] = NULL;
    }

    while (*n < limit && ps_trend_paths_next(&s->path_trends, &pos, &pj) == 1)
    {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            for (r = 0; r < PS_SNAP_RANGES; r++) {
                row = realloc(s->ptrend[r], cap * sizeof(ps_snap_row_t));
                if (row == NULL) {
                    return -1;
                }
                s->ptrend[r] = row;
            }
        }

        /* the key's text once for the three ranges */
        if (blob_bytes(blob, &host, pj.key.host, pj.key.hlen) != 0
            || blob_bytes(blob, &method, pj.key.method, pj.key.mlen) != 0
            || blob_bytes(blob, &path, pj.key.path, pj.key.plen) != 0)
        {
            return -1;
        }

        for (r = 0; r < PS_SNAP_RANGES; r++) {
            row = &s->ptrend[r][*n];
            row->host = host;
            row->method = method;
            row->path = path;
            if (blob_bytes(blob, &row->json, pj.json[r], pj.jlen[r]) != 0) {
                return -1;
            }
        }

        (*n)++;
    }

    return 0;
}


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


/* the rows of window w a build with limit[] shows */
#define snap_rows_in(s, w, limit)                                            \
    ((s)->win[w].n < (limit)[w] ? (s)->win[w].n : (limit)[w])

/* what the sections refer to in the blob */
typedef struct {
    ps_snap_ref_t  info[PS_SNAP_ALL_WINDOWS];
    ps_snap_ref_t  summary;
    ps_snap_ref_t  trends[PS_SNAP_RANGES];
    ps_snap_ref_t  long_trends[PS_SNAP_LONG_RANGES];
    ps_snap_ref_t  metrics;
    ps_snap_ref_t  health;
    ps_snap_ref_t  nodes;
    size_t         ntrends;             /* path trends of each range */
} snap_refs_t;


/*
 * Window w's rendering as the last assemble left it can stand when its
 * rows are those it rendered (the collect kept them: ps_rowset_t
 * reused), as many and as shrunk, and nothing was written to the blob
 * before it in this assemble: every window assembled before it stood
 * too, so the blob's bytes from 0 to its end are still what that
 * assemble wrote (an append also writes a NUL after its bytes, where
 * the next window begins, and assemble() empties the blob without
 * writing to it).  A window rendered in an assemble that then failed
 * cannot stand; those after it may have kept valid marks, but stand
 * only after it.
 */
static int
window_stands(const ps_snapshot_t *s, int w, size_t n)
{
    const ps_rowset_t  *sw = &s->win[w];

    return w < PS_SNAP_WINDOWS && sw->reused && s->seg[w].valid
           && s->seg[w].n == n && s->seg[w].shrunk == sw->shrunk
           && s->seg[w].start == s->blob.len
           && s->seg[w].end <= s->blob.cap;
}


/* Window w's first n rows into the blob (key text and JSON), their
 * orders and its window info; 0 or -1.  *stand: every window before w
 * stood as the last assemble left it (window_stands()); cleared when w
 * is rendered. */
static int
assemble_window(ps_snapshot_t *s, int w, size_t n, ps_snap_ref_t *info,
    int *stand)
{
    ps_buf_t       *blob = &s->blob;
    ps_rowset_t    *sw = &s->win[w];
    ps_snap_row_t  *pr;
    ps_row_t       *r;
    size_t          i, start, wstart;
    int             k;

    if (*stand && window_stands(s, w, n)) {
        blob->len = s->seg[w].end;
        *info = s->seg[w].info;
        s->windows_kept++;
        return 0;
    }

    /* written anew, and so is every window after it (none stands after
     * one that did not) */
    *stand = 0;
    if (w < PS_SNAP_WINDOWS) {
        s->seg[w].valid = 0;
    }
    wstart = blob->len;

    free(s->prow[w]);
    free(s->pgram[w]);
    s->prow[w] = calloc(n ? n : 1, sizeof(ps_snap_row_t));
    s->pgram[w] = calloc(n ? n : 1, sizeof(uint64_t));
    if (s->prow[w] == NULL || s->pgram[w] == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        pr = &s->prow[w][i];
        r = &sw->rows[i];

        if (blob_bytes(blob, &pr->host, r->host, r->hlen) != 0
            || blob_bytes(blob, &pr->method, r->method, r->mlen) != 0
            || blob_bytes(blob, &pr->path, r->path, r->plen) != 0)
        {
            return -1;
        }

        s->pgram[w][i] = ps_snap_grams((const unsigned char *) r->path,
                                       r->plen);

        start = blob->len;
        if (ps_render_row(blob, r) != 0
            || blob_ref(blob, &pr->json, start) != 0)
        {
            return -1;
        }
    }

    for (k = 0; k < PS_SNAP_SORTS; k++) {
        if (grow_u32(&s->porder[w][k], n) != 0) {
            return -1;
        }
    }

    if (ps_rowset_orders(sw, n, s->porder[w]) != 0) {
        return -1;
    }

    start = blob->len;

    if (ps_render_window_info(sw, w, n, blob) != 0
        || blob_ref(blob, info, start) != 0)
    {
        return -1;
    }

    if (w < PS_SNAP_WINDOWS) {
        s->seg[w].start = wstart;
        s->seg[w].end = blob->len;
        s->seg[w].n = n;
        s->seg[w].shrunk = sw->shrunk;
        s->seg[w].info = *info;
        s->seg[w].valid = 1;
    }

    return 0;
}


/* The health, summary, trends and metrics texts into the blob; 0 or -1. */
static int
assemble_texts(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    uint64_t now_us, int *problems, snap_refs_t *refs)
{
    ps_buf_t         *blob = &s->blob;
    size_t            start;
    int               k;
    ps_render_ctx_t   rc;

    rc.win = s->win;
    rc.w = s->w;
    rc.alerts = s->alerts;
    rc.in = in;
    rc.sequence = s->sequence;
    rc.gen_seconds = s->last_gen_seconds;
    rc.top = s->top;
    rc.now_us = now_us;
    rc.monitor = s->monitor;

    /* health first: the summary embeds it */

    ps_buf_reset(&s->text);
    if (ps_render_health(in, &s->text, problems) != 0
        || blob_bytes(blob, &refs->health, s->text.data, s->text.len) != 0)
    {
        return -1;
    }

    start = blob->len;
    if (ps_render_summary(&rc, s->text.data, s->text.len, blob) != 0
        || blob_ref(blob, &refs->summary, start) != 0)
    {
        return -1;
    }

    for (k = 0; k < PS_SNAP_RANGES; k++) {
        if (blob_bytes(blob, &refs->trends[k], s->trends[k].data,
                       s->trends[k].len) != 0)
        {
            return -1;
        }
    }

    for (k = 0; k < PS_SNAP_LONG_RANGES; k++) {
        if (blob_bytes(blob, &refs->long_trends[k], s->long_trends[k].data,
                       s->long_trends[k].len) != 0)
        {
            return -1;
        }
    }

    if (assemble_path_trends(s, blob, s->trend_limit, &refs->ntrends) != 0) {
        return -1;
    }

    /* whose view this is: this node's */
    memset(&s->self, 0, sizeof(s->self));
    s->self.kind = PS_SNAP_SCOPE_NODE;
    ps_buf_reset(&s->text);
    if (ps_buf_puts(&s->text, "\"scope\":\"node\",\"node\":") != 0
        || ps_json_quote(&s->text, in->node_id ? in->node_id : "",
                         in->node_id ? strlen(in->node_id) : 0) != 0
        || blob_bytes(blob, &s->self.meta, s->text.data, s->text.len) != 0
        || blob_bytes(blob, &s->self.node, in->node_id ? in->node_id : "",
                      in->node_id ? strlen(in->node_id) : 0) != 0
        || (s->has_fleet
            && blob_bytes(blob, &refs->nodes, s->fleet_nodes.data,
                          s->fleet_nodes.len) != 0))
    {
        return -1;
    }

    ps_buf_reset(&s->text);

    return ps_render_metrics(&rc, &s->text) != 0
           || (s->has_fleet
               && ps_buf_append(&s->text, s->fleet_metrics.data,
                                s->fleet_metrics.len) != 0)
           || blob_bytes(blob, &refs->metrics, s->text.data, s->text.len)
              != 0 ? -1 : 0;
}


/* The snapshot itself: header, section table, ref bodies, rows, orders,
 * blob, into s->out; its size, or 0 if memory ran out. */
static size_t
assemble_layout(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    uint64_t now_us, const size_t *limit, int problems,
    const snap_refs_t *refs)
{
    ps_snap_header_t   *h;
    ps_snap_section_t  *sec;
    size_t              off, total, i, n, nsec;
    uint64_t           *out;
    char               *p;
    int                 w, k, nwin;

    nwin = s->has_days ? PS_SNAP_ALL_WINDOWS : PS_SNAP_WINDOWS;
    nsec = NSECTIONS + (s->has_fleet ? NSECTIONS_FLEET : 1)
           + (s->has_days ? NSECTIONS_DAYS : 0);
    off = align8(sizeof(ps_snap_header_t) + nsec * sizeof(ps_snap_section_t));
    total = off + (nwin + 1 + PS_SNAP_RANGES + 2 + PS_SNAP_LONG_RANGES)
                  * sizeof(ps_snap_ref_t)
            + align8(sizeof(ps_snap_scope_desc_t));

    if (s->has_fleet) {
        total += sizeof(ps_snap_ref_t) + align8(s->fleet_scopes.len);
    }

    for (w = 0; w < nwin; w++) {
        n = snap_rows_in(s, w, limit);
        total += align8(n * sizeof(ps_snap_row_t));
        total += align8(n * sizeof(uint64_t));
        total += PS_SNAP_SORTS * align8(n * sizeof(uint32_t));
    }

    total += PS_SNAP_RANGES * align8(refs->ntrends * sizeof(ps_snap_row_t));
    total += align8(s->blob.len);

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

    for (w = 0; w < nwin; w++) {
        SECTION(w < PS_SNAP_WINDOWS ? PS_SNAP_WINDOW_INFO
                                    : PS_SNAP_DAY_WINDOW_INFO,
                w, &refs->info[w], sizeof(ps_snap_ref_t));
    }
    SECTION(PS_SNAP_SUMMARY, 0, &refs->summary, sizeof(ps_snap_ref_t));
    for (k = 0; k < PS_SNAP_RANGES; k++) {
        SECTION(PS_SNAP_TRENDS, k, &refs->trends[k], sizeof(ps_snap_ref_t));
    }
    for (k = 0; k < PS_SNAP_LONG_RANGES; k++) {
        SECTION(PS_SNAP_LONG_TRENDS, k, &refs->long_trends[k],
                sizeof(ps_snap_ref_t));
    }
    SECTION(PS_SNAP_METRICS, 0, &refs->metrics, sizeof(ps_snap_ref_t));
    SECTION(PS_SNAP_HEALTH, 0, &refs->health, sizeof(ps_snap_ref_t));

    for (k = 0; k < PS_SNAP_RANGES; k++) {
        SECTION(PS_SNAP_PATH_TRENDS, k, s->ptrend[k],
                refs->ntrends * sizeof(ps_snap_row_t));
    }

    for (w = 0; w < nwin; w++) {
        n = snap_rows_in(s, w, limit);
        SECTION(w < PS_SNAP_WINDOWS ? PS_SNAP_ROWS : PS_SNAP_DAY_ROWS, w,
                s->prow[w], n * sizeof(ps_snap_row_t));
        SECTION(PS_SNAP_GRAMS, w, s->pgram[w], n * sizeof(uint64_t));
        for (k = 0; k < PS_SNAP_SORTS; k++) {
            SECTION(w < PS_SNAP_WINDOWS ? PS_SNAP_ORDER : PS_SNAP_DAY_ORDER,
                    w * PS_SNAP_SORTS + k, s->porder[w][k],
                    n * sizeof(uint32_t));
        }
    }

    SECTION(PS_SNAP_SELF, 0, &s->self, sizeof(s->self));

    if (s->has_fleet) {
        SECTION(PS_SNAP_NODES, 0, &refs->nodes, sizeof(ps_snap_ref_t));
        SECTION(PS_SNAP_SCOPES, 0, s->fleet_scopes.data,
                s->fleet_scopes.len);
    }

    SECTION(PS_SNAP_BLOB, 0, s->blob.data, s->blob.len);

#undef SECTION

    return total;
}


/*
 * Renders everything with at most limit[w] rows per window into s->out;
 * returns its length, or 0 on failure.
 */
static size_t
assemble(ps_snapshot_t *s, const ps_snapshot_inputs_t *in, uint64_t now_us,
    const size_t *limit, int problems)
{
    int          i, w, stand = 1;
    snap_refs_t  refs;

    /* the longest window first: once requests stop, 1m changes with
     * every second for a minute while 1h and 24h stand
     * (assemble_window()) */
    static const int  order[PS_SNAP_ALL_WINDOWS] = {
        PS_SNAP_WIN_24H, PS_SNAP_WIN_1H, PS_SNAP_WIN_1M,
        PS_SNAP_WIN_7D, PS_SNAP_WIN_30D
    };

    _Static_assert(PS_SNAP_WINDOWS == 3 && PS_SNAP_ALL_WINDOWS == 5,
                   "the order names every window");

    /* emptied without ps_buf_reset(), which writes a NUL at its start:
     * the windows that stand keep their bytes there */
    s->blob.len = 0;

    for (i = 0; i < (s->has_days ? PS_SNAP_ALL_WINDOWS : PS_SNAP_WINDOWS);
         i++)
    {
        w = order[i];
        if (assemble_window(s, w, snap_rows_in(s, w, limit), &refs.info[w],
                            &stand)
            != 0)
        {
            return 0;
        }
    }

    if (assemble_texts(s, in, now_us, &problems, &refs) != 0) {
        return 0;
    }

    s->own_summary = refs.summary;
    s->own_health = refs.health;

    return assemble_layout(s, in, now_us, limit, problems, &refs);
}


/* This node's own view, for the other nodes (node=ID), and its
 * heartbeat, to the fleet thread. */
static void
offer_own_view(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    uint64_t now_us, size_t cap)
{
    ps_scope_pack_in_t  pin;
    ps_fleet_beat_t     beat;
    char                meta[128];
    unsigned            i;
    int                 w;

    memset(&pin, 0, sizeof(pin));
    pin.kind = PS_SNAP_SCOPE_NODE;
    pin.node = in->node_id;
    pin.meta = meta;
    snprintf(meta, sizeof(meta), "\"scope\":\"node\",\"node\":\"%s\"",
             in->node_id ? in->node_id : "");

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        pin.win[w] = &s->win[w];
        pin.rows[w] = s->cfg->fleet_node_rows;
    }

    pin.summary = s->blob.data + s->own_summary.off;
    pin.summary_len = s->own_summary.len;
    pin.health = s->blob.data + s->own_health.off;
    pin.health_len = s->own_health.len;
    pin.trends = s->trends;
    pin.generated_us = now_us;
    pin.heartbeat_us = in->heartbeat_us;
    pin.sequence = s->sequence;
    pin.ok = 1;

    memset(&beat, 0, sizeof(beat));
    beat.node_id = in->node_id;
    beat.version = PATHSTATS_VERSION;
    beat.zone_generation = in->zone_id;

    for (i = 0; i < in->nsinks; i++) {
        if (in->sinks[i].last_flush_us > beat.last_flush_us) {
            beat.last_flush_us = in->sinks[i].last_flush_us;
        }
        if (in->sinks[i].lag_records > beat.lag_records) {
            beat.lag_records = in->sinks[i].lag_records;
        }
    }

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        beat.requests[w] = s->win[w].total.counts.requests;
    }

    if (ps_scope_pack_build(&pin, &s->own_view) != 0
        || ps_fleet_offer(s->fleet, &s->own_view, &beat, s->trends,
                          cap / 2) != 0)
    {
        ps_log(PS_LOG_WARN, "event=fleet_offer_failed reason=no_memory");
    }
}


uint64_t
ps_snapshot_windows_kept(const ps_snapshot_t *s)
{
    return s->windows_kept;
}


uint64_t
ps_snapshot_assembles(const ps_snapshot_t *s)
{
    return s->assembles;
}


int
ps_snapshot_build(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    uint64_t now_us, size_t cap, const void **out, size_t *len)
{
    size_t    limit[PS_SNAP_ALL_WINDOWS], total, max_rows, n;
    uint64_t  t0;
    int       w, any, top_shrunk, nwin, grow;
    double    f;

    t0 = ps_mono_us();
    s->sequence++;
    take_trends(s);

    if (s->fleet != NULL
        && ps_fleet_take(s->fleet, &s->fleet_scopes, &s->fleet_nodes,
                         &s->fleet_metrics) == 1)
    {
        s->has_fleet = 1;
    }

    if (collect(s, now_us) != 0) {
        return -1;
    }

    take_days(s);
    nwin = s->has_days ? PS_SNAP_ALL_WINDOWS : PS_SNAP_WINDOWS;

    /* the day windows are collected once per read: what this build
     * shrinks is its own */
    for (w = PS_SNAP_WINDOWS; w < PS_SNAP_ALL_WINDOWS; w++) {
        s->win[w].shrunk = 0;
    }

    want_trends(s);

    max_rows = s->cfg->snapshot_max_rows ? s->cfg->snapshot_max_rows
                                         : 10000;

    memset(limit, 0, sizeof(limit));

    /* the last build had to shrink: start near what fitted then rather
     * than render everything once more only to find it too large; an
     * eighth more (rows, the metrics' paths, the path trends), so that
     * they grow back, only when the last snapshot left room for about
     * that much.  A snapshot shrunk to fit is mostly within a tenth of
     * the buffer: trying an eighth more at every build rendered each
     * twice, and a window stands as the last build left it only at the
     * same number of rows */
    grow = s->last_total + s->last_total / 8 <= cap;

    for (w = 0; w < nwin; w++) {
        limit[w] = s->win[w].n < max_rows ? s->win[w].n : max_rows;

        if (s->fit[w] > 0 && s->fit[w] + s->fit[w] / 8 + 1 < limit[w]) {
            limit[w] = grow ? s->fit[w] + s->fit[w] / 8 + 1 : s->fit[w];
            s->win[w].shrunk = 1;
        }
    }

    /* the same for the metrics' top paths, whose series (a histogram
     * each) can outweigh the rows when paths are long */
    s->top = s->cfg->top_n;
    top_shrunk = 0;
    if (s->fit_top > 0 && s->fit_top + s->fit_top / 8 + 1 < s->top) {
        s->top = grow ? s->fit_top + s->fit_top / 8 + 1 : s->fit_top;
        top_shrunk = 1;
    }

    /* the counters' paths: the most requested of the 24h window */
    if (s->monitor != NULL) {
        ps_monitor_rank(s->monitor, &s->win[PS_SNAP_WIN_24H], s->top);
    }

    /* and the path trends, a few kB each */
    s->trend_limit = s->cfg->trend_paths;
    if (s->fit_trends > 0
        && s->fit_trends + s->fit_trends / 8 + 1 < s->trend_limit)
    {
        s->trend_limit = grow ? s->fit_trends + s->fit_trends / 8 + 1
                              : s->fit_trends;
        top_shrunk = 1;
    }

    for ( ;; ) {
        s->assembles++;
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

        for (w = 0; w < nwin; w++) {
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

        if (s->trend_limit > 0) {
            n = (size_t) ((double) s->trend_limit * f);
            s->trend_limit = n < s->trend_limit ? n : s->trend_limit / 2;
            top_shrunk = 1;
            any = 1;
        }

        if (!s->shrink_logged) {
            ps_log(PS_LOG_WARN, "event=snapshot_shrunk size=%zu "
                   "buffer=%zu rows_1m=%zu rows_1h=%zu rows_24h=%zu "
                   "metrics_paths=%zu trend_paths=%zu", total, cap,
                   limit[0], limit[1], limit[2], s->top, s->trend_limit);
            s->shrink_logged = 1;
        }

        if (!any && s->has_fleet
            && s->fleet_scopes.len > sizeof(ps_snap_scopes_t))
        {
            /* the fleet's views did not fit their budget: this node's
             * own view goes first; they are back with the next round
             * of the fleet that fits */
            ps_log(PS_LOG_WARN, "event=snapshot_scopes_omitted size=%zu "
                   "buffer=%zu scopes=%zu", total, cap,
                   s->fleet_scopes.len);
            if (ps_scope_pack_nest(NULL, 0, &s->fleet_scopes) != 0) {
                ps_buf_reset(&s->fleet_scopes);
                s->has_fleet = 0;
            }
            continue;
        }

        if (!any) {
            ps_log(PS_LOG_ERROR, "event=snapshot_failed "
                   "reason=too_large size=%zu buffer=%zu", total, cap);
            return -1;
        }
    }

    for (w = 0; w < nwin; w++) {
        s->fit[w] = s->win[w].shrunk ? limit[w] : 0;
    }
    s->fit_top = top_shrunk ? s->top : 0;
    s->fit_trends = top_shrunk ? s->trend_limit : 0;
    s->last_total = total;

    s->last_gen_seconds = (double) (ps_mono_us() - t0) / 1e6;

    if (s->fleet != NULL && ps_fleet_due(s->fleet, now_us)) {
        offer_own_view(s, in, now_us, cap);
    }

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
    ps_lifecycle_status_t  ls;

    memset(&in, 0, sizeof(in));
    in.node_id = s->cfg->node_id;

    if (s->sched != NULL) {
        ps_scheduler_status(s->sched, &ls);
        in.lifecycle = &ls;
    }

    in.pid = (uint64_t) getpid();
    in.started_us = ps_load_relaxed(&zh->aggregator_started_us);
    in.zone_id = zh->zone_id;
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
