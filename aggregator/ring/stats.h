/*
 * The zone's flow counters, per ring and in total, as read by --stats
 * (and by anything that reports pipeline health).  For every ring
 *
 *   seen = recorded + dropped,  recorded = consumed + in_ring + lost
 *
 * with recorded = records + lost, in_ring = records - consumed (records
 * and consumed count records; head and tail count 32-byte units).
 * While workers write, seen may run one request ahead per ring.
 */

#ifndef PS_STATS_H
#define PS_STATS_H

#include <stdint.h>

#include <jansson.h>

#include "ring/zone.h"

typedef struct {
    uint64_t  owner;          /* ownership word; PS_OWNER_FREE if free */
    uint64_t  seen;
    uint64_t  recorded;
    uint64_t  dropped;
    uint64_t  consumed;
    uint64_t  in_ring;
    uint64_t  lost;
    uint64_t  claims;
    uint64_t  head;           /* units released: the position a sink's
                                 watermark reaches once it is drained */
} ps_ring_stats_t;

/* Reads ring i's counters, consumer side first, so that in_ring is never
 * negative and seen >= recorded + dropped. */
void ps_stats_ring(const ps_zone_t *zone, uint32_t i, ps_ring_stats_t *out);

/* The --stats object: zone identity and geometry, "totals", "rings"
 * (with owner_pid and owner_alive) and "aggregator" (pid, heartbeat age
 * at now_us).  NULL if memory ran out. */
json_t *ps_stats_json(const ps_zone_t *zone, uint64_t now_us);

#endif /* PS_STATS_H */
