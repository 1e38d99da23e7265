/*
 * The Prometheus text (format 0.0.4) of the snapshot.
 *
 * Counters (lifetime.h: since the aggregator started, for rate() and
 * increase(); they reset only when it restarts):
 *
 *   pathstats_requests_total{host,method,path,status}   status 1xx..5xx
 *   pathstats_response_bytes_total{host,method,path}
 *   pathstats_request_duration_seconds  histogram: the series without
 *       labels is all requests, those with host/method/path each exported
 *       path and {other}; so sum over path!="" equals the unlabelled one
 *
 * for the exported paths (at most top_n) plus host="*", method="*",
 * path="{other}" for every other request.
 *
 * Gauges over the rolling 24 h window, named as such:
 * pathstats_requests_window_24h{host,method,path,status} (the top paths
 * and {other}), pathstats_unique_clients_window_24h (overall, and per top
 * path).
 *
 * Alerts and notifications (metrics_alerts.h), the rings' flow counters,
 * sink up gauges, the disk spool's gauges and counters (a series per
 * sink with a spool) and the snapshot's generation time and sequence.
 * Every family is declared (# HELP, # TYPE) even when it has no series.
 *
 * Label values are escaped as the format says (\\, \", \n); another
 * control character or a byte that is not valid UTF-8 is written as the
 * text \xHH (lib/utf8.h).
 */

#ifndef PS_METRICS_H
#define PS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "agg/alerts.h"
#include "agg/incidents.h"
#include "agg/lifetime.h"
#include "lib/counts.h"
#include "lib/strbuf.h"
#include "notify/webhook.h"
#include "pipeline/sink.h"
#include "ring/stats.h"

/* One row of the 24h window: a top path or the {other} row. */
typedef struct {
    const char  *host;
    const char  *method;
    const char  *path;
    size_t       hlen, mlen, plen;
    ps_counts_t  counts;
    uint64_t     unique;            /* unique clients; not for {other} */
} ps_metrics_path_t;

typedef struct {
    /* the 24h window */
    const ps_metrics_path_t     *paths;     /* top paths, most first */
    size_t                       npaths;
    const ps_metrics_path_t     *other;     /* the rest; may be NULL */
    uint64_t                     unique_24h;

    /* counters since start; nseries 0 and NULLs when there are none */
    const ps_lifetime_series_t  *series;
    size_t                       nseries;
    const ps_lifetime_series_t  *series_other;
    const ps_lifetime_series_t  *series_total;

    /* alerts and their notifications (alerts may be NULL) */
    const ps_alerts_t           *alerts;
    ps_incidents_stats_t         incidents;
    size_t                       silences;  /* in force */
    const ps_webhook_stats_t    *webhooks;
    unsigned                     nwebhooks;

    const ps_ring_stats_t       *rings;     /* totals over every ring */
    const ps_sink_status_t      *sinks;
    unsigned                     nsinks;
    double                       generation_seconds;
    uint64_t                     snapshot_sequence;
} ps_metrics_input_t;

/* Appends the whole exposition; 0 or -1. */
int ps_metrics_render(ps_buf_t *b, const ps_metrics_input_t *in);

#endif /* PS_METRICS_H */
