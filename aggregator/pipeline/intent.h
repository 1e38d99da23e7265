/*
 * Intent: the ring positions of the PostgreSQL flush in flight, kept on
 * disk next to the spool, so that an aggregator restarted while
 * PostgreSQL is down knows which of the records still in the rings the
 * database may already hold.
 *
 * Why: a flush commits rows and watermarks in one transaction, then the
 * rings are released.  A crash between the COMMIT and the release, or a
 * COMMIT whose answer was lost, leaves records in the rings that
 * PostgreSQL may hold.  Restarted with PostgreSQL reachable, its
 * watermarks say which; restarted while it is down, the spool has to
 * stand in without knowing.  A spool segment that began at the ring's
 * head would then straddle the database's watermark and be counted
 * twice in part at replay.  With the intent, the first segment covers
 * exactly the flush in flight (start..end): a transaction applies all of
 * it or none, so the watermarks at replay say which, and the segment is
 * skipped or applied whole.
 *
 * Written before every live COMMIT, overwriting one of two fixed slots
 * in turn (the newer valid one wins, so a torn write leaves the previous
 * intent), and fdatasync'd.  The file is preallocated: a full disk does
 * not stop it.
 *
 * Slot format (integers little-endian): "PSINTNT\0" magic (8), u32
 * version (1), u32 nrings, u64 sequence, u64 zone_id, u64
 * start[nrings], u64 end[nrings], u32 CRC-32 (zlib) of the bytes before
 * it; zero padding to the slot size.
 */

#ifndef PS_INTENT_H
#define PS_INTENT_H

#include <stdint.h>

typedef struct ps_intent_s  ps_intent_t;

/* Opens dir/inflight for zones of nrings rings, creating and
 * preallocating it.  NULL on failure (logged). */
ps_intent_t *ps_intent_open(const char *dir, uint32_t nrings);

/* Closes the file.  NULL is allowed. */
void ps_intent_close(ps_intent_t *in);

/* Records that a flush of ring positions start..end of zone_id is about
 * to commit: 0 once it is on disk, -1 on an I/O error (logged). */
int ps_intent_write(ps_intent_t *in, uint64_t zone_id,
    const uint64_t *start, const uint64_t *end);

/* Loads the newest intent of zone_id into start and end [nrings]: 0, or
 * 1 when there is none (no file, another zone or geometry, both slots
 * invalid). */
int ps_intent_read(ps_intent_t *in, uint64_t zone_id, uint64_t *start,
    uint64_t *end);

#endif /* PS_INTENT_H */
