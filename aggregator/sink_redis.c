/*
 * Redis sink.  Key layout (H = the UTC hour as YYYYMMDDHH; the braces are
 * a Redis Cluster hash tag, so all keys of one hour live in one slot and
 * one Lua script updates them atomically):
 *
 *   pathstats:{H}:totals        hash: requests, errors, status_1xx ..
 *                               status_5xx, bytes_in, bytes_out,
 *                               latency_sum_us, latency_max_us
 *   pathstats:{H}:req           hash: "<host>\t<method>\t<path>" -> requests
 *   pathstats:{H}:err           hash: same field -> 5xx responses
 *   pathstats:{H}:bytes_in      hash: same field -> request bytes
 *   pathstats:{H}:bytes_out     hash: same field -> response bytes
 *   pathstats:{H}:lat_sum_us    hash: same field -> sum of request times
 *   pathstats:{H}:lat_max_us    hash: same field -> longest request time
 *   pathstats:{H}:top           zset: same field, score = requests
 *   pathstats:{H}:clients:uniq  HyperLogLog of client address texts
 *   pathstats:{H}:clients:top   zset: client text, score = requests
 *   pathstats:{H}:nodes         set: node ids that wrote this hour
 *   pathstats:{H}:wm:<node>     hash: "<zone_id>.<ring>" -> ring position
 *
 * Every key expires ttl after the end of its hour (PEXPIREAT).
 *
 * Exactly once.  A flush becomes one batch per hour, each a script that
 * first compares the positions of the batch with the hour's watermark
 * hash of this node and zone: when every stored position is at or past
 * the batch's, the batch was applied already and the script does nothing;
 * otherwise it adds the counts and stores the positions, in one atomic
 * step.  A batch whose outcome is unknown (timeout, lost connection,
 * error) stays in this sink, unchanged, and is resent before anything
 * else: a resend that had been applied is then a no-op.  flush() returns
 * 0 once the sink has taken the delta into its batches, so the pipeline
 * never hands the same records twice in a larger delta; it returns -1
 * while older batches cannot be delivered, and the pipeline keeps
 * accumulating.
 *
 * At start, load_watermarks() returns per ring the largest position
 * stored for this node and zone in any hour whose keys may still exist
 * (from ttl + 1 h ago to the next hour).  A record that was applied was
 * applied in a batch whose positions are past it and were stored in the
 * watermark of the record's hour, in the same script: so the record lies
 * below the returned position and is not fed again, unless its hour has
 * expired, and then flush() drops it (an hour past its expiry is never
 * written).  Records below the returned position that were not applied
 * (a crash between the batches of the two hours of one flush, batches
 * still undelivered at exit) are lost to Redis, never doubled: Redis is
 * a cache, PostgreSQL holds the truth.
 *
 * Clients: the delta holds client HyperLogLogs in postgresql-hll form,
 * which Redis cannot merge, so observe() buffers the client texts per
 * hour with their request counts (PFADD is idempotent, ZINCRBY rides in
 * the same guarded script).  At most PS_REDIS_CLIENTS_MAX distinct
 * (hour, client) pairs per flush; the requests of further clients count
 * in the member "{other}" of clients:top and are missing from
 * clients:uniq (logged as redis_clients_overflow).  clients:top is
 * trimmed to its top max(10 x top_n, 1000) members whenever it grows past
 * twice that, so its memory stays bounded: a client trimmed away that
 * comes back starts again from the requests of that flush (the scores of
 * clients never trimmed away are exact).  The :top zset of paths is never
 * trimmed (readers take ZREVRANGE 0 top_n-1): its size is bounded by
 * max_keys_per_hour per node already, and its scores stay exact.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "hour.h"
#include "log.h"
#include "sink_redis.h"
#include "strbuf.h"

#define PS_REDIS_CONNECT_TIMEOUT_MS  2000
#define PS_REDIS_COMMAND_TIMEOUT_MS  5000
#define PS_REDIS_CLIENTS_MAX         16384
#define PS_REDIS_CLIENT_SLOTS        (2 * (PS_REDIS_CLIENTS_MAX + 64))
#define PS_REDIS_TOP_CLIENTS_MIN     1000
#define PS_REDIS_BATCH_MAX_ERRORS    10   /* error replies before a drop */
#define PS_REDIS_NKEYS               12
#define PS_REDIS_OTHER_CLIENT        "{other}"

/* The hour script: KEYS as in ps_redis_key_suffix[], ARGV as built by
 * ps_redis_build_batch(). */
