/*
 * One node of a fleet as its stores see it: the flushes of a node's
 * PostgreSQL and Redis sinks, without the rest of the aggregator (rings,
 * live windows, snapshot, fleet thread), so that bench/fleet-scale.pl
 * --driver can play K nodes on one machine and measure what K nodes cost
 * the shared stores, rather than what K aggregators cost the 2 cores
 * they would not share in a real fleet (issue 16, item 5: "a driver
 * writing flushes under K node ids").
 *
 *   bench-fleet-driver -c CONF [--keys N] [--rate R] [--duration S]
 *                      [--seed N] [--view-bytes N]
 *
 * CONF is an aggregator configuration (postgres, redis, node_id,
 * flush_interval, log_level, redis_shards ... as the daemon reads them).
 * Each sink gets a thread that does what the pipeline does for it: the
 * records that arrived since its last flush (RATE a second over KEYS keys
 * in turn, as bench-ring-producer --sequential writes them, on one ring
 * of a zone of its own) go into a delta with ps_agg_add (the Redis sink
 * also observes each record's client), and once flush_interval has
 * passed since its last flush the sink's flush() commits them with the
 * ring position, exactly once, as the daemon's flusher threads do, with
 * the daemon's pause after a slow flush (ps_pipeline_flush_pause()): the
 * next flush is then larger, as in the daemon.  Each successful flush
 * logs event=flush sink=... keys=... records=... duration_ms=... (the
 * daemon's line); a failed one is retried with the same records.  At
 * the end (DURATION seconds) each sink flushes what is left, and one
 * JSON line says how many records it committed:
 * {"node":..,"recorded":..,"postgres":..,"redis":..}.
 *
 * The node's fleet thread runs too (snapshot/fleet.c, as in the daemon):
 * every fleet_interval a heartbeat, the nodes, the builder's lock and
 * the fleet's view (built from every node's rows by the builder, read as
 * one row by the others).  The heartbeat carries VIEW_BYTES bytes (0 by
 * default) in place of the node's own view, which the daemon builds from
 * its live windows: the stores carry the same bytes, the other nodes
 * skip a view that is not a scope pack.
 */

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg_table.h"
#include "config/config.h"
#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/murmur3.h"
#include "lib/strbuf.h"
#include "pipeline/pipeline.h"
#include "pipeline/sink.h"
#include "ring/rec.h"
#include "snapshot/fleet.h"
#include "store/pg/sink_pg.h"
#include "store/redis/sink_redis.h"

typedef struct {
    const char      *name;
    ps_sink_t       *sink;
    const ps_config_t *cfg;
    uint64_t         zone_id;
    uint64_t         keys, rate, clients, t0, end;
    uint64_t         base;              /* the watermark at start */
    uint64_t         committed;         /* records: the ring position */
    int              failed;
    pthread_t        thread;
} driver_t;


static const unsigned  statuses[16] = {
    200, 200, 200, 200, 200, 200, 200, 200,
    200, 200, 301, 304, 404, 404, 500, 503
};


/* A well-mixed 64-bit value of x (murmur3, as the HyperLogLogs hash). */
static uint64_t
mix(uint64_t x)
{
    return ps_murmur3_hll_hash(&x, sizeof(x));
}


/* Records seq .. end-1 into the delta (and the sink's observe()). */
static int
add_records(driver_t *d, ps_agg_table_t *delta, uint64_t seq, uint64_t end)
{
    char       path[64], client[32];
    uint64_t   lat, now, hash, ci;
    int64_t    hour;
    ps_rec_t   rec;

    now = ps_now_us();
    hour = ps_hour_of((int64_t) now);

    memset(&rec, 0, sizeof(rec));
    rec.hour = hour;
    rec.time_us = now;

    for ( ; seq < end; seq++) {
        lat = mix(seq ^ d->zone_id);
        snprintf(path, sizeof(path), "/fleet/%llu/item",
                 (unsigned long long) (seq % d->keys));
        ci = (lat >> 40) % d->clients;
        snprintf(client, sizeof(client), "10.%u.%u.%u",
                 (unsigned) (ci >> 16) & 0xff, (unsigned) (ci >> 8) & 0xff,
                 (unsigned) ci & 0xff);
        hash = ps_murmur3_hll_hash(client, strlen(client));

        if (ps_agg_add(delta, hour, "bench", 5, "GET", 3, path, strlen(path),
                       statuses[(lat >> 48) & 15], 200 + (lat & 0x3fff),
                       300 + ((lat >> 24) & 0xff),
                       1000 + ((lat >> 32) & 0xffff), &hash, now)
            != 0)
        {
            return -1;
        }

        if (d->sink->ops->observe != NULL) {
            rec.client = client;
            rec.client_hash = &hash;
            d->sink->ops->observe(d->sink, &rec);
        }
    }

    return 0;
}


