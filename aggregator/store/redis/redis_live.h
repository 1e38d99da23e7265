/*
 * Reading Redis' live hours back (verify): an hour's path fields and
 * totals, summed over its redis_shards shards, as plain numbers, so that
 * the layers above compare them with PostgreSQL without seeing a
 * hiredis type.  Standalone or cluster (redis_cluster.h).
 */

#ifndef PS_REDIS_LIVE_H
#define PS_REDIS_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* The six counters of a paths field, in the order Redis stores them. */
#define PS_LIVE_PATH_COUNTERS  6

/* The counters of a totals hash, in this order. */
#define PS_LIVE_TOTALS         11

/* Their names (the hash's fields; the six of a path are the first two,
 * then bytes_in, bytes_out, latency_sum_us, latency_max_us). */
extern const char *const  ps_live_path_names[PS_LIVE_PATH_COUNTERS];
extern const char *const  ps_live_total_names[PS_LIVE_TOTALS];

/* One path of an hour: the field host \t method \t path and its
 * counters (requests errors bytes_in bytes_out latency_sum_us
 * latency_max_us). */
typedef struct {
    char      *field;
    uint64_t   v[PS_LIVE_PATH_COUNTERS];
} ps_live_path_t;

/* An hour as Redis holds it: its paths sorted by field (bytewise), the
 * totals summed over the shards (latency_max_us: their maximum). */
typedef struct {
    ps_live_path_t  *paths;
    size_t           npaths;
    uint64_t         totals[PS_LIVE_TOTALS];
    int              held;        /* some key of the hour exists */
} ps_live_hour_t;

typedef struct ps_redis_live_s  ps_redis_live_t;

/* Connects to the configured Redis; NULL with the reason, naming the
 * address, in err. */
ps_redis_live_t *ps_redis_live_open(const ps_config_t *cfg, char *err,
    size_t errlen);

/* Reads hour (unix seconds of its start) into *out (freed with
 * ps_live_hour_free() also on failure); 0, or -1 with the reason and
 * the address in err. */
int ps_redis_live_hour(ps_redis_live_t *l, int64_t hour,
    ps_live_hour_t *out, char *err, size_t errlen);

/* Frees what ps_redis_live_hour() read. */
void ps_live_hour_free(ps_live_hour_t *h);

/* Closes the connections; NULL is allowed. */
void ps_redis_live_close(ps_redis_live_t *l);

#endif /* PS_REDIS_LIVE_H */
