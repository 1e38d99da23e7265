/*
 * The days of the history: see pg_days.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hour.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_days.h"


const char *
ps_pg_days_table_name(ps_days_table_t table)
{
    return table == PS_DAYS_DAILY ? "pathstats_daily" : "pathstats_hourly";
}


const char *
ps_pg_day_where(ps_days_table_t table, int64_t day, char *buf, size_t size)
{
    char  from[PS_DAY_MAX], to[PS_DAY_MAX];

    if (table == PS_DAYS_DAILY) {
        (void) snprintf(buf, size, "day = '%s'", ps_format_day(day, from));
    } else {
        (void) snprintf(buf, size, "hour >= '%s 00:00:00+00' AND hour < "
                        "'%s 00:00:00+00'", ps_format_day(day, from),
                        ps_format_day(day + 1, to));
    }

    return buf;
}


/* Runs sql (one column of dates, ascending) into days; count or -1. */
static int
day_list(PGconn *conn, const char *sql, int64_t *days, size_t max,
    char *err, size_t errlen)
{
    int        i, n;
    int64_t    d;
    PGresult  *res;

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    n = 0;

    for (i = 0; i < PQntuples(res) && (size_t) n < max; i++) {
        if (ps_parse_day(PQgetvalue(res, i, 0), &d) == 0) {
            days[n++] = d;
        }
    }

    PQclear(res);

    return n;
}


int
ps_pg_hourly_days(PGconn *conn, int64_t *days, size_t max, char *err,
    size_t errlen)
{
    /* the partitions' names say their day; the DEFAULT partition (rows
     * of days that had none) is read, it is small */
    return day_list(conn,
        "SELECT d FROM ("
        " SELECT to_date(substr(c.relname, 19), 'YYYYMMDD')::text AS d"
        "   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        "  WHERE i.inhparent = 'pathstats_hourly'::regclass"
        "    AND c.relname ~ '^pathstats_hourly_p[0-9]{8}$'"
        " UNION"
        " SELECT DISTINCT (hour AT TIME ZONE 'UTC')::date::text"
        "   FROM pathstats_hourly_default) x ORDER BY d",
        days, max, err, errlen);
}


int
ps_pg_daily_days(PGconn *conn, int64_t *days, size_t max, char *err,
    size_t errlen)
{
    return day_list(conn, "SELECT DISTINCT day::text FROM pathstats_daily "
                    "ORDER BY 1", days, max, err, errlen);
}


int
ps_pg_day_sums(PGconn *conn, ps_days_table_t table, int64_t day,
    ps_day_sums_t *s, char *err, size_t errlen)
{
    char       sql[512], where[128];
    PGresult  *res;

    (void) snprintf(sql, sizeof(sql),
                    "SELECT count(*), coalesce(sum(requests), 0), "
                    "coalesce(sum(errors), 0), coalesce(sum(bytes_in), 0), "
                    "coalesce(sum(bytes_out), 0) FROM %s WHERE %s",
                    ps_pg_days_table_name(table),
                    ps_pg_day_where(table, day, where, sizeof(where)));

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    memset(s, 0, sizeof(*s));
    s->rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    (void) snprintf(s->requests, sizeof(s->requests), "%s",
                    PQgetvalue(res, 0, 1));
    (void) snprintf(s->errors, sizeof(s->errors), "%s",
                    PQgetvalue(res, 0, 2));
    (void) snprintf(s->bytes_in, sizeof(s->bytes_in), "%s",
                    PQgetvalue(res, 0, 3));
    (void) snprintf(s->bytes_out, sizeof(s->bytes_out), "%s",
                    PQgetvalue(res, 0, 4));
    PQclear(res);

    return 0;
}


int
ps_day_sums_equal(const ps_day_sums_t *a, const ps_day_sums_t *b)
{
    return a->rows == b->rows && strcmp(a->requests, b->requests) == 0
           && strcmp(a->errors, b->errors) == 0
           && strcmp(a->bytes_in, b->bytes_in) == 0
           && strcmp(a->bytes_out, b->bytes_out) == 0;
}
