/*
 * Redis sink: a hot cache of per-hour counters, top-N sorted sets, unique
 * clients and top client addresses, every key under "pathstats:" with a
 * TTL, an hour spread over redis_shards hash tags so that each shard's
 * update is one Lua script on one Redis Cluster slot, and the shards on
 * every master.  A standalone Redis or a Redis Cluster (redis_cluster.h).
 * Not durable, but it keeps the rings while it is up (a crash then loses
 * nothing it has not confirmed); when Redis loses its data, the sink
 * writes its own contribution to the live hour again from memory (see
 * sink_redis.c).
 */

#ifndef PS_SINK_REDIS_H
#define PS_SINK_REDIS_H

#include <stddef.h>

#include "config/config.h"
#include "pipeline/sink.h"

/* Creates the Redis sink for cfg->redis (NULL if cfg->redis is NULL). */
ps_sink_t *ps_sink_redis_create(const ps_config_t *cfg);
/* Connects (PING and SELECT; a cluster: its slot map); 0 with what it
 * found in err (a cluster's masters, or nothing), or -1 with a reason
 * in err. */
int ps_sink_redis_check(const ps_config_t *cfg, char *err, size_t errlen);

/* A client (not connected yet) of the configured server or cluster, for
 * readers of the live hours (verify); NULL if memory ran out. */
struct ps_redis_cluster_s *ps_redis_client(const ps_config_t *cfg);

#endif /* PS_SINK_REDIS_H */
