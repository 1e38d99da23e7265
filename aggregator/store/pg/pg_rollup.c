/*
 * Daily rollups: see pg_rollup.h.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/progress.h"
#include "lib/histogram.h"
#include "lib/hour.h"
#include "lib/strbuf.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_days.h"
#include "store/pg/pg_rollup.h"

#define FETCH_ROWS  "20000"


int
ps_pg_rollup_state(PGconn *conn, int64_t day, char *err, size_t errlen)
{
    int            st;
    char           sql[256], d[PS_DAY_MAX];
    PGresult      *res;
    ps_day_sums_t  now;

    if (ps_pg_day_sums(conn, PS_DAYS_HOURLY, day, &now, err, errlen) != 0) {
        return -1;
    }

    (void) snprintf(sql, sizeof(sql), "SELECT hourly_rows, requests, "
                    "bytes_out FROM pathstats_rollups WHERE day = '%s'",
                    ps_format_day(day, d));
    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    if (PQntuples(res) == 0) {
        st = PS_ROLLUP_MISSING;
    } else if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) == now.rows
               && strcmp(PQgetvalue(res, 0, 1), now.requests) == 0
               && strcmp(PQgetvalue(res, 0, 2), now.bytes_out) == 0)
    {
        st = PS_ROLLUP_DONE;
    } else {
        st = PS_ROLLUP_STALE;
    }

    PQclear(res);

    return st;
}


static void
put32(ps_buf_t *b, uint32_t v)
{
    v = htonl(v);
    (void) ps_buf_append(b, &v, 4);
}


static void
put_field(ps_buf_t *b, const char *p, size_t len)
{
    put32(b, (uint32_t) len);
    (void) ps_buf_append(b, p, len);
}


/*
 * One grouped key's hourly histograms (a bytea[] in PostgreSQL's binary
 * array format: ndim, has-null flag, element type, then per dimension
 * its size and lower bound, then per element its length, -1 for NULL,
 * and bytes) merged into h; 0, or -1 if malformed.
 */
static int
merge_array(ps_hist_t *h, const char *p, size_t len)
{
    uint32_t  ndim, n, i, elen;
    size_t    o;

    if (len < 12) {
        return -1;
    }

    memcpy(&ndim, p, 4);
    ndim = ntohl(ndim);

    if (ndim == 0) {
        return 0;
    }

    if (ndim != 1 || len < 20) {
        return -1;
    }

    memcpy(&n, p + 12, 4);
    n = ntohl(n);
    o = 20;

    for (i = 0; i < n; i++) {
        if (o + 4 > len) {
            return -1;
        }
        memcpy(&elen, p + o, 4);
        elen = ntohl(elen);
        o += 4;
        if (elen == 0xFFFFFFFFu) {
            continue;
        }
        if (o + elen > len
            || ps_hist_decode(h, (const uint8_t *) p + o, elen) != 0)
        {
            return -1;
        }
        o += elen;
    }

    return 0;
}


/* Reads the day's grouped hourly histograms through the declared cursor
 * ps_rollup_c, merges each key's, and writes them into the temporary
 * table ps_rollup_hist by one COPY binary (all fetched first: no query
 * can run on the connection during a COPY); 0 or -1. */
static int
copy_hists(PGconn *conn, char *err, size_t errlen)
{
    int        i, n, f, rc;
    size_t     elen, cap;
    uint8_t   *enc, *p;
    ps_buf_t   b = PS_BUF_INIT;
    ps_hist_t  h;
    PGresult  *res;

    static const char  header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0";

    rc = -1;
    cap = 4096;
    enc = malloc(cap);
    ps_hist_init(&h);

    if (enc == NULL || ps_buf_append(&b, header, sizeof(header)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    for ( ;; ) {
        res = PQexecParams(conn, "FETCH " FETCH_ROWS " FROM ps_rollup_c",
                           0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            ps_pg_error(conn, res, err, errlen);
            PQclear(res);
            goto done;
        }

        n = PQntuples(res);
        ps_progress_rows(n);

        for (i = 0; i < n; i++) {
            ps_hist_reset(&h);
            if (merge_array(&h, PQgetvalue(res, i, 4),
                            (size_t) PQgetlength(res, i, 4)) != 0)
            {
                snprintf(err, errlen, "pathstats_hourly: a malformed "
                         "latency_hist (path %.200s)",
                         PQgetvalue(res, i, 2));
                PQclear(res);
                goto done;
            }

            elen = ps_hist_encoded_size(&h);
            if (elen > cap) {
                p = realloc(enc, elen);
                if (p == NULL) {
                    PQclear(res);
                    goto done;
                }
                enc = p;
                cap = elen;
            }
            elen = ps_hist_encode(&h, enc, cap);

            (void) ps_buf_append(&b, "\0\5", 2);
            for (f = 0; f < 4; f++) {
                put_field(&b, PQgetvalue(res, i, f),
                          (size_t) PQgetlength(res, i, f));
            }
            put_field(&b, (const char *) enc, elen);
        }

        PQclear(res);

        if (n == 0) {
            break;
        }
    }

    if (ps_buf_append(&b, "\377\377", 2) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    res = PQexec(conn, "COPY ps_rollup_hist FROM STDIN (FORMAT binary)");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        goto done;
    }
    PQclear(res);

    if (PQputCopyData(conn, b.data, (int) b.len) != 1
        || PQputCopyEnd(conn, NULL) != 1)
    {
        ps_pg_error(conn, NULL, err, errlen);
        goto done;
    }

    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
        goto done;
    }
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL) {
        PQclear(res);
    }

    rc = 0;

done:

    ps_hist_free(&h);
    free(enc);
    ps_buf_free(&b);

    return rc;
}


