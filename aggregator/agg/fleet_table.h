/*
 * The fleet's rows: per (host, method, path), the sum over every node of
 * its hourly rows (pathstats_hourly) in two parts, the closed hours and
 * the live ones, so that the closed hours are read from PostgreSQL once
 * and only the live ones again at each refresh.  A key's stats over the
 * whole span are the two parts merged.  Not thread-safe: the fleet
 * thread owns it.
 */

#ifndef PS_FLEET_TABLE_H
#define PS_FLEET_TABLE_H

#include <stddef.h>

#include "agg/windows.h"

enum {
    PS_FLEET_CLOSED = 0,
    PS_FLEET_LIVE,
    PS_FLEET_PARTS
};

typedef struct ps_fleet_table_s  ps_fleet_table_t;

/* An empty table; NULL if memory ran out. */
ps_fleet_table_t *ps_fleet_table_create(void);

/* NULL is allowed. */
void ps_fleet_table_destroy(ps_fleet_table_t *t);

/* Empties part of every key (keeping its memory for the next adds);
 * keys that were empty already, with neither part since the last reset,
 * are dropped.  An empty key is in no foreach. */
void ps_fleet_table_reset(ps_fleet_table_t *t, int part);

/* Adds st (one node's row of one hour) to part of its key; 0 or -1. */
int ps_fleet_table_add(ps_fleet_table_t *t, int part, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen, const ps_win_stats_t *st);

/* Calls fn for every key with requests, with its two parts merged (a
 * ps_rowset_source_fn); st is valid during the call only.  0, -1 if
 * memory ran out, or fn's first non-zero value. */
int ps_fleet_table_foreach(void *t, ps_win_key_fn fn, void *ctx);

/* Keys held, the empty ones not dropped yet included. */
size_t ps_fleet_table_keys(const ps_fleet_table_t *t);

#endif /* PS_FLEET_TABLE_H */
