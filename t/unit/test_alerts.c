/*
 * Unit tests for aggregator/agg/alerts.c: the alert state machine with a
 * fake clock (fire, no duplicate, hold above 90 %, resolve, cooldown per
 * level, per-path minimum, fire counters, the walk over active alerts,
 * notices, JSON).
 */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agg/alerts.h"
#include "lib/hour.h"
#include "tap.h"

#define SEC  1000000ULL
#define T0   (1795000000ULL * SEC)

static ps_alerts_t  *a;


/* one round: overall values, and one path "/p" */
static void
round_(uint64_t now, uint64_t req, uint64_t err, double p95,
    uint64_t preq, uint64_t perr, double pp95)
{
    ps_alerts_begin(a);
    ps_alerts_check(a, NULL, 0, NULL, 0, NULL, 0, req, err, p95, now);
    if (preq > 0) {
        ps_alerts_check(a, "h", 1, "GET", 3, "/p\"\n", 4, preq, perr, pp95,
                        now);
    }
    ps_alerts_end(a, now);
}


static ps_alert_info_t  got[4];
static size_t           n_got;


static int
collect(void *ctx, const ps_alert_info_t *al)
{
    if (n_got < 4) {
        got[n_got++] = *al;
    }
    return 0;
}


static json_t *
alerts_json(void)
{
    ps_buf_t      b = PS_BUF_INIT;
    json_t       *j;
    json_error_t  e;

    if (ps_alerts_json(a, &b) != 0) {
        bail_out("ps_alerts_json failed");
    }
    j = json_loadb(b.data, b.len, 0, &e);
    if (j == NULL) {
        diag("bad json: %s: %s", e.text, b.data);
    }
    ps_buf_free(&b);

    return j;
}


