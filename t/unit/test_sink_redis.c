/*
 * Unit tests for aggregator/store/redis/sink_redis.c.  Without a Redis server:
 * what the pipeline sees when Redis is unreachable (every call fails quickly,
 * says why, and takes nothing from the delta), and that the client buffer
 * copes with more distinct clients than it keeps.
 *
 * With PS_TEST_REDIS=<port> (t/aggregator-redis-repair.t starts a Redis and
 * sets it; the database is FLUSHALLed), the chunked repair after Redis lost
 * its data, with 3 fields per chunk and the test hook that loses the reply to
 * the n-th chunk (the chunk ran, the sink does not know): a plain repair, a
 * chunk resent after an unknown outcome, a FLUSHALL in the middle of a repair,
 * Redis back from a snapshot taken in the middle of a repair, a repair that
 * meets another's marker, a process that dies in the middle of a repair, and a
 * normal batch that meets a marker.  After each, the hour in Redis is compared
 * with what it held before the loss, key by key.  Then normal batches larger
 * than a chunk, written in chunks like a repair: key by key as the same
 * flushes written by one script each (a chunk size of 1000000), with a lost
 * reply to their first, a middle and their last chunk, a FLUSHALL in their
 * middle (repaired), Redis back from a snapshot taken before one, an hour the
 * sink cannot repair, and a process that dies in the middle of one.
 * Then an hour spread over 4 shards: each field and client in the shard
 * its CRC-32 names, a watermark per shard, and the keys of one shard
 * lost (deleted) and repaired without touching the others.
 * Last, the absolute form: a sink that alone wrote a shard since the
 * hour began sends its fields' totals (no HMGET of the fields); another
 * node's write, a sink restarted in the hour, a loss of Redis each put
 * the shard back to deltas, and every field stays exact throughout.
 * t/aggregator-redis.t covers the sink further.  Prints TAP.
 */

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "agg/agg_table.h"
#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "store/redis/redis_shard.h"
#include "store/redis/sink_redis.h"
#include "tap.h"

#define ZONE     7
#define NRINGS   2
#define NFIELDS  20
#define NCLIENTS 10
#define MARKER   "repair:7"

/* A loopback port nobody listens on (bound, then closed). */
static unsigned
closed_port(void)
{
    int                 fd;
    struct sockaddr_in  sa;
    socklen_t           len = sizeof(sa);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        bail_out("socket");
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0)
    {
        bail_out("bind");
    }
    close(fd);
    return ntohs(sa.sin_port);
}


static redisContext  *admin;
static char           prefix[64];        /* pathstats:{H.0}: */


static redisReply *
cmd(const char *fmt, ...)
{
    va_list      ap;
    redisReply  *reply;

    va_start(ap, fmt);
    reply = redisvCommand(admin, fmt, ap);
    va_end(ap);
    if (reply == NULL) {
        bail_out("redis: %s", admin->errstr);
    }
    return reply;
}


static void
run(const char *fmt, ...)
{
    va_list      ap;
    redisReply  *reply;

    va_start(ap, fmt);
    reply = redisvCommand(admin, fmt, ap);
    va_end(ap);
    if (reply == NULL) {
        bail_out("redis: %s", admin->errstr);
    }
    freeReplyObject(reply);
}


static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


/* The hour's data in Redis as sorted "key field value" lines (the
 * watermark hash aside); the caller frees it. */
