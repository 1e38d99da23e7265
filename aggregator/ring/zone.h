/*
 * The zone file as the aggregator sees it: opened as untrusted input
 * (ring/zone_file.h), checked against this build's layout
 * (include/pathstats_shm.h) and mapped.  nginx creates the file; the
 * aggregator never creates, resizes or initialises it.
 *
 * The header is validated once, at open, into geo: every address of a
 * ring descriptor, a slot or a snapshot buffer is computed from that
 * private copy, never from the header, which whoever writes the file can
 * rewrite at any time.  header stays mapped for the counters that nginx
 * and the aggregator exchange through it (no_ring, heartbeat, snapshot
 * version), which are values, never addresses.
 */

#ifndef PS_ZONE_H
#define PS_ZONE_H

#include <stddef.h>
#include <stdint.h>

#include "pathstats_shm.h"

typedef struct {
    char                *path;
    int                  fd;
    int                  writable;  /* mapped read-write */
    size_t               size;      /* mapped bytes: the whole file */
    ps_zone_header_t    *header;    /* the mapping */
    ps_zone_geometry_t   geo;       /* the layout, validated at open */
} ps_zone_t;

/* Opens, checks and maps the zone file, read-write when writable (to
 * consume), read-only otherwise (to look).  Refuses a missing file, a
 * symbolic link, one that is not a regular file, one that another user
 * may have created or may write (zone_file.h), a file that is shorter
 * than its header says or not fully allocated, and a header that does
 * not match this build.  NULL, logged with the reason. */
ps_zone_t *ps_zone_open(const char *path, int writable);

/* Unmaps and closes; NULL is allowed. */
void ps_zone_close(ps_zone_t *zone);

/* Takes the consumer lock on the file, so that two consumers (daemon or
 * --tail) never drain one zone; held until close or exit.  0, or -1
 * logged with the holder's pid. */
int ps_zone_lock_consumer(ps_zone_t *zone);

/* Descriptor of ring i (< geo.ring_count). */
ps_ring_desc_t *ps_zone_ring(const ps_zone_t *zone, uint32_t i);

/* The slot that holds position pos of ring i (< geo.ring_count). */
const ps_record_t *ps_zone_slot(const ps_zone_t *zone, uint32_t i,
    uint64_t pos);

/* Stamps this process as the zone's aggregator (pid, start time). */
void ps_zone_set_aggregator(ps_zone_t *zone, uint64_t started_us);

/* Publishes the aggregator's liveness: heartbeat := now_us. */
void ps_zone_heartbeat(ps_zone_t *zone, uint64_t now_us);

/* 1 when the zone's path now names another file than the one mapped
 * (nginx removed it and created a new zone), else 0. */
int ps_zone_replaced(const ps_zone_t *zone);

#endif /* PS_ZONE_H */
