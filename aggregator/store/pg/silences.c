/*
 * Silences in PostgreSQL: see silences.h.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/thread.h"
#include "store/pg/migrate.h"
#include "store/pg/pg_conn.h"
#include "store/pg/silences.h"

static const char  read_sql[] =
    "SELECT id, scope, created_by,"
    " (extract(epoch FROM starts_at) * 1000000)::bigint,"
    " (extract(epoch FROM ends_at) * 1000000)::bigint"
    " FROM pathstats_silences WHERE ends_at > now()"
    " ORDER BY id LIMIT 1000";

/* a new silence; rows that ended a month ago go at the same time */
static const char  insert_sql[] =
    "WITH gone AS (DELETE FROM pathstats_silences"
    "  WHERE ends_at < now() - interval '30 days')"
    " INSERT INTO pathstats_silences (scope, ends_at, created_by)"
    " VALUES ($1, now() + $2::bigint * interval '1 millisecond', $3)"
    " RETURNING id, (extract(epoch FROM ends_at) * 1000000)::bigint";

static const char  end_sql[] =
    "UPDATE pathstats_silences SET ends_at = greatest(now(), starts_at)"
    " WHERE scope = $1 AND ends_at > now()"
    " RETURNING (extract(epoch FROM ends_at) * 1000000)::bigint";

struct ps_pg_silences_s {
    pthread_t        thread;
    pthread_mutex_t  mu;
    pthread_cond_t   cv;
    int              stop;          /* under mu */
    int              fresh;         /* under mu */
    ps_silences_t    list;          /* under mu */
    char            *conninfo;

    /* the thread's own */
    PGconn          *conn;
    int              failing;       /* logged once per outage */
};


static int
same_list(const ps_silences_t *a, const ps_silences_t *b)
{
    size_t  i;

    if (a->n != b->n) {
        return 0;
    }

    for (i = 0; i < a->n; i++) {
        if (a->s[i].id != b->s[i].id || a->s[i].ends_us != b->s[i].ends_us
            || a->s[i].starts_us != b->s[i].starts_us)
        {
            return 0;
        }
    }

    return 1;
}


/* Reads the silences in force into l; 0 or -1 (logged once). */
static int
read_silences(ps_pg_silences_t *s, ps_silences_t *l)
{
    PGresult  *res;
    char       msg[256], q[300];
    int        i, rows, rc = -1;

    if (ps_pg_reconnect(&s->conn, s->conninfo, msg, sizeof(msg)) != 0) {
        goto fail;
    }

    res = PQexec(s->conn, read_sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        ps_pg_error(s->conn, res, msg, sizeof(msg));
        PQclear(res);
        goto fail;
    }

    rows = PQntuples(res);
    rc = 0;

    for (i = 0; i < rows; i++) {
        if (ps_silences_add(l, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                            PQgetvalue(res, i, 1),
                            PQgetisnull(res, i, 2) ? NULL
                                                   : PQgetvalue(res, i, 2),
                            strtoull(PQgetvalue(res, i, 3), NULL, 10),
                            strtoull(PQgetvalue(res, i, 4), NULL, 10)) != 0)
        {
            snprintf(msg, sizeof(msg), "out of memory");
            rc = -1;
            break;
        }
    }

    PQclear(res);

    if (rc == 0) {
        if (s->failing) {
            ps_log(PS_LOG_INFO, "event=silences_read silences=%zu", l->n);
        }
        s->failing = 0;
        return 0;
    }

fail:

    if (!s->failing) {
        ps_log(PS_LOG_WARN, "event=silences_failed error=%s "
               "(the last silences read stay in force)",
               ps_log_quote(q, sizeof(q), msg));
    }
    s->failing = 1;

    return -1;
}


static void *
silences_main(void *arg)
{
    ps_pg_silences_t  *s = arg;
    ps_silences_t      l = PS_SILENCES_INIT;
    struct timespec    ts;
    int                rc;

    ps_thread_background("ps-silences");

    pthread_mutex_lock(&s->mu);

    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);

        ps_silences_free(&l);
        rc = read_silences(s, &l);

        pthread_mutex_lock(&s->mu);

        if (rc == 0 && !same_list(&l, &s->list)) {
            ps_silences_t  tmp = s->list;

            s->list = l;
            l = tmp;
            s->fresh = 1;
        }

        ps_clock_after(CLOCK_REALTIME, PS_PG_SILENCES_POLL_MS * 1000, &ts);

        if (!s->stop) {
            (void) pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
    }

    pthread_mutex_unlock(&s->mu);
    ps_silences_free(&l);

    return NULL;
}


ps_pg_silences_t *
ps_pg_silences_start(const char *conninfo)
{
    ps_pg_silences_t  *s;

    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->conninfo = strdup(conninfo)) == NULL) {
        free(s);
        goto fail;
    }

    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);

    if (pthread_create(&s->thread, NULL, silences_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s->conninfo);
        free(s);
        goto fail;
    }

    return s;

fail:

    ps_log(PS_LOG_ERROR, "event=silences_start_failed");
    return NULL;
}


void
ps_pg_silences_stop(ps_pg_silences_t *s)
{
    if (s == NULL) {
        return;
    }

    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);

    pthread_join(s->thread, NULL);

    PQfinish(s->conn);
    ps_silences_free(&s->list);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->conninfo);
    free(s);
}


int
ps_pg_silences_take(ps_pg_silences_t *s, ps_silences_t *dst)
{
    int  rc = 0;

    pthread_mutex_lock(&s->mu);

    if (s->fresh) {
        rc = ps_silences_copy(dst, &s->list) == 0 ? 1 : -1;
        s->fresh = 0;
    }

    pthread_mutex_unlock(&s->mu);

    return rc;
}


int
ps_pg_silence_store(const char *conninfo, const char *scope, uint64_t ms,
    const char *created_by, int64_t *id, uint64_t *ends_us, char *err,
    size_t errlen)
{
    PGconn      *conn;
    PGresult    *res = NULL;
    const char  *params[3];
    char         msg[512], sms[32];
    int          rc = -1;

    conn = ps_pg_connect(conninfo, err, errlen);
    if (conn == NULL) {
        return -1;
    }

    if (ps_schema_check_conn(conn, err, errlen) != PS_SCHEMA_OK) {
        goto done;
    }

    snprintf(sms, sizeof(sms), "%llu", (unsigned long long) ms);
    params[0] = scope;
    params[1] = sms;
    params[2] = created_by;

    if (ms > 0) {
        res = PQexecParams(conn, insert_sql, 3, NULL, params, NULL, NULL, 0);
    } else {
        res = PQexecParams(conn, end_sql, 1, NULL, params, NULL, NULL, 0);
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", ps_pg_error(conn, res, msg, sizeof(msg)));
        goto done;
    }

    if (ms > 0) {
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *ends_us = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    } else {
        *id = PQntuples(res);
        *ends_us = ps_now_us();
    }

    rc = 0;

done:

    PQclear(res);
    PQfinish(conn);
    return rc;
}
