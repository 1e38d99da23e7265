/*
 * Rendering: see render.h.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg_table.h"
#include "lib/hour.h"
#include "lib/json_escape.h"
#include "lib/strbuf.h"
#include "pathstats_snapshot.h"
#include "snapshot/metrics.h"
#include "snapshot/render.h"

#ifndef PATHSTATS_VERSION
#define PATHSTATS_VERSION  "unknown"
#endif

/* the live windows, then the day windows (PS_SNAP_WIN_7D, _30D) */
static const char *const  window_names[PS_SNAP_ALL_WINDOWS] = {
    "1m", "1h", "24h", "7d", "30d"
};

static const double  window_seconds[PS_SNAP_ALL_WINDOWS] = {
    60, 3600, 86400, 7 * 86400, 30 * 86400
};


/*
 * A row is rendered for every key of every window at each snapshot (100 000
 * keys: 300 000 rows a second), so its numbers are written by hand into
 * room reserved once: printf was three quarters of a snapshot's build.
 */

#define ROW_NUMBERS_MAX  (9 * 20 + 5 * 24 + 2 * PS_ISO8601_MAX + 256)


/* Writes us microseconds as milliseconds with three decimals at p (what
 * "%.3f" of us / 1000 prints, to the nearest microsecond; at most 24
 * bytes); returns the end. */
static char *
put_ms_at(char *p, double us)
{
    uint64_t  n, frac;

    if (!(us >= 0 && us < 1e19)) {
        /* not a latency (NaN, or out of the counters' range) */
        return p + snprintf(p, 24, "%.3f", us / 1000);
    }

    n = (uint64_t) (us + 0.5);
    p = ps_u64_text(p, n / 1000);
    frac = n % 1000;
    *p++ = '.';
    *p++ = (char) ('0' + frac / 100);
    *p++ = (char) ('0' + frac / 10 % 10);
    *p++ = (char) ('0' + frac % 10);

    return p;
}


#define PUT_LIT(p, lit)  (memcpy(p, lit, sizeof(lit) - 1), p + sizeof(lit) - 1)


/* Writes the time us as a quoted ISO 8601 time with milliseconds, or
 * null for 0, at p (at most PS_ISO8601_MAX + 2 bytes); returns the
 * end. */
static char *
put_iso_at(char *p, uint64_t us)
{
    if (us == 0) {
        return PUT_LIT(p, "null");
    }

    *p++ = '"';
    ps_format_iso8601_frac((int64_t) us, p, 3);
    p += strlen(p);
    *p++ = '"';

    return p;
}


static int
put_ms(ps_buf_t *b, const char *name, double us)
{
    char  *p;

    if (ps_buf_reserve(b, strlen(name) + 3 + 24) != 0) {
        return -1;
    }

    p = b->data + b->len;
    *p++ = '"';
    p = stpcpy(p, name);
    *p++ = '"';
    *p++ = ':';
    p = put_ms_at(p, us);
    b->len = (size_t) (p - b->data);
    b->data[b->len] = '\0';

    return 0;
}


int
ps_render_iso(ps_buf_t *b, uint64_t us)
{
    char  *p;

    if (ps_buf_reserve(b, PS_ISO8601_MAX + 2) != 0) {
        return -1;
    }

    p = put_iso_at(b->data + b->len, us);
    b->len = (size_t) (p - b->data);
    b->data[b->len] = '\0';

    return 0;
}


