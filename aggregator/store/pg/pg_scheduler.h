/*
 * The daemon's lifecycle scheduler: a thread of its own with its own
 * PostgreSQL connection (pg_conn.c), so the draining loop and the
 * flushes never wait for it.  Once a day, when the UTC time of day has
 * passed lifecycle_at and no node of the fleet has completed a run
 * since (pathstats_lifecycle_runs), it runs the lifecycle
 * (pg_lifecycle.h); the advisory lock lets one node at a time run it.
 * A stop request ends a run after its current step.  Every minute it
 * refreshes the sizes and the last verify for the snapshot.
 */

#ifndef PS_PG_SCHEDULER_H
#define PS_PG_SCHEDULER_H

#include "config/config.h"
#include "store/pg/lifecycle_status.h"

typedef struct ps_scheduler_s  ps_scheduler_t;

/* Starts the thread (cfg must outlive it); NULL on failure (logged). */
ps_scheduler_t *ps_scheduler_start(const ps_config_t *cfg);

/* Stops the thread (after the current step) and frees it; NULL is
 * allowed. */
void ps_scheduler_stop(ps_scheduler_t *s);

/* Copies the current status into st; s may be NULL (then disabled). */
void ps_scheduler_status(ps_scheduler_t *s, ps_lifecycle_status_t *st);

#endif /* PS_PG_SCHEDULER_H */
