/*
 * The body of an alert notification: see payload.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "lib/hour.h"
#include "lib/json_escape.h"
#include "notify/payload.h"

#define MESSAGE_MAX  1024


static const char *
alert_name(const ps_incident_event_t *ev)
{
    return ev->metric < 0 ? "grouped_paths" : ps_alert_metric_name(ev->metric);
}


/* "GET example.com/api/users" or "all requests", cut to fit */
static void
where(const ps_incident_event_t *ev, char *buf, size_t size)
{
    if (ev->host == NULL) {
        snprintf(buf, size, "all requests");
        return;
    }

    snprintf(buf, size, "%.*s %.*s%.*s", (int) ev->mlen, ev->method,
             (int) (ev->hlen < 200 ? ev->hlen : 200), ev->host,
             (int) (ev->plen < 600 ? ev->plen : 600), ev->path);
}


/* the value and threshold in their unit */
static void
amount(const ps_incident_event_t *ev, double v, char *buf, size_t size)
{
    if (ev->metric == PS_ALERT_ERROR_RATE) {
        snprintf(buf, size, "%.3g%%", v * 100);
    } else {
        snprintf(buf, size, "%.0f ms", v);
    }
}


const char *
ps_payload_message(const ps_incident_event_t *ev, char *buf, size_t size)
{
    char         w[900], val[32], thr[32], was[32];
    const char  *what;

    where(ev, w, sizeof(w));

    if (ev->metric < 0) {
        if (ev->event == PS_INCIDENT_RESOLVED) {
            snprintf(buf, size, "resolved: no more paths above threshold "
                     "beyond those notified one by one");
        } else {
            snprintf(buf, size, "%s: %.0f more paths above threshold",
                     ps_alert_level_name(ev->level), ev->value);
        }
        return buf;
    }

    what = ev->metric == PS_ALERT_ERROR_RATE ? "5xx error rate"
                                             : "p95 latency";

    if (ev->event == PS_INCIDENT_RESOLVED) {
        snprintf(buf, size, "resolved: %s %s on %s", ps_alert_level_name(
                 ev->level), what, w);
        return buf;
    }

    amount(ev, ev->value, val, sizeof(val));
    amount(ev, ev->threshold, thr, sizeof(thr));
    was[0] = '\0';

    if (ev->previous_level >= 0) {
        snprintf(was, sizeof(was), " (was %s)",
                 ps_alert_level_name(ev->previous_level));
    }

    snprintf(buf, size, "%s%s: %s %s on %s (threshold %s)",
             ps_alert_level_name(ev->level), was, what, val, w, thr);

    return buf;
}


static const char *
suggestion(const ps_incident_event_t *ev)
{
    if (ev->event == PS_INCIDENT_RESOLVED) {
        return NULL;
    }

    if (ev->metric < 0) {
        return "Many paths alert at once, as after a bad deploy or an "
               "upstream outage: /pathstats/api/summary lists every alert; "
               "pathstats-aggregator --silence SCOPE --for DURATION quiets "
               "a scope.";
    }

    if (ev->metric == PS_ALERT_ERROR_RATE) {
        return ev->host == NULL
               ? "Errors across the site: check the upstreams, nginx's "
                 "error log and recent deploys; "
                 "/pathstats/api/paths?window=1m&sort=errors lists the "
                 "failing paths."
               : "Check the upstream that serves this path and nginx's "
                 "error log; a recent deploy of it is the usual cause.";
    }

    return ev->host == NULL
           ? "Slow across the site: check upstream capacity, databases and "
             "the host's load; /pathstats/api/paths?window=1m&sort=p95 "
             "lists the slowest paths."
           : "Check the response time and load of the upstream that "
             "serves this path (and what it waits on).";
}


static json_t *
bytes_or_null(const char *p, size_t len)
{
    return p ? ps_json_bytes(p, len) : json_null();
}


