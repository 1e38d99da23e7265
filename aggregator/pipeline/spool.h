/*
 * Spool: a durable local queue of flushes that could not reach a durable
 * sink (PostgreSQL), replayed in order when it is back.
 *
 * One segment file per spooled flush in the spool directory, named by a
 * 16-hex-digit sequence number ("00000000000000a3.seg"), so that replay
 * order is the write order.  A segment is written to a temporary name,
 * fsync'd, renamed and the directory fsync'd: after ps_spool_write()
 * returns 0 it survives a crash or a power loss.
 *
 * Segment format (integers little-endian):
 *
 *   header   "PSSPOOL\0" magic (8), u32 version (1), u32 nrings,
 *            u64 file length, u64 zone_id, u64 records, u64 entries,
 *            u64 created (unix us), u32 node_id length + node_id bytes,
 *            u64 start[nrings], u64 end[nrings]
 *   entries  per entry: i64 hour, u32 host/method/path lengths + bytes,
 *            u64 requests, status[5], errors, bytes_in, bytes_out,
 *            latency_sum_us, latency_max_us, first_seen_us, last_seen_us,
 *            u32 length + histogram (ps_hist_encode),
 *            u32 length + HyperLogLog (ps_hll_serialize)
 *   trailer  u32 CRC-32 (zlib) of every byte before it
 *
 * A segment that fails its checks (truncated, bad magic or CRC) is moved
 * to spool_dir/corrupt/, logged and counted, never applied.
 *
 * When the last segment is removed, its end positions are kept in
 * spool_dir/last.end (checksummed, fsync'd before the removal), so that
 * ps_spool_last_end() still knows them after a restart.
 *
 * Bounded: the segments together stay within max_bytes; a flush that
 * does not fit is not written, and its records are counted as dropped.
 *
 * Thread-safe: one thread may write while another loads and pops (the
 * write-ahead log of pipeline.c), and any thread may read the stats or
 * the number of segments, which never wait for disk I/O.
 */

#ifndef PS_SPOOL_H
#define PS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "agg/agg_table.h"

typedef struct ps_spool_s  ps_spool_t;

/* The oldest segment, as ps_spool_head() loaded it. */
typedef struct {
    uint64_t                seq;
    uint64_t                zone_id;
    uint32_t                nrings;
    uint64_t                records;      /* records counted in delta */
    const uint64_t         *start;        /* [nrings] ring positions */
    const uint64_t         *end;          /* [nrings] */
    const ps_agg_table_t   *delta;
} ps_spool_seg_t;

/* What the spool holds and has lost. */
typedef struct {
    uint64_t  segments;          /* waiting for replay */
    uint64_t  bytes;             /* their total size */
    uint64_t  max_bytes;
    uint64_t  written;           /* segments written since open */
    uint64_t  replayed;          /* segments removed after replay */
    uint64_t  dropped_flushes;   /* flushes that did not fit */
    uint64_t  dropped_records;   /* their records: lost, and said so */
    uint64_t  corrupt;           /* segments moved to corrupt/ */
    int       full;              /* the last flush did not fit; cleared
                                    by a write or when replay empties it */
    char      error[160];        /* the last write's I/O error ("write
                                    00000000000000a4.tmp: No space left
                                    on device"), empty after a
                                    successful write */
} ps_spool_stats_t;

/* Opens dir (creating it and dir/corrupt), removes unfinished temporary
 * files and indexes the segments, checking the newest; node_id is
 * recorded in new segments, max_keys sizes the replay table.  NULL on
 * failure (logged). */
ps_spool_t *ps_spool_open(const char *dir, uint64_t max_bytes,
    const char *node_id, size_t max_keys);

/* Closes the spool; the segments stay on disk.  NULL is allowed. */
void ps_spool_close(ps_spool_t *sp);

/* Writes delta as a new segment covering ring positions start..end of
 * zone_id, with the number of records it counts: 0 when it is durable,
 * 1 when it does not fit in max_bytes and drop is set (nothing written;
 * its records are counted as dropped and logged as event=spool_full), 2
 * when it does not fit and drop is not set (nothing written, nothing
 * counted), -1 on an I/O error (logged and kept in the stats' error;
 * nothing written, nothing counted). */
int ps_spool_write(ps_spool_t *sp, uint64_t zone_id,
    const ps_agg_table_t *delta, const uint64_t *start,
    const uint64_t *end, uint32_t nrings, uint64_t records, int drop);

/* Counts the records of a flush that did not fit, and is lost, as
 * ps_spool_write() does with drop set. */
void ps_spool_drop(ps_spool_t *sp, uint64_t records);

/* Number of segments waiting for replay. */
uint64_t ps_spool_pending(const ps_spool_t *sp);

/* Loads the oldest segment into seg (valid until the next load or pop
 * on sp): 0, 1 when the spool is empty, -1 on an I/O error (logged).
 * Corrupt segments on the way are moved aside and counted. */
int ps_spool_head(ps_spool_t *sp, ps_spool_seg_t *seg);

/* As ps_spool_head(), for the i-th oldest segment (0: the oldest): 1
 * when there are only i segments or fewer. */
int ps_spool_load(ps_spool_t *sp, size_t i, ps_spool_seg_t *seg);

/* Removes the oldest segment (it was applied, or found already applied);
 * 0, or -1 on an I/O error (logged). */
int ps_spool_pop(ps_spool_t *sp);

/* Raises pos[0..nrings) to the end positions of the newest segment of
 * zone_id, if there is one: where reading resumes when the sink's own
 * watermarks are unknown or behind. */
void ps_spool_last_end(ps_spool_t *sp, uint64_t zone_id,
    uint64_t *pos, uint32_t nrings);

/* Fills st. */
void ps_spool_stats(const ps_spool_t *sp, ps_spool_stats_t *st);

#endif /* PS_SPOOL_H */
