/*
 * The alert and notification families of the Prometheus text: see
 * metrics_alerts.h.
 */

#include <string.h>

#include "snapshot/metrics_alerts.h"
#include "snapshot/prom_text.h"


static int
str_label(ps_buf_t *b, const char *name, const char *s, size_t len,
    int comma)
{
    return ps_buf_printf(b, "%s%s=\"", comma ? "," : "", name) != 0
           || (s != NULL && ps_metrics_label_escape(b, s, len) != 0)
           || ps_buf_putc(b, '"') != 0 ? -1 : 0;
}


/* ps_alert_fn: one pathstats_alert_active series */
static int
active_row(void *ctx, const ps_alert_info_t *al)
{
    ps_buf_t  *b = ctx;

    return ps_buf_printf(b, "pathstats_alert_active{alert=\"%s\","
                         "level=\"%s\",scope=\"%s\"",
                         ps_alert_metric_name(al->metric),
                         ps_alert_level_name(al->level),
                         al->overall ? "overall" : "path") != 0
           || str_label(b, "host", al->host, al->hlen, 1) != 0
           || str_label(b, "method", al->method, al->mlen, 1) != 0
           || str_label(b, "path", al->path, al->plen, 1) != 0
           || ps_buf_puts(b, "} 1\n") != 0 ? -1 : 0;
}


/* name{webhook="N",host="H"[,result="R"]} v */
static int
webhook_row(ps_buf_t *b, const char *name, const ps_webhook_stats_t *w,
    const char *result, unsigned long long v)
{
    return ps_buf_printf(b, "%s{webhook=\"%u\"", name, w->number) != 0
           || str_label(b, "host", w->host, strlen(w->host), 1) != 0
           || (result && ps_buf_printf(b, ",result=\"%s\"", result) != 0)
           || ps_buf_printf(b, "} %llu\n", v) != 0 ? -1 : 0;
}


static int
webhook_families(ps_buf_t *b, const ps_metrics_alerts_input_t *in)
{
    const ps_webhook_stats_t  *w;
    unsigned                   i;

    if (ps_metrics_family(b, "pathstats_webhook_notifications_total", "counter",
                          "Alert notifications by alert_webhook (number in the "
                          "configuration, host) and result: sent (2xx), failed "
                          "(after its retries), dropped (queue full, or left "
                          "at shutdown).") != 0)
    {
        return -1;
    }

    for (i = 0; i < in->nwebhooks; i++) {
        w = &in->webhooks[i];
        if (webhook_row(b, "pathstats_webhook_notifications_total", w,
                        "sent", w->sent) != 0
            || webhook_row(b, "pathstats_webhook_notifications_total", w,
                           "failed", w->failed) != 0
            || webhook_row(b, "pathstats_webhook_notifications_total", w,
                           "dropped", w->dropped) != 0)
        {
            return -1;
        }
    }

    if (ps_metrics_family(b, "pathstats_webhook_retries_total", "counter",
                          "Attempts to deliver a notification after its first "
                          "one failed.") != 0)
    {
        return -1;
    }

    for (i = 0; i < in->nwebhooks; i++) {
        if (webhook_row(b, "pathstats_webhook_retries_total",
                        &in->webhooks[i], NULL, in->webhooks[i].retries)
            != 0)
        {
            return -1;
        }
    }

    if (ps_metrics_family(b, "pathstats_webhook_queue_length", "gauge",
                          "Notifications waiting for their webhook (the one in "
                          "flight included).") != 0)
    {
        return -1;
    }

    for (i = 0; i < in->nwebhooks; i++) {
        if (webhook_row(b, "pathstats_webhook_queue_length",
                        &in->webhooks[i], NULL, in->webhooks[i].queued) != 0)
        {
            return -1;
        }
    }

    return 0;
}


int
ps_metrics_render_alerts(ps_buf_t *b, const ps_metrics_alerts_input_t *in)
{
    int  overall, metric, level;

    if (ps_metrics_family(b, "pathstats_alert_active", "gauge",
                          "1 while an alert of the aggregator fires "
                          "(error_rate, p95_ms; warning, critical), overall or "
                          "on a path.") != 0
        || (in->alerts != NULL
            && ps_alerts_foreach(in->alerts, active_row, b) != 0))
    {
        return -1;
    }

    if (ps_metrics_family(b, "pathstats_alerts_fired_total", "counter",
                          "Alerts fired since the aggregator started.") != 0)
    {
        return -1;
    }

    for (overall = 1; overall >= 0; overall--) {
        for (metric = 0; metric < 2; metric++) {
            for (level = 0; level < 2; level++) {
                if (ps_buf_printf(b, "pathstats_alerts_fired_total{alert="
                                  "\"%s\",level=\"%s\",scope=\"%s\"} %llu\n",
                                  ps_alert_metric_name(metric),
                                  ps_alert_level_name(level),
                                  overall ? "overall" : "path",
                                  (unsigned long long) (in->alerts
                                      ? ps_alerts_fired(in->alerts, overall,
                                                        metric, level)
                                      : 0)) != 0)
                {
                    return -1;
                }
            }
        }
    }

    return ps_metrics_family(b, "pathstats_alert_notifications_total",
                             "counter",
                             "Alert notifications made (fired includes "
                             "escalations), whether or not a webhook is "
                             "configured.") != 0
           || ps_buf_printf(b, "pathstats_alert_notifications_total{event="
                            "\"fired\"} %llu\n"
                            "pathstats_alert_notifications_total{event="
                            "\"resolved\"} %llu\n",
                            (unsigned long long) in->incidents.fired,
                            (unsigned long long) in->incidents.resolved) != 0
           || ps_metrics_family(b, "pathstats_alerts_silenced", "gauge",
                                "Active alerts whose notification a silence "
                                "holds back.") != 0
           || ps_buf_printf(b, "pathstats_alerts_silenced %zu\n",
                            in->incidents.silenced) != 0
           || ps_metrics_family(b, "pathstats_alert_paths_grouped", "gauge",
                                "Paths alerting beyond alert_max_paths, "
                                "notified as one grouped alert.") != 0
           || ps_buf_printf(b, "pathstats_alert_paths_grouped %zu\n",
                            in->incidents.grouped) != 0
           || ps_metrics_family(b, "pathstats_silences", "gauge",
                                "Silences in force (pathstats-aggregator "
                                "--silence).") != 0
           || ps_buf_printf(b, "pathstats_silences %zu\n", in->silences) != 0
           || webhook_families(b, in) != 0 ? -1 : 0;
}