int
ps_render_row(ps_buf_t *b, const ps_row_t *r)
{
    double  avg;
    char   *p;

    avg = r->counts.requests ? (double) r->counts.latency_sum_us
                               / (double) r->counts.requests
                             : 0;

    if (ps_buf_puts(b, "{\"host\":") != 0
        || ps_json_quote(b, r->host, r->hlen) != 0
        || ps_buf_puts(b, ",\"method\":") != 0
        || ps_json_quote(b, r->method, r->mlen) != 0
        || ps_buf_puts(b, ",\"path\":") != 0
        || ps_json_quote(b, r->path, r->plen) != 0
        || ps_buf_reserve(b, ROW_NUMBERS_MAX) != 0)
    {
        return -1;
    }

    p = b->data + b->len;
    p = PUT_LIT(p, ",\"requests\":");
    p = ps_u64_text(p, r->counts.requests);
    p = PUT_LIT(p, ",\"errors\":");
    p = ps_u64_text(p, r->counts.errors);
    p = PUT_LIT(p, ",\"status\":{\"1xx\":");
    p = ps_u64_text(p, r->counts.status[0]);
    p = PUT_LIT(p, ",\"2xx\":");
    p = ps_u64_text(p, r->counts.status[1]);
    p = PUT_LIT(p, ",\"3xx\":");
    p = ps_u64_text(p, r->counts.status[2]);
    p = PUT_LIT(p, ",\"4xx\":");
    p = ps_u64_text(p, r->counts.status[3]);
    p = PUT_LIT(p, ",\"5xx\":");
    p = ps_u64_text(p, r->counts.status[4]);
    p = PUT_LIT(p, "},\"bytes_in\":");
    p = ps_u64_text(p, r->counts.bytes_in);
    p = PUT_LIT(p, ",\"bytes_out\":");
    p = ps_u64_text(p, r->counts.bytes_out);
    p = PUT_LIT(p, ",\"latency_ms\":{\"avg\":");
    p = put_ms_at(p, avg);
    p = PUT_LIT(p, ",\"p50\":");
    p = put_ms_at(p, r->p50);
    p = PUT_LIT(p, ",\"p95\":");
    p = put_ms_at(p, r->p95);
    p = PUT_LIT(p, ",\"p99\":");
    p = put_ms_at(p, r->p99);
    p = PUT_LIT(p, ",\"max\":");
    p = put_ms_at(p, (double) r->counts.latency_max_us);
    p = PUT_LIT(p, "},\"unique_clients\":");
    p = ps_u64_text(p, r->unique);
    p = PUT_LIT(p, ",\"first_seen\":");
    p = put_iso_at(p, r->first_us);
    p = PUT_LIT(p, ",\"last_seen\":");
    p = put_iso_at(p, r->last_us);
    if (r->flags & PS_REC_KEY_TRUNCATED) {
        p = PUT_LIT(p, ",\"key_truncated\":true");
    }
    if (r->flags & PS_REC_NORMALIZED) {
        p = PUT_LIT(p, ",\"normalized\":true");
    }
    *p++ = '}';

    b->len = (size_t) (p - b->data);
    b->data[b->len] = '\0';

    return 0;
}


