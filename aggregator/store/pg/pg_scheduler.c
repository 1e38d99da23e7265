/*
 * The daemon's lifecycle scheduler: see pg_scheduler.h.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/thread.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_lifecycle.h"
#include "store/pg/pg_scheduler.h"

#define CHECK_EVERY_MS    30000     /* is a run due? sizes, verify */
#define RETRY_AFTER_MS    600000    /* after a failed or locked-out run */

struct ps_scheduler_s {
    const ps_config_t      *cfg;
    pthread_t               thread;
    pthread_mutex_t         lock;
    volatile int            stop;
    ps_lifecycle_status_t   st;
};


static int64_t
int_value(PGresult *res, int col)
{
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, col)) {
        return -1;
    }

    return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}


/* Refreshes what the status reads from the database and archive_dir. */
static void
refresh(ps_scheduler_t *s, PGconn *conn)
{
    PGresult         *res;
    struct statvfs    v;
    int64_t           free_bytes;
    ps_lifecycle_status_t  n;

    res = PQexec(conn,
        "SELECT (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)"
        "          FROM pg_partition_tree('pathstats_hourly')),"
        " pg_total_relation_size('pathstats_daily'),"
        " (SELECT coalesce(sum(bytes), 0) FROM pathstats_archives),"
        " (SELECT (extract(epoch FROM max(finished_at)) * 1e6)::bigint"
        "    FROM pathstats_lifecycle_runs WHERE kind = 'lifecycle' AND ok),"
        " v.at, v.checked, v.mismatches"
        " FROM (SELECT NULL) x LEFT JOIN LATERAL"
        " (SELECT (extract(epoch FROM finished_at) * 1e6)::bigint AS at,"
        "   checked, mismatches FROM pathstats_lifecycle_runs"
        "   WHERE kind = 'verify' ORDER BY id DESC LIMIT 1) v ON true");

    free_bytes = -1;
    if (s->cfg->archive_dir != NULL && statvfs(s->cfg->archive_dir, &v) == 0)
    {
        free_bytes = (int64_t) v.f_bavail * (int64_t) v.f_frsize;
    }

    pthread_mutex_lock(&s->lock);
    n = s->st;
    n.archive_free_bytes = free_bytes;

    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        n.hourly_bytes = int_value(res, 0);
        n.daily_bytes = int_value(res, 1);
        n.archive_bytes = int_value(res, 2);
        if (int_value(res, 3) > 0) {
            n.last_success_us = (uint64_t) int_value(res, 3);
        }
        if (int_value(res, 4) > 0) {
            n.verify_at_us = (uint64_t) int_value(res, 4);
            n.verify_checked = int_value(res, 5);
            n.verify_mismatches = int_value(res, 6);
        }
    }

    s->st = n;
    pthread_mutex_unlock(&s->lock);

    PQclear(res);
}


/* 1 when a run is due: past today's lifecycle_at, with no successful
 * run (of any node) since. */
static int
due(ps_scheduler_t *s, uint64_t now_us)
{
    uint64_t  at, last;

    at = (uint64_t) ps_day_of((int64_t) now_us) * (uint64_t) PS_US_PER_DAY
         + s->cfg->lifecycle_at_ms * 1000;

    pthread_mutex_lock(&s->lock);
    last = s->st.last_success_us;
    pthread_mutex_unlock(&s->lock);

    return now_us >= at && last < at;
}


static void
run_once(ps_scheduler_t *s, PGconn *conn)
{
    ps_lifecycle_opts_t    o;
    ps_lifecycle_result_t  r;

    memset(&o, 0, sizeof(o));
    o.now_us = (int64_t) ps_now_us();
    o.stop = &s->stop;

    (void) ps_pg_lifecycle_run(conn, s->cfg, &o, &r);

    pthread_mutex_lock(&s->lock);
    if (r.locked) {
        s->st.runs++;
        s->st.last_run_us = ps_now_us();
        s->st.last_duration_us = (uint64_t) r.duration_us;
        s->st.rows_rolled = r.rows_rolled;
        s->st.rows_archived = r.rows_archived;
        s->st.rows_dropped = r.rows_dropped;
    }
    s->st.failures += (uint64_t) r.failures;
    pthread_mutex_unlock(&s->lock);
}


static void *
scheduler_main(void *arg)
{
    char             err[1024], q[1100];
    PGconn          *conn;
    uint64_t         next_check, retry_at, now;
    ps_scheduler_t  *s = arg;

    ps_thread_background("ps-lifecycle");

    conn = NULL;
    next_check = 0;
    retry_at = 0;

    while (!s->stop) {
        now = ps_mono_us();

        if (now < next_check) {
            ps_sleep_ms(200);
            continue;
        }

        next_check = now + CHECK_EVERY_MS * 1000ULL;

        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            if (conn != NULL) {
                PQfinish(conn);
            }
            conn = ps_pg_connect(s->cfg->postgres, err, sizeof(err));
            if (conn == NULL) {
                ps_log(PS_LOG_WARN, "event=lifecycle_unavailable error=%s",
                       ps_log_quote(q, sizeof(q), err));
                continue;
            }
            (void) ps_pg_exec(conn, "SET statement_timeout = 0",
                              PGRES_COMMAND_OK, "lifecycle_timeout");
        }

        refresh(s, conn);

        if (s->cfg->lifecycle && now >= retry_at && due(s, ps_now_us())) {
            run_once(s, conn);
            refresh(s, conn);
            if (due(s, ps_now_us())) {
                /* failed, or another node holds the lock: later */
                retry_at = ps_mono_us() + RETRY_AFTER_MS * 1000ULL;
            }
        }
    }

    if (conn != NULL) {
        PQfinish(conn);
    }

    return NULL;
}


ps_scheduler_t *
ps_scheduler_start(const ps_config_t *cfg)
{
    ps_scheduler_t  *s;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }

    s->cfg = cfg;
    s->st.enabled = cfg->lifecycle;
    s->st.hourly_bytes = s->st.daily_bytes = s->st.archive_bytes = -1;
    s->st.archive_free_bytes = -1;
    s->st.stale_after_us = cfg->lifecycle_stale_ms * 1000;
    s->st.min_free_bytes = cfg->archive_min_free_bytes;
    pthread_mutex_init(&s->lock, NULL);

    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
        ps_log(PS_LOG_ERROR, "event=lifecycle_unavailable error=\"cannot "
               "start the scheduler thread\"");
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }

    return s;
}


void
ps_scheduler_stop(ps_scheduler_t *s)
{
    if (s == NULL) {
        return;
    }

    s->stop = 1;
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    free(s);
}


void
ps_scheduler_status(ps_scheduler_t *s, ps_lifecycle_status_t *st)
{
    if (s == NULL) {
        memset(st, 0, sizeof(*st));
        return;
    }

    pthread_mutex_lock(&s->lock);
    *st = s->st;
    pthread_mutex_unlock(&s->lock);
}
