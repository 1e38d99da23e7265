/*
 * Unit tests for aggregator/snapshot/metrics.c and metrics_alerts.c: the
 * Prometheus text of the counters (per path, {other}, the unlabelled
 * total of the histogram), the 24h window gauges, the alert, silence and
 * webhook families, hostile label values escaped, every series once, and
 * promtool check metrics without a remark.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/metrics.h"
#include "tap.h"


static int
has(const ps_buf_t *b, const char *line)
{
    char  want[1024];

    snprintf(want, sizeof(want), "\n%s\n", line);

    if (memmem(b->data, b->len, want, strlen(want)) == NULL) {
        diag("missing: %s", line);
        return 0;
    }

    return 1;
}


static int
lacks(const ps_buf_t *b, const char *text)
{
    return memmem(b->data, b->len, text, strlen(text)) == NULL;
}


/* every sample line once */
static int
no_duplicate(const ps_buf_t *b)
{
    char   *copy, *p, *nl, **lines;
    size_t  n = 0, i, j, cap = 4096, len;
    int     ok_ = 1;

    copy = strndup(b->data, b->len);
    lines = calloc(cap, sizeof(char *));

    for (p = copy; p && *p && n < cap; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (*p != '#') {
            lines[n++] = p;
        }
    }

    for (i = 0; i < n; i++) {
        len = strcspn(lines[i], " ");
        for (j = i + 1; j < n; j++) {
            if (strncmp(lines[i], lines[j], len + 1) == 0) {
                diag("twice: %.*s", (int) len, lines[i]);
                ok_ = 0;
            }
        }
    }

    free(lines);
    free(copy);
    return ok_;
}


