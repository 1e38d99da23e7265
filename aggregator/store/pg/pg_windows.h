/*
 * The live windows' memory across a restart: the 24h level rebuilt from
 * PostgreSQL's pathstats_hourly.
 */

#ifndef PS_PG_WINDOWS_H
#define PS_PG_WINDOWS_H

#include <stdint.h>

#include "agg/windows.h"

/* Rebuilds the 24h level of w from this node's rows of pathstats_hourly
 * (the hours of the last day, the current one included: what node_id
 * flushed before a restart; records after the durable watermark are read
 * again from the rings, so nothing is counted twice, and other nodes'
 * rows are theirs) with a short connection of its own; best effort: 0,
 * or -1 logged. */
int ps_pg_windows_load(ps_windows_t *w, const char *conninfo,
    const char *node_id, uint64_t now_us);

#endif /* PS_PG_WINDOWS_H */
