/*
 * The live windows from PostgreSQL: see pg_windows.h.
 */

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "lib/hour.h"
#include "lib/log.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_windows.h"


static const char  load_sql[] =
    "SELECT extract(epoch FROM hour)::bigint, host, method, path,"
    " requests, status_1xx, status_2xx, status_3xx, status_4xx,"
    " status_5xx, errors, bytes_in, bytes_out, latency_sum_us,"
    " latency_max_us, latency_hist, unique_clients::text,"
    " (extract(epoch FROM first_seen) * 1000000)::bigint,"
    " (extract(epoch FROM last_seen) * 1000000)::bigint"
    " FROM pathstats_hourly WHERE hour >= to_timestamp($1)"
    " AND node_id = $2";


static uint64_t
pg_u64(const PGresult *res, int row, int col)
{
    const char  *v = PQgetvalue(res, row, col);

    return PQgetisnull(res, row, col) ? 0 : strtoull(v, NULL, 10);
}


int
ps_pg_windows_load(ps_windows_t *w, const char *conninfo,
    const char *node_id, uint64_t now_us)
{
    PGconn          *conn;
    PGresult        *res = NULL;
    ps_win_stats_t   st;
    const char      *params[2];
    unsigned char   *bytes;
    char             since[32], msg[256], err[300];
    int64_t          hour;
    size_t           blen;
    int              i, rows, s, rc = -1;
    uint64_t         total = 0;

    ps_win_stats_init(&st);

    conn = ps_pg_connect(conninfo, msg, sizeof(msg));
    if (conn == NULL) {
        ps_log(PS_LOG_WARN, "event=windows_load_failed reason=connect "
               "error=%s", ps_log_quote(err, sizeof(err), msg));
        goto done;
    }

    hour = ps_hour_of((int64_t) now_us) - 23 * 3600;
    snprintf(since, sizeof(since), "%lld", (long long) hour);
    params[0] = since;
    params[1] = node_id;

    res = PQexecParams(conn, load_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_log(PS_LOG_WARN, "event=windows_load_failed reason=query "
               "error=%s", ps_log_quote(err, sizeof(err),
                                        ps_pg_error(conn, res, msg,
                                                    sizeof(msg))));
        goto done;
    }

    rows = PQntuples(res);

    for (i = 0; i < rows; i++) {
        ps_win_stats_reset(&st);

        st.counts.requests = pg_u64(res, i, 4);
        for (s = 0; s < 5; s++) {
            st.counts.status[s] = pg_u64(res, i, 5 + s);
        }
        st.counts.errors = pg_u64(res, i, 10);
        st.counts.bytes_in = pg_u64(res, i, 11);
        st.counts.bytes_out = pg_u64(res, i, 12);
        st.counts.latency_sum_us = pg_u64(res, i, 13);
        st.counts.latency_max_us = pg_u64(res, i, 14);

        if (!PQgetisnull(res, i, 15)) {
            bytes = PQunescapeBytea((const unsigned char *)
                                    PQgetvalue(res, i, 15), &blen);
            if (bytes != NULL) {
                (void) ps_hist_decode(&st.latency, bytes, blen);
                PQfreemem(bytes);
            }
        }

        if (!PQgetisnull(res, i, 16)) {
            bytes = PQunescapeBytea((const unsigned char *)
                                    PQgetvalue(res, i, 16), &blen);
            if (bytes != NULL) {
                (void) ps_hll_deserialize(&st.clients, bytes, blen);
                PQfreemem(bytes);
            }
        }

        st.first_seen_us = pg_u64(res, i, 17);
        st.last_seen_us = pg_u64(res, i, 18);

        if (st.counts.requests == 0) {
            continue;
        }

        hour = strtoll(PQgetvalue(res, i, 0), NULL, 10);

        if (ps_windows_add_hour(w, PQgetvalue(res, i, 1),
                                (size_t) PQgetlength(res, i, 1),
                                PQgetvalue(res, i, 2),
                                (size_t) PQgetlength(res, i, 2),
                                PQgetvalue(res, i, 3),
                                (size_t) PQgetlength(res, i, 3),
                                hour, &st) != 0)
        {
            ps_log(PS_LOG_WARN, "event=windows_load_failed "
                   "reason=no_memory");
            goto done;
        }

        total += st.counts.requests;
    }

    ps_log(PS_LOG_INFO, "event=windows_loaded rows=%d requests=%llu",
           rows, (unsigned long long) total);
    rc = 0;

done:

    PQclear(res);
    if (conn != NULL) {
        PQfinish(conn);
    }
    ps_win_stats_free(&st);

    return rc;
}
