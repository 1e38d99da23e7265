/*
 * Trends from PostgreSQL: see trends.h.
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
#include "pathstats_snapshot.h"
#include "store/pg/pg_conn.h"
#include "store/pg/trend_paths.h"
#include "store/pg/trends.h"

#define HOURS          (PS_TRENDS_DAYS * 24)
#define HOUR_S         3600
#define DAY_S          86400
#define LONG_DAYS      PS_TRENDS_LONG_DAYS

/* the long ranges are read again this often (their days mostly come
 * from daily rollups: a day is final once rolled up), and the last days
 * every time, for late flushes folded into a rolled-up day */
#define LONG_INTERVAL_US  (300 * 1000000ull)
#define LONG_RECENT_DAYS  3

/* a long day's state: not loaded, loaded from daily rollups (final but
 * for the recent days), loaded from hourly rows (read again each time) */
#define DAY_UNLOADED   0
#define DAY_DAILY      1
#define DAY_HOURLY     2

/* paths new to the set wait this long after it changed (their latest
 * flush), and path loads are this far apart at least; the last two hours
 * of every path are read again this long after new paths were loaded:
 * the set is named from the live windows, a flush behind them (a first
 * snapshot at start, a slow PostgreSQL) would otherwise show in their
 * trends only at the next full refresh */
#define PATHS_SETTLE_US  2000000
#define PATHS_GAP_US     5000000
#define PATHS_RECHECK_US 5000000

_Static_assert(PS_TREND_RANGES == PS_SNAP_RANGES, "one JSON array a range");

static const int64_t  range_hours[PS_SNAP_RANGES] = { 24, 7 * 24, HOURS };
static const int64_t  range_step_s[PS_SNAP_RANGES] = {
    HOUR_S, 6 * HOUR_S, 24 * HOUR_S
};

static const int64_t  long_points[PS_SNAP_LONG_RANGES] = { 90, 53 };
static const int64_t  long_step_days[PS_SNAP_LONG_RANGES] = { 1, 7 };

/*
 * A day's counts: its daily rollup rows if it has any, else its hourly
 * rows; one statement, so a rollup committing meanwhile is seen by both
 * halves or by neither, and no day counts twice.  $1: the days' starts.
 */
static const char  long_sql[] =
    "SELECT d.s, 1, r.requests, r.errors, r.latency_hist"
    " FROM unnest($1::bigint[]) AS d(s)"
    " JOIN pathstats_daily r"
    " ON r.day = (to_timestamp(d.s) AT TIME ZONE 'UTC')::date"
    " UNION ALL"
    " SELECT d.s, 0, h.requests, h.errors, h.latency_hist"
    " FROM unnest($1::bigint[]) AS d(s)"
    " JOIN pathstats_hourly h ON h.hour >= to_timestamp(d.s)"
    " AND h.hour < to_timestamp(d.s + 86400)"
    " WHERE NOT EXISTS (SELECT 1 FROM pathstats_daily x"
    " WHERE x.day = (to_timestamp(d.s) AT TIME ZONE 'UTC')::date)";

static const char  trends_sql[] =
    "SELECT extract(epoch FROM hour)::bigint, requests, errors,"
    " latency_hist FROM pathstats_hourly WHERE hour >= to_timestamp($1)";

struct ps_trends_s {
    pthread_t         thread;
    pthread_mutex_t   mu;
    pthread_cond_t    cv;
    int               stop;         /* under mu */
    int               fresh;        /* under mu */
    ps_buf_t          json[PS_SNAP_RANGES];   /* under mu */
    int               paths_fresh;  /* under mu */
    ps_buf_t          paths_json;   /* under mu: packed */
    ps_buf_t          want;         /* under mu: packed keys */
    int               want_changed; /* under mu */
    uint64_t          want_changed_us;        /* under mu, monotonic */
    int               named;        /* under mu: a list was given */

    char             *conninfo;
    uint64_t          interval_ms;

