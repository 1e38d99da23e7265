/*
 * Redis repair state: what this aggregator has handed to Redis for each
 * live hour, cumulatively (per "<host>\t<method>\t<path>" field the
 * counters Redis stores, per client text its requests), so that the
 * Redis sink can write its whole contribution to an hour again when
 * Redis lost it (FLUSHALL, a restart without persistence).  Only the
 * fields Redis stores are kept: no histograms, no HyperLogLogs.
 *
 * Bounded: at most PS_REDIS_REPAIR_HOURS hours; per hour at most
 * max_keys fields (further keys count in the field "*\t*\t{other}", as
 * the aggregation table's overflow key does) and max_clients client
 * texts (the requests of further clients count in clients_folded).
 * An hour that was forgotten (ps_redis_repair_keep_from(), or evicted
 * for a newer one) is never kept again: its state would be partial.
 * Not thread-safe.
 */

#ifndef PS_REDIS_REPAIR_H
#define PS_REDIS_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "agg/agg_table.h"
#include "lib/counts.h"
#include "ring/rec.h"

#define PS_REDIS_REPAIR_HOURS  3

typedef struct ps_redis_repair_s  ps_redis_repair_t;

typedef struct {
    char       *field;            /* host \t method \t path, NUL-ended */
    uint32_t    field_len;
    uint16_t    shard;            /* redis_shard.h */
    uint64_t    hash;
    ps_counts_t counts;
} ps_redis_repair_entry_t;

typedef struct {
    uint64_t    requests;
    uint64_t    hash;
    uint16_t    shard;            /* redis_shard.h */
    uint8_t     len;
    char        text[PS_REC_CLIENT_MAX];
} ps_redis_repair_client_t;

/* One kept hour; read-only outside redis_repair.c. */
typedef struct {
    int64_t                    hour;          /* -1: slot unused */
    int                        broken;        /* a merge ran out of memory */
    ps_redis_repair_entry_t   *entries;
    size_t                     nentries;
    size_t                     entries_cap;
    uint32_t                  *index;         /* entry + 1, 0 = free */
    size_t                     index_cap;
    ps_redis_repair_client_t  *clients;
    size_t                     nclients;
    size_t                     clients_cap;
    uint32_t                  *cindex;
    size_t                     cindex_cap;
    uint64_t                   clients_folded; /* requests, not in clients */
} ps_redis_repair_hour_t;

/* Creates an empty state for an hour spread over shards (redis_shard.h:
 * each entry and client knows its shard); NULL when memory ran out. */
ps_redis_repair_t *ps_redis_repair_create(size_t max_keys,
    size_t max_clients, unsigned shards);

/* Frees everything; NULL is allowed. */
void ps_redis_repair_destroy(ps_redis_repair_t *rp);

/* Forgets the hours before hour, and never keeps them again. */
void ps_redis_repair_keep_from(ps_redis_repair_t *rp, int64_t hour);

/* Adds the Redis counters of e into its hour (created if it may be
 * kept).  0 added, 1 the hour is not kept, -1 memory ran out (the hour
 * is then marked broken and no longer offered for repair).  at (may be
 * NULL) is set to the index + 1 in the hour's entries of e's own field,
 * 0 when its counters went elsewhere (the hour not kept, or e folded
 * into the overflow field). */
int ps_redis_repair_add_entry(ps_redis_repair_t *rp,
    const ps_agg_entry_t *e, uint32_t *at);

/* Marks hour broken, if it is kept: its state no longer matches what
 * was handed to Redis (a flush that took it failed). */
void ps_redis_repair_break(ps_redis_repair_t *rp, int64_t hour);

/* Adds requests of client text (len bytes, < PS_REC_CLIENT_MAX; len 0:
 * a client that was folded already) into hour; 0, 1 or -1 as above. */
int ps_redis_repair_add_client(ps_redis_repair_t *rp, int64_t hour,
    const char *text, size_t len, uint64_t requests);

/* The complete state of hour, or NULL when it is not kept or broken. */
const ps_redis_repair_hour_t *ps_redis_repair_hour(
    const ps_redis_repair_t *rp, int64_t hour);

/* Fills hours[] with the kept (complete) hours, oldest first; returns
 * how many (at most PS_REDIS_REPAIR_HOURS). */
size_t ps_redis_repair_hours(const ps_redis_repair_t *rp, int64_t *hours);

/* Sum of requests of the hour's fields (0 when not kept). */
uint64_t ps_redis_repair_requests(const ps_redis_repair_hour_t *h);

/* A chunk of an hour's repair, written by one script: the fields
 * [field0, field0 + nfields) and the clients [client0, client0 +
 * nclients) of the hour's arrays.  The fields come first, then the
 * clients; a chunk holds at most chunk fields, a client costing
 * 1 / PS_REDIS_REPAIR_CLIENT_COST of a field (a client is one PFADD and
 * one ZINCRBY, a field seven commands). */
typedef struct {
    size_t      field0;
    size_t      nfields;
    size_t      client0;
    size_t      nclients;
} ps_redis_repair_span_t;

#define PS_REDIS_REPAIR_CLIENT_COST  4

/* How many chunks of at most chunk (>= 1) fields the repair of nfields
 * fields and nclients clients takes; at least 1 (an hour without fields
 * still writes its totals and watermarks). */
size_t ps_redis_repair_nchunks(size_t nfields, size_t nclients,
    size_t chunk);

/* Fills span with chunk k (< ps_redis_repair_nchunks()) of that repair. */
void ps_redis_repair_span(size_t nfields, size_t nclients, size_t chunk,
    size_t k, ps_redis_repair_span_t *span);

#endif /* PS_REDIS_REPAIR_H */
