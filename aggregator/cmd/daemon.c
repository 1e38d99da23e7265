/*
 * The daemon: see cmd.h.
 *
 * One loop drains the rings through the pipeline (sinks) into the live
 * windows and the monitor's counters, flushes on the flush interval,
 * publishes snapshots (which run the alerts and queue their
 * notifications), frees the rings of dead workers and beats the
 * heartbeat.  The zone side (the zone
 * file, its reader and the pipeline, whose watermarks belong to one zone
 * generation) is attached as a unit, so that a zone file replaced under
 * the daemon (removed and recreated by a restarted nginx) is drained,
 * flushed and then swapped for the new one; the windows, the monitor, the
 * snapshot and the trends live on across the swap.
 */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agg/windows.h"
#include "cmd/cmd.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "pipeline/pipeline.h"
#include "ring/proc.h"
#include "snapshot/monitor.h"
#include "snapshot/snapshot.h"
#include "store/pg/migrate.h"
#include "store/pg/pg_scheduler.h"
#include "store/pg/pg_windows.h"
#include "store/pg/day_windows.h"
#include "store/pg/trends.h"
#include "store/store.h"

#define POLL_BATCH          4096        /* records per poll */
#define FINISH_TIMEOUT_US   5000000     /* the write-ahead log's replay at
                                           a stop */
#define IDLE_SLEEP_MS       10          /* when the rings are empty */
#define REAP_INTERVAL_US    100000
#define ZONE_CHECK_US       1000000     /* is the zone file still ours */
#define DRAIN_TIMEOUT_US    5000000
#define REPLACE_WAIT_US     10000000    /* for the old zone's workers */
#define TRENDS_INTERVAL_MS  60000

typedef struct {
    const ps_config_t  *cfg;
    const ps_signals_t *sig;

    /* the zone side, attached and detached together */
    ps_zone_t          *zone;
    ps_ring_reader_t   *rr;
    ps_pipeline_t      *pipe;

    /* what outlives a zone */
    ps_windows_t       *win;
    ps_monitor_t       *mon;
    ps_snapshot_t      *snap;
    ps_trends_t        *trends;
    ps_day_windows_t   *days;
    ps_scheduler_t     *sched;
    ps_fleet_t         *fleet;

    uint64_t            next_reap;
    uint64_t            next_snapshot;
    uint64_t            next_zone_check;
    uint64_t            replaced_since;     /* 0: the zone is current */
} daemon_t;


/* A schema this build cannot write is fatal; an unreachable server is
 * not: the pipeline waits for it.  0 or an exit status. */
static int
daemon_check_schema(const ps_config_t *cfg)
{
    int   rc;
    char  err[1024], qerr[1100];

    if (cfg->postgres == NULL) {
        return 0;
    }

    rc = ps_schema_check(cfg, err, sizeof(err));

    if (rc == PS_SCHEMA_MISMATCH) {
        ps_log(PS_LOG_ERROR, "event=schema_refused error=%s",
               ps_log_quote(qerr, sizeof(qerr), err));
        return PS_EXIT_POSTGRES;
    }

    if (rc == PS_SCHEMA_UNREACHABLE) {
        ps_log(PS_LOG_WARN, "event=sink_down sink=postgres error=%s",
               ps_log_quote(qerr, sizeof(qerr), err));
    }

    return 0;
}


/* The pipeline's observer: every record to the lifetime counters. */
static void
daemon_observe(void *ctx, const ps_rec_t *rec)
{
    daemon_t  *d = ctx;

    ps_monitor_observe(d->mon, rec);
}


/* Takes zone and rr (opened by ps_cmd_open_consumer) as the daemon's
 * and builds the pipeline over the configured sinks; 0, or an exit
 * status (logged) with zone and rr closed. */
static int
daemon_attach(daemon_t *d, ps_zone_t *zone, ps_ring_reader_t *rr)
{
    int         n;
    ps_sink_t  *sinks[PS_STORE_SINKS_MAX];

    d->zone = zone;
    d->rr = rr;

    ps_zone_set_aggregator(zone, ps_now_us());

    n = ps_store_create_sinks(d->cfg, sinks);
    d->pipe = (n >= 0) ? ps_pipeline_create(d->cfg, zone, rr, sinks,
                                            (unsigned) n)
                       : NULL;

    if (d->pipe == NULL) {
        ps_ring_reader_destroy(rr);
        ps_zone_close(zone);
        d->rr = NULL;
        d->zone = NULL;
        return PS_EXIT_RUNTIME;
    }

    /* the windows see each record through the pipeline's key probe, the
     * monitor's lifetime counters through the observer */
    ps_pipeline_set_windows(d->pipe, d->win);
    ps_pipeline_set_observer(d->pipe, daemon_observe, d);

    d->next_zone_check = ps_mono_us() + ZONE_CHECK_US;
    d->replaced_since = 0;

    return 0;
}


