/*
 * Redis sink.  Key layout (H = the UTC hour as YYYYMMDDHH, S = the shard,
 * 0 .. redis_shards - 1, see redis_shard.h; the braces are a Redis
 * Cluster hash tag, so the keys of one hour's shard live in one slot and
 * one Lua script updates them atomically, while the shards of an hour
 * spread over the cluster):
 *
 *   pathstats:{H.S}:totals        hash: requests, errors, status_1xx ..
 *                                 status_5xx, bytes_in, bytes_out,
 *                                 latency_sum_us, latency_max_us of the
 *                                 shard's paths (the hour's: the sum over
 *                                 its shards, the maximum of the maxima)
 *   pathstats:{H.S}:paths         hash: "<host>\t<method>\t<path>" ->
 *                                 "requests errors bytes_in bytes_out
 *                                 latency_sum_us latency_max_us"
 *   pathstats:{H.S}:top           zset: same field, score = requests
 *   pathstats:{H.S}:clients:uniq  HyperLogLog of the shard's client texts
 *   pathstats:{H.S}:clients:top   zset: client text, score = requests
 *   pathstats:{H.S}:nodes         set: node ids that wrote this shard
 *   pathstats:{H.S}:wm:<node>     hash: "<zone_id>.<ring>" -> ring position,
 *                                 and while a chunked batch or repair is
 *                                 under way "repair:<zone_id>" ->
 *                                 "<id>:<next chunk>"
 *
 * A path goes to the shard crc32(field) mod redis_shards, a client to
 * crc32(text) mod redis_shards.  Every key expires ttl after the end of
 * its hour (PEXPIREAT).
 *
 * One field of paths holds a path's six counters, so that a flush costs
 * Redis a few commands per chunk of fields instead of seven per field:
 * one HMGET of the fields, the sums in Lua (numbers exact below 2^53),
 * one HSET and one ZADD of the new totals (a field new to the hour takes
 * the delta as sent); the clients likewise (PFADD, ZMSCORE, ZADD).
 * Measured (bench/redis-repair.sh, 10 000 fields): 45-50 ms of Redis
 * time for the first write of an hour, against 120-180 ms with a hash
 * per counter and a command per field and counter.
 *
 * Totals instead of deltas.  A shard that this sink alone has written
 * since the hour began holds, field by field, what the repair state
 * (below) holds for it: the sink then sends each field's new total
 * (form 'A', redis_batch.h), which the script writes with one HSET and
 * one ZADD straight from its arguments, without the HMGET and the sums
 * (about half of Redis's time for a flush of 10 000 fields).  "Alone"
 * is learnt from the script's answer: it says who wrote the shard
 * before it ran (the nodes set: nobody, this node alone, or another
 * node too), and a first write (mode '0') of the hour that found the
 * shard empty, applied whole, each chunk by the answer that says so,
 * makes the shard this sink's alone.  It stays so until the script
 * finds another node's id in nodes: a batch of totals then applies
 * nothing and answers "shared", and goes again as deltas (built from
 * the flush's delta, or before the flush returned with the batch still
 * undelivered), as every later batch of that shard in the hour.  A
 * loss and its repair, a batch dropped or abandoned, a key that the
 * repair state folds into its overflow field, a flush whose batches
 * could not be made: the shard (or the hour) goes back to deltas.  An
 * aggregator restarted in an hour does not know what its earlier
 * process wrote, and its first write does not find the shard empty:
 * deltas.
 *
 * Exactly once, per shard.  A flush becomes one batch per hour and
 * shard, each a script (a batch larger than a chunk: a sequence of
 * scripts, see Chunks below) that first compares the positions of the
 * batch with the hour's shard's watermark hash of this node and zone:
 * when every stored position is at or past the batch's, the batch was
 * applied already and the script does nothing; otherwise it adds the
 * counts and stores the positions, in one atomic step.  So the shards of
 * one flush are exactly-once each, and a loss of one shard (a FLUSHALL
 * of one cluster master, a failover) is found and repaired in that
 * shard alone.  A batch whose outcome is unknown (timeout, lost connection,
 * error) stays in this sink, unchanged, and is resent before anything
 * else: a resend that had been applied is then a no-op.  flush() returns
 * 0 once the sink has taken the delta into its batches, so the pipeline
 * never hands the same records twice in a larger delta; it returns -1
 * while older batches cannot be delivered, and the pipeline keeps
 * accumulating.
 *
 * At start, load_watermarks() returns per ring the largest position
 * stored for this node and zone in any hour and shard whose keys may
 * still exist
 * (from ttl + 1 h ago to the next hour).  A record that was applied was
 * applied in a batch whose positions are past it and were stored in the
 * watermark of the record's hour, in the same script: so the record lies
 * below the returned position and is not fed again, unless its hour has
 * expired, and then flush() drops it (an hour past its expiry is never
 * written).  Records below the returned position that were not applied
 * (a crash between the batches of the two hours of one flush or between
 * two chunks of one batch, batches still undelivered at exit) are lost
 * to Redis, never doubled: Redis is a cache, PostgreSQL holds the
 * truth.
 *
 * Clients: the delta holds client HyperLogLogs in postgresql-hll form,
 * which Redis cannot merge, so observe() buffers the client texts per
 * hour with their request counts (PFADD is idempotent, the counts ride
 * in the same guarded script).  At most PS_REDIS_CLIENTS_MAX distinct
 * (hour, client) pairs per flush; the requests of further clients count
 * in the member "{other}" of clients:top and are missing from
 * clients:uniq (logged as redis_clients_overflow).  clients:top is
 * trimmed to its top max(10 x top_n, 1000) members whenever it grows past
 * twice that, so its memory stays bounded: a client trimmed away that
 * comes back starts again from the requests of that flush (the scores of
 * clients never trimmed away are exact).  The :top zset of paths is never
 * trimmed (readers take ZREVRANGE 0 top_n-1): its size is bounded by
 * max_keys_per_hour per node already, and its scores stay exact.
 *
 * Repair after Redis lost its data (FLUSHALL, a restart without
 * persistence, a failover to an empty replica).  The sink remembers
 * (redis_repair.h) everything it has handed to Redis for the live hour,
 * the previous hour during its first PS_REDIS_REPAIR_GRACE_S seconds
 * and a next hour (clock skew): per field the counters Redis stores,
 * per client text its requests.  A batch of an hour this process has
 * written before (and remembers whole) carries mode '1'; the script then
 * treats "none of this node's and zone's watermark fields exists, nor
 * its repair marker" as a loss: it applies nothing and answers "lost",
 * and the sink replaces the batch by a repair (mode 'R'): the whole
 * remembered contribution to the hour, the batch's own delta included,
 * with the batch's positions, each node and zone writing back exactly
 * its own part, so that several nodes add up exactly again.  A kept hour
 * this process wrote gets a batch at every flush even without a delta,
 * so the repair comes with the pipeline's heartbeat while no request
 * arrives.  Logged as redis_state_lost, redis_repair_started, then
 * redis_repaired (hour, node, zone_id, keys, requests, chunks).
 *
 * Chunks.  A repair, and a normal batch (mode '0' or '1') that holds
 * more than PS_REDIS_REPAIR_CHUNK fields (a client counts for a quarter
 * of a field), is a sequence of scripts (chunks) of at most that many
 * fields each, sent one after the other in place of one script: Redis
 * serves its other clients between two chunks.  A batch that fits in
 * one chunk stays one script, as above.  Each sequence has an id; while
 * it is under way the watermark hash holds the marker "repair:<zone_id>"
 * = "<id>:<next chunk>" (named after the repair, which came first).
 * Chunk 0 checks what a single script would: a batch, its positions
 * against the watermarks (skipped when applied before; "lost" in mode
 * '1'); a repair, that the loss is still there (watermark fields and
 * marker missing).  When it writes, it stores the positions and the
 * marker with its counts, in one atomic step; chunk k > 0 writes only
 * when the marker says k; each chunk moves the marker on, the last one
 * deletes it.  So a chunk resent after an unknown outcome is a no-op
 * whose answer (the marker) tells the sink where to go on; a later
 * chunk of a batch that finds neither its marker nor a loss finds the
 * batch done (its positions stored) or Redis back from a snapshot taken
 * before the batch, which then starts again from chunk 0.  Redis losing
 * its data in the middle of a sequence (marker and watermarks gone)
 * makes the next chunk answer "lost": a repair starts again from chunk
 * 0; a batch is replaced by the repair of its hour, which holds the
 * batch's delta and what its chunks wrote before the loss (a batch of
 * an hour the sink does not keep is written again from chunk 0, as a
 * first write).  Redis back from a snapshot taken during a sequence
 * (the marker at an earlier chunk) makes it go on from there.  The
 * chunks of one sequence are fixed when it starts and go before any
 * later batch, so a batch of this sink never meets its own marker; one
 * that meets another's (a sequence abandoned, below) writes as usual
 * and replaces or deletes it.  A process that dies during a sequence is
 * followed by one that starts after its positions (load_watermarks();
 * chunk 0 stored them): the chunks not yet written, of a batch or of a
 * repair, are lost to Redis, never doubled.
 *
 * Measured (bench/redis-repair.sh, Redis 7.0, 2 cores, 1000 fields per
 * chunk): the repair of an hour of 10 000 fields was one script of
 * 90-165 ms, now 12-16 scripts of at most 18-32 ms; of an hour of
 * 100 000 fields and 16 384 clients, one script of 1.05-1.13 s, during
 * which every other client of that Redis waited, now 106 scripts of at
 * most 19-27 ms (other clients wait at most as long), 1.0-1.3 s of
 * Redis time in all and 1.2-1.5 s for the flush that repairs.  The
 * first write of such an hour (one flush's batch) was one script of
 * 0.95-1.44 s (a client PINGing Redis meanwhile waited up to 0.96-1.45
 * s), now 105 scripts of at most 17-31 ms (PING waits at most 18-31
 * ms), 1.0-1.3 s of Redis time in all and 1.2-1.6 s for the flush.
 *
 * An outage without data loss (the watermarks are still there) is no
 * loss: batches are resent unchanged, applied or skipped as above.
 *
 * Limits of the repair (Redis is a cache, PostgreSQL stays exact):
 *  - an aggregator restarted during the hour remembers only what it
 *    handed over since: the repaired hour lacks what its earlier process
 *    wrote, and a loss that happened while it was down is not seen (its
 *    first batch of the hour is then a first write);
 *  - only whole hours kept in memory are repaired; older hours stay lost;
 *  - per hour at most max_keys_per_hour fields (further ones are
 *    written back in "*\t*\t{other}") and PS_REDIS_REPAIR_CLIENTS_MAX
 *    clients: the requests of further clients go to "{other}" of
 *    clients:top and they are missing from clients:uniq, which is then
 *    an underestimate; clients trimmed from clients:top come back with
 *    their whole hour's requests;
 *  - a batch dropped after repeated error replies is remembered and
 *    written by a later repair after all; a chunked batch or repair
 *    dropped so in its middle, or that meets another sequence's marker
 *    where its watermarks are missing, leaves the hour short of its
 *    chunks not yet written (never doubled) until the next loss;
 *  - a loss is recognised by the watermark hash: an eviction policy that
 *    evicts that hash alone while the counters stay (configure Redis with
 *    noeviction) would make the repair count the node's hour twice; a
 *    partial loss that keeps older watermarks (a restore from an older
 *    snapshot, a failover to a lagging replica) is not repaired;
 *  - the flush that repairs, or that writes a chunked batch, sends all
 *    its chunks: for an hour near max_keys_per_hour (100 000 fields by
 *    default) the pipeline waits about 1.2-1.6 s for it, though Redis is
 *    busy for at most one chunk at a time.
 *
 * Files: the script, its keys and the encoding of a batch into one
 * script or its chunks are in redis_batch.c; the client buffer that
 * observe() fills in redis_clients.c; what a repair writes back in
 * redis_repair.c.  This file connects, loads the watermarks, turns a
 * flush into batches and sends them, resends and repairs.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/key_hash.h"
#include "lib/log.h"
#include "lib/u64set.h"
#include "store/redis/redis_batch.h"
#include "store/redis/redis_clients.h"
#include "store/redis/redis_cluster.h"
#include "store/redis/redis_repair.h"
#include "store/redis/sink_redis.h"
#include "lib/strbuf.h"

#define PS_REDIS_CONNECT_TIMEOUT_MS  2000
#define PS_REDIS_COMMAND_TIMEOUT_MS  5000
#define PS_REDIS_REPAIR_CLIENTS_MAX  16384  /* per hour, for a repair */
#define PS_REDIS_REPAIR_GRACE_S      600    /* previous hour kept */
#define PS_REDIS_TOP_CLIENTS_MIN     1000
#define PS_REDIS_BATCH_MAX_ERRORS    10   /* error replies before a drop */
#define PS_REDIS_REPAIR_CHUNK        1000   /* fields per repair script */

