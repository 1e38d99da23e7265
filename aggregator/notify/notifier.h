/*
 * Alert notifications: the incidents' events (agg/incidents.h) rendered
 * once in alert_webhook_format (payload.h) and queued to every
 * alert_webhook (webhook.h), each delivered by a thread of its own.
 * Every notification is logged (event=alert_notification), with or
 * without webhooks.  The caller's thread never waits on a receiver.
 */

#ifndef PS_NOTIFIER_H
#define PS_NOTIFIER_H

#include <stddef.h>

#include "agg/incidents.h"
#include "config/config.h"
#include "notify/webhook.h"

#define PS_NOTIFIER_STOP_WAIT_MS  2000   /* for the queue at shutdown */

typedef struct ps_notifier_s  ps_notifier_t;

/* The webhooks of cfg (none is fine), started; NULL on failure
 * (logged).  cfg must outlive it. */
ps_notifier_t *ps_notifier_create(const ps_config_t *cfg);

/* Gives the queues PS_NOTIFIER_STOP_WAIT_MS, stops the threads, frees;
 * NULL is allowed. */
void ps_notifier_destroy(ps_notifier_t *n);

/* ps_incident_fn: ctx is the ps_notifier_t. */
void ps_notifier_event(void *ctx, const ps_incident_event_t *ev);

/* Number of webhooks, and a copy of webhook i's statistics. */
unsigned ps_notifier_count(const ps_notifier_t *n);
void ps_notifier_stats(const ps_notifier_t *n, unsigned i,
    ps_webhook_stats_t *st);

#endif /* PS_NOTIFIER_H */