static char *
dump_hour(void)
{
    static const char  *hashes[] = { "totals", "paths" };
    static const char  *zsets[] = { "top", "clients:top" };
    redisReply         *reply;
    char              **lines = NULL, *out, line[512];
    size_t              n = 0, cap = 0, i, j, len = 0;
    unsigned            k;

#define ADD_LINE()                                                          \
    do {                                                                    \
        if (n == cap) {                                                     \
            cap = cap ? 2 * cap : 64;                                       \
            lines = realloc(lines, cap * sizeof(*lines));                   \
        }                                                                   \
        lines[n++] = strdup(line);                                          \
        len += strlen(line) + 1;                                            \
    } while (0)

    for (k = 0; k < 4; k++) {
        const char  *name = k < 2 ? hashes[k] : zsets[k - 2];

        reply = k < 2 ? cmd("HGETALL %s%s", prefix, name)
                      : cmd("ZRANGE %s%s 0 -1 WITHSCORES", prefix, name);
        for (j = 0; j + 1 < reply->elements; j += 2) {
            snprintf(line, sizeof(line), "%s %s %s", name,
                     reply->element[j]->str, reply->element[j + 1]->str);
            ADD_LINE();
        }
        freeReplyObject(reply);
    }
    reply = cmd("PFCOUNT %sclients:uniq", prefix);
    snprintf(line, sizeof(line), "clients:uniq %lld", reply->integer);
    freeReplyObject(reply);
    ADD_LINE();
    reply = cmd("SMEMBERS %snodes", prefix);
    for (j = 0; j < reply->elements; j++) {
        snprintf(line, sizeof(line), "nodes %s", reply->element[j]->str);
        ADD_LINE();
    }
    freeReplyObject(reply);

#undef ADD_LINE

    qsort(lines, n, sizeof(*lines), cmp_str);
    out = malloc(len + 1);
    out[0] = '\0';
    for (i = 0, len = 0; i < n; i++) {
        len += (size_t) sprintf(out + len, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}


/* The repair marker of zone ZONE, or "" when there is none. */
static const char *
marker(void)
{
    static char  buf[128];
    redisReply  *reply;

    reply = cmd("HGET %swm:unit %s", prefix, MARKER);
    snprintf(buf, sizeof(buf), "%s",
             reply->type == REDIS_REPLY_STRING ? reply->str : "");
    freeReplyObject(reply);
    return buf;
}


/* The chunk number in the marker (-1: none). */
static long
marker_chunk(void)
{
    const char  *m = marker(), *p = strrchr(m, ':');

    return p ? strtol(p + 1, NULL, 10) : -1;
}


static long long
hget(const char *key, const char *field)
{
    redisReply  *reply;
    long long    v;

    reply = cmd("HGET %s%s %s", prefix, key, field);
    v = reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10)
                                          : -1;
    freeReplyObject(reply);
    return v;
}


/* 1 when the watermarks of zone ZONE are pos, no marker is left and
 * every key of the hour expires. */
static int
settled(uint64_t pos)
{
    redisReply  *reply;
    size_t       i;
    int          ok = 1;

    if (hget("wm:unit", "7.0") != (long long) pos
        || hget("wm:unit", "7.1") != (long long) pos || marker()[0] != '\0')
    {
        diag("watermarks %lld %lld, marker \"%s\"", hget("wm:unit", "7.0"),
             hget("wm:unit", "7.1"), marker());
        return 0;
    }
    reply = cmd("KEYS %s*", prefix);
    for (i = 0; i < reply->elements; i++) {
        redisReply  *t = cmd("PTTL %s", reply->element[i]->str);

        if (t->integer <= 0) {
            diag("%s: PTTL %lld", reply->element[i]->str, t->integer);
            ok = 0;
        }
        freeReplyObject(t);
    }
    ok = ok && reply->elements > 0;
    freeReplyObject(reply);
    return ok;
}


static int
flush_at(ps_sink_t *sink, const ps_agg_table_t *delta, uint64_t p)
{
    uint64_t  pos[NRINGS];
    unsigned  i;

    for (i = 0; i < NRINGS; i++) {
        pos[i] = p;
    }
    /* as the pipeline does: the clients observed so far go with this
     * flush */
    if (sink->ops->handover != NULL) {
        sink->ops->handover(sink);
    }
    return sink->ops->flush(sink, ZONE, delta, pos, NRINGS);
}


static ps_sink_t *
chunk_sink(ps_config_t *cfg, const char *chunk)
{
    ps_sink_t  *sink;

    setenv("PATHSTATS_TEST_REDIS_REPAIR_CHUNK", chunk, 1);
    sink = ps_sink_redis_create(cfg);
    unsetenv("PATHSTATS_TEST_REDIS_REPAIR_CHUNK");
    if (sink == NULL) {
        bail_out("cannot create the sink");
    }
    return sink;
}


static ps_sink_t *
live_sink(ps_config_t *cfg)
{
    return chunk_sink(cfg, "3");
}


/* Scripts Redis ran since the last call (INFO commandstats). */
static long long
scripts_run(void)
{
    static const char  *names[] = { "cmdstat_evalsha:", "cmdstat_eval:" };
    redisReply         *reply;
    const char         *q;
    long long           n = 0;
    unsigned            i;

    reply = cmd("INFO commandstats");
    for (i = 0; i < 2; i++) {
        q = strstr(reply->str, names[i]);
        if (q != NULL && (q = strstr(q, "calls=")) != NULL) {
            n += strtoll(q + 6, NULL, 10);
        }
    }
    freeReplyObject(reply);
    run("CONFIG RESETSTAT");
    return n;
}


static void
lose_reply(unsigned n)
{
    char  s[16];

    if (n == 0) {
        unsetenv("PATHSTATS_TEST_REDIS_REPAIR_LOSE_REPLY");
        return;
    }
    snprintf(s, sizeof(s), "%u", n);
    setenv("PATHSTATS_TEST_REDIS_REPAIR_LOSE_REPLY", s, 1);
}


/* Saves every key of the hour (DUMP) into keys[]/vals[]; their count. */
static size_t
snapshot(char **keys, redisReply **vals, size_t max)
{
    redisReply  *reply;
    size_t       i, n = 0;

    reply = cmd("KEYS %s*", prefix);
    for (i = 0; i < reply->elements && n < max; i++) {
        keys[n] = strdup(reply->element[i]->str);
        vals[n] = cmd("DUMP %s", keys[n]);
        n++;
    }
    freeReplyObject(reply);
    return n;
}


static void
restore(char **keys, redisReply **vals, size_t n)
{
    size_t  i;

    run("FLUSHALL");
    for (i = 0; i < n; i++) {
        run("RESTORE %s 0 %b", keys[i], vals[i]->str, (size_t) vals[i]->len);
        run("PEXPIRE %s 7200000", keys[i]);
        free(keys[i]);
        freeReplyObject(vals[i]);
    }
}


/* Connects admin to the Redis on port and empties it, sets cfg up for
 * a sink on it (url: its buffer for the URL) and prefix for the current
 * hour, which it returns. */
static int64_t
live_setup(unsigned port, ps_config_t *cfg, char *url, size_t url_size)
{
    int64_t      hour;
    time_t       t;
    struct tm    tm;
    static char  host[] = "127.0.0.1", node[] = "unit";

    admin = redisConnect("127.0.0.1", (int) port);
    if (admin == NULL || admin->err) {
        bail_out("cannot connect to Redis on port %u", port);
    }
    run("FLUSHALL");

    snprintf(url, url_size, "redis://127.0.0.1:%u", port);
    memset(cfg, 0, sizeof(*cfg));
    cfg->redis = url;
    cfg->redis_host = host;
    cfg->redis_port = port;
    cfg->redis_ttl_ms = 2ULL * 3600 * 1000;
    cfg->node_id = node;
    cfg->top_n = 100;
    cfg->max_keys_per_hour = 1000;
    cfg->redis_shards = 1;              /* the chunk tests: one prefix */

    hour = ps_hour_of((int64_t) ps_now_us());
    t = (time_t) hour;
    gmtime_r(&t, &tm);
    snprintf(prefix, sizeof(prefix), "pathstats:{%04d%02d%02d%02d.0}:",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);

    return hour;
}


static void
live_tests(unsigned port)
{
    ps_config_t      cfg;
    ps_sink_t       *sink, *sink2;
    ps_agg_table_t  *a, *b, *empty;
    ps_rec_t         rec;
    uint64_t         p = 100, pos[NRINGS];
    int64_t          hour;
    char             url[64];
    char             path[64], client[32], *truth, *now, *keys[16];
    redisReply      *vals[16], *reply;
    size_t           nsnap, i;
    long long        sum, held;
    int              j;

    hour = live_setup(port, &cfg, url, sizeof(url));

    /* two flushes: what the sink remembers of the hour is their sum */
    a = ps_agg_table_create(1000);
    b = ps_agg_table_create(1000);
    empty = ps_agg_table_create(1);
    for (i = 0; i < NFIELDS; i++) {
        snprintf(path, sizeof(path), "/f/%zu", i);
        for (j = 0; j <= (int) i; j++) {
            (void) ps_agg_add(j % 2 ? b : a, hour, "unit.test", 9, "GET", 3,
                              path, strlen(path), 200 + (i % 4) * 100,
                              100 + i * 7 + j, 10 + i, 100 + j, NULL, 0);
        }
    }

    sink = live_sink(&cfg);
    memset(&rec, 0, sizeof(rec));
    rec.hour = hour;
    for (i = 0; i < NCLIENTS; i++) {
        snprintf(client, sizeof(client), "192.0.2.%zu", i);
        rec.client = client;
        for (j = 0; j <= (int) i; j++) {
            sink->ops->observe(sink, &rec);
        }
    }
    is_int(flush_at(sink, a, p += 100), 0, "live: first flush");
    is_int(flush_at(sink, b, p += 100), 0, "live: second flush");
    truth = dump_hour();
    reply = cmd("HLEN %spaths", prefix);
    is_int(reply->integer, NFIELDS, "live: Redis holds the %d fields",
           NFIELDS);
    freeReplyObject(reply);
    ok(settled(p), "live: watermarks stored, every key expires");

    /* a plain chunked repair: 20 fields and 10 clients, 3 fields (or
     * 12 clients) per chunk: 8 chunks */
    run("FLUSHALL");
    is_int(flush_at(sink, empty, p += 100), 0, "repair: heartbeat flush");
    is_str(sink->last_error, "", "repair: done in one flush");
    now = dump_hour();
    is_str(now, truth, "repair: Redis holds exactly what it held");
    free(now);
    ok(settled(p), "repair: new watermarks, no marker, every key expires");

    /* the reply to chunk 3 (index 2) is lost: the chunk ran */
    run("FLUSHALL");
    lose_reply(3);
    is_int(flush_at(sink, empty, p += 100), 0,
           "unknown outcome: the flush took the delta");
    ok(sink->last_error[0] != '\0', "and says the repair is pending: %s",
       sink->last_error);
    is_int(marker_chunk(), 3, "marker: chunks 0-2 are applied");
    is_int(hget("wm:unit", "7.0"), (long long) p,
           "the repair's positions are stored with its first chunk");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "resent chunk 2 is a no-op, the "
           "repair goes on");
    now = dump_hour();
    is_str(now, truth, "unknown outcome: exact");
    free(now);
    ok(settled(p), "unknown outcome: settled");

    /* the reply to the last chunk (8) is lost */
    run("FLUSHALL");
    lose_reply(8);
    (void) flush_at(sink, empty, p += 100);
    is_str(marker(), "", "last chunk: ran, and removed the marker");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "last chunk resent: a no-op");
    is_str(sink->last_error, "", "and the repair is done");
    now = dump_hour();
    is_str(now, truth, "last chunk resent: exact");
    free(now);
    ok(settled(p), "last chunk resent: settled");

    /* Redis loses its data again in the middle of the repair */
    run("FLUSHALL");
    lose_reply(4);
    (void) flush_at(sink, empty, p += 100);
    is_int(marker_chunk(), 4, "mid-repair: chunks 0-3 applied");
    run("FLUSHALL");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "FLUSHALL mid-repair: the repair "
           "starts again from chunk 0");
    now = dump_hour();
    is_str(now, truth, "FLUSHALL mid-repair: exact");
    free(now);
    ok(settled(p), "FLUSHALL mid-repair: settled");

    /* Redis comes back from a snapshot taken after chunk 1 while the
     * sink is at chunk 3 */
    run("FLUSHALL");
    lose_reply(2);
    (void) flush_at(sink, empty, p += 100);
    is_int(marker_chunk(), 2, "snapshot: taken with chunks 0-1 applied");
    nsnap = snapshot(keys, vals, 16);
    lose_reply(3);
    (void) flush_at(sink, empty, p);
    is_int(marker_chunk(), 4, "the repair went on to chunk 4");
    restore(keys, vals, nsnap);
    is_int(marker_chunk(), 2, "Redis is back at chunk 2");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "snapshot: the repair resumes at "
           "chunk 2");
    now = dump_hour();
    is_str(now, truth, "snapshot: exact");
    free(now);
    ok(settled(p), "snapshot: settled");

    /* another repair's marker where this repair's watermarks went (a
     * partial eviction): the repair is abandoned, never doubled */
    run("FLUSHALL");
    lose_reply(2);
    (void) flush_at(sink, empty, p += 100);
    lose_reply(0);
    run("HDEL %swm:unit 7.0 7.1", prefix);
    run("HSET %swm:unit %s other:1", prefix, MARKER);
    reply = cmd("HLEN %spaths", prefix);
    is_int(reply->integer, 6, "abandon: chunks 0-1 applied");
    freeReplyObject(reply);
    is_int(flush_at(sink, empty, p), 0, "abandon: the sink goes on");
    is_str(sink->last_error, "", "abandon: nothing pending");
    reply = cmd("HLEN %spaths", prefix);
    is_int(reply->integer, 6, "abandon: no further chunk written");
    freeReplyObject(reply);
    ok(settled(p), "abandon: the flush's next batch (a heartbeat) writes "
       "as usual over the marker");
    run("FLUSHALL");
    is_int(flush_at(sink, empty, p += 100), 0, "abandon: the next loss");
    now = dump_hour();
    is_str(now, truth, "abandon: is repaired exactly");
    free(now);

    /* the process dies in the middle of a repair; the next one starts
     * after the repair's positions and never writes its chunks again */
    run("FLUSHALL");
    lose_reply(4);
    (void) flush_at(sink, empty, p += 100);
    lose_reply(0);
    is_int(marker_chunk(), 4, "crash: chunks 0-3 applied");
    sink->ops->destroy(sink);
    sink2 = live_sink(&cfg);
    is_int(sink2->ops->load_watermarks(sink2, ZONE, pos, NRINGS), 0,
           "crash: the next process loads its watermarks");
    ok(pos[0] == p && pos[1] == p, "the repair's positions: records it "
       "had are never fed again");
    ps_agg_table_clear(a);
    (void) ps_agg_add(a, hour, "unit.test", 9, "GET", 3, "/new", 4, 200,
                      1, 1, 1, NULL, 0);
    is_int(flush_at(sink2, a, p += 100), 0, "crash: a first write");
    is_str(marker(), "", "clears the stale marker");
    reply = cmd("HGETALL %spaths", prefix);
    sum = 0;
    held = 0;
    for (i = 0; i + 1 < reply->elements; i += 2) {
        char  line[256];

        if (strcmp(reply->element[i]->str, "unit.test\tGET\t/new") == 0) {
            continue;
        }
        /* each field the repair wrote has its whole count */
        snprintf(line, sizeof(line), "paths %s %s\n",
                 reply->element[i]->str, reply->element[i + 1]->str);
        if (strstr(truth, line) != NULL) {
            held++;
        }
        sum += strtoll(reply->element[i + 1]->str, NULL, 10);
    }
    is_int(held, 12, "crash: the 12 fields of chunks 0-3, each exact");
    is_int(hget("totals", "requests"), sum + 1,
           "crash: totals agree: nothing doubled");
    freeReplyObject(reply);

    /* a marker that is not this sink's (a partial eviction): a normal
     * batch is never taken for a loss and writes over it */
    run("FLUSHALL");
    run("HSET %swm:unit %s other:2", prefix, MARKER);
    ps_agg_table_clear(a);
    (void) ps_agg_add(a, hour, "unit.test", 9, "GET", 3, "/new", 4, 200,
                      1, 1, 1, NULL, 0);
    is_int(flush_at(sink2, a, p += 100), 0, "foreign marker: flush");
    is_int(hget("paths", "unit.test\tGET\t/new"), 1,
           "foreign marker: the batch applied as a write, no repair");
    ok(settled(p), "and its marker is gone");

    sink2->ops->destroy(sink2);
    free(truth);
    ps_agg_table_destroy(a);
    ps_agg_table_destroy(b);
    ps_agg_table_destroy(empty);
    run("FLUSHALL");
    redisFree(admin);
}


