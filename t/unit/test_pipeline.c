/*
 * Unit tests for aggregator/pipeline/pipeline.c with fake in-memory sinks:
 * records below a sink's watermark are not fed to it, the reader starts past
 * what every durable sink holds, the rings are released only to what every
 * durable sink has committed (everything read when none is durable), a failed
 * flush keeps its delta for the retry, and nothing is read while a durable
 * sink's watermarks are unknown.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg/agg_table.h"
#include "lib/clock.h"
#include "config/config.h"
#include "fake_sink.h"
#include "lib/log.h"
#include "pipeline/pipeline.h"
#include "ring/ring_reader.h"
#include "pipeline/sink.h"
#include "tap.h"
#include "ring/zone.h"


static void
count_rec(void *ctx, const ps_rec_t *rec)
{
    (*(uint64_t *) ctx)++;
}


static void
test_watermarks_and_release(ps_config_t *cfg)
{
    fake_sink_t        a, b;
    uint64_t           seen;
    ps_zone_t         *zone;
    ps_sink_t         *sinks[2];
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;
    ps_sink_status_t   st;

    h = fake_zone_make();
    fake_zone_produce(h, 0, 10);
    fake_zone_produce(h, 1, 3);

    zone = ps_zone_open(fake_zone_path, 1);
    rr = ps_ring_reader_create(zone);

    fake_sink_init(&a, 1);         /* durable, holds ring 0 up to 5 */
    a.wm[0] = 5;
    fake_sink_init(&b, 0);         /* a cache, holds ring 0 up to 7 */
    b.wm[0] = 7;
    sinks[0] = &a.sink;
    sinks[1] = &b.sink;

    p = ps_pipeline_create(cfg, zone, rr, sinks, 2);

    if (p != NULL) {

        ps_pipeline_set_sync(p, 1);

    }
    ok(p != NULL, "pipeline created");
    is_u64(fake_zone_head(h, 0), 5,
           "start: ring 0 released to the durable watermark");

    seen = 0;
    ps_pipeline_set_observer(p, count_rec, &seen);
    is_int(ps_pipeline_poll(p, 100), 8, "reads from the durable watermark");
    is_u64(seen, 8, "the observer sees every record read");
    is_u64(ps_pipeline_records(p), 8, "records read");

    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_u64(a.requests, 8, "durable sink: 5 + 3 records, none below 5");
    is_u64(b.requests, 6, "cache: only records at or after its watermark 7");
    is_u64(a.pos[0], 10, "committed position ring 0");
    is_u64(a.pos[1], 3, "committed position ring 1");
    is_u64(fake_zone_head(h, 0), 10,
           "released after the durable flush (ring 0)");
    is_u64(fake_zone_head(h, 1), 3, "  (ring 1)");

    /* the durable sink fails: nothing is released, its delta waits */
    fake_zone_produce(h, 0, 4);
    is_int(ps_pipeline_poll(p, 100), 4, "4 more read");
    a.fail = 1;
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_u64(fake_zone_head(h, 0), 10,
           "durable flush failed: ring not released");
    is_u64(b.requests, 10, "the cache got them anyway");
    ps_pipeline_sink_status(p, 0, &st);
    ok(!st.up, "status: down");
    is_u64(st.failures, 1, "status: one failure");
    is_u64(st.lag_records, 4, "status: 4 records behind");
    ok(st.pending_keys > 0, "status: keys pending");
    ok(st.durable, "status: durable");

    a.fail = 0;
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_u64(a.requests, 12, "retry: the kept delta applied once");
    is_u64(fake_zone_head(h, 0), 14, "then released");
    ps_pipeline_sink_status(p, 0, &st);
    ok(st.up && st.lag_records == 0 && st.pending_keys == 0,
       "status: up, nothing pending");

    ps_pipeline_destroy(p);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);
}


