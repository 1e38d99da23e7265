/*
 * The Prometheus text (format 0.0.4) of the snapshot: request counters
 * and latency histograms of the 24h window for the top paths plus one
 * {other} row (bounded cardinality), the overall latency histogram, the
 * rings' flow counters, sink up gauges, the disk spool's gauges and
 * counters (of sinks with a spool) and the snapshot generation time.
 * Label values are escaped as the format says (\\, \", \n); a byte that
 * is not valid UTF-8 is written as the text \xHH, as in lib/utf8.h.
 */

#ifndef PS_METRICS_H
#define PS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/counts.h"
#include "lib/histogram.h"
#include "pipeline/sink.h"
#include "ring/stats.h"
#include "lib/strbuf.h"

/* One labelled row: a path (or the {other} row, or the overall one). */
typedef struct {
    const char  *host;
    const char  *method;
    const char  *path;
    size_t       hlen, mlen, plen;
    ps_counts_t  counts;
    uint64_t     le[PS_HIST_PROM_NLE];      /* cumulative at prom edges */
} ps_metrics_path_t;

typedef struct {
    const ps_metrics_path_t  *paths;        /* top paths, most first */
    size_t                    npaths;
    const ps_metrics_path_t  *other;        /* the rest; may be NULL */
    const ps_metrics_path_t  *overall;      /* labels ignored */
    const ps_ring_stats_t    *rings;        /* totals over every ring */
    const ps_sink_status_t   *sinks;
    unsigned                  nsinks;
    double                    generation_seconds;
    uint64_t                  snapshot_sequence;
} ps_metrics_input_t;

/* Appends the escaped label value (without quotes): backslash, '"' and
 * newline escaped, other control characters and bytes that are not
 * UTF-8 as the text \xHH, never raw; 0 or -1. */
int ps_metrics_label_escape(ps_buf_t *b, const char *s, size_t len);

/* Appends the whole exposition; 0 or -1. */
int ps_metrics_render(ps_buf_t *b, const ps_metrics_input_t *in);

#endif /* PS_METRICS_H */
