/*
 * Pipeline: see pipeline.h.
 *
 * Exactly-once bookkeeping, per sink and ring:
 *
 *   watermark  loaded from the sink at start: the sink already holds
 *              every record before it, so those are not fed to it again;
 *   committed  what the sink holds after its last successful flush;
 *
 * and the rings are released to the smallest committed position of the
 * durable sinks.  A flush that fails keeps its delta, which goes on
 * growing, and is retried with backoff; nothing is released meanwhile.
 * Until every durable sink's watermarks are known (its database is down
 * at start) no record is read at all: the records wait in the rings,
 * and what does not fit is dropped and counted by nginx.  (The disk
 * spool plugs in here: it would stand in for an unreachable durable
 * sink, see the SPOOL HOOK comments.)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "agg_table.h"
#include "clock.h"
#include "log.h"
#include "pipeline.h"
#include "sink.h"
#include "sink_pg.h"
#include "sink_redis.h"

#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     10000
#define HEARTBEAT_US       10000000   /* flush an unchanged sink this often */

typedef struct {
    ps_sink_t        *sink;
    ps_agg_table_t   *delta;
    uint64_t         *watermark;     /* [nrings] */
    uint64_t         *committed;     /* [nrings] */
    int               ready;         /* watermarks known */
    int               up;
    uint64_t          flushes;
    uint64_t          failures;
    uint64_t          last_flush_us; /* wall clock */
    uint64_t          last_flush_mono;
    uint64_t          next_due;      /* monotonic */
    uint64_t          backoff_ms;
    uint64_t          pending;       /* records added since last flush */
} pipe_sink_t;

struct ps_pipeline_s {
    const ps_config_t   *cfg;
    ps_zone_t           *zone;
    ps_ring_reader_t    *rr;
    uint32_t             nrings;
    uint64_t             zone_id;

    pipe_sink_t         *sinks;
    unsigned             nsinks;
    unsigned             ndurable;
    int                  started;    /* reader skipped; reading allowed */

    ps_rec_observer_fn   observer;
    void                *observer_ctx;

    ps_rec_scratch_t     scratch;
    char                 hash_key[65];
    const char          *key;

    uint64_t            *pos;        /* [nrings] scratch */
    uint64_t             records;
    int                  crash_after_commit;   /* test hook */
};


static void
random_key(char *buf, size_t size)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;
    unsigned char      raw[32];

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw)) {
        uint64_t  t = ps_now_us() ^ ((uint64_t) getpid() << 32);

        for (i = 0; i < sizeof(raw); i++) {
            t = t * 6364136223846793005ULL + 1442695040888963407ULL;
            raw[i] = (unsigned char) (t >> 56);
        }
    }

    for (i = 0; i < sizeof(raw) && 2 * i + 2 < size; i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 0xF];
    }

    buf[2 * i] = '\0';
}


/* Loads a sink's watermarks; 0 when it is ready. */
static int
sink_try_ready(ps_pipeline_t *p, pipe_sink_t *s, uint64_t now)
{
    uint32_t  r;

    if (s->sink->ops->load_watermarks(s->sink, p->zone_id, s->watermark,
                                      p->nrings) != 0)
    {
        s->failures++;
        s->up = 0;
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS) {
            s->backoff_ms = BACKOFF_MAX_MS;
        }
        s->next_due = now + s->backoff_ms * 1000;
        return -1;
    }

    memcpy(s->committed, s->watermark, p->nrings * sizeof(uint64_t));

    /* a sink that joins late missed what was read before: it is not
     * fed again (the rings may be gone), its positions simply follow */
    if (p->started) {
        for (r = 0; r < p->nrings; r++) {
            uint64_t  read = ps_ring_reader_position(p->rr, r);

            if (s->watermark[r] < read) {
                s->watermark[r] = read;
            }
        }
    }

    s->ready = 1;
    s->up = 1;
    s->backoff_ms = 0;
    s->next_due = now + p->cfg->flush_interval_ms * 1000;
    s->last_flush_mono = now;

    ps_log(PS_LOG_INFO, "event=sink_ready sink=%s", s->sink->ops->name);

    return 0;
}


