/*
 * The fleet in PostgreSQL (schema 005): each node's heartbeat and own
 * view in pathstats_fleet_nodes, every node's list, and the fleet's rows
 * (pathstats_hourly summed over nodes) read into a fleet table.  One
 * connection, owned by the fleet thread; not thread-safe.
 */

#ifndef PS_FLEET_PG_H
#define PS_FLEET_PG_H

#include <stddef.h>
#include <stdint.h>

#include "agg/fleet_table.h"
#include "lib/strbuf.h"

#define PS_FLEET_NODE_ID_MAX  64

typedef struct ps_fleet_pg_s  ps_fleet_pg_t;

/* A node's heartbeat, as it writes it. */
typedef struct {
    const char   *node_id;
    const char   *version;
    uint64_t      zone_generation;
    uint64_t      last_flush_us;    /* 0: none yet */
    uint64_t      lag_records;
    uint64_t      requests[3];      /* in its 1m, 1h and 24h windows */
    const void   *view;             /* its scope pack, NULL: none */
    size_t        view_len;
} ps_fleet_beat_t;

/* A node as read back; view is set for the nodes asked for. */
typedef struct {
    char          node_id[PS_FLEET_NODE_ID_MAX + 1];
    char          version[64];
    uint64_t      zone_generation;
    uint64_t      heartbeat_us;
    uint64_t      last_flush_us;    /* 0: none yet */
    uint64_t      age_ms;           /* of the heartbeat, database clock */
    uint64_t      lag_records;
    uint64_t      requests[3];
    void         *view;             /* malloc'd, NULL: not read */
    size_t        view_len;
} ps_fleet_node_t;

/* A handle for conninfo (copied); connects when first used.  NULL if
 * memory ran out. */
ps_fleet_pg_t *ps_fleet_pg_create(const char *conninfo);

/* NULL is allowed. */
void ps_fleet_pg_destroy(ps_fleet_pg_t *f);

/* Writes b as its node's heartbeat (now, on the database's clock); 0, or
 * -1 (logged once per outage; the connection is dropped). */
int ps_fleet_pg_beat(ps_fleet_pg_t *f, const ps_fleet_beat_t *b);

/* Every node, by id, into *nodes (malloc'd, *n of them; free with
 * ps_fleet_pg_free_nodes()); the views of the nodes other than self
 * whose heartbeat is younger than view_ms.  0 or -1. */
int ps_fleet_pg_nodes(ps_fleet_pg_t *f, const char *self, uint64_t view_ms,
    ps_fleet_node_t **nodes, size_t *n);

/* Frees what ps_fleet_pg_nodes() gave. */
void ps_fleet_pg_free_nodes(ps_fleet_node_t *nodes, size_t n);

/* Adds every node's rows of the hours [from_hour, to_hour) (unix
 * seconds; to_hour 0: no end) to part of t; 0 or -1. */
int ps_fleet_pg_rows(ps_fleet_pg_t *f, ps_fleet_table_t *t, int part,
    int64_t from_hour, int64_t to_hour);

/*
 * The fleet's view is built by one node at a time: the one whose fleet
 * connection holds a session advisory lock (schema 006).
 */

/* 1 when this node builds the fleet's view: its connection holds the
 * lock, taken now if free (self is logged when it is); 0 when another
 * node's connection holds it; -1 on error (logged once per outage; the
 * connection is dropped, and the lock with it). */
int ps_fleet_pg_lead(ps_fleet_pg_t *f, const char *self);

/* Stores view (a scope pack of rows fleet rows) as the fleet's view
 * built by self; 0 or -1. */
int ps_fleet_pg_put_view(ps_fleet_pg_t *f, const char *self, size_t rows,
    const void *view, size_t len);

/* The fleet's view built by another node than self within the last
 * max_ms (database clock): 1 with it in view and its builder's id in
 * by[by_len]; 0 when there is none that young; -1 on error. */
int ps_fleet_pg_get_view(ps_fleet_pg_t *f, const char *self, uint64_t max_ms,
    ps_buf_t *view, char *by, size_t by_len);

#endif /* PS_FLEET_PG_H */
