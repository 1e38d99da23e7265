/*
 * Alert notifications: see notifier.h.
 */

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/strbuf.h"
#include "notify/notifier.h"
#include "notify/payload.h"

struct ps_notifier_s {
    const ps_config_t  *cfg;
    ps_webhook_t      **hooks;
    unsigned            n;
    int                 curl_ready;
    ps_buf_t            body;       /* reused per notification */
};


ps_notifier_t *
ps_notifier_create(const ps_config_t *cfg)
{
    ps_notifier_t      *n;
    ps_webhook_opts_t   o;
    size_t              i;

    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        ps_log(PS_LOG_ERROR, "event=notifier_create_failed reason=no_memory");
        return NULL;
    }

    n->cfg = cfg;

    if (cfg->alert_webhook_count == 0) {
        return n;
    }

    n->hooks = calloc(cfg->alert_webhook_count, sizeof(ps_webhook_t *));
    if (n->hooks == NULL || ps_webhook_global_init() != 0) {
        goto fail;
    }

    n->curl_ready = 1;

    o.timeout_ms = cfg->alert_webhook_timeout_ms;
    o.retries = (unsigned) cfg->alert_webhook_retries;
    o.backoff_ms = cfg->alert_webhook_backoff_ms;

    for (i = 0; i < cfg->alert_webhook_count; i++) {
        n->hooks[i] = ps_webhook_start(cfg->alert_webhooks[i],
                                       (unsigned) i + 1, &o);
        if (n->hooks[i] == NULL) {
            goto fail;
        }
        n->n++;
    }

    return n;

fail:

    ps_notifier_destroy(n);
    return NULL;
}


void
ps_notifier_destroy(ps_notifier_t *n)
{
    unsigned  i;

    if (n == NULL) {
        return;
    }

    for (i = 0; i < n->n; i++) {
        ps_webhook_stop(n->hooks[i], PS_NOTIFIER_STOP_WAIT_MS);
    }

    if (n->curl_ready) {
        ps_webhook_global_cleanup();
    }

    free(n->hooks);
    ps_buf_free(&n->body);
    free(n);
}


void
ps_notifier_event(void *ctx, const ps_incident_event_t *ev)
{
    ps_notifier_t  *n = ctx;
    unsigned        i;
    char            msg[1024], qmsg[1200];

    ps_log(PS_LOG_INFO, "event=alert_notification kind=%s incident=%llu "
           "alert=%s level=%s scope=%s webhooks=%u message=%s",
           ev->event == PS_INCIDENT_FIRED ? "fired" : "resolved",
           (unsigned long long) ev->id,
           ev->metric < 0 ? "grouped_paths"
                          : ps_alert_metric_name(ev->metric),
           ps_alert_level_name(ev->level), ev->scope, n->n,
           ps_log_quote(qmsg, sizeof(qmsg),
                        ps_payload_message(ev, msg, sizeof(msg))));

    if (n->n == 0) {
        return;
    }

    ps_buf_reset(&n->body);

    if (ps_payload_render(&n->body, ev, n->cfg->node_id,
                          n->cfg->alert_webhook_format) != 0)
    {
        ps_log(PS_LOG_ERROR, "event=webhook_dropped reason=no_memory "
               "incident=%llu", (unsigned long long) ev->id);
        return;
    }

    for (i = 0; i < n->n; i++) {
        (void) ps_webhook_post(n->hooks[i], n->body.data, n->body.len);
    }
}


unsigned
ps_notifier_count(const ps_notifier_t *n)
{
    return n->n;
}


void
ps_notifier_stats(const ps_notifier_t *n, unsigned i, ps_webhook_stats_t *st)
{
    ps_webhook_stats(n->hooks[i], st);
}