static void
test_no_durable_sink(ps_config_t *cfg)
{
    fake_sink_t        b;
    ps_zone_t         *zone;
    ps_sink_t         *sinks[1];
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;

    h = fake_zone_make();
    fake_zone_produce(h, 0, 6);

    zone = ps_zone_open(fake_zone_path, 1);
    rr = ps_ring_reader_create(zone);

    fake_sink_init(&b, 0);
    b.fail = 1;
    sinks[0] = &b.sink;

    p = ps_pipeline_create(cfg, zone, rr, sinks, 1);

    if (p != NULL) {

        ps_pipeline_set_sync(p, 1);

    }
    is_int(ps_pipeline_poll(p, 100), 6, "no durable sink: reads");
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_u64(fake_zone_head(h, 0), 6, "  and releases everything read, even "
           "when the cache failed");

    ps_pipeline_destroy(p);

    /* embedded mode: no sink at all */
    fake_zone_produce(h, 1, 2);
    p = ps_pipeline_create(cfg, zone, rr, NULL, 0);
    if (p != NULL) {
        ps_pipeline_set_sync(p, 1);
    }
    is_int(ps_pipeline_poll(p, 100), 2, "no sink: reads");
    ps_pipeline_flush(p, ps_mono_us(), 0);
    is_u64(fake_zone_head(h, 1), 2, "  and releases");
    is_int(ps_pipeline_sink_count(p), 0, "  no sink");

    ps_pipeline_destroy(p);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);
}


static void
test_unreachable_at_start(ps_config_t *cfg)
{
    fake_sink_t        a;
    ps_zone_t         *zone;
    ps_sink_t         *sinks[1];
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;

    h = fake_zone_make();
    fake_zone_produce(h, 0, 5);

    zone = ps_zone_open(fake_zone_path, 1);
    rr = ps_ring_reader_create(zone);

    fake_sink_init(&a, 1);
    a.unreachable = 1;
    a.wm[0] = 2;
    sinks[0] = &a.sink;

    p = ps_pipeline_create(cfg, zone, rr, sinks, 1);

    if (p != NULL) {

        ps_pipeline_set_sync(p, 1);

    }
    is_int(ps_pipeline_poll(p, 100), 0,
           "durable sink unreachable: nothing read");
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_u64(fake_zone_head(h, 0), 0, "  nothing released");

    a.unreachable = 0;
    ps_pipeline_flush(p, ps_mono_us() + 20000000, 0);   /* past backoff */
    is_int(ps_pipeline_poll(p, 100), 3, "reachable: reads from watermark 2");
    ps_pipeline_flush(p, ps_mono_us() + 40000000, 0);
    is_u64(a.requests, 3, "  and flushes them");
    is_u64(fake_zone_head(h, 0), 5, "  and releases");

    ps_pipeline_destroy(p);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);
}


static void
test_late_cache(ps_config_t *cfg)
{
    fake_sink_t        a, b;
    ps_zone_t         *zone;
    ps_sink_t         *sinks[2];
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;
    ps_sink_status_t   st;

    h = fake_zone_make();
    fake_zone_produce(h, 0, 5);

    zone = ps_zone_open(fake_zone_path, 1);
    rr = ps_ring_reader_create(zone);

    fake_sink_init(&a, 1);
    fake_sink_init(&b, 0);
    b.unreachable = 1;
    sinks[0] = &a.sink;
    sinks[1] = &b.sink;

    p = ps_pipeline_create(cfg, zone, rr, sinks, 2);

    if (p != NULL) {

        ps_pipeline_set_sync(p, 1);

    }
    is_int(ps_pipeline_poll(p, 100), 5,
           "cache unreachable: the durable sink alone lets reading start");
    ps_pipeline_flush(p, ps_mono_us(), 1);
    is_u64(a.requests, 5, "  the durable sink has them");
    is_u64(fake_zone_head(h, 0), 5, "  released");
    ps_pipeline_sink_status(p, 1, &st);
    ok(!st.up, "  the cache's status is down");

    b.unreachable = 0;
    ps_pipeline_flush(p, ps_mono_us() + 20000000, 0);
    fake_zone_produce(h, 0, 3);
    is_int(ps_pipeline_poll(p, 100), 3, "3 more");
    ps_pipeline_flush(p, ps_mono_us() + 40000000, 1);
    is_u64(b.requests, 3, "the cache, back, gets what came after it joined");
    is_u64(b.pos[0], 8, "  and its positions follow the reader");
    is_u64(a.requests, 8, "the durable sink all 8");

    ps_pipeline_destroy(p);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);
}


/* A ring more than half full of read records: an early flush releases
 * it before the interval, but does not hurry a sink in backoff. */
