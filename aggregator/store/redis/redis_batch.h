/*
 * Redis batches: the Lua script that writes one hour's update to Redis
 * in one atomic step, its keys, and a batch, the arguments of that
 * script for one hour of a flush (from the delta and the client buffer)
 * or of a repair (from the repair state of the hour), encoded once and
 * kept until Redis confirms them.  A batch is one script, or a sequence
 * of chunks of at most a chunk's size of fields each, sharing an id.
 * The key layout, the exactly-once check, the modes and the chunk
 * markers are described in sink_redis.c, which sends the batches.
 */

#ifndef PS_REDIS_BATCH_H
#define PS_REDIS_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "agg/agg_table.h"
#include "store/redis/redis_clients.h"
#include "store/redis/redis_repair.h"
#include "store/redis/redis_shard.h"
#include "lib/strbuf.h"

#define PS_REDIS_NKEYS       7
#define PS_REDIS_NKEYS_TEXT  "7"

/* The hour script: KEYS as in ps_redis_key_suffix[], ARGV as built by
 * ps_redis_batch_head() and ps_redis_build_chunk() (redis_batch.c).
 * Answers {applied, code, next, alone}, code one of PS_REDIS_SCRIPT_*,
 * alone one of PS_REDIS_ALONE_* (who wrote the shard before it ran). */
#define PS_REDIS_SCRIPT_SKIPPED   0   /* applied before, or no loss */
#define PS_REDIS_SCRIPT_APPLIED   1   /* a batch (its last chunk) applied */
#define PS_REDIS_SCRIPT_LOST      2   /* nothing applied: (re)start repair */
#define PS_REDIS_SCRIPT_NEXT      3   /* go on at chunk next */
#define PS_REDIS_SCRIPT_REPAIRED  4   /* a repair's last chunk applied */
#define PS_REDIS_SCRIPT_FOREIGN   5   /* another sequence's marker */
#define PS_REDIS_SCRIPT_SHARED    6   /* absolute form, another node
                                         wrote: nothing applied */

#define PS_REDIS_ALONE_NOT        0   /* another node wrote the shard */
#define PS_REDIS_ALONE_SELF       1   /* only this node wrote it */
#define PS_REDIS_ALONE_EMPTY      2   /* nobody wrote it */

/* The script's text (for SCRIPT LOAD and EVAL) and its length. */
extern const char    ps_redis_script[];
extern const size_t  ps_redis_script_len;

/* What the batches of one sink share. */
typedef struct {
    const char  *node_id;
    unsigned     shards;                    /* redis_shards */
    uint64_t     top_clients;               /* kept in clients:top */
    size_t       chunk;                     /* fields per chunk (>= 1) */
    unsigned     sequences;                 /* chunked so far: their ids */
} ps_redis_batcher_t;

/* One hour and shard's script call, kept until Redis has confirmed
 * it.  Its fields go as deltas (form 'D'), or, in a shard that this
 * sink alone has written since the hour's first write, as their new
 * totals (form 'A'); a batch of totals that Redis answers "shared"
 * goes on as deltas, built into alt while the delta is at hand. */
typedef struct ps_redis_batch_s {
    int64_t    hour;
    unsigned   shard;
    ps_buf_t   bytes;                       /* all keys and args */
    size_t    *off;                         /* into bytes.data */
    size_t    *len;
    size_t     argc;
    size_t     cap;
    unsigned   errors;                      /* error replies so far */
    int        done;                        /* confirmed (or dropped) */
    int        eval;                        /* its master lacks the
                                               script: EVAL, not EVALSHA */
    char       mode;                        /* '0', '1' or 'R' (repair) */
    char       form;                        /* 'D' deltas, 'A' totals */
    int        solo;                        /* its chunks so far found
                                               the shard unwritten (the
                                               first) or written by this
                                               node alone */
    struct ps_redis_batch_s  *alt;          /* form 'A': its deltas (only
                                               the encoded scripts), or
                                               NULL: not built yet */
    char       rid[48];                     /* a sequence's id, or "" */
    uint64_t   zone_id;                     /* for a repair of the hour */
    uint64_t  *pos;
    uint32_t   nrings;
    uint64_t   expire_ms;
    size_t    *chunk_arg;                   /* chunked: nchunks + 1 */
    size_t     nchunks;                     /* 0: one script of all args */
    size_t     chunk;                       /* the next chunk to send */
    size_t     keys;                        /* fields and clients written, */
    size_t     clients;                     /* logged */
    uint64_t   requests;
} ps_redis_batch_t;

/* Starts an empty batch of hour and shard with the positions it
 * stores; the caller sets bt->mode then; 0 or -1. */
int ps_redis_batch_init(ps_redis_batch_t *bt, int64_t hour, unsigned shard,
    uint64_t zone_id, const uint64_t *pos, uint32_t nrings,
    uint64_t expire_ms);

/* Builds the scripts of bt (mode '0' or '1') from the fields of delta
 * and the clients of cb of its hour and shard (eshard[i], cshard[i]: the
 * shard of delta entry i and of client i); one script when they fit in
 * one chunk, else a sequence of chunks.  With h (the repair state of
 * the hour, the delta already in it) and at (per delta entry its entry
 * of h + 1, 0 for none) the fields go as their totals (form 'A') when
 * every one has its entry, else as deltas; 0 or -1. */
int ps_redis_batch_from_delta(ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_agg_table_t *delta, const uint16_t *eshard,
    const ps_redis_clients_t *cb, const uint16_t *cshard,
    const ps_redis_repair_hour_t *h, const uint32_t *at);

/* Builds the scripts of bt (mode 'R') from the repair state h of its
 * hour, its shard's fields and clients: always a sequence (of one chunk
 * at least); 0 or -1. */
int ps_redis_batch_from_repair(ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_redis_repair_hour_t *h);

/* Builds the deltas of bt, a batch of form 'A' made by
 * ps_redis_batch_from_delta() from the same arguments, into bt->alt
 * (the same chunks, the same sequence id); 0 (or nothing to do), or
 * -1. */
int ps_redis_batch_build_deltas(ps_redis_batcher_t *rb, ps_redis_batch_t *bt,
    const ps_agg_table_t *delta, const uint16_t *eshard,
    const ps_redis_clients_t *cb, const uint16_t *cshard);

/* Makes bt, of form 'A', send its deltas (bt->alt) from its current
 * chunk on; 0, or -1 when they were not built. */
int ps_redis_batch_use_deltas(ps_redis_batch_t *bt);

/* The arguments [*first, *end) of bt's next script: all of them, or
 * those of chunk bt->chunk. */
void ps_redis_batch_script_args(const ps_redis_batch_t *bt, size_t *first,
    size_t *end);

/* Sets the mode byte of every script of bt (of both forms). */
void ps_redis_batch_set_mode(ps_redis_batch_t *bt, char mode);

/* Frees what bt holds and zeroes it. */
void ps_redis_batch_free(ps_redis_batch_t *bt);

#endif /* PS_REDIS_BATCH_H */
