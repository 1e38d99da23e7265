/*
 * Reading pathstats_hourly rows back: see pg_hourly.h.
 */

#include <stdlib.h>

#include "store/pg/pg_hourly.h"


static uint64_t
pg_u64(const PGresult *res, int row, int col)
{
    const char  *v = PQgetvalue(res, row, col);

    return PQgetisnull(res, row, col) ? 0 : strtoull(v, NULL, 10);
}


void
ps_pg_hourly_stats(const PGresult *res, int row, int col,
    ps_win_stats_t *st)
{
    unsigned char  *bytes;
    size_t          blen;
    int             s;

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
        bytes = PQunescapeBytea((const unsigned char *)
                                PQgetvalue(res, row, col + 11), &blen);
        if (bytes != NULL) {
            (void) ps_hist_decode(&st->latency, bytes, blen);
            PQfreemem(bytes);
        }
    }

    if (!PQgetisnull(res, row, col + 12)) {
        bytes = PQunescapeBytea((const unsigned char *)
                                PQgetvalue(res, row, col + 12), &blen);
        if (bytes != NULL) {
            (void) ps_hll_deserialize(&st->clients, bytes, blen);
            PQfreemem(bytes);
        }
    }

    st->first_seen_us = pg_u64(res, row, col + 13);
    st->last_seen_us = pg_u64(res, row, col + 14);
}
