/*
 * Full backups: see pg_backup.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hour.h"
#include "lib/manifest.h"
#include "store/pg/pg_archive.h"
#include "store/pg/pg_backup.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_days.h"

#define MAX_DAYS  (40 * 366)

/* Count and sums of a whole table: of each of requests, errors,
 * bytes_in and bytes_out that it has (the CSV check sums every column so
 * named), 0 for those it has not. */
static int
table_sums(PGconn *conn, const char *table, ps_manifest_t *m, char *err,
    size_t errlen)
{
    int          i;
    char         sql[1024], has[4][80], cols[256];
    PGresult    *res;
    const char  *names[4] = { "requests", "errors", "bytes_in", "bytes_out" };

    (void) snprintf(sql, sizeof(sql), "SELECT ',' || string_agg(column_name,"
                    " ',') || ',' FROM information_schema.columns WHERE "
                    "table_schema = current_schema() AND table_name = '%s'",
                    table);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }
    (void) snprintf(cols, sizeof(cols), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    for (i = 0; i < 4; i++) {
        char  needle[32];

        (void) snprintf(needle, sizeof(needle), ",%s,", names[i]);
        (void) snprintf(has[i], sizeof(has[i]), strstr(cols, needle)
                        ? "coalesce(sum(%s), 0)" : "0", names[i]);
    }

    (void) snprintf(sql, sizeof(sql), "SELECT count(*), %s, %s, %s, %s "
                    "FROM %s", has[0], has[1], has[2], has[3], table);
    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    m->rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(m->requests, sizeof(m->requests), "%s", PQgetvalue(res, 0, 1));
    snprintf(m->errors, sizeof(m->errors), "%s", PQgetvalue(res, 0, 2));
    snprintf(m->bytes_in, sizeof(m->bytes_in), "%s", PQgetvalue(res, 0, 3));
    snprintf(m->bytes_out, sizeof(m->bytes_out), "%s",
             PQgetvalue(res, 0, 4));
    PQclear(res);

    return 0;
}


int
ps_pg_backup_full(PGconn *conn, const char *dir,
    void (*say)(const char *line), int64_t *files, int64_t *rows,
    char *err, size_t errlen)
{
    int            i, n;
    char           path[4096], sql[1024], where[128], line[4400];
    int64_t       *days;
    ps_day_sums_t  s;
    ps_manifest_t  m;

    *files = *rows = 0;

    days = malloc(MAX_DAYS * sizeof(int64_t));
    if (days == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (ps_pg_run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
            "SET LOCAL statement_timeout = 0", PGRES_COMMAND_OK, err,
            errlen) != 0)
    {
        free(days);
        return -1;
    }

    n = ps_pg_hourly_days(conn, days, MAX_DAYS, err, errlen);
    if (n < 0) {
        goto fail;
    }

    for (i = 0; i < n; i++) {
        memset(&m, 0, sizeof(m));

        if (ps_pg_day_sums(conn, PS_DAYS_HOURLY, days[i], &s, err,
                           errlen) != 0)
        {
            goto fail;
        }
        if (s.rows == 0) {
            continue;
        }

        snprintf(m.table, sizeof(m.table), "pathstats_hourly");
        ps_format_day(days[i], m.day);
        m.part = 1;
        m.rows = s.rows;
        memcpy(m.requests, s.requests, sizeof(m.requests));
        memcpy(m.errors, s.errors, sizeof(m.errors));
        memcpy(m.bytes_in, s.bytes_in, sizeof(m.bytes_in));
        memcpy(m.bytes_out, s.bytes_out, sizeof(m.bytes_out));

        (void) snprintf(path, sizeof(path), "%s/pathstats_hourly_%s.csv.gz",
                        dir, m.day);
        (void) snprintf(sql, sizeof(sql), "COPY (SELECT %s FROM "
                        "pathstats_hourly WHERE %s ORDER BY hour, host, "
                        "method, path, node_id) TO STDOUT (FORMAT csv, "
                        "HEADER)",
                        ps_pg_archive_columns(PS_DAYS_HOURLY),
                        ps_pg_day_where(PS_DAYS_HOURLY, days[i], where,
                                        sizeof(where)));

        if (ps_pg_export(conn, sql, path, &m, err, errlen) != 0) {
            goto fail;
        }

        (*files)++;
        *rows += m.rows;
        if (say) {
            snprintf(line, sizeof(line), "%s: %lld rows", path,
                     (long long) m.rows);
            say(line);
        }
    }

    for (i = 0; ps_pg_whole_tables[i] != NULL; i++) {
        memset(&m, 0, sizeof(m));
        snprintf(m.table, sizeof(m.table), "%s", ps_pg_whole_tables[i]);
        m.part = 1;

        if (table_sums(conn, m.table, &m, err, errlen) != 0) {
            goto fail;
        }

        (void) snprintf(path, sizeof(path), "%s/%s.csv.gz", dir, m.table);
        (void) snprintf(sql, sizeof(sql), "COPY (SELECT * FROM %s) TO STDOUT "
                        "(FORMAT csv, HEADER)", m.table);

        if (ps_pg_export(conn, sql, path, &m, err, errlen) != 0) {
            goto fail;
        }

        (*files)++;
        *rows += m.rows;
        if (say) {
            snprintf(line, sizeof(line), "%s: %lld rows", path,
                     (long long) m.rows);
            say(line);
        }
    }

    free(days);

    return ps_pg_run(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen);

fail:

    free(days);
    (void) ps_pg_run(conn, "ROLLBACK", PGRES_COMMAND_OK, line, sizeof(line));

    return -1;
}
