/*
 * Reading pathstats_hourly rows back into ps_win_stats_t: the columns to
 * select (PS_PG_HOURLY_STATS, in this order) and their decoding, for
 * every reader of the hourly rows (the live windows after a restart, the
 * fleet's rows).  Store-internal: it names libpq's types.
 */

#ifndef PS_PG_HOURLY_H
#define PS_PG_HOURLY_H

#include <libpq-fe.h>

#include "agg/windows.h"

/* the stats columns, 15 of them, as ps_pg_hourly_stats() reads them from
 * a binary result (PQexecParams()'s resultFormat 1): integers, the
 * histogram and the HLL as they are stored, no text to make and parse
 * (at 100 000 rows the server's part of a read is about a third less) */
#define PS_PG_HOURLY_STATS                                                   \
    "requests, status_1xx, status_2xx, status_3xx, status_4xx,"             \
    " status_5xx, errors, bytes_in, bytes_out, latency_sum_us,"              \
    " latency_max_us, latency_hist, unique_clients, first_seen, last_seen"

#define PS_PG_HOURLY_NCOLS  15

/* Resets st and fills it from row's PS_PG_HOURLY_STATS columns starting
 * at col (a binary result); a histogram or HLL that does not decode is
 * left empty, a NULL is 0. */
void ps_pg_hourly_stats(const PGresult *res, int row, int col,
    ps_win_stats_t *st);

/* A bigint column of a binary result; 0 when NULL or not 8 bytes. */
int64_t ps_pg_bin_int8(const PGresult *res, int row, int col);

/* A timestamptz in binary form (a result, a COPY) is microseconds since
 * PostgreSQL's epoch, 2000-01-01 UTC: this many after the unix one. */
#define PS_PG_EPOCH_US  INT64_C(946684800000000)

#endif /* PS_PG_HOURLY_H */
