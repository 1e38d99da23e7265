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
 * and what does not fit is dropped and counted by nginx.
 *
 * SPOOL: with spool_dir set (and one durable sink), the disk spool
 * (spool.h) stands in for that sink while it is unreachable: a flush
 * that fails, or any flush while segments wait, goes to the spool and
 * counts as committed, so the rings keep draining; reading starts at
 * once, past what the sink and the spool hold.  Segments are replayed
 * in order through the sink's own flush before any live flush, and a
 * segment whose end positions the sink's watermarks already reach is
 * removed without applying it: exactly once, across restarts too.
 * Before each live flush its positions are recorded on disk (intent.h):
 * restarted while the sink is unreachable, the pipeline spools the flush
 * that was in flight as a segment of its own, which the replay then
 * skips or applies whole, whatever became of its COMMIT.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "agg/agg_table.h"
#include "lib/clock.h"
#include "lib/hour.h"
#include "pipeline/intent.h"
#include "lib/key_hash.h"
#include "lib/log.h"
#include "agg/key_limit.h"
#include "pipeline/pipeline.h"
#include "pipeline/sink.h"
#include "pipeline/spool.h"

#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     10000
#define HEARTBEAT_US       10000000   /* flush an unchanged sink this often */
#define SPOOL_RETRY_MAX_MS 2000       /* a spool waits at most this long */
#define INTENT_WAIT_US     2000000    /* to read up to the intent's end */

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
    ps_key_limit_t      *key_limit;  /* max_keys_per_hour, all flushes */
    char                 hash_key[65];
    uint64_t             other_hash;  /* ps_key_hash() of the overflow key */
    int                  keys_seeded; /* key_limit has the sink's keys */
    int64_t              seed_hour;
    const char          *key;

    uint64_t            *pos;        /* [nrings] scratch */
    uint64_t             records;
    int                  crash_after_commit;   /* test hook */

    /* SPOOL: stands in for *spooled while it is down; NULL: no spool */
    ps_spool_t          *spool;
    pipe_sink_t         *spooled;
    uint64_t            *spool_wm;             /* scratch watermarks */
    uint32_t             spool_wm_n;
    uint64_t             replay_due;           /* monotonic */
    uint64_t             replay_backoff_ms;

    /* SPOOL: the flush in flight, on disk; while limited, reading stops
     * at the end of the one the last run left in doubt */
    ps_intent_t         *intent;
    uint64_t            *in_start;             /* [nrings] */
    uint64_t            *in_end;               /* [nrings] */
    int                  limited;
    uint64_t             limited_until;        /* monotonic */
    uint64_t             intent_retry;         /* monotonic */
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


/* SPOOL: the spooled sink's watermarks are unknown at start.  If the
 * last run's final live flush (its intent) reaches past where reading
 * resumes, that flush's COMMIT may or may not have happened: reading
 * resumes at its start and stops at its end, so that the first spool
 * segment is exactly that flush, and the replay, which compares a
 * segment's end with the sink's watermarks, skips it or applies it
 * whole.  Either way nothing counts twice. */
static void
intent_resume(ps_pipeline_t *p, uint64_t now)
{
    int        ahead, exact;
    uint32_t   r;
    uint64_t   read, records;

    if (p->intent == NULL
        || ps_intent_read(p->intent, p->zone_id, p->in_start, p->in_end)
           != 0)
    {
        return;
    }

    ahead = 0;
    for (r = 0; r < p->nrings; r++) {
        ahead |= p->in_end[r] > ps_ring_reader_position(p->rr, r);
    }

    if (!ahead) {
        return;                        /* settled: released or spooled */
    }

    exact = 1;
    records = 0;

    for (r = 0; r < p->nrings; r++) {
        ps_ring_reader_skip_to(p->rr, r, p->in_start[r]);
        read = ps_ring_reader_position(p->rr, r);
        exact &= read == p->in_start[r];
        records += p->in_end[r] > read ? p->in_end[r] - read : 0;
        ps_ring_reader_limit(p->rr, r, p->in_end[r]);
    }

    p->limited = 1;
    p->limited_until = now + INTENT_WAIT_US;

    if (!exact) {
        ps_log(PS_LOG_ERROR, "event=intent_inexact records=%llu "
               "error=\"the rings were released past the start of the "
               "flush in doubt: spooling what is left of it\"",
               (unsigned long long) records);
        return;
    }

    ps_log(PS_LOG_WARN, "event=intent_resume records=%llu reason=\"the "
           "last run's final flush may or may not be in the sink, which is "
           "unreachable: it goes to the spool alone, and the replay skips "
           "or applies it whole\"", (unsigned long long) records);
}


