/*
 * The alert and notification families of the Prometheus text, apart
 * from metrics.c, which calls them with what they need.
 */

#ifndef PS_METRICS_ALERTS_H
#define PS_METRICS_ALERTS_H

#include <stddef.h>

#include "agg/alerts.h"
#include "agg/incidents.h"
#include "lib/strbuf.h"
#include "notify/webhook.h"

typedef struct {
    const ps_alerts_t           *alerts;    /* may be NULL */
    ps_incidents_stats_t         incidents;
    size_t                       silences;  /* in force */
    const ps_webhook_stats_t    *webhooks;
    unsigned                     nwebhooks;
} ps_metrics_alerts_input_t;

/* Appends the alert and notification families (metrics_alerts.c):
 * pathstats_alert_active, pathstats_alerts_fired_total,
 * pathstats_alert_notifications_total, pathstats_alerts_silenced,
 * pathstats_alert_paths_grouped, pathstats_silences and the webhook
 * families; 0 or -1. */
int ps_metrics_render_alerts(ps_buf_t *b,
    const ps_metrics_alerts_input_t *in);

#endif /* PS_METRICS_ALERTS_H */