/* A shard's watermark found at start. */
typedef struct {
    int64_t              hour;
    unsigned             shard;
    uint64_t            *pos;               /* [nrings] */
} ps_redis_loaded_t;

/* An hour this process wrote, and the shards it wrote; of those, the
 * shards it alone has written since the hour began (their stored totals
 * are its repair state's), and the shards that can never be so (another
 * node wrote them, or this sink's state no longer matches them). */
typedef struct {
    int64_t              hour;
    uint8_t              shards[PS_REDIS_SHARDS_MAX / 8];
    uint8_t              alone[PS_REDIS_SHARDS_MAX / 8];
    uint8_t              shared[PS_REDIS_SHARDS_MAX / 8];
} ps_redis_written_t;

typedef struct {
    ps_sink_t           *sink;              /* for sink->last_error */
    char                *where;             /* host:port, for logs */
    uint64_t             ttl_ms;
    char                *node_id;
    ps_redis_cluster_t  *rc;                /* the server or cluster */
    char                 sha[41];           /* empty: not loaded */
    const char         **argv;              /* a round's commands */
    size_t              *argvlen;
    size_t               argv_cap;
    uint64_t             unreplicated;      /* WAITs no replica acked */

    ps_redis_batcher_t   batcher;           /* what the batches share */
    ps_redis_batch_t    *batches;           /* undelivered, in order */
    size_t               nbatches;
    size_t               next;              /* batches confirmed */

    ps_redis_clients_t   clients;           /* what the flush takes */
    ps_redis_clients_t   observed;          /* since the last hand-over
                                               (the pipeline's thread) */

    ps_redis_written_t   flushed[8];        /* hours this process wrote,
                                               and in which shards */
    unsigned             nflushed;
    uint16_t            *eshard;            /* per delta entry, per client */
    uint16_t            *cshard;            /*   of the current flush */
    uint32_t            *eat;               /* per delta entry: its entry
                                               of the repair state + 1 */
    const ps_agg_table_t *cur_delta;        /* of the flush under way */
    size_t               eat_cap;
    uint64_t             absolute;          /* scripts of the absolute
                                               form applied, in all */

    ps_redis_repair_t   *repair;            /* what it handed per hour */

    ps_redis_loaded_t   *loaded;            /* watermarks found at start */
    size_t               nloaded;
    uint64_t            *high;              /* [loaded_rings]: their max */
    uint32_t             loaded_rings;
    uint64_t            *done_pos;          /* [done_rings]: every record
                                               before is in every shard */
    uint32_t             done_rings;
    unsigned             test_pause_ms;     /* between two chunks */
    int                  test_lose_reply;   /* of the chunk being sent */
} ps_redis_t;

