/*
 * The PostgreSQL sink's memory of its own rows: per (hour, host, method,
 * path) that this node has a row for in pathstats_hourly, the latency
 * histogram the row holds as committed.
 *
 * A node is the only writer of its rows (node_id is in the key since
 * schema version 2), so a flush can send a row's new histogram whole,
 * merged here with the delta's, while SQL adds the counters and unions
 * the HyperLogLogs: one INSERT .. ON CONFLICT DO UPDATE for the whole
 * delta, no row read back, no row lock held across a round trip.
 *
 * An hour is complete when every row this node has in it is here: a key
 * that is not is then known to have no row.  The hours after the one in
 * which this process started are complete from the start (nobody wrote
 * this node's rows of them before); for the others the sink reads the
 * histograms of the keys it misses from PostgreSQL first, and remembers
 * them.  What is here is only ever committed state: a histogram is
 * added by ps_pg_rows_put() (read from a committed row) or by
 * ps_pg_rows_commit() (after the COMMIT).  A row changed behind the
 * sink's back (deleted, or a second aggregator with the same node_id)
 * shows as an insert where an update was expected; the sink then forgets
 * everything (ps_pg_rows_clear()) and reads again.
 *
 * Rows are kept for the hours from ps_pg_rows_keep_from() on, at most
 * PS_PG_ROWS_HOURS hours; memory is about 60 bytes a row plus its key and
 * 8 bytes per non-empty histogram bucket.  Not thread-safe.
 */

#ifndef PS_PG_ROWS_H
#define PS_PG_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "agg/agg_table.h"
#include "lib/histogram.h"

#define PS_PG_ROWS_HOURS  4

typedef struct ps_pg_rows_s  ps_pg_rows_t;

/* Creates an empty memory whose hours after start_hour (unix seconds of
 * the UTC hour this process started in) are complete; NULL if memory
 * ran out. */
ps_pg_rows_t *ps_pg_rows_create(int64_t start_hour);

/* Frees it; NULL is allowed. */
void ps_pg_rows_destroy(ps_pg_rows_t *r);

/* Forgets every row, and that any hour is complete. */
void ps_pg_rows_clear(ps_pg_rows_t *r);

/* Forgets the hours before hour. */
void ps_pg_rows_keep_from(ps_pg_rows_t *r, int64_t hour);

/* 1 when every row of this node in hour is here, else 0. */
int ps_pg_rows_complete(const ps_pg_rows_t *r, int64_t hour);

/* Marks hour complete: every row this node has in it was put here (a
 * no-op for an hour not kept). */
void ps_pg_rows_set_complete(ps_pg_rows_t *r, int64_t hour);

/* 1 when hour is kept (from ps_pg_rows_keep_from() on). */
int ps_pg_rows_kept(const ps_pg_rows_t *r, int64_t hour);

/* The committed histogram of e's row, or NULL when none is here (no row,
 * if e's hour is complete; unknown otherwise). */
const ps_hist_t *ps_pg_rows_find(ps_pg_rows_t *r, const ps_agg_entry_t *e);

/* Remembers that e's row exists with the histogram encoded in buf (len
 * bytes; NULL or undecodable: an empty one), read from the database;
 * 0, or -1 if memory ran out or the hour is not kept (nothing is kept
 * then). */
int ps_pg_rows_put(ps_pg_rows_t *r, const ps_agg_entry_t *e,
    const uint8_t *buf, size_t len);

/* After a COMMIT that applied e: adds e's histogram to its row (created
 * when new).  0, or -1 if memory ran out: then everything is forgotten,
 * as the memory would no longer match the database. */
int ps_pg_rows_commit(ps_pg_rows_t *r, const ps_agg_entry_t *e);

/* Rows remembered, over all hours. */
size_t ps_pg_rows_count(const ps_pg_rows_t *r);

/* Heap bytes used. */
size_t ps_pg_rows_memory(const ps_pg_rows_t *r);

#endif /* PS_PG_ROWS_H */