/* Ten clients of hour, client i with i + 1 requests. */
static void
observe_clients(ps_sink_t *sink, int64_t hour)
{
    ps_rec_t  rec;
    char      client[32];
    size_t    i;
    int       j;

    memset(&rec, 0, sizeof(rec));
    rec.hour = hour;
    for (i = 0; i < NCLIENTS; i++) {
        snprintf(client, sizeof(client), "192.0.2.%zu", i);
        rec.client = client;
        for (j = 0; j <= (int) i; j++) {
            sink->ops->observe(sink, &rec);
        }
    }
}


/* a: NFIELDS fields, b: NFIELDS - 1 fields of hour */
static void
fill(ps_agg_table_t *a, ps_agg_table_t *b, int64_t hour)
{
    char    path[64];
    size_t  i;
    int     j;

    for (i = 0; i < NFIELDS; i++) {
        snprintf(path, sizeof(path), "/f/%zu", i);
        for (j = 0; j <= (int) i; j++) {
            (void) ps_agg_add(j % 2 ? b : a, hour, "unit.test", 9, "GET", 3,
                              path, strlen(path), 200 + (i % 4) * 100,
                              100 + i * 7 + j, 10 + i, 100 + j, NULL, 0);
        }
    }
}


/* Empties Redis and replaces old (destroyed) by a new sink on it that
 * has observed the clients of hour. */