int
ps_render_window_info(const ps_rowset_t *sw, int win, size_t shown,
    ps_buf_t *b)
{
    uint64_t        req, err, bin, bout;
    size_t          i;

    req = sw->rest.counts.requests;
    err = sw->rest.counts.errors;
    bin = sw->rest.counts.bytes_in;
    bout = sw->rest.counts.bytes_out;

    for (i = shown; i < sw->n; i++) {
        req += sw->rows[i].counts.requests;
        err += sw->rows[i].counts.errors;
        bin += sw->rows[i].counts.bytes_in;
        bout += sw->rows[i].counts.bytes_out;
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


/* The lifecycle's reasons: its last success too old, archive_dir too
 * full; 0 or -1. */
static int
lifecycle_health(const ps_snapshot_inputs_t *in, ps_buf_t *b, ps_buf_t *msg,
    int *problems)
{
    uint64_t                      now;
    const ps_lifecycle_status_t  *l = in->lifecycle;

    if (l == NULL || !l->enabled) {
        return 0;
    }

    now = in->heartbeat_us;

    if (l->stale_after_us && in->started_us
        && now > in->started_us + l->stale_after_us
        && l->last_success_us + l->stale_after_us < now)
    {
        ps_buf_reset(msg);
        if (ps_buf_printf(msg, "the history lifecycle has not completed "
                          "for %llu s", l->last_success_us
                          ? (unsigned long long) ((now - l->last_success_us)
                                                  / 1000000)
                          : (unsigned long long) ((now - in->started_us)
                                                  / 1000000)) != 0
            || health_reason(b, msg, problems) != 0)
        {
            return -1;
        }
    }

    if (l->archive_free_bytes >= 0
        && (uint64_t) l->archive_free_bytes < l->min_free_bytes)
    {
        ps_buf_reset(msg);
        if (ps_buf_printf(msg, "archive_dir is nearly full: %lld bytes "
                          "free, archive_min_free is %llu",
                          (long long) l->archive_free_bytes,
                          (unsigned long long) l->min_free_bytes) != 0
            || health_reason(b, msg, problems) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* The summary's "lifecycle" and "consistency" members (with a leading
 * comma), when there is a scheduler; 0 or -1. */
static int
render_lifecycle(const ps_snapshot_inputs_t *in, ps_buf_t *b)
{
    char                          t1[PS_ISO8601_MAX], t2[PS_ISO8601_MAX];
    char                          t3[PS_ISO8601_MAX];
    const ps_lifecycle_status_t  *l = in->lifecycle;

    if (l == NULL) {
        return 0;
    }

    if (l->last_success_us) {
        ps_format_iso8601((int64_t) l->last_success_us, t1 + 1);
        t1[0] = '"';
        strcat(t1, "\"");
    } else {
        strcpy(t1, "null");
    }

    if (l->last_run_us) {
        ps_format_iso8601((int64_t) l->last_run_us, t2 + 1);
        t2[0] = '"';
        strcat(t2, "\"");
    } else {
        strcpy(t2, "null");
    }

    if (l->verify_at_us) {
        ps_format_iso8601((int64_t) l->verify_at_us, t3 + 1);
        t3[0] = '"';
        strcat(t3, "\"");
    } else {
        strcpy(t3, "null");
    }

    return ps_buf_printf(b,
        ",\"lifecycle\":{\"enabled\":%s,\"last_success\":%s,"
        "\"last_run\":%s,\"duration_seconds\":%.3f,\"runs\":%llu,"
        "\"rows_rolled_up\":%lld,\"rows_archived\":%lld,"
        "\"rows_dropped\":%lld,\"failures\":%llu,"
        "\"hourly_bytes\":%lld,\"daily_bytes\":%lld,"
        "\"archive_bytes\":%lld,\"archive_free_bytes\":%lld},"
        "\"consistency\":{\"checked_at\":%s,\"checked\":%lld,"
        "\"mismatches\":%lld}",
        l->enabled ? "true" : "false", t1, t2,
        (double) l->last_duration_us / 1e6, (unsigned long long) l->runs,
        (long long) l->rows_rolled, (long long) l->rows_archived,
        (long long) l->rows_dropped, (unsigned long long) l->failures,
        (long long) l->hourly_bytes, (long long) l->daily_bytes,
        (long long) l->archive_bytes, (long long) l->archive_free_bytes,
        t3, (long long) l->verify_checked,
        (long long) l->verify_mismatches);
}


/* The lifecycle's gauges and counters, when there is a scheduler. */
static int
lifecycle_metrics(const ps_snapshot_inputs_t *in, ps_buf_t *b)
{
    const ps_lifecycle_status_t  *l = in->lifecycle;

    if (l == NULL || !l->enabled) {
        return 0;
    }

    return ps_buf_printf(b,
        "# HELP pathstats_lifecycle_last_success_timestamp_seconds When "
        "the history lifecycle last completed (any node).\n"
        "# TYPE pathstats_lifecycle_last_success_timestamp_seconds gauge\n"
        "pathstats_lifecycle_last_success_timestamp_seconds %.3f\n"
        "# HELP pathstats_lifecycle_duration_seconds How long this node's "
        "last lifecycle run took.\n"
        "# TYPE pathstats_lifecycle_duration_seconds gauge\n"
        "pathstats_lifecycle_duration_seconds %.3f\n"
        "# HELP pathstats_lifecycle_rows Rows the last run of this node "
        "rolled up, archived and dropped.\n"
        "# TYPE pathstats_lifecycle_rows gauge\n"
        "pathstats_lifecycle_rows{step=\"rollup\"} %lld\n"
        "pathstats_lifecycle_rows{step=\"archive\"} %lld\n"
        "pathstats_lifecycle_rows{step=\"drop\"} %lld\n"
        "# HELP pathstats_lifecycle_runs_total Lifecycle runs of this node.\n"
        "# TYPE pathstats_lifecycle_runs_total counter\n"
        "pathstats_lifecycle_runs_total %llu\n"
        "# HELP pathstats_lifecycle_failures_total Lifecycle steps that "
        "failed on this node.\n"
        "# TYPE pathstats_lifecycle_failures_total counter\n"
        "pathstats_lifecycle_failures_total %llu\n"
        "# HELP pathstats_history_bytes Bytes of the history tables and "
        "archives.\n"
        "# TYPE pathstats_history_bytes gauge\n"
        "pathstats_history_bytes{tier=\"hourly\"} %lld\n"
        "pathstats_history_bytes{tier=\"daily\"} %lld\n"
        "pathstats_history_bytes{tier=\"archive\"} %lld\n"
        "# HELP pathstats_archive_dir_free_bytes Free space of archive_dir "
        "(-1: unknown).\n"
        "# TYPE pathstats_archive_dir_free_bytes gauge\n"
        "pathstats_archive_dir_free_bytes %lld\n",
        (double) l->last_success_us / 1e6,
        (double) l->last_duration_us / 1e6, (long long) l->rows_rolled,
        (long long) l->rows_archived, (long long) l->rows_dropped,
        (unsigned long long) l->runs, (unsigned long long) l->failures,
        (long long) l->hourly_bytes, (long long) l->daily_bytes,
        (long long) l->archive_bytes, (long long) l->archive_free_bytes);
}


int
ps_render_health(const ps_snapshot_inputs_t *in, ps_buf_t *b, int *problems)
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

    if (lifecycle_health(in, b, &msg, problems) != 0) {
        goto done;
    }

    rc = ps_buf_putc(b, ']');

done:

    ps_buf_free(&msg);
    return rc;
}


static int
render_window_summary(const ps_rowset_t *sw, int win, ps_buf_t *b)
{
    return ps_render_window_summary(&sw->total, (int64_t) sw->total_rows,
                                    win, b);
}


int
ps_render_window_summary(const ps_win_stats_t *t, int64_t paths, int win,
    ps_buf_t *b)
{
    double           avg, rate;
    char             np[24];

    avg = t->counts.requests ? (double) t->counts.latency_sum_us
                               / (double) t->counts.requests
                             : 0;
    rate = t->counts.requests ? (double) t->counts.errors
                                / (double) t->counts.requests
                              : 0;

    if (paths < 0) {
        snprintf(np, sizeof(np), "null");
    } else {
        snprintf(np, sizeof(np), "%lld", (long long) paths);
    }

    return ps_buf_printf(b, "\"%s\":{\"requests\":%llu,\"errors\":%llu,"
                  "\"error_rate\":%.6f,\"requests_per_second\":%.3f,"
                  "\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
                  "\"4xx\":%llu,\"5xx\":%llu},"
                  "\"bytes_in\":%llu,\"bytes_out\":%llu,"
                  "\"paths\":%s,\"unique_clients\":%llu,\"latency_ms\":{",
                  window_names[win], (unsigned long long) t->counts.requests,
                  (unsigned long long) t->counts.errors, rate,
                  (double) t->counts.requests / window_seconds[win],
                  (unsigned long long) t->counts.status[0],
                  (unsigned long long) t->counts.status[1],
                  (unsigned long long) t->counts.status[2],
                  (unsigned long long) t->counts.status[3],
                  (unsigned long long) t->counts.status[4],
                  (unsigned long long) t->counts.bytes_in,
                  (unsigned long long) t->counts.bytes_out, np,
                  (unsigned long long)
                      llround(ps_hll_cardinality(&t->clients))) != 0
           || put_ms(b, "avg", avg) != 0 || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p50", ps_row_percentile(&t->latency, 0.50,
                                                 t->counts.latency_max_us)) != 0
           || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p95", ps_row_percentile(&t->latency, 0.95,
                                                 t->counts.latency_max_us)) != 0
           || ps_buf_putc(b, ',') != 0
           || put_ms(b, "p99", ps_row_percentile(&t->latency, 0.99,
                                                 t->counts.latency_max_us)) != 0
           || ps_buf_putc(b, ',') != 0
           || put_ms(b, "max", (double) t->counts.latency_max_us) != 0
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
            || ps_render_iso(b, st->last_flush_us) != 0
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