    /* the thread's own */
    ps_trend_paths_t *paths;
    PGconn           *conn;
    int64_t           first_hour;   /* of hours[0]; 0 before the first */
    ps_trend_hour_t   hours[HOURS];
    uint8_t           loaded[HOURS];

    /* the long ranges: under mu, then the thread's own day cache */
    int               long_fresh;
    ps_buf_t          long_json[PS_SNAP_LONG_RANGES];
    int64_t           first_day;    /* of days[0]; 0 before the first */
    ps_trend_hour_t   days[LONG_DAYS];
    uint8_t           day_state[LONG_DAYS];
};


/* One point of a trend array, a comma before it unless first. */
static int
render_point(ps_buf_t *b, int first, int64_t at, uint64_t req, uint64_t err,
    const ps_hist_t *h)
{
    double  p95;
    char    iso[PS_ISO8601_MAX];

    p95 = ps_hist_percentile(h, 0.95) / 1000;

    if (ps_buf_printf(b, "%s{\"t\":\"%s\",\"requests\":%llu,"
                      "\"errors\":%llu,\"p95_ms\":", first ? "" : ",",
                      ps_format_iso8601(at * PS_US_PER_SEC, iso),
                      (unsigned long long) req,
                      (unsigned long long) err) != 0)
    {
        return -1;
    }

    return ps_hist_count(h) ? ps_buf_printf(b, "%.3f}", p95)
                            : ps_buf_puts(b, "null}");
}


int
ps_trends_render_days(const ps_trend_hour_t *days, size_t n,
    int64_t first_day, int range, ps_buf_t *b)
{
    ps_hist_t   h;
    int64_t     last, block, step, t, dn, k;
    uint64_t    req, err;
    size_t      i;
    int         rc = -1;

    if (n == 0 || range < 0 || range >= PS_SNAP_LONG_RANGES) {
        return ps_buf_puts(b, "[]");
    }

    ps_hist_init(&h);

    step = long_step_days[range] * DAY_S;
    last = first_day + (int64_t) (n - 1) * DAY_S;

    /* the last point's start: today, or the Monday of this week (the
     * epoch's day 0 was a Thursday, 3 days after a Monday) */
    block = last;
    if (long_step_days[range] == 7) {
        dn = last / DAY_S;
        block = last - ((dn + 3) % 7) * DAY_S;
    }
    block -= (long_points[range] - 1) * step;

    if (ps_buf_putc(b, '[') != 0) {
        goto done;
    }

    for (k = 0; k < long_points[range]; k++, block += step) {
        req = 0;
        err = 0;
        ps_hist_reset(&h);

        for (t = block; t < block + step && t <= last; t += DAY_S) {
            if (t < first_day) {
                continue;
            }
            i = (size_t) ((t - first_day) / DAY_S);
            req += days[i].requests;
            err += days[i].errors;
            if (ps_hist_merge(&h, &days[i].hist) != 0) {
                goto done;
            }
        }

        if (render_point(b, k == 0, block, req, err, &h) != 0) {
            goto done;
        }
    }

    rc = ps_buf_putc(b, ']');

done:

    ps_hist_free(&h);
    return rc;
}


int
ps_trends_render(const ps_trend_hour_t *hours, size_t n, int64_t first_hour,
    int range, ps_buf_t *b)
{
    ps_hist_t   h;
    int64_t     last, start, block, t, step;
    uint64_t    req, err;
    size_t      i;
    int         first = 1, rc = -1;

    ps_hist_init(&h);

    if (n == 0 || range < 0 || range >= PS_SNAP_RANGES) {
        return ps_buf_puts(b, "[]");
    }

    step = range_step_s[range];
    last = first_hour + (int64_t) (n - 1) * HOUR_S;
    start = last - (range_hours[range] - 1) * HOUR_S;
    if (start < first_hour) {
        start = first_hour;
    }

    if (ps_buf_putc(b, '[') != 0) {
        goto done;
    }

    for (block = start - (((start % step) + step) % step); block <= last;
         block += step)
    {
        req = 0;
        err = 0;
        ps_hist_reset(&h);

        for (t = block; t < block + step && t <= last; t += HOUR_S) {
            if (t < start) {
                continue;
            }
            i = (size_t) ((t - first_hour) / HOUR_S);
            req += hours[i].requests;
            err += hours[i].errors;
            if (ps_hist_merge(&h, &hours[i].hist) != 0) {
                goto done;
            }
        }

        if (render_point(b, first, block, req, err, &h) != 0) {
            goto done;
        }

        first = 0;
    }

    rc = ps_buf_putc(b, ']');

done:

    ps_hist_free(&h);
    return rc;
}