static ps_sink_t *
fresh_sink(ps_sink_t *old, ps_config_t *cfg, int64_t hour)
{
    ps_sink_t  *sink;

    run("FLUSHALL");
    old->ops->destroy(old);
    sink = live_sink(cfg);
    observe_clients(sink, hour);

    return sink;
}


/* Tests that Redis holds the hour exactly as ref and that every
 * watermark is at p. */
static void
is_hour(const char *ref, uint64_t p, const char *what)
{
    char  *now = dump_hour();

    is_str(now, ref, "%s: exact", what);
    free(now);
    ok(settled(p), "%s: settled", what);
}


static void
chunked_batch_tests(unsigned port)
{
    ps_config_t      cfg;
    ps_sink_t       *sink;
    ps_agg_table_t  *a, *b, *empty, *old;
    uint64_t         p = 100000, pos[NRINGS];
    int64_t          hour;
    time_t           t;
    struct tm        tm;
    char             url[64];
    char            *ref, *ref_old, *now, *keys[16], live_prefix[64];
    redisReply      *vals[16], *reply;
    size_t           nsnap, i;
    long long        sum;

    hour = live_setup(port, &cfg, url, sizeof(url));
    memcpy(live_prefix, prefix, sizeof(prefix));

    a = ps_agg_table_create(1000);
    b = ps_agg_table_create(1000);
    old = ps_agg_table_create(1000);
    empty = ps_agg_table_create(1);
    fill(a, b, hour);
    /* two hours back: still in Redis (ttl 2 h), no longer kept for a
     * repair */
    fill(old, old, hour - 7200);

    /* the reference: every flush one script */
    sink = chunk_sink(&cfg, "1000000");
    observe_clients(sink, hour);
    (void) scripts_run();
    is_int(flush_at(sink, a, p += 100), 0, "batch: reference, first flush");
    is_int(scripts_run(), 1, "in one script");
    is_int(flush_at(sink, b, p += 100), 0, "reference: second flush");
    ref = dump_hour();
    run("FLUSHALL");
    is_int(flush_at(sink, old, p += 100), 0, "reference: an older hour");
    t = (time_t) (hour - 7200);
    gmtime_r(&t, &tm);
    snprintf(prefix, sizeof(prefix), "pathstats:{%04d%02d%02d%02d.0}:",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
    ref_old = dump_hour();
    memcpy(prefix, live_prefix, sizeof(prefix));
    sink->ops->destroy(sink);

    /* chunks of 3 fields (12 clients): a with the clients is 8 chunks,
     * b 7 */
    run("FLUSHALL");
    sink = live_sink(&cfg);
    observe_clients(sink, hour);
    (void) scripts_run();
    is_int(flush_at(sink, a, p += 100), 0, "batch: first flush, chunked");
    is_int(scripts_run(), 8, "in 8 scripts");
    is_str(marker(), "", "no marker left");
    is_int(flush_at(sink, b, p += 100), 0, "second flush, chunked");
    is_int(scripts_run(), 7, "in 7 scripts");
    now = dump_hour();
    is_str(now, ref, "chunked batches: exactly as one script each");
    free(now);
    ok(settled(p), "chunked batches: settled");

    /* a batch of exactly one chunk stays one script; one more client
     * makes it two */
    ps_agg_table_clear(a);
    for (i = 0; i < 3; i++) {
        char  path[16];

        snprintf(path, sizeof(path), "/one/%zu", i);
        (void) ps_agg_add(a, hour, "unit.test", 9, "GET", 3, path,
                          strlen(path), 200, 1, 1, 1, NULL, 0);
    }
    is_int(flush_at(sink, a, p += 100), 0, "3 fields");
    is_int(scripts_run(), 1, "one script, as before chunking");
    {
        ps_rec_t  rec;

        memset(&rec, 0, sizeof(rec));
        rec.hour = hour;
        rec.client = "192.0.2.200";
        sink->ops->observe(sink, &rec);
    }
    is_int(flush_at(sink, a, p += 100), 0, "3 fields and a client");
    is_int(scripts_run(), 2, "two scripts");
    is_int(hget("paths", "unit.test\tGET\t/one/2"), 2, "both applied once");
    sink->ops->destroy(sink);
    ps_agg_table_clear(a);
    ps_agg_table_clear(b);
    fill(a, b, hour);

    /* the reply to chunk 0 is lost (it ran): the resend is a no-op
     * that says where to go on */
    run("FLUSHALL");
    sink = live_sink(&cfg);
    observe_clients(sink, hour);
    lose_reply(1);
    is_int(flush_at(sink, a, p += 100), 0,
           "lost reply to chunk 0: the flush took the delta");
    ok(sink->last_error[0] != '\0', "and says the batch is pending: %s",
       sink->last_error);
    is_int(marker_chunk(), 1, "marker: chunk 0 applied");
    is_int(hget("wm:unit", "7.0"), (long long) p,
           "chunk 0 stored the batch's positions");
    lose_reply(0);
    is_int(flush_at(sink, b, p += 100), 0, "next flush: chunk 0 resent "
           "(a no-op), then the rest, then b");
    is_str(sink->last_error, "", "nothing pending");
    is_hour(ref, p, "lost reply to chunk 0");

    /* the reply to chunk 3 of b (a mode '1' batch) is lost */
    sink = fresh_sink(sink, &cfg, hour);
    is_int(flush_at(sink, a, p += 100), 0, "middle: first flush");
    lose_reply(4);
    (void) flush_at(sink, b, p += 100);
    is_int(marker_chunk(), 4, "middle: chunks 0-3 of b applied");
    lose_reply(0);
    (void) scripts_run();
    is_int(flush_at(sink, empty, p), 0, "middle: chunk 3 resent");
    is_int(scripts_run(), 5, "a no-op, then chunks 4-6, then the "
           "heartbeat");
    is_hour(ref, p, "lost reply in the middle");

    /* the reply to the last chunk of b (7) is lost */
    sink = fresh_sink(sink, &cfg, hour);
    is_int(flush_at(sink, a, p += 100), 0, "last chunk: first flush");
    lose_reply(7);
    (void) flush_at(sink, b, p += 100);
    is_str(marker(), "", "last chunk: ran, and removed the marker");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "last chunk resent: a no-op");
    is_str(sink->last_error, "", "and the batch is done");
    is_hour(ref, p, "lost reply to the last chunk");

    /* FLUSHALL in the middle of b: its next chunk answers "lost" and
     * the sink repairs the hour, b included */
    sink = fresh_sink(sink, &cfg, hour);
    is_int(flush_at(sink, a, p += 100), 0, "FLUSHALL mid-batch: first flush");
    lose_reply(4);
    (void) flush_at(sink, b, p += 100);
    is_int(marker_chunk(), 4, "FLUSHALL mid-batch: chunks 0-3 applied");
    run("FLUSHALL");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "FLUSHALL mid-batch: repaired");
    is_str(sink->last_error, "", "in that flush");
    is_hour(ref, p, "FLUSHALL mid-batch");

    /* the same in the middle of the sink's first batch of the hour
     * (mode '0'): the hour is kept, so repaired the same way */
    sink = fresh_sink(sink, &cfg, hour);
    lose_reply(4);
    (void) flush_at(sink, a, p += 100);
    is_int(marker_chunk(), 4, "FLUSHALL mid-first-batch: chunks 0-3");
    run("FLUSHALL");
    lose_reply(0);
    is_int(flush_at(sink, b, p += 100), 0,
           "FLUSHALL mid-first-batch: repaired, then b");
    is_hour(ref, p, "FLUSHALL mid-first-batch");

    /* Redis back from a snapshot taken before b: no marker, older
     * watermarks: b starts again from chunk 0 */
    sink = fresh_sink(sink, &cfg, hour);
    is_int(flush_at(sink, a, p += 100), 0, "snapshot: first flush");
    nsnap = snapshot(keys, vals, 16);
    lose_reply(4);
    (void) flush_at(sink, b, p += 100);
    is_int(marker_chunk(), 4, "snapshot: chunks 0-3 of b applied");
    restore(keys, vals, nsnap);
    is_str(marker(), "", "Redis is back from before b");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "snapshot: b starts again");
    is_hour(ref, p, "snapshot before the batch");

    /* an hour the sink does not keep: a loss in the middle of its batch
     * writes the batch again from chunk 0, as a first write */
    run("FLUSHALL");
    sink->ops->destroy(sink);
    sink = live_sink(&cfg);
    lose_reply(4);
    (void) flush_at(sink, old, p += 100);
    run("FLUSHALL");
    lose_reply(0);
    is_int(flush_at(sink, empty, p), 0, "hour not kept: the flush");
    is_str(sink->last_error, "", "nothing pending");
    t = (time_t) (hour - 7200);
    gmtime_r(&t, &tm);
    snprintf(prefix, sizeof(prefix), "pathstats:{%04d%02d%02d%02d.0}:",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
    now = dump_hour();
    is_str(now, ref_old, "hour not kept: the batch written again, exact");
    free(now);
    ok(settled(p), "hour not kept: settled");
    memcpy(prefix, live_prefix, sizeof(prefix));

    /* the process dies in the middle of a batch: the next one starts
     * after its positions; the rest of the batch is lost, never
     * doubled */
    sink = fresh_sink(sink, &cfg, hour);
    lose_reply(4);
    (void) flush_at(sink, a, p += 100);
    lose_reply(0);
    sink->ops->destroy(sink);
    sink = live_sink(&cfg);
    is_int(sink->ops->load_watermarks(sink, ZONE, pos, NRINGS), 0,
           "crash mid-batch: the next process loads its watermarks");
    ok(pos[0] == p && pos[1] == p, "the batch's positions");
    reply = cmd("HGETALL %spaths", prefix);
    sum = 0;
    for (i = 0; i + 1 < reply->elements; i += 2) {
        sum += strtoll(reply->element[i + 1]->str, NULL, 10);
    }
    is_int((long long) reply->elements / 2, 12,
           "crash mid-batch: the 12 fields of chunks 0-3");
    freeReplyObject(reply);
    is_int(hget("totals", "requests"), sum, "totals agree with them");
    ps_agg_table_clear(a);
    (void) ps_agg_add(a, hour, "unit.test", 9, "GET", 3, "/new", 4, 200,
                      1, 1, 1, NULL, 0);
    is_int(flush_at(sink, a, p += 100), 0, "crash mid-batch: a first write");
    is_str(marker(), "", "clears the stale marker");
    is_int(hget("totals", "requests"), sum + 1, "nothing doubled");

    sink->ops->destroy(sink);
    free(ref);
    free(ref_old);
    ps_agg_table_destroy(a);
    ps_agg_table_destroy(b);
    ps_agg_table_destroy(old);
    ps_agg_table_destroy(empty);
    run("FLUSHALL");
    redisFree(admin);
}


