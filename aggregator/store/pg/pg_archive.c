/*
 * Archives of the history: see pg_archive.h.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/archive.h"
#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/manifest.h"
#include "lib/progress.h"
#include "lib/strbuf.h"
#include "store/pg/migrate.h"
#include "store/pg/pg_archive.h"
#include "store/pg/pg_conn.h"

#define MAX_PARTS  64

static const char  cols_hourly[] =
    "hour, host, method, path, node_id, requests, status_1xx, status_2xx, "
    "status_3xx, status_4xx, status_5xx, errors, bytes_in, bytes_out, "
    "latency_sum_us, latency_max_us, latency_hist, unique_clients, "
    "first_seen, last_seen, updated_at";

static const char  cols_daily[] =
    "day, host, method, path, node_id, requests, status_1xx, status_2xx, "
    "status_3xx, status_4xx, status_5xx, errors, bytes_in, bytes_out, "
    "latency_sum_us, latency_max_us, latency_hist, unique_clients, "
    "first_seen, last_seen, hours";


const char *const  ps_pg_whole_tables[] = {
    "pathstats_daily", "pathstats_rollups", "pathstats_archives",
    "pathstats_watermark", "pathstats_nodes", "pathstats_lifecycle_runs",
    NULL
};


/* 1 when name is one of ps_pg_whole_tables. */
static int
whole_table(const char *name)
{
    int  i;

    for (i = 0; ps_pg_whole_tables[i] != NULL; i++) {
        if (strcmp(name, ps_pg_whole_tables[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static const char *
cols_of(ps_days_table_t t)
{
    return t == PS_DAYS_DAILY ? cols_daily : cols_hourly;
}


const char *
ps_pg_archive_columns(ps_days_table_t table)
{
    return cols_of(table);
}


static const char *
kind_of(ps_days_table_t t)
{
    return t == PS_DAYS_DAILY ? "daily" : "hourly";
}


static void
rollback(PGconn *conn)
{
    PGresult  *res;

    res = PQexec(conn, "ROLLBACK");
    PQclear(res);
}


/* The first value of sql's one-row answer into buf; 0 or -1. */
static int
query_value(PGconn *conn, const char *sql, char *buf, size_t size,
    char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    (void) snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    return 0;
}


/* The archive's name for table, day and part. */
static void
archive_name(ps_days_table_t t, int64_t day, int part, char *buf,
    size_t size)
{
    char  d[PS_DAY_MAX];

    ps_format_day(day, d);

    if (part <= 1) {
        (void) snprintf(buf, size, "%s_%s.csv.gz", ps_pg_days_table_name(t),
                        d);
    } else {
        (void) snprintf(buf, size, "%s_%s.%d.csv.gz",
                        ps_pg_days_table_name(t), d, part);
    }
}


/* COPY TO STDOUT's data into the writer; 0 or -1. */
static int
copy_out(PGconn *conn, const char *sql, ps_archive_writer_t *w, char *err,
    size_t errlen)
{
    int        n, header;
    char      *buf;
    PGresult  *res;

    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }
    PQclear(res);

    header = 1;

    while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
        /* a call gives one row; the first the CSV header */
        ps_progress_rows(header ? 0 : 1);
        header = 0;
        if (ps_archive_write(w, buf, (size_t) n, err, errlen) != 0) {
            PQfreemem(buf);
            while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
                PQfreemem(buf);
            }
            while ((res = PQgetResult(conn)) != NULL) {
                PQclear(res);
            }
            return -1;
        }
        PQfreemem(buf);
    }

    res = PQgetResult(conn);
    if (n == -2 || PQresultStatus(res) != PGRES_COMMAND_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
        return -1;
    }
    PQclear(res);

    while ((res = PQgetResult(conn)) != NULL) {
        PQclear(res);
    }

    return 0;
}


int
ps_pg_export(PGconn *conn, const char *copy_sql, const char *path,
    ps_manifest_t *m, char *err, size_t errlen)
{
    char                  why[1024];
    const char           *base;
    ps_archive_writer_t  *w;

    base = strrchr(path, '/');
    snprintf(m->file, sizeof(m->file), "%s", base ? base + 1 : path);
    m->schema_version = PS_SCHEMA_VERSION;
    ps_format_iso8601((int64_t) ps_now_us(), m->created_at);

    w = ps_archive_create(path, err, errlen);
    if (w == NULL) {
        return -1;
    }

    if (copy_out(conn, copy_sql, w, err, errlen) != 0) {
        ps_archive_abort(w);
        return -1;
    }

    if (ps_archive_finish(w, m->sha256, &m->bytes, err, errlen) != 0) {
        return -1;
    }

    /* read back: what is on disk decompresses to the database's count
     * and sums, before anything depends on it */
    if (ps_manifest_check(path, m, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "the archive read back does not match: %s",
                 why);
        (void) unlink(path);
        return -1;
    }

    if (ps_manifest_write(path, m, err, errlen) != 0) {
        (void) unlink(path);
        return -1;
    }

    return 0;
}


int
ps_pg_archive_day(PGconn *conn, ps_days_table_t table, int64_t day,
    const char *dir, ps_manifest_t *m, char *err, size_t errlen)
{
    int                   part;
    char                  sql[1024], where[128], d[PS_DAY_MAX], val[32];
    char                  path[4096];
    ps_buf_t              q = PS_BUF_INIT;
    uint64_t              bytes;
    ps_day_sums_t         s;
    ps_archive_writer_t  *w;

    memset(m, 0, sizeof(*m));
    ps_format_day(day, d);
    ps_pg_day_where(table, day, where, sizeof(where));
    w = NULL;
    path[0] = '\0';

    if (ps_pg_run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ; "
            "SET LOCAL statement_timeout = 0", PGRES_COMMAND_OK, err,
            errlen) != 0)
    {
        return -1;
    }

    if (ps_pg_day_sums(conn, table, day, &s, err, errlen) != 0) {
        goto fail;
    }

    if (s.rows == 0) {
        rollback(conn);
        return 0;
    }

    (void) snprintf(sql, sizeof(sql),
                    "SELECT coalesce(max(part) FILTER (WHERE dropped_at IS "
                    "NOT NULL), 0) + 1 FROM pathstats_archives WHERE kind = "
                    "'%s' AND day = '%s'", kind_of(table), d);
    if (query_value(conn, sql, val, sizeof(val), err, errlen) != 0) {
        goto fail;
    }
    part = atoi(val);

    archive_name(table, day, part, m->file, sizeof(m->file));
    (void) snprintf(path, sizeof(path), "%s/%s", dir, m->file);

    snprintf(m->table, sizeof(m->table), "%s", ps_pg_days_table_name(table));
    snprintf(m->day, sizeof(m->day), "%s", d);
    m->part = part;
    m->rows = s.rows;
    memcpy(m->requests, s.requests, sizeof(m->requests));
    memcpy(m->errors, s.errors, sizeof(m->errors));
    memcpy(m->bytes_in, s.bytes_in, sizeof(m->bytes_in));
    memcpy(m->bytes_out, s.bytes_out, sizeof(m->bytes_out));

    /* in primary key order: the index gives it, no sort of the day */
    if (ps_buf_printf(&q, "COPY (SELECT %s FROM %s WHERE %s ORDER BY %s, "
                      "host, method, path, node_id) TO STDOUT "
                      "(FORMAT csv, HEADER)", cols_of(table),
                      ps_pg_days_table_name(table), where,
                      table == PS_DAYS_DAILY ? "day" : "hour") != 0
        || ps_pg_export(conn, q.data, path, m, err, errlen) != 0)
    {
        goto fail;
    }

    bytes = m->bytes;

    ps_buf_reset(&q);
    if (ps_buf_printf(&q,
            "INSERT INTO pathstats_archives (kind, day, part, file,"
            " schema_version, rows, requests, errors, bytes_in, bytes_out,"
            " bytes, sha256, created_at, verified_at) VALUES ('%s', '%s',"
            " %d, '%s', %d, %lld, %s, %s, %s, %s, %llu, '%s', now(), now())"
            " ON CONFLICT (kind, day, part) DO UPDATE SET file ="
            " EXCLUDED.file, schema_version = EXCLUDED.schema_version,"
            " rows = EXCLUDED.rows, requests = EXCLUDED.requests,"
            " errors = EXCLUDED.errors, bytes_in = EXCLUDED.bytes_in,"
            " bytes_out = EXCLUDED.bytes_out, bytes = EXCLUDED.bytes,"
            " sha256 = EXCLUDED.sha256, created_at = now(),"
            " verified_at = now(), dropped_at = NULL, restored_at = NULL",
            kind_of(table), d, part, m->file, PS_SCHEMA_VERSION,
            (long long) s.rows, s.requests, s.errors, s.bytes_in,
            s.bytes_out, (unsigned long long) bytes, m->sha256) != 0
        || ps_pg_run(conn, q.data, PGRES_COMMAND_OK, err, errlen) != 0
        || ps_pg_run(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) != 0)
    {
        goto fail;
    }

    ps_buf_free(&q);

    return 0;

fail:

    ps_archive_abort(w);
    ps_buf_free(&q);
    rollback(conn);

    return -1;
}


int
ps_pg_archive_files(PGconn *conn, ps_days_table_t table, int64_t day,
    char **paths, int max, char *err, size_t errlen)
{
    int        i, n;
    char       sql[256], d[PS_DAY_MAX];
    PGresult  *res;

    (void) snprintf(sql, sizeof(sql), "SELECT file FROM pathstats_archives "
                    "WHERE kind = '%s' AND day = '%s' ORDER BY part",
                    kind_of(table), ps_format_day(day, d));
    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    n = 0;
    for (i = 0; i < PQntuples(res) && n < max; i++) {
        paths[n] = strdup(PQgetvalue(res, i, 0));
        if (paths[n] != NULL) {
            n++;
        }
    }

    PQclear(res);

    return n;
}


/* Adds the decimal b to the decimal a (both fit in 64 bits). */
static void
add_dec(char *a, size_t size, const char *b)
{
    (void) snprintf(a, size, "%llu", strtoull(a, NULL, 10)
                                     + strtoull(b, NULL, 10));
}


typedef struct {
    PGconn  *conn;
} copy_in_t;


static int
put_copy(void *ctx, const char *p, size_t len, char *err, size_t errlen)
{
    copy_in_t   *c = ctx;
    const char  *nl, *end;
    int64_t      lines;

    if (PQputCopyData(c->conn, p, (int) len) != 1) {
        ps_pg_error(c->conn, NULL, err, errlen);
        return -1;
    }

    /* the progress counts lines (the header, a quoted newline: a few
     * too many until the file's exact count is set) */
    lines = 0;
    end = p + len;
    while ((nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
        lines++;
        p = nl + 1;
    }
    ps_progress_rows(lines);

    return 0;
}


static void
partition_name(int64_t day, char *buf, size_t size)
{
    int   y, mo, dd;
    char  d[PS_DAY_MAX];

    (void) sscanf(ps_format_day(day, d), "%d-%d-%d", &y, &mo, &dd);
    (void) snprintf(buf, size, "pathstats_hourly_p%04d%02d%02d", y, mo, dd);
}


/*
 * When day has neither a partition nor rows in the DEFAULT partition,
 * creates its partition's table standalone (the parent's columns,
 * defaults and checks, no index) for the restore to load and
 * attach_partition() to attach: one bulk index build instead of an
 * index insert per row.  1 when created, 0 when the day must be loaded
 * through the parent, -1 on error.
 */
static int
new_partition(PGconn *conn, int64_t day, char *err, size_t errlen)
{
    char  name[64], sql[512], where[128], val[16];

    partition_name(day, name, sizeof(name));
    (void) snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NULL AND "
                    "NOT EXISTS (SELECT 1 FROM pathstats_hourly_default "
                    "WHERE %s)", name,
                    ps_pg_day_where(PS_DAYS_HOURLY, day, where,
                                    sizeof(where)));
    if (query_value(conn, sql, val, sizeof(val), err, errlen) != 0) {
        return -1;
    }

    if (strcmp(val, "t") != 0) {
        return 0;
    }

    (void) snprintf(sql, sizeof(sql), "CREATE TABLE %s (LIKE "
                    "pathstats_hourly INCLUDING DEFAULTS INCLUDING "
                    "CONSTRAINTS) WITH (fillfactor = 50)", name);

    return ps_pg_run(conn, sql, PGRES_COMMAND_OK, err, errlen) == 0 ? 1 : -1;
}


/* Attaches the table new_partition() made as day's partition (which
 * builds its primary key); 0 or -1. */
static int
attach_partition(PGconn *conn, int64_t day, char *err, size_t errlen)
{
    char  name[64], sql[512], d[PS_DAY_MAX], nd[PS_DAY_MAX];

    partition_name(day, name, sizeof(name));
    (void) snprintf(sql, sizeof(sql), "ALTER TABLE pathstats_hourly ATTACH "
                    "PARTITION %s FOR VALUES FROM ('%s 00:00:00+00') TO "
                    "('%s 00:00:00+00')", name, ps_format_day(day, d),
                    ps_format_day(day + 1, nd));

    return ps_pg_run(conn, sql, PGRES_COMMAND_OK, err, errlen);
}


/* Creates day's partition of pathstats_hourly when it is missing (when
 * the DEFAULT partition holds rows of the day that cannot be: the rows
 * then go there); 0 or -1. */
static int
ensure_partition(PGconn *conn, int64_t day, char *err, size_t errlen)
{
    int       y, mo, dd;
    char      sql[512], d[PS_DAY_MAX], n[PS_DAY_MAX];
    PGresult  *res;

    ps_format_day(day, d);
    ps_format_day(day + 1, n);
    (void) sscanf(d, "%d-%d-%d", &y, &mo, &dd);

    (void) snprintf(sql, sizeof(sql),
                    "SAVEPOINT ps_part; CREATE TABLE IF NOT EXISTS "
                    "pathstats_hourly_p%04d%02d%02d PARTITION OF "
                    "pathstats_hourly FOR VALUES FROM ('%s 00:00:00+00') TO "
                    "('%s 00:00:00+00') WITH (fillfactor = 50); "
                    "RELEASE SAVEPOINT ps_part", y, mo, dd, d, n);
    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        return ps_pg_run(conn, "ROLLBACK TO SAVEPOINT ps_part; "
                         "RELEASE SAVEPOINT ps_part", PGRES_COMMAND_OK, err,
                         errlen);
    }

    PQclear(res);

    return 0;
}


