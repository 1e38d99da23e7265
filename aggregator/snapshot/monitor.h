/*
 * Monitoring: what plugs the daemon into Prometheus, Alertmanager-style
 * receivers and chat.  It holds the lifetime counters (agg/lifetime.h),
 * the incidents that turn alerts into notifications (agg/incidents.h),
 * the webhooks that deliver them (notify/notifier.h) and the silences
 * read from PostgreSQL (store/pg/silences.h), and the snapshot renders
 * their state into /metrics and /api/summary.
 *
 * The daemon shows every record to ps_monitor_observe() (from the
 * pipeline's observer) and hands the monitor to the snapshot, which
 * calls ps_monitor_rank() with the 24h window's rows each build and
 * ps_monitor_alerts() after each round of alert checks.  All on the
 * daemon's thread; the webhooks and the silences reader run their own.
 */

#ifndef PS_MONITOR_H
#define PS_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "agg/alerts.h"
#include "agg/incidents.h"
#include "agg/lifetime.h"
#include "agg/silence.h"
#include "config/config.h"
#include "notify/notifier.h"
#include "ring/rec.h"
#include "snapshot/rows.h"

typedef struct ps_monitor_s  ps_monitor_t;

/* Everything for cfg (which must outlive it): counters for top_n paths,
 * incidents with alert_max_paths, the webhooks, and the silences when
 * postgres is set.  NULL on failure (logged). */
ps_monitor_t *ps_monitor_create(const ps_config_t *cfg);

/* Stops the threads (the webhooks get a last moment for their queue);
 * NULL is allowed. */
void ps_monitor_destroy(ps_monitor_t *m);

/* ps_rec_observer_fn shape: counts the record; ctx is the monitor. */
void ps_monitor_observe(void *ctx, const ps_rec_t *rec);

/* The exported paths: the first top non-overflow rows of the 24h
 * window's set (most requested first). */
void ps_monitor_rank(ps_monitor_t *m, const ps_rowset_t *rows24h,
    size_t top);

/* After a round of checks on a: takes new silences, updates the
 * incidents, queues their notifications. */
void ps_monitor_alerts(ps_monitor_t *m, ps_alerts_t *a, uint64_t now_us);

/* What the renderers read. */
const ps_lifetime_t *ps_monitor_lifetime(const ps_monitor_t *m);
const ps_silences_t *ps_monitor_silences(const ps_monitor_t *m);
const ps_notifier_t *ps_monitor_notifier(const ps_monitor_t *m);
void ps_monitor_incidents(const ps_monitor_t *m, ps_incidents_stats_t *st);

#endif /* PS_MONITOR_H */