static void *
driver_run(void *arg)
{
    driver_t        *d = arg;
    ps_agg_table_t  *delta;
    uint64_t         now, due, started, target, pos, pending, interval;
    int              last = 0, retry = 0;

    pthread_setname_np(pthread_self(), d->name[0] == 'p' ? "drv-postgres"
                                                         : "drv-redis");
    interval = d->cfg->flush_interval_ms * 1000;
    delta = ps_agg_table_create(d->keys + 1);
    if (delta == NULL) {
        d->failed = 1;
        return NULL;
    }

    pending = d->committed;      /* records in the delta: committed..pending */
    due = d->t0 + interval;

    while (!last) {
        now = ps_mono_us();
        if (now < due) {
            ps_sleep_ms((due - now + 999) / 1000);
            now = ps_mono_us();
        }
        if (now >= d->end) {
            now = d->end;
            last = !retry;
        }

        /* what the rings would hold by now */
        target = d->base + (now - d->t0) * d->rate / 1000000;
        if (target > pending) {
            if (add_records(d, delta, pending, target) != 0) {
                d->failed = 1;
                break;
            }
            pending = target;
        }
        if (pending == d->committed) {
            due = now + interval;
            continue;
        }

        if (d->sink->ops->handover != NULL) {
            d->sink->ops->handover(d->sink);
        }
        pos = pending;
        started = ps_mono_us();
        if (d->sink->ops->flush(d->sink, d->zone_id, delta, &pos, 1) != 0) {
            ps_log(PS_LOG_WARN, "event=flush_failed sink=%s", d->name);
            due = ps_mono_us() + 100000;
            retry = 1;
            if (ps_mono_us() > d->end + 60000000) {
                d->failed = 1;
                break;
            }
            continue;
        }
        now = ps_mono_us();
        ps_log(PS_LOG_DEBUG, "event=flush sink=%s keys=%zu records=%llu "
               "duration_ms=%.1f", d->name, ps_agg_count(delta),
               (unsigned long long) (pending - d->committed),
               (double) (now - started) / 1000.0);
        d->committed = pending;
        retry = 0;
        ps_agg_table_clear(delta);
        due = now + ps_pipeline_flush_pause(d->cfg, now - started,
                                            (uint32_t) mix(now ^ d->zone_id));
    }

    ps_agg_table_destroy(delta);
    return NULL;
}