/* Loads a full backup's whole table (replacing its rows when replace,
 * else refusing a table that has any) and checks its count and sums;
 * inside the caller's transaction; 0 or -1. */
static int
restore_table(PGconn *conn, const char *path, const ps_manifest_t *m,
    int replace, int64_t *rows, char *err, size_t errlen)
{
    char           sql[512], val[32], why[1024];
    uint64_t       bytes;
    copy_in_t      ci;
    PGresult      *res;
    ps_manifest_t  now;

    (void) snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", m->table);
    if (query_value(conn, sql, val, sizeof(val), err, errlen) != 0) {
        return -1;
    }

    if (strcmp(val, "0") != 0 && !replace) {
        snprintf(err, errlen, "%s already holds %s rows: restoring %s "
                 "would count them twice (restore --replace replaces "
                 "them)", m->table, val, path);
        return -1;
    }

    (void) snprintf(sql, sizeof(sql), "DELETE FROM %s; COPY %s FROM STDIN "
                    "(FORMAT csv, HEADER)", m->table, m->table);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }
    PQclear(res);

    ci.conn = conn;
    if (ps_archive_read(path, put_copy, &ci, why, &bytes, err,
                        errlen) != 0)
    {
        (void) PQputCopyEnd(conn, "the backup could not be read");
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
        return -1;
    }

    if (PQputCopyEnd(conn, NULL) != 1) {
        ps_pg_error(conn, NULL, err, errlen);
        return -1;
    }

    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ps_pg_error(conn, res, why, sizeof(why));
        snprintf(err, errlen, "%s: %s", path, why);
        PQclear(res);
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
        return -1;
    }
    *rows += strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL) {
        PQclear(res);
    }

    /* the same count (and, for pathstats_daily, sums) as the manifest */
    memset(&now, 0, sizeof(now));
    (void) snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", m->table);
    if (query_value(conn, sql, val, sizeof(val), err, errlen) != 0) {
        return -1;
    }
    if (strtoll(val, NULL, 10) != m->rows) {
        snprintf(err, errlen, "after restoring %s, %s holds %s rows, its "
                 "manifest says %lld: rolled back", path, m->table, val,
                 (long long) m->rows);
        return -1;
    }
    if (strcmp(m->table, "pathstats_daily") == 0) {
        if (query_value(conn, "SELECT coalesce(sum(requests), 0) FROM "
                        "pathstats_daily", val, sizeof(val), err,
                        errlen) != 0)
        {
            return -1;
        }
        if (strcmp(val, m->requests) != 0) {
            snprintf(err, errlen, "after restoring %s, pathstats_daily "
                     "holds %s requests, its manifest says %s: rolled "
                     "back", path, val, m->requests);
            return -1;
        }
    }

    /* a serial column goes on after the restored ids */
    if (strcmp(m->table, "pathstats_lifecycle_runs") == 0
        && ps_pg_run(conn, "SELECT setval(pg_get_serial_sequence("
               "'pathstats_lifecycle_runs', 'id'), coalesce(max(id), 0) + 1,"
               " false) FROM pathstats_lifecycle_runs", PGRES_TUPLES_OK, err,
               errlen) != 0)
    {
        return -1;
    }

    return 0;
}


