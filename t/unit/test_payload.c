/*
 * Unit tests for aggregator/notify/payload.c: the documented JSON of an
 * alert notification (fields, values, message, suggestion), escalations,
 * resolves, the grouped incident, a hostile path, and the Slack form.
 */

#include <string.h>

#include <jansson.h>

#include "config/config.h"
#include "lib/hour.h"
#include "notify/payload.h"
#include "tap.h"

#define SEC  1000000ULL
#define T0   (1795000000ULL * SEC)


static json_t *
render(const ps_incident_event_t *ev, int format)
{
    ps_buf_t      b = PS_BUF_INIT;
    json_t       *j;
    json_error_t  e;

    if (ps_payload_render(&b, ev, "web-1", format) != 0) {
        bail_out("render failed");
    }

    j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &e);
    if (j == NULL) {
        diag("invalid JSON: %s: %s", e.text, b.data);
    }

    ps_buf_free(&b);
    return j;
}


static const char *
str(json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}


static ps_incident_event_t
path_event(void)
{
    ps_incident_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.event = PS_INCIDENT_FIRED;
    ev.id = 12;
    ev.scope = "path";
    ev.host = "example.com";
    ev.hlen = 11;
    ev.method = "GET";
    ev.mlen = 3;
    ev.path = "/api/users";
    ev.plen = 10;
    ev.metric = PS_ALERT_ERROR_RATE;
    ev.level = PS_ALERT_CRITICAL;
    ev.previous_level = -1;
    ev.value = 0.125;
    ev.threshold = 0.01;
    ev.since_us = T0;
    ev.at_us = T0 + 5 * SEC;

    return ev;
}


int
main(void)
{
    ps_incident_event_t  ev;
    json_t              *j;
    char                 iso[PS_ISO8601_MAX];
    const char          *k;
    json_t              *v;
    size_t               n;
    static const char   *fields[] = {
        "event", "id", "alert", "level", "previous_level", "scope", "host",
        "method", "path", "value", "threshold", "paths", "since", "at",
        "node", "message", "suggestion"
    };

    ev = path_event();
    j = render(&ev, PS_WEBHOOK_JSON);
    ok(j != NULL, "fired: valid JSON");

    n = 0;
    json_object_foreach(j, k, v) {
        ok(n < 17 && strcmp(k, fields[n]) == 0, "field %zu: %s", n, k);
        n++;
    }
    is_u64(n, 17, "17 fields, in the documented order");

    is_str(str(j, "event"), "fired", "event fired");
    is_u64((uint64_t) json_integer_value(json_object_get(j, "id")), 12,
           "id 12");
    is_str(str(j, "alert"), "error_rate", "alert error_rate");
    is_str(str(j, "level"), "critical", "level critical");
    ok(json_is_null(json_object_get(j, "previous_level")),
       "previous_level null");
    is_str(str(j, "path"), "/api/users", "path");
    ok(json_real_value(json_object_get(j, "value")) == 0.125
       && json_real_value(json_object_get(j, "threshold")) == 0.01,
       "value 0.125, threshold 0.01");
    ok(json_is_null(json_object_get(j, "paths")), "paths null");
    is_str(str(j, "since"), ps_format_iso8601((int64_t) T0, iso),
           "since: the incident's start");
    is_str(str(j, "at"), ps_format_iso8601((int64_t) (T0 + 5 * SEC), iso),
           "at: now");
    is_str(str(j, "node"), "web-1", "node");
    is_str(str(j, "message"), "critical: 5xx error rate 12.5% on GET "
           "example.com/api/users (threshold 1%)", "message");
    ok(str(j, "suggestion") != NULL && strstr(str(j, "suggestion"),
                                              "upstream") != NULL,
       "a suggestion");
    json_decref(j);

    /* an escalation of the overall p95 */
    memset(&ev, 0, sizeof(ev));
    ev.event = PS_INCIDENT_FIRED;
    ev.scope = "overall";
    ev.metric = PS_ALERT_P95;
    ev.level = PS_ALERT_CRITICAL;
    ev.previous_level = PS_ALERT_WARNING;
    ev.value = 250;
    ev.threshold = 200;
    j = render(&ev, PS_WEBHOOK_JSON);
    is_str(str(j, "previous_level"), "warning", "escalation: previous_level");
    ok(json_is_null(json_object_get(j, "host"))
       && json_is_null(json_object_get(j, "path")), "overall: no path");
    is_str(str(j, "message"), "critical (was warning): p95 latency 250 ms "
           "on all requests (threshold 200 ms)", "its message");
    json_decref(j);

    /* resolved */
    ev = path_event();
    ev.event = PS_INCIDENT_RESOLVED;
    j = render(&ev, PS_WEBHOOK_JSON);
    is_str(str(j, "event"), "resolved", "resolved");
    ok(json_is_null(json_object_get(j, "suggestion")),
       "no suggestion when resolved");
    is_str(str(j, "message"), "resolved: critical 5xx error rate on GET "
           "example.com/api/users", "its message");
    json_decref(j);

    /* the grouped incident */
    memset(&ev, 0, sizeof(ev));
    ev.event = PS_INCIDENT_FIRED;
    ev.scope = "paths";
    ev.metric = -1;
    ev.level = PS_ALERT_CRITICAL;
    ev.previous_level = -1;
    ev.value = 45;
    j = render(&ev, PS_WEBHOOK_JSON);
    is_str(str(j, "alert"), "grouped_paths", "grouped: alert grouped_paths");
    is_str(str(j, "scope"), "paths", "grouped: scope paths");
    is_u64((uint64_t) json_integer_value(json_object_get(j, "paths")), 45,
           "grouped: paths 45");
    ok(json_is_null(json_object_get(j, "threshold")),
       "grouped: threshold null");
    is_str(str(j, "message"), "critical: 45 more paths above threshold",
           "grouped: its message");
    json_decref(j);

    /* a hostile path stays valid JSON; the Slack form escapes & < > */
    ev = path_event();
    ev.path = "/a\"b\\<x>&\xff\n";
    ev.plen = strlen(ev.path);
    j = render(&ev, PS_WEBHOOK_JSON);
    is_str(str(j, "path"), "/a\"b\\<x>&\\xFF\n",
           "hostile path: the same text (invalid byte as \\xFF)");
    json_decref(j);

    j = render(&ev, PS_WEBHOOK_SLACK);
    ok(j != NULL && json_object_size(j) == 1, "slack: one field");
    ok(str(j, "text") != NULL
       && strncmp(str(j, "text"), "[pathstats web-1] critical: 5xx error "
                  "rate 12.5% on GET example.com/a\"b\\&lt;x&gt;&amp;", 73)
          == 0, "slack: node, message, & < > escaped");
    ok(strstr(str(j, "text"), "\nCheck the upstream") != NULL,
       "slack: the suggestion on its own line");
    json_decref(j);

    return done_testing();
}
