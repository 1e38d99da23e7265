/*
 * The lifecycle's subcommands (pathstats-aggregator -c FILE SUBCOMMAND):
 *
 *   lifecycle [--dry-run]       one run now: rollup, archive, verify, drop
 *   archive --day D | --before D   archive closed hourly days
 *   restore FILE... | --day D [--replace]
 *   verify                      archives, rollups and Redis' closed
 *                               hours, printed as a table
 *   backup --full DIR           every pathstats table, one snapshot
 *
 * Each prints what it does on stdout; failures name the file or table
 * (stderr, and the log) and leave what they found untouched.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "cmd/verify_redis.h"
#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/progress.h"
#include "store/pg/migrate.h"
#include "store/pg/pg_archive.h"
#include "store/pg/pg_backup.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_days.h"
#include "store/pg/pg_lifecycle.h"

#define MAX_FILES  4096


static void
print_line(void *ctx, const char *line)
{
    (void) ctx;
    ps_progress_clear();
    printf("%s\n", line);
    fflush(stdout);
}


/* Connects and checks the schema; the connection, or NULL (printed). */
static PGconn *
connect_checked(const ps_config_t *cfg, int *rc)
{
    char     err[1024];
    PGconn  *conn;

    if (cfg->postgres == NULL) {
        fprintf(stderr, "pathstats-aggregator: no postgres configured\n");
        *rc = PS_EXIT_CONFIG;
        return NULL;
    }

    conn = ps_pg_connect(cfg->postgres, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "pathstats-aggregator: postgres: %s\n", err);
        *rc = PS_EXIT_POSTGRES;
        return NULL;
    }

    if (ps_schema_check_conn(conn, err, sizeof(err)) != PS_SCHEMA_OK) {
        fprintf(stderr, "pathstats-aggregator: postgres: %s\n", err);
        PQfinish(conn);
        *rc = PS_EXIT_POSTGRES;
        return NULL;
    }

    /* a lifecycle step may read a day of rows: no flush-sized limit */
    (void) ps_pg_exec(conn, "SET statement_timeout = 0", PGRES_COMMAND_OK,
                      "lifecycle_timeout");

    return conn;
}


static int
cmd_lifecycle(const ps_config_t *cfg, int argc, char **argv)
{
    int                    c, rc;
    PGconn                *conn;
    ps_lifecycle_opts_t    o;
    ps_lifecycle_result_t  r;
    static const struct option  opts[] = {
        { "dry-run", no_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 }
    };

    memset(&o, 0, sizeof(o));

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'n') {
            return PS_EXIT_CONFIG;
        }
        o.dry_run = 1;
    }

    if (optind < argc) {
        fprintf(stderr, "lifecycle: unexpected argument \"%s\"\n",
                argv[optind]);
        return PS_EXIT_CONFIG;
    }

    conn = connect_checked(cfg, &rc);
    if (conn == NULL) {
        return rc;
    }

    o.now_us = (int64_t) ps_now_us();
    o.say = print_line;

    ps_progress_begin("lifecycle", -1);
    rc = ps_pg_lifecycle_run(conn, cfg, &o, &r);
    ps_progress_end();

    printf("%s: rolled up %lld days (%lld hourly rows), archived %lld days "
           "(%lld rows), dropped %lld days (%lld rows), %lld failures, "
           "%.1f s\n", o.dry_run ? "plan" : "done",
           (long long) r.days_rolled, (long long) r.rows_rolled,
           (long long) r.days_archived, (long long) r.rows_archived,
           (long long) r.days_dropped, (long long) r.rows_dropped,
           (long long) r.failures, (double) r.duration_us / 1e6);

    PQfinish(conn);

    return rc == 0 ? 0 : PS_EXIT_RUNTIME;
}