int
ps_pg_restore_files(PGconn *conn, char *const *paths, int n, int replace,
    int mark_index, int64_t *rows, char *err, size_t errlen)
{
    int              i, j, st;
    char             why[1024], where[128], sql[2048], target[64];
    char            *attach, *into;
    uint64_t         bytes;
    int64_t          day;
    copy_in_t        ci;
    PGresult        *res;
    ps_day_sums_t    s;
    ps_manifest_t   *m, want;
    ps_days_table_t  t;

    m = calloc((size_t) n, sizeof(ps_manifest_t));
    attach = calloc((size_t) n, 1);
    into = calloc((size_t) n, 1);
    if (m == NULL || attach == NULL || into == NULL) {
        snprintf(err, errlen, "out of memory");
        free(m);
        free(attach);
        free(into);
        return -1;
    }

    *rows = 0;

    /* every file checked before anything is changed */
    for (i = 0; i < n; i++) {
        if (ps_manifest_read(paths[i], &m[i], err, errlen) != 0) {
            goto fail_free;
        }
        if (ps_manifest_check(paths[i], &m[i], why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s", why);
            goto fail_free;
        }
        if (m[i].day[0] == '\0' && whole_table(m[i].table)) {
            /* a full backup's table: its columns in this schema's order */
            if (m[i].schema_version != PS_SCHEMA_VERSION) {
                snprintf(err, errlen, "%s: a backup of schema version %d, "
                         "this aggregator's is %d", paths[i],
                         m[i].schema_version, PS_SCHEMA_VERSION);
                goto fail_free;
            }
            continue;
        }
        if ((strcmp(m[i].table, "pathstats_hourly") != 0
             && strcmp(m[i].table, "pathstats_daily") != 0)
            || ps_parse_day(m[i].day, &day) != 0)
        {
            snprintf(err, errlen, "%s: its manifest names table \"%s\" day "
                     "\"%s\", not a day of pathstats_hourly or "
                     "pathstats_daily", paths[i], m[i].table, m[i].day);
            goto fail_free;
        }
    }

    want.rows = 0;
    for (i = 0; i < n; i++) {
        want.rows += m[i].rows;
    }
    ps_progress_total(want.rows);

    if (ps_pg_run(conn, "BEGIN; SET LOCAL statement_timeout = 0",
            PGRES_COMMAND_OK, err, errlen) != 0)
    {
        goto fail_free;
    }

    for (i = 0; i < n; i++) {
        t = strcmp(m[i].table, "pathstats_daily") == 0 ? PS_DAYS_DAILY
                                                       : PS_DAYS_HOURLY;
        (void) ps_parse_day(m[i].day, &day);

        if (m[i].day[0] == '\0') {
            if (restore_table(conn, paths[i], &m[i], replace, rows, err,
                              errlen) != 0)
            {
                goto fail;
            }
            ps_progress_set(*rows);
            continue;
        }

        /* the first file of a (table, day): what is there already */
        for (j = 0; j < i; j++) {
            if (strcmp(m[j].table, m[i].table) == 0
                && strcmp(m[j].day, m[i].day) == 0)
            {
                break;
            }
        }

        if (j == i) {
            if (ps_pg_day_sums(conn, t, day, &s, err, errlen) != 0) {
                goto fail;
            }

            if (s.rows > 0 && !replace) {
                snprintf(err, errlen, "%s already holds %lld rows of %s: "
                         "restoring %s would count them twice (restore "
                         "--replace replaces them)", m[i].table,
                         (long long) s.rows, m[i].day, paths[i]);
                goto fail;
            }

            if (s.rows > 0) {
                (void) snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s",
                                m[i].table,
                                ps_pg_day_where(t, day, where,
                                                sizeof(where)));
                if (ps_pg_run(conn, sql, PGRES_COMMAND_OK, err, errlen) != 0) {
                    goto fail;
                }
            }

            if (t == PS_DAYS_HOURLY) {
                st = new_partition(conn, day, err, errlen);
                if (st < 0) {
                    goto fail;
                }
                attach[i] = (char) st;
                if (st == 0
                    && ensure_partition(conn, day, err, errlen) != 0)
                {
                    goto fail;
                }
            }

        } else {
            attach[i] = 0;
            into[i] = into[j];
        }

        if (j == i) {
            into[i] = attach[i] ? 1 : 0;
        }

        if (into[i]) {
            partition_name(day, target, sizeof(target));
        } else {
            (void) snprintf(target, sizeof(target), "%s", m[i].table);
        }

        (void) snprintf(sql, sizeof(sql), "COPY %s (%s) FROM STDIN "
                        "(FORMAT csv, HEADER)", target, cols_of(t));
        res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_COPY_IN) {
            ps_pg_error(conn, res, err, errlen);
            PQclear(res);
            goto fail;
        }
        PQclear(res);

        ci.conn = conn;
        if (ps_archive_read(paths[i], put_copy, &ci, why, &bytes, err,
                            errlen) != 0)
        {
            (void) PQputCopyEnd(conn, "the archive could not be read");
            while ((res = PQgetResult(conn)) != NULL) {
                PQclear(res);
            }
            goto fail;
        }

        if (PQputCopyEnd(conn, NULL) != 1) {
            ps_pg_error(conn, NULL, err, errlen);
            goto fail;
        }

        res = PQgetResult(conn);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            ps_pg_error(conn, res, why, sizeof(why));
            snprintf(err, errlen, "%s: %s", paths[i], why);
            PQclear(res);
            while ((res = PQgetResult(conn)) != NULL) {
                PQclear(res);
            }
            goto fail;
        }
        *rows += strtoll(PQcmdTuples(res), NULL, 10);
        ps_progress_set(*rows);
        PQclear(res);
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
    }

    /* the days loaded into a table of their own become partitions now:
     * their primary key index is built once, in bulk */
    for (i = 0; i < n; i++) {
        if (attach[i]) {
            (void) ps_parse_day(m[i].day, &day);
            if (attach_partition(conn, day, err, errlen) != 0) {
                goto fail;
            }
        }
    }

    /* each (table, day): what it holds now is what its files say */
    for (i = 0; i < n; i++) {
        if (m[i].day[0] == '\0') {
            continue;
        }

        memset(&want, 0, sizeof(want));
        want.rows = 0;
        strcpy(want.requests, "0");
        strcpy(want.errors, "0");
        strcpy(want.bytes_in, "0");
        strcpy(want.bytes_out, "0");

        for (j = 0; j < n; j++) {
            if (strcmp(m[j].table, m[i].table) == 0
                && strcmp(m[j].day, m[i].day) == 0)
            {
                want.rows += m[j].rows;
                add_dec(want.requests, sizeof(want.requests), m[j].requests);
                add_dec(want.errors, sizeof(want.errors), m[j].errors);
                add_dec(want.bytes_in, sizeof(want.bytes_in), m[j].bytes_in);
                add_dec(want.bytes_out, sizeof(want.bytes_out),
                        m[j].bytes_out);
            }
        }

        t = strcmp(m[i].table, "pathstats_daily") == 0 ? PS_DAYS_DAILY
                                                       : PS_DAYS_HOURLY;
        (void) ps_parse_day(m[i].day, &day);

        if (ps_pg_day_sums(conn, t, day, &s, err, errlen) != 0) {
            goto fail;
        }

        if (s.rows != want.rows || strcmp(s.requests, want.requests) != 0
            || strcmp(s.errors, want.errors) != 0
            || strcmp(s.bytes_in, want.bytes_in) != 0
            || strcmp(s.bytes_out, want.bytes_out) != 0)
        {
            snprintf(err, errlen, "after restoring, %s holds %lld rows and "
                     "%s requests of %s, its archives say %lld and %s: "
                     "rolled back", m[i].table, (long long) s.rows,
                     s.requests, m[i].day, (long long) want.rows,
                     want.requests);
            goto fail;
        }

        /* the archive index knows the part is back: its rows are in
         * the table again, to be dropped again when past retention */
        if (mark_index) {
            (void) snprintf(sql, sizeof(sql),
                "UPDATE pathstats_archives SET restored_at = now(),"
                " dropped_at = NULL WHERE kind = '%s' AND day = '%s' AND"
                " part = %d AND sha256 = '%s'", kind_of(t), m[i].day,
                m[i].part, m[i].sha256);
            if (ps_pg_run(conn, sql, PGRES_COMMAND_OK, err, errlen) != 0) {
                goto fail;
            }
        }
    }

    if (ps_pg_run(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) != 0) {
        goto fail;
    }

    free(m);
    free(attach);
    free(into);

    return 0;

