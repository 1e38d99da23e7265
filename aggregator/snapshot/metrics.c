/*
 * Prometheus text of the snapshot: see metrics.h.
 */

#include <stddef.h>
#include <string.h>

#include "snapshot/metrics.h"
#include "snapshot/metrics_alerts.h"
#include "snapshot/prom_text.h"

static const char *const  class_names[5] = {
    "1xx", "2xx", "3xx", "4xx", "5xx"
};


static int
labels(ps_buf_t *b, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen)
{
    return ps_buf_puts(b, "host=\"") != 0
           || ps_metrics_label_escape(b, host, hlen) != 0
           || ps_buf_puts(b, "\",method=\"") != 0
           || ps_metrics_label_escape(b, method, mlen) != 0
           || ps_buf_puts(b, "\",path=\"") != 0
           || ps_metrics_label_escape(b, path, plen) != 0
           || ps_buf_puts(b, "\"") != 0 ? -1 : 0;
}


/* The escaped labels of a series, made once for all its lines. */
#define SERIES_LABELS(lab, r)                                                \
    (ps_buf_reset(lab),                                                     \
     labels(lab, (r)->host, (r)->hlen, (r)->method, (r)->mlen, (r)->path,   \
            (r)->plen))


static int
put_labels(ps_buf_t *b, const ps_buf_t *lab)
{
    return lab->len ? ps_buf_append(b, lab->data, lab->len) : 0;
}


