/*
 * Ring reader: the consumer side of the zone's per-worker rings.
 *
 * Reading and releasing are separate: records handed out by
 * ps_ring_reader_poll() stay in their units (the producer cannot reuse a
 * unit before head moves past it) until the caller releases them, which
 * it does only once everything read is durable in its sinks (or in the
 * spool's write-ahead log).  So a crash between read and release re-reads,
 * never loses.  Positions (pos, head, tail, limits, watermarks) count
 * units; a record starts at one.
 */

#ifndef PS_RING_READER_H
#define PS_RING_READER_H

#include <stddef.h>
#include <stdint.h>

#include "pathstats_shm.h"
#include "ring/zone.h"

typedef struct ps_ring_reader_s  ps_ring_reader_t;

/* Called for each record, at its position pos (the unit it starts at);
 * rec is a private copy, its lengths checked, valid during the call. */
typedef void (*ps_record_fn)(void *ctx, uint32_t ring, uint64_t pos,
    const ps_record_t *rec);

/* Creates a reader starting at each ring's head; the zone must be open
 * read-write.  NULL on failure. */
ps_ring_reader_t *ps_ring_reader_create(ps_zone_t *zone);

/* Frees the reader; does not touch the zone. */
void ps_ring_reader_destroy(ps_ring_reader_t *rr);

/* Moves the read position of ring forward to pos (a sink watermark);
 * never backwards, never past the ring's tail.  Records in between are
 * released as already consumed. */
void ps_ring_reader_skip_to(ps_ring_reader_t *rr, uint32_t ring,
    uint64_t pos);

/* Hands out up to max unread records, ring by ring; returns how many. */
size_t ps_ring_reader_poll(ps_ring_reader_t *rr, size_t max,
    ps_record_fn fn, void *ctx);

/* Makes ps_ring_reader_poll() stop at position limit of ring until it
 * is lifted (UINT64_MAX: no limit, the default). */
void ps_ring_reader_limit(ps_ring_reader_t *rr, uint32_t ring,
    uint64_t limit);

/* Position up to which records of ring have been handed out. */
uint64_t ps_ring_reader_position(const ps_ring_reader_t *rr, uint32_t ring);

/* Records handed out between positions from and to of ring (to <= the
 * read position; for a lag: the read position minus a sink's). */
uint64_t ps_ring_reader_records(ps_ring_reader_t *rr, uint32_t ring,
    uint64_t from, uint64_t to);

/* 1 when some ring holds more than half its capacity of units handed
 * out but not yet released (position - head), else 0: a flush now would
 * free that room before the producer fills the ring and drops.  Only
 * read records count, as a flush cannot release unread ones. */
int ps_ring_reader_half_full(const ps_ring_reader_t *rr);

/* Releases every handed-out record of every ring (head := position). */
void ps_ring_reader_release_all(ps_ring_reader_t *rr);

/* Releases ring up to pos (<= its read position). */
void ps_ring_reader_release(ps_ring_reader_t *rr, uint32_t ring,
    uint64_t pos);

/* Frees rings whose owner is proven dead (pid gone, zombie, or start time
 * changed) and whose records are all released, accounting a stuck record
 * as lost.  Returns how many rings were freed. */
unsigned ps_ring_reader_reap(ps_ring_reader_t *rr);

#endif /* PS_RING_READER_H */