static int
cmd_archive(const ps_config_t *cfg, int argc, char **argv)
{
    int            c, i, n, rc, failures;
    char           err[1024], d[PS_DAY_MAX];
    PGconn        *conn;
    int64_t        from, to, *days;
    ps_manifest_t  m;
    static const struct option  opts[] = {
        { "day", required_argument, NULL, 'd' },
        { "before", required_argument, NULL, 'b' },
        { NULL, 0, NULL, 0 }
    };

    from = to = -1;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int64_t  v;

        if ((c != 'd' && c != 'b') || ps_parse_day(optarg, &v) != 0) {
            fprintf(stderr, "archive: --day D or --before D with D as "
                    "YYYY-MM-DD\n");
            return PS_EXIT_CONFIG;
        }
        if (c == 'd') {
            from = v;
            to = v + 1;
        } else {
            from = INT64_MIN;
            to = v;
        }
    }

    if (to < 0 && from < 0) {
        fprintf(stderr, "archive: --day D or --before D\n");
        return PS_EXIT_CONFIG;
    }

    if (cfg->archive_dir == NULL) {
        fprintf(stderr, "archive: no archive_dir configured\n");
        return PS_EXIT_CONFIG;
    }

    if (to > ps_day_of((int64_t) ps_now_us())) {
        fprintf(stderr, "archive: today is not closed yet\n");
        return PS_EXIT_CONFIG;
    }

    conn = connect_checked(cfg, &rc);
    if (conn == NULL) {
        return rc;
    }

    days = malloc(40 * 366 * sizeof(int64_t));
    n = days ? ps_pg_hourly_days(conn, days, 40 * 366, err, sizeof(err))
             : -1;
    failures = n < 0;
    if (n < 0) {
        fprintf(stderr, "archive: pathstats_hourly: %s\n", err);
    }

    ps_progress_begin("archive", -1);

    for (i = 0; i < n; i++) {
        if (days[i] < from || days[i] >= to) {
            continue;
        }
        if (ps_pg_archive_day(conn, PS_DAYS_HOURLY, days[i],
                              cfg->archive_dir, &m, err, sizeof(err)) != 0)
        {
            ps_progress_clear();
            fprintf(stderr, "archive %s: %s\n", ps_format_day(days[i], d),
                    err);
            failures++;
            continue;
        }
        ps_progress_clear();
        if (m.rows == 0) {
            printf("%s: no rows\n", ps_format_day(days[i], d));
        } else {
            printf("%s: %lld rows, %llu bytes, sha256 %s\n", m.file,
                   (long long) m.rows, (unsigned long long) m.bytes,
                   m.sha256);
        }
    }

    ps_progress_end();
    free(days);
    PQfinish(conn);

    return failures ? PS_EXIT_RUNTIME : 0;
}


/* 1 when every file is in archive_dir (then restoring them marks their
 * pathstats_archives rows restored). */
static int
in_archive_dir(const ps_config_t *cfg, char *const *files, int n)
{
    int    i, same;
    char  *a, *f, *slash;

    if (cfg->archive_dir == NULL
        || (a = realpath(cfg->archive_dir, NULL)) == NULL)
    {
        return 0;
    }

    same = 1;

    for (i = 0; i < n && same; i++) {
        f = realpath(files[i], NULL);
        slash = f ? strrchr(f, '/') : NULL;
        if (slash == NULL) {
            same = 0;
        } else {
            *slash = '\0';
            same = strcmp(f, a) == 0;
        }
        free(f);
    }

    free(a);

    return same;
}


static void
say_line(const char *line)
{
    ps_progress_clear();
    printf("%s\n", line);
    fflush(stdout);
}


/* backup --full DIR */
static int
cmd_backup(const ps_config_t *cfg, int argc, char **argv)
{
    int          c, full, rc;
    char         err[1024];
    PGconn      *conn;
    int64_t      files, rows;
    const char  *dir;
    static const struct option  opts[] = {
        { "full", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 }
    };

    full = 0;
    dir = NULL;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'f') {
            return PS_EXIT_CONFIG;
        }
        full = 1;
        dir = optarg;
    }

    if (!full || optind < argc) {
        fprintf(stderr, "backup: --full DIR (the archives are the "
                "incremental backup)\n");
        return PS_EXIT_CONFIG;
    }

    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "backup: %s: %s\n", dir, strerror(errno));
        return PS_EXIT_RUNTIME;
    }

    conn = connect_checked(cfg, &rc);
    if (conn == NULL) {
        return rc;
    }

    ps_progress_begin("backup", -1);
    rc = ps_pg_backup_full(conn, dir, say_line, &files, &rows, err,
                           sizeof(err));
    ps_progress_end();

    if (rc != 0) {
        fprintf(stderr, "backup: %s\n", err);
        PQfinish(conn);
        return PS_EXIT_RUNTIME;
    }

    printf("backup: %lld files, %lld rows in %s\n", (long long) files,
           (long long) rows, dir);
    ps_log(PS_LOG_INFO, "event=lifecycle_backup files=%lld rows=%lld",
           (long long) files, (long long) rows);
    PQfinish(conn);

    return 0;
}