/* The sorted "key field value" lines of every key of hour's shard sh
 * (wm: aside), as dump_hour() does for one prefix. */
static char *
dump_shard(int64_t hour, unsigned sh)
{
    char  save[64], *out;

    memcpy(save, prefix, sizeof(save));
    ps_redis_key_prefix(prefix, sizeof(prefix), hour, sh, 4);
    out = dump_hour();
    memcpy(prefix, save, sizeof(save));
    return out;
}


/* The shard of a key is the one of its field "host\tmethod\tpath",
 * whether the key is short (joined to be hashed at once) or not. */
static void
shard_key_tests(void)
{
    char      field[700], path[600];
    size_t    n;
    unsigned  k, same = 0;

    for (k = 0; k < 64; k++) {
        /* paths of 1 to 568 bytes: on both sides of the 256-byte
         * field that is hashed at once */
        n = 1 + k * 9;
        memset(path, 'a' + k % 26, n);
        path[0] = '/';
        snprintf(field, sizeof(field), "unit.test\tGET\t%.*s", (int) n,
                 path);
        same += ps_redis_shard_of_key("unit.test", 9, "GET", 3, path, n, 16)
                == ps_redis_shard_of(field, strlen(field), 16);
    }
    is_int(same, 64, "shards: a key's shard is its field's, short or long");
    is_int(ps_redis_shard_of_key("", 0, "", 0, "", 0, 16),
           ps_redis_shard_of("\t\t", 2, 16), "and for an empty key");
}


