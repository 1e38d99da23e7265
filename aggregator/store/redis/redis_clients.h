/*
 * Redis client buffer: the client address texts of the records since the
 * last flush, per hour, with their request counts, for PFADD into
 * clients:uniq and ZINCRBY into clients:top (the delta holds clients only
 * as postgresql-hll HyperLogLogs, which Redis cannot merge).  At most
 * PS_REDIS_CLIENTS_MAX distinct (hour, client) pairs; the requests of
 * further clients count in the hour's fold, an entry of length 0.
 * Not thread-safe.
 */

#ifndef PS_REDIS_CLIENTS_H
#define PS_REDIS_CLIENTS_H

#include <stddef.h>
#include <stdint.h>

#include "ring/rec.h"

#define PS_REDIS_CLIENTS_MAX  16384

/* One (hour, client) of the buffer; len 0 is the hour's fold. */
typedef struct {
    int64_t    hour;
    uint64_t   requests;
    uint8_t    len;
    char       text[PS_REC_CLIENT_MAX];
} ps_redis_client_t;

/* Read-only outside redis_clients.c, but for folded. */
typedef struct {
    ps_redis_client_t  *clients;        /* PS_REDIS_CLIENTS_MAX + 64 */
    uint32_t           *slots;          /* index + 1, 0 = free */
    size_t              nclients;
    uint64_t            folded;         /* requests folded; reset by the
                                           caller when it logs them */
} ps_redis_clients_t;

/* Allocates an empty buffer into cb; 0, or -1 when memory ran out (cb
 * may then hold part of it: ps_redis_clients_free() it). */
int ps_redis_clients_init(ps_redis_clients_t *cb);

/* Frees what cb holds; a zeroed cb is allowed. */
void ps_redis_clients_free(ps_redis_clients_t *cb);

/* Counts one request of client text (len bytes, 0 < len <
 * PS_REC_CLIENT_MAX) in hour, in the hour's fold when the buffer is
 * full. */
void ps_redis_clients_add(ps_redis_clients_t *cb, int64_t hour,
    const char *text, size_t len);

/* Adds every client of src (its requests, its folded ones) to dst and
 * empties src. */
void ps_redis_clients_move(ps_redis_clients_t *dst, ps_redis_clients_t *src);

/* Empties the buffer (folded is left to the caller). */
void ps_redis_clients_clear(ps_redis_clients_t *cb);

#endif /* PS_REDIS_CLIENTS_H */
