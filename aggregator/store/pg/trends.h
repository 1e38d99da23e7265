/*
 * Trends for the snapshot: requests, errors and p95 latency over time
 * from PostgreSQL's pathstats_hourly (fleet-wide), for the ranges of
 * /api/trends: 24h hourly, 7d 6-hourly, 30d daily, each an array
 *
 *   [{"t": "2026-11-23T09:00:00Z", "requests": N, "errors": N,
 *     "p95_ms": X or null}]
 *
 * oldest first, one point per period (zeros when empty).  The long
 * ranges of /api/trends, 90d daily and 1y weekly (PS_SNAP_LONG_*), come
 * the same way from pathstats_daily for the days rolled up and from the
 * hourly rows of the others, every few minutes.  A thread of
 * its own with its own connection refreshes them every interval, so a
 * slow or absent PostgreSQL never stalls the draining loop; closed hours
 * are fetched once and cached, the last two hours every time.  The same
 * thread keeps the trends of the paths it is given (trend_paths.h).
 */

#ifndef PS_TRENDS_H
#define PS_TRENDS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/histogram.h"
#include "lib/strbuf.h"

#define PS_TRENDS_DAYS  30

/* days the long ranges cover: 1y's 53 weeks, the first from its Monday */
#define PS_TRENDS_LONG_DAYS  (53 * 7)

typedef struct ps_trends_s  ps_trends_t;

/* Starts the refresh thread for conninfo every interval_ms; NULL on
 * failure (logged). */
ps_trends_t *ps_trends_start(const char *conninfo, uint64_t interval_ms);

/* Stops the thread and frees everything; NULL is allowed. */
void ps_trends_stop(ps_trends_t *t);

/* If the trends changed since the last call, copies the JSON of each
 * range (PS_SNAP_RANGE_*) into out[] and, when paths is not NULL, the
 * per-path trends (packed, trend_paths.h) into paths, and returns 1; 0
 * otherwise, -1 if memory ran out. */
int ps_trends_take(ps_trends_t *t, ps_buf_t *out, size_t nranges,
    ps_buf_t *paths);

/* If the long ranges changed since the last call, copies the JSON of
 * each (PS_SNAP_LONG_*) into out[PS_SNAP_LONG_RANGES] and returns 1; 0
 * otherwise, -1 if memory ran out. */
int ps_trends_take_long(ps_trends_t *t, ps_buf_t *out);

/* Names the paths to keep per-path trends for: a packed list of keys
 * (trend_paths.h), most requested first.  The first list loads with the
 * thread's first round; later, the thread loads paths new to the list a
 * few seconds after it changed (once their latest requests are likely
 * in PostgreSQL), and at most every few seconds.  0, or -1 if memory
 * ran out. */
int ps_trends_set_paths(ps_trends_t *t, const ps_buf_t *keys);

/* Renders the trend arrays from per-hour values: hours[i] is the hour
 * starting at first_hour + 3600 * i (unix seconds), n hours up to and
 * including the current one.  For tests and the thread. */
typedef struct {
    uint64_t    requests;
    uint64_t    errors;
    ps_hist_t   hist;       /* latency of the hour */
} ps_trend_hour_t;

int ps_trends_render(const ps_trend_hour_t *hours, size_t n,
    int64_t first_hour, int range, ps_buf_t *b);

/* Renders a long range (PS_SNAP_LONG_*) from per-day values: days[i] is
 * the UTC day starting at first_day + 86400 * i (unix seconds, a
 * midnight), n days up to and including today.  90d: 90 daily points,
 * the last today; 1y: 53 weekly points, weeks from Monday 00:00 UTC, the
 * last the current week (up to today).  Days before days[0] count as
 * zero.  For tests and the thread. */
int ps_trends_render_days(const ps_trend_hour_t *days, size_t n,
    int64_t first_day, int range, ps_buf_t *b);

#endif /* PS_TRENDS_H */