static int ps_redis_connect(ps_sink_t *sink);
static void ps_redis_disconnect(ps_redis_t *r);
static void ps_redis_io_failed(ps_redis_t *r, const char *what);
static void ps_redis_set_error(ps_redis_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int ps_redis_load_watermarks(ps_sink_t *sink, uint64_t zone_id,
    uint64_t *pos, uint32_t nrings);
static int ps_redis_flush(ps_sink_t *sink, uint64_t zone_id,
    const ps_agg_table_t *delta, const uint64_t *pos, uint32_t nrings);
static void ps_redis_destroy(ps_sink_t *sink);
static void ps_redis_observe(ps_sink_t *sink, const ps_rec_t *rec);
static void ps_redis_handover(ps_sink_t *sink);
static int ps_redis_skip(ps_sink_t *sink, const ps_rec_t *rec);
static int ps_redis_held(ps_sink_t *sink, uint64_t *pos, uint32_t nrings);

static const ps_sink_ops_t ps_redis_ops = {
    .name = "redis",
    .connect = ps_redis_connect,
    .load_watermarks = ps_redis_load_watermarks,
    .flush = ps_redis_flush,
    .destroy = ps_redis_destroy,
    .observe = ps_redis_observe,
    .handover = ps_redis_handover,
    .skip = ps_redis_skip,
    .held = ps_redis_held,
};


/* What the status shows until the next success. */
static void
ps_redis_set_error(ps_redis_t *r, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(r->sink->last_error, sizeof(r->sink->last_error), fmt, ap);
    va_end(ap);
}


/* A test hook's value: the environment variable name as a positive
 * number, or def. */
static size_t
ps_redis_test_env(const char *name, size_t def)
{
    const char  *v;
    char        *end;
    size_t       n;

    v = getenv(name);
    if (v == NULL || *v == '\0') {
        return def;
    }
    n = strtoul(v, &end, 10);
    return *end == '\0' && n > 0 ? n : def;
}


ps_sink_t *
ps_sink_redis_create(const ps_config_t *cfg)
{
    ps_sink_t   *sink = NULL;
    ps_redis_t  *r = NULL;

    if (cfg->redis == NULL) {
        return NULL;
    }

    sink = calloc(1, sizeof(*sink));
    r = calloc(1, sizeof(*r));
    if (sink == NULL || r == NULL) {
        goto fail;
    }

    r->where = malloc(strlen(cfg->redis_host ? cfg->redis_host : "-") + 24);
    if (r->where != NULL) {
        sprintf(r->where, "%s:%u", cfg->redis_host ? cfg->redis_host : "-",
                cfg->redis_port);
    }
    r->rc = ps_redis_client(cfg);
    r->node_id = strdup(cfg->node_id ? cfg->node_id : "default");
    r->repair = ps_redis_repair_create(cfg->max_keys_per_hour,
                                       PS_REDIS_REPAIR_CLIENTS_MAX,
                                       cfg->redis_shards >= 1
                                       && cfg->redis_shards
                                          <= PS_REDIS_SHARDS_MAX
                                       ? (unsigned) cfg->redis_shards : 1);
    if (r->where == NULL || r->rc == NULL || r->node_id == NULL
        || ps_redis_clients_init(&r->clients) != 0
        || ps_redis_clients_init(&r->observed) != 0 || r->repair == NULL)
    {
        goto fail;
    }

    r->batcher.node_id = r->node_id;
    r->batcher.shards = cfg->redis_shards >= 1
                        && cfg->redis_shards <= PS_REDIS_SHARDS_MAX
                        ? (unsigned) cfg->redis_shards : 1;
    r->batcher.chunk = ps_redis_test_env("PATHSTATS_TEST_REDIS_REPAIR_CHUNK",
                                         PS_REDIS_REPAIR_CHUNK);
    r->test_pause_ms = (unsigned)
        ps_redis_test_env("PATHSTATS_TEST_REDIS_REPAIR_PAUSE_MS", 0);
    r->ttl_ms = cfg->redis_ttl_ms;
    r->batcher.top_clients = cfg->top_n * 10 > PS_REDIS_TOP_CLIENTS_MIN
                             ? cfg->top_n * 10 : PS_REDIS_TOP_CLIENTS_MIN;

    r->sink = sink;
    sink->ops = &ps_redis_ops;
    sink->impl = r;
    sink->durable = 0;
    return sink;

fail:

    ps_log(PS_LOG_ERROR, "event=redis_create_failed error=out_of_memory");
    if (r != NULL) {
        free(r->where);
        ps_redis_cluster_destroy(r->rc);
        free(r->node_id);
        ps_redis_clients_free(&r->clients);
        ps_redis_clients_free(&r->observed);
        ps_redis_repair_destroy(r->repair);
        free(r);
    }
    free(sink);
    return NULL;
}


ps_redis_cluster_t *
ps_redis_client(const ps_config_t *cfg)
{
    ps_redis_addr_t      seeds[64];
    size_t               i, n;

    n = cfg->redis_nseeds < 64 ? cfg->redis_nseeds : 64;
    for (i = 0; i < n; i++) {
        seeds[i].host = cfg->redis_seed_hosts[i];
        seeds[i].port = cfg->redis_seed_ports[i];
    }
    if (n == 0) {
        seeds[0].host = cfg->redis_host ? cfg->redis_host : "127.0.0.1";
        seeds[0].port = cfg->redis_port ? cfg->redis_port : 6379;
        n = 1;
    }

    return ps_redis_cluster_create(cfg->redis_cluster, seeds, n,
                                   cfg->redis_db,
                                   PS_REDIS_CONNECT_TIMEOUT_MS,
                                   PS_REDIS_COMMAND_TIMEOUT_MS);
}


int
ps_sink_redis_check(const ps_config_t *cfg, char *err, size_t errlen)
{
    ps_redis_cluster_t  *rc;
    const char          *masters[16];
    size_t               n, i, len;
    int                  ok;

    if (cfg->redis == NULL) {
        snprintf(err, errlen, "no redis configured");
        return -1;
    }

    rc = ps_redis_client(cfg);
    if (rc == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    ok = ps_redis_cluster_connect(rc, err, errlen) == 0;

    if (ok && cfg->redis_cluster) {
        /* what --check prints: the masters found */
        n = ps_redis_cluster_masters(rc, masters, 16);
        len = (size_t) snprintf(err, errlen, "cluster of %zu masters:", n);
        for (i = 0; i < n && len < errlen; i++) {
            len += (size_t) snprintf(err + len, errlen - len, " %s",
                                     masters[i]);
        }
    } else if (ok) {
        err[0] = '\0';
    }

    ps_redis_cluster_destroy(rc);
    return ok ? 0 : -1;
}


/* The routing key of the sink's own commands outside an hour (SCRIPT
 * LOAD): any node serves it. */
#define PS_REDIS_ANY_KEY  "pathstats:{0}"


static int
ps_redis_connect(ps_sink_t *sink)
{
    ps_redis_t   *r = sink->impl;
    redisReply   *reply;
    const char   *argv[3] = { "SCRIPT", "LOAD", ps_redis_script };
    size_t        argvlen[3] = { 6, 4, 0 };
    char          err[256];

    if (ps_redis_cluster_ready(r->rc)) {
        return 0;
    }

    if (ps_redis_cluster_connect(r->rc, err, sizeof(err)) != 0) {
        ps_log(PS_LOG_WARN, "event=redis_connect_failed redis=%s "
               "error=\"%s\"", r->where, err);
        ps_redis_set_error(r, "%s", err);
        ps_redis_cluster_reset(r->rc);
        return -1;
    }

    /* one node caches the script now; the others at their first EVAL
     * (NOSCRIPT falls back to it) */
    r->sha[0] = '\0';
    argvlen[2] = ps_redis_script_len;
    reply = ps_redis_cluster_command(r->rc, PS_REDIS_ANY_KEY,
                                     sizeof(PS_REDIS_ANY_KEY) - 1, 3, argv,
                                     argvlen);
    if (reply == NULL) {
        ps_redis_io_failed(r, "SCRIPT LOAD");
        ps_redis_cluster_reset(r->rc);
        return -1;
    }
    if (reply->type == REDIS_REPLY_STRING && reply->len == 40) {
        memcpy(r->sha, reply->str, 40);
        r->sha[40] = '\0';
    } else {
        /* EVAL still works */
        ps_log(PS_LOG_WARN, "event=redis_script_load_failed error=\"%.200s\"",
               reply->type == REDIS_REPLY_ERROR ? reply->str : "reply type");
    }
    freeReplyObject(reply);

    ps_log(PS_LOG_INFO, "event=redis_connected redis=%s cluster=%d",
           r->where, ps_redis_cluster_is_cluster(r->rc));
    return 0;
}


static void
ps_redis_disconnect(ps_redis_t *r)
{
    ps_redis_cluster_reset(r->rc);
    r->sha[0] = '\0';
}


/* After commands got no reply: the client closed the node (and reads
 * the slot map again); what was sent there has an unknown outcome. */
static void
ps_redis_io_failed(ps_redis_t *r, const char *what)
{
    const char  *e = ps_redis_cluster_error(r->rc);

    ps_log(PS_LOG_WARN, "event=redis_io_error command=%s error=\"%s\"",
           what, e[0] ? e : "no connection");
    ps_redis_set_error(r, "%s: %s", what, e[0] ? e : "no connection");
}


/* The key of this node's and zone's "done" marker: every record
 * before its positions is in every shard (written once all batches of a
 * flush are confirmed); into buf. */
static void
ps_redis_done_key(const ps_redis_t *r, uint64_t zone_id, ps_buf_t *b)
{
    ps_buf_reset(b);
    (void) ps_buf_printf(b, "pathstats:{node.%s}:done:%llu", r->node_id,
                         (unsigned long long) zone_id);
}


/* Keeps what a shard's watermark says for the records read again after
 * a restart (ps_redis_skip()); 0 or -1. */
static int
ps_redis_keep_loaded(ps_redis_t *r, int64_t hour, unsigned shard,
    const uint64_t *pos, uint32_t nrings)
{
    ps_redis_loaded_t  *l;

    l = realloc(r->loaded, (r->nloaded + 1) * sizeof(*l));
    if (l == NULL) {
        return -1;
    }
    r->loaded = l;
    l = &r->loaded[r->nloaded];
    l->pos = malloc(nrings * sizeof(uint64_t));
    if (l->pos == NULL) {
        return -1;
    }
    memcpy(l->pos, pos, nrings * sizeof(uint64_t));
    l->hour = hour;
    l->shard = shard;
    r->nloaded++;
    return 0;
}


static void
ps_redis_free_loaded(ps_redis_t *r)
{
    size_t  i;

    for (i = 0; i < r->nloaded; i++) {
        free(r->loaded[i].pos);
    }
    free(r->loaded);
    free(r->high);
    r->loaded = NULL;
    r->nloaded = 0;
    r->high = NULL;
    r->loaded_rings = 0;
}


/* Reads the watermark of every hour and shard whose keys may still
 * exist (pipelined HMGETs, each to its shard's master) and the done
 * marker; 0 or -1. */
static int
ps_redis_load_watermarks(ps_sink_t *sink, uint64_t zone_id, uint64_t *pos,
    uint32_t nrings)
{
    ps_redis_t    *r = sink->impl;
    int64_t        now_s, first, last, h;
    size_t         ncmds, i, j, argc, total;
    uint32_t       ring;
    unsigned       shard, shards = r->batcher.shards;
    ps_buf_t       b = PS_BUF_INIT;
    size_t        *off = NULL, *len = NULL;
    const char   **argv = NULL;
    redisReply    *reply;
    uint64_t      *v = NULL, *low = NULL;
    char           prefix[64];
    int            rc = -1, have_low;

    for (ring = 0; ring < nrings; ring++) {
        pos[ring] = 0;
    }

    ps_redis_free_loaded(r);

    if (ps_redis_connect(sink) != 0) {
        return -1;
    }

    /* every hour whose keys may still exist, and one ahead for skew */
    now_s = (int64_t) (ps_now_us() / 1000000);
    first = ps_hour_of((now_s - 3600 - (int64_t) (r->ttl_ms / 1000))
                       * PS_US_PER_SEC);
    last = ps_hour_of(now_s * PS_US_PER_SEC) + 3600;
    if ((last - first) / 3600 > 24 * 400) {
        first = last - (int64_t) 3600 * 24 * 400;
    }

    /* command 0: the done marker; then an HMGET per hour and shard */
    ncmds = 1 + (size_t) ((last - first) / 3600 + 1) * shards;
    argc = 2 + nrings;
    total = ncmds * argc;
    off = malloc(total * sizeof(*off));
    len = malloc(total * sizeof(*len));
    argv = malloc(total * sizeof(*argv));
    v = malloc(2 * nrings * sizeof(*v));
    r->high = calloc(nrings, sizeof(*r->high));
    if (off == NULL || len == NULL || argv == NULL || v == NULL
        || r->high == NULL)
    {
        goto nomem;
    }
    low = v + nrings;
    r->loaded_rings = nrings;

    for (i = 0; i < ncmds; i++) {
        j = i * argc;
        off[j] = b.len;
        if (ps_buf_puts(&b, "HMGET") != 0) {
            goto nomem;
        }
        len[j] = b.len - off[j];
        off[j + 1] = b.len;
        if (i == 0) {
            ps_buf_t  k = PS_BUF_INIT;

            ps_redis_done_key(r, zone_id, &k);
            if (ps_buf_append(&b, k.data, k.len) != 0) {
                ps_buf_free(&k);
                goto nomem;
            }
            ps_buf_free(&k);
        } else {
            h = first + (int64_t) ((i - 1) / shards) * 3600;
            shard = (unsigned) ((i - 1) % shards);
            ps_redis_key_prefix(prefix, sizeof(prefix), h, shard, shards);
            if (ps_buf_printf(&b, "%swm:%s", prefix, r->node_id) != 0) {
                goto nomem;
            }
        }
        len[j + 1] = b.len - off[j + 1];
        for (ring = 0; ring < nrings; ring++) {
            off[j + 2 + ring] = b.len;
            if ((i == 0 ? ps_buf_printf(&b, "%u", ring)
                        : ps_buf_printf(&b, "%llu.%u",
                                        (unsigned long long) zone_id, ring))
                != 0)
            {
                goto nomem;
            }
            len[j + 2 + ring] = b.len - off[j + 2 + ring];
        }
    }

    /* the text is complete: now the pointers into it */
    ps_redis_cluster_clear(r->rc);
    for (i = 0; i < total; i++) {
        argv[i] = b.data + off[i];
    }
    for (i = 0; i < ncmds; i++) {
        if (ps_redis_cluster_append(r->rc, argv[i * argc + 1],
                                    len[i * argc + 1], (int) argc,
                                    argv + i * argc, len + i * argc) < 0)
        {
            goto nomem;
        }
    }

    if (ps_redis_cluster_exec(r->rc) != 0) {
        ps_redis_io_failed(r, "HMGET");
        goto done;
    }

    have_low = 0;
    for (i = 0; i < ncmds; i++) {
        reply = ps_redis_cluster_reply(r->rc, i);
        if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
            || reply->elements != nrings)
        {
            ps_log(PS_LOG_WARN, "event=redis_watermarks_failed "
                   "error=\"unexpected HMGET reply type %d%s%s\"",
                   reply ? reply->type : -1,
                   reply && reply->type == REDIS_REPLY_ERROR ? ": " : "",
                   reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                             : "");
            ps_redis_set_error(r, "cannot load watermarks");
            goto done;
        }

        j = 0;
        for (ring = 0; ring < nrings; ring++) {
            redisReply  *el = reply->element[ring];

            v[ring] = el->type == REDIS_REPLY_STRING
                      ? strtoull(el->str, NULL, 10) : 0;
            j += el->type == REDIS_REPLY_STRING;
        }

        if (i == 0) {
            /* the marker: all of a ring's positions, or none */
            have_low = (j == nrings);
            memcpy(low, v, nrings * sizeof(*v));
            continue;
        }
        if (j == 0) {
            continue;
        }
        for (ring = 0; ring < nrings; ring++) {
            if (v[ring] > r->high[ring]) {
                r->high[ring] = v[ring];
            }
        }
        h = first + (int64_t) ((i - 1) / shards) * 3600;
        shard = (unsigned) ((i - 1) % shards);
        if (ps_redis_keep_loaded(r, h, shard, v, nrings) != 0) {
            goto nomem;
        }
    }

    /*
     * Every record before the marker is in every shard; between it and
     * the highest watermark a record may be in its shard or not (a
     * process that died between the batches of one flush): those are
     * read again, and ps_redis_skip() drops each one its shard's
     * watermark holds.  Without a marker (an older version, or its key
     * lost) reading starts at the highest position, as before.
     */
    for (ring = 0; ring < nrings; ring++) {
        pos[ring] = have_low ? low[ring] : r->high[ring];
    }

    ps_log(PS_LOG_INFO, "event=redis_watermarks_loaded zone_id=%llu "
           "rings=%u hours=%lld shards=%u kept=%zu marker=%d",
           (unsigned long long) zone_id, nrings,
           (long long) ((last - first) / 3600 + 1), shards, r->nloaded,
           have_low);
    rc = 0;
    goto done;

nomem:

    ps_log(PS_LOG_ERROR, "event=redis_watermarks_failed error=out_of_memory");

done:

    if (rc != 0) {
        for (ring = 0; ring < nrings; ring++) {
            pos[ring] = 0;
        }
        ps_redis_free_loaded(r);
        if (r->sink->last_error[0] == '\0') {
            ps_redis_set_error(r, "cannot load watermarks");
        }
    }
    ps_redis_cluster_clear(r->rc);
    ps_buf_free(&b);
    free(off);
    free(len);
    free(argv);
    free(v);
    return rc;
}


/* The pipeline's filter (sink.h skip): a record read again after a
 * restart that its shard's watermark shows applied. */
static int
ps_redis_skip(ps_sink_t *sink, const ps_rec_t *rec)
{
    ps_redis_t          *r = sink->impl;
    ps_redis_loaded_t   *l;
    unsigned             shard;
    size_t               i;

    if (r->high == NULL || rec->ring >= r->loaded_rings
        || rec->pos >= r->high[rec->ring])
    {
        return 0;
    }

    shard = ps_redis_shard_of_key(rec->host, rec->host_len, rec->method,
                                  rec->method_len, rec->path, rec->path_len,
                                  r->batcher.shards);

    for (i = 0; i < r->nloaded; i++) {
        l = &r->loaded[i];
        if (l->hour == rec->hour && l->shard == shard) {
            return rec->pos < l->pos[rec->ring];
        }
    }

    return 0;
}


/* The pipeline's hold (sink.h held): what every shard has for sure. */
static int
ps_redis_held(ps_sink_t *sink, uint64_t *pos, uint32_t nrings)
{
    ps_redis_t  *r = sink->impl;

    if (r->done_pos == NULL || r->done_rings != nrings) {
        return -1;
    }
    memcpy(pos, r->done_pos, nrings * sizeof(uint64_t));
    return 0;
}


static void
ps_redis_batches_clear(ps_redis_t *r)
{
    size_t  i;

    for (i = 0; i < r->nbatches; i++) {
        ps_redis_batch_free(&r->batches[i]);
    }
    free(r->batches);
    r->batches = NULL;
    r->nbatches = 0;
    r->next = 0;
}


/* The record of hour in r->flushed, or NULL. */
static ps_redis_written_t *
ps_redis_written(const ps_redis_t *r, int64_t hour)
{
    unsigned  i;

    for (i = 0; i < r->nflushed; i++) {
        if (r->flushed[i].hour == hour) {
            return (ps_redis_written_t *) &r->flushed[i];
        }
    }
    return NULL;
}


#define PS_REDIS_BIT(set, shard)  ((set)[(shard) / 8] & (1u << ((shard) % 8)))

static int
ps_redis_was_flushed(const ps_redis_t *r, int64_t hour, unsigned shard)
{
    const ps_redis_written_t  *w = ps_redis_written(r, hour);

    return w != NULL && PS_REDIS_BIT(w->shards, shard);
}


/* The record of hour in r->flushed, made (the oldest forgotten when
 * there is no room: its shards then count as not written). */
static ps_redis_written_t *
ps_redis_written_make(ps_redis_t *r, int64_t hour)
{
    unsigned             n = sizeof(r->flushed) / sizeof(r->flushed[0]);
    ps_redis_written_t  *w;

    w = ps_redis_written(r, hour);
    if (w == NULL) {
        if (r->nflushed == n) {
            memmove(r->flushed, r->flushed + 1,
                    (n - 1) * sizeof(r->flushed[0]));
            r->nflushed--;
        }
        w = &r->flushed[r->nflushed++];
        memset(w, 0, sizeof(*w));
        w->hour = hour;
    }
    return w;
}


static void
ps_redis_mark_flushed(ps_redis_t *r, int64_t hour, unsigned shard)
{
    ps_redis_written_t  *w = ps_redis_written_make(r, hour);

    w->shards[shard / 8] |= (uint8_t) (1u << (shard % 8));
}


/* Whether this sink alone wrote the hour's shard since the hour began,
 * so that its batches may carry the fields' totals (the absolute
 * form). */
static int
ps_redis_is_alone(const ps_redis_t *r, int64_t hour, unsigned shard)
{
    const ps_redis_written_t  *w = ps_redis_written(r, hour);

    return w != NULL && PS_REDIS_BIT(w->alone, shard)
           && !PS_REDIS_BIT(w->shared, shard);
}


static void
ps_redis_mark_alone(ps_redis_t *r, int64_t hour, unsigned shard)
{
    ps_redis_written_t  *w = ps_redis_written_make(r, hour);

    w->alone[shard / 8] |= (uint8_t) (1u << (shard % 8));
}


/* The hour's shard (every shard: shard < 0) is no longer, and never
 * becomes, one that this sink alone wrote. */
static void
ps_redis_mark_shared(ps_redis_t *r, int64_t hour, int shard)
{
    ps_redis_written_t  *w = ps_redis_written_make(r, hour);

    if (shard < 0) {
        memset(w->shared, 0xff, sizeof(w->shared));
        return;
    }
    w->shared[shard / 8] |= (uint8_t) (1u << (shard % 8));
}


/* Builds the scripts of one hour and shard from the delta and the
 * client buffer; 0 or -1. */
static int
ps_redis_build_batch(ps_redis_t *r, ps_redis_batch_t *bt, int64_t hour,
    unsigned shard, uint64_t zone_id, const ps_agg_table_t *delta,
    const uint64_t *pos, uint32_t nrings, uint64_t expire_ms)
{
    const ps_redis_repair_hour_t  *h;
    const ps_redis_written_t      *w;

    if (ps_redis_batch_init(bt, hour, shard, zone_id, pos, nrings,
                            expire_ms) != 0)
    {
        return -1;
    }

    /* the loss of an hour's shard is repaired only by a sink that wrote
     * it before and holds its whole contribution */
    h = ps_redis_repair_hour(r->repair, hour);
    bt->mode = ps_redis_was_flushed(r, hour, shard) && h != NULL ? '1' : '0';

    /* a first write that finds the shard empty and is applied whole
     * makes this sink the shard's only writer (ps_redis_script_outcome):
     * from then on its stored fields are its repair state's */
    w = ps_redis_written(r, hour);
    bt->solo = bt->mode == '0' && h != NULL
               && (w == NULL || !PS_REDIS_BIT(w->shared, shard));

    if (!ps_redis_is_alone(r, hour, shard) || h == NULL) {
        h = NULL;
    }
    return ps_redis_batch_from_delta(&r->batcher, bt, delta, r->eshard,
                                     &r->clients, r->cshard, h, r->eat);
}


/* Replaces bt by the repair of its hour: this sink's whole contribution
 * to the hour (the batch's own delta included, see ps_redis_remember()),
 * with the batch's positions, as a sequence of chunks that share one
 * id; 0, or -1 (bt is then unchanged). */
static int
ps_redis_build_repair(ps_redis_t *r, ps_redis_batch_t *bt)
{
    const ps_redis_repair_hour_t  *h;
    ps_redis_batch_t               rb;
    char                           prefix[64];

    h = ps_redis_repair_hour(r->repair, bt->hour);
    if (h == NULL) {
        return -1;
    }

    if (ps_redis_batch_init(&rb, bt->hour, bt->shard, bt->zone_id, bt->pos,
                            bt->nrings, bt->expire_ms) != 0)
    {
        goto fail;
    }
    rb.mode = 'R';
    if (ps_redis_batch_from_repair(&r->batcher, &rb, h) != 0) {
        goto fail;
    }

    ps_redis_batch_free(bt);
    *bt = rb;

    ps_redis_key_prefix(prefix, sizeof(prefix), bt->hour, bt->shard,
                        r->batcher.shards);
    ps_log(PS_LOG_INFO, "event=redis_repair_started hour=%.10s shard=%u "
           "node=%s zone_id=%llu keys=%zu clients=%zu chunks=%zu",
           prefix + 11, bt->shard, r->node_id,
           (unsigned long long) bt->zone_id, bt->keys,
           bt->clients, bt->nchunks);
    return 0;

fail:

    ps_redis_batch_free(&rb);
    ps_log(PS_LOG_ERROR, "event=redis_repair_failed error=out_of_memory");
    return -1;
}


/* What ps_redis_send_batch() found. */
#define PS_REDIS_SENT_DONE  0     /* confirmed: applied now or before */
#define PS_REDIS_SENT_LOST  1     /* Redis lost the hour: send its repair */
#define PS_REDIS_SENT_MORE  2     /* a sequence goes on at bt->chunk */

/* The script's answer {applied, code, next, alone} into v[4]; 0, or -1
 * (logged) for an error or a reply of another shape. */
static int
ps_redis_script_reply(ps_redis_t *r, ps_redis_batch_t *bt,
    const redisReply *reply, long long *v)
{
    size_t  i;

    if (reply->type == REDIS_REPLY_ERROR) {
        bt->errors++;
        ps_log(PS_LOG_WARN, "event=redis_script_error errors=%u "
               "error=\"%.200s\"", bt->errors, reply->str);
        ps_redis_set_error(r, "script: %.200s", reply->str);
        return -1;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        goto unexpected;
    }

    for (i = 0; i < 4; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            goto unexpected;
        }
        v[i] = reply->element[i]->integer;
    }

    return 0;

unexpected:

    bt->errors++;
    ps_log(PS_LOG_WARN, "event=redis_script_error errors=%u "
           "error=\"unexpected reply type %d\"", bt->errors, reply->type);
    ps_redis_set_error(r, "script: unexpected reply");

    return -1;
}