/* Moves a cache of n periods of step seconds, the first at *first, so
 * that its first period starts at want; what it no longer holds is
 * zeroed and marked not loaded. */
static void
shift_cache(ps_trend_hour_t *v, uint8_t *loaded, size_t n, int64_t *first,
    int64_t want, int64_t step)
{
    int64_t  d;
    size_t   i, k;

    if (*first == want) {
        return;
    }

    d = (want - *first) / step;

    if (*first == 0 || d <= 0 || d >= (int64_t) n) {
        for (i = 0; i < n; i++) {
            ps_hist_reset(&v[i].hist);
            v[i].requests = 0;
            v[i].errors = 0;
            loaded[i] = 0;
        }
        *first = want;
        return;
    }

    k = (size_t) d;

    for (i = 0; i < n; i++) {
        if (i + k < n) {
            ps_hist_t  tmp = v[i].hist;

            v[i] = v[i + k];
            v[i + k].hist = tmp;
            loaded[i] = loaded[i + k];
        } else {
            ps_hist_reset(&v[i].hist);
            v[i].requests = 0;
            v[i].errors = 0;
            loaded[i] = 0;
        }
    }

    *first = want;
}


/* Moves the cache so that its last hour is now_hour. */
static void
shift_to(ps_trends_t *t, int64_t now_hour)
{
    shift_cache(t->hours, t->loaded, HOURS, &t->first_hour,
                now_hour - (HOURS - 1) * HOUR_S, HOUR_S);
}


/* Connects when not connected; 0, or -1 (logged). */
static int
trends_connect(ps_trends_t *t)
{
    char  msg[256], err[300];

    if (ps_pg_reconnect(&t->conn, t->conninfo, msg, sizeof(msg)) != 0) {
        ps_log(PS_LOG_WARN, "event=trends_failed reason=connect "
               "error=%s", ps_log_quote(err, sizeof(err), msg));
        return -1;
    }

    return 0;
}


/*
 * The long ranges' days: those not yet final (not loaded, or loaded
 * from hourly rows) and the recent ones, from daily rollups or hourly
 * rows (long_sql); then both ranges rendered into out[].  0 or -1.
 */
