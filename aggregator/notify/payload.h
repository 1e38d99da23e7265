/*
 * The body of an alert notification (alert_webhook_format).
 *
 * json (default): one object,
 *
 *   {"event":"fired","id":12,"alert":"error_rate","level":"critical",
 *    "previous_level":null,"scope":"path","host":"example.com",
 *    "method":"GET","path":"/api/users","value":0.125,"threshold":0.01,
 *    "paths":null,"since":"2026-11-23T09:00:00Z",
 *    "at":"2026-11-23T09:00:00Z","node":"web-1",
 *    "message":"critical: 5xx error rate 12.5% on GET
 *               example.com/api/users (threshold 1%)",
 *    "suggestion":"..."}
 *
 *   event      "fired" or "resolved"; a "fired" with previous_level set
 *              is a level change of an incident already notified
 *   id         the incident (the same in its fired and resolved), unique
 *              per node and aggregator run
 *   alert      "error_rate" (value, threshold: fractions), "p95_ms"
 *              (milliseconds), or "grouped_paths" (paths folded beyond
 *              alert_max_paths: value = paths = their number,
 *              threshold null)
 *   scope      "overall", "path" (host, method, path set; null
 *              otherwise) or "paths" (grouped_paths)
 *   since, at  the incident's start, this notification's time (UTC)
 *   suggestion what to look at; null in a "resolved"
 *
 * slack: {"text":"..."} for a Slack incoming webhook (message, node and
 * suggestion; &, <, > escaped as Slack wants).
 */

#ifndef PS_PAYLOAD_H
#define PS_PAYLOAD_H

#include <stddef.h>

#include "agg/incidents.h"
#include "lib/strbuf.h"

/* Appends the body of ev from node in format (ps_webhook_format_t); 0 or
 * -1. */
int ps_payload_render(ps_buf_t *b, const ps_incident_event_t *ev,
    const char *node, int format);

/* Writes the one-line human message of ev into buf (size bytes, cut to
 * fit); returns buf. */
const char *ps_payload_message(const ps_incident_event_t *ev, char *buf,
    size_t size);

#endif /* PS_PAYLOAD_H */