/* Starts reading once every durable sink is ready: skips the reader past
 * what all of them hold. */
static void
try_start(ps_pipeline_t *p, uint64_t now)
{
    unsigned      i;
    uint32_t      r;
    uint64_t      min;
    pipe_sink_t  *s;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];

        if (!s->ready && now >= s->next_due) {
            (void) sink_try_ready(p, s, now);
        }

        if (s->sink->durable && !s->ready) {
            /* SPOOL HOOK: with a disk spool, reading could start here and
             * the spool would hold this sink's flushes */
            return;
        }
    }

    if (p->started) {
        return;
    }

    for (r = 0; r < p->nrings && p->ndurable; r++) {
        min = UINT64_MAX;

        for (i = 0; i < p->nsinks; i++) {
            s = &p->sinks[i];
            if (s->sink->durable && s->watermark[r] < min) {
                min = s->watermark[r];
            }
        }

        ps_ring_reader_skip_to(p->rr, r, min);
    }

    p->started = 1;

    ps_log(PS_LOG_INFO, "event=pipeline_started sinks=%u durable=%u",
           p->nsinks, p->ndurable);
}


ps_pipeline_t *
ps_pipeline_create_with(const ps_config_t *cfg, ps_zone_t *zone,
    ps_ring_reader_t *rr, ps_sink_t **sinks, unsigned nsinks)
{
    unsigned        i;
    uint64_t        now;
    const char     *crash;
    ps_pipeline_t  *p;

    p = calloc(1, sizeof(ps_pipeline_t));
    if (p == NULL) {
        goto fail;
    }

    p->cfg = cfg;
    p->zone = zone;
    p->rr = rr;
    p->nrings = zone->header->ring_count;
    p->zone_id = zone->header->zone_id;
    p->nsinks = nsinks;

    p->pos = calloc(p->nrings, sizeof(uint64_t));
    p->sinks = calloc(nsinks ? nsinks : 1, sizeof(pipe_sink_t));
    if (p->pos == NULL || p->sinks == NULL) {
        goto fail;
    }

    for (i = 0; i < nsinks; i++) {
        p->sinks[i].sink = sinks[i];
        sinks[i] = NULL;               /* owned by p from here */
        p->sinks[i].delta = ps_agg_table_create(cfg->max_keys_per_hour);
        p->sinks[i].watermark = calloc(p->nrings, sizeof(uint64_t));
        p->sinks[i].committed = calloc(p->nrings, sizeof(uint64_t));

        if (p->sinks[i].delta == NULL || p->sinks[i].watermark == NULL
            || p->sinks[i].committed == NULL)
        {
            goto fail;
        }

        p->ndurable += p->sinks[i].sink->durable != 0;
    }

    if (cfg->client_address == PS_CLIENT_HASHED) {
        if (cfg->client_hash_key && cfg->client_hash_key[0]) {
            p->key = cfg->client_hash_key;
        } else {
            random_key(p->hash_key, sizeof(p->hash_key));
            p->key = p->hash_key;
            ps_log(PS_LOG_WARN, "event=client_hash_key_random "
                   "error=\"client_address = hashed without "
                   "client_hash_key: using a random key, so client hashes "
                   "change at every restart\"");
        }
    }

    crash = getenv("PATHSTATS_TEST_CRASH_AFTER_COMMIT");
    p->crash_after_commit = crash && crash[0] == '1';

    now = ps_mono_us();

    for (i = 0; i < nsinks; i++) {
        (void) p->sinks[i].sink->ops->connect(p->sinks[i].sink);
    }

    try_start(p, now);

    if (!p->started) {
        ps_log(PS_LOG_WARN, "event=pipeline_waiting reason=\"a durable sink "
               "is unreachable: records stay in the rings until it is "
               "back\"");
    }

    return p;

fail:

    ps_log(PS_LOG_ERROR, "event=pipeline_create_failed error=\"out of "
           "memory\"");

    for (i = 0; i < nsinks; i++) {
        if (sinks[i]) {
            sinks[i]->ops->destroy(sinks[i]);
        }
    }

    ps_pipeline_destroy(p);

    return NULL;
}


