/*
 * The fleet thread: every fleet_interval, with a PostgreSQL connection of
 * its own (store/pg/fleet_pg.c), it
 *
 *   1. writes this node's heartbeat and own view (handed over by the
 *      snapshot writer, ps_fleet_offer()) into pathstats_fleet_nodes;
 *   2. reads every node's heartbeat: /api/nodes, each node ok, stale
 *      (no heartbeat for node_stale) or gone (node_gone), and the
 *      fleet's metrics lines;
 *   3. reads the fleet's rows of the last 24 hours (pathstats_hourly,
 *      every node's; the closed hours once an hour, the last two every
 *      time) and builds the fleet's view: the 24h window, a summary
 *      (24h exact from the rows; 1m and 1h as the sums of the nodes'
 *      heartbeats), health (stale nodes are problems), trends;
 *   4. nests the fleet's view and the other nodes' own views (a stale
 *      one flagged) into a PS_SNAP_SCOPES body for the snapshot writer
 *      (ps_fleet_take()).
 *
 * Nothing the draining loop does waits for it: the writer takes the last
 * result, whatever its age.
 */

#ifndef PS_FLEET_H
#define PS_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/strbuf.h"
#include "pathstats_snapshot.h"
#include "store/pg/fleet_pg.h"

typedef struct ps_fleet_s  ps_fleet_t;

/* Starts the thread for cfg (cfg->postgres set; cfg outlives it); NULL
 * on failure (logged). */
ps_fleet_t *ps_fleet_start(const ps_config_t *cfg);

/* Stops the thread and frees everything; NULL is allowed. */
void ps_fleet_stop(ps_fleet_t *f);

/* 1 when the thread wants a fresh view of this node (once per
 * fleet_interval), else 0. */
int ps_fleet_due(ps_fleet_t *f, uint64_t now_us);

/* The pause after a round of the fleet thread that took took_us:
 * fleet_interval, or 4 * took_us when longer, at most node_stale / 3
 * (never below fleet_interval). */
uint64_t ps_fleet_wait_us(const ps_config_t *cfg, uint64_t took_us);

/* Hands over this node's own view (a scope pack), its heartbeat's
 * numbers, the trends of each range (copied) and the bytes the scopes
 * may take in this node's snapshot (budget; the fleet's rows are cut to
 * fit, then the other nodes' views left out; 0: no limit); 0 or -1. */
int ps_fleet_offer(ps_fleet_t *f, const ps_buf_t *view,
    const ps_fleet_beat_t *beat, const ps_buf_t *trends, size_t budget);

/* If the thread has a newer result than the last taken: copies the
 * PS_SNAP_SCOPES body into scopes, the /api/nodes array into nodes and
 * the fleet's Prometheus lines into metrics, and returns 1; 0 when
 * nothing is new; -1 if memory ran out. */
int ps_fleet_take(ps_fleet_t *f, ps_buf_t *scopes, ps_buf_t *nodes,
    ps_buf_t *metrics);

#endif /* PS_FLEET_H */