/* ,"silences":[...],"notifications":{...}; 0 or -1 */
static int
render_notifications(const ps_render_ctx_t *c, ps_buf_t *b)
{
    const ps_notifier_t   *nf;
    ps_incidents_stats_t   st;
    ps_webhook_stats_t     w;
    unsigned               i, n;

    if (c->monitor == NULL) {
        return ps_buf_puts(b, ",\"silences\":[],\"notifications\":null");
    }

    ps_monitor_incidents(c->monitor, &st);
    nf = ps_monitor_notifier(c->monitor);
    n = ps_notifier_count(nf);

    if (ps_buf_puts(b, ",\"silences\":") != 0
        || ps_silences_json(ps_monitor_silences(c->monitor), c->now_us, b)
           != 0
        || ps_buf_printf(b, ",\"notifications\":{\"fired\":%llu,"
                         "\"resolved\":%llu,\"open_incidents\":%zu,"
                         "\"silenced_alerts\":%zu,\"grouped_paths\":%zu,"
                         "\"webhooks\":[",
                         (unsigned long long) st.fired,
                         (unsigned long long) st.resolved, st.open,
                         st.silenced, st.grouped) != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        ps_notifier_stats(nf, i, &w);

        if (ps_buf_printf(b, "%s{\"webhook\":%u,\"host\":", i ? "," : "",
                          w.number) != 0
            || ps_json_quote(b, w.host, strlen(w.host)) != 0
            || ps_buf_printf(b, ",\"sent\":%llu,\"failed\":%llu,"
                             "\"retries\":%llu,\"dropped\":%llu,"
                             "\"queued\":%zu,\"last_failure_at\":",
                             (unsigned long long) w.sent,
                             (unsigned long long) w.failed,
                             (unsigned long long) w.retries,
                             (unsigned long long) w.dropped, w.queued) != 0
            || ps_render_iso(b, w.last_failure_us) != 0
            || ps_buf_puts(b, ",\"last_error\":") != 0
            || (w.last_error[0]
                ? ps_json_quote(b, w.last_error, strlen(w.last_error))
                : ps_buf_puts(b, "null")) != 0
            || ps_buf_putc(b, '}') != 0)
        {
            return -1;
        }
    }

    return ps_buf_puts(b, "]}");
}