static int
cmd_restore(const ps_config_t *cfg, int argc, char **argv)
{
    int            c, i, n, rc, replace, ok;
    char           err[1024], *files[MAX_FILES], *p;
    PGconn        *conn;
    int64_t        day, rows;
    static const struct option  opts[] = {
        { "day", required_argument, NULL, 'd' },
        { "replace", no_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 }
    };

    day = -1;
    replace = 0;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r') {
            replace = 1;
        } else if (c != 'd' || ps_parse_day(optarg, &day) != 0) {
            fprintf(stderr, "restore: FILE... | --day YYYY-MM-DD "
                    "[--replace]\n");
            return PS_EXIT_CONFIG;
        }
    }

    if ((day >= 0) == (optind < argc)) {
        fprintf(stderr, "restore: FILE... or --day D (one of them)\n");
        return PS_EXIT_CONFIG;
    }

    conn = connect_checked(cfg, &rc);
    if (conn == NULL) {
        return rc;
    }

    n = 0;

    if (day >= 0) {
        if (cfg->archive_dir == NULL) {
            fprintf(stderr, "restore: no archive_dir configured\n");
            PQfinish(conn);
            return PS_EXIT_CONFIG;
        }
        n = ps_pg_archive_files(conn, PS_DAYS_HOURLY, day, files, MAX_FILES,
                                err, sizeof(err));
        if (n <= 0) {
            fprintf(stderr, "restore: %s\n", n < 0 ? err
                    : "pathstats_archives lists no archive of that day");
            PQfinish(conn);
            return PS_EXIT_RUNTIME;
        }
        for (i = 0; i < n; i++) {
            if (asprintf(&p, "%s/%s", cfg->archive_dir, files[i]) < 0) {
                p = NULL;
            }
            free(files[i]);
            files[i] = p;
        }
    } else {
        for (i = optind; i < argc && n < MAX_FILES; i++) {
            files[n++] = strdup(argv[i]);
        }
    }

    ok = 1;
    for (i = 0; i < n; i++) {
        ok &= files[i] != NULL;
    }

    ps_progress_begin("restore", -1);
    rc = ok ? ps_pg_restore_files(conn, files, n, replace,
                                  day >= 0 || in_archive_dir(cfg, files, n),
                                  &rows, err, sizeof(err))
            : -1;
    ps_progress_end();

    if (rc == 0) {
        printf("restored %lld rows from %d file%s\n", (long long) rows, n,
               n == 1 ? "" : "s");
        ps_log(PS_LOG_INFO, "event=lifecycle_restored files=%d rows=%lld",
               n, (long long) rows);
    } else {
        fprintf(stderr, "restore: %s\n", ok ? err : "out of memory");
    }

    for (i = 0; i < n; i++) {
        free(files[i]);
    }

    PQfinish(conn);

    return rc == 0 ? 0 : PS_EXIT_RUNTIME;
}


/* verify: every archive against its manifest and index row, every day
 * that has both rollups and hourly rows key by key, every closed hour
 * Redis holds against the hourly rows (verify_redis.c); a table on
 * stdout */
