/*
 * Redis repair benchmark: how long the first write and the repair of
 * one hour keep Redis busy.  The sink writes an hour of N fields and C
 * client texts (one flush, a first write: one batch, in chunks when it
 * holds more than a chunk), Redis loses everything (FLUSHALL), and the
 * next flush (no delta: the heartbeat) repairs the hour.  For each, INFO
 * commandstats gives the number of scripts and their total time, the
 * SLOWLOG (1 ms threshold: Redis 7 logs the commands a script calls as
 * well, which slowlog-log-slower-than 0 would count and slow down) the
 * longest one; a second connection PINGs Redis meanwhile, one PING a
 * millisecond, and reports the longest answer it waited for, which is
 * what any other client of that Redis sees.  (PINGs back to back, as
 * before, kept one of two cores and Redis's event loop busy beside the
 * flush they watched: the first write took 60-77 ms, about 30 ms of it
 * theirs.)  After each, checks that Redis holds the
 * hour exactly (fields and requests).  bench/redis-repair.sh runs it.
 *
 *   bench-redis_repair PORT [N [CLIENTS [REPEAT]]]
 *
 * Redis on 127.0.0.1:PORT is FLUSHALLed: use a throwaway one, e.g.
 *   redis-server --port 18590 --save '' --appendonly no
 * PATHSTATS_TEST_REDIS_REPAIR_CHUNK sets the chunk size (of batches
 * and repairs);
 * BENCH_VERBOSE=1 prints the sink's log and every script over 1 ms;
 * SHARDS sets redis_shards (default 16, the aggregator's);
 * PING_GAP_US the pause between two PINGs (default 1000; 0: none).
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "agg/agg_table.h"
#include "lib/clock.h"
#include "config/config.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "pipeline/sink.h"
#include "store/redis/redis_shard.h"
#include "store/redis/sink_redis.h"

#define NRINGS  4

typedef struct {
    unsigned     port;
    long         gap_us;        /* between two PINGs */
    atomic_int   stop;
    uint64_t     pings;
    uint64_t     max_us;
} pinger_t;


static redisContext *
connect_redis(unsigned port)
{
    redisContext  *c;

    c = redisConnect("127.0.0.1", (int) port);
    if (c == NULL || c->err) {
        fprintf(stderr, "cannot connect to 127.0.0.1:%u: %s\n", port,
                c ? c->errstr : "out of memory");
        exit(1);
    }
    return c;
}


/* Runs cmd; exits on an error. */
static redisReply *
command(redisContext *c, const char *cmd)
{
    redisReply  *reply;

    reply = redisCommand(c, cmd);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "%s: %s\n", cmd,
                reply ? reply->str : c->errstr);
        exit(1);
    }
    return reply;
}


static void
run(redisContext *c, const char *cmd)
{
    freeReplyObject(command(c, cmd));
}


static void *
pinger_main(void *arg)
{
    pinger_t      *p = arg;
    redisContext  *c;
    redisReply    *reply;
    uint64_t       t0, t;

    c = connect_redis(p->port);
    while (!atomic_load(&p->stop)) {
        t0 = ps_mono_us();
        reply = redisCommand(c, "PING");
        if (reply == NULL) {
            break;
        }
        freeReplyObject(reply);
        t = ps_mono_us() - t0;
        if (t > p->max_us) {
            p->max_us = t;
        }
        p->pings++;
        if (p->gap_us > 0) {
            struct timespec  ts = { 0, p->gap_us * 1000 };

            nanosleep(&ts, NULL);
        }
    }
    redisFree(c);
    return NULL;
}


static void
pinger_start(pinger_t *p, pthread_t *tid, unsigned port)
{
    const char  *gap = getenv("PING_GAP_US");

    memset(p, 0, sizeof(*p));
    p->port = port;
    p->gap_us = gap ? strtol(gap, NULL, 10) : 1000;
    if (p->gap_us < 0 || p->gap_us > 999999) {
        p->gap_us = 1000;
    }
    if (pthread_create(tid, NULL, pinger_main, p) != 0) {
        fprintf(stderr, "cannot start the PING thread\n");
        exit(1);
    }
}


static void
pinger_stop(pinger_t *p, pthread_t tid)
{
    atomic_store(&p->stop, 1);
    pthread_join(tid, NULL);
}


/* Calls and time of EVAL and EVALSHA from INFO commandstats (since the
 * last CONFIG RESETSTAT), in us. */
static void
script_stats(redisContext *c, size_t *n, uint64_t *sum)
{
    redisReply  *reply;
    const char  *p, *names[] = { "cmdstat_evalsha:", "cmdstat_eval:" };
    unsigned     i;

    *n = 0;
    *sum = 0;
    reply = command(c, "INFO commandstats");
    for (i = 0; i < 2; i++) {
        p = strstr(reply->str, names[i]);
        if (p == NULL) {
            continue;
        }
        p = strstr(p, "calls=");
        *n += strtoull(p + 6, NULL, 10);
        p = strstr(p, "usec=");
        *sum += strtoull(p + 5, NULL, 10);
    }
    freeReplyObject(reply);
}


