/*
 * The day windows from PostgreSQL: see day_windows.h.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/thread.h"
#include "store/pg/day_windows.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_hourly.h"

#define DAY_S  86400

static const int64_t  window_days[PS_DAY_WINDOWS] = { 7, 30 };

/*
 * node_id's rows of the days from $2 to $3 (unix seconds of midnights,
 * both included), each with its day: the daily rollup rows of the days
 * that have any, the hourly rows of the others.  One statement, so that
 * a rollup committing meanwhile is seen by both halves or by neither: no
 * day twice, none missing.
 */
static const char  days_sql[] =
    "SELECT extract(epoch FROM day)::bigint, host, method, path, "
    PS_PG_HOURLY_STATS
    " FROM pathstats_daily WHERE node_id = $1"
    " AND day >= (to_timestamp($2::bigint) AT TIME ZONE 'UTC')::date"
    " AND day <= (to_timestamp($3::bigint) AT TIME ZONE 'UTC')::date"
    " UNION ALL"
    " SELECT d.s, host, method, path, "
    PS_PG_HOURLY_STATS
    " FROM generate_series($2::bigint, $3::bigint, 86400) AS d(s)"
    " JOIN pathstats_hourly h ON h.hour >= to_timestamp(d.s)"
    " AND h.hour < to_timestamp(d.s + 86400) AND h.node_id = $1"
    " WHERE NOT EXISTS (SELECT 1 FROM pathstats_daily x"
    " WHERE x.day = (to_timestamp(d.s) AT TIME ZONE 'UTC')::date)";

struct ps_day_windows_s {
    pthread_t          thread;
    pthread_mutex_t    mu;
    pthread_cond_t     cv;
    int                stop;                       /* under mu */
    int                fresh;                      /* under mu */
    ps_fleet_table_t  *ready[PS_DAY_WINDOWS];      /* under mu */

    char              *conninfo;
    char              *node_id;
    uint64_t           interval_ms;
    PGconn            *conn;                       /* the thread's */
};


int64_t
ps_day_windows_first(int i, int64_t today_start)
{
    return today_start - (window_days[i] - 1) * DAY_S;
}


static int
days_connect(ps_day_windows_t *d)
{
    char  msg[256], err[300];

    if (ps_pg_reconnect(&d->conn, d->conninfo, msg, sizeof(msg)) != 0) {
        ps_log(PS_LOG_WARN, "event=day_windows_failed reason=connect "
               "error=%s", ps_log_quote(err, sizeof(err), msg));
        return -1;
    }

    return 0;
}


/* Reads both windows into t[]; 0, or -1 (logged). */
static int
days_read(ps_day_windows_t *d, ps_fleet_table_t *t[PS_DAY_WINDOWS])
{
    const char      *params[3];
    PGresult        *res;
    ps_win_stats_t   st;
    int64_t          today, day, first[PS_DAY_WINDOWS];
    char             from[24], to[24], err[300];
    int              i, rc = 0;

    if (days_connect(d) != 0) {
        return -1;
    }

    today = ps_hour_of((int64_t) ps_now_us());
    today -= today % DAY_S;

    for (i = 0; i < PS_DAY_WINDOWS; i++) {
        first[i] = ps_day_windows_first(i, today);
    }

    snprintf(from, sizeof(from), "%lld",
             (long long) first[PS_DAY_WINDOWS - 1]);
    snprintf(to, sizeof(to), "%lld", (long long) today);
    params[0] = d->node_id;
    params[1] = from;
    params[2] = to;

    /* row by row: a month of keys need not be in memory twice */
    if (!PQsendQueryParams(d->conn, days_sql, 3, NULL, params, NULL, NULL,
                           1)
        || !PQsetSingleRowMode(d->conn))
    {
        ps_log(PS_LOG_WARN, "event=day_windows_failed reason=query "
               "error=%s",
               ps_log_quote(err, sizeof(err), PQerrorMessage(d->conn)));
        return -1;
    }

    ps_win_stats_init(&st);

    while ((res = PQgetResult(d->conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
            day = ps_pg_bin_int8(res, 0, 0);
            ps_pg_hourly_stats(res, 0, 4, &st);

            for (i = 0; rc == 0 && i < PS_DAY_WINDOWS; i++) {
                if (day < first[i] || day > today
                    || st.counts.requests == 0)
                {
                    continue;
                }
                if (ps_fleet_table_add(t[i], PS_FLEET_CLOSED,
                                       PQgetvalue(res, 0, 1),
                                       (size_t) PQgetlength(res, 0, 1),
                                       PQgetvalue(res, 0, 2),
                                       (size_t) PQgetlength(res, 0, 2),
                                       PQgetvalue(res, 0, 3),
                                       (size_t) PQgetlength(res, 0, 3),
                                       &st)
                    != 0)
                {
                    ps_log(PS_LOG_WARN, "event=day_windows_failed "
                           "reason=no_memory");
                    rc = -1;
                }
            }

        } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            ps_log(PS_LOG_WARN, "event=day_windows_failed reason=query "
                   "error=%s",
                   ps_log_quote(err, sizeof(err),
                                PQresultErrorMessage(res)));
            rc = -1;
        }

        PQclear(res);
    }

    ps_win_stats_free(&st);

    return rc;
}


