/*
 * Unit tests for aggregator/store/pg/pg_hourly.c: the stats columns of
 * an hourly (or daily) row read from a binary result, as libpq hands
 * them over (a result built here with PQsetvalue(), no server): every
 * counter, the histogram and the HLL as stored, first and last seen
 * from PostgreSQL's microseconds since 2000, and NULLs as 0 or empty.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tap.h"
#include "lib/histogram.h"
#include "lib/hll.h"
#include "store/pg/pg_hourly.h"

/* 2026-12-07 10:00:00 UTC, in unix and in PostgreSQL's microseconds */
#define UNIX_US  INT64_C(1796637600000000)
#define PG_US    INT64_C(849952800000000)

#define NCOLS    (1 + PS_PG_HOURLY_NCOLS)


static void
put_int8(PGresult *res, int row, int col, int64_t v)
{
    unsigned char  b[8];
    uint64_t       u = (uint64_t) v;
    int            i;

    for (i = 7; i >= 0; i--) {
        b[i] = (unsigned char) (u & 0xff);
        u >>= 8;
    }

    if (!PQsetvalue(res, row, col, (char *) b, 8)) {
        bail_out("PQsetvalue failed");
    }
}


static PGresult *
make_result(void)
{
    PGresAttDesc  att[NCOLS];
    PGresult     *res;
    char          name[NCOLS][8];
    int           i;

    res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    memset(att, 0, sizeof(att));
    for (i = 0; i < NCOLS; i++) {
        snprintf(name[i], sizeof(name[i]), "c%d", i);
        att[i].name = name[i];
        att[i].format = 1;
        att[i].typlen = -1;
    }
    if (res == NULL || !PQsetResultAttrs(res, NCOLS, att)) {
        bail_out("cannot make a result");
    }

    return res;
}


int
main(void)
{
    PGresult        *res;
    ps_win_stats_t   st;
    ps_hist_t        h;
    ps_hll_t         clients;
    uint8_t          hbuf[4096], cbuf[4096];
    size_t           hlen, clen;
    uint64_t         i;
    int              c;

    ps_hist_init(&h);
    ps_hll_init(&clients);
    for (i = 1; i <= 50; i++) {
        if (ps_hist_add(&h, i * 977) != 0
            || ps_hll_add_hash(&clients, i * 0x9e3779b97f4a7c15ULL) != 0)
        {
            bail_out("out of memory");
        }
    }
    hlen = ps_hist_encode(&h, hbuf, sizeof(hbuf));
    clen = ps_hll_serialize(&clients, cbuf, sizeof(cbuf));
    if (hlen == 0 || clen == 0) {
        bail_out("cannot encode");
    }

    res = make_result();

    /* row 0: every column, a 0 before the stats (as a reader's own) */
    put_int8(res, 0, 0, 7);
    for (c = 0; c < 11; c++) {
        put_int8(res, 0, 1 + c, (int64_t) (1000 + c) << 33);
    }
    if (!PQsetvalue(res, 0, 12, (char *) hbuf, (int) hlen)
        || !PQsetvalue(res, 0, 13, (char *) cbuf, (int) clen))
    {
        bail_out("PQsetvalue failed");
    }
    put_int8(res, 0, 14, PG_US);
    put_int8(res, 0, 15, PG_US + 3599999999);

    /* row 1: NULLs (PQsetvalue with a length of -1) */
    for (c = 0; c < NCOLS; c++) {
        if (!PQsetvalue(res, 1, c, NULL, -1)) {
            bail_out("PQsetvalue failed");
        }
    }

    ps_win_stats_init(&st);

    is_int(ps_pg_bin_int8(res, 0, 0), 7, "the reader's own bigint");
    ps_pg_hourly_stats(res, 0, 1, &st);
    is_u64(st.counts.requests, (uint64_t) 1000 << 33, "requests, 8 bytes");
    for (c = 0; c < 5; c++) {
        is_u64(st.counts.status[c], (uint64_t) (1001 + c) << 33,
               "status_%dxx", c + 1);
    }
    is_u64(st.counts.errors, (uint64_t) 1006 << 33, "errors");
    is_u64(st.counts.bytes_in, (uint64_t) 1007 << 33, "bytes_in");
    is_u64(st.counts.bytes_out, (uint64_t) 1008 << 33, "bytes_out");
    is_u64(st.counts.latency_sum_us, (uint64_t) 1009 << 33,
           "latency_sum_us");
    is_u64(st.counts.latency_max_us, (uint64_t) 1010 << 33,
           "latency_max_us");
    is_u64(ps_hist_count(&st.latency), 50, "the histogram: 50 values");
    ok(ps_hist_percentile(&st.latency, 0.5) == ps_hist_percentile(&h, 0.5)
       && ps_hist_percentile(&st.latency, 0.99)
          == ps_hist_percentile(&h, 0.99),
       "  its percentiles those stored");
    is_u64((uint64_t) ps_hll_cardinality(&st.clients),
           (uint64_t) ps_hll_cardinality(&clients), "the clients: %llu",
           (unsigned long long) ps_hll_cardinality(&clients));
    is_u64(st.first_seen_us, (uint64_t) UNIX_US,
           "first seen: PostgreSQL's epoch to unix microseconds");
    is_u64(st.last_seen_us, (uint64_t) UNIX_US + 3599999999,
           "last seen, to the microsecond");

    ps_pg_hourly_stats(res, 1, 1, &st);
    ok(st.counts.requests == 0 && st.counts.errors == 0
       && st.counts.latency_max_us == 0 && st.first_seen_us == 0
       && st.last_seen_us == 0, "NULLs: 0");
    is_u64(ps_hist_count(&st.latency), 0, "  no histogram");
    is_u64((uint64_t) ps_hll_cardinality(&st.clients), 0, "  no clients");
    is_int(ps_pg_bin_int8(res, 1, 0), 0, "  a NULL bigint: 0");

    ps_win_stats_free(&st);
    ps_hist_free(&h);
    ps_hll_free(&clients);
    PQclear(res);

    return done_testing();
}