int
ps_pg_rollup_day(PGconn *conn, int64_t day, int64_t *daily_rows,
    int64_t *hourly_rows, char *err, size_t errlen)
{
    char           d[PS_DAY_MAX], where[128];
    ps_buf_t       sql = PS_BUF_INIT;
    PGresult      *res;
    ps_day_sums_t  seen;
    int64_t        out;

    ps_format_day(day, d);
    ps_pg_day_where(PS_DAYS_HOURLY, day, where, sizeof(where));

    /* one snapshot for the sums, the counters and the histograms; the
     * day's lock keeps two rollups of it (two nodes, a CLI run) apart */
    if (ps_pg_run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ",
                  PGRES_COMMAND_OK, err, errlen) != 0)
    {
        return -1;
    }

    if (ps_buf_printf(&sql, "SET LOCAL statement_timeout = 0; "
                      "SET LOCAL work_mem = '256MB'; "
                      "SELECT pg_advisory_xact_lock(x'70657473'::int, "
                      "('%s'::date - '1970-01-01'::date)::int)", d) != 0
        || ps_pg_run(conn, sql.data, PGRES_TUPLES_OK, err, errlen) != 0
        || ps_pg_day_sums(conn, PS_DAYS_HOURLY, day, &seen, err,
                          errlen) != 0)
    {
        goto fail;
    }

    ps_buf_reset(&sql);
    if (ps_buf_printf(&sql,
            "DELETE FROM pathstats_daily WHERE day = '%s'; "
            "INSERT INTO pathstats_daily (day, host, method, path, node_id,"
            " requests, status_1xx, status_2xx, status_3xx, status_4xx,"
            " status_5xx, errors, bytes_in, bytes_out, latency_sum_us,"
            " latency_max_us, unique_clients, first_seen, last_seen, hours)"
            " SELECT '%s', host, method, path, node_id, sum(requests),"
            " sum(status_1xx), sum(status_2xx), sum(status_3xx),"
            " sum(status_4xx), sum(status_5xx), sum(errors), sum(bytes_in),"
            " sum(bytes_out), sum(latency_sum_us), max(latency_max_us),"
            " hll_union_agg(unique_clients), min(first_seen),"
            " max(last_seen), count(*)"
            " FROM pathstats_hourly WHERE %s"
            " GROUP BY host, method, path, node_id",
            d, d, where) != 0)
    {
        goto fail;
    }

    res = PQexec(conn, sql.data);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        goto fail;
    }
    out = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);

    ps_buf_reset(&sql);
    if (ps_buf_printf(&sql,
            "CREATE TEMPORARY TABLE ps_rollup_hist (host text, method text,"
            " path text, node_id text, latency_hist bytea) ON COMMIT DROP; "
            "DECLARE ps_rollup_c NO SCROLL CURSOR FOR"
            " SELECT host, method, path, node_id, array_agg(latency_hist)"
            " FROM pathstats_hourly WHERE %s AND latency_hist IS NOT NULL"
            " GROUP BY host, method, path, node_id", where) != 0
        || ps_pg_run(conn, sql.data, PGRES_COMMAND_OK, err, errlen) != 0
        || copy_hists(conn, err, errlen) != 0)
    {
        goto fail;
    }

    ps_buf_reset(&sql);
    if (ps_buf_printf(&sql,
            "CLOSE ps_rollup_c; "
            "UPDATE pathstats_daily d SET latency_hist = t.latency_hist"
            " FROM ps_rollup_hist t WHERE d.day = '%s' AND d.host = t.host"
            " AND d.method = t.method AND d.path = t.path"
            " AND d.node_id = t.node_id; "
            "INSERT INTO pathstats_rollups (day, hourly_rows, requests,"
            " bytes_out, daily_rows, rolled_at)"
            " VALUES ('%s', %lld, %s, %s, %lld, now())"
            " ON CONFLICT (day) DO UPDATE SET hourly_rows ="
            " EXCLUDED.hourly_rows, requests = EXCLUDED.requests,"
            " bytes_out = EXCLUDED.bytes_out, daily_rows ="
            " EXCLUDED.daily_rows, rolled_at = EXCLUDED.rolled_at",
            d, d, (long long) seen.rows, seen.requests, seen.bytes_out,
            (long long) out) != 0
        || ps_pg_run(conn, sql.data, PGRES_COMMAND_OK, err, errlen) != 0
        || ps_pg_run(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) != 0)
    {
        goto fail;
    }

    ps_buf_free(&sql);

    if (daily_rows) {
        *daily_rows = out;
    }
    if (hourly_rows) {
        *hourly_rows = seen.rows;
    }

    return 0;

fail:

    ps_buf_free(&sql);
    res = PQexec(conn, "ROLLBACK");
    PQclear(res);

    return -1;
}
