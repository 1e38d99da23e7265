/*
 * Snapshot writer: renders the live windows (windows.h) into the binary
 * snapshot format of include/pathstats_snapshot.h and publishes it into
 * the zone's double buffer (pathstats_shm.h, ps_snapshot_ctl_t).
 *
 * Each snapshot holds, per window (1m, 1h, 24h), the path rows as the
 * exact JSON objects /api/paths serves, one descending order per sort
 * key (ties by path, host, method ascending; "bytes" sorts by
 * bytes_out), and a window info object; plus the summary, the trends of
 * each range, the Prometheus text and the health problems.  Rows beyond
 * snapshot_max_rows per window (the most requested are kept) are
 * summarised in the window info, and when the snapshot does not fit the
 * buffer the rows are halved until it does (said in the window info and
 * logged once).  Not thread-safe.
 */

#ifndef PS_SNAPSHOT_H
#define PS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "agg/windows.h"
#include "config/config.h"
#include "pipeline/sink.h"
#include "ring/zone.h"
#include "snapshot/monitor.h"
#include "snapshot/fleet.h"
#include "snapshot/render.h"
#include "store/pg/day_windows.h"
#include "store/pg/pg_scheduler.h"
#include "store/pg/trends.h"

typedef struct ps_snapshot_s  ps_snapshot_t;

/* A writer for the windows w with cfg's limits (both must outlive it);
 * NULL on failure. */
ps_snapshot_t *ps_snapshot_create(const ps_config_t *cfg, ps_windows_t *w);

/* NULL is allowed. */
void ps_snapshot_destroy(ps_snapshot_t *s);

/* Replaces the trends JSON of range (PS_SNAP_RANGE_*; "[]" until set);
 * json must be a valid JSON value.  0 or -1. */
int ps_snapshot_set_trends(ps_snapshot_t *s, int range, const char *json,
    size_t len);

/* Takes the trends from t (may be NULL: "[]") at every build; t must
 * outlive s or be unset first. */
void ps_snapshot_use_trends(ps_snapshot_t *s, ps_trends_t *t);

/* Takes /api/paths' day windows (7d, 30d) from d's reads, each new one
 * as it comes; NULL: none (the snapshot has no day windows). */
void ps_snapshot_use_day_windows(ps_snapshot_t *s, ps_day_windows_t *d);

/* Uses m (may be NULL: none) for the counters of /metrics and the alert
 * notifications at every build; m must outlive s or be unset first. */
void ps_snapshot_use_monitor(ps_snapshot_t *s, ps_monitor_t *m);

/* Reports the lifecycle scheduler's status (may be NULL: none) in the
 * summary, metrics and health of every build; sched must outlive s or
 * be unset first. */
void ps_snapshot_use_scheduler(ps_snapshot_t *s, ps_scheduler_t *sched);

/* Nests the fleet's views and nodes from f (may be NULL: none) at every
 * build, and offers f this node's view; f must outlive s or be unset
 * first. */
void ps_snapshot_use_fleet(ps_snapshot_t *s, ps_fleet_t *f);

/* Windows (1m, 1h, 24h) whose rendering a build took from the one
 * before, their rows unchanged, since s was made (for tests). */
uint64_t ps_snapshot_windows_kept(const ps_snapshot_t *s);

/* Snapshots rendered (a build that shrinks renders more than one) since
 * s was made (for tests). */
uint64_t ps_snapshot_assembles(const ps_snapshot_t *s);

/* Builds a snapshot at wall time now_us of at most cap bytes; *out
 * (8-byte aligned, owned by s, valid until the next build) and *len get
 * it.  Expires the windows and runs the alerts.  0, or -1 (logged). */
int ps_snapshot_build(ps_snapshot_t *s, const ps_snapshot_inputs_t *in,
    uint64_t now_us, size_t cap, const void **out, size_t *len);

/* Gathers the inputs from the zone (rings, aggregator identity) and the
 * given sink statuses, builds and publishes into the zone's next
 * snapshot buffer.  0, or -1 (logged). */
int ps_snapshot_publish(ps_snapshot_t *s, ps_zone_t *zone,
    const ps_sink_status_t *sinks, unsigned nsinks, uint64_t records,
    uint64_t now_us);

/* Copies len bytes of snapshot into the zone's next buffer under its
 * seqlock and makes it current; 0, or -1 if it does not fit. */
int ps_snapshot_write_zone(ps_zone_t *zone, const void *buf, size_t len,
    uint64_t generated_us);

#endif /* PS_SNAPSHOT_H */