/* SPOOL: 1 while reading must stop at the intent's end, which is reached
 * (0) on every ring, or given up after INTENT_WAIT_US. */
static int
intent_pending(ps_pipeline_t *p, uint64_t now)
{
    uint32_t  r;

    for (r = 0; r < p->nrings; r++) {
        if (ps_ring_reader_position(p->rr, r) < p->in_end[r]) {
            break;
        }
    }

    if (r == p->nrings) {
        return 0;
    }

    if (now < p->limited_until) {
        return 1;
    }

    ps_log(PS_LOG_ERROR, "event=intent_unreachable ring=%u position=%llu "
           "end=%llu error=\"the ring ends before the flush in doubt did: "
           "spooling what there is\"", r,
           (unsigned long long) ps_ring_reader_position(p->rr, r),
           (unsigned long long) p->in_end[r]);

    return 0;
}


static void
intent_lift(ps_pipeline_t *p)
{
    uint32_t  r;

    for (r = 0; r < p->nrings; r++) {
        ps_ring_reader_limit(p->rr, r, UINT64_MAX);
    }

    p->limited = 0;
}


static void
seed_key(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen)
{
    ps_pipeline_t  *p = ctx;

    (void) ps_key_limit_admit(p->key_limit, p->seed_hour,
                              ps_key_hash(host, hlen, method, mlen, path,
                                          plen));
}


/* Once, when a durable sink is first up: the keys that already have a
 * row in the current hour count toward max_keys_per_hour, so that a
 * restart within the hour cannot take the hour past it.  Done before
 * reading starts; a sink that comes up later (the spool stood in) is
 * asked then, when some keys may have been admitted already. */
static void
seed_keys(ps_pipeline_t *p)
{
    unsigned      i;
    pipe_sink_t  *s;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];

        if (!s->sink->durable || !s->ready || !s->up
            || s->sink->ops->load_keys == NULL)
        {
            continue;
        }

        p->keys_seeded = 1;
        p->seed_hour = ps_hour_of((int64_t) ps_now_us());

        if (s->sink->ops->load_keys(s->sink, p->seed_hour,
                                    p->cfg->max_keys_per_hour, seed_key, p)
            != 0)
        {
            ps_log(PS_LOG_WARN, "event=key_seed_failed sink=%s "
                   "reason=\"the keys of the hour's rows could not be "
                   "read: this hour may get up to max_keys_per_hour more\"",
                   s->sink->ops->name);
        }

        return;
    }
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

        /* SPOOL: once reading, the spooled sink comes back through
         * spool_replay() */
        if (!s->ready && now >= s->next_due
            && !(s == p->spooled && p->started))
        {
            (void) sink_try_ready(p, s, now);
        }

        if (s->sink->durable && !s->ready && s != p->spooled) {
            return;
        }
    }

    if (p->started) {
        return;
    }

    /* SPOOL: what is before the ring's head is in the sink or in the
     * spool, and so is what the spool's newest segment ends at */
    if (p->spooled) {
        for (r = 0; r < p->nrings; r++) {
            p->pos[r] = p->spooled->ready ? p->spooled->watermark[r] : 0;
        }
        ps_spool_last_end(p->spool, p->zone_id, p->pos, p->nrings);
    }

    for (r = 0; r < p->nrings && p->ndurable; r++) {
        min = UINT64_MAX;

        for (i = 0; i < p->nsinks; i++) {
            s = &p->sinks[i];
            if (s == p->spooled) {
                if (p->pos[r] < min) {
                    min = p->pos[r];
                }
            } else if (s->sink->durable && s->watermark[r] < min) {
                min = s->watermark[r];
            }
        }

        ps_ring_reader_skip_to(p->rr, r, min);
    }

    if (p->spooled && !p->spooled->ready) {
        intent_resume(p, now);
    }

    if (p->spooled) {
        s = p->spooled;
        for (r = 0; r < p->nrings; r++) {
            s->watermark[r] = ps_ring_reader_position(p->rr, r);
            s->committed[r] = s->watermark[r];
        }
        if (!s->ready) {
            ps_log(PS_LOG_WARN, "event=spool_standin sink=%s "
                   "segments=%llu reason=\"unreachable at start: reading "
                   "goes on, flushes go to the spool\"", s->sink->ops->name,
                   (unsigned long long) ps_spool_pending(p->spool));
        }
    }

    /* before the first record is admitted */
    seed_keys(p);

    p->started = 1;

    ps_log(PS_LOG_INFO, "event=pipeline_started sinks=%u durable=%u",
           p->nsinks, p->ndurable);
}


