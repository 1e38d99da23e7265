/*
 * Schema migrations: see migrate.h.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "store/pg/migrate.h"
#include "store/pg/pg_conn.h"

#define MIGRATE_LOCK_KEY  "7065746873746174"   /* advisory lock id (hex) */
#define MAX_MIGRATIONS    999

typedef struct {
    int    version;
    char   name[256];
} migration_t;


static int
cmp_migration(const void *a, const void *b)
{
    return ((const migration_t *) a)->version
           - ((const migration_t *) b)->version;
}


/* Lists dir's NNN_*.sql files sorted by number; count, or -1 (logged). */
static int
list_migrations(const char *dir, migration_t *m, int max)
{
    int             n, v;
    DIR            *d;
    size_t          len;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed schema_dir=\"%s\" "
               "error=\"%s\"", dir, strerror(errno));
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL && n < max) {
        len = strlen(de->d_name);

        if (len < 9 || len >= sizeof(m[n].name)
            || de->d_name[0] < '0' || de->d_name[0] > '9'
            || de->d_name[1] < '0' || de->d_name[1] > '9'
            || de->d_name[2] < '0' || de->d_name[2] > '9'
            || de->d_name[3] != '_'
            || strcmp(de->d_name + len - 4, ".sql") != 0)
        {
            continue;
        }

        v = atoi(de->d_name);
        if (v <= 0) {
            continue;
        }

        m[n].version = v;
        memcpy(m[n].name, de->d_name, len + 1);
        n++;
    }

    closedir(d);

    if (n > 1) {
        qsort(m, (size_t) n, sizeof(migration_t), cmp_migration);
    }

    return n;
}


static char *
read_file(const char *path)
{
    long   size;
    char  *buf;
    FILE  *f;

    f = fopen(path, "r");
    if (f == NULL) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed file=\"%s\" error=\"%s\"",
               path, strerror(errno));
        return NULL;
    }

    buf = NULL;

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        goto fail;
    }

    buf = malloc((size_t) size + 1);
    if (buf == NULL || fread(buf, 1, (size_t) size, f) != (size_t) size) {
        goto fail;
    }

    buf[size] = '\0';
    fclose(f);

    return buf;

fail:

    ps_log(PS_LOG_ERROR, "event=migrate_failed file=\"%s\" "
           "error=\"cannot read\"", path);
    free(buf);
    fclose(f);

    return NULL;
}


/* Highest applied version, 0 when the version table is missing or
 * empty, -1 on error (err set). */
static int
current_version(PGconn *conn, char *err, size_t errlen)
{
    int        v;
    PGresult  *res;

    res = PQexec(conn, "SELECT CASE WHEN to_regclass("
                 "'pathstats_schema_version') IS NULL THEN NULL ELSE 0 END");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    v = PQgetisnull(res, 0, 0) ? -2 : 0;
    PQclear(res);

    if (v == -2) {
        return 0;
    }

    res = PQexec(conn, "SELECT coalesce(max(version), 0) "
                 "FROM pathstats_schema_version");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);

    return v;
}


/* Marks the versions already applied in done[] (MAX_MIGRATIONS + 1
 * flags); 0, or -1 (err set).  The version table must exist. */
static int
applied_versions(PGconn *conn, unsigned char *done, char *err,
    size_t errlen)
{
    int        i, v;
    PGresult  *res;

    res = PQexec(conn, "SELECT version FROM pathstats_schema_version");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    for (i = 0; i < PQntuples(res); i++) {
        v = atoi(PQgetvalue(res, i, 0));
        if (v > 0 && v <= MAX_MIGRATIONS) {
            done[v] = 1;
        }
    }

    PQclear(res);

    return 0;
}


static int
apply(PGconn *conn, const char *dir, const migration_t *m)
{
    int          rc;
    char         path[4096], ver[16], err[1024], q[1100];
    char        *sql;
    PGresult    *res;
    const char  *params[2];

    snprintf(path, sizeof(path), "%s/%s", dir, m->name);

    sql = read_file(path);
    if (sql == NULL) {
        return -1;
    }

    rc = -1;

    if (ps_pg_exec(conn, "BEGIN", PGRES_COMMAND_OK, "migrate_begin") != 0) {
        free(sql);
        return -1;
    }

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        ps_log(PS_LOG_ERROR, "event=migrate_failed file=%s error=%s",
               m->name, ps_log_quote(q, sizeof(q),
                                     ps_pg_error(conn, res, err, sizeof(err))));
        PQclear(res);
        goto fail;
    }

    PQclear(res);

    snprintf(ver, sizeof(ver), "%d", m->version);
    params[0] = ver;
    params[1] = m->name;

    res = PQexecParams(conn, "INSERT INTO pathstats_schema_version "
                       "(version, name) VALUES ($1::int, $2)", 2, NULL,
                       params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed file=%s error=%s",
               m->name, ps_log_quote(q, sizeof(q),
                                     ps_pg_error(conn, res, err, sizeof(err))));
        PQclear(res);
        goto fail;
    }

    PQclear(res);

    if (ps_pg_exec(conn, "COMMIT", PGRES_COMMAND_OK, "migrate_commit") != 0) {
        goto fail;
    }

    rc = 0;