/* Makes bt send its deltas (a batch of totals that cannot go: another
 * node wrote its shard, or Redis lost it); built now from the delta of
 * the flush under way when they were not built before; 0 or -1 (logged:
 * the batch is then dropped, its requests missing from Redis, short of
 * a later repair). */
static int
ps_redis_to_deltas(ps_redis_t *r, ps_redis_batch_t *bt)
{
    if (bt->form != 'A') {
        return 0;
    }
    if (bt->alt == NULL
        && (r->cur_delta == NULL
            || ps_redis_batch_build_deltas(&r->batcher, bt, r->cur_delta,
                                           r->eshard, &r->clients,
                                           r->cshard) != 0))
    {
        ps_log(PS_LOG_ERROR, "event=redis_batch_deltas_failed hour=%lld "
               "shard=%u error=out_of_memory", (long long) bt->hour,
               bt->shard);
        return -1;
    }
    return ps_redis_batch_use_deltas(bt);
}


/* Follows, in the deltas of a first write, whether this sink is the
 * only writer of the shard: chunk 0 must have found it empty, every
 * later chunk written by this node alone, and every chunk must have
 * been applied by the answer that tells (not by an earlier send whose
 * answer was lost). */
static void
ps_redis_follow_alone(ps_redis_batch_t *bt, long long applied,
    long long alone)
{
    if (bt->form == 'A') {
        return;
    }
    if (!applied
        || alone < (bt->chunk == 0 ? PS_REDIS_ALONE_EMPTY
                                   : PS_REDIS_ALONE_SELF))
    {
        bt->solo = 0;
    }
}


