/*
 * Prometheus text of the snapshot: see metrics.h.
 */

#include <stddef.h>
#include <string.h>

#include "lib/utf8.h"
#include "snapshot/metrics.h"

static const char *const  class_names[5] = {
    "1xx", "2xx", "3xx", "4xx", "5xx"
};


int
ps_metrics_label_escape(ps_buf_t *b, const char *s, size_t len)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                i, n;

    for (i = 0; i < len; /* void */) {
        switch (p[i]) {

        case '\\':
            if (ps_buf_append(b, "\\\\", 2) != 0) {
                return -1;
            }
            i++;
            continue;

        case '"':
            if (ps_buf_append(b, "\\\"", 2) != 0) {
                return -1;
            }
            i++;
            continue;

        case '\n':
            if (ps_buf_append(b, "\\n", 2) != 0) {
                return -1;
            }
            i++;
            continue;

        default:
            break;
        }

        /* a control character is shown, never sent raw: the text format
         * has no escape for it, and a raw CR or tab misleads a reader */
        n = (p[i] < 0x20 || p[i] == 0x7F) ? 0
                                          : ps_utf8_sequence(p + i, len - i);

        if (n == 0) {
            if (ps_buf_printf(b, "\\\\x%02X", p[i]) != 0) {
                return -1;
            }
            i++;
            continue;
        }

        if (ps_buf_append(b, p + i, n) != 0) {
            return -1;
        }
        i += n;
    }

    return 0;
}


static int
path_labels(ps_buf_t *b, const ps_metrics_path_t *r)
{
    return ps_buf_puts(b, "host=\"") != 0
           || ps_metrics_label_escape(b, r->host, r->hlen) != 0
           || ps_buf_puts(b, "\",method=\"") != 0
           || ps_metrics_label_escape(b, r->method, r->mlen) != 0
           || ps_buf_puts(b, "\",path=\"") != 0
           || ps_metrics_label_escape(b, r->path, r->plen) != 0
           || ps_buf_puts(b, "\"") != 0 ? -1 : 0;
}


static int
requests_rows(ps_buf_t *b, const ps_metrics_path_t *r)
{
    int  c;

    for (c = 0; c < 5; c++) {
        if (r->counts.status[c] == 0) {
            continue;
        }

        if (ps_buf_puts(b, "pathstats_requests_24h{") != 0
            || path_labels(b, r) != 0
            || ps_buf_printf(b, ",status=\"%s\"} %llu\n", class_names[c],
                             (unsigned long long) r->counts.status[c]) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
histogram_rows(ps_buf_t *b, const ps_metrics_path_t *r, int labelled)
{
    const char  *sep = labelled ? "," : "";
    int          i;

#define NAME  "pathstats_request_duration_seconds"
#define LABELS()                                                             \
    (labelled ? path_labels(b, r) : 0)

    for (i = 0; i < PS_HIST_PROM_NLE; i++) {
        if (ps_buf_puts(b, NAME "_bucket{") != 0 || LABELS() != 0
            || ps_buf_printf(b, "%sle=\"%s\"} %llu\n", sep,
                             ps_hist_prom_le_str[i],
                             (unsigned long long) r->le[i]) != 0)
        {
            return -1;
        }
    }

    if (ps_buf_puts(b, NAME "_bucket{") != 0 || LABELS() != 0
        || ps_buf_printf(b, "%sle=\"+Inf\"} %llu\n", sep,
                         (unsigned long long) r->counts.requests) != 0
        || ps_buf_puts(b, NAME "_sum") != 0
        || (labelled && (ps_buf_putc(b, '{') != 0 || LABELS() != 0
                         || ps_buf_putc(b, '}') != 0))
        || ps_buf_printf(b, " %.6f\n", (double) r->counts.latency_sum_us / 1e6)
           != 0
        || ps_buf_puts(b, NAME "_count") != 0
        || (labelled && (ps_buf_putc(b, '{') != 0 || LABELS() != 0
                         || ps_buf_putc(b, '}') != 0))
        || ps_buf_printf(b, " %llu\n", (unsigned long long) r->counts.requests)
           != 0)
    {
        return -1;
    }

#undef LABELS
#undef NAME

    return 0;
}


static int
counter(ps_buf_t *b, const char *name, const char *help, uint64_t v)
{
    return ps_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                         name, help, name, name, (unsigned long long) v);
}


/* One family with a row per sink that has a spool: the uint64_t field
 * of ps_sink_status_t at offset off.  Nothing when no sink has one. */
static int
spool_family(ps_buf_t *b, const ps_metrics_input_t *in, const char *name,
    const char *type, const char *help, size_t off)
{
    unsigned                 s;
    int                      head = 0;
    const ps_sink_status_t  *st;

    for (s = 0; s < in->nsinks; s++) {
        st = &in->sinks[s];
        if (!st->spool) {
            continue;
        }

        if (!head
            && ps_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                             name, type) != 0)
        {
            return -1;
        }
        head = 1;

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


int
ps_metrics_render(ps_buf_t *b, const ps_metrics_input_t *in)
{
    size_t    i;
    unsigned  s;

    if (ps_buf_puts(b,
            "# HELP pathstats_requests_24h Requests of the last 24 hours "
            "by path and status class: the top paths, the rest in "
            "path=\"{other}\".\n"
            "# TYPE pathstats_requests_24h gauge\n") != 0)
    {
        return -1;
    }

    for (i = 0; i < in->npaths; i++) {
        if (requests_rows(b, &in->paths[i]) != 0) {
            return -1;
        }
    }

    if (in->other != NULL && requests_rows(b, in->other) != 0) {
        return -1;
    }

    if (ps_buf_puts(b,
            "# HELP pathstats_request_duration_seconds Request latency of "
            "the last 24 hours: overall (no labels) and of the top paths.\n"
            "# TYPE pathstats_request_duration_seconds histogram\n") != 0
        || histogram_rows(b, in->overall, 0) != 0)
    {
        return -1;
    }

    for (i = 0; i < in->npaths; i++) {
        if (histogram_rows(b, &in->paths[i], 1) != 0) {
            return -1;
        }
    }

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