int
ps_render_summary(const ps_render_ctx_t *c, const char *health,
    size_t health_len, ps_buf_t *b)
{
    const ps_snapshot_inputs_t  *in = c->in;
    uint64_t                     now_us = c->now_us;

    ps_win_client_t  top[PS_SNAPSHOT_TOP_CLIENTS];
    uint64_t         other, uptime;
    size_t           n, i;
    int              w;

    uptime = (in->started_us && now_us > in->started_us)
             ? (now_us - in->started_us) / 1000000 : 0;

    if (ps_buf_puts(b, "{\"generated_at\":") != 0
        || ps_render_iso(b, now_us) != 0
        || ps_buf_puts(b, ",\"node_id\":") != 0
        || ps_json_quote(b, in->node_id ? in->node_id : "",
                         in->node_id ? strlen(in->node_id) : 0) != 0
        || ps_buf_printf(b, ",\"version\":\"%s\",\"pid\":%llu,"
                         "\"uptime_seconds\":%llu,\"started_at\":",
                         PATHSTATS_VERSION, (unsigned long long) in->pid,
                         (unsigned long long) uptime) != 0
        || ps_render_iso(b, in->started_us) != 0
        || ps_buf_puts(b, ",\"heartbeat_at\":") != 0
        || ps_render_iso(b, in->heartbeat_us) != 0
        || ps_buf_printf(b, ",\"requests_per_second\":%.3f,\"windows\":{",
                         (double) c->win[PS_SNAP_WIN_1M].total.counts.requests
                         / 60) != 0)
    {
        return -1;
    }

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        if ((w && ps_buf_putc(b, ',') != 0)
            || render_window_summary(&c->win[w], w, b) != 0)
        {
            return -1;
        }
    }

    n = ps_windows_top_clients(c->w, now_us, top, PS_SNAPSHOT_TOP_CLIENTS,
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
        || ps_alerts_json(c->alerts, b) != 0
        || render_notifications(c, b) != 0
        || ps_buf_printf(b, ",\"pipeline\":{\"rings\":{\"count\":%u,"
                  "\"seen\":%llu,\"recorded\":%llu,\"dropped\":%llu,"
                  "\"consumed\":%llu,\"in_ring\":%llu,\"lost\":%llu},"
                  "\"records_read\":%llu,\"window_keys\":%zu,"
                  "\"window_overflow_requests\":%llu,"
                  "\"window_folded_keys\":%llu,"
                  "\"snapshot_sequence\":%llu,"
                  "\"snapshot_generation_seconds\":%.6f,\"sinks\":",
                  in->ring_count, (unsigned long long) in->rings.seen,
                  (unsigned long long) in->rings.recorded,
                  (unsigned long long) in->rings.dropped,
                  (unsigned long long) in->rings.consumed,
                  (unsigned long long) in->rings.in_ring,
                  (unsigned long long) in->rings.lost,
                  (unsigned long long) in->records,
                  ps_windows_keys(c->w),
                  (unsigned long long) ps_windows_overflowed(c->w),
                  (unsigned long long) ps_windows_folded(c->w),
                  (unsigned long long) c->sequence,
                  c->gen_seconds) != 0
        || render_sinks(in, b) != 0
        || ps_buf_puts(b, "},\"health\":") != 0
        || ps_buf_append(b, health, health_len) != 0
        || render_lifecycle(in, b) != 0
        || ps_buf_putc(b, '}') != 0)
    {
        return -1;
    }

    return 0;
}