/* Publishes a snapshot of the windows with the sinks' status. */
static void
daemon_publish(daemon_t *d)
{
    ps_sink_status_t  st[PS_STORE_SINKS_MAX];
    unsigned          i, n;

    n = ps_pipeline_sink_count(d->pipe);
    n = (n < PS_STORE_SINKS_MAX) ? n : PS_STORE_SINKS_MAX;

    for (i = 0; i < n; i++) {
        ps_pipeline_sink_status(d->pipe, i, &st[i]);
    }

    (void) ps_snapshot_publish(d->snap, d->zone, st, n,
                               ps_pipeline_records(d->pipe), ps_now_us());
}


/* Drains what the workers published, flushes everything and publishes a
 * last snapshot: nothing read stays unflushed. */
static void
daemon_drain(daemon_t *d)
{
    uint64_t  deadline;

    deadline = ps_mono_us() + DRAIN_TIMEOUT_US;

    while (ps_pipeline_poll(d->pipe, POLL_BATCH) > 0
           && ps_mono_us() < deadline)
    {
        /* void */
    }

    ps_pipeline_finish(d->pipe, FINISH_TIMEOUT_US);

    daemon_publish(d);

    (void) ps_ring_reader_reap(d->rr);
}


static void
daemon_detach(daemon_t *d)
{
    ps_pipeline_destroy(d->pipe);
    ps_ring_reader_destroy(d->rr);
    ps_zone_close(d->zone);

    d->pipe = NULL;
    d->rr = NULL;
    d->zone = NULL;
}


/* Rings of the zone whose owner may still write into them. */
static unsigned
daemon_live_rings(const ps_zone_t *zone)
{
    uint32_t  i;
    uint64_t  owner;
    unsigned  live;

    live = 0;

    for (i = 0; i < zone->geo.ring_count; i++) {
        owner = ps_load_acquire(&ps_zone_ring(zone, i)->owner);

        if (owner != PS_OWNER_FREE && !ps_proc_owner_dead(owner)) {
            live++;
        }
    }

    return live;
}


/*
 * Swaps a replaced zone file (removed and created anew by a restarted
 * nginx) for the new one once the old file's workers are gone, whose
 * records would be lost otherwise, or after REPLACE_WAIT_US, whichever
 * comes first: the old rings are drained and flushed first, and the new
 * pipeline starts from the new generation's watermarks.  0, or an exit
 * status.
 */
static int
daemon_follow_zone(daemon_t *d, uint64_t now)
{
    unsigned           live;
    ps_zone_t         *zone;
    ps_ring_reader_t  *rr;
    char               q[512];

    if (now < d->next_zone_check) {
        return 0;
    }

    d->next_zone_check = now + ZONE_CHECK_US;

    if (!ps_zone_replaced(d->zone)) {
        d->replaced_since = 0;
        return 0;
    }

    live = daemon_live_rings(d->zone);

    if (d->replaced_since == 0) {
        d->replaced_since = now;
        ps_log(PS_LOG_WARN, "event=zone_replaced zone=%s zone_id=%016llx "
               "live_rings=%u", ps_log_quote(q, sizeof(q), d->cfg->zone),
               (unsigned long long) d->zone->geo.zone_id, live);
    }

    if (live > 0 && now - d->replaced_since < REPLACE_WAIT_US) {
        return 0;
    }

    /* the new file first: one that cannot be used leaves the old one */
    if (ps_cmd_open_consumer(d->cfg, &zone, &rr) != 0) {
        d->next_zone_check = now + 10 * ZONE_CHECK_US;
        return 0;
    }

    daemon_drain(d);

    ps_log(PS_LOG_INFO, "event=zone_detached zone=%s zone_id=%016llx "
           "records=%llu live_rings=%u",
           ps_log_quote(q, sizeof(q), d->cfg->zone),
           (unsigned long long) d->zone->geo.zone_id,
           (unsigned long long) ps_pipeline_records(d->pipe), live);

    daemon_detach(d);

    if (daemon_attach(d, zone, rr) != 0) {
        return PS_EXIT_RUNTIME;
    }

    ps_log(PS_LOG_INFO, "event=zone_attached zone=%s zone_id=%016llx "
           "rings=%u", ps_log_quote(q, sizeof(q), d->cfg->zone),
           (unsigned long long) d->zone->geo.zone_id,
           d->zone->geo.ring_count);

    return 0;
}


