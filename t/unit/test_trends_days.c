/*
 * Unit tests for ps_trends_render_days() (aggregator/store/pg/trends.c):
 * the long trends ranges from per-day values.  90d is 90 daily points,
 * the last today; 1y is 53 weekly points, each starting on a Monday
 * 00:00 UTC, the last the current week up to today; every point sums
 * exactly the days of its period, days before the cache count as zero,
 * and this holds whatever weekday today is.  The expected periods are
 * found with gmtime(), not with the arithmetic under test.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pathstats_snapshot.h"
#include "store/pg/trends.h"
#include "tap.h"

#define DAY_S  86400

/* Saturday 2026-12-05 00:00:00 UTC */
#define SATURDAY  1796428800

static ps_trend_hour_t  days[PS_TRENDS_LONG_DAYS];


static double
num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}


static void
iso(int64_t t, char *out, size_t len)
{
    time_t     tt = (time_t) t;
    struct tm  tm;

    gmtime_r(&tt, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


/* The Monday 00:00 UTC starting the week of day t. */
static int64_t
monday_of(int64_t t)
{
    time_t     tt = (time_t) t;
    struct tm  tm;

    gmtime_r(&tt, &tm);

    return t - (int64_t) ((tm.tm_wday + 6) % 7) * DAY_S;
}


/* The expected sums of the days in [from, to] that the cache holds
 * (days[i] is first + i days, n of them). */
static void
sums(int64_t first, size_t n, int64_t from, int64_t to, uint64_t *req,
    uint64_t *err, int *any_hist)
{
    size_t  i;
    int64_t t;

    *req = 0;
    *err = 0;
    *any_hist = 0;

    for (i = 0; i < n; i++) {
        t = first + (int64_t) i * DAY_S;
        if (t >= from && t <= to) {
            *req += days[i].requests;
            *err += days[i].errors;
            *any_hist |= (ps_hist_count(&days[i].hist) != 0);
        }
    }
}


/* Checks one rendering against the expected periods; returns the number
 * of points that differ (0 when all match). */
static int
check(int range, size_t n, int64_t today)
{
    ps_buf_t   b = PS_BUF_INIT;
    json_t    *j, *x, *p95;
    int64_t    first = today - (int64_t) (n - 1) * DAY_S, start, end;
    uint64_t   req, err;
    size_t     k, points;
    int        bad = 0, any;
    char       want_t[32];

    if (ps_trends_render_days(days, n, first, range, &b) != 0) {
        ps_buf_free(&b);
        return -1;
    }

    j = json_loadb(b.data, b.len, 0, NULL);
    ps_buf_free(&b);
    if (j == NULL) {
        return -1;
    }

    points = (range == PS_SNAP_LONG_90D) ? 90 : 53;

    if (json_array_size(j) != points) {
        diag("range %d: %zu points", range, json_array_size(j));
        json_decref(j);
        return -1;
    }

    for (k = 0; k < points; k++) {
        if (range == PS_SNAP_LONG_90D) {
            start = today - (int64_t) (points - 1 - k) * DAY_S;
            end = start;
        } else {
            start = monday_of(today) - (int64_t) (points - 1 - k) * 7 * DAY_S;
            end = start + 6 * DAY_S;
        }
        if (end > today) {
            end = today;
        }

        sums(first, n, start, end, &req, &err, &any);
        iso(start, want_t, sizeof(want_t));

        x = json_array_get(j, k);
        p95 = json_object_get(x, "p95_ms");

        if (strcmp(json_string_value(json_object_get(x, "t")), want_t) != 0
            || (uint64_t) num(x, "requests") != req
            || (uint64_t) num(x, "errors") != err
            || (any ? !json_is_number(p95) : !json_is_null(p95))
            || json_object_size(x) != 4)
        {
            diag("range %d point %zu: t %s (want %s) requests %.0f "
                 "(want %llu) errors %.0f (want %llu)", range, k,
                 json_string_value(json_object_get(x, "t")), want_t,
                 num(x, "requests"), (unsigned long long) req,
                 num(x, "errors"), (unsigned long long) err);
            bad++;
        }
    }

    json_decref(j);

    return bad;
}


int
main(void)
{
    ps_buf_t   b = PS_BUF_INIT;
    json_t    *j;
    size_t     i;
    int        d, bad;
    char       t[32];

    plan(14);

    /* day i: i + 1 requests, an error every third day, latencies on the
     * even days only */
    for (i = 0; i < PS_TRENDS_LONG_DAYS; i++) {
        days[i].requests = i + 1;
        days[i].errors = (i % 3 == 0);
        ps_hist_init(&days[i].hist);
        if (i % 2 == 0) {
            ps_hist_add_bucket(&days[i].hist, 40, i + 1);
        }
    }

    is_int(check(PS_SNAP_LONG_90D, PS_TRENDS_LONG_DAYS, SATURDAY), 0,
           "90d: 90 daily points, the last today, each its day's sums");
    is_int(check(PS_SNAP_LONG_1Y, PS_TRENDS_LONG_DAYS, SATURDAY), 0,
           "1y: 53 weekly points from Mondays, each its week's sums");

    /* the exact edges for a Saturday: the last week is Monday to today
     * (6 days), the first starts 52 weeks before that Monday */
    ps_trends_render_days(days, PS_TRENDS_LONG_DAYS,
                          SATURDAY - (PS_TRENDS_LONG_DAYS - 1) * DAY_S,
                          PS_SNAP_LONG_1Y, &b);
    j = json_loadb(b.data, b.len, 0, NULL);
    is_str(json_string_value(json_object_get(json_array_get(j, 52), "t")),
           "2026-11-30T00:00:00Z", "the current week starts Monday 30 Nov");
    is_u64((uint64_t) num(json_array_get(j, 52), "requests"),
           366 + 367 + 368 + 369 + 370 + 371,
           "the current week sums Monday to today");
    is_str(json_string_value(json_object_get(json_array_get(j, 0), "t")),
           "2025-12-01T00:00:00Z", "the first week starts Monday 1 Dec 2025");
    is_u64((uint64_t) num(json_array_get(j, 0), "requests"),
           2 + 3 + 4 + 5 + 6 + 7 + 8,
           "the first week: its 7 days, not the Sunday before");
    json_decref(j);

    ps_buf_reset(&b);
    ps_trends_render_days(days, PS_TRENDS_LONG_DAYS,
                          SATURDAY - (PS_TRENDS_LONG_DAYS - 1) * DAY_S,
                          PS_SNAP_LONG_90D, &b);
    j = json_loadb(b.data, b.len, 0, NULL);
    iso(SATURDAY - 89 * DAY_S, t, sizeof(t));
    is_str(json_string_value(json_object_get(json_array_get(j, 0), "t")), t,
           "90d starts 89 days before today");
    is_u64((uint64_t) num(json_array_get(j, 89), "requests"), 371,
           "90d's last point is today");
    json_decref(j);

    /* every weekday as today: weeks still from Mondays */
    bad = 0;
    for (d = 0; d < 7; d++) {
        bad += check(PS_SNAP_LONG_1Y, PS_TRENDS_LONG_DAYS,
                     SATURDAY + (int64_t) d * DAY_S) != 0;
        bad += check(PS_SNAP_LONG_90D, PS_TRENDS_LONG_DAYS,
                     SATURDAY + (int64_t) d * DAY_S) != 0;
    }
    is_int(bad, 0, "any weekday as today: the same rules");

    /* fewer days than the range: zeros before them, still every point */
    is_int(check(PS_SNAP_LONG_90D, 10, SATURDAY), 0,
           "90d from 10 days: 90 points, zeros before them");
    is_int(check(PS_SNAP_LONG_1Y, 10, SATURDAY), 0,
           "1y from 10 days: 53 points, zeros before them");

    ps_buf_reset(&b);
    ok(ps_trends_render_days(days, 0, SATURDAY, PS_SNAP_LONG_1Y, &b) == 0
       && b.len == 2 && memcmp(b.data, "[]", 2) == 0,
       "no days: an empty array");

    ps_buf_reset(&b);
    ok(ps_trends_render_days(days, 5, SATURDAY, PS_SNAP_LONG_RANGES, &b) == 0
       && b.len == 2 && memcmp(b.data, "[]", 2) == 0,
       "an unknown range: an empty array");

    /* a day without latencies: p95_ms null, as in the other ranges */
    ps_buf_reset(&b);
    ps_trends_render_days(days, 2, SATURDAY - DAY_S, PS_SNAP_LONG_90D, &b);
    j = json_loadb(b.data, b.len, 0, NULL);
    ok(json_is_null(json_object_get(json_array_get(j, 89), "p95_ms"))
       && json_is_number(json_object_get(json_array_get(j, 88), "p95_ms")),
       "p95_ms null for a day without latencies, a number otherwise");
    json_decref(j);

    ps_buf_free(&b);
    for (i = 0; i < PS_TRENDS_LONG_DAYS; i++) {
        ps_hist_free(&days[i].hist);
    }

    return done_testing();
}