static const char ps_redis_script[] =
    "local function ge(a, b)\n"
    "  if #a ~= #b then return #a > #b end\n"
    "  return a >= b\n"
    "end\n"
    "local zone, n = ARGV[2], tonumber(ARGV[3])\n"
    "local wm = KEYS[12]\n"
    "local lost = 0\n"
    "if ARGV[n + 5] == '1' and redis.call('EXISTS', wm) == 0 then\n"
    "  lost = 1\n"
    "end\n"
    "local fields = {}\n"
    "for i = 1, n do fields[i] = zone .. '.' .. (i - 1) end\n"
    "local stored = redis.call('HMGET', wm, unpack(fields))\n"
    "local newer = false\n"
    "for i = 1, n do\n"
    "  local s = stored[i]\n"
    "  if not s or not ge(s, ARGV[3 + i]) then newer = true break end\n"
    "end\n"
    "if not newer then return {0, lost} end\n"
    "local m = tonumber(ARGV[n + 6])\n"
    "local a = n + 7\n"
    "for e = 1, m do\n"
    "  local f = ARGV[a]\n"
    "  redis.call('HINCRBY', KEYS[2], f, ARGV[a + 1])\n"
    "  redis.call('ZINCRBY', KEYS[8], ARGV[a + 1], f)\n"
    "  for k = 2, 5 do\n"
    "    if ARGV[a + k] ~= '0' then\n"
    "      redis.call('HINCRBY', KEYS[k + 1], f, ARGV[a + k])\n"
    "    end\n"
    "  end\n"
    "  local mx = redis.call('HGET', KEYS[7], f)\n"
    "  if not mx or not ge(mx, ARGV[a + 6]) then\n"
    "    redis.call('HSET', KEYS[7], f, ARGV[a + 6])\n"
    "  end\n"
    "  a = a + 7\n"
    "end\n"
    "local tn = {'requests', 'errors', 'status_1xx', 'status_2xx',\n"
    "  'status_3xx', 'status_4xx', 'status_5xx', 'bytes_in', 'bytes_out',\n"
    "  'latency_sum_us'}\n"
    "for i = 1, #tn do\n"
    "  redis.call('HINCRBY', KEYS[1], tn[i], ARGV[a])\n"
    "  a = a + 1\n"
    "end\n"
    "local mx = redis.call('HGET', KEYS[1], 'latency_max_us')\n"
    "if not mx or not ge(mx, ARGV[a]) then\n"
    "  redis.call('HSET', KEYS[1], 'latency_max_us', ARGV[a])\n"
    "end\n"
    "a = a + 1\n"
    "local c = tonumber(ARGV[a])\n"
    "a = a + 1\n"
    "for i = 1, c do\n"
    "  redis.call('PFADD', KEYS[9], ARGV[a])\n"
    "  redis.call('ZINCRBY', KEYS[10], ARGV[a + 1], ARGV[a])\n"
    "  a = a + 2\n"
    "end\n"
    "if ARGV[a] ~= '0' then\n"
    "  redis.call('ZINCRBY', KEYS[10], ARGV[a], '" PS_REDIS_OTHER_CLIENT "')\n"
    "end\n"
    "local keep = tonumber(ARGV[a + 1])\n"
    "if redis.call('ZCARD', KEYS[10]) > 2 * keep then\n"
    "  redis.call('ZREMRANGEBYRANK', KEYS[10], 0, -keep - 1)\n"
    "end\n"
    "for i = 1, n do redis.call('HSET', wm, fields[i], ARGV[3 + i]) end\n"
    "redis.call('SADD', KEYS[11], ARGV[1])\n"
    "for k = 1, #KEYS do redis.call('PEXPIREAT', KEYS[k], ARGV[n + 4]) end\n"
    "return {1, lost}\n";

static const char *ps_redis_key_suffix[PS_REDIS_NKEYS] = {
    "totals", "req", "err", "bytes_in", "bytes_out", "lat_sum_us",
    "lat_max_us", "top", "clients:uniq", "clients:top", "nodes",
    "wm:"                                   /* + node id */
};

/* One hour's script call, kept until Redis has confirmed it. */
typedef struct {
    int64_t    hour;
    ps_buf_t   bytes;                       /* all keys and args */
    size_t    *off;                         /* into bytes.data */
    size_t    *len;
    size_t     argc;
    size_t     cap;
    unsigned   errors;                      /* error replies so far */
} ps_redis_batch_t;

/* One (hour, client) of the client buffer; len 0 is the hour's fold. */
typedef struct {
    int64_t    hour;
    uint64_t   requests;
    uint8_t    len;
    char       text[PS_REC_CLIENT_MAX];
} ps_redis_client_t;