/* The longest script in the slow log, in us (0: none took a
 * millisecond).  Redis 7 logs the commands a script calls as well: the
 * threshold of 1 ms keeps them out. */
static uint64_t
slowlog_max_script(redisContext *c)
{
    redisReply  *reply, *e, *args;
    size_t       i;
    uint64_t     us, max = 0;

    reply = command(c, "SLOWLOG GET 100000");
    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4) {
            continue;
        }
        args = e->element[3];
        if (args->type != REDIS_REPLY_ARRAY || args->elements == 0
            || strncasecmp(args->element[0]->str, "EVAL", 4) != 0)
        {
            continue;
        }
        us = (uint64_t) e->element[2]->integer;
        if (getenv("BENCH_VERBOSE")) {
            fprintf(stderr, "script %llu us\n", (unsigned long long) us);
        }
        if (us > max) {
            max = us;
        }
    }
    freeReplyObject(reply);
    return max;
}


/* Starts a measured phase. */
static void
stats_reset(redisContext *c)
{
    run(c, "SLOWLOG RESET");
    run(c, "CONFIG RESETSTAT");
}


static long long
hash_get(redisContext *c, const char *key, const char *field)
{
    redisReply  *reply;
    long long    v;

    reply = redisCommand(c, "HGET %s %s", key, field);
    v = reply && reply->type == REDIS_REPLY_STRING
        ? strtoll(reply->str, NULL, 10) : -1;
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return v;
}


static long long
integer(redisContext *c, const char *fmt, const char *key)
{
    redisReply  *reply;
    long long    v;

    reply = redisCommand(c, fmt, key);
    v = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return v;
}


/* 0 when Redis holds the hour exactly, over its shards: n fields and
 * want requests; 1 (and says so) otherwise. */
static int
check_hour(redisContext *c, int64_t hour, unsigned shards, size_t n,
    size_t want, const char *what)
{
    char        key[96], totals[112];
    long long   fields, requests, v;
    unsigned    s;

    fields = 0;
    requests = 0;
    for (s = 0; s < shards; s++) {
        ps_redis_key_prefix(key, sizeof(key), hour, s, shards);
        v = integer(c, "HLEN %spaths", key);
        fields += v > 0 ? v : 0;
        snprintf(totals, sizeof(totals), "%stotals", key);
        v = hash_get(c, totals, "requests");
        requests += v > 0 ? v : 0;
    }
    if (fields != (long long) n || requests != (long long) want) {
        printf("MISMATCH after the %s: Redis holds %lld fields, %lld "
               "requests\n", what, fields, requests);
        return 1;
    }
    return 0;
}


/* One flush of delta with every ring at position at, its wall time in
 * *us; 0, or -1 (and says so) when it failed. */
static int
timed_flush(ps_sink_t *sink, ps_agg_table_t *delta, uint64_t *pos,
    uint64_t at, const char *what, uint64_t *us)
{
    uint64_t  t0;
    unsigned  k;

    for (k = 0; k < NRINGS; k++) {
        pos[k] = at;
    }
    t0 = ps_mono_us();
    if (sink->ops->flush(sink, 1, delta, pos, NRINGS) != 0
        || sink->last_error[0] != '\0')
    {
        fprintf(stderr, "%s failed: %s\n", what, sink->last_error);
        return -1;
    }
    *us = ps_mono_us() - t0;
    return 0;
}


