/*
 * Incidents: which alerts (alerts.h) are worth a notification, so that
 * one bad deploy does not page a thousand times.
 *
 * An incident is one alert metric on one scope (the overall traffic, or
 * a host, method and path) from the moment one of its levels fires until
 * the last one resolved.  After each round of alert checks,
 * ps_incidents_update() compares the active alerts with the open
 * incidents and emits, in this order:
 *
 *   resolved   an open incident none of whose levels is active any more
 *              (also when it is silenced now: every fire gets its
 *              resolve)
 *   fired      with previous_level, an open incident whose highest
 *              active level went up (a warning escalated to critical);
 *              when it goes down again nothing is sent until it resolves
 *   fired      a new incident, at its highest active level: critical
 *              supersedes warning, one notification rather than two
 *   fired /    the grouped incident: per-path incidents beyond
 *   resolved   max_paths open at once are not notified one by one but
 *              folded into one "N more paths above threshold" incident,
 *              which resolves when none is folded any more
 *
 * A new incident whose scope a silence covers (silence.h) is not
 * notified (nor counted among the folded paths).  Cooldowns are the
 * alerts' own (per level): an alert cooling down does not fire, so it
 * opens no incident.  Each active alert is noted with what became of it
 * (ps_alerts_set_notice(): "sent", "superseded", "silenced", "grouped").
 * Not thread-safe.
 */

#ifndef PS_INCIDENTS_H
#define PS_INCIDENTS_H

#include <stddef.h>
#include <stdint.h>

#include "agg/alerts.h"
#include "agg/silence.h"

typedef struct ps_incidents_s  ps_incidents_t;

#define PS_INCIDENT_FIRED     0
#define PS_INCIDENT_RESOLVED  1

/* One notification; strings valid during the callback only. */
typedef struct {
    int          event;             /* PS_INCIDENT_FIRED, _RESOLVED */
    uint64_t     id;                /* the incident's, from 1 */
    const char  *scope;             /* "overall", "path", "paths" */
    const char  *host;              /* NULL unless scope "path" */
    const char  *method;
    const char  *path;
    size_t       hlen, mlen, plen;
    int          metric;            /* PS_ALERT_*; -1 for "paths" */
    int          level;             /* PS_ALERT_WARNING, _CRITICAL */
    int          previous_level;    /* an escalation; -1 otherwise */
    double       value;             /* "paths": how many are folded */
    double       threshold;         /* "paths": 0 */
    uint64_t     since_us;          /* the incident's start */
    uint64_t     at_us;             /* now */
} ps_incident_event_t;

typedef void (*ps_incident_fn)(void *ctx, const ps_incident_event_t *ev);

/* Incidents with at most max_paths (>= 1) per-path ones notified at
 * once; NULL on failure. */
ps_incidents_t *ps_incidents_create(size_t max_paths);

/* NULL is allowed. */
void ps_incidents_destroy(ps_incidents_t *in);

/* After ps_alerts_end(): emits the notifications (fn may be NULL) due
 * for a's active alerts at now_us under the silences (may be NULL), and
 * notes each alert.  0, or -1 if memory ran out (the round is then
 * retried in full at the next call). */
int ps_incidents_update(ps_incidents_t *in, ps_alerts_t *a,
    const ps_silences_t *silences, uint64_t now_us, ps_incident_fn fn,
    void *ctx);

/* What the summary and the metrics show. */
typedef struct {
    uint64_t  fired;                /* notifications since start */
    uint64_t  resolved;
    size_t    open;                 /* incidents notified and open */
    size_t    silenced;             /* alerts not notified: silenced */
    size_t    grouped;              /* paths folded into the group now */
} ps_incidents_stats_t;

void ps_incidents_stats(const ps_incidents_t *in, ps_incidents_stats_t *st);

#endif /* PS_INCIDENTS_H */