typedef struct {
    ps_sink_t         *sink;                /* for sink->last_error */
    char              *host;
    unsigned           port;
    unsigned           db;
    uint64_t           ttl_ms;
    uint64_t           top_clients;         /* kept in clients:top */
    char              *node_id;
    redisContext      *ctx;
    char               sha[41];             /* empty: not loaded */

    ps_redis_batch_t  *batches;             /* undelivered, in order */
    size_t             nbatches;
    size_t             next;                /* first not yet confirmed */

    ps_redis_client_t *clients;             /* PS_REDIS_CLIENTS_MAX + 64 */
    uint32_t          *slots;               /* index + 1, 0 = free */
    size_t             nclients;
    uint64_t           clients_folded;      /* requests, since last log */

    int64_t            flushed[8];          /* hours this process wrote */
    unsigned           nflushed;
} ps_redis_t;

static int ps_redis_connect_ctx(const char *host, unsigned port,
    unsigned db, redisContext **out, char *err, size_t errlen);
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

static const ps_sink_ops_t ps_redis_ops = {
    .name = "redis",
    .connect = ps_redis_connect,
    .load_watermarks = ps_redis_load_watermarks,
    .flush = ps_redis_flush,
    .destroy = ps_redis_destroy,
    .observe = ps_redis_observe,
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


static struct timeval
ps_redis_tv(unsigned ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}


static uint64_t
ps_redis_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}


/* Writes "pathstats:{YYYYMMDDHH}:" into buf (at least 32 bytes). */
static void
ps_redis_key_prefix(char *buf, size_t size, int64_t hour)
{
    time_t     t = (time_t) hour;
    struct tm  tm;

    gmtime_r(&t, &tm);
    snprintf(buf, size, "pathstats:{%04d%02d%02d%02d}:",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
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

    r->host = strdup(cfg->redis_host ? cfg->redis_host : "127.0.0.1");
    r->node_id = strdup(cfg->node_id ? cfg->node_id : "default");
    r->clients = malloc((PS_REDIS_CLIENTS_MAX + 64) * sizeof(*r->clients));
    r->slots = calloc(PS_REDIS_CLIENT_SLOTS, sizeof(*r->slots));
    if (r->host == NULL || r->node_id == NULL || r->clients == NULL
        || r->slots == NULL)
    {
        goto fail;
    }

    r->port = cfg->redis_port;
    r->db = cfg->redis_db;
    r->ttl_ms = cfg->redis_ttl_ms;
    r->top_clients = cfg->top_n * 10 > PS_REDIS_TOP_CLIENTS_MIN
                     ? cfg->top_n * 10 : PS_REDIS_TOP_CLIENTS_MIN;

    r->sink = sink;
    sink->ops = &ps_redis_ops;
    sink->impl = r;
    sink->durable = 0;
    return sink;

fail:

    ps_log(PS_LOG_ERROR, "event=redis_create_failed error=out_of_memory");
    if (r != NULL) {
        free(r->host);
        free(r->node_id);
        free(r->clients);
        free(r->slots);
        free(r);
    }
    free(sink);
    return NULL;
}


/* Connects, PINGs and SELECTs db; 0, or -1 with the reason in err. */
static int
ps_redis_connect_ctx(const char *host, unsigned port, unsigned db,
    redisContext **out, char *err, size_t errlen)
{
    redisContext  *c;
    redisReply    *reply = NULL;
    char           dbs[16];

    c = redisConnectWithTimeout(host, (int) port,
                                ps_redis_tv(PS_REDIS_CONNECT_TIMEOUT_MS));
    if (c == NULL) {
        snprintf(err, errlen, "cannot allocate a redis context");
        return -1;
    }

    if (c->err) {
        snprintf(err, errlen, "connect to %s:%u: %s", host, port, c->errstr);
        goto fail;
    }

    if (redisSetTimeout(c, ps_redis_tv(PS_REDIS_COMMAND_TIMEOUT_MS))
        != REDIS_OK)
    {
        snprintf(err, errlen, "set timeout: %s", c->errstr);
        goto fail;
    }

    reply = redisCommand(c, "PING");
    if (reply == NULL) {
        snprintf(err, errlen, "PING: %s", c->errstr);
        goto fail;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "PING: %s", reply->str);
        goto fail;
    }

    freeReplyObject(reply);
    reply = NULL;

    if (db != 0) {
        snprintf(dbs, sizeof(dbs), "%u", db);
        reply = redisCommand(c, "SELECT %s", dbs);
        if (reply == NULL) {
            snprintf(err, errlen, "SELECT %u: %s", db, c->errstr);
            goto fail;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "SELECT %u: %s", db, reply->str);
            goto fail;
        }

        freeReplyObject(reply);
        reply = NULL;
    }

    *out = c;
    return 0;