int
main(int argc, char **argv)
{
    ps_config_t      cfg;
    ps_sink_t       *sink;
    ps_agg_table_t  *delta, *empty;
    ps_rec_t         rec;
    redisContext    *admin;
    pinger_t         pinger;
    pthread_t        tid;
    uint64_t         pos[NRINGS], t0, first_us, next_us, repair_us;
    uint64_t         sum, max;
    size_t           n, nclients, repeat, rep, i, nscripts;
    int64_t          hour;
    char             path[160], client[32], url[64];
    char             host[] = "127.0.0.1", node[] = "bench";
    unsigned         port, k;
    int              rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: bench-redis_repair PORT [N [CLIENTS "
                "[REPEAT]]]\n");
        return 2;
    }

    port = (unsigned) strtoul(argv[1], NULL, 10);
    n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    nclients = argc > 3 ? strtoul(argv[3], NULL, 10) : 16384;
    repeat = argc > 4 ? strtoul(argv[4], NULL, 10) : 1;
    if (n == 0 || repeat == 0) {
        return 2;
    }

    ps_log_set_level(getenv("BENCH_VERBOSE") ? PS_LOG_INFO : PS_LOG_ERROR);
    admin = connect_redis(port);
    run(admin, "CONFIG SET slowlog-log-slower-than 1000");
    run(admin, "CONFIG SET slowlog-max-len 10000");

    snprintf(url, sizeof(url), "redis://127.0.0.1:%u", port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.redis = url;
    cfg.redis_host = host;
    cfg.redis_port = port;
    cfg.redis_ttl_ms = 2ULL * 3600 * 1000;
    cfg.node_id = node;
    cfg.top_n = 100;
    cfg.max_keys_per_hour = n > 100000 ? n : 100000;
    cfg.redis_shards = getenv("SHARDS") ? strtoul(getenv("SHARDS"), NULL, 10)
                                        : 16;

    for (rep = 0; rep < repeat; rep++) {
        run(admin, "FLUSHALL");

        sink = ps_sink_redis_create(&cfg);
        delta = ps_agg_table_create(n + 1);
        empty = ps_agg_table_create(1);
        if (sink == NULL || delta == NULL || empty == NULL) {
            return 1;
        }

        hour = ps_hour_of((int64_t) ps_now_us());
        for (i = 0; i < n; i++) {
            snprintf(path, sizeof(path), "/api/v1/items/%zu/detail", i);
            ps_agg_add(delta, hour, "bench.example.com", 17, "GET", 3, path,
                       strlen(path), 200 + (i % 4) * 100, 100 + i % 5000,
                       120, 900, NULL, 0);
        }
        memset(&rec, 0, sizeof(rec));
        rec.hour = hour;
        for (i = 0; i < nclients; i++) {
            snprintf(client, sizeof(client), "10.%zu.%zu.%zu", i >> 16,
                     (i >> 8) & 255, i & 255);
            rec.client = client;
            sink->ops->observe(sink, &rec);
        }

        stats_reset(admin);
        pinger_start(&pinger, &tid, port);
        if (timed_flush(sink, delta, pos, 1000, "first flush", &first_us)
            != 0)
        {
            return 1;
        }
        pinger_stop(&pinger, tid);
        script_stats(admin, &nscripts, &sum);
        max = slowlog_max_script(admin);
        printf("fields %zu clients %zu: first write: %zu script(s), "
               "longest %.1f ms, %.1f ms in Redis, flush %.1f ms; "
               "PING: %llu answered, longest wait %.1f ms\n", n,
               nclients, nscripts, max / 1000.0, sum / 1000.0,
               first_us / 1000.0, (unsigned long long) pinger.pings,
               pinger.max_us / 1000.0);
        rc |= check_hour(admin, hour, (unsigned) cfg.redis_shards, n, n,
                         "first write");

        /* the same keys again: what every flush of the hour after its
         * first does (each field read, summed and written back) */
        stats_reset(admin);
        if (timed_flush(sink, delta, pos, 1500, "second flush", &next_us)
            != 0)
        {
            return 1;
        }
        script_stats(admin, &nscripts, &sum);
        max = slowlog_max_script(admin);
        printf("fields %zu clients %zu: next write: %zu script(s), "
               "longest %.1f ms, %.1f ms in Redis, flush %.1f ms\n", n,
               nclients, nscripts, max / 1000.0, sum / 1000.0,
               next_us / 1000.0);
        rc |= check_hour(admin, hour, (unsigned) cfg.redis_shards, n, 2 * n,
                         "next write");

        run(admin, "FLUSHALL");
        stats_reset(admin);

        pinger_start(&pinger, &tid, port);

        for (k = 0; k < NRINGS; k++) {
            pos[k] = 2000;
        }
        t0 = ps_mono_us();
        if (sink->ops->flush(sink, 1, empty, pos, NRINGS) != 0) {
            fprintf(stderr, "repair flush failed: %s\n", sink->last_error);
            return 1;
        }
        /* a chunked repair that is not finished continues at the next
         * flushes */
        for (i = 0; i < 100000 && sink->last_error[0] != '\0'; i++) {
            (void) sink->ops->flush(sink, 1, empty, pos, NRINGS);
        }
        repair_us = ps_mono_us() - t0;

        pinger_stop(&pinger, tid);
        script_stats(admin, &nscripts, &sum);
        max = slowlog_max_script(admin);

        printf("fields %zu clients %zu: repair: %zu script(s), "
               "longest %.1f ms, %.1f ms in Redis, flush %.1f ms; "
               "PING: %llu answered, longest wait %.1f ms\n",
               n, nclients, nscripts, max / 1000.0, sum / 1000.0,
               repair_us / 1000.0, (unsigned long long) pinger.pings,
               pinger.max_us / 1000.0);

        rc |= check_hour(admin, hour, (unsigned) cfg.redis_shards, n, 2 * n,
                         "repair");

        sink->ops->destroy(sink);
        ps_agg_table_destroy(delta);
        ps_agg_table_destroy(empty);
    }

    /* Redis's defaults */
    run(admin, "CONFIG SET slowlog-log-slower-than 10000");
    run(admin, "CONFIG SET slowlog-max-len 128");
    redisFree(admin);
    return rc;
}
