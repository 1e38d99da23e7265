/*
 * The history lifecycle: see pg_lifecycle.h.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "store/pg/pg_archive.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_days.h"
#include "store/pg/pg_lifecycle.h"
#include "store/pg/pg_rollup.h"

#define MAX_DAYS       (40 * 366)
#define DROP_ATTEMPTS  3
/* deadlock_detected */
#define SQLSTATE_DEADLOCK  "40P01"


static void
say(const ps_lifecycle_opts_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(const ps_lifecycle_opts_t *o, const char *fmt, ...)
{
    char     line[1024];
    va_list  ap;

    if (o->say == NULL) {
        return;
    }

    va_start(ap, fmt);
    (void) vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    o->say(o->ctx, line);
}


static void
failed(ps_lifecycle_result_t *r, const char *step, int64_t day,
    const char *err)
{
    char  d[PS_DAY_MAX], q[1200];

    r->failures++;
    ps_log(PS_LOG_ERROR, "event=lifecycle_failed step=%s day=%s error=%s",
           step, ps_format_day(day, d), ps_log_quote(q, sizeof(q), err));
}


/* 1 when the pending (not dropped) archives of day and table add up to
 * the table's rows of the day, 0 when not (or none), -1 on error. */
static int
archived(PGconn *conn, ps_days_table_t t, int64_t day,
    const ps_day_sums_t *now, char *err, size_t errlen)
{
    int            eq;
    char           sql[512], d[PS_DAY_MAX];
    PGresult      *res;
    ps_day_sums_t  a;

    (void) snprintf(sql, sizeof(sql),
                    "SELECT count(*), coalesce(sum(rows), 0), "
                    "coalesce(sum(requests), 0), coalesce(sum(errors), 0), "
                    "coalesce(sum(bytes_in), 0), coalesce(sum(bytes_out), 0)"
                    " FROM pathstats_archives WHERE kind = '%s' AND day = "
                    "'%s' AND dropped_at IS NULL",
                    t == PS_DAYS_DAILY ? "daily" : "hourly",
                    ps_format_day(day, d));
    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    memset(&a, 0, sizeof(a));
    a.rows = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    snprintf(a.requests, sizeof(a.requests), "%s", PQgetvalue(res, 0, 2));
    snprintf(a.errors, sizeof(a.errors), "%s", PQgetvalue(res, 0, 3));
    snprintf(a.bytes_in, sizeof(a.bytes_in), "%s", PQgetvalue(res, 0, 4));
    snprintf(a.bytes_out, sizeof(a.bytes_out), "%s", PQgetvalue(res, 0, 5));
    eq = atoi(PQgetvalue(res, 0, 0)) > 0 && ps_day_sums_equal(&a, now);
    PQclear(res);

    return eq;
}


/* Archives day of t when its rows are not all in pending archives;
 * then, when drop, drops it.  0 or -1 (logged, counted). */
static int
archive_and_drop(PGconn *conn, const ps_config_t *cfg,
    const ps_lifecycle_opts_t *o, ps_lifecycle_result_t *r,
    ps_days_table_t t, int64_t day, int drop)
{
    int            st, attempt;
    char           err[1024], d[PS_DAY_MAX];
    int64_t        rows;
    ps_day_sums_t  now;
    ps_manifest_t  m;
    const char    *name;

    ps_format_day(day, d);
    name = ps_pg_days_table_name(t);

    if (ps_pg_day_sums(conn, t, day, &now, err, sizeof(err)) != 0) {
        failed(r, "archive", day, err);
        return -1;
    }

    if (now.rows > 0) {
        st = archived(conn, t, day, &now, err, sizeof(err));
        if (st < 0) {
            failed(r, "archive", day, err);
            return -1;
        }

        if (st == 0) {
            say(o, "archive %s %s: %lld rows", name, d,
                (long long) now.rows);
            if (!o->dry_run) {
                if (ps_pg_archive_day(conn, t, day, cfg->archive_dir, &m,
                                      err, sizeof(err)) != 0)
                {
                    failed(r, "archive", day, err);
                    return -1;
                }
                r->days_archived++;
                r->rows_archived += m.rows;
                ps_log(PS_LOG_INFO, "event=lifecycle_archived table=%s "
                       "day=%s file=%s rows=%lld bytes=%llu sha256=%s",
                       name, d, m.file, (long long) m.rows,
                       (unsigned long long) m.bytes, m.sha256);
            }
        }
    }

    if (!drop) {
        return 0;
    }

    say(o, "drop %s %s: %lld rows (once its archives verify)", name, d,
        (long long) now.rows);

    if (o->dry_run) {
        return 0;
    }

    /* the drop takes an old day's partition, then the parent: a writer
     * that holds the parent and waits for that partition (a flush with
     * late rows of the day) is a deadlock PostgreSQL breaks by failing
     * one of the two; when it fails the drop, the drop runs again once
     * the writer is through */
    for (attempt = 1; ; attempt++) {
        st = ps_pg_drop_day(conn, t, day, cfg->archive_dir, &rows, err,
                            sizeof(err));
        if (st != -1 || attempt == DROP_ATTEMPTS
            || strstr(err, "(SQLSTATE " SQLSTATE_DEADLOCK ")") == NULL)
        {
            break;
        }
        ps_log(PS_LOG_WARN, "event=lifecycle_retry step=drop table=%s "
               "day=%s attempt=%d reason=deadlock", name, d, attempt);
        ps_sleep_ms(100U * (unsigned) attempt);
    }
    if (st != 1) {
        failed(r, "drop", day, err);
        return -1;
    }

    r->days_dropped++;
    r->rows_dropped += rows;
    ps_log(PS_LOG_INFO, "event=lifecycle_dropped table=%s day=%s rows=%lld",
           name, d, (long long) rows);

    return 0;
}


/* 1 when an hourly archive of day was dropped, 0 when not, -1. */
static int
dropped_before(PGconn *conn, int64_t day, char *err, size_t errlen)
{
    int        v;
    char       sql[256], d[PS_DAY_MAX];
    PGresult  *res;

    (void) snprintf(sql, sizeof(sql), "SELECT count(*) FROM "
                    "pathstats_archives WHERE kind = 'hourly' AND day = '%s'"
                    " AND dropped_at IS NOT NULL", ps_format_day(day, d));
    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    v = atoi(PQgetvalue(res, 0, 0)) > 0;
    PQclear(res);

    return v;
}


static int
stopping(const ps_lifecycle_opts_t *o)
{
    return o->stop != NULL && *o->stop;
}


int
ps_pg_lifecycle_run(PGconn *conn, const ps_config_t *cfg,
    const ps_lifecycle_opts_t *o, ps_lifecycle_result_t *r)
{
    int        i, n, st, gone, rc;
    char       err[1024], d[PS_DAY_MAX], q[1200];
    int64_t   *days, today, closed, hourly_keep, daily_keep, rows, out;
    uint64_t   t0;
    PGresult  *res;

    memset(r, 0, sizeof(*r));
    t0 = ps_mono_us();

    res = PQexec(conn, "SELECT pg_try_advisory_lock(x'" PS_LIFECYCLE_LOCK
                 "'::bigint)");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, sizeof(err));
        PQclear(res);
        r->failures++;
        ps_log(PS_LOG_ERROR, "event=lifecycle_failed step=lock error=%s",
               ps_log_quote(q, sizeof(q), err));
        return -1;
    }

    r->locked = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);

    if (!r->locked) {
        ps_log(PS_LOG_INFO, "event=lifecycle_skipped reason=\"another node "
               "holds the lifecycle lock\"");
        say(o, "another node runs the lifecycle now: nothing done");
        return 0;
    }

    days = malloc(MAX_DAYS * sizeof(int64_t));
    if (days == NULL) {
        r->failures++;
        goto unlock;
    }

    today = ps_day_of(o->now_us);
    /* a day is closed once its end is lifecycle_grace behind us */
    closed = ps_day_of(o->now_us - (int64_t) cfg->lifecycle_grace_ms * 1000)
             - 1;
    closed = closed < today - 1 ? closed : today - 1;
    hourly_keep = today - (int64_t) (cfg->hourly_retention_ms / 86400000);
    daily_keep = cfg->daily_retention_ms
                 ? today - (int64_t) (cfg->daily_retention_ms / 86400000)
                 : INT64_MIN;

    ps_log(PS_LOG_INFO, "event=lifecycle_started dry_run=%d closed_until=%s",
           o->dry_run, ps_format_day(closed, d));

    n = ps_pg_hourly_days(conn, days, MAX_DAYS, err, sizeof(err));
    if (n < 0) {
        failed(r, "list", today, err);
        goto done;
    }

    /* 1. rollups of the closed days whose hourly rows moved */
    for (i = 0; i < n && days[i] <= closed && !stopping(o); i++) {
        st = ps_pg_rollup_state(conn, days[i], err, sizeof(err));
        if (st < 0) {
            failed(r, "rollup", days[i], err);
            continue;
        }
        if (st == PS_ROLLUP_DONE) {
            continue;
        }

        /* rows that came in after the day's hourly rows were archived
         * and dropped: a rollup now would replace the day's daily rows
         * with these alone; they are archived as a further part and
         * dropped, and the day's rollup is left as it was */
        gone = dropped_before(conn, days[i], err, sizeof(err));
        if (gone != 0) {
            if (gone < 0) {
                failed(r, "rollup", days[i], err);
            } else {
                say(o, "rollup %s skipped: its hourly rows were archived "
                    "and dropped before; the late rows go to a further "
                    "archive part", ps_format_day(days[i], d));
                ps_log(PS_LOG_WARN, "event=lifecycle_rollup_skipped day=%s "
                       "reason=\"late rows of a dropped day: archived as a "
                       "further part, not rolled up\"", d);
            }
            continue;
        }

        say(o, "rollup %s (%s)", ps_format_day(days[i], d),
            st == PS_ROLLUP_MISSING ? "new" : "hourly rows changed since");

        if (o->dry_run) {
            continue;
        }

        if (ps_pg_rollup_day(conn, days[i], &out, &rows, err,
                             sizeof(err)) != 0)
        {
            failed(r, "rollup", days[i], err);
            continue;
        }

        r->days_rolled++;
        r->rows_rolled += rows;
        ps_log(PS_LOG_INFO, "event=lifecycle_rolled_up day=%s hourly_rows=%lld "
               "daily_rows=%lld", d, (long long) rows, (long long) out);
    }

    /* 2. and 3. archives of the closed days, the old ones dropped; with
     * no archive_dir nothing is archived, so nothing is dropped */
    if (cfg->archive_dir == NULL) {
        say(o, "no archive_dir: nothing archived or dropped");
    } else {
        for (i = 0; i < n && days[i] <= closed && !stopping(o); i++) {
            (void) archive_and_drop(conn, cfg, o, r, PS_DAYS_HOURLY,
                                    days[i], days[i] < hourly_keep);
        }

        n = ps_pg_daily_days(conn, days, MAX_DAYS, err, sizeof(err));
        if (n < 0) {
            failed(r, "list", today, err);
            goto done;
        }

        for (i = 0; i < n && days[i] < daily_keep && !stopping(o); i++) {
            (void) archive_and_drop(conn, cfg, o, r, PS_DAYS_DAILY, days[i],
                                    1);
        }
    }

