/*
 * Sinks: where aggregated deltas go (PostgreSQL, Redis).  main.c, the
 * pipeline and the snapshot see only this ops struct and the status it
 * reports, never a libpq or hiredis type; store/store.h builds the
 * configured ones, so that a new sink touches no pipeline code.
 *
 * Threads: flush() (and, through it, whatever it needs) runs in a
 * thread of the sink's own (pipeline/flusher.h), one at a time, while the
 * pipeline's thread goes on calling observe(); connect,
 * load_watermarks and load_keys are called only while no flush runs.
 *
 * Exactly-once contract: each sink keeps, per (node, zone_id, ring), the
 * ring position up to which its data already holds every record.  The
 * pipeline loads those watermarks at start, feeds a sink only records at
 * or after its watermark, and hands it the delta together with the new
 * positions; the sink applies both atomically (one transaction, one
 * script), so a retry or a replay after a crash never counts twice.
 */

#ifndef PS_SINK_H
#define PS_SINK_H

#include <stdint.h>

#include "agg/agg_table.h"
#include "ring/rec.h"

typedef struct ps_sink_s  ps_sink_t;

/* Called by load_keys for each key. */
typedef void (*ps_sink_key_fn)(void *ctx, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen);

typedef struct {
    const char  *name;                  /* "postgres", "redis" */

    /* Connects (or reconnects); 0 on success, -1 logged on failure. */
    int   (*connect)(ps_sink_t *sink);

    /* Fills pos[0..nrings) with committed positions for zone_id (0 where
     * none); 0 on success, -1 when the sink is unreachable. */
    int   (*load_watermarks)(ps_sink_t *sink, uint64_t zone_id,
                             uint64_t *pos, uint32_t nrings);

    /* Applies delta and advances the watermarks to pos atomically;
     * 0 on success, -1 on failure (nothing applied, or applied and
     * recorded so that a retry is a no-op). */
    int   (*flush)(ps_sink_t *sink, uint64_t zone_id,
                   const ps_agg_table_t *delta,
                   const uint64_t *pos, uint32_t nrings);

    /* Closes the connection and frees the sink. */
    void  (*destroy)(ps_sink_t *sink);

    /* Optional (NULL: not needed): sees every record the pipeline adds
     * to this sink's delta, in the same order, so that the sink can keep
     * what the delta cannot hold (the Redis sink: client address texts
     * for PFADD and the top clients); what it keeps belongs to the next
     * flush, as the delta does. */
    void  (*observe)(ps_sink_t *sink, const ps_rec_t *rec);

    /* Optional: called when a flush is handed over, in the thread that
     * calls observe() and while no flush of this sink runs: what observe()
     * gathered since the last hand-over belongs to that flush (and to
     * the next one too, if it fails and its delta comes back). */
    void  (*handover)(ps_sink_t *sink);

    /* Optional: calls fn for each key (host, method, path) that has a
     * row in hour already, the overflow key aside, at most max of them;
     * 0, or -1 when the sink is unreachable.  The pipeline counts them
     * toward its per-hour key limit, so that an aggregator restarted
     * within an hour does not admit max_keys new keys on top. */
    int   (*load_keys)(ps_sink_t *sink, int64_t hour, size_t max,
                       ps_sink_key_fn fn, void *ctx);

    /* Optional: 1 to leave out a record at or after the sink's watermark
     * that its store holds already (the Redis sink after a restart: a
     * flush may have reached some of its shards, whose own watermarks
     * are past the record), else 0.  Called in the pipeline's thread
     * before the record is added to the delta. */
    int   (*skip)(ps_sink_t *sink, const ps_rec_t *rec);

    /* Optional, for a sink that is not durable but keeps the rings
     * while it is up (the Redis sink), so that a crash loses nothing it
     * has not confirmed: fills pos[0..nrings) with the positions before
     * which its store holds every record for sure; 0, or -1 when it
     * cannot say (then it holds nothing back).  Called in the pipeline's
     * thread while no flush of the sink runs. */
    int   (*held)(ps_sink_t *sink, uint64_t *pos, uint32_t nrings);
} ps_sink_ops_t;

/* What the summary reports about one sink. */
typedef struct {
    const char  *name;              /* "postgres", "redis" */
    int          up;                /* last attempt succeeded */
    int          durable;
    uint64_t     flushes;           /* successful flushes */
    uint64_t     failures;          /* failed attempts */
    uint64_t     last_flush_us;     /* wall clock of the last success */
    uint64_t     lag_records;       /* read but not yet in this sink */
    uint64_t     pending_keys;      /* keys in its delta table */
    char         last_error[256];   /* empty when up, unless the spool
                                       lost requests */

    /* the disk spool standing in for this sink (all 0 without one) */
    int          spool;             /* has a spool */
    uint64_t     spool_segments;    /* flushes waiting for replay */
    uint64_t     spool_bytes;
    uint64_t     spool_dropped;     /* requests lost: the spool was full */
    uint64_t     spool_corrupt;     /* segments moved to corrupt/ */
    uint64_t     spool_max_bytes;   /* spool_max */
    int          spool_full;        /* flushes are being dropped now */
    char         spool_error[160];  /* why the spool cannot write now,
                                       empty when it can */
} ps_sink_status_t;

struct ps_sink_s {
    const ps_sink_ops_t  *ops;
    void                 *impl;         /* the sink's private state */
    int                   durable;      /* holds the ring's head back */
    char                  last_error[256];  /* the sink's last failure,
                                               empty when it is up */
    int                   spooled;      /* set by the pipeline: a failed
                                           flush goes to the disk spool,
                                           whose replay checks the
                                           watermarks first (spool.h) */
};

#endif /* PS_SINK_H */