static void
shard_tests(unsigned port)
{
    ps_config_t      cfg;
    ps_sink_t       *sink;
    ps_agg_table_t  *a, *empty;
    ps_rec_t         rec;
    uint64_t         p = 100;
    int64_t          hour;
    char             url[64], path[64], client[32], key[128], *before[4];
    char            *now;
    redisReply      *reply;
    unsigned         sh, used, misplaced;
    long long        sum;
    size_t           i;

    hour = live_setup(port, &cfg, url, sizeof(url));
    cfg.redis_shards = 4;

    a = ps_agg_table_create(1000);
    empty = ps_agg_table_create(1);
    sink = chunk_sink(&cfg, "1000");
    memset(&rec, 0, sizeof(rec));
    rec.hour = hour;
    for (i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "/s/%zu", i);
        (void) ps_agg_add(a, hour, "unit.test", 9, "GET", 3, path,
                          strlen(path), 200, 10, 1, 1, NULL, 0);
        snprintf(client, sizeof(client), "198.51.100.%zu", i % 10);
        rec.client = client;
        sink->ops->observe(sink, &rec);
    }
    is_int(flush_at(sink, a, p += 100), 0, "shards: 40 fields flushed");

    misplaced = 0;
    for (i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "unit.test\tGET\t/s/%zu", i);
        for (sh = 0; sh < 4; sh++) {
            ps_redis_key_prefix(key, sizeof(key), hour, sh, 4);
            reply = cmd("HEXISTS %spaths %s", key, path);
            misplaced += (reply->integer == 1)
                         != (sh == ps_redis_shard_of(path, strlen(path), 4));
            freeReplyObject(reply);
        }
    }
    is_int(misplaced, 0, "shards: each field in the shard CRC-32 names");

    sum = 0;
    used = 0;
    for (sh = 0; sh < 4; sh++) {
        ps_redis_key_prefix(key, sizeof(key), hour, sh, 4);
        reply = cmd("HGET %stotals requests", key);
        if (reply->type == REDIS_REPLY_STRING) {
            sum += strtoll(reply->str, NULL, 10);
            used++;
        }
        freeReplyObject(reply);
        reply = cmd("HGET %swm:unit 7.0", key);
        used += reply->type == REDIS_REPLY_STRING
                && strtoull(reply->str, NULL, 10) == p ? 16 : 0;
        freeReplyObject(reply);
        before[sh] = dump_shard(hour, sh);
    }
    is_int(sum, 40, "shards: the shards' totals add up to the hour's");
    is_int(used, 4 * 17, "shards: all four used, each with its watermark");

    /* shard 2 loses its keys: its repair writes it back, alone */
    ps_redis_key_prefix(key, sizeof(key), hour, 2, 4);
    reply = cmd("KEYS %s*", key);
    for (i = 0; i < reply->elements; i++) {
        run("DEL %s", reply->element[i]->str);
    }
    freeReplyObject(reply);
    (void) scripts_run();
    is_int(flush_at(sink, empty, p += 100), 0, "shards: heartbeat flush");
    for (sh = 0; sh < 4; sh++) {
        now = dump_shard(hour, sh);
        is_str(now, before[sh], "shards: shard %u as before%s", sh,
               sh == 2 ? ", repaired" : ", untouched");
        free(now);
        free(before[sh]);
    }
    is_int(scripts_run(), 4 + 1, "shards: a heartbeat per shard, and one "
           "repair chunk");

    sink->ops->destroy(sink);
    ps_agg_table_destroy(a);
    ps_agg_table_destroy(empty);
    run("FLUSHALL");
    redisFree(admin);
}


/* Calls of Redis command name since the last CONFIG RESETSTAT. */
static long long
calls(const char *name)
{
    redisReply  *reply;
    const char  *q;
    char         key[64];
    long long    n = 0;

    snprintf(key, sizeof(key), "cmdstat_%s:", name);
    reply = cmd("INFO commandstats");
    q = strstr(reply->str, key);
    if (q != NULL && (q = strstr(q, "calls=")) != NULL) {
        n = strtoll(q + 6, NULL, 10);
    }
    freeReplyObject(reply);
    return n;
}


/* Adds flush k's requests to d and to all: NFIELDS paths, path i with
 * (i + k) % 3 + 1 requests of varied status, latency and bytes; from
 * k = 3 on, one path new to the hour as well. */
static void
absolute_delta(ps_agg_table_t *d, ps_agg_table_t *all, int64_t hour,
    unsigned k)
{
    char      path[64];
    unsigned  i, j, n;
    ps_agg_table_t  *t[2];

    t[0] = d;
    t[1] = all;
    for (i = 0; i < NFIELDS + (k >= 3); i++) {
        snprintf(path, sizeof(path), i < NFIELDS ? "/abs/%u" : "/new/%u",
                 i < NFIELDS ? i : k);
        n = (i + k) % 3 + 1;
        for (j = 0; j < n; j++) {
            (void) ps_agg_add(t[0], hour, "unit.test", 9, "GET", 3, path,
                              strlen(path), 200 + ((i + j + k) % 5) * 100,
                              50 + i * 13 + j * 7 + k * 101, 10 + k,
                              1000 + i + j, NULL, 0);
            (void) ps_agg_add(t[1], hour, "unit.test", 9, "GET", 3, path,
                              strlen(path), 200 + ((i + j + k) % 5) * 100,
                              50 + i * 13 + j * 7 + k * 101, 10 + k,
                              1000 + i + j, NULL, 0);
        }
    }
}