static int
cmd_verify(const ps_config_t *cfg, int argc, char **argv)
{
    int             i, rc, checked, bad;
    int64_t         redis_keys;
    char            err[1024], path[4096], why[4600], sql[2048];
    char            where[128], d[PS_DAY_MAX];
    PGconn         *conn;
    PGresult       *res, *r2;
    ps_manifest_t   m;

    if (argc > 1) {
        fprintf(stderr, "verify: unexpected argument \"%s\"\n", argv[1]);
        return PS_EXIT_CONFIG;
    }

    conn = connect_checked(cfg, &rc);
    if (conn == NULL) {
        return rc;
    }

    checked = bad = 0;
    ps_progress_begin("verify", -1);
    printf("%-8s %-52s %s\n", "check", "subject", "result");

    /* archives not dropped or dropped: each file must still verify */
    res = PQexec(conn, "SELECT file, sha256, rows, requests::text FROM "
                 "pathstats_archives ORDER BY kind, day, part");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "verify: pathstats_archives: %s\n",
                ps_pg_error(conn, res, err, sizeof(err)));
        PQclear(res);
        ps_progress_end();
        PQfinish(conn);
        return PS_EXIT_POSTGRES;
    }

    for (i = 0; i < PQntuples(res); i++) {
        checked++;
        if (cfg->archive_dir == NULL) {
            snprintf(why, sizeof(why), "no archive_dir configured");
        } else {
            snprintf(path, sizeof(path), "%s/%s", cfg->archive_dir,
                     PQgetvalue(res, i, 0));
            why[0] = '\0';
            if (ps_manifest_read(path, &m, why, sizeof(why)) == 0
                && ps_manifest_check(path, &m, why, sizeof(why)) == 0)
            {
                if (strcmp(m.sha256, PQgetvalue(res, i, 1)) != 0
                    || m.rows != strtoll(PQgetvalue(res, i, 2), NULL, 10)
                    || strcmp(m.requests, PQgetvalue(res, i, 3)) != 0)
                {
                    snprintf(why, sizeof(why), "%s: the manifest is not "
                             "what pathstats_archives recorded", path);
                }
            }
        }
        if (why[0] == '\0') {
            ps_progress_rows(m.rows);
            ps_progress_clear();
            printf("%-8s %-52s ok (%lld rows)\n", "archive",
                   PQgetvalue(res, i, 0), (long long) m.rows);
        } else {
            bad++;
            ps_progress_clear();
            printf("%-8s %-52s MISMATCH: %s\n", "archive",
                   PQgetvalue(res, i, 0), why);
        }
    }

    PQclear(res);

    /* rollups: every day with both daily and hourly rows, per key */
    res = PQexec(conn, "SELECT DISTINCT day::text FROM pathstats_daily "
                 "ORDER BY 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "verify: pathstats_daily: %s\n",
                ps_pg_error(conn, res, err, sizeof(err)));
        PQclear(res);
        ps_progress_end();
        PQfinish(conn);
        return PS_EXIT_POSTGRES;
    }

    for (i = 0; i < PQntuples(res); i++) {
        int64_t  day;

        if (ps_parse_day(PQgetvalue(res, i, 0), &day) != 0) {
            continue;
        }
        ps_pg_day_where(PS_DAYS_HOURLY, day, where, sizeof(where));
        ps_format_day(day, d);

        snprintf(sql, sizeof(sql),
            "WITH h AS (SELECT host, method, path, node_id,"
            " sum(requests) r, sum(errors) e, sum(bytes_in) bi,"
            " sum(bytes_out) bo, sum(latency_sum_us) ls,"
            " sum(status_2xx) s2, sum(status_4xx) s4, sum(status_5xx) s5"
            " FROM pathstats_hourly WHERE %s GROUP BY 1, 2, 3, 4),"
            " d AS (SELECT host, method, path, node_id, requests r,"
            " errors e, bytes_in bi, bytes_out bo, latency_sum_us ls,"
            " status_2xx s2, status_4xx s4, status_5xx s5"
            " FROM pathstats_daily WHERE day = '%s')"
            " SELECT (SELECT count(*) FROM h), count(*) FILTER (WHERE"
            " (h.r, h.e, h.bi, h.bo, h.ls, h.s2, h.s4, h.s5) IS DISTINCT"
            " FROM (d.r, d.e, d.bi, d.bo, d.ls, d.s2, d.s4, d.s5)),"
            " min(coalesce(h.path, d.path)) FILTER (WHERE"
            " (h.r, h.e, h.bi, h.bo, h.ls, h.s2, h.s4, h.s5) IS DISTINCT"
            " FROM (d.r, d.e, d.bi, d.bo, d.ls, d.s2, d.s4, d.s5))"
            " FROM h FULL JOIN d USING (host, method, path, node_id)",
            where, d);

        r2 = PQexec(conn, sql);
        if (PQresultStatus(r2) != PGRES_TUPLES_OK) {
            fprintf(stderr, "verify: %s\n",
                    ps_pg_error(conn, r2, err, sizeof(err)));
            PQclear(r2);
            bad++;
            continue;
        }

        if (strcmp(PQgetvalue(r2, 0, 0), "0") == 0) {
            /* the hourly rows are gone (archived, dropped): nothing to
             * compare with */
            PQclear(r2);
            continue;
        }

        checked++;
        ps_progress_rows(strtoll(PQgetvalue(r2, 0, 0), NULL, 10));
        snprintf(path, sizeof(path), "pathstats_daily %s", d);

        if (strcmp(PQgetvalue(r2, 0, 1), "0") == 0) {
            ps_progress_clear();
            printf("%-8s %-52s ok (%s keys)\n", "rollup", path,
                   PQgetvalue(r2, 0, 0));
        } else {
            bad++;
            ps_progress_clear();
            printf("%-8s %-52s MISMATCH: %s keys differ from their hourly "
                   "rows (first path %s)\n", "rollup", path,
                   PQgetvalue(r2, 0, 1), PQgetvalue(r2, 0, 2));
        }

        PQclear(r2);
    }

    PQclear(res);

    rc = ps_verify_redis(cfg, conn, (int64_t) ps_now_us(), &checked, &bad,
                         &redis_keys);
    ps_progress_end();
    if (rc != 0) {
        PQfinish(conn);
        return rc;
    }

    if (cfg->redis != NULL) {
        printf("verify: redis: %lld keys compared\n",
               (long long) redis_keys);
    }
    printf("verify: %d checked, %d mismatches\n", checked, bad);
    ps_log(bad ? PS_LOG_WARN : PS_LOG_INFO, "event=lifecycle_verified "
           "checked=%d mismatches=%d", checked, bad);

    /* the last result, for /api/summary's consistency */
    snprintf(sql, sizeof(sql), "INSERT INTO pathstats_lifecycle_runs "
             "(kind, node_id, finished_at, ok, checked, mismatches) VALUES "
             "('verify', '%s', now(), %s, %d, %d)", cfg->node_id,
             bad ? "false" : "true", checked, bad);
    (void) ps_pg_exec(conn, sql, PGRES_COMMAND_OK, "verify_record");

    PQfinish(conn);

    return bad ? PS_EXIT_RUNTIME : 0;
}


int
ps_cmd_is_subcommand(const char *name)
{
    return strcmp(name, "lifecycle") == 0 || strcmp(name, "archive") == 0
           || strcmp(name, "restore") == 0 || strcmp(name, "verify") == 0
           || strcmp(name, "backup") == 0;
}


int
ps_cmd_subcommand(const ps_config_t *cfg, int argc, char **argv)
{
    /* each parses its own options from argv[0] (its name) on */
    optind = 1;

    if (strcmp(argv[0], "lifecycle") == 0) {
        return cmd_lifecycle(cfg, argc, argv);
    }
    if (strcmp(argv[0], "archive") == 0) {
        return cmd_archive(cfg, argc, argv);
    }
    if (strcmp(argv[0], "restore") == 0) {
        return cmd_restore(cfg, argc, argv);
    }
    if (strcmp(argv[0], "verify") == 0) {
        return cmd_verify(cfg, argc, argv);
    }
    if (strcmp(argv[0], "backup") == 0) {
        return cmd_backup(cfg, argc, argv);
    }

    fprintf(stderr, "pathstats-aggregator: unknown subcommand \"%s\" (see "
            "--help)\n", argv[0]);

    return PS_EXIT_CONFIG;
}