ps_pipeline_t *
ps_pipeline_create(const ps_config_t *cfg, ps_zone_t *zone,
    ps_ring_reader_t *rr)
{
    unsigned    n;
    ps_sink_t  *sinks[2];

    n = 0;

    if (cfg->postgres) {
        sinks[n] = ps_sink_pg_create(cfg);
        if (sinks[n] == NULL) {
            goto fail;
        }
        n++;
    }

    if (cfg->redis) {
        sinks[n] = ps_sink_redis_create(cfg);
        if (sinks[n] == NULL) {
            goto fail;
        }
        n++;
    }

    return ps_pipeline_create_with(cfg, zone, rr, sinks, n);

fail:

    ps_log(PS_LOG_ERROR, "event=pipeline_create_failed error=\"cannot "
           "create a sink\"");

    while (n--) {
        sinks[n]->ops->destroy(sinks[n]);
    }

    return NULL;
}


void
ps_pipeline_destroy(ps_pipeline_t *p)
{
    unsigned  i;

    if (p == NULL) {
        return;
    }

    for (i = 0; p->sinks && i < p->nsinks; i++) {
        if (p->sinks[i].sink) {
            p->sinks[i].sink->ops->destroy(p->sinks[i].sink);
        }
        ps_agg_table_destroy(p->sinks[i].delta);
        free(p->sinks[i].watermark);
        free(p->sinks[i].committed);
    }

    free(p->sinks);
    free(p->pos);
    free(p);
}


void
ps_pipeline_set_observer(ps_pipeline_t *p, ps_rec_observer_fn fn, void *ctx)
{
    p->observer = fn;
    p->observer_ctx = ctx;
}


static void
pipeline_record(void *ctx, uint32_t ring, uint64_t pos,
    const ps_record_t *raw)
{
    unsigned        i;
    ps_rec_t        rec;
    pipe_sink_t    *s;
    ps_pipeline_t  *p = ctx;

    ps_rec_decode(&rec, &p->scratch, ring, pos, raw, p->cfg->client_address,
                  p->key);

    p->records++;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];

        if (!s->ready || pos < s->watermark[ring]) {
            continue;
        }

        if (ps_agg_add(s->delta, rec.hour, rec.host, rec.host_len,
                       rec.method, rec.method_len, rec.path, rec.path_len,
                       rec.status, rec.request_us, rec.bytes_in,
                       rec.bytes_out, rec.client_hash, rec.time_us) != 0)
        {
            ps_log(PS_LOG_ERROR, "event=aggregate_failed sink=%s "
                   "error=\"out of memory\"", s->sink->ops->name);
        }

        if (s->sink->ops->observe) {
            s->sink->ops->observe(s->sink, &rec);
        }

        s->pending++;
    }

    if (p->observer) {
        p->observer(p->observer_ctx, &rec);
    }
}


size_t
ps_pipeline_poll(ps_pipeline_t *p, size_t max)
{
    if (!p->started) {
        return 0;
    }

    return ps_ring_reader_poll(p->rr, max, pipeline_record, p);
}