fail:

    if (reply != NULL) {
        freeReplyObject(reply);
    }
    redisFree(c);
    return -1;
}


int
ps_sink_redis_check(const ps_config_t *cfg, char *err, size_t errlen)
{
    redisContext  *c;

    if (cfg->redis == NULL) {
        snprintf(err, errlen, "no redis configured");
        return -1;
    }

    if (ps_redis_connect_ctx(cfg->redis_host ? cfg->redis_host
                                             : "127.0.0.1",
                             cfg->redis_port, cfg->redis_db, &c,
                             err, errlen) != 0)
    {
        return -1;
    }

    redisFree(c);
    return 0;
}


static int
ps_redis_connect(ps_sink_t *sink)
{
    ps_redis_t  *r = sink->impl;
    redisReply  *reply;
    char         err[256];

    if (r->ctx != NULL) {
        return 0;
    }

    if (ps_redis_connect_ctx(r->host, r->port, r->db, &r->ctx,
                             err, sizeof(err)) != 0)
    {
        ps_log(PS_LOG_WARN, "event=redis_connect_failed host=%s port=%u "
               "error=\"%s\"", r->host, r->port, err);
        ps_redis_set_error(r, "%s", err);
        return -1;
    }

    r->sha[0] = '\0';
    reply = redisCommand(r->ctx, "SCRIPT LOAD %s", ps_redis_script);
    if (reply == NULL) {
        ps_redis_io_failed(r, "SCRIPT LOAD");
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

    ps_log(PS_LOG_INFO, "event=redis_connected host=%s port=%u db=%u",
           r->host, r->port, r->db);
    return 0;
}


static void
ps_redis_disconnect(ps_redis_t *r)
{
    if (r->ctx != NULL) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->sha[0] = '\0';
}


/* After a NULL reply: the context is unusable (I/O error, timeout). */
static void
ps_redis_io_failed(ps_redis_t *r, const char *what)
{
    ps_log(PS_LOG_WARN, "event=redis_io_error command=%s error=\"%s\"",
           what, r->ctx ? r->ctx->errstr : "no connection");
    ps_redis_set_error(r, "%s: %s", what,
                       r->ctx ? r->ctx->errstr : "no connection");
    ps_redis_disconnect(r);
}


static int
ps_redis_load_watermarks(ps_sink_t *sink, uint64_t zone_id, uint64_t *pos,
    uint32_t nrings)
{
    ps_redis_t    *r = sink->impl;
    int64_t        now_s, first, last, h;
    size_t         nhours, i, argc;
    uint32_t       ring;
    ps_buf_t       b = PS_BUF_INIT;
    size_t        *off = NULL, *len = NULL;
    const char   **argv = NULL;
    redisReply    *reply = NULL;
    char           prefix[64];
    int            rc = -1;

    for (ring = 0; ring < nrings; ring++) {
        pos[ring] = 0;
    }

    if (ps_redis_connect(sink) != 0) {
        return -1;
    }

    /* every hour whose keys may still exist, and one ahead for skew */
    now_s = (int64_t) (ps_redis_now_ms() / 1000);
    first = ps_hour_of((now_s - 3600 - (int64_t) (r->ttl_ms / 1000))
                       * PS_US_PER_SEC);
    last = ps_hour_of(now_s * PS_US_PER_SEC) + 3600;
    if ((last - first) / 3600 > 24 * 400) {
        first = last - (int64_t) 3600 * 24 * 400;
    }

    argc = 2 + nrings;
    off = malloc(argc * sizeof(*off));
    len = malloc(argc * sizeof(*len));
    argv = malloc(argc * sizeof(*argv));
    if (off == NULL || len == NULL || argv == NULL) {
        ps_log(PS_LOG_ERROR, "event=redis_watermarks_failed "
               "error=out_of_memory");
        goto done;
    }

    nhours = 0;
    for (h = first; h <= last; h += 3600) {
        ps_buf_reset(&b);
        ps_redis_key_prefix(prefix, sizeof(prefix), h);
        off[0] = b.len;
        if (ps_buf_puts(&b, "HMGET") != 0) {
            goto done;
        }
        len[0] = b.len - off[0];
        off[1] = b.len;
        if (ps_buf_printf(&b, "%swm:%s", prefix, r->node_id) != 0) {
            goto done;
        }
        len[1] = b.len - off[1];
        for (ring = 0; ring < nrings; ring++) {
            off[2 + ring] = b.len;
            if (ps_buf_printf(&b, "%llu.%u", (unsigned long long) zone_id,
                              ring) != 0)
            {
                goto done;
            }
            len[2 + ring] = b.len - off[2 + ring];
        }
        for (i = 0; i < argc; i++) {
            argv[i] = b.data + off[i];
        }
        if (redisAppendCommandArgv(r->ctx, (int) argc, argv, len)
            != REDIS_OK)
        {
            ps_redis_io_failed(r, "HMGET");
            goto done;
        }
        nhours++;
    }

    for (i = 0; i < nhours; i++) {
        if (redisGetReply(r->ctx, (void **) &reply) != REDIS_OK
            || reply == NULL)
        {
            ps_redis_io_failed(r, "HMGET");
            goto done;
        }

        if (reply->type != REDIS_REPLY_ARRAY
            || reply->elements != nrings)
        {
            ps_log(PS_LOG_WARN, "event=redis_watermarks_failed "
                   "error=\"unexpected HMGET reply type %d\"", reply->type);
            /* the remaining replies cannot be matched: start afresh */
            freeReplyObject(reply);
            reply = NULL;
            ps_redis_disconnect(r);
            goto done;
        }

        for (ring = 0; ring < nrings; ring++) {
            redisReply  *el = reply->element[ring];
            uint64_t     v;

            if (el->type != REDIS_REPLY_STRING) {
                continue;
            }
            v = strtoull(el->str, NULL, 10);
            if (v > pos[ring]) {
                pos[ring] = v;
            }
        }

        freeReplyObject(reply);
        reply = NULL;
    }

    ps_log(PS_LOG_INFO, "event=redis_watermarks_loaded zone_id=%llu "
           "rings=%u hours=%zu", (unsigned long long) zone_id, nrings,
           nhours);
    rc = 0;

done:

    if (rc != 0) {
        for (ring = 0; ring < nrings; ring++) {
            pos[ring] = 0;
        }
        /* replies may still be pending: never read them as others' */
        ps_redis_disconnect(r);
        if (r->sink->last_error[0] == '\0') {
            ps_redis_set_error(r, "cannot load watermarks");
        }
    }
    ps_buf_free(&b);
    free(off);
    free(len);
    free(argv);
    return rc;
}


/* Appends one argument of n bytes to the batch; 0 or -1. */
static int
ps_redis_arg(ps_redis_batch_t *bt, const void *p, size_t n)
{
    size_t  ncap, *noff, *nlen;

    if (bt->argc == bt->cap) {
        ncap = bt->cap ? 2 * bt->cap : 64;
        noff = realloc(bt->off, ncap * sizeof(*noff));
        if (noff == NULL) {
            return -1;
        }
        bt->off = noff;
        nlen = realloc(bt->len, ncap * sizeof(*nlen));
        if (nlen == NULL) {
            return -1;
        }
        bt->len = nlen;
        bt->cap = ncap;
    }

    bt->off[bt->argc] = bt->bytes.len;
    if (ps_buf_append(&bt->bytes, p, n) != 0) {
        return -1;
    }
    bt->len[bt->argc++] = n;
    return 0;
}


static int
ps_redis_arg_u64(ps_redis_batch_t *bt, uint64_t v)
{
    char  s[24];
    int   n;

    n = snprintf(s, sizeof(s), "%llu", (unsigned long long) v);
    return ps_redis_arg(bt, s, (size_t) n);
}


static void
ps_redis_batch_free(ps_redis_batch_t *bt)
{
    ps_buf_free(&bt->bytes);
    free(bt->off);
    free(bt->len);
    memset(bt, 0, sizeof(*bt));
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


static int
ps_redis_was_flushed(const ps_redis_t *r, int64_t hour)
{
    unsigned  i;

    for (i = 0; i < r->nflushed; i++) {
        if (r->flushed[i] == hour) {
            return 1;
        }
    }
    return 0;
}


static void
ps_redis_mark_flushed(ps_redis_t *r, int64_t hour)
{
    unsigned  n = sizeof(r->flushed) / sizeof(r->flushed[0]);

    if (ps_redis_was_flushed(r, hour)) {
        return;
    }
    if (r->nflushed < n) {
        r->flushed[r->nflushed++] = hour;
        return;
    }
    memmove(r->flushed, r->flushed + 1, (n - 1) * sizeof(r->flushed[0]));
    r->flushed[n - 1] = hour;
}


/* Builds the script keys and arguments of one hour; 0 or -1. */
static int
ps_redis_build_batch(ps_redis_t *r, ps_redis_batch_t *bt, int64_t hour,
    uint64_t zone_id, const ps_agg_table_t *delta, const uint64_t *pos,
    uint32_t nrings, uint64_t expire_ms)
{
    char                   prefix[64], key[160];
    size_t                 i, n, cnt_off, ncnt;
    uint32_t               ring;
    uint64_t               tot[11], folded;
    const ps_agg_entry_t  *e;
    const ps_redis_client_t *c;
    unsigned               k;
    int                    kn;

    memset(bt, 0, sizeof(*bt));
    bt->hour = hour;
    ps_redis_key_prefix(prefix, sizeof(prefix), hour);

    for (k = 0; k < PS_REDIS_NKEYS; k++) {
        kn = snprintf(key, sizeof(key), "%s%s%s", prefix,
                      ps_redis_key_suffix[k],
                      k == PS_REDIS_NKEYS - 1 ? r->node_id : "");
        if (ps_redis_arg(bt, key, (size_t) kn) != 0) {
            return -1;
        }
    }

    if (ps_redis_arg(bt, r->node_id, strlen(r->node_id)) != 0
        || ps_redis_arg_u64(bt, zone_id) != 0
        || ps_redis_arg_u64(bt, nrings) != 0)
    {
        return -1;
    }
    for (ring = 0; ring < nrings; ring++) {
        if (ps_redis_arg_u64(bt, pos[ring]) != 0) {
            return -1;
        }
    }
    if (ps_redis_arg_u64(bt, expire_ms) != 0
        || ps_redis_arg(bt, ps_redis_was_flushed(r, hour) ? "1" : "0", 1)
           != 0)
    {
        return -1;
    }

    /* entry count, patched once known */
    cnt_off = bt->argc;
    if (ps_redis_arg(bt, "0000000000", 10) != 0) {
        return -1;
    }

    memset(tot, 0, sizeof(tot));
    ncnt = 0;
    n = ps_agg_count(delta);
    for (i = 0; i < n; i++) {
        e = ps_agg_entry_at(delta, i);
        if (e->hour != hour) {
            continue;
        }

        /* field: host \t method \t path */
        if (ps_redis_arg(bt, e->host, e->host_len) != 0
            || ps_buf_putc(&bt->bytes, '\t') != 0
            || ps_buf_append(&bt->bytes, e->method, e->method_len) != 0
            || ps_buf_putc(&bt->bytes, '\t') != 0
            || ps_buf_append(&bt->bytes, e->path, e->path_len) != 0)
        {
            return -1;
        }
        bt->len[bt->argc - 1] = bt->bytes.len - bt->off[bt->argc - 1];

        if (ps_redis_arg_u64(bt, e->requests) != 0
            || ps_redis_arg_u64(bt, e->errors) != 0
            || ps_redis_arg_u64(bt, e->bytes_in) != 0
            || ps_redis_arg_u64(bt, e->bytes_out) != 0
            || ps_redis_arg_u64(bt, e->latency_sum_us) != 0
            || ps_redis_arg_u64(bt, e->latency_max_us) != 0)
        {
            return -1;
        }

        tot[0] += e->requests;
        tot[1] += e->errors;
        for (k = 0; k < 5; k++) {
            tot[2 + k] += e->status[k];
        }
        tot[7] += e->bytes_in;
        tot[8] += e->bytes_out;
        tot[9] += e->latency_sum_us;
        if (e->latency_max_us > tot[10]) {
            tot[10] = e->latency_max_us;
        }
        ncnt++;
    }

    snprintf(key, sizeof(key), "%010zu", ncnt);
    memcpy(bt->bytes.data + bt->off[cnt_off], key, 10);
    /* the script reads it with tonumber(): leading zeros are fine */

    for (k = 0; k < 11; k++) {
        if (ps_redis_arg_u64(bt, tot[k]) != 0) {
            return -1;
        }
    }

    cnt_off = bt->argc;
    if (ps_redis_arg(bt, "0000000000", 10) != 0) {
        return -1;
    }
    ncnt = 0;
    folded = 0;
    for (i = 0; i < r->nclients; i++) {
        c = &r->clients[i];
        if (c->hour != hour) {
            continue;
        }
        if (c->len == 0) {
            folded += c->requests;
            continue;
        }
        if (ps_redis_arg(bt, c->text, c->len) != 0
            || ps_redis_arg_u64(bt, c->requests) != 0)
        {
            return -1;
        }
        ncnt++;
    }
    snprintf(key, sizeof(key), "%010zu", ncnt);
    memcpy(bt->bytes.data + bt->off[cnt_off], key, 10);

    if (ps_redis_arg_u64(bt, folded) != 0) {
        return -1;
    }

    return ps_redis_arg_u64(bt, r->top_clients);
}


/* Sends one batch (EVALSHA, EVAL after NOSCRIPT); 0 when Redis confirmed
 * it (applied now or before), -1 otherwise (the batch stays). */
static int
ps_redis_send_batch(ps_redis_t *r, ps_redis_batch_t *bt)
{
    const char   **argv = NULL;
    size_t        *argvlen = NULL;
    size_t         argc, i;
    redisReply    *reply = NULL;
    char           nkeys[8], prefix[64];
    int            rc = -1, attempt;

    argc = 3 + bt->argc;
    argv = malloc(argc * sizeof(*argv));
    argvlen = malloc(argc * sizeof(*argvlen));
    if (argv == NULL || argvlen == NULL) {
        ps_log(PS_LOG_ERROR, "event=redis_flush_failed error=out_of_memory");
        goto done;
    }

    snprintf(nkeys, sizeof(nkeys), "%d", PS_REDIS_NKEYS);
    argv[2] = nkeys;
    argvlen[2] = strlen(nkeys);
    for (i = 0; i < bt->argc; i++) {
        argv[3 + i] = bt->bytes.data + bt->off[i];
        argvlen[3 + i] = bt->len[i];
    }

    for (attempt = 0; attempt < 2; attempt++) {
        if (r->ctx == NULL) {
            goto done;
        }

        if (r->sha[0] != '\0' && attempt == 0) {
            /* EVALSHA first; NOSCRIPT (a restarted or flushed Redis, a
             * failover) falls back to EVAL, which caches it again */
            argv[0] = "EVALSHA";
            argv[1] = r->sha;
            argvlen[1] = 40;
        } else {
            argv[0] = "EVAL";
            argv[1] = ps_redis_script;
            argvlen[1] = sizeof(ps_redis_script) - 1;
        }
        argvlen[0] = strlen(argv[0]);

        reply = redisCommandArgv(r->ctx, (int) argc, argv, argvlen);
        if (reply == NULL) {
            ps_redis_io_failed(r, argv[0]);
            goto done;
        }

        if (reply->type == REDIS_REPLY_ERROR
            && strncmp(reply->str, "NOSCRIPT", 8) == 0)
        {
            freeReplyObject(reply);
            reply = NULL;
            r->sha[0] = '\0';
            continue;
        }
        break;
    }

    if (reply == NULL) {
        goto done;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        bt->errors++;
        ps_log(PS_LOG_WARN, "event=redis_script_error errors=%u "
               "error=\"%.200s\"", bt->errors, reply->str);
        ps_redis_set_error(r, "script: %.200s", reply->str);
        goto done;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        bt->errors++;
        ps_log(PS_LOG_WARN, "event=redis_script_error errors=%u "
               "error=\"unexpected reply type %d\"", bt->errors,
               reply->type);
        goto done;
    }

    if (reply->element[1]->integer == 1) {
        ps_redis_key_prefix(prefix, sizeof(prefix), bt->hour);
        ps_log(PS_LOG_WARN, "event=redis_state_lost hour=%.10s "
               "node=%s", prefix + 11, r->node_id);
    }

    if (reply->element[0]->integer == 0) {
        ps_log(PS_LOG_DEBUG, "event=redis_batch_already_applied "
               "hour=%lld", (long long) bt->hour);
    }

    ps_redis_mark_flushed(r, bt->hour);
    rc = 0;

done:

    if (reply != NULL) {
        freeReplyObject(reply);
    }
    free(argv);
    free(argvlen);
    return rc;
}


/* Sends the undelivered batches in order; 0 when all are confirmed. */
static int
ps_redis_drain(ps_redis_t *r)
{
    ps_redis_batch_t  *bt;

    while (r->next < r->nbatches) {
        bt = &r->batches[r->next];
        if (ps_redis_send_batch(r, bt) != 0) {
            if (bt->errors < PS_REDIS_BATCH_MAX_ERRORS) {
                return -1;
            }
            /* Redis keeps refusing it (wrong key type, memory): a cache
             * must not stall forever on one hour */
            ps_log(PS_LOG_ERROR, "event=redis_batch_dropped hour=%lld "
                   "errors=%u", (long long) bt->hour, bt->errors);
        }
        ps_redis_batch_free(bt);
        r->next++;
    }

    ps_redis_batches_clear(r);
    r->sink->last_error[0] = '\0';
    return 0;
}


static int
ps_redis_cmp_hour(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


static void
ps_redis_clients_clear(ps_redis_t *r)
{
    memset(r->slots, 0, PS_REDIS_CLIENT_SLOTS * sizeof(*r->slots));
    r->nclients = 0;
}


static int
ps_redis_flush(ps_sink_t *sink, uint64_t zone_id,
    const ps_agg_table_t *delta, const uint64_t *pos, uint32_t nrings)
{
    ps_redis_t   *r = sink->impl;
    int64_t      *hours;
    size_t        nhours = 0, i, j, n;
    uint64_t      now_ms, expire_ms, dropped = 0;

    if (ps_redis_connect(sink) != 0) {
        return -1;
    }

    /* batches of an earlier flush come first, unchanged */
    if (ps_redis_drain(r) != 0) {
        return -1;
    }

    /* the distinct hours, oldest first */
    n = ps_agg_count(delta);
    hours = malloc((n + r->nclients + 1) * sizeof(*hours));
    if (hours == NULL) {
        ps_log(PS_LOG_ERROR, "event=redis_flush_failed error=out_of_memory");
        return -1;
    }
    for (i = 0; i < n + r->nclients; i++) {
        hours[nhours++] = i < n ? ps_agg_entry_at(delta, i)->hour
                                : r->clients[i - n].hour;
    }
    qsort(hours, nhours, sizeof(hours[0]), ps_redis_cmp_hour);
    for (i = 0, j = 0; i < nhours; i++) {
        if (j == 0 || hours[j - 1] != hours[i]) {
            hours[j++] = hours[i];
        }
    }
    nhours = j;

    r->batches = calloc(nhours ? nhours : 1, sizeof(*r->batches));
    if (r->batches == NULL) {
        free(hours);
        ps_log(PS_LOG_ERROR, "event=redis_flush_failed error=out_of_memory");
        return -1;
    }

    now_ms = ps_redis_now_ms();
    for (i = 0; i < nhours; i++) {
        expire_ms = (uint64_t) (hours[i] + 3600) * 1000 + r->ttl_ms;
        if (hours[i] < 0 || expire_ms <= now_ms) {
            dropped++;
            continue;
        }
        if (ps_redis_build_batch(r, &r->batches[r->nbatches], hours[i],
                                 zone_id, delta, pos, nrings, expire_ms)
            != 0)
        {
            ps_redis_batch_free(&r->batches[r->nbatches]);
            ps_redis_batches_clear(r);
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
    if (r->clients_folded) {
        ps_log(PS_LOG_WARN, "event=redis_clients_overflow requests=%llu "
               "max=%d", (unsigned long long) r->clients_folded,
               PS_REDIS_CLIENTS_MAX);
        r->clients_folded = 0;
    }

    /* the delta now lives in the batches: the pipeline may drop it */
    ps_redis_clients_clear(r);

    if (ps_redis_drain(r) != 0) {
        ps_log(PS_LOG_WARN, "event=redis_flush_deferred batches=%zu",
               r->nbatches - r->next);
    }
    return 0;
}


static uint32_t
ps_redis_client_hash(int64_t hour, const char *s, size_t n)
{
    uint64_t  h = 1469598103934665603ULL ^ (uint64_t) hour;
    size_t    i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }
    return (uint32_t) (h ^ (h >> 32));
}


/* Counts one request of client s (n bytes, 0: the hour's fold). */
static int
ps_redis_client_count(ps_redis_t *r, int64_t hour, const char *s, size_t n)
{
    uint32_t            slot, idx;
    ps_redis_client_t  *c;

    slot = ps_redis_client_hash(hour, s, n) % PS_REDIS_CLIENT_SLOTS;
    for ( ;; ) {
        idx = r->slots[slot];
        if (idx == 0) {
            break;
        }
        c = &r->clients[idx - 1];
        if (c->hour == hour && c->len == n && memcmp(c->text, s, n) == 0) {
            c->requests++;
            return 0;
        }
        slot = (slot + 1) % PS_REDIS_CLIENT_SLOTS;
    }

    if (r->nclients >= (n ? PS_REDIS_CLIENTS_MAX : PS_REDIS_CLIENTS_MAX + 64))
    {
        return -1;
    }

    c = &r->clients[r->nclients++];
    c->hour = hour;
    c->requests = 1;
    c->len = (uint8_t) n;
    memcpy(c->text, s, n);
    r->slots[slot] = (uint32_t) r->nclients;
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

    if (ps_redis_client_count(r, rec->hour, rec->client, n) != 0) {
        r->clients_folded++;
        (void) ps_redis_client_count(r, rec->hour, "", 0);
    }
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
        ps_redis_disconnect(r);
        free(r->host);
        free(r->node_id);
        free(r->clients);
        free(r->slots);
        free(r);
    }
    free(sink);
}