int
main(void)
{
    ps_alert_limits_t  lim;
    json_t            *j, *x;
    char               iso[PS_ISO8601_MAX];
    uint64_t           t = T0;

    lim.error_rate[0] = 0.005;
    lim.error_rate[1] = 0.01;
    lim.p95_ms[0] = 100;
    lim.p95_ms[1] = 200;
    lim.min_requests = 20;
    lim.cooldown_us[0] = 300 * SEC;
    lim.cooldown_us[1] = 300 * SEC;

    a = ps_alerts_create(&lim);
    ok(a != NULL, "create");

    round_(t, 1000, 0, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 0, "quiet: nothing fires");

    t += SEC;
    round_(t, 1000, 6, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 1, "0.6 %% errors: warning fires");

    j = alerts_json();
    ok(j != NULL && json_array_size(j) == 1, "json: one alert");
    x = json_array_get(j, 0);
    is_str(json_string_value(json_object_get(x, "scope")), "overall",
           "scope overall");
    is_str(json_string_value(json_object_get(x, "metric")), "error_rate",
           "metric error_rate");
    is_str(json_string_value(json_object_get(x, "level")), "warning",
           "level warning");
    ok(json_is_null(json_object_get(x, "path")), "overall has path null");
    ok(json_real_value(json_object_get(x, "threshold")) == 0.005,
       "threshold 0.005");
    is_str(json_string_value(json_object_get(x, "since")),
           ps_format_iso8601((int64_t) t, iso), "since is the fire time");
    json_decref(j);

    t += SEC;
    round_(t, 1000, 7, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 1, "still high: no duplicate");

    t += SEC;
    round_(t, 1000, 12, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 2, "1.2 %%: critical fires too");

    t += SEC;
    round_(t, 1000, 5, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 1,
           "0.5 %%: critical resolved (< 0.9 %%), warning held");

    t += SEC;
    round_(t, 1000, 4, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 0, "0.4 %% (< 0.45 %%): warning resolved");

    t += SEC;
    round_(t, 1000, 6, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 0, "high again within cooldown: no fire");

    t += 298 * SEC;
    round_(t, 1000, 6, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 0, "still within the cooldown");

    t += 2 * SEC;
    round_(t, 1000, 6, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 1, "after the cooldown: fires again");

    t += SEC;
    round_(t, 0, 0, 0, 0, 0, 0);
    is_u64(ps_alerts_active(a), 0, "no traffic: resolved");

    /* per path: p95 and the minimum request count */
    t += 1000 * SEC;
    round_(t, 1000, 0, 10, 19, 0, 500);
    is_u64(ps_alerts_active(a), 0, "path below min_requests: no alert");

    t += SEC;
    round_(t, 1000, 0, 10, 20, 0, 250);
    is_u64(ps_alerts_active(a), 2, "path p95 250 ms: warning + critical");

    j = alerts_json();
    ok(j != NULL && json_array_size(j) == 2, "json: two alerts");
    x = json_array_get(j, 0);
    is_str(json_string_value(json_object_get(x, "path")), "/p\"\n",
           "hostile path survives the JSON");
    is_str(json_string_value(json_object_get(x, "metric")), "p95_ms",
           "metric p95_ms");
    json_decref(j);

    t += SEC;
    round_(t, 1000, 0, 10, 20, 0, 185);
    is_u64(ps_alerts_active(a), 2, "185 ms (>= 90 %% of 200): both held");

    t += SEC;
    round_(t, 1000, 0, 10, 20, 0, 150);
    is_u64(ps_alerts_active(a), 1, "150 ms: critical resolved, warning held");

    t += SEC;
    round_(t, 1000, 0, 10, 5, 0, 150);
    is_u64(ps_alerts_active(a), 0, "path below min_requests: resolved");

    is_u64(ps_alerts_fired(a, 1, PS_ALERT_ERROR_RATE, PS_ALERT_WARNING), 2,
           "fired: overall error-rate warning twice");
    is_u64(ps_alerts_fired(a, 1, PS_ALERT_ERROR_RATE, PS_ALERT_CRITICAL), 1,
           "fired: overall error-rate critical once");
    is_u64(ps_alerts_fired(a, 0, PS_ALERT_P95, PS_ALERT_CRITICAL), 1,
           "fired: path p95 critical once");
    is_u64(ps_alerts_fired(a, 0, PS_ALERT_ERROR_RATE, PS_ALERT_CRITICAL), 0,
           "fired: path error-rate critical never");

    ps_alerts_destroy(a);

    /* per-level cooldowns: warning 10 s, critical 100 s */
    lim.cooldown_us[0] = 10 * SEC;
    lim.cooldown_us[1] = 100 * SEC;
    a = ps_alerts_create(&lim);

    round_(t, 1000, 20, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 2, "2 %%: warning and critical");
    t += SEC;
    round_(t, 1000, 0, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 0, "0 %%: both resolved");
    t += 11 * SEC;
    round_(t, 1000, 20, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 1,
           "after 11 s only the warning (cooldown 10 s) fires again");

    {
        n_got = 0;
        (void) ps_alerts_foreach(a, collect, NULL);
        ok(n_got == 1 && got[0].level == PS_ALERT_WARNING && got[0].overall
           && got[0].metric == PS_ALERT_ERROR_RATE && got[0].value == 0.02,
           "foreach: the one active alert, warning, overall, 0.02");

        ps_alerts_set_notice(a, got[0].index, "silenced");
        j = alerts_json();
        x = json_array_get(j, 0);
        is_str(json_string_value(json_object_get(x, "notification")),
               "silenced", "json: the notice");
        json_decref(j);

        ps_alerts_begin(a);
        ps_alerts_check(a, NULL, 0, NULL, 0, NULL, 0, 1000, 20, 10, t);
        ps_alerts_end(a, t);
        j = alerts_json();
        ok(json_is_null(json_object_get(json_array_get(j, 0),
                                        "notification")),
           "json: a new round clears the notice");
        json_decref(j);
    }

    t += 90 * SEC;
    round_(t, 1000, 20, 10, 0, 0, 0);
    is_u64(ps_alerts_active(a), 2, "after 101 s the critical fires too");

    ps_alerts_destroy(a);

    return done_testing();
}