/* How many fields of all differ from Redis's (paths value, top score,
 * and the field count; the shard's totals' requests), diag()ing the
 * first. */
static unsigned
absolute_diffs(const ps_agg_table_t *all)
{
    const ps_agg_entry_t  *e;
    redisReply            *reply;
    char                   field[128], want[160];
    size_t                 i;
    unsigned               bad = 0;
    uint64_t               requests = 0;

    for (i = 0; i < ps_agg_count(all); i++) {
        e = ps_agg_entry_at(all, i);
        snprintf(field, sizeof(field), "unit.test\tGET\t%.*s",
                 (int) e->path_len, e->path);
        snprintf(want, sizeof(want), "%llu %llu %llu %llu %llu %llu",
                 (unsigned long long) e->counts.requests,
                 (unsigned long long) e->counts.errors,
                 (unsigned long long) e->counts.bytes_in,
                 (unsigned long long) e->counts.bytes_out,
                 (unsigned long long) e->counts.latency_sum_us,
                 (unsigned long long) e->counts.latency_max_us);
        requests += e->counts.requests;
        reply = cmd("HGET %spaths %b", prefix, field, strlen(field));
        if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, want)) {
            if (bad++ == 0) {
                diag("%s: %s, want %s", field,
                     reply->type == REDIS_REPLY_STRING ? reply->str : "-",
                     want);
            }
        }
        freeReplyObject(reply);
        reply = cmd("ZSCORE %stop %b", prefix, field, strlen(field));
        if (reply->type != REDIS_REPLY_STRING
            || strtoull(reply->str, NULL, 10) != e->counts.requests)
        {
            if (bad++ == 0) {
                diag("%s: top score %s", field,
                     reply->type == REDIS_REPLY_STRING ? reply->str : "-");
            }
        }
        freeReplyObject(reply);
    }
    reply = cmd("HLEN %spaths", prefix);
    bad += reply->integer != (long long) ps_agg_count(all);
    freeReplyObject(reply);
    if (hget("totals", "requests") != (long long) requests) {
        diag("totals: %lld requests, want %llu", hget("totals", "requests"),
             (unsigned long long) requests);
        bad++;
    }
    return bad;
}


/* One flush k of sink (its delta added to all too): 0 when it went
 * through; *hmget the HMGETs it cost Redis (2 a script of deltas: the
 * watermarks and the fields; 1 a script of totals). */
static int
absolute_flush(ps_sink_t *sink, ps_agg_table_t *all, int64_t hour,
    unsigned k, uint64_t p, long long *hmget)
{
    ps_agg_table_t  *d = ps_agg_table_create(1000);
    int              rc;

    absolute_delta(d, all, hour, k);
    run("CONFIG RESETSTAT");
    rc = flush_at(sink, d, p);
    *hmget = calls("hmget");
    ps_agg_table_destroy(d);
    return rc;
}


/* Empties Redis and returns a new empty table of what it should hold
 * (old destroyed). */
static ps_agg_table_t *
absolute_restart(ps_agg_table_t *old)
{
    run("FLUSHALL");
    ps_agg_table_destroy(old);
    return ps_agg_table_create(1000);
}


static void
absolute_tests(unsigned port)
{
    ps_config_t      cfg, cfg2;
    ps_sink_t       *sink, *other;
    ps_agg_table_t  *all;
    uint64_t         p = 100, q = 100;
    int64_t          hour;
    long long        hm;
    unsigned         k = 0;
    char             url[64];
    static char      node2[] = "unit2";

    hour = live_setup(port, &cfg, url, sizeof(url));
    all = ps_agg_table_create(1000);
    sink = chunk_sink(&cfg, "1000");

    /* the first write finds the shard empty: deltas; then totals */
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: first write");
    is_int(hm, 2, "absolute: the first write sends deltas (HMGET of the "
           "fields)");
    is_int(absolute_diffs(all), 0, "absolute: first write exact");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: second write");
    is_int(hm, 1, "absolute: the second sends totals (no HMGET of the "
           "fields)");
    is_int(absolute_diffs(all), 0, "absolute: totals exact");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: third write");
    is_int(hm, 1, "absolute: totals again");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: a write with a field new to the hour");
    is_int(hm, 1, "absolute: totals, the new field's too");
    is_int(absolute_diffs(all), 0, "absolute: exact, new field included");
    ok(settled(p), "absolute: watermarks stored, every key expires");

    /* the same positions again (a resend): applied before, a no-op */
    {
        ps_agg_table_t  *d = ps_agg_table_create(1000), *scratch;

        scratch = ps_agg_table_create(1000);
        absolute_delta(d, scratch, hour, 1);
        is_int(flush_at(sink, d, p), 0, "absolute: positions already "
               "stored");
        ps_agg_table_destroy(d);
        ps_agg_table_destroy(scratch);
    }

    /* another node writes the shard: the next totals are refused, sent
     * again as deltas, and the shard stays in deltas */
    cfg2 = cfg;
    cfg2.node_id = node2;
    other = chunk_sink(&cfg2, "1000");
    is_int(absolute_flush(other, all, hour, 10, q += 100, &hm), 0,
           "absolute: another node writes the shard");
    is_int(absolute_diffs(all), 0, "absolute: the two nodes add up");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: then this node again");
    is_int(hm, 1 + 2, "absolute: its totals refused (nothing applied), its "
           "deltas sent");
    is_int(absolute_diffs(all), 0, "absolute: exact, both nodes' writes");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: and again");
    is_int(hm, 2, "absolute: deltas from then on in this hour");
    is_int(absolute_diffs(all), 0, "absolute: exact");
    other->ops->destroy(other);

    /* a sink started in an hour written before (by this node's earlier
     * process): its state is partial, so deltas all the hour */
    sink->ops->destroy(sink);
    run("DEL %snodes", prefix);
    run("SADD %snodes unit", prefix);
    sink = chunk_sink(&cfg, "1000");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: restarted sink, first write");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: restarted sink, second write");
    is_int(hm, 2, "absolute: a restarted sink sends deltas");
    is_int(absolute_diffs(all), 0, "absolute: exact after the restart");
    sink->ops->destroy(sink);

    /* alone again from an empty hour; then Redis loses it: the repair
     * writes back this sink's part, and deltas follow */
    all = absolute_restart(all);
    sink = chunk_sink(&cfg, "1000");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: a new sink, an empty hour");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: its second write");
    is_int(hm, 1, "absolute: totals");
    run("FLUSHALL");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: Redis lost the hour");
    is_int(absolute_diffs(all), 0, "absolute: repaired exactly");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute: after the repair");
    is_int(hm, 2, "absolute: deltas after a repair");
    is_int(absolute_diffs(all), 0, "absolute: exact after the repair");
    ok(settled(p), "absolute: settled");
    sink->ops->destroy(sink);

    /* another zone of the same node (a second aggregator with the same
     * node id) writes the shard: deltas from then on */
    all = absolute_restart(all);
    sink = chunk_sink(&cfg, "1000");
    other = chunk_sink(&cfg, "1000");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute zones: first write");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute zones: second write");
    is_int(hm, 1, "absolute zones: totals");
    {
        ps_agg_table_t  *d = ps_agg_table_create(1000);
        uint64_t         zpos[NRINGS] = { 50, 50 };

        absolute_delta(d, all, hour, 30);
        is_int(other->ops->flush(other, ZONE + 1, d, zpos, NRINGS), 0,
               "absolute zones: the same node, another zone, writes");
        ps_agg_table_destroy(d);
    }
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute zones: then the first zone again");
    is_int(hm, 1 + 2, "absolute zones: its totals refused, deltas sent");
    is_int(absolute_diffs(all), 0, "absolute zones: both zones add up");
    other->ops->destroy(other);
    sink->ops->destroy(sink);

    /* chunks of 3 fields: totals in chunks; the reply to the third is
     * lost, another node writes, and the sequence resent goes on from
     * its fourth chunk as deltas (built before the flush returned) */
    all = absolute_restart(all);
    sink = chunk_sink(&cfg, "3");
    other = chunk_sink(&cfg2, "1000");
    k = 3;
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute chunks: first write, 7 chunks");
    is_int(hm, 2 * 7, "absolute chunks: deltas");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute chunks: second write");
    is_int(hm, 7, "absolute chunks: totals, chunk by chunk");
    is_int(absolute_diffs(all), 0, "absolute chunks: exact");
    lose_reply(3);
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute chunks: the reply to chunk 3 lost");
    lose_reply(0);
    ok(sink->last_error[0] != '\0', "absolute chunks: the batch is left "
       "for later: %s", sink->last_error);
    is_int(absolute_flush(other, all, hour, 20, q += 100, &hm), 0,
           "absolute chunks: another node writes meanwhile");
    is_int(absolute_flush(sink, all, hour, k++, p += 100, &hm), 0,
           "absolute chunks: the next flush resends the rest");
    is_str(sink->last_error, "", "absolute chunks: all written");
    is_int(absolute_diffs(all), 0, "absolute chunks: exact: three chunks "
           "of totals, the rest as deltas after the other node's write");
    ok(settled(p), "absolute chunks: settled");
    other->ops->destroy(other);
    sink->ops->destroy(sink);

    ps_agg_table_destroy(all);
    run("FLUSHALL");
    redisFree(admin);
}