static int
refresh_long(ps_trends_t *t, ps_buf_t *out)
{
    const char    *params[1];
    PGresult      *res;
    unsigned char *bytes;
    ps_buf_t       list = PS_BUF_INIT;
    size_t         i, blen;
    int64_t        today, day;
    uint8_t        daily[LONG_DAYS], want[LONG_DAYS];
    char           err[300];
    int            r, rc = 0, any = 0;

    today = ps_hour_of((int64_t) ps_now_us());
    today -= today % DAY_S;
    shift_cache(t->days, t->day_state, LONG_DAYS, &t->first_day,
                today - (LONG_DAYS - 1) * DAY_S, DAY_S);

    memset(daily, 0, sizeof(daily));

    if (ps_buf_putc(&list, '{') != 0) {
        goto fail;
    }

    for (i = 0; i < LONG_DAYS; i++) {
        want[i] = (t->day_state[i] != DAY_DAILY
                   || i >= LONG_DAYS - LONG_RECENT_DAYS);
        if (!want[i]) {
            continue;
        }
        if (ps_buf_printf(&list, "%s%lld", any ? "," : "",
                          (long long) (t->first_day + (int64_t) i * DAY_S))
            != 0)
        {
            goto fail;
        }
        any = 1;
    }

    if (ps_buf_putc(&list, '}') != 0 || ps_buf_putc(&list, '\0') != 0) {
        goto fail;
    }

    params[0] = list.data;

    if (!PQsendQueryParams(t->conn, long_sql, 1, NULL, params, NULL, NULL,
                           0)
        || !PQsetSingleRowMode(t->conn))
    {
        ps_log(PS_LOG_WARN, "event=trends_failed reason=query range=long "
               "error=%s",
               ps_log_quote(err, sizeof(err), PQerrorMessage(t->conn)));
        goto fail;
    }

    /* what is read again starts from zero */
    for (i = 0; i < LONG_DAYS; i++) {
        if (want[i]) {
            ps_hist_reset(&t->days[i].hist);
            t->days[i].requests = 0;
            t->days[i].errors = 0;
            t->day_state[i] = DAY_UNLOADED;
        }
    }

    while ((res = PQgetResult(t->conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
            day = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            if (day >= t->first_day
                && day < t->first_day + LONG_DAYS * DAY_S)
            {
                i = (size_t) ((day - t->first_day) / DAY_S);
                daily[i] |= (PQgetvalue(res, 0, 1)[0] == '1');
                t->days[i].requests += strtoull(PQgetvalue(res, 0, 2),
                                                NULL, 10);
                t->days[i].errors += strtoull(PQgetvalue(res, 0, 3), NULL,
                                              10);
                if (!PQgetisnull(res, 0, 4)) {
                    bytes = PQunescapeBytea((const unsigned char *)
                                            PQgetvalue(res, 0, 4), &blen);
                    if (bytes != NULL) {
                        (void) ps_hist_decode(&t->days[i].hist, bytes,
                                              blen);
                        PQfreemem(bytes);
                    }
                }
            }

        } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            ps_log(PS_LOG_WARN, "event=trends_failed reason=query "
                   "range=long error=%s",
                   ps_log_quote(err, sizeof(err),
                                PQresultErrorMessage(res)));
            rc = -1;
        }

        PQclear(res);
    }

    ps_buf_free(&list);

    if (rc != 0) {
        /* not loaded: read again next time */
        return -1;
    }

    for (i = 0; i < LONG_DAYS; i++) {
        if (want[i]) {
            t->day_state[i] = daily[i] ? DAY_DAILY : DAY_HOURLY;
        }
    }

    for (r = 0; r < PS_SNAP_LONG_RANGES; r++) {
        ps_buf_reset(&out[r]);
        if (ps_trends_render_days(t->days, LONG_DAYS, t->first_day, r,
                                  &out[r])
            != 0)
        {
            return -1;
        }
    }

    return 0;

fail:

    ps_buf_free(&list);
    return -1;
}