ps_pipeline_t *
ps_pipeline_create(const ps_config_t *cfg, ps_zone_t *zone,
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
    p->nrings = zone->geo.ring_count;
    p->zone_id = zone->geo.zone_id;
    p->nsinks = nsinks;

    p->pos = calloc(p->nrings, sizeof(uint64_t));
    p->key_limit = ps_key_limit_create(cfg->max_keys_per_hour);
    p->other_hash = ps_key_hash(PS_AGG_OTHER_HOST,
                                sizeof(PS_AGG_OTHER_HOST) - 1,
                                PS_AGG_OTHER_METHOD,
                                sizeof(PS_AGG_OTHER_METHOD) - 1,
                                PS_AGG_OTHER_PATH,
                                sizeof(PS_AGG_OTHER_PATH) - 1);
    p->sinks = calloc(nsinks ? nsinks : 1, sizeof(pipe_sink_t));
    if (p->pos == NULL || p->sinks == NULL || p->key_limit == NULL) {
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

    /* SPOOL: stands in for the one durable sink */
    if (cfg->spool_dir && cfg->spool_dir[0]) {
        if (p->ndurable != 1) {
            ps_log(PS_LOG_WARN, "event=spool_unused dir=\"%s\" "
                   "reason=\"the spool needs exactly one durable sink "
                   "(postgres)\"", cfg->spool_dir);
        } else {
            p->spool = ps_spool_open(cfg->spool_dir, cfg->spool_max_bytes,
                                     cfg->node_id, cfg->max_keys_per_hour);
            p->intent = ps_intent_open(cfg->spool_dir, p->nrings);
            p->in_start = calloc(2 * (size_t) p->nrings, sizeof(uint64_t));
            if (p->spool == NULL || p->intent == NULL) {
                goto fail_spool;
            }
            if (p->in_start == NULL) {
                goto fail;
            }
            p->in_end = p->in_start + p->nrings;
            for (i = 0; i < nsinks; i++) {
                if (p->sinks[i].sink->durable) {
                    p->spooled = &p->sinks[i];
                    p->sinks[i].sink->spooled = 1;
                }
            }
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

fail_spool:

    /* SPOOL: a spool that cannot be opened is a startup error */
    ps_pipeline_destroy(p);

    return NULL;

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

    ps_spool_close(p->spool);          /* SPOOL */
    ps_intent_close(p->intent);
    free(p->in_start);
    free(p->spool_wm);
    free(p->sinks);
    ps_key_limit_destroy(p->key_limit);
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

    rec.key_hash = ps_key_hash(rec.host, rec.host_len, rec.method,
                               rec.method_len, rec.path, rec.path_len);

    if (!ps_key_limit_admit(p->key_limit, rec.hour, rec.key_hash)) {
        rec.host = PS_AGG_OTHER_HOST;
        rec.host_len = sizeof(PS_AGG_OTHER_HOST) - 1;
        rec.method = PS_AGG_OTHER_METHOD;
        rec.method_len = sizeof(PS_AGG_OTHER_METHOD) - 1;
        rec.path = PS_AGG_OTHER_PATH;
        rec.path_len = sizeof(PS_AGG_OTHER_PATH) - 1;
        rec.key_hash = p->other_hash;
    }

    p->records++;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];

        /* SPOOL: the spool takes what its sink cannot yet */
        if ((!s->ready && s != p->spooled) || pos < s->watermark[ring]) {
            continue;
        }

        if (ps_agg_add_rec(s->delta, &rec) != 0) {
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
    uint64_t  read, started;

    /* an early flush (rings filling up) skips the interval, not the
     * backoff of a failing sink */
    if (now < s->next_due
        && (!force || (force == PS_PIPELINE_FLUSH_EARLY && s->backoff_ms)))
    {
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

    started = ps_mono_us();

    /* SPOOL: on disk before the COMMIT; a failure costs exactness only
     * if the process dies before the next flush and the sink is
     * unreachable when it restarts, so the flush goes on */
    if (s == p->spooled && p->intent) {
        (void) ps_intent_write(p->intent, p->zone_id, s->committed, p->pos);
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

    ps_log(PS_LOG_DEBUG, "event=flush sink=%s keys=%zu records=%llu "
           "duration_ms=%.1f", s->sink->ops->name, ps_agg_count(s->delta),
           (unsigned long long) s->pending,
           (double) (ps_mono_us() - started) / 1000.0);

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


/* SPOOL: scratch watermarks for n rings; NULL when memory ran out. */
static uint64_t *
spool_wm(ps_pipeline_t *p, uint32_t n)
{
    uint64_t  *wm;

    if (n > p->spool_wm_n) {
        wm = realloc(p->spool_wm, n * sizeof(uint64_t));
        if (wm == NULL) {
            return NULL;
        }
        p->spool_wm = wm;
        p->spool_wm_n = n;
    }

    return p->spool_wm;
}


/* SPOOL: replays the spool's segments in order through the sink, each
 * unless the sink's watermarks show it applied already, then takes the
 * sink back (ready, up) once the spool is empty; 0, or -1 when the sink
 * is still unreachable (retried with backoff). */
static int
spool_replay(ps_pipeline_t *p, pipe_sink_t *s, uint64_t now)
{
    int             applied, overlap, rc;
    unsigned        budget;
    uint32_t        r;
    uint64_t       *wm;
    ps_spool_seg_t  seg;

    for (budget = 32; budget; budget--) {
        rc = ps_spool_head(p->spool, &seg);
        if (rc == 1) {
            break;
        }

        if (rc != 0 || (wm = spool_wm(p, seg.nrings)) == NULL
            || s->sink->ops->load_watermarks(s->sink, seg.zone_id, wm,
                                             seg.nrings) != 0)
        {
            goto fail;
        }

        applied = 1;
        overlap = 0;

        for (r = 0; r < seg.nrings; r++) {
            if (seg.end[r] > wm[r]) {
                applied = 0;
                overlap |= seg.start[r] < wm[r];
            }
        }

        if (!applied) {
            if (overlap) {
                ps_log(PS_LOG_ERROR, "event=spool_overlap seq=%llu "
                       "error=\"the sink holds part of this segment "
                       "already: it may count some requests twice\"",
                       (unsigned long long) seg.seq);
            }

            if (s->sink->ops->flush(s->sink, seg.zone_id, seg.delta,
                                    seg.end, seg.nrings) != 0)
            {
                goto fail;
            }

            s->flushes++;
            s->last_flush_us = ps_now_us();
        }

        ps_log(PS_LOG_INFO, "event=spool_replayed sink=%s seq=%llu "
               "records=%llu applied=%s", s->sink->ops->name,
               (unsigned long long) seg.seq,
               (unsigned long long) seg.records,
               applied ? "already" : "now");

        if (ps_spool_pop(p->spool) != 0) {
            goto fail;
        }
    }

    if (ps_spool_pending(p->spool)) {
        p->replay_due = now;           /* more next time round */
        return 0;
    }

    if (!s->ready || !s->up) {
        wm = spool_wm(p, p->nrings);

        if (wm == NULL
            || s->sink->ops->load_watermarks(s->sink, p->zone_id, wm,
                                             p->nrings) != 0)
        {
            goto fail;
        }

        for (r = 0; r < p->nrings; r++) {
            if (wm[r] > s->committed[r]) {
                ps_log(PS_LOG_ERROR, "event=spool_overlap ring=%u "
                       "error=\"the sink holds more than the spool "
                       "knew: it may count some requests twice\"", r);
                s->committed[r] = wm[r];
            }
        }

        ps_log(PS_LOG_INFO, "event=sink_recovered sink=%s failures=%llu "
               "spool=empty", s->sink->ops->name,
               (unsigned long long) s->failures);

        s->ready = 1;
        s->up = 1;
        s->backoff_ms = 0;
        s->sink->last_error[0] = '\0';
    }

    p->replay_backoff_ms = 0;

    return 0;

fail:

    if (s->up) {
        ps_log(PS_LOG_WARN, "event=sink_down sink=%s spool=on",
               s->sink->ops->name);
    }

    s->up = 0;
    s->failures++;
    p->replay_backoff_ms = p->replay_backoff_ms ? p->replay_backoff_ms * 2
                                                : BACKOFF_MIN_MS;
    if (p->replay_backoff_ms > BACKOFF_MAX_MS) {
        p->replay_backoff_ms = BACKOFF_MAX_MS;
    }
    if (p->replay_backoff_ms > SPOOL_RETRY_MAX_MS) {
        p->replay_backoff_ms = SPOOL_RETRY_MAX_MS;
    }
    p->replay_due = now + p->replay_backoff_ms * 1000;

    return -1;
}


/* SPOOL: flushes the spooled sink: live when it is up and nothing
 * waits in the spool, else (or when the live flush fails) into the
 * spool, which commits the positions so that the rings drain.  0, or -1
 * when the delta could be kept nowhere (it stays, and is retried). */
static int
flush_spooled(ps_pipeline_t *p, pipe_sink_t *s, uint64_t now, int force)
{
    int        changed, rc;
    uint32_t   r;
    uint64_t   read;

    /* the flush in doubt goes to the spool first, and alone */
    if (p->limited) {
        if (intent_pending(p, now) || now < p->intent_retry) {
            return 0;
        }
        force = 1;
        goto spool;
    }

    if ((!s->ready || !s->up || ps_spool_pending(p->spool))
        && now >= p->replay_due)
    {
        (void) spool_replay(p, s, now);
    }

    if (s->ready && s->up && ps_spool_pending(p->spool) == 0) {
        if (flush_sink(p, s, now, force) == 0) {
            return 0;
        }

        /* the sink went down: its delta goes to the spool now */
        p->replay_backoff_ms = s->backoff_ms;
        p->replay_due = s->next_due;
        force = 1;
    }

spool:

    if (!force && now < s->next_due) {
        return 0;
    }

    changed = ps_agg_count(s->delta) > 0 || s->pending > 0;

    for (r = 0; r < p->nrings; r++) {
        read = ps_ring_reader_position(p->rr, r);
        p->pos[r] = read > s->committed[r] ? read : s->committed[r];
        changed |= p->pos[r] != s->committed[r];
    }

    s->next_due = now + p->cfg->flush_interval_ms * 1000;

    if (!changed) {
        if (p->limited) {
            intent_lift(p);
        }
        return 0;
    }

    rc = ps_spool_write(p->spool, p->zone_id, s->delta, s->committed,
                        p->pos, p->nrings, s->pending);
    if (rc < 0) {
        s->next_due = now + BACKOFF_MAX_MS / 10 * 1000;
        p->intent_retry = s->next_due;
        return -1;
    }

    memcpy(s->committed, p->pos, p->nrings * sizeof(uint64_t));
    ps_agg_table_clear(s->delta);
    s->pending = 0;
    s->last_flush_mono = now;

    if (p->limited) {
        intent_lift(p);
    }

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
        if (s == p->spooled) {
            (void) flush_spooled(p, s, now_mono_us, force);    /* SPOOL */
        } else if (s->ready) {
            (void) flush_sink(p, s, now_mono_us, force);
        }
    }

    if (p->ndurable == 0) {
        ps_ring_reader_release_all(p->rr);
        return;
    }

    if (!p->keys_seeded) {
        seed_keys(p);
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

    /* SPOOL */
    if (s == p->spooled) {
        ps_spool_stats_t  ss;
        size_t            n;

        ps_spool_stats(p->spool, &ss);
        st->spool = 1;
        st->spool_segments = ss.segments;
        st->spool_bytes = ss.bytes;
        st->spool_dropped = ss.dropped_records;
        st->spool_corrupt = ss.corrupt;
        st->spool_max_bytes = ss.max_bytes;

        /* a sink that is up with nothing spooled no longer needs the
         * spool: what it could not keep before is moot */
        if (!st->up || ss.segments) {
            st->spool_full = ss.full;
            snprintf(st->spool_error, sizeof(st->spool_error), "%s",
                     ss.error);
        }

        n = strlen(st->last_error);
        if (!st->up && n < sizeof(st->last_error)) {
            snprintf(st->last_error + n, sizeof(st->last_error) - n,
                     "; spooling to disk: %llu flushes wait",
                     (unsigned long long) ss.segments);
            n = strlen(st->last_error);
        }
        if (ss.dropped_records && n < sizeof(st->last_error)) {
            snprintf(st->last_error + n, sizeof(st->last_error) - n,
                     "%sspool full: %llu requests lost", n ? "; " : "",
                     (unsigned long long) ss.dropped_records);
        }
    }
}


uint64_t
ps_pipeline_records(const ps_pipeline_t *p)
{
    return p->records;
}
