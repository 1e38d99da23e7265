/*
 * Daily rollups: a closed UTC day's pathstats_hourly rows summed into
 * pathstats_daily per (host, method, path, node_id), in one transaction
 * that replaces the day's daily rows, so a recomputation gives identical
 * rows.  Counters are summed and unique clients unioned in SQL; latency
 * histograms are merged here (their format is the aggregator's,
 * lib/histogram.h).  pathstats_rollups keeps the hourly count and sums
 * each rollup saw: a day whose hourly rows moved since (a late flush) is
 * rolled up again.
 */

#ifndef PS_PG_ROLLUP_H
#define PS_PG_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* ps_pg_rollup_state() results */
#define PS_ROLLUP_DONE     0      /* rolled up, nothing moved since */
#define PS_ROLLUP_MISSING  1      /* never rolled up */
#define PS_ROLLUP_STALE    2      /* hourly rows moved since (late flush) */

/* Whether day needs a rollup: PS_ROLLUP_*, or -1 (err set). */
int ps_pg_rollup_state(PGconn *conn, int64_t day, char *err, size_t errlen);

/* Rolls day up (replacing its daily rows); *daily_rows and *hourly_rows
 * (may be NULL) get the rows written and read.  0, or -1 (err set,
 * nothing changed). */
int ps_pg_rollup_day(PGconn *conn, int64_t day, int64_t *daily_rows,
    int64_t *hourly_rows, char *err, size_t errlen);

#endif /* PS_PG_ROLLUP_H */