/* What the script's code means for the batch: PS_REDIS_SENT_*, or -1
 * (logged) for an answer that does not fit the batch. */
static int
ps_redis_script_outcome(ps_redis_t *r, ps_redis_batch_t *bt,
    long long applied, long long code, long long next, long long alone)
{
    char  prefix[64];

    ps_redis_key_prefix(prefix, sizeof(prefix), bt->hour, bt->shard,
                        r->batcher.shards);
    ps_redis_follow_alone(bt, applied, alone);

    switch (code) {

    case PS_REDIS_SCRIPT_SHARED:
        /* the absolute form met another node's write: nothing applied;
         * the same chunk goes again as deltas, and so does every later
         * batch of the shard in this hour */
        if (bt->form != 'A' || applied) {
            break;
        }
        ps_log(PS_LOG_INFO, "event=redis_shard_shared hour=%.10s shard=%u "
               "node=%s chunk=%zu", prefix + 11, bt->shard, r->node_id,
               bt->chunk);
        ps_redis_mark_shared(r, bt->hour, (int) bt->shard);
        if (ps_redis_to_deltas(r, bt) != 0) {
            bt->errors = PS_REDIS_BATCH_MAX_ERRORS;
            return -1;
        }
        return PS_REDIS_SENT_MORE;

    case PS_REDIS_SCRIPT_SKIPPED:
        ps_log(PS_LOG_DEBUG, "event=redis_batch_already_applied "
               "hour=%.10s shard=%u chunk=%zu", prefix + 11, bt->shard,
               bt->chunk);
        ps_redis_mark_flushed(r, bt->hour, bt->shard);
        return PS_REDIS_SENT_DONE;

    case PS_REDIS_SCRIPT_APPLIED:
        if (bt->mode == 'R'
            || (bt->nchunks && bt->chunk + 1 != bt->nchunks))
        {
            break;
        }
        if (bt->nchunks) {
            ps_log(PS_LOG_INFO, "event=redis_batch_chunked hour=%.10s "
                   "shard=%u node=%s zone_id=%llu keys=%zu clients=%zu "
                   "requests=%llu chunks=%zu", prefix + 11, bt->shard,
                   r->node_id,
                   (unsigned long long) bt->zone_id, bt->keys, bt->clients,
                   (unsigned long long) bt->requests, bt->nchunks);
        }
        ps_redis_mark_flushed(r, bt->hour, bt->shard);
        if (bt->form == 'A') {
            r->absolute++;
        } else if (bt->solo) {
            ps_log(PS_LOG_DEBUG, "event=redis_shard_alone hour=%.10s "
                   "shard=%u node=%s", prefix + 11, bt->shard, r->node_id);
            ps_redis_mark_alone(r, bt->hour, bt->shard);
        }
        return PS_REDIS_SENT_DONE;

    case PS_REDIS_SCRIPT_LOST:
        /* nothing applied: the caller sends the repair of the hour in
         * place of the batch (found by a mode '1' batch, or in the
         * middle of a chunked batch: its first chunks are gone too, and
         * the repair holds them), or a repair under way starts again
         * (Redis lost its first chunks too) */
        ps_log(PS_LOG_WARN, "event=redis_state_lost hour=%.10s shard=%u "
               "node=%s zone_id=%llu%s", prefix + 11, bt->shard, r->node_id,
               (unsigned long long) bt->zone_id,
               bt->mode == 'R' ? " during_repair=1"
               : bt->chunk > 0 ? " during_batch=1" : "");
        /* the repair adds this node's part to what other nodes write
         * back: the shard's fields are no longer this sink's alone */
        ps_redis_mark_shared(r, bt->hour, (int) bt->shard);
        bt->solo = 0;
        if (bt->mode != 'R') {
            return PS_REDIS_SENT_LOST;
        }
        bt->chunk = 0;
        return PS_REDIS_SENT_MORE;

    case PS_REDIS_SCRIPT_NEXT:
        /* 0 only for a batch: Redis is back from a snapshot taken
         * before its first chunk */
        if (bt->nchunks == 0 || next < (bt->mode == 'R' ? 1 : 0)
            || (size_t) next >= bt->nchunks)
        {
            break;
        }
        if (!applied) {
            /* a chunk resent after an unknown outcome, or Redis came
             * back from a snapshot taken during the sequence */
            ps_log(PS_LOG_INFO, "event=redis_%s_resumed hour=%.10s "
                   "shard=%u node=%s zone_id=%llu chunk=%lld",
                   bt->mode == 'R' ? "repair" : "batch", prefix + 11,
                   bt->shard, r->node_id, (unsigned long long) bt->zone_id, next);
        }
        bt->chunk = (size_t) next;
        return PS_REDIS_SENT_MORE;

    case PS_REDIS_SCRIPT_REPAIRED:
        if (bt->mode != 'R' || bt->chunk + 1 != bt->nchunks) {
            break;
        }
        ps_log(PS_LOG_WARN, "event=redis_repaired hour=%.10s shard=%u "
               "node=%s zone_id=%llu keys=%zu requests=%llu chunks=%zu",
               prefix + 11, bt->shard, r->node_id, (unsigned long long) bt->zone_id,
               bt->keys, (unsigned long long) bt->requests,
               bt->nchunks);
        ps_redis_mark_flushed(r, bt->hour, bt->shard);
        return PS_REDIS_SENT_DONE;

    case PS_REDIS_SCRIPT_FOREIGN:
        /* another sequence of this node and zone is half done (an
         * earlier process's) where our watermarks are missing: adding
         * ours would count its part twice; the next batch writes over
         * its marker and the hour stays short */
        ps_log(PS_LOG_WARN, "event=redis_%s_abandoned hour=%.10s shard=%u "
               "node=%s zone_id=%llu chunk=%zu reason=other_repair_marker",
               bt->mode == 'R' ? "repair" : "batch", prefix + 11, bt->shard,
               r->node_id, (unsigned long long) bt->zone_id, bt->chunk);
        ps_redis_mark_flushed(r, bt->hour, bt->shard);
        ps_redis_mark_shared(r, bt->hour, (int) bt->shard);
        return PS_REDIS_SENT_DONE;

    default:
        break;
    }

    bt->errors++;
    ps_log(PS_LOG_WARN, "event=redis_script_error errors=%u "
           "error=\"unexpected reply %lld %lld %lld\"", bt->errors,
           applied, code, next);
    ps_redis_set_error(r, "script: unexpected reply");

    return -1;
}


