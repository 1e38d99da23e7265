/*
 * Reading pathstats_hourly rows back: see pg_hourly.h.
 */

#include <stdlib.h>

#include "store/pg/pg_hourly.h"


int64_t
ps_pg_bin_int8(const PGresult *res, int row, int col)
{
    const unsigned char  *p;
    uint64_t              v;
    int                   i;

    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8) {
        return 0;
    }

    p = (const unsigned char *) PQgetvalue(res, row, col);
    for (i = 0, v = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return (int64_t) v;
}


/* a count: never negative in a row */
static uint64_t
pg_u64(const PGresult *res, int row, int col)
{
    int64_t  v = ps_pg_bin_int8(res, row, col);

    return v > 0 ? (uint64_t) v : 0;
}


/* a timestamptz as unix microseconds; 0 when NULL */
static uint64_t
pg_time_us(const PGresult *res, int row, int col)
{
    int64_t  v;

    if (PQgetisnull(res, row, col)) {
        return 0;
    }

    v = ps_pg_bin_int8(res, row, col);

    /* unsigned: 'infinity' (INT64_MAX) must not overflow */
    return v > -PS_PG_EPOCH_US ? (uint64_t) v + (uint64_t) PS_PG_EPOCH_US : 0;
}


void
ps_pg_hourly_stats(const PGresult *res, int row, int col,
    ps_win_stats_t *st)
{
    int  s;

    ps_win_stats_reset(st);

    st->counts.requests = pg_u64(res, row, col);
    for (s = 0; s < 5; s++) {
        st->counts.status[s] = pg_u64(res, row, col + 1 + s);
    }
    st->counts.errors = pg_u64(res, row, col + 6);
    st->counts.bytes_in = pg_u64(res, row, col + 7);
    st->counts.bytes_out = pg_u64(res, row, col + 8);
    st->counts.latency_sum_us = pg_u64(res, row, col + 9);
    st->counts.latency_max_us = pg_u64(res, row, col + 10);

    if (!PQgetisnull(res, row, col + 11)) {
        (void) ps_hist_decode(&st->latency,
                              (const unsigned char *)
                              PQgetvalue(res, row, col + 11),
                              (size_t) PQgetlength(res, row, col + 11));
    }

    if (!PQgetisnull(res, row, col + 12)) {
        (void) ps_hll_deserialize(&st->clients,
                                  (const unsigned char *)
                                  PQgetvalue(res, row, col + 12),
                                  (size_t) PQgetlength(res, row, col + 12));
    }

    st->first_seen_us = pg_time_us(res, row, col + 13);
    st->last_seen_us = pg_time_us(res, row, col + 14);
}