static void
metrics_row(ps_metrics_path_t *m, const ps_row_t *r)
{
    m->host = r->host;
    m->method = r->method;
    m->path = r->path;
    m->hlen = r->hlen;
    m->mlen = r->mlen;
    m->plen = r->plen;
    m->counts = r->counts;
    m->unique = r->unique;
}


int
ps_render_metrics(const ps_render_ctx_t *c, ps_buf_t *b)
{
    const ps_snapshot_inputs_t  *in = c->in;

    const ps_rowset_t     *sw = &c->win[PS_SNAP_WIN_24H];
    const ps_lifetime_t   *lt;
    const ps_notifier_t   *nf;
    ps_metrics_path_t     *top, other;
    ps_lifetime_series_t  *series = NULL, lt_other, lt_total;
    ps_webhook_stats_t    *hooks = NULL;
    ps_metrics_input_t     mi;
    size_t                 i, n = 0, max;
    unsigned               k;
    int                    rc = -1;

    memset(&mi, 0, sizeof(mi));

    max = c->top;
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
        if (n < max && !ps_row_is_other(&sw->rows[i])) {
            metrics_row(&top[n++], &sw->rows[i]);
            continue;
        }

        ps_counts_merge(&other.counts, &sw->rows[i].counts);
    }

    /* and the keys beyond the rows kept */
    ps_counts_merge(&other.counts, &sw->rest.counts);

    mi.paths = top;
    mi.npaths = n;
    mi.other = other.counts.requests ? &other : NULL;
    mi.unique_24h = (uint64_t) llround(ps_hll_cardinality(&sw->total.clients));

    mi.alerts = c->alerts;

    if (c->monitor != NULL) {
        lt = ps_monitor_lifetime(c->monitor);
        mi.nseries = ps_lifetime_count(lt);
        series = calloc(mi.nseries ? mi.nseries : 1,
                        sizeof(ps_lifetime_series_t));
        if (series == NULL) {
            goto done;
        }

        for (i = 0; i < mi.nseries; i++) {
            ps_lifetime_get(lt, i, &series[i]);
        }

        ps_lifetime_other(lt, &lt_other);
        ps_lifetime_total(lt, &lt_total);
        mi.series = series;
        mi.series_other = &lt_other;
        mi.series_total = &lt_total;

        ps_monitor_incidents(c->monitor, &mi.incidents);
        mi.silences = ps_silences_in_force(ps_monitor_silences(c->monitor),
                                           c->now_us);

        nf = ps_monitor_notifier(c->monitor);
        mi.nwebhooks = ps_notifier_count(nf);
        hooks = calloc(mi.nwebhooks ? mi.nwebhooks : 1,
                       sizeof(ps_webhook_stats_t));
        if (hooks == NULL) {
            goto done;
        }

        for (k = 0; k < mi.nwebhooks; k++) {
            ps_notifier_stats(nf, k, &hooks[k]);
        }
        mi.webhooks = hooks;
    }

    mi.rings = &in->rings;
    mi.sinks = in->sinks;
    mi.nsinks = in->nsinks;
    mi.generation_seconds = c->gen_seconds;
    mi.snapshot_sequence = c->sequence;

    rc = ps_metrics_render(b, &mi);
    if (rc == 0) {
        rc = lifecycle_metrics(in, b);
    }

done:

    free(series);
    free(hooks);
    free(top);

    return rc;
}