#define PS_REDIS_WAIT_MS  200     /* for a replica, after a round */

/* Appends one script of bt (the whole batch, or its next chunk) to the
 * round: EVALSHA, or EVAL once its master answered NOSCRIPT; its
 * arguments from r->argv[*used] on; 0 or -1. */
static int
ps_redis_round_append(ps_redis_t *r, ps_redis_batch_t *bt, size_t *used,
    int *idx)
{
    static const char  nkeys[] = PS_REDIS_NKEYS_TEXT;

    const char  **argv = r->argv + *used;
    size_t       *argvlen = r->argvlen + *used;
    size_t        first, end, argc, i;
    char          prefix[64];

    ps_redis_batch_script_args(bt, &first, &end);
    argc = 3 + end - first;

    if (bt->eval || r->sha[0] == '\0') {
        argv[0] = "EVAL";
        argv[1] = ps_redis_script;
        argvlen[1] = ps_redis_script_len;
    } else {
        argv[0] = "EVALSHA";
        argv[1] = r->sha;
        argvlen[1] = 40;
    }
    argvlen[0] = strlen(argv[0]);
    argv[2] = nkeys;
    argvlen[2] = sizeof(nkeys) - 1;
    for (i = 3; i < argc; i++) {
        argv[i] = bt->bytes.data + bt->off[first + i - 3];
        argvlen[i] = bt->len[first + i - 3];
    }

    ps_redis_key_prefix(prefix, sizeof(prefix), bt->hour, bt->shard,
                        r->batcher.shards);
    *idx = ps_redis_cluster_append(r->rc, prefix, strlen(prefix),
                                   (int) argc, argv, argvlen);
    *used += argc;

    return *idx < 0 ? -1 : 0;
}


/* Room in r->argv for every script of a round and its WAITs; 0 or -1. */
static int
ps_redis_round_room(ps_redis_t *r)
{
    size_t        i, first, end, need = 0;
    const char  **argv;
    size_t       *argvlen;

    for (i = 0; i < r->nbatches; i++) {
        if (!r->batches[i].done) {
            ps_redis_batch_script_args(&r->batches[i], &first, &end);
            need += 3 + end - first + 3;
        }
    }
    need += 4;

    if (need <= r->argv_cap) {
        return 0;
    }

    argv = realloc(r->argv, need * sizeof(*argv));
    if (argv != NULL) {
        r->argv = argv;
    }
    argvlen = realloc(r->argvlen, need * sizeof(*argvlen));
    if (argvlen != NULL) {
        r->argvlen = argvlen;
    }
    if (argv == NULL || argvlen == NULL) {
        return -1;
    }
    r->argv_cap = need;
    return 0;
}


/* A WAIT after the round's scripts on each master that has a replica,
 * so that a batch is confirmed once a replica has it too (most of the
 * time: WAIT gives up after PS_REDIS_WAIT_MS) and a failover to that
 * replica loses nothing confirmed; appended for the master of each
 * distinct slot owner seen (by the batches' keys); 0 or -1. */
static int
ps_redis_round_wait(ps_redis_t *r, size_t *used, int *widx, size_t *nwait)
{
    static char      ms[16];
    size_t           i, k;
    ps_redis_batch_t *bt;
    const char     **argv;
    size_t          *argvlen;
    char             prefix[64];
    const char      *seen[PS_REDIS_NODES_MAX];
    const char      *node;
    int              idx;

    *nwait = 0;
    if (!ps_redis_cluster_is_cluster(r->rc)) {
        return 0;
    }
    snprintf(ms, sizeof(ms), "%d", PS_REDIS_WAIT_MS);

    for (i = 0; i < r->nbatches; i++) {
        bt = &r->batches[i];
        if (bt->done) {
            continue;
        }
        ps_redis_key_prefix(prefix, sizeof(prefix), bt->hour, bt->shard,
                        r->batcher.shards);
        if (ps_redis_cluster_replicas(r->rc, prefix, strlen(prefix)) == 0) {
            continue;
        }
        node = ps_redis_cluster_owner(r->rc, prefix, strlen(prefix));
        for (k = 0; k < *nwait && seen[k] != node; k++) {
            /* void */
        }
        if (k < *nwait || *nwait == PS_REDIS_NODES_MAX) {
            continue;
        }
        argv = r->argv + *used;
        argvlen = r->argvlen + *used;
        argv[0] = "WAIT";
        argvlen[0] = 4;
        argv[1] = "1";
        argvlen[1] = 1;
        argv[2] = ms;
        argvlen[2] = strlen(ms);
        idx = ps_redis_cluster_append(r->rc, prefix, strlen(prefix), 3,
                                      argv, argvlen);
        if (idx < 0) {
            return -1;
        }
        *used += 3;
        seen[*nwait] = node;
        widx[(*nwait)++] = idx;
    }
    return 0;
}


/* What the reply of a batch's script means: PS_REDIS_SENT_*, or -1
 * (logged) when the outcome is unknown or Redis refused it. */
static int
ps_redis_round_outcome(ps_redis_t *r, ps_redis_batch_t *bt,
    redisReply *reply)
{
    long long  v[4];

    if (reply == NULL) {
        return -1;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* a master that has not cached the script: EVAL caches it */
        bt->eval = 1;
        return PS_REDIS_SENT_MORE;
    }

    if (ps_redis_script_reply(r, bt, reply, v) != 0) {
        bt->solo = 0;               /* whatever it did, it did not say */
        return -1;
    }

    return ps_redis_script_outcome(r, bt, v[0], v[1], v[2], v[3]);
}


/* Writes the done marker: every record before the batches' positions
 * is in every shard (their flush is confirmed whole); best effort. */
static void
ps_redis_mark_done(ps_redis_t *r, uint64_t zone_id, const uint64_t *pos,
    uint32_t nrings)
{
    ps_buf_t      b = PS_BUF_INIT;
    size_t        i, *off = NULL, *len = NULL, argc;
    const char  **argv = NULL;
    uint64_t     *dp;
    char          ttl[32];

    if (r->done_rings != nrings) {
        dp = realloc(r->done_pos, (nrings ? nrings : 1) * sizeof(*dp));
        if (dp == NULL) {
            return;
        }
        r->done_pos = dp;
        r->done_rings = nrings;
    } else if (memcmp(r->done_pos, pos, nrings * sizeof(*pos)) == 0) {
        return;
    }
    memcpy(r->done_pos, pos, nrings * sizeof(*pos));

    argc = 2 + 2 * (size_t) nrings;
    off = malloc((argc + 3) * sizeof(*off));
    len = malloc((argc + 3) * sizeof(*len));
    argv = malloc((argc + 3) * sizeof(*argv));
    if (off == NULL || len == NULL || argv == NULL) {
        goto done;
    }

    ps_redis_done_key(r, zone_id, &b);
    off[1] = 0;
    len[1] = b.len;
    for (i = 0; i < nrings; i++) {
        off[2 + 2 * i] = b.len;
        if (ps_buf_printf(&b, "%zu", i) != 0) {
            goto done;
        }
        len[2 + 2 * i] = b.len - off[2 + 2 * i];
        off[3 + 2 * i] = b.len;
        if (ps_buf_printf(&b, "%llu", (unsigned long long) pos[i]) != 0) {
            goto done;
        }
        len[3 + 2 * i] = b.len - off[3 + 2 * i];
    }
    for (i = 1; i < argc; i++) {
        argv[i] = b.data + off[i];
    }
    argv[0] = "HSET";
    len[0] = 4;
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long) r->ttl_ms);
    argv[argc] = "PEXPIRE";
    len[argc] = 7;
    argv[argc + 1] = argv[1];
    len[argc + 1] = len[1];
    argv[argc + 2] = ttl;
    len[argc + 2] = strlen(ttl);

    ps_redis_cluster_clear(r->rc);
    if (ps_redis_cluster_append(r->rc, argv[1], len[1], (int) argc, argv,
                                len) >= 0
        && ps_redis_cluster_append(r->rc, argv[1], len[1], 3, argv + argc,
                                   len + argc) >= 0
        && ps_redis_cluster_exec(r->rc) != 0)
    {
        ps_redis_io_failed(r, "HSET");
    }
    ps_redis_cluster_clear(r->rc);