done:

    r->duration_us = (int64_t) (ps_mono_us() - t0);
    ps_log(r->failures ? PS_LOG_WARN : PS_LOG_INFO,
           "event=lifecycle_finished dry_run=%d days_rolled=%lld "
           "rows_rolled=%lld days_archived=%lld rows_archived=%lld "
           "days_dropped=%lld rows_dropped=%lld failures=%lld "
           "duration_ms=%lld", o->dry_run, (long long) r->days_rolled,
           (long long) r->rows_rolled, (long long) r->days_archived,
           (long long) r->rows_archived, (long long) r->days_dropped,
           (long long) r->rows_dropped, (long long) r->failures,
           (long long) (r->duration_us / 1000));
    free(days);

    /* the run's row: the scheduler's memory of the last success, on
     * every node, and what /api/summary shows */
    if (!o->dry_run) {
        char  sql[768];

        (void) snprintf(sql, sizeof(sql),
            "INSERT INTO pathstats_lifecycle_runs (kind, node_id,"
            " started_at, finished_at, ok, rolled_up, archived, dropped,"
            " failures) VALUES ('lifecycle', '%s', now() - interval"
            " '%lld microseconds', now(), %s, %lld, %lld, %lld, %lld)",
            cfg->node_id, (long long) r->duration_us,
            r->failures ? "false" : "true", (long long) r->rows_rolled,
            (long long) r->rows_archived, (long long) r->rows_dropped,
            (long long) r->failures);
        (void) ps_pg_exec(conn, sql, PGRES_COMMAND_OK, "lifecycle_record");
    }

unlock:

    (void) ps_pg_exec(conn, "SELECT pg_advisory_unlock(x'"
                      PS_LIFECYCLE_LOCK "'::bigint)", PGRES_TUPLES_OK,
                      "lifecycle_unlock");

    rc = r->failures ? -1 : 0;

    return rc;
}
