/*
 * The day windows of /api/paths (window=7d, 30d): this node's rows of
 * the last 7 and 30 days (today included), per key, from
 * pathstats_daily for the days rolled up and from pathstats_hourly for
 * the others, each day counted once.  A thread of its own with its own
 * connection reads them every interval, so that neither draining nor
 * flushing ever waits for it; the snapshot takes each new pair of tables
 * whole.
 */

#ifndef PS_DAY_WINDOWS_H
#define PS_DAY_WINDOWS_H

#include <stdint.h>

#include "agg/fleet_table.h"

/* days of each day window, by PS_SNAP_WIN_7D - PS_SNAP_WINDOWS */
#define PS_DAY_WINDOWS  2

typedef struct ps_day_windows_s  ps_day_windows_t;

/* Starts the thread reading node_id's rows every interval_ms (the first
 * at once); NULL on failure (logged). */
ps_day_windows_t *ps_day_windows_start(const char *conninfo,
    const char *node_id, uint64_t interval_ms);

/* Stops the thread and frees what it holds; NULL is allowed. */
void ps_day_windows_stop(ps_day_windows_t *d);

/* If a new read is ready, hands its tables over (7d, then 30d: the
 * caller destroys them) and returns 1; 0 otherwise. */
int ps_day_windows_take(ps_day_windows_t *d,
    ps_fleet_table_t *out[PS_DAY_WINDOWS]);

/* The first day (unix seconds, a midnight UTC) of day window i ending
 * today, today_start being today's midnight. */
int64_t ps_day_windows_first(int i, int64_t today_start);

#endif /* PS_DAY_WINDOWS_H */