done:

    ps_buf_free(&b);
    free(off);
    free(len);
    free(argv);
}


/*
 * Sends the undelivered batches in rounds: each round one script of
 * every batch not yet confirmed (the whole batch, or its next chunk),
 * pipelined per master, so that every master works at once and a
 * flush's shards take one round trip, not one each; then a WAIT on each
 * master with a replica.  The batches are independent (one hour's
 * shard each, each with its own watermark), so their order across
 * masters does not matter.  0 when all are confirmed, -1 when one
 * cannot be delivered now (it stays, with every other not confirmed).
 */
static int
ps_redis_drain(ps_redis_t *r)
{
    ps_redis_batch_t  *bt;
    size_t             lose, chunks = 0, i, used, nwait, left;
    int                rc, failed, iofail, more, *idx = NULL;
    int                widx[PS_REDIS_NODES_MAX];
    redisReply        *reply;
    uint64_t           zone_id = 0;
    uint64_t          *pos = NULL;
    uint32_t           nrings = 0;

    /* test hook: the reply to the n-th chunk (of a chunked batch or a
     * repair) sent by this drain is lost (read here, so that a test can
     * change it between flushes) */
    lose = ps_redis_test_env("PATHSTATS_TEST_REDIS_REPAIR_LOSE_REPLY", 0);

    idx = malloc((r->nbatches ? r->nbatches : 1) * sizeof(*idx));
    if (idx == NULL) {
        return -1;
    }

    for ( ;; ) {
        left = 0;
        for (i = 0; i < r->nbatches; i++) {
            left += !r->batches[i].done;
        }
        if (left == 0) {
            break;
        }

        if (ps_redis_round_room(r) != 0) {
            free(idx);
            return -1;
        }

        ps_redis_cluster_clear(r->rc);
        used = 0;
        for (i = 0; i < r->nbatches; i++) {
            idx[i] = -1;
            if (!r->batches[i].done
                && ps_redis_round_append(r, &r->batches[i], &used, &idx[i])
                   != 0)
            {
                free(idx);
                return -1;
            }
        }
        if (ps_redis_round_wait(r, &used, widx, &nwait) != 0) {
            free(idx);
            return -1;
        }

        (void) ps_redis_cluster_exec(r->rc);

        failed = 0;
        iofail = 0;
        more = 0;
        for (i = 0; i < r->nbatches; i++) {
            bt = &r->batches[i];
            if (bt->done) {
                continue;
            }
            reply = ps_redis_cluster_reply(r->rc, (size_t) idx[i]);
            if (reply == NULL) {
                failed = 1;
                iofail = 1;
                continue;
            }
            if (bt->nchunks && lose && ++chunks == lose) {
                /* test hook: the script ran, but the sink never learns
                 * it */
                ps_log(PS_LOG_WARN, "event=redis_test_reply_lost chunk=%zu",
                       bt->chunk);
                ps_redis_set_error(r, "test: reply lost");
                ps_redis_disconnect(r);
                failed = 1;
                continue;
            }
            rc = ps_redis_round_outcome(r, bt, reply);
            if (rc == PS_REDIS_SENT_LOST) {
                if (ps_redis_build_repair(r, bt) == 0) {
                    continue;
                }
                /* cannot repair: the delta alone, as a first write */
                ps_log(PS_LOG_INFO, "event=redis_batch_rewritten "
                       "hour=%lld chunks=%zu reason=hour_not_kept",
                       (long long) bt->hour, bt->nchunks);
                if (ps_redis_to_deltas(r, bt) == 0) {
                    ps_redis_batch_set_mode(bt, '0');
                    bt->chunk = 0;
                    continue;
                }
                bt->errors = PS_REDIS_BATCH_MAX_ERRORS;
                rc = -1;
            }
            if (rc == PS_REDIS_SENT_MORE) {
                more = 1;
                continue;
            }
            if (rc != PS_REDIS_SENT_DONE) {
                if (bt->errors < PS_REDIS_BATCH_MAX_ERRORS) {
                    failed = 1;
                    continue;
                }
                /* Redis keeps refusing it (wrong key type, memory): a
                 * cache must not stall forever on one hour */
                ps_log(PS_LOG_ERROR, "event=redis_batch_dropped hour=%lld "
                       "shard=%u errors=%u", (long long) bt->hour,
                       bt->shard, bt->errors);
                ps_redis_mark_shared(r, bt->hour, (int) bt->shard);
            }
            bt->done = 1;
            r->next++;
        }

        for (i = 0; i < nwait; i++) {
            reply = ps_redis_cluster_reply(r->rc, (size_t) widx[i]);
            if (reply != NULL && reply->type == REDIS_REPLY_INTEGER
                && reply->integer == 0 && r->unreplicated++ % 100 == 0)
            {
                ps_log(PS_LOG_WARN, "event=redis_unreplicated node=%s "
                       "wait_ms=%d count=%llu", ps_redis_cluster_node_of(
                           r->rc, (size_t) widx[i]), PS_REDIS_WAIT_MS,
                       (unsigned long long) r->unreplicated);
            }
        }

        ps_redis_cluster_clear(r->rc);

        if (failed) {
            if (iofail) {
                ps_redis_io_failed(r, "EVALSHA");
            }
            free(idx);
            return -1;
        }

        if (more && r->test_pause_ms) {
            /* other clients of Redis run between two chunks */
            ps_sleep_ms(r->test_pause_ms);
        }
    }

    free(idx);

    ps_log(PS_LOG_DEBUG, "event=redis_batches_written batches=%zu "
           "absolute_total=%llu", r->nbatches,
           (unsigned long long) r->absolute);

    /* the positions are read only now: a repair replaced its batch (and
     * freed the batch's positions, the same values) in the rounds */
    if (r->nbatches > 0) {
        zone_id = r->batches[0].zone_id;
        pos = r->batches[0].pos;
        nrings = r->batches[0].nrings;
    }

    if (pos != NULL) {
        uint64_t  *copy = malloc((nrings ? nrings : 1) * sizeof(*copy));

        if (copy != NULL) {
            memcpy(copy, pos, nrings * sizeof(*copy));
            ps_redis_batches_clear(r);
            ps_redis_mark_done(r, zone_id, copy, nrings);
            free(copy);
        } else {
            ps_redis_batches_clear(r);
        }
    } else {
        ps_redis_batches_clear(r);
    }

    r->sink->last_error[0] = '\0';
    return 0;
}