static int
refresh(ps_trends_t *t)
{
    const char    *params[1];
    PGresult      *res;
    unsigned char *bytes;
    size_t         from, i, blen;
    int64_t        now_hour, hour;
    char           since[32], err[300];
    int            rc = 0;

    if (trends_connect(t) != 0) {
        return -1;
    }

    now_hour = ps_hour_of((int64_t) ps_now_us());
    shift_to(t, now_hour);

    /* the last two hours always (late flushes), and anything not yet
     * loaded */
    from = HOURS - 2;
    for (i = 0; i < HOURS - 2; i++) {
        if (!t->loaded[i]) {
            from = i;
            break;
        }
    }

    for (i = from; i < HOURS; i++) {
        ps_hist_reset(&t->hours[i].hist);
        t->hours[i].requests = 0;
        t->hours[i].errors = 0;
    }

    snprintf(since, sizeof(since), "%lld",
             (long long) (t->first_hour + (int64_t) from * HOUR_S));
    params[0] = since;

    if (!PQsendQueryParams(t->conn, trends_sql, 1, NULL, params, NULL, NULL,
                           0)
        || !PQsetSingleRowMode(t->conn))
    {
        ps_log(PS_LOG_WARN, "event=trends_failed reason=query "
               "error=%s",
                   ps_log_quote(err, sizeof(err), PQerrorMessage(t->conn)));
        return -1;
    }

    while ((res = PQgetResult(t->conn)) != NULL) {
        if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
            hour = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            if (hour >= t->first_hour
                && hour < t->first_hour + HOURS * HOUR_S)
            {
                i = (size_t) ((hour - t->first_hour) / HOUR_S);
                t->hours[i].requests += strtoull(PQgetvalue(res, 0, 1),
                                                 NULL, 10);
                t->hours[i].errors += strtoull(PQgetvalue(res, 0, 2), NULL,
                                               10);
                if (!PQgetisnull(res, 0, 3)) {
                    bytes = PQunescapeBytea((const unsigned char *)
                                            PQgetvalue(res, 0, 3), &blen);
                    if (bytes != NULL) {
                        (void) ps_hist_decode(&t->hours[i].hist, bytes,
                                              blen);
                        PQfreemem(bytes);
                    }
                }
            }

        } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            ps_log(PS_LOG_WARN, "event=trends_failed reason=query "
                   "error=%s",
                   ps_log_quote(err, sizeof(err),
                                PQresultErrorMessage(res)));
            rc = -1;
        }

        PQclear(res);
    }

    if (rc == 0) {
        for (i = from; i < HOURS; i++) {
            t->loaded[i] = 1;
        }
    }

    return rc;
}


/* Waits on the condition variable (t->mu held) until deadline (monotonic)
 * at most; a signal, a timeout or a spurious wakeup returns. */
static void
trends_wait_until(ps_trends_t *t, uint64_t deadline)
{
    struct timespec   ts;
    uint64_t          now, wait_us;

    now = ps_mono_us();
    if (now >= deadline) {
        return;
    }

    /* the condition variable's clock is the wall clock */
    wait_us = deadline - now;
    ps_clock_after(CLOCK_REALTIME, wait_us, &ts);

    (void) pthread_cond_timedwait(&t->cv, &t->mu, &ts);
}


/* Waits until stop, the next full refresh, the paths' load or their
 * recheck (at recheck_at, 0 for none) is due. */
static void
trends_wait(ps_trends_t *t, uint64_t next_full, uint64_t last_paths,
    uint64_t recheck_at)
{
    uint64_t  deadline, at;

    for ( ;; ) {
        deadline = next_full;

        if (recheck_at != 0 && recheck_at < deadline) {
            deadline = recheck_at;
        }

        if (t->want_changed) {
            at = t->want_changed_us + PATHS_SETTLE_US;
            if (at < last_paths + PATHS_GAP_US) {
                at = last_paths + PATHS_GAP_US;
            }
            if (at < deadline) {
                deadline = at;
            }
        }

        if (t->stop || ps_mono_us() >= deadline) {
            return;
        }

        /* a signal, a timeout or a spurious wakeup: look again */
        trends_wait_until(t, deadline);
    }
}