static void
test_early_flush(ps_config_t *cfg)
{
    fake_sink_t        a;
    uint64_t           now;
    ps_zone_t         *zone;
    ps_sink_t         *sinks[1];
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;
    ps_sink_status_t   st;
    int                half;

    h = fake_zone_make();
    half = (int) (h->ring_capacity / 2 / FAKE_U);

    zone = ps_zone_open(fake_zone_path, 1);
    rr = ps_ring_reader_create(zone);

    fake_sink_init(&a, 1);
    sinks[0] = &a.sink;

    p = ps_pipeline_create(cfg, zone, rr, sinks, 1);

    if (p != NULL) {

        ps_pipeline_set_sync(p, 1);

    }
    now = ps_mono_us();
    ps_pipeline_flush(p, now, 1);              /* next one due in 1 s */

    fake_zone_produce(h, 0, half);
    is_int(ps_pipeline_poll(p, 100000), half, "early: half a ring read");
    is_int(ps_ring_reader_half_full(rr), 0, "  exactly half: not over");
    fake_zone_produce(h, 0, 1);
    is_int(ps_pipeline_poll(p, 100000), 1, "  one more");
    is_int(ps_ring_reader_half_full(rr), 1, "  over half: half full");

    ps_pipeline_flush(p, now + 1000, 0);
    is_u64(fake_zone_head(h, 0), 0, "  not due: nothing released");
    ps_pipeline_flush(p, now + 1000, PS_PIPELINE_FLUSH_EARLY);
    is_u64(fake_zone_head(h, 0), (uint64_t) half + 1,
           "  early flush releases");
    is_u64(a.requests, (uint64_t) half + 1, "  into the sink");
    is_int(ps_ring_reader_half_full(rr), 0, "  no longer half full");

    /* the sink fails: the early flush waits for its backoff */
    a.fail = 1;
    fake_zone_produce(h, 0, half + 1);
    ps_pipeline_poll(p, 100000);
    ps_pipeline_flush(p, now + 2000, PS_PIPELINE_FLUSH_EARLY);
    ps_pipeline_flush(p, now + 3000, PS_PIPELINE_FLUSH_EARLY);
    ps_pipeline_sink_status(p, 0, &st);
    is_u64(st.failures, 1, "failing sink: one attempt, then backoff");
    is_u64(fake_zone_head(h, 0), (uint64_t) half + 1, "  nothing released");

    a.fail = 0;
    ps_pipeline_flush(p, now + 20000000, PS_PIPELINE_FLUSH_EARLY);
    is_u64(fake_zone_head(h, 0), 2 * (uint64_t) half + 2,
           "  after the backoff: released");

    ps_pipeline_destroy(p);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);
}


/* A slow flush spaces the next one out (two to four times its own time,
 * so a sink spends about a quarter of its time flushing); a ring half
 * full still flushes at once. */
static void
test_slow_flush(ps_config_t *cfg)
{
    fake_sink_t        a;
    uint64_t           now;
    ps_zone_t         *zone;
    ps_sink_t         *sinks[1];
    ps_pipeline_t     *p;
    ps_zone_header_t  *h;
    ps_ring_reader_t  *rr;
    int                half;

    h = fake_zone_make();
    half = (int) (h->ring_capacity / 2 / FAKE_U);
    zone = ps_zone_open(fake_zone_path, 1);
    rr = ps_ring_reader_create(zone);
    fake_sink_init(&a, 1);
    sinks[0] = &a.sink;
    p = ps_pipeline_create(cfg, zone, rr, sinks, 1);
    if (p == NULL) {
        ok(0, "slow: pipeline created");
        return;
    }
    ps_pipeline_set_sync(p, 1);

    /* a fast flush: the next one after flush_interval (1 s) */
    now = ps_mono_us();
    fake_zone_produce(h, 0, 3);
    ps_pipeline_poll(p, 100000);
    ps_pipeline_flush(p, now, 1);
    is_u64(a.requests, 3, "slow: a first, fast flush");
    fake_zone_produce(h, 0, 2);
    ps_pipeline_poll(p, 100000);
    ps_pipeline_flush(p, now + 999000, 0);
    is_u64(a.requests, 3, "  fast: not due before flush_interval");
    ps_pipeline_flush(p, now + 1001000, 0);
    is_u64(a.requests, 5, "  fast: due after flush_interval");

    /* a flush of 800 ms: the next one no sooner than 1.6 s later */
    a.delay_ms = 800;
    fake_zone_produce(h, 0, 2);
    ps_pipeline_poll(p, 100000);
    now += 3000000;
    ps_pipeline_flush(p, now, 0);
    is_u64(a.requests, 7, "  a slow flush (800 ms)");
    a.delay_ms = 0;
    fake_zone_produce(h, 0, 1);
    ps_pipeline_poll(p, 100000);
    ps_pipeline_flush(p, now + 1550000, 0);
    is_u64(a.requests, 7, "  after it: not due at 1.55 s (2-4 x 800 ms)");
    ps_pipeline_flush(p, now + 5000000, 0);
    is_u64(a.requests, 8, "  due later (the pause grew, at most as the "
           "flush's time allows)");

    /* slow again, then the ring fills up: an early flush goes at once */
    a.delay_ms = 400;
    fake_zone_produce(h, 0, 1);
    ps_pipeline_poll(p, 100000);
    now += 10000000;
    ps_pipeline_flush(p, now, 0);
    is_u64(a.requests, 9, "  slow again (400 ms)");
    a.delay_ms = 0;
    fake_zone_produce(h, 0, half + 1);
    ps_pipeline_poll(p, 100000);
    ps_pipeline_flush(p, now + 1000, PS_PIPELINE_FLUSH_EARLY);
    is_u64(a.requests, 9 + (uint64_t) half + 1,
           "  a ring half full flushes at once, paused or not");

    ps_pipeline_destroy(p);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);
}


