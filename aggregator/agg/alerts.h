/*
 * Alerts on the live 1m window: error rate and p95 latency, overall and
 * per path, each at two levels (warning, critical) that fire and
 * resolve independently.
 *
 * An alert fires when its value reaches the threshold, stays active (no
 * duplicate) while the value is at least 90 % of the threshold, and
 * resolves below that (or when its path has fewer than min_requests in
 * the window, or none at all).  After resolving, the same alert (scope,
 * key, metric, level) does not fire again before its level's cooldown
 * passed.  Firing and resolving are logged (event=alert_fired,
 * alert_resolved) and fires counted (ps_alerts_fired()).  What becomes
 * of an alert's notification (incidents.h) is noted on it and shown.
 *
 * A round of checks is ps_alerts_begin(), ps_alerts_check() per scope,
 * ps_alerts_end(); times come from the caller (a fake clock in tests).
 * At most PS_ALERTS_MAX alerts are tracked.  Not thread-safe.
 */

#ifndef PS_ALERTS_H
#define PS_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/strbuf.h"

#define PS_ALERTS_MAX        1000

/* metrics and levels */
#define PS_ALERT_ERROR_RATE  0
#define PS_ALERT_P95         1
#define PS_ALERT_WARNING     0
#define PS_ALERT_CRITICAL    1

typedef struct ps_alerts_s  ps_alerts_t;

typedef struct {
    double    error_rate[2];        /* fraction: warning, critical */
    double    p95_ms[2];
    uint64_t  min_requests;         /* per path */
    uint64_t  cooldown_us[2];       /* per level */
} ps_alert_limits_t;

/* An active alert as ps_alerts_foreach() shows it; strings are
 * NUL-terminated, NULL for the overall scope. */
typedef struct {
    size_t       index;             /* for ps_alerts_set_notice() */
    uint64_t     id;
    int          overall;
    const char  *host;
    const char  *method;
    const char  *path;
    size_t       hlen, mlen, plen;
    int          metric;            /* PS_ALERT_ERROR_RATE, _P95 */
    int          level;             /* PS_ALERT_WARNING, _CRITICAL */
    double       value;             /* fraction, or ms */
    double       threshold;
    uint64_t     since_us;
} ps_alert_info_t;

/* Called per active alert; a non-zero return stops the walk. */
typedef int (*ps_alert_fn)(void *ctx, const ps_alert_info_t *al);

/* The limits the configuration sets. */
void ps_alert_limits_from_config(ps_alert_limits_t *lim,
    const ps_config_t *cfg);

/* NULL on failure. */
ps_alerts_t *ps_alerts_create(const ps_alert_limits_t *lim);

/* NULL is allowed. */
void ps_alerts_destroy(ps_alerts_t *a);

/* Starts a round of checks. */
void ps_alerts_begin(ps_alerts_t *a);

/* Checks one scope's window values: the overall one when path is NULL,
 * else one path (held to min_requests). */
void ps_alerts_check(ps_alerts_t *a, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    uint64_t requests, uint64_t errors, double p95_ms, uint64_t now_us);

/* Ends the round: active alerts that were not held resolve. */
void ps_alerts_end(ps_alerts_t *a, uint64_t now_us);

/* Number of active alerts. */
size_t ps_alerts_active(const ps_alerts_t *a);

/* Calls fn for each active alert, oldest first; 0 or fn's non-zero. */
int ps_alerts_foreach(const ps_alerts_t *a, ps_alert_fn fn, void *ctx);

/* Notes what became of active alert index's notification (a static
 * string such as "sent", "silenced"; NULL: none) until the next round. */
void ps_alerts_set_notice(ps_alerts_t *a, size_t index, const char *notice);

/* Alerts fired since creation, by scope (overall 1, path 0), metric and
 * level. */
uint64_t ps_alerts_fired(const ps_alerts_t *a, int overall, int metric,
    int level);

/* Names: "error_rate", "p95_ms"; "warning", "critical". */
const char *ps_alert_metric_name(int metric);
const char *ps_alert_level_name(int level);

/* Appends the JSON array of active alerts (oldest first):
 * [{"id","scope","host","method","path","metric","level","value",
 *   "threshold","since","notification"}], host/method/path null for
 * scope overall, notification the notice or null; 0 or -1. */
int ps_alerts_json(const ps_alerts_t *a, ps_buf_t *b);

#endif /* PS_ALERTS_H */