int
main(void)
{
    ps_config_t      cfg;
    ps_sink_t       *sink;
    ps_agg_table_t  *delta;
    ps_rec_t         rec;
    uint64_t         pos[4] = { 7, 7, 7, 7 };
    char             err[256], client[32];
    char             url[] = "redis://127.0.0.1:1";
    char             host[] = "127.0.0.1";
    char             node[] = "unit";
    int64_t          hour;
    int              i;

    ps_log_set_level(getenv("TEST_VERBOSE") ? PS_LOG_INFO : PS_LOG_ERROR);

    shard_key_tests();

    memset(&cfg, 0, sizeof(cfg));
    ok(ps_sink_redis_create(&cfg) == NULL, "no redis configured: no sink");

    cfg.redis = url;
    cfg.redis_host = host;
    cfg.redis_port = closed_port();
    cfg.redis_ttl_ms = 48ULL * 3600 * 1000;
    cfg.node_id = node;
    cfg.top_n = 100;
    cfg.redis_shards = 16;

    err[0] = '\0';
    is_int(ps_sink_redis_check(&cfg, err, sizeof(err)), -1,
           "check fails when nothing listens");
    ok(strstr(err, "refused") != NULL, "and says why: %s", err);

    sink = ps_sink_redis_create(&cfg);
    ok(sink != NULL, "sink created");
    if (sink == NULL) {
        return done_testing();
    }
    is_str(sink->ops->name, "redis", "named redis");
    is_int(sink->durable, 0, "not durable: never holds the rings back");
    ok(sink->ops->observe != NULL, "observes records (client texts)");

    is_int(sink->ops->load_watermarks(sink, 1, pos, 4), -1,
           "load_watermarks fails");
    ok(pos[0] == 0 && pos[3] == 0, "and leaves zero positions");
    ok(sink->last_error[0] != '\0', "last_error says why: %s",
       sink->last_error);

    /* more distinct clients than the buffer keeps: folded, no crash */
    hour = ps_hour_of(1795000000LL * PS_US_PER_SEC);
    delta = ps_agg_table_create(100);
    memset(&rec, 0, sizeof(rec));
    rec.hour = hour;
    for (i = 0; i < 40000; i++) {
        snprintf(client, sizeof(client), "10.%d.%d.%d", i >> 16,
                 (i >> 8) & 255, i & 255);
        rec.client = client;
        sink->ops->observe(sink, &rec);
        (void) ps_agg_add(delta, hour, "h", 1, "GET", 3, "/", 1, 200, 1,
                          1, 1, NULL, 0);
    }
    is_int(sink->ops->flush(sink, 1, delta, pos, 4), -1,
           "flush fails while Redis is down");
    is_int(sink->ops->flush(sink, 1, delta, pos, 4), -1,
           "and again on the retry");
    is_u64(ps_agg_find(delta, hour, "h", 1, "GET", 3, "/", 1)->counts.requests,
           40000, "the delta is left to the pipeline");

    sink->ops->destroy(sink);
    ps_agg_table_destroy(delta);

    if (getenv("PS_TEST_REDIS") != NULL) {
        live_tests((unsigned) strtoul(getenv("PS_TEST_REDIS"), NULL, 10));
        chunked_batch_tests((unsigned) strtoul(getenv("PS_TEST_REDIS"),
                                               NULL, 10));
        shard_tests((unsigned) strtoul(getenv("PS_TEST_REDIS"), NULL, 10));
        absolute_tests((unsigned) strtoul(getenv("PS_TEST_REDIS"), NULL,
                                          10));
    } else {
        diag("PS_TEST_REDIS not set: the chunked repair against a live "
             "Redis is skipped");
    }
    return done_testing();
}