static void *
trends_main(void *arg)
{
    ps_trends_t  *t = arg;
    ps_buf_t      out[PS_SNAP_RANGES], long_out[PS_SNAP_LONG_RANGES];
    ps_buf_t      want = PS_BUF_INIT, paths = PS_BUF_INIT;
    uint64_t      now, first_by, next_full = 0, last_paths = 0;
    uint64_t      recheck_at = 0, next_long = 0;
    int           r, ok, full, apply, recheck, paths_ok, long_ok;

    ps_thread_background("ps-trends");

    memset(out, 0, sizeof(out));
    memset(long_out, 0, sizeof(long_out));

    pthread_mutex_lock(&t->mu);

    /*
     * The first round waits for the first list of paths, which the first
     * snapshot names at once: a restarted aggregator's paths come from
     * its 24h window rebuilt from PostgreSQL, so their hours are there
     * and they load with the overall trend, not after the settle and the
     * gap that pace later changes of the list (its snapshots would answer
     * 404 for every path's trend meanwhile).
     */
    first_by = ps_mono_us() + PATHS_SETTLE_US;

    while (!t->stop && !t->named && ps_mono_us() < first_by) {
        trends_wait_until(t, first_by);
    }

    while (!t->stop) {
        now = ps_mono_us();
        full = (now >= next_full);
        apply = t->want_changed;
        recheck = (recheck_at != 0 && now >= recheck_at);
        if (recheck) {
            recheck_at = 0;
        }

        if (apply) {
            ps_buf_reset(&want);
            if (ps_buf_append(&want, t->want.data, t->want.len) != 0) {
                apply = 0;
            }
            t->want_changed = 0;
        }

        pthread_mutex_unlock(&t->mu);

        ok = 0;

        if (full) {
            ok = (refresh(t) == 0);

            for (r = 0; ok && r < PS_SNAP_RANGES; r++) {
                ps_buf_reset(&out[r]);
                if (ps_trends_render(t->hours, HOURS, t->first_hour, r,
                                     &out[r])
                    != 0)
                {
                    ok = 0;
                }
            }
        }

        /* the long ranges with a full refresh every few minutes */
        long_ok = 0;

        if (full && ok && now >= next_long) {
            long_ok = (refresh_long(t, long_out) == 0);
            if (long_ok) {
                next_long = now + LONG_INTERVAL_US;
            }
        }

        if (apply) {
            (void) ps_trend_paths_apply(t->paths, &want);
        }

        /* paths: the new ones whenever the set changed, the last two
         * hours of all at each full refresh and once more a moment after
         * new ones were loaded */
        paths_ok = 0;

        if ((full || apply || recheck) && t->conn != NULL
            && t->first_hour != 0)
        {
            (void) ps_trend_paths_refresh(t->paths, t->conn, t->first_hour,
                                          full || recheck
                                          ? t->first_hour
                                            + (HOURS - 2) * HOUR_S
                                          : 0);
            paths_ok = (ps_trend_paths_render(t->paths, t->first_hour,
                                              HOURS, &paths) == 0);
            last_paths = now;
            if (apply) {
                recheck_at = now + PATHS_RECHECK_US;
            }
        }

        pthread_mutex_lock(&t->mu);

        if (ok) {
            for (r = 0; r < PS_SNAP_RANGES; r++) {
                ps_buf_t  tmp = t->json[r];

                t->json[r] = out[r];
                out[r] = tmp;
            }
            t->fresh = 1;
        }

        if (long_ok) {
            for (r = 0; r < PS_SNAP_LONG_RANGES; r++) {
                ps_buf_t  tmp = t->long_json[r];

                t->long_json[r] = long_out[r];
                long_out[r] = tmp;
            }
            t->long_fresh = 1;
        }

        if (paths_ok) {
            ps_buf_t  tmp = t->paths_json;

            t->paths_json = paths;
            paths = tmp;
            t->paths_fresh = 1;
        }

        if (full) {
            next_full = now + t->interval_ms * 1000;
        }

        trends_wait(t, next_full, last_paths, recheck_at);
    }

    pthread_mutex_unlock(&t->mu);

    for (r = 0; r < PS_SNAP_RANGES; r++) {
        ps_buf_free(&out[r]);
    }

    for (r = 0; r < PS_SNAP_LONG_RANGES; r++) {
        ps_buf_free(&long_out[r]);
    }

    ps_buf_free(&want);
    ps_buf_free(&paths);

    return NULL;
}


