/*
 * Rendering: the text of a snapshot's parts from the selected rows (rows.h)
 * and the pipeline's state: a path row, a window's info on what was left
 * out, the health array, the summary (windows, top clients, alerts,
 * silences, notifications, pipeline, sinks) and the Prometheus metrics
 * (metrics.h, with the monitor's counters).  JSON strings
 * go through lib/json_escape.h, so any bytes of a path are valid output.
 */

#ifndef PS_RENDER_H
#define PS_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "agg/alerts.h"
#include "agg/windows.h"
#include "lib/strbuf.h"
#include "pipeline/sink.h"
#include "ring/stats.h"
#include "snapshot/monitor.h"
#include "snapshot/rows.h"
#include "store/pg/lifecycle_status.h"

#define PS_SNAPSHOT_TOP_CLIENTS  10

/* What the summary and health say about the aggregator and pipeline. */
typedef struct {
    const char              *node_id;
    uint64_t                 pid;
    uint64_t                 started_us;
    uint64_t                 heartbeat_us;
    uint32_t                 ring_count;
    ps_ring_stats_t          rings;         /* totals over every ring */
    const ps_sink_status_t  *sinks;
    unsigned                 nsinks;
    uint64_t                 records;       /* read by the pipeline */
    const ps_lifecycle_status_t  *lifecycle;  /* NULL: no scheduler */
    uint64_t                 zone_id;       /* the ring generation */
} ps_snapshot_inputs_t;

/* What the summary and the metrics are rendered from. */
typedef struct {
    const ps_rowset_t           *win;       /* PS_SNAP_WINDOWS row sets */
    ps_windows_t                *w;         /* top clients, key counts */
    ps_alerts_t                 *alerts;
    const ps_snapshot_inputs_t  *in;
    uint64_t                     sequence;  /* of the snapshot built */
    double                       gen_seconds;   /* the last build took */
    size_t                       top;       /* metrics' top paths */
    uint64_t                     now_us;
    ps_monitor_t                *monitor;   /* NULL: no counters, no
                                               notifications */
} ps_render_ctx_t;

/* Appends us (wall clock) as a quoted ISO 8601 UTC time with
 * milliseconds, or null when 0; 0 or -1. */
int ps_render_iso(ps_buf_t *b, uint64_t us);

/* Appends one path row of /api/paths; 0 or -1. */
int ps_render_row(ps_buf_t *b, const ps_row_t *r);

/* Appends window win's window_info, shown of its rows being served;
 * 0 or -1. */
int ps_render_window_info(const ps_rowset_t *rs, int win, size_t shown,
    ps_buf_t *b);

/* Appends "<window>":{...} of a summary: t's totals, rates and
 * percentiles over window win (PS_SNAP_WIN_*), paths distinct keys
 * (null when < 0: not known); 0 or -1. */
int ps_render_window_summary(const ps_win_stats_t *t, int64_t paths,
    int win, ps_buf_t *b);

/* Appends the inside of the health array (the aggregator's problems, as
 * strings) and counts them in *problems; 0 or -1. */
int ps_render_health(const ps_snapshot_inputs_t *in, ps_buf_t *b,
    int *problems);

/* Appends the summary object, health being the JSON of the health
 * array; 0 or -1. */
int ps_render_summary(const ps_render_ctx_t *c, const char *health,
    size_t health_len, ps_buf_t *b);

/* Appends the Prometheus text; 0 or -1. */
int ps_render_metrics(const ps_render_ctx_t *c, ps_buf_t *b);

#endif /* PS_RENDER_H */
