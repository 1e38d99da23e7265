/*
 * Alerts on the live 1m window: error rate and p95 latency, overall and
 * per path, each at two levels (warning, critical) that fire and
 * resolve independently.
 *
 * An alert fires when its value reaches the threshold, stays active (no
 * duplicate) while the value is at least 90 % of the threshold, and
 * resolves below that (or when its path has fewer than min_requests in
 * the window, or none at all).  After resolving, the same alert (scope,
 * key, metric, level) does not fire again before the cooldown passed.
 * Firing and resolving are logged (event=alert_fired, alert_resolved).
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

typedef struct ps_alerts_s  ps_alerts_t;

typedef struct {
    double    error_rate[2];        /* fraction: warning, critical */
    double    p95_ms[2];
    uint64_t  min_requests;         /* per path */
    uint64_t  cooldown_us;
} ps_alert_limits_t;

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

/* Appends the JSON array of active alerts (oldest first):
 * [{"id","scope","host","method","path","metric","level","value",
 *   "threshold","since"}], host/method/path null for scope overall;
 * 0 or -1. */
int ps_alerts_json(const ps_alerts_t *a, ps_buf_t *b);

#endif /* PS_ALERTS_H */
