/*
 * The live windows from PostgreSQL: see pg_windows.h.
 */

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "lib/hour.h"
#include "lib/log.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_hourly.h"
#include "store/pg/pg_windows.h"


static const char  load_sql[] =
    "SELECT extract(epoch FROM hour)::bigint, host, method, path, "
    PS_PG_HOURLY_STATS
    " FROM pathstats_hourly WHERE hour >= to_timestamp($1)"
    " AND node_id = $2";


int
ps_pg_windows_load(ps_windows_t *w, const char *conninfo,
    const char *node_id, uint64_t now_us)
{
    PGconn          *conn;
    PGresult        *res = NULL;
    ps_win_stats_t   st;
    const char      *params[2];
    char             since[32], msg[256], err[300];
    int64_t          hour;
    int              i, rows, rc = -1;
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

    res = PQexecParams(conn, load_sql, 2, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_log(PS_LOG_WARN, "event=windows_load_failed reason=query "
               "error=%s", ps_log_quote(err, sizeof(err),
                                        ps_pg_error(conn, res, msg,
                                                    sizeof(msg))));
        goto done;
    }

    rows = PQntuples(res);

    for (i = 0; i < rows; i++) {
        ps_pg_hourly_stats(res, i, 4, &st);

        if (st.counts.requests == 0) {
            continue;
        }

        hour = ps_pg_bin_int8(res, i, 0);

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