static int
ps_redis_cmp_hour(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


/* Leaves the distinct values of v[0..n) (hour * PS_REDIS_SHARDS_MAX +
 * shard), sorted, at the start of v; how many.  A flush has one value
 * per field and client, but only a few distinct ones (hours times
 * shards): a set finds them, and only they are sorted (sorting every
 * value was a tenth of the flush's time in this process).  The set
 * holds each value mixed (a bijection: its slot is its low bits, which
 * hours, multiples of 3600, leave to the shard) plus one (never 0: no
 * value is -1, an hour being a multiple of 3600); a value the set had
 * no memory for is kept, and the sort's neighbours drop its twins. */
static size_t
ps_redis_distinct(int64_t *v, size_t n)
{
    ps_u64set_t  seen = PS_U64SET_INIT;
    size_t       i, j;

    for (i = 0, j = 0; i < n; i++) {
        if (ps_u64set_add(&seen, ps_key_mix(0, (uint64_t) v[i] + 1)) != 0) {
            v[j++] = v[i];
        }
    }
    ps_u64set_free(&seen);

    if (j > 1) {
        qsort(v, j, sizeof(*v), ps_redis_cmp_hour);
    }
    for (i = 0, n = 0; i < j; i++) {
        if (n == 0 || v[n - 1] != v[i]) {
            v[n++] = v[i];
        }
    }
    return n;
}


/* Forgets the repair state of hours no longer repaired: all but the
 * live hour and, for PS_REDIS_REPAIR_GRACE_S into it, the previous one
 * (later hours are kept: clock skew between nginx and this host). */
static void
ps_redis_forget_old_hours(ps_redis_t *r, uint64_t now_ms)
{
    int64_t  now_s, live;

    now_s = (int64_t) (now_ms / 1000);
    live = ps_hour_of(now_s * PS_US_PER_SEC);
    ps_redis_repair_keep_from(r->repair,
                              now_s - live < PS_REDIS_REPAIR_GRACE_S
                              ? live - 3600 : live);
}


/* Adds the delta and the client buffer, about to be taken into
 * batches, to the repair state of their hours, and notes in r->eat
 * each delta entry's entry there (for the absolute form).  A batch is
 * resent until Redis confirms it, so what is handed over here is what
 * Redis will hold (short of a batch dropped after repeated error
 * replies, which a later repair then writes after all); when the
 * batches cannot be made, ps_redis_forget_flush() marks these hours
 * broken.  A key the state folds into its overflow field, though the
 * delta has it as its own, leaves the hour's shards in the deltas'
 * form: their overflow field's total is no longer what Redis holds. */
static void
ps_redis_remember(ps_redis_t *r, const ps_agg_table_t *delta)
{
    size_t                    i, n;
    const ps_redis_client_t  *c;
    const ps_agg_entry_t     *e;
    int                       rc = 0, k;

    n = ps_agg_count(delta);
    for (i = 0; i < n; i++) {
        e = ps_agg_entry_at(delta, i);
        k = ps_redis_repair_add_entry(r->repair, e, &r->eat[i]);
        if (k < 0) {
            rc = -1;
        } else if (k == 0 && r->eat[i] == 0) {
            ps_redis_mark_shared(r, e->hour, -1);
        }
    }
    for (i = 0; i < r->clients.nclients; i++) {
        c = &r->clients.clients[i];
        if (ps_redis_repair_add_client(r->repair, c->hour, c->text, c->len,
                                       c->requests) < 0)
        {
            rc = -1;
        }
    }
    if (rc != 0) {
        ps_log(PS_LOG_ERROR, "event=redis_repair_state_dropped "
               "error=out_of_memory");
    }
}


/* Undoes what ps_redis_remember() could not keep: the delta of a flush
 * whose batches could not be made comes again in a later flush, so the
 * hours it touched (hours[0..n), as ps_redis_flush() lists them) are
 * marked broken in the repair state, and their shards never take the
 * absolute form. */
static void
ps_redis_forget_flush(ps_redis_t *r, const int64_t *hours, size_t n)
{
    size_t   i;
    int64_t  hour;

    for (i = 0; i < n; i++) {
        if (hours[i] >= 0) {
            hour = hours[i] / PS_REDIS_SHARDS_MAX;
            ps_redis_repair_break(r->repair, hour);
            ps_redis_mark_shared(r, hour, -1);
        }
    }
}


static int
ps_redis_flush(ps_sink_t *sink, uint64_t zone_id,
    const ps_agg_table_t *delta, const uint64_t *pos, uint32_t nrings)
{
    ps_redis_t   *r = sink->impl;
    int64_t      *hours, kept[PS_REDIS_REPAIR_HOURS], hour;
    size_t        nhours = 0, nkept, i, n, nc;
    unsigned      shard, shards = r->batcher.shards;
    uint64_t      now_ms, expire_ms, dropped = 0;
    uint16_t     *sh;
    uint32_t     *eat;
    const ps_agg_entry_t  *e;

    if (ps_redis_connect(sink) != 0) {
        return -1;
    }

    /* batches of an earlier flush come first, unchanged */
    if (ps_redis_drain(r) != 0) {
        return -1;
    }

    now_ms = ps_now_us() / 1000;
    ps_redis_forget_old_hours(r, now_ms);

    /* the shard of every field and client */
    n = ps_agg_count(delta);
    nc = r->clients.nclients;
    sh = realloc(r->eshard, (n + nc + 1) * sizeof(uint16_t));
    if (sh == NULL) {
        ps_log(PS_LOG_ERROR, "event=redis_flush_failed error=out_of_memory");
        return -1;
    }
    r->eshard = sh;
    r->cshard = sh + n;
    if (n + 1 > r->eat_cap) {
        eat = realloc(r->eat, (n + 1) * sizeof(*eat));
        if (eat == NULL) {
            ps_log(PS_LOG_ERROR, "event=redis_flush_failed "
                   "error=out_of_memory");
            return -1;
        }
        r->eat = eat;
        r->eat_cap = n + 1;
    }
    for (i = 0; i < n; i++) {
        e = ps_agg_entry_at(delta, i);
        r->eshard[i] = (uint16_t) ps_redis_shard_of_key(e->host, e->host_len,
                                                        e->method,
                                                        e->method_len,
                                                        e->path, e->path_len,
                                                        shards);
    }
    for (i = 0; i < nc; i++) {
        r->cshard[i] = (uint16_t) ps_redis_shard_of(r->clients.clients[i].text,
                                                    r->clients.clients[i].len,
                                                    shards);
    }

    /* the distinct hours and shards (hour * PS_REDIS_SHARDS_MAX +
     * shard), oldest first; a kept hour's shard this sink wrote before
     * gets a batch even without a delta, so that a loss of Redis is
     * found and repaired while no request comes */
    nkept = ps_redis_repair_hours(r->repair, kept);
    hours = malloc((n + nc + nkept * shards + 1) * sizeof(*hours));
    if (hours == NULL) {
        ps_log(PS_LOG_ERROR, "event=redis_flush_failed error=out_of_memory");
        return -1;
    }
    for (i = 0; i < n + nc; i++) {
        hour = i < n ? ps_agg_entry_at(delta, i)->hour
                     : r->clients.clients[i - n].hour;
        shard = i < n ? r->eshard[i] : r->cshard[i - n];
        if (i >= n && r->clients.clients[i - n].len == 0) {
            shard = 0;                  /* the folded clients */
        }
        hours[nhours++] = hour * PS_REDIS_SHARDS_MAX + (int64_t) shard;
    }
    for (i = 0; i < nkept; i++) {
        for (shard = 0; shard < shards; shard++) {
            if (ps_redis_was_flushed(r, kept[i], shard)) {
                hours[nhours++] = kept[i] * PS_REDIS_SHARDS_MAX
                                  + (int64_t) shard;
            }
        }
    }
    nhours = ps_redis_distinct(hours, nhours);

    r->batches = calloc(nhours ? nhours : 1, sizeof(*r->batches));
    if (r->batches == NULL) {
        free(hours);
        ps_log(PS_LOG_ERROR, "event=redis_flush_failed error=out_of_memory");
        return -1;
    }

    /* the delta goes to the repair state before the batches are made:
     * the absolute form takes its totals from there */
    ps_redis_remember(r, delta);

    for (i = 0; i < nhours; i++) {
        hour = hours[i] >= 0 ? hours[i] / PS_REDIS_SHARDS_MAX : -1;
        shard = hours[i] >= 0 ? (unsigned) (hours[i] % PS_REDIS_SHARDS_MAX)
                              : 0;
        expire_ms = (uint64_t) (hour + 3600) * 1000 + r->ttl_ms;
        if (hour < 0 || expire_ms <= now_ms) {
            dropped++;
            continue;
        }
        if (ps_redis_build_batch(r, &r->batches[r->nbatches], hour, shard,
                                 zone_id, delta, pos, nrings, expire_ms)
            != 0)
        {
            ps_redis_batch_free(&r->batches[r->nbatches]);
            ps_redis_batches_clear(r);
            ps_redis_forget_flush(r, hours, nhours);
            free(hours);
            ps_log(PS_LOG_ERROR, "event=redis_flush_failed "
                   "error=out_of_memory");
            return -1;
        }
        r->nbatches++;
    }

    free(hours);

    if (dropped) {
        ps_log(PS_LOG_INFO, "event=redis_expired_hours_skipped hours=%llu",
               (unsigned long long) dropped);
    }
    if (r->clients.folded) {
        ps_log(PS_LOG_WARN, "event=redis_clients_overflow requests=%llu "
               "max=%d", (unsigned long long) r->clients.folded,
               PS_REDIS_CLIENTS_MAX);
        r->clients.folded = 0;
    }

    if (r->nbatches == 0) {
        /* nothing to write: every record before pos is in Redis (or
         * of an expired hour) */
        ps_redis_clients_clear(&r->clients);
        ps_redis_batches_clear(r);
        ps_redis_mark_done(r, zone_id, pos, nrings);
        return 0;
    }

    r->cur_delta = delta;
    if (ps_redis_drain(r) != 0) {
        ps_log(PS_LOG_WARN, "event=redis_flush_deferred batches=%zu",
               r->nbatches - r->next);
        /* a batch of totals left for later has its deltas ready: the
         * delta is the pipeline's again once this returns */
        for (i = 0; i < r->nbatches; i++) {
            if (!r->batches[i].done
                && ps_redis_batch_build_deltas(&r->batcher, &r->batches[i],
                                               delta, r->eshard,
                                               &r->clients, r->cshard)
                   != 0)
            {
                ps_log(PS_LOG_ERROR, "event=redis_batch_deltas_failed "
                       "hour=%lld shard=%u error=out_of_memory",
                       (long long) r->batches[i].hour,
                       r->batches[i].shard);
            }
        }
    }
    r->cur_delta = NULL;

    /* the delta now lives in the batches: the pipeline may drop it */
    ps_redis_clients_clear(&r->clients);
    return 0;
}


static void
ps_redis_observe(ps_sink_t *sink, const ps_rec_t *rec)
{
    ps_redis_t  *r = sink->impl;
    size_t       n;

    if (rec->client == NULL) {
        return;
    }

    n = strnlen(rec->client, PS_REC_CLIENT_MAX - 1);
    if (n == 0) {
        return;
    }

    ps_redis_clients_add(&r->observed, rec->hour, rec->client, n);
}


static void
ps_redis_handover(ps_sink_t *sink)
{
    ps_redis_t  *r = sink->impl;

    ps_redis_clients_move(&r->clients, &r->observed);
}


static void
ps_redis_destroy(ps_sink_t *sink)
{
    ps_redis_t  *r;

    if (sink == NULL) {
        return;
    }

    r = sink->impl;
    if (r != NULL) {
        if (r->next < r->nbatches) {
            ps_log(PS_LOG_WARN, "event=redis_batches_discarded count=%zu",
                   r->nbatches - r->next);
        }
        ps_redis_batches_clear(r);
        ps_redis_cluster_destroy(r->rc);
        free(r->where);
        free(r->node_id);
        ps_redis_free_loaded(r);
        free(r->done_pos);
        free(r->argv);
        free(r->argvlen);
        ps_redis_clients_free(&r->clients);
        ps_redis_clients_free(&r->observed);
        ps_redis_repair_destroy(r->repair);
        free(r->eshard);
        free(r->eat);
        free(r);
    }
    free(sink);
}
