/*
 * PostgreSQL sink: applies each flush's delta to pathstats_hourly and
 * advances this node's pathstats_watermark rows in one transaction, so a
 * retry or a replay after a crash never counts twice (see sink.h).
 */

#ifndef PS_SINK_PG_H
#define PS_SINK_PG_H

#include "config/config.h"
#include "pipeline/sink.h"

/* Creates the sink for cfg->postgres (not connected yet); NULL if memory
 * ran out.  Durable: the rings are released only to what it holds. */
ps_sink_t *ps_sink_pg_create(const ps_config_t *cfg);

#endif /* PS_SINK_PG_H */