static void
usage(void)
{
    fprintf(stderr, "usage: bench-fleet-driver -c CONF [--keys N] "
            "[--rate R] [--duration S] [--seed N] [--clients N] "
            "[--view-bytes N]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int           c, i, rc = 0;
    const char   *conf = NULL;
    double        duration = 10;
    uint64_t      keys = 10000, rate = 10000, clients = 1000, seed = 1;
    uint64_t      t0, now, view_bytes = 0;
    ps_fleet_t   *fleet;
    ps_fleet_beat_t  beat;
    ps_buf_t      view = PS_BUF_INIT, scratch[3];
    ps_buf_t      trends[PS_SNAP_RANGES];
    ps_config_t   cfg;
    driver_t      d[2];

    static const struct option  opts[] = {
        { "config",   required_argument, NULL, 'c' },
        { "keys",     required_argument, NULL, 'k' },
        { "rate",     required_argument, NULL, 'r' },
        { "duration", required_argument, NULL, 'd' },
        { "seed",     required_argument, NULL, 's' },
        { "clients",  required_argument, NULL, 'a' },
        { "view-bytes", required_argument, NULL, 'v' },
        { NULL, 0, NULL, 0 }
    };

    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf = optarg; break;
        case 'k': keys = strtoull(optarg, NULL, 10); break;
        case 'r': rate = strtoull(optarg, NULL, 10); break;
        case 'd': duration = strtod(optarg, NULL); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'a': clients = strtoull(optarg, NULL, 10); break;
        case 'v': view_bytes = strtoull(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (conf == NULL || keys == 0 || rate == 0 || clients == 0
        || duration <= 0)
    {
        usage();
    }

    if (ps_config_load(&cfg, conf, NULL, 0) != 0) {
        return 2;
    }
    ps_log_set_level(cfg.log_level);
    if (cfg.postgres == NULL || cfg.redis == NULL) {
        fprintf(stderr, "bench-fleet-driver: %s needs postgres and redis\n",
                conf);
        return 2;
    }

    memset(d, 0, sizeof(d));
    d[0].name = "postgres";
    d[0].sink = ps_sink_pg_create(&cfg);
    d[1].name = "redis";
    d[1].sink = ps_sink_redis_create(&cfg);

    for (i = 0; i < 2; i++) {
        d[i].cfg = &cfg;
        d[i].zone_id = mix(seed * 0x9E3779B97F4A7C15ULL + 1);
        d[i].keys = keys;
        d[i].rate = rate;
        d[i].clients = clients;
        if (d[i].sink == NULL || d[i].sink->ops->connect(d[i].sink) != 0
            || d[i].sink->ops->load_watermarks(d[i].sink, d[i].zone_id,
                                               &d[i].base, 1) != 0)
        {
            fprintf(stderr, "bench-fleet-driver: %s sink did not start\n",
                    d[i].name);
            return 1;
        }
    }
    /* the same records for both sinks, from the larger watermark on */
    if (d[1].base > d[0].base) {
        d[0].base = d[1].base;
    }
    d[1].base = d[0].base;

    t0 = ps_mono_us();
    for (i = 0; i < 2; i++) {
        d[i].committed = d[i].base;
        d[i].t0 = t0;
        d[i].end = t0 + (uint64_t) (duration * 1e6);
        if (pthread_create(&d[i].thread, NULL, driver_run, &d[i]) != 0) {
            fprintf(stderr, "bench-fleet-driver: pthread_create: %s\n",
                    strerror(errno));
            return 1;
        }
    }
    /* the fleet thread, offered a heartbeat every fleet_interval */
    memset(scratch, 0, sizeof(scratch));
    memset(trends, 0, sizeof(trends));
    memset(&beat, 0, sizeof(beat));
    if (view_bytes > 0) {
        if (ps_buf_reserve(&view, view_bytes) != 0) {
            return 1;
        }
        memset(view.data, 'v', view_bytes);
        view.len = view_bytes;
        view.data[view.len] = '\0';
    }
    fleet = ps_fleet_start(&cfg);
    if (fleet == NULL) {
        fprintf(stderr, "bench-fleet-driver: the fleet thread did not "
                "start\n");
        return 1;
    }
    beat.node_id = cfg.node_id;
    beat.version = "bench";
    beat.zone_generation = d[0].zone_id;
    for (now = ps_mono_us(); now < d[0].end; now = ps_mono_us()) {
        if (ps_fleet_due(fleet, ps_now_us())) {
            beat.last_flush_us = ps_now_us();
            beat.requests[0] = (now - t0) * rate / 1000000;
            beat.requests[1] = beat.requests[2] = beat.requests[0];
            /* the budget of the default zone's snapshot buffer (4 MB) */
            (void) ps_fleet_offer(fleet, &view, &beat, trends, 1 << 21);
        }
        (void) ps_fleet_take(fleet, &scratch[0], &scratch[1], &scratch[2]);
        ps_sleep_ms(100);
    }
    ps_fleet_stop(fleet);
    ps_buf_free(&view);
    for (i = 0; i < 3; i++) {
        ps_buf_free(&scratch[i]);
    }

    for (i = 0; i < 2; i++) {
        pthread_join(d[i].thread, NULL);
        rc |= d[i].failed;
    }

    printf("{\"node\":\"%s\",\"recorded\":%llu,\"postgres\":%llu,"
           "\"redis\":%llu}\n", cfg.node_id,
           (unsigned long long) ((d[0].end - t0) * rate / 1000000),
           (unsigned long long) (d[0].committed - d[0].base),
           (unsigned long long) (d[1].committed - d[1].base));

    for (i = 0; i < 2; i++) {
        d[i].sink->ops->destroy(d[i].sink);
    }
    ps_config_free(&cfg);

    return rc ? 1 : 0;
}