/* Flushes one ready sink if it is due; 0 unless it failed. */
static int
flush_sink(ps_pipeline_t *p, pipe_sink_t *s, uint64_t now, int force)
{
    int       changed;
    uint32_t  r;
    uint64_t  read;

    if (!force && now < s->next_due) {
        return 0;
    }

    changed = ps_agg_count(s->delta) > 0;

    for (r = 0; r < p->nrings; r++) {
        read = ps_ring_reader_position(p->rr, r);
        p->pos[r] = read > s->committed[r] ? read : s->committed[r];
        changed |= p->pos[r] != s->committed[r];
    }

    if (!changed && now < s->last_flush_mono + HEARTBEAT_US) {
        s->next_due = now + p->cfg->flush_interval_ms * 1000;
        return 0;
    }

    if (s->sink->ops->flush(s->sink, p->zone_id, s->delta, p->pos,
                            p->nrings) != 0)
    {
        s->failures++;
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS) {
            s->backoff_ms = BACKOFF_MAX_MS;
        }
        s->next_due = now + s->backoff_ms * 1000;

        if (s->up) {
            ps_log(PS_LOG_WARN, "event=sink_down sink=%s keys=%zu",
                   s->sink->ops->name, ps_agg_count(s->delta));
        }
        ps_log(PS_LOG_DEBUG, "event=flush_failed sink=%s retry_in_ms=%llu",
               s->sink->ops->name, (unsigned long long) s->backoff_ms);
        s->up = 0;

        return -1;
    }

    if (!s->up) {
        ps_log(PS_LOG_INFO, "event=sink_recovered sink=%s failures=%llu",
               s->sink->ops->name, (unsigned long long) s->failures);
    }

    ps_log(PS_LOG_DEBUG, "event=flush sink=%s keys=%zu records=%llu",
           s->sink->ops->name, ps_agg_count(s->delta),
           (unsigned long long) s->pending);

    if (p->crash_after_commit && s->sink->durable && s->pending) {
        ps_log(PS_LOG_WARN, "event=test_crash_after_commit");
        _exit(1);
    }

    memcpy(s->committed, p->pos, p->nrings * sizeof(uint64_t));
    ps_agg_table_clear(s->delta);
    s->pending = 0;
    s->up = 1;
    s->backoff_ms = 0;
    s->flushes++;
    s->last_flush_us = ps_now_us();
    s->last_flush_mono = now;
    s->next_due = now + p->cfg->flush_interval_ms * 1000;

    return 0;
}


void
ps_pipeline_flush(ps_pipeline_t *p, uint64_t now_mono_us, int force)
{
    unsigned      i;
    uint32_t      r;
    uint64_t      min, read;
    pipe_sink_t  *s;

    if (!p->started || p->ndurable < p->nsinks) {
        try_start(p, now_mono_us);
        if (!p->started) {
            return;
        }
    }

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];
        if (s->ready) {
            (void) flush_sink(p, s, now_mono_us, force);
        }
    }

    /* SPOOL HOOK: a spooled flush would count as committed here */

    if (p->ndurable == 0) {
        ps_ring_reader_release_all(p->rr);
        return;
    }

    for (r = 0; r < p->nrings; r++) {
        min = UINT64_MAX;

        for (i = 0; i < p->nsinks; i++) {
            s = &p->sinks[i];
            if (s->sink->durable && s->committed[r] < min) {
                min = s->committed[r];
            }
        }

        read = ps_ring_reader_position(p->rr, r);
        ps_ring_reader_release(p->rr, r, min < read ? min : read);
    }
}


unsigned
ps_pipeline_sink_count(const ps_pipeline_t *p)
{
    return p->nsinks;
}


void
ps_pipeline_sink_status(const ps_pipeline_t *p, unsigned i,
    ps_sink_status_t *st)
{
    uint32_t            r;
    uint64_t            read;
    const pipe_sink_t  *s = &p->sinks[i];

    memset(st, 0, sizeof(*st));

    st->name = s->sink->ops->name;
    st->up = s->ready && s->up;
    st->durable = s->sink->durable;
    st->flushes = s->flushes;
    st->failures = s->failures;
    st->last_flush_us = s->last_flush_us;
    st->pending_keys = ps_agg_count(s->delta);

    for (r = 0; r < p->nrings; r++) {
        read = ps_ring_reader_position(p->rr, r);
        if (read > s->committed[r]) {
            st->lag_records += read - s->committed[r];
        }
    }

    if (!st->up) {
        snprintf(st->last_error, sizeof(st->last_error), "%s",
                 s->sink->last_error[0] ? s->sink->last_error
                 : (s->ready ? "flush failed" : "unreachable"));
    }
}


uint64_t
ps_pipeline_records(const ps_pipeline_t *p)
{
    return p->records;
}