/* One turn of the loop; 0 or an exit status. */
static int
daemon_step(daemon_t *d)
{
    int       rc;
    size_t    n;
    uint64_t  now, took, interval, pause;

    if (*d->sig->reopen_logs) {
        *d->sig->reopen_logs = 0;
        if (ps_log_reopen() == 0) {
            ps_log(PS_LOG_INFO, "event=log_reopened");
        }
    }

    n = ps_pipeline_poll(d->pipe, POLL_BATCH);
    now = ps_mono_us();

    /* flushes the sinks that are due, releases what they hold; at once
     * when a ring is half full of read records, so that a burst beyond
     * capacity per flush interval is not dropped, but only once the
     * rings are read: a backlog read first goes in one flush (every key
     * written once) instead of in every flush it would have overlapped,
     * and is released as soon (reading is many times faster) */
    ps_pipeline_flush(d->pipe, now,
                      n < POLL_BATCH && ps_ring_reader_half_full(d->rr)
                      ? PS_PIPELINE_FLUSH_EARLY : 0);

    if (now >= d->next_snapshot) {
        /* a slow snapshot (very many keys) takes at most a fifth of the
         * loop while the rings have a backlog, so that draining catches
         * up, and at most two thirds once they are read to their end, so
         * that a snapshot of 100 000 rows (0.2 s) still comes every
         * snapshot_interval */
        daemon_publish(d);
        took = ps_mono_us() - now;
        interval = d->cfg->snapshot_interval_ms * 1000;
        pause = n == POLL_BATCH ? 4 * took : took + took / 2;
        d->next_snapshot = now + (interval > pause ? interval : pause);
    }

    if (now >= d->next_reap) {
        (void) ps_ring_reader_reap(d->rr);
        d->next_reap = now + REAP_INTERVAL_US;
    }

    ps_zone_heartbeat(d->zone, ps_now_us());

    rc = daemon_follow_zone(d, now);
    if (rc != 0) {
        return rc;
    }

    if (n < POLL_BATCH) {
        ps_sleep_ms(IDLE_SLEEP_MS);
    }

    return 0;
}


int
ps_cmd_daemon(const ps_config_t *cfg, const ps_signals_t *sig)
{
    int                rc;
    char               qzone[512];
    daemon_t           d;
    ps_zone_t         *zone;
    ps_ring_reader_t  *rr;

    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    d.sig = sig;

    rc = daemon_check_schema(cfg);
    if (rc != 0) {
        return rc;
    }

    /*
     * The windows hold two hours of keys at the per-hour limit: older
     * keys are folded into the overflow key when room is needed
     * (windows.h), so a flood ages out with the windows.
     */
    d.win = ps_windows_create(2 * cfg->max_keys_per_hour);
    d.mon = ps_monitor_create(cfg);
    d.snap = (d.win != NULL && d.mon != NULL)
             ? ps_snapshot_create(cfg, d.win) : NULL;
    if (d.snap == NULL) {
        ps_monitor_destroy(d.mon);
        ps_windows_destroy(d.win);
        return PS_EXIT_RUNTIME;
    }

    ps_snapshot_use_monitor(d.snap, d.mon);

    rc = ps_cmd_open_consumer(cfg, &zone, &rr);
    if (rc == 0) {
        rc = daemon_attach(&d, zone, rr);
    }

    if (rc != 0) {
        ps_snapshot_destroy(d.snap);
        ps_monitor_destroy(d.mon);
        ps_windows_destroy(d.win);
        return rc;
    }

    ps_log(PS_LOG_INFO, "event=start version=%s pid=%d zone=%s "
           "node_id=%s rings=%u flush_interval_ms=%lu redis=%s postgres=%s",
           PATHSTATS_VERSION, (int) getpid(),
           ps_log_quote(qzone, sizeof(qzone), cfg->zone), cfg->node_id,
           d.zone->geo.ring_count, (unsigned long) cfg->flush_interval_ms,
           cfg->redis ? "on" : "off", cfg->postgres ? "on" : "off");

    if (cfg->postgres) {
        (void) ps_pg_windows_load(d.win, cfg->postgres, cfg->node_id,
                                 ps_now_us());
        d.trends = ps_trends_start(cfg->postgres, TRENDS_INTERVAL_MS);
        d.days = ps_day_windows_start(cfg->postgres, cfg->node_id,
                                      cfg->day_windows_interval_ms);
        /* its own thread and connection: draining never waits for it */
        if (cfg->lifecycle) {
            d.sched = ps_scheduler_start(cfg);
        }
        d.fleet = ps_fleet_start(cfg);
    }

    ps_snapshot_use_trends(d.snap, d.trends);
    ps_snapshot_use_day_windows(d.snap, d.days);
    ps_snapshot_use_scheduler(d.snap, d.sched);
    ps_snapshot_use_fleet(d.snap, d.fleet);

    rc = 0;

    while (*sig->stop == 0 && rc == 0) {
        rc = daemon_step(&d);
    }

    if (d.pipe != NULL) {
        /* what the workers published before the signal */
        daemon_drain(&d);

        ps_log(PS_LOG_INFO, "event=stop signal=%d records=%llu",
               (int) *sig->stop,
               (unsigned long long) ps_pipeline_records(d.pipe));
    }

    ps_scheduler_stop(d.sched);
    ps_snapshot_use_fleet(d.snap, NULL);
    ps_fleet_stop(d.fleet);
    ps_trends_stop(d.trends);
    ps_snapshot_destroy(d.snap);
    ps_day_windows_stop(d.days);
    ps_monitor_destroy(d.mon);
    ps_windows_destroy(d.win);
    daemon_detach(&d);

    return rc;
}