/* The pause itself: flush_interval, else between two and four times the
 * flush as rnd says (the nodes of a fleet slowed down together do not
 * pause alike), at most 10 s. */
static void
test_flush_pause(ps_config_t *cfg)
{
    uint64_t  lo = UINT64_MAX, hi = 0, sum = 0, v;
    uint32_t  r;
    int       i;

    is_u64(ps_pipeline_flush_pause(cfg, 100000, 0xffffffffu), 1000000,
           "pause: a fast flush, flush_interval");
    is_u64(ps_pipeline_flush_pause(cfg, 500000, 0), 1000000,
           "  500 ms with the lowest draw: 2 x 500 ms = flush_interval");
    is_u64(ps_pipeline_flush_pause(cfg, 800000, 0), 1600000,
           "  800 ms, the lowest draw: 2 x");
    is_u64(ps_pipeline_flush_pause(cfg, 800000, 0x80000000u), 2400000,
           "  the middle draw: 3 x");
    is_u64(ps_pipeline_flush_pause(cfg, 800000, 0xffffffffu), 3199999,
           "  the highest draw: just under 4 x");
    is_u64(ps_pipeline_flush_pause(cfg, 4000000, 0), 8000000,
           "  4 s, the lowest draw: 8 s");
    is_u64(ps_pipeline_flush_pause(cfg, 4000000, 0xffffffffu), 10000000,
           "  the highest: capped at 10 s");
    is_u64(ps_pipeline_flush_pause(cfg, 600000000, 0), 10000000,
           "  a flush of 10 minutes: 10 s");

    /* draws spread over the range: 1 000 evenly spaced ones */
    for (i = 0; i < 1000; i++) {
        r = (uint32_t) (((uint64_t) i << 32) / 1000);
        v = ps_pipeline_flush_pause(cfg, 1000000, r);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    is_u64(lo, 2000000, "  1 s flushes: the shortest pause 2 s");
    ok(hi >= 3995000 && hi < 4000000, "  the longest just under 4 s");
    ok(sum / 1000 >= 2998000 && sum / 1000 <= 3000000, "  on average 3 s");
}


int
main(void)
{
    ps_config_t  cfg;

    snprintf(fake_zone_path, sizeof(fake_zone_path),
             "/tmp/ps-test-pipeline-%d.zone", (int) getpid());

    ps_log_set_level(PS_LOG_ERROR);

    memset(&cfg, 0, sizeof(cfg));
    cfg.flush_interval_ms = 1000;
    cfg.max_keys_per_hour = 1000;
    cfg.client_address = PS_CLIENT_FULL;
    cfg.node_id = "unit";

    test_watermarks_and_release(&cfg);
    test_no_durable_sink(&cfg);
    test_unreachable_at_start(&cfg);
    test_late_cache(&cfg);
    test_early_flush(&cfg);
    test_slow_flush(&cfg);
    test_flush_pause(&cfg);

    unlink(fake_zone_path);

    return done_testing();
}