int
main(void)
{
    ps_metrics_input_t    in;
    ps_lifetime_series_t  s[2], other, total;
    ps_metrics_path_t     top[1];
    ps_webhook_stats_t    hook;
    ps_ring_stats_t       rings;
    ps_sink_status_t      sink;
    ps_alert_limits_t     lim;
    ps_alerts_t          *a;
    ps_buf_t              b = PS_BUF_INIT;
    FILE                 *f;
    char                  out[4096];
    size_t                n;
    int                   i;

    memset(&in, 0, sizeof(in));
    memset(s, 0, sizeof(s));
    memset(&other, 0, sizeof(other));
    memset(&total, 0, sizeof(total));

    s[0].host = "h";
    s[0].hlen = 1;
    s[0].method = "GET";
    s[0].mlen = 3;
    s[0].path = "/a\"b\\c\n\xff";
    s[0].plen = strlen(s[0].path);
    s[0].requests = 7;
    s[0].status[1] = 5;
    s[0].status[4] = 2;
    s[0].bytes_out = 700;
    s[0].latency_sum_us = 1500000;
    for (i = 0; i < PS_HIST_PROM_NLE; i++) {
        s[0].le[i] = i < 3 ? 4 : 7;
    }

    s[1] = s[0];
    s[1].path = "/b";
    s[1].plen = 2;
    s[1].status[5] = 1;        /* a request without a status class */

    other.host = "*";
    other.hlen = 1;
    other.method = "*";
    other.mlen = 1;
    other.path = "{other}";
    other.plen = 7;
    other.requests = 3;
    other.status[1] = 3;

    total.requests = 17;
    total.latency_sum_us = 3000000;
    for (i = 0; i < PS_HIST_PROM_NLE; i++) {
        total.le[i] = 17;
    }

    in.series = s;
    in.nseries = 2;
    in.series_other = &other;
    in.series_total = &total;

    memset(top, 0, sizeof(top));
    top[0].host = "h";
    top[0].hlen = 1;
    top[0].method = "GET";
    top[0].mlen = 3;
    top[0].path = "/a";
    top[0].plen = 2;
    top[0].counts.requests = 9;
    top[0].counts.status[1] = 9;
    top[0].unique = 4;
    in.paths = top;
    in.npaths = 1;
    in.unique_24h = 11;

    /* an alert on a hostile path */
    memset(&lim, 0, sizeof(lim));
    lim.error_rate[0] = 0.1;
    lim.error_rate[1] = 0.5;
    lim.p95_ms[0] = 1000;
    lim.p95_ms[1] = 2000;
    lim.min_requests = 1;
    a = ps_alerts_create(&lim);
    ps_alerts_begin(a);
    ps_alerts_check(a, "h", 1, "GET", 3, "/x\"y", 4, 10, 2, 1, 1000000);
    ps_alerts_end(a, 1000000);
    in.alerts = a;
    in.incidents.fired = 3;
    in.incidents.resolved = 1;
    in.incidents.silenced = 2;
    in.incidents.grouped = 4;
    in.silences = 1;

    memset(&hook, 0, sizeof(hook));
    hook.number = 1;
    strcpy(hook.host, "hooks.example.com");
    hook.sent = 5;
    hook.failed = 1;
    hook.retries = 3;
    hook.queued = 2;
    in.webhooks = &hook;
    in.nwebhooks = 1;

    memset(&rings, 0, sizeof(rings));
    rings.seen = 20;
    memset(&sink, 0, sizeof(sink));
    sink.name = "postgres";
    sink.up = 1;
    in.rings = &rings;
    in.sinks = &sink;
    in.nsinks = 1;

    ok(ps_buf_putc(&b, '\n') == 0 && ps_metrics_render(&b, &in) == 0,
       "render");

    ok(has(&b, "pathstats_requests_total{host=\"h\",method=\"GET\","
               "path=\"/a\\\"b\\\\c\\n\\\\xFF\",status=\"2xx\"} 5"),
       "a counter with a hostile path, escaped");
    ok(has(&b, "pathstats_requests_total{host=\"h\",method=\"GET\","
               "path=\"/b\",status=\"1xx\"} 0"),
       "every class of an exported path, 0 too");
    ok(has(&b, "pathstats_requests_total{host=\"h\",method=\"GET\","
               "path=\"/b\",status=\"none\"} 1"),
       "requests without a class once there are some");
    ok(lacks(&b, "path=\"/a\\\"b\\\\c\\n\\\\xFF\",status=\"none\""),
       "  and not before");
    ok(has(&b, "pathstats_requests_total{host=\"*\",method=\"*\","
               "path=\"{other}\",status=\"2xx\"} 3"), "{other}");
    ok(has(&b, "pathstats_response_bytes_total{host=\"h\",method=\"GET\","
               "path=\"/b\"} 700"), "response bytes");
    ok(has(&b, "pathstats_request_duration_seconds_bucket{le=\"0.005\"} 17")
       && has(&b, "pathstats_request_duration_seconds_sum 3.000000")
       && has(&b, "pathstats_request_duration_seconds_count 17"),
       "the histogram of all requests, without labels");
    ok(has(&b, "pathstats_request_duration_seconds_bucket{host=\"h\","
               "method=\"GET\",path=\"/b\",le=\"0.025\"} 4")
       && has(&b, "pathstats_request_duration_seconds_bucket{host=\"h\","
                  "method=\"GET\",path=\"/b\",le=\"0.05\"} 7")
       && has(&b, "pathstats_request_duration_seconds_bucket{host=\"h\","
                  "method=\"GET\",path=\"/b\",le=\"+Inf\"} 7")
       && has(&b, "pathstats_request_duration_seconds_sum{host=\"h\","
                  "method=\"GET\",path=\"/b\"} 1.500000"),
       "a path's cumulative buckets, +Inf and sum");
    ok(has(&b, "pathstats_requests_window_24h{host=\"h\",method=\"GET\","
               "path=\"/a\",status=\"2xx\"} 9")
       && has(&b, "pathstats_unique_clients_window_24h 11")
       && has(&b, "pathstats_unique_clients_window_24h{host=\"h\","
                  "method=\"GET\",path=\"/a\"} 4"),
       "the 24h window gauges");
    ok(lacks(&b, "pathstats_requests_24h"), "the old gauge name is gone");

    ok(has(&b, "pathstats_alert_active{alert=\"error_rate\","
               "level=\"warning\",scope=\"path\",host=\"h\",method=\"GET\","
               "path=\"/x\\\"y\"} 1"), "an active alert, escaped");
    ok(has(&b, "pathstats_alerts_fired_total{alert=\"error_rate\","
               "level=\"warning\",scope=\"path\"} 1")
       && has(&b, "pathstats_alerts_fired_total{alert=\"p95_ms\","
                  "level=\"critical\",scope=\"overall\"} 0"),
       "fired counters, zeros too");
    ok(has(&b, "pathstats_alert_notifications_total{event=\"fired\"} 3")
       && has(&b, "pathstats_alerts_silenced 2")
       && has(&b, "pathstats_alert_paths_grouped 4")
       && has(&b, "pathstats_silences 1"), "notification gauges");
    ok(has(&b, "pathstats_webhook_notifications_total{webhook=\"1\","
               "host=\"hooks.example.com\",result=\"failed\"} 1")
       && has(&b, "pathstats_webhook_retries_total{webhook=\"1\","
                  "host=\"hooks.example.com\"} 3")
       && has(&b, "pathstats_webhook_queue_length{webhook=\"1\","
                  "host=\"hooks.example.com\"} 2"), "webhook families");
    ok(has(&b, "# TYPE pathstats_spool_segments gauge"),
       "the spool families are declared without a spool");
    ok(no_duplicate(&b), "every series once");

    if (access("/usr/bin/promtool", X_OK) == 0) {
        f = fopen("/tmp/ps-test-metrics.prom", "w");
        fwrite(b.data + 1, 1, b.len - 1, f);
        fclose(f);
        f = popen("/usr/bin/promtool check metrics "
                  "< /tmp/ps-test-metrics.prom 2>&1", "r");
        n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        is_int(pclose(f), 0, "promtool check metrics passes");
        is_str(out, "", "  without a remark");
        unlink("/tmp/ps-test-metrics.prom");
    } else {
        ok(1, "# SKIP promtool not installed");
        ok(1, "# SKIP promtool not installed");
    }

    ps_buf_free(&b);
    ps_alerts_destroy(a);

    return done_testing();
}
