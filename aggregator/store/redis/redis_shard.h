/*
 * Redis shards: the keys of one hour are spread over redis_shards hash
 * tags, {YYYYMMDDHH.0} .. {YYYYMMDDHH.<shards - 1>} (each followed by
 * ".k" when needed to put shard s in the s-th of shards equal ranges of
 * the 16384 slots), so that a Redis Cluster spreads an hour evenly over
 * its masters instead of one slot taking every write.  A path field (host \t method \t path) and a client text
 * go to the shard crc32(bytes) mod shards (zlib's CRC-32, the one of
 * gzip and PNG), so every node puts the same path in the same shard and
 * the shards' sums are fleet-wide; readers find a field by the same
 * rule, or read all shards.  Every node sharing a Redis must use the
 * same number of shards.
 */

#ifndef PS_REDIS_SHARD_H
#define PS_REDIS_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define PS_REDIS_SHARDS_MAX  1024

/* The shard of the field host \t method \t path. */
unsigned ps_redis_shard_of_key(const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    unsigned shards);

/* The shard of a field already joined with its tabs, or of a client
 * text. */
unsigned ps_redis_shard_of(const char *p, size_t len, unsigned shards);

/* Writes "pathstats:{YYYYMMDDHH.s}:" of hour and shard (of shards)
 * into buf (at least 48 bytes); when the tag's slot is not in the s-th
 * of shards equal ranges of the cluster's slots, "{YYYYMMDDHH.s.k}"
 * with the first k whose slot is (redis_shard.c), so that an hour's
 * shards spread evenly over the masters of a cluster. */
void ps_redis_key_prefix(char *buf, size_t size, int64_t hour,
    unsigned shard, unsigned shards);

#endif /* PS_REDIS_SHARD_H */