static void *
days_main(void *arg)
{
    ps_day_windows_t  *d = arg;
    ps_fleet_table_t  *t[PS_DAY_WINDOWS], *old[PS_DAY_WINDOWS];
    struct timespec    ts;
    int                i, ok;

    ps_thread_background("ps-days");

    pthread_mutex_lock(&d->mu);

    while (!d->stop) {
        pthread_mutex_unlock(&d->mu);

        ok = 1;
        for (i = 0; i < PS_DAY_WINDOWS; i++) {
            t[i] = ps_fleet_table_create();
            if (t[i] == NULL) {
                ok = 0;
            }
        }

        if (ok && days_read(d, t) != 0) {
            ok = 0;
        }

        pthread_mutex_lock(&d->mu);

        /* a read not taken yet is replaced by the newer one */
        for (i = 0; i < PS_DAY_WINDOWS; i++) {
            old[i] = ok ? d->ready[i] : t[i];
            if (ok) {
                d->ready[i] = t[i];
            }
        }
        if (ok) {
            d->fresh = 1;
        }

        pthread_mutex_unlock(&d->mu);

        for (i = 0; i < PS_DAY_WINDOWS; i++) {
            ps_fleet_table_destroy(old[i]);
        }

        pthread_mutex_lock(&d->mu);

        if (!d->stop) {
            /* the condition variable's clock is the wall clock */
            ps_clock_after(CLOCK_REALTIME, d->interval_ms * 1000, &ts);
            (void) pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        }
    }

    pthread_mutex_unlock(&d->mu);

    return NULL;
}


ps_day_windows_t *
ps_day_windows_start(const char *conninfo, const char *node_id,
    uint64_t interval_ms)
{
    ps_day_windows_t  *d;

    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        goto fail;
    }

    d->conninfo = strdup(conninfo);
    d->node_id = strdup(node_id ? node_id : "");
    d->interval_ms = interval_ms ? interval_ms : 120000;

    if (d->conninfo == NULL || d->node_id == NULL) {
        goto fail;
    }

    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);

    if (pthread_create(&d->thread, NULL, days_main, d) != 0) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        goto fail;
    }

    return d;

fail:

    if (d != NULL) {
        free(d->conninfo);
        free(d->node_id);
        free(d);
    }

    ps_log(PS_LOG_ERROR, "event=day_windows_start_failed");
    return NULL;
}


void
ps_day_windows_stop(ps_day_windows_t *d)
{
    int  i;

    if (d == NULL) {
        return;
    }

    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);

    pthread_join(d->thread, NULL);

    PQfinish(d->conn);

    for (i = 0; i < PS_DAY_WINDOWS; i++) {
        ps_fleet_table_destroy(d->ready[i]);
    }

    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d->conninfo);
    free(d->node_id);
    free(d);
}


int
ps_day_windows_take(ps_day_windows_t *d,
    ps_fleet_table_t *out[PS_DAY_WINDOWS])
{
    int  i, rc = 0;

    pthread_mutex_lock(&d->mu);

    if (d->fresh) {
        for (i = 0; i < PS_DAY_WINDOWS; i++) {
            out[i] = d->ready[i];
            d->ready[i] = NULL;
        }
        d->fresh = 0;
        rc = 1;
    }

    pthread_mutex_unlock(&d->mu);

    return rc;
}