/* pathstats_requests_window_24h of one row, its non-zero classes */
static int
window_rows(ps_buf_t *b, const ps_metrics_path_t *r, ps_buf_t *lab)
{
    int  c;

    if (SERIES_LABELS(lab, r) != 0) {
        return -1;
    }

    for (c = 0; c < 5; c++) {
        if (r->counts.status[c] == 0) {
            continue;
        }

        if (ps_buf_puts(b, "pathstats_requests_window_24h{") != 0
            || put_labels(b, lab) != 0
            || ps_buf_printf(b, ",status=\"%s\"} %llu\n", class_names[c],
                             (unsigned long long) r->counts.status[c]) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* pathstats_requests_total of one series: every class, so that rate()
 * sees a class from its first request on; requests without a class
 * (status < 100) only once there are some */
static int
requests_total_rows(ps_buf_t *b, const ps_lifetime_series_t *s,
    const ps_buf_t *lab)
{
    int  c;

    for (c = 0; c < PS_LIFETIME_CLASSES; c++) {
        if (c == 5 && s->status[c] == 0) {
            continue;
        }

        if (ps_buf_puts(b, "pathstats_requests_total{") != 0
            || put_labels(b, lab) != 0
            || ps_buf_printf(b, ",status=\"%s\"} %llu\n",
                             c < 5 ? class_names[c] : "none",
                             (unsigned long long) s->status[c]) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
bytes_total_row(ps_buf_t *b, const ps_lifetime_series_t *s,
    const ps_buf_t *lab)
{
    return ps_buf_puts(b, "pathstats_response_bytes_total{") != 0
           || put_labels(b, lab) != 0
           || ps_buf_printf(b, "} %llu\n",
                            (unsigned long long) s->bytes_out) != 0 ? -1 : 0;
}


/* one series of the duration histogram: labelled by path (lab), or not
 * (lab empty) */
static int
histogram_rows(ps_buf_t *b, const ps_lifetime_series_t *s,
    const ps_buf_t *lab)
{
    const char  *sep = lab->len ? "," : "";
    int          i;

#define NAME  "pathstats_request_duration_seconds"

    for (i = 0; i < PS_HIST_PROM_NLE; i++) {
        if (ps_buf_puts(b, NAME "_bucket{") != 0 || put_labels(b, lab) != 0
            || ps_buf_printf(b, "%sle=\"%s\"} %llu\n", sep,
                             ps_hist_prom_le_str[i],
                             (unsigned long long) s->le[i]) != 0)
        {
            return -1;
        }
    }

    if (ps_buf_puts(b, NAME "_bucket{") != 0 || put_labels(b, lab) != 0
        || ps_buf_printf(b, "%sle=\"+Inf\"} %llu\n", sep,
                         (unsigned long long) s->requests) != 0
        || ps_buf_puts(b, NAME "_sum") != 0
        || (lab->len && (ps_buf_putc(b, '{') != 0 || put_labels(b, lab) != 0
                         || ps_buf_putc(b, '}') != 0))
        || ps_buf_printf(b, " %.6f\n", (double) s->latency_sum_us / 1e6)
           != 0
        || ps_buf_puts(b, NAME "_count") != 0
        || (lab->len && (ps_buf_putc(b, '{') != 0 || put_labels(b, lab) != 0
                         || ps_buf_putc(b, '}') != 0))
        || ps_buf_printf(b, " %llu\n", (unsigned long long) s->requests)
           != 0)
    {
        return -1;
    }

#undef NAME

    return 0;
}


/* fn for every exported path, then {other}, with its labels; 0 or -1 */
static int
each_series(ps_buf_t *b, const ps_metrics_input_t *in, ps_buf_t *lab,
    int (*fn)(ps_buf_t *b, const ps_lifetime_series_t *s,
              const ps_buf_t *lab))
{
    size_t  i;

    for (i = 0; i < in->nseries; i++) {
        if (SERIES_LABELS(lab, &in->series[i]) != 0
            || fn(b, &in->series[i], lab) != 0)
        {
            return -1;
        }
    }

    return in->series_other == NULL ? 0
           : SERIES_LABELS(lab, in->series_other) != 0
             || fn(b, in->series_other, lab) != 0 ? -1 : 0;
}


/* The counters since start: every exported path, then {other}. */
static int
lifetime_families(ps_buf_t *b, const ps_metrics_input_t *in, ps_buf_t *lab)
{
    return ps_metrics_family(b, "pathstats_requests_total", "counter",
                             "Requests since the aggregator started, by path "
                             "and status class: the top paths, the rest in "
                             "path=\"{other}\".") != 0
           || each_series(b, in, lab, requests_total_rows) != 0
           || ps_metrics_family(b, "pathstats_response_bytes_total", "counter",
                                "Bytes sent in responses since the aggregator "
                                "started, by path.") != 0
           || each_series(b, in, lab, bytes_total_row) != 0
           || ps_metrics_family(b, "pathstats_request_duration_seconds",
                                "histogram",
                                "Request latency since the aggregator started: "
                                "all requests (no labels), and by path (the "
                                "top paths and {other}).") != 0
           || (in->series_total
               && (ps_buf_reset(lab),
                   histogram_rows(b, in->series_total, lab)) != 0)
           || each_series(b, in, lab, histogram_rows) != 0 ? -1 : 0;
}


/* The gauges of the rolling 24h window. */
static int
window_families(ps_buf_t *b, const ps_metrics_input_t *in, ps_buf_t *lab)
{
    size_t  i;

    if (ps_metrics_family(b, "pathstats_requests_window_24h", "gauge",
                          "Requests in the rolling window of the last 24 hours "
                          "(a gauge: use pathstats_requests_total for rates), "
                          "by path and status class: the top paths, the "
                          "rest in path=\"{other}\".") != 0)
    {
        return -1;
    }

    for (i = 0; i < in->npaths; i++) {
        if (window_rows(b, &in->paths[i], lab) != 0) {
            return -1;
        }
    }

    if (in->other != NULL && window_rows(b, in->other, lab) != 0) {
        return -1;
    }

    if (ps_metrics_family(b, "pathstats_unique_clients_window_24h", "gauge",
                          "Distinct client addresses in the rolling window of "
                          "the last 24 hours (estimated): all requests (no "
                          "labels) and the top paths.") != 0
        || ps_buf_printf(b, "pathstats_unique_clients_window_24h %llu\n",
                         (unsigned long long) in->unique_24h) != 0)
    {
        return -1;
    }

    for (i = 0; i < in->npaths; i++) {
        if (SERIES_LABELS(lab, &in->paths[i]) != 0
            || ps_buf_puts(b, "pathstats_unique_clients_window_24h{") != 0
            || put_labels(b, lab) != 0
            || ps_buf_printf(b, "} %llu\n",
                             (unsigned long long) in->paths[i].unique) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
counter(ps_buf_t *b, const char *name, const char *help, uint64_t v)
{
    return ps_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                         name, help, name, name, (unsigned long long) v);
}


/* One family with a row per sink that has a spool: the uint64_t field
 * of ps_sink_status_t at offset off.  Declared even when no sink has one,
 * so that rules and dashboards find the name. */
static int
spool_family(ps_buf_t *b, const ps_metrics_input_t *in, const char *name,
    const char *type, const char *help, size_t off)
{
    unsigned                 s;
    const ps_sink_status_t  *st;

    if (ps_metrics_family(b, name, type, help) != 0) {
        return -1;
    }

    for (s = 0; s < in->nsinks; s++) {
        st = &in->sinks[s];
        if (!st->spool) {
            continue;
        }

        if (ps_buf_printf(b, "%s{sink=\"", name) != 0
            || ps_metrics_label_escape(b, st->name, strlen(st->name)) != 0
            || ps_buf_printf(b, "\"} %llu\n", (unsigned long long)
                             *(const uint64_t *) ((const char *) st + off))
               != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* The rings, the sinks, the spools and the snapshot. */
static int
pipeline_families(ps_buf_t *b, const ps_metrics_input_t *in)
{
    unsigned  s;

    if (counter(b, "pathstats_ring_seen_total",
                "Requests seen by the nginx workers.", in->rings->seen) != 0
        || counter(b, "pathstats_ring_dropped_total",
                   "Requests dropped because a ring was full.",
                   in->rings->dropped) != 0
        || counter(b, "pathstats_ring_consumed_total",
                   "Records consumed by the aggregator.",
                   in->rings->consumed) != 0
        || counter(b, "pathstats_ring_lost_total",
                   "Records lost in slots of dead workers.",
                   in->rings->lost) != 0)
    {
        return -1;
    }

    if (ps_buf_puts(b, "# HELP pathstats_sink_up Whether the last write "
                       "to a sink succeeded.\n"
                       "# TYPE pathstats_sink_up gauge\n") != 0)
    {
        return -1;
    }

    for (s = 0; s < in->nsinks; s++) {
        if (ps_buf_puts(b, "pathstats_sink_up{sink=\"") != 0
            || ps_metrics_label_escape(b, in->sinks[s].name,
                                       strlen(in->sinks[s].name)) != 0
            || ps_buf_printf(b, "\"} %d\n", in->sinks[s].up ? 1 : 0) != 0)
        {
            return -1;
        }
    }

    if (spool_family(b, in, "pathstats_spool_segments", "gauge",
                     "Flushes waiting in the disk spool for their sink.",
                     offsetof(ps_sink_status_t, spool_segments)) != 0
        || spool_family(b, in, "pathstats_spool_bytes", "gauge",
                        "Size of the disk spool's segments.",
                        offsetof(ps_sink_status_t, spool_bytes)) != 0
        || spool_family(b, in, "pathstats_spool_dropped_requests_total",
                        "counter", "Requests lost because the disk spool "
                        "was full (spool_max).",
                        offsetof(ps_sink_status_t, spool_dropped)) != 0
        || spool_family(b, in, "pathstats_spool_corrupt_segments_total",
                        "counter", "Spool segments that failed their "
                        "checks, moved to corrupt/ and not applied.",
                        offsetof(ps_sink_status_t, spool_corrupt)) != 0)
    {
        return -1;
    }

    return ps_buf_printf(b,
        "# HELP pathstats_snapshot_generation_seconds Time the aggregator "
        "took to build the previous snapshot.\n"
        "# TYPE pathstats_snapshot_generation_seconds gauge\n"
        "pathstats_snapshot_generation_seconds %.6f\n"
        "# HELP pathstats_snapshot_sequence Number of this snapshot.\n"
        "# TYPE pathstats_snapshot_sequence gauge\n"
        "pathstats_snapshot_sequence %llu\n",
        in->generation_seconds,
        (unsigned long long) in->snapshot_sequence);
}


static int
alert_families(ps_buf_t *b, const ps_metrics_input_t *in)
{
    ps_metrics_alerts_input_t  a;

    a.alerts = in->alerts;
    a.incidents = in->incidents;
    a.silences = in->silences;
    a.webhooks = in->webhooks;
    a.nwebhooks = in->nwebhooks;

    return ps_metrics_render_alerts(b, &a);
}


int
ps_metrics_render(ps_buf_t *b, const ps_metrics_input_t *in)
{
    ps_buf_t  lab = PS_BUF_INIT;
    int       rc;

    rc = lifetime_families(b, in, &lab) != 0
         || window_families(b, in, &lab) != 0
         || alert_families(b, in) != 0
         || pipeline_families(b, in) != 0 ? -1 : 0;

    ps_buf_free(&lab);

    return rc;
}