fail:

    if (rc != 0) {
        (void) ps_pg_exec(conn, "ROLLBACK", PGRES_COMMAND_OK,
                          "migrate_rollback");
    }

    free(sql);

    return rc;
}


int
ps_migrate_run(const ps_config_t *cfg)
{
    int           i, n, cur, rc, applied;
    char          err[1024], q[1100];
    unsigned char done[MAX_MIGRATIONS + 1];
    PGconn       *conn;
    migration_t  *m;

    conn = ps_pg_connect(cfg->postgres, err, sizeof(err));
    if (conn == NULL) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed error=%s",
               ps_log_quote(q, sizeof(q), err));
        return -1;
    }

    rc = -1;
    memset(done, 0, sizeof(done));
    m = calloc(MAX_MIGRATIONS, sizeof(migration_t));
    if (m == NULL) {
        goto done;
    }

    n = list_migrations(cfg->schema_dir, m, MAX_MIGRATIONS);
    if (n < 0) {
        goto done;
    }

    /* a migration may rewrite large tables: no flush-sized timeout; the
     * session lock makes another node wait, then find nothing to do */
    if (ps_pg_exec(conn, "SET statement_timeout = 0", PGRES_COMMAND_OK,
                   "migrate_timeout") != 0
        || ps_pg_exec(conn, "SELECT pg_advisory_lock(x'" MIGRATE_LOCK_KEY
                      "'::bigint)", PGRES_TUPLES_OK, "migrate_lock") != 0)
    {
        goto done;
    }

    cur = current_version(conn, err, sizeof(err));
    if (cur < 0) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed error=%s",
               ps_log_quote(q, sizeof(q), err));
        goto unlock;
    }

    if (cur > PS_SCHEMA_VERSION) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed error=\"the database "
               "schema is version %d, newer than this aggregator knows "
               "(%d): upgrade pathstats-aggregator\"", cur,
               PS_SCHEMA_VERSION);
        goto unlock;
    }

    /* every file up to PS_SCHEMA_VERSION that the database lacks, not
     * only those above its highest version: migrations written side by
     * side on branches (003 and 004) may reach a database in either
     * order, and each reads only what the ones before version 3 made */
    if (cur > 0 && applied_versions(conn, done, err, sizeof(err)) != 0) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed error=%s",
               ps_log_quote(q, sizeof(q), err));
        goto unlock;
    }

    applied = 0;

    for (i = 0; i < n; i++) {
        if (done[m[i].version] || m[i].version > PS_SCHEMA_VERSION) {
            continue;
        }

        if (apply(conn, cfg->schema_dir, &m[i]) != 0) {
            goto unlock;
        }

        printf("applied %s (schema version %d)\n", m[i].name, m[i].version);
        ps_log(PS_LOG_INFO, "event=migration_applied file=%s version=%d",
               m[i].name, m[i].version);
        done[m[i].version] = 1;
        cur = cur > m[i].version ? cur : m[i].version;
        applied++;
    }

    if (cur < PS_SCHEMA_VERSION) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed error=\"schema_dir %s "
               "has no migration for version %d\"", cfg->schema_dir,
               cur + 1);
        goto unlock;
    }

    if (applied == 0) {
        printf("schema is up to date (version %d)\n", cur);
    }

    fflush(stdout);
    rc = 0;

unlock:

    (void) ps_pg_exec(conn, "SELECT pg_advisory_unlock(x'" MIGRATE_LOCK_KEY
                      "'::bigint)", PGRES_TUPLES_OK, "migrate_unlock");

done:

    free(m);
    PQfinish(conn);

    return rc;
}


int
ps_schema_check_conn(void *c, char *err, size_t errlen)
{
    int      v;
    PGconn  *conn = c;

    v = current_version(conn, err, errlen);

    if (v < 0) {
        return PS_SCHEMA_MISMATCH;
    }

    if (v > PS_SCHEMA_VERSION) {
        snprintf(err, errlen, "the database schema is version %d, newer "
                 "than this aggregator knows (%d): upgrade "
                 "pathstats-aggregator", v, PS_SCHEMA_VERSION);
        return PS_SCHEMA_MISMATCH;
    }

    if (v < PS_SCHEMA_VERSION) {
        snprintf(err, errlen, "the database schema is %s%d, this aggregator "
                 "needs version %d: run pathstats-aggregator --migrate",
                 v == 0 ? "missing: version " : "version ", v,
                 PS_SCHEMA_VERSION);
        return PS_SCHEMA_MISMATCH;
    }

    return PS_SCHEMA_OK;
}


int
ps_schema_check(const ps_config_t *cfg, char *err, size_t errlen)
{
    int      rc;
    PGconn  *conn;

    conn = ps_pg_connect(cfg->postgres, err, errlen);
    if (conn == NULL) {
        return PS_SCHEMA_UNREACHABLE;
    }

    rc = ps_schema_check_conn(conn, err, errlen);
    PQfinish(conn);

    return rc;
}