fail:

    rollback(conn);

fail_free:

    free(m);
    free(attach);
    free(into);

    return -1;
}


int
ps_pg_drop_day(PGconn *conn, ps_days_table_t table, int64_t day,
    const char *dir, int64_t *rows, char *err, size_t errlen)
{
    int             i, n, y, mo, dd;
    char            sql[1024], d[PS_DAY_MAX], where[128], why[1024];
    char            path[4096], part[64];
    PGresult       *res;
    ps_day_sums_t   s, want;
    ps_manifest_t   m;

    *rows = 0;
    ps_format_day(day, d);
    ps_pg_day_where(table, day, where, sizeof(where));
    (void) sscanf(d, "%d-%d-%d", &y, &mo, &dd);
    (void) snprintf(part, sizeof(part), "pathstats_hourly_p%04d%02d%02d", y,
                    mo, dd);

    memset(&want, 0, sizeof(want));
    strcpy(want.requests, "0");
    strcpy(want.errors, "0");
    strcpy(want.bytes_in, "0");
    strcpy(want.bytes_out, "0");

    /* the pending parts, each checked on disk against its manifest and
     * its row of the index */
    (void) snprintf(sql, sizeof(sql), "SELECT file, sha256 FROM "
                    "pathstats_archives WHERE kind = '%s' AND day = '%s' "
                    "AND dropped_at IS NULL ORDER BY part", kind_of(table),
                    d);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        (void) snprintf(path, sizeof(path), "%s/%s", dir,
                        PQgetvalue(res, i, 0));
        if (ps_manifest_read(path, &m, why, sizeof(why)) != 0
            || ps_manifest_check(path, &m, why, sizeof(why)) != 0)
        {
            snprintf(err, errlen, "not dropped: %s", why);
            PQclear(res);
            return 0;
        }
        if (strcmp(m.sha256, PQgetvalue(res, i, 1)) != 0) {
            snprintf(err, errlen, "not dropped: %s: its sha256 is not the "
                     "one pathstats_archives recorded", path);
            PQclear(res);
            return 0;
        }
        want.rows += m.rows;
        add_dec(want.requests, sizeof(want.requests), m.requests);
        add_dec(want.errors, sizeof(want.errors), m.errors);
        add_dec(want.bytes_in, sizeof(want.bytes_in), m.bytes_in);
        add_dec(want.bytes_out, sizeof(want.bytes_out), m.bytes_out);
    }

    PQclear(res);

    /* writers of the day wait from here to the COMMIT (SHARE on the
     * day's partition and the DEFAULT one, which only an old day's late
     * flush writes): nothing comes in between the comparison and the
     * drop, and flushes of the current days go on meanwhile */
    if (table == PS_DAYS_HOURLY) {
        (void) snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL lock_timeout = "
                        "'30s'; SET LOCAL statement_timeout = 0; "
                        "SELECT to_regclass('%s') IS NOT NULL", part);
        if (query_value(conn, sql, why, sizeof(why), err, errlen) != 0) {
            rollback(conn);
            return -1;
        }
        (void) snprintf(sql, sizeof(sql), "LOCK TABLE %s%s "
                        "pathstats_hourly_default IN SHARE MODE",
                        strcmp(why, "t") == 0 ? part : "",
                        strcmp(why, "t") == 0 ? "," : "");
    } else {
        (void) snprintf(sql, sizeof(sql), "BEGIN; SET LOCAL lock_timeout = "
                        "'30s'; SET LOCAL statement_timeout = 0; "
                        "LOCK TABLE pathstats_daily IN SHARE MODE");
    }
    if (ps_pg_run(conn, sql, PGRES_COMMAND_OK, err, errlen) != 0) {
        rollback(conn);
        return -1;
    }

    if (ps_pg_day_sums(conn, table, day, &s, err, errlen) != 0) {
        goto fail;
    }

    if (!ps_day_sums_equal(&s, &want)) {
        snprintf(err, errlen, "not dropped: %s holds %lld rows and %s "
                 "requests of %s, its verified archives %lld and %s "
                 "(archive the day again)", ps_pg_days_table_name(table),
                 (long long) s.rows, s.requests, d, (long long) want.rows,
                 want.requests);
        rollback(conn);
        return 0;
    }

    if (table == PS_DAYS_HOURLY) {
        /* dropping a partition takes the parent: only for that instant
         * (queued behind the flushes in flight) */
        (void) snprintf(sql, sizeof(sql), "LOCK TABLE pathstats_hourly IN "
                        "ACCESS EXCLUSIVE MODE; DROP TABLE IF EXISTS %s; "
                        "DELETE FROM pathstats_hourly_default WHERE %s",
                        part, where);
    } else {
        (void) snprintf(sql, sizeof(sql), "DELETE FROM pathstats_daily "
                        "WHERE %s", where);
    }

    if (ps_pg_run(conn, sql, PGRES_COMMAND_OK, err, errlen) != 0) {
        goto fail;
    }

    (void) snprintf(sql, sizeof(sql), "UPDATE pathstats_archives SET "
                    "dropped_at = now() WHERE kind = '%s' AND day = '%s' "
                    "AND dropped_at IS NULL", kind_of(table), d);

    if (ps_pg_run(conn, sql, PGRES_COMMAND_OK, err, errlen) != 0
        || ps_pg_run(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen) != 0)
    {
        goto fail;
    }

    *rows = s.rows;

    return 1;

fail:

    rollback(conn);

    return -1;
}