static int
render_json(ps_buf_t *b, const ps_incident_event_t *ev, const char *node,
    const char *message)
{
    json_t      *o;
    char        *text;
    const char  *sug;
    char         since[PS_ISO8601_MAX], at[PS_ISO8601_MAX];
    int          rc = -1;

    sug = suggestion(ev);

    o = json_pack("{s:s, s:I, s:s, s:s, s:o, s:s, s:o, s:o, s:o}",
                  "event", ev->event == PS_INCIDENT_FIRED ? "fired"
                                                          : "resolved",
                  "id", (json_int_t) ev->id,
                  "alert", alert_name(ev),
                  "level", ps_alert_level_name(ev->level),
                  "previous_level", ev->previous_level >= 0
                      ? json_string(ps_alert_level_name(ev->previous_level))
                      : json_null(),
                  "scope", ev->scope,
                  "host", bytes_or_null(ev->host, ev->hlen),
                  "method", bytes_or_null(ev->method, ev->mlen),
                  "path", bytes_or_null(ev->path, ev->plen));

    if (o == NULL
        || json_object_set_new(o, "value", json_real(ev->value)) != 0
        || json_object_set_new(o, "threshold", ev->metric < 0
                               ? json_null() : json_real(ev->threshold))
           != 0
        || json_object_set_new(o, "paths", ev->metric < 0
                               ? json_integer((json_int_t) ev->value)
                               : json_null()) != 0
        || json_object_set_new(o, "since", json_string(
               ps_format_iso8601((int64_t) ev->since_us, since))) != 0
        || json_object_set_new(o, "at", json_string(
               ps_format_iso8601((int64_t) ev->at_us, at))) != 0
        || json_object_set_new(o, "node", ps_json_bytes(node, strlen(node)))
           != 0
        || json_object_set_new(o, "message",
                               ps_json_bytes(message, strlen(message))) != 0
        || json_object_set_new(o, "suggestion",
                               sug ? json_string(sug) : json_null()) != 0)
    {
        goto done;
    }

    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text != NULL) {
        rc = ps_buf_puts(b, text);
        free(text);
    }

done:

    json_decref(o);
    return rc;
}


/* Slack wants &, < and > escaped in message text. */
static int
slack_escape(ps_buf_t *b, const char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((*s == '&' && ps_buf_puts(b, "&amp;") != 0)
            || (*s == '<' && ps_buf_puts(b, "&lt;") != 0)
            || (*s == '>' && ps_buf_puts(b, "&gt;") != 0)
            || (*s != '&' && *s != '<' && *s != '>'
                && ps_buf_putc(b, *s) != 0))
        {
            return -1;
        }
    }

    return 0;
}


static int
render_slack(ps_buf_t *b, const ps_incident_event_t *ev, const char *node,
    const char *message)
{
    ps_buf_t     t = PS_BUF_INIT;
    const char  *sug;
    json_t      *o = NULL;
    char        *text = NULL;
    int          rc = -1;

    sug = suggestion(ev);

    if (ps_buf_printf(&t, "[pathstats %s] ", node) != 0
        || slack_escape(&t, message) != 0
        || (sug && (ps_buf_puts(&t, "\n") != 0
                    || slack_escape(&t, sug) != 0)))
    {
        goto done;
    }

    o = json_object();
    if (o == NULL
        || json_object_set_new(o, "text", ps_json_bytes(t.data, t.len)) != 0)
    {
        goto done;
    }

    text = json_dumps(o, JSON_COMPACT);
    rc = text ? ps_buf_puts(b, text) : -1;

done:

    free(text);
    json_decref(o);
    ps_buf_free(&t);
    return rc;
}


int
ps_payload_render(ps_buf_t *b, const ps_incident_event_t *ev,
    const char *node, int format)
{
    char  message[MESSAGE_MAX];

    ps_payload_message(ev, message, sizeof(message));

    return format == PS_WEBHOOK_SLACK ? render_slack(b, ev, node, message)
                                      : render_json(b, ev, node, message);
}
