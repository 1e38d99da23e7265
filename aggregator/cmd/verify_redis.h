/*
 * verify's Redis part: every closed hour Redis still holds, compared
 * exactly with the sums over the nodes of its pathstats_hourly rows.
 */

#ifndef PS_VERIFY_REDIS_H
#define PS_VERIFY_REDIS_H

#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"

/* An hour is closed, and compared, once it ended this many flush
 * intervals ago (and at least PS_VERIFY_CLOSED_MIN_S): every node has
 * flushed it to both stores by then. */
#define PS_VERIFY_CLOSED_FLUSHES  5
#define PS_VERIFY_CLOSED_MIN_S    60

/* Prints a row per closed hour Redis holds (or one "skipped" row
 * without redis) in verify's table and adds to *checked (hours) and
 * *bad (hours that differ); *keys gets the keys compared.  0, or an
 * exit status when Redis or PostgreSQL cannot be read (printed on
 * stderr, naming the address or table). */
int ps_verify_redis(const ps_config_t *cfg, PGconn *conn, int64_t now_us,
    int *checked, int *bad, int64_t *keys);

#endif /* PS_VERIFY_REDIS_H */