ps_trends_t *
ps_trends_start(const char *conninfo, uint64_t interval_ms)
{
    ps_trends_t  *t;
    size_t        i;

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        goto fail;
    }

    t->conninfo = strdup(conninfo);
    if (t->conninfo == NULL) {
        free(t);
        goto fail;
    }

    t->interval_ms = interval_ms ? interval_ms : 60000;

    t->paths = ps_trend_paths_create();
    if (t->paths == NULL) {
        free(t->conninfo);
        free(t);
        goto fail;
    }

    for (i = 0; i < HOURS; i++) {
        ps_hist_init(&t->hours[i].hist);
    }

    for (i = 0; i < LONG_DAYS; i++) {
        ps_hist_init(&t->days[i].hist);
    }

    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);

    if (pthread_create(&t->thread, NULL, trends_main, t) != 0) {
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
        ps_trend_paths_destroy(t->paths);
        free(t->conninfo);
        free(t);
        goto fail;
    }

    return t;

fail:

    ps_log(PS_LOG_ERROR, "event=trends_start_failed");
    return NULL;
}


void
ps_trends_stop(ps_trends_t *t)
{
    size_t  i;

    if (t == NULL) {
        return;
    }

    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);

    pthread_join(t->thread, NULL);

    PQfinish(t->conn);

    for (i = 0; i < HOURS; i++) {
        ps_hist_free(&t->hours[i].hist);
    }

    for (i = 0; i < LONG_DAYS; i++) {
        ps_hist_free(&t->days[i].hist);
    }

    for (i = 0; i < PS_SNAP_RANGES; i++) {
        ps_buf_free(&t->json[i]);
    }

    for (i = 0; i < PS_SNAP_LONG_RANGES; i++) {
        ps_buf_free(&t->long_json[i]);
    }

    ps_trend_paths_destroy(t->paths);
    ps_buf_free(&t->paths_json);
    ps_buf_free(&t->want);

    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t->conninfo);
    free(t);
}


int
ps_trends_take(ps_trends_t *t, ps_buf_t *out, size_t nranges,
    ps_buf_t *paths)
{
    size_t  r;
    int     rc = 0;

    pthread_mutex_lock(&t->mu);

    if (t->fresh) {
        rc = 1;
        for (r = 0; r < nranges && r < PS_SNAP_RANGES; r++) {
            ps_buf_reset(&out[r]);
            if (ps_buf_append(&out[r], t->json[r].data, t->json[r].len)
                != 0)
            {
                rc = -1;
            }
        }
        t->fresh = 0;
    }

    if (t->paths_fresh && paths != NULL) {
        if (rc == 0) {
            rc = 1;
        }
        ps_buf_reset(paths);
        if (ps_buf_append(paths, t->paths_json.data, t->paths_json.len)
            != 0)
        {
            rc = -1;
        }
        t->paths_fresh = 0;
    }

    pthread_mutex_unlock(&t->mu);

    return rc;
}


int
ps_trends_take_long(ps_trends_t *t, ps_buf_t *out)
{
    size_t  r;
    int     rc = 0;

    pthread_mutex_lock(&t->mu);

    if (t->long_fresh) {
        rc = 1;
        for (r = 0; r < PS_SNAP_LONG_RANGES; r++) {
            ps_buf_reset(&out[r]);
            if (ps_buf_append(&out[r], t->long_json[r].data,
                              t->long_json[r].len)
                != 0)
            {
                rc = -1;
            }
        }
        t->long_fresh = 0;
    }

    pthread_mutex_unlock(&t->mu);

    return rc;
}


int
ps_trends_set_paths(ps_trends_t *t, const ps_buf_t *keys)
{
    int  rc = 0;

    pthread_mutex_lock(&t->mu);

    if (!t->named) {
        t->named = 1;
        pthread_cond_signal(&t->cv);
    }

    if (keys->len != t->want.len
        || (keys->len && memcmp(keys->data, t->want.data, keys->len) != 0))
    {
        ps_buf_reset(&t->want);

        if (ps_buf_append(&t->want, keys->data, keys->len) != 0) {
            rc = -1;

        } else {
            if (!t->want_changed) {
                t->want_changed = 1;
                t->want_changed_us = ps_mono_us();
            }
            pthread_cond_signal(&t->cv);
        }
    }

    pthread_mutex_unlock(&t->mu);

    return rc;
}

