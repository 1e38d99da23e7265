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
 * durable sinks.  Records are added to each sink's delta table in this
 * thread; a flush hands the table over to the sink's flusher thread
 * (flusher.h) and goes on adding to a fresh one, so that draining the
 * rings never waits for a round trip.  A flush that fails gives its
 * table back, merged into the current one, and is retried with backoff;
 * nothing is released meanwhile.  Until every durable sink's watermarks
 * are known (its database is down at start) no record is read at all:
 * the records wait in the rings, and what does not fit is dropped and
 * counted by nginx.
 *
 * WRITE-AHEAD LOG: with spool_dir set (and one durable sink), the disk
 * spool (spool.h) is the durable sink's log.  Every flush of that sink
 * is written there first, as one segment covering its ring positions
 * (fsync'd before it counts), and counts as committed: the rings are
 * released at once, at the speed of a local write, whatever PostgreSQL
 * does.  A replayer thread of its own applies the segments to the sink
 * in order, several contiguous ones in one transaction when it is
 * behind (their keys repeat, so the merged delta is smaller than their
 * sum), each transaction storing the end positions of its last segment
 * as the sink's watermarks; a segment is removed only after that
 * COMMIT, and a segment the watermarks already reach is removed without
 * being applied.  So a crash anywhere counts nothing twice:
 *
 *   - before a segment is durable its records are not released: a
 *     restart reads them again from the rings;
 *   - once it is, reading resumes past it (past the spool's newest
 *     segment and the sink's watermarks, whichever is further);
 *   - a COMMIT whose outcome is unknown (a crash, a lost answer) is
 *     settled by the watermarks at the next replay: applied segments
 *     are skipped, the others applied whole.
 *
 * A slow or unreachable PostgreSQL costs disk (spool_max bounds it; a
 * flush that does not fit is counted and logged as lost), not drops in
 * the rings.  Without spool_dir the rings are released only up to what
 * the durable sink committed.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "agg/agg_table.h"
#include "agg/key_limit.h"
#include "agg/windows.h"
#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/key_hash.h"
#include "lib/log.h"
#include "pipeline/flusher.h"
#include "pipeline/pipeline.h"
#include "pipeline/sink.h"
#include "pipeline/spool.h"

#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     10000
#define HEARTBEAT_US       10000000   /* flush an unchanged sink this often */
#define FLUSH_PAUSE_MAX_US 10000000   /* a slow flush pauses at most this */
#define REPLAY_RETRY_MAX_MS 2000      /* a replay waits at most this long */
#define REPLAY_GROUP_KEYS  200000     /* keys merged into one replay */

typedef struct ps_pipeline_s  pipeline_t;

typedef struct {
    ps_sink_t        *sink;
    pipeline_t       *p;
    ps_agg_table_t   *delta;         /* records since the last hand-over */
    uint64_t         *watermark;     /* [nrings] */
    uint64_t         *committed;     /* [nrings] */
    uint64_t         *held;          /* [nrings]: what a sink that keeps
                                        the rings while up has for sure
                                        (sink.h held) */
    int               holding;       /* held is valid and the sink up */
    int               ready;         /* watermarks known */
    int               up;
    uint64_t          flushes;
    uint64_t          failures;
    uint64_t          last_flush_us; /* wall clock */
    uint64_t          last_flush_mono;
    uint64_t          next_due;      /* monotonic */
    uint64_t          backoff_ms;
    uint64_t          pending;       /* records added since last flush */

    /* the flush in the flusher's hands */
    ps_flusher_t     *flusher;
    int               busy;
    ps_agg_table_t   *job_delta;
    uint64_t         *job_start;     /* [nrings]: committed at hand-over */
    uint64_t         *job_end;       /* [nrings] */
    uint64_t          job_records;
    uint64_t          job_started;   /* monotonic */
    uint64_t          job_took;      /* the sink's flush() alone, us */
    uint64_t          job_cpu;       /* its CPU time in this process, us */
    char              error[256];    /* the sink's last_error, copied when
                                        a job is collected */
} pipe_sink_t;

/* WRITE-AHEAD LOG: the replayer's state, under rmu */
typedef struct {
    pthread_t         thread;
    int               running;
    pthread_mutex_t   sink_mu;       /* held while the sink is used */
    pthread_mutex_t   mu;
    pthread_cond_t    cv;
    int               stop;
    int               kick;          /* a segment was written */
    int               up;            /* the last attempt succeeded */
    uint64_t          flushes;
    uint64_t          failures;
    uint64_t          last_flush_us;
    uint64_t          last_attempt_mono;
    uint64_t         *applied;       /* [nrings]: the sink's watermarks
                                        for this zone, as far as known */
    int               applied_known;
    char              error[256];
    uint64_t          backoff_ms;
    ps_agg_table_t   *group;         /* segments merged for one replay */
    uint64_t         *wm;            /* scratch: the sink's watermarks and
                                        the group's end, [2 * wm_n] */
    uint32_t          wm_n;
} replayer_t;

/*
 * Records are counted a batch at a time: with 100 000 keys every step of
 * counting a record waits for memory (the windows' index slot, the key,
 * its newest buckets, their histograms and client sets: windows.h).  Each
 * record is decoded and hashed as the ring reader hands it over (its
 * index slot starts loading); once PIPE_BATCH are waiting, the batch
 * takes each of the windows' hints in turn, every record before the next
 * step, so that the loads of the whole batch overlap, and then the
 * records are counted in the ring's order, from cache.  The end of every
 * poll counts what is waiting, so nothing outside a poll sees a record
 * half counted.  (A rolling pipeline, each record a step further per
 * record read, measured 20 % slower than batches of 8 to 32.)
 */
#define PIPE_BATCH  16

typedef struct {
    ps_rec_t             rec;
    const ps_win_key_t  *k;          /* the key peeked at; NULL: new */
    ps_rec_scratch_t     scratch;    /* rec points into it */
} pipe_pending_t;

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
    int                  sync;       /* tests: every flush waits */

    ps_rec_observer_fn   observer;
    void                *observer_ctx;
    ps_windows_t        *win;        /* the key table, when set */

    pipe_pending_t      *batch;      /* [PIPE_BATCH]: decoded records
                                        waiting to be counted */
    unsigned             nbatch;
    ps_key_limit_t      *key_limit;  /* max_keys_per_hour, all flushes */
    char                 hash_key[65];
    uint64_t             other_hash;  /* ps_key_hash() of the overflow key */
    int                  keys_seeded; /* key_limit has the sink's keys */
    int64_t              seed_hour;
    const char          *key;

    uint64_t            *pos;        /* [nrings] scratch */
    uint64_t             records;
    uint64_t             rng;        /* the pauses' jitter (xorshift64*) */
    int                  crash_after_commit;   /* test hook */

    /* WRITE-AHEAD LOG: the log of *spooled; NULL: no spool */
    ps_spool_t          *spool;
    pipe_sink_t         *spooled;
    replayer_t           rp;
};


/* n random bytes: the kernel's, else (no getrandom) a generator seeded
 * with the time and the pid. */
static void
random_bytes(void *out, size_t n)
{
    unsigned char  *raw = out;
    uint64_t        t;
    size_t          i;

    if (getrandom(raw, n, 0) == (ssize_t) n) {
        return;
    }

    t = ps_now_us() ^ ((uint64_t) getpid() << 32);
    for (i = 0; i < n; i++) {
        t = t * 6364136223846793005ULL + 1442695040888963407ULL;
        raw[i] = (unsigned char) (t >> 56);
    }
}


static void
random_key(char *buf, size_t size)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;
    unsigned char      raw[32];

    random_bytes(raw, sizeof(raw));

    for (i = 0; i < sizeof(raw) && 2 * i + 2 < size; i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 0xF];
    }

    buf[2 * i] = '\0';
}


static uint64_t
backoff(uint64_t ms, uint64_t max)
{
    ms = ms ? ms * 2 : BACKOFF_MIN_MS;

    return ms > max ? max : ms;
}


/* 1 when the rings are released only as far as sink s allows: a
 * durable sink always, one that keeps them while up (sink.h held) while
 * it is up. */
static int
sink_holds(const pipe_sink_t *s)
{
    return s->sink->durable || (s->holding && s->ready && s->up);
}


/* 1 when some sink holds the rings back. */
static int
any_holds(const pipeline_t *p)
{
    unsigned  i;

    for (i = 0; i < p->nsinks; i++) {
        if (sink_holds(&p->sinks[i])) {
            return 1;
        }
    }
    return 0;
}


/* Loads a sink's watermarks; 0 when it is ready. */
static int
sink_try_ready(pipeline_t *p, pipe_sink_t *s, uint64_t now)
{
    uint32_t  r;

    if (s->sink->ops->load_watermarks(s->sink, p->zone_id, s->watermark,
                                      p->nrings) != 0)
    {
        s->failures++;
        s->up = 0;
        s->backoff_ms = backoff(s->backoff_ms, BACKOFF_MAX_MS);
        s->next_due = now + s->backoff_ms * 1000;
        snprintf(s->error, sizeof(s->error), "%s", s->sink->last_error);
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

    /* what it has before its first flush: everything before its
     * watermarks */
    if (s->sink->ops->held != NULL) {
        memcpy(s->held, s->watermark, p->nrings * sizeof(uint64_t));
        s->holding = 1;
    }

    s->ready = 1;
    s->up = 1;
    s->backoff_ms = 0;
    s->next_due = now + p->cfg->flush_interval_ms * 1000;
    s->last_flush_mono = now;
    s->error[0] = '\0';

    ps_log(PS_LOG_INFO, "event=sink_ready sink=%s", s->sink->ops->name);

    return 0;
}


static void
seed_key(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen)
{
    pipeline_t  *p = ctx;

    if (p->win != NULL) {
        (void) ps_windows_seed(p->win, p->seed_hour, host, hlen, method,
                               mlen, path, plen);
        return;
    }

    (void) ps_key_limit_admit(p->key_limit, p->seed_hour,
                              ps_key_hash(host, hlen, method, mlen, path,
                                          plen));
}


/* Once, before reading starts, from a durable sink that is up: the keys
 * that already have a row of this node in the current hour count toward
 * max_keys_per_hour, so that a restart within the hour cannot take the
 * hour past it.  (A sink down at start, whose spool stands in, is not
 * asked later: its replayer owns it then.) */
static void
seed_keys(pipeline_t *p)
{
    unsigned      i;
    pipe_sink_t  *s;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];

        if (!s->sink->durable || !s->ready || !s->up || s->busy
            || s->sink->ops->load_keys == NULL
            || (s == p->spooled && p->rp.running))
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


/* WRITE-AHEAD LOG: scratch for n rings (watermarks, then the group's
 * end); NULL when memory ran out.  The replayer's. */
static uint64_t *
replay_wm(pipeline_t *p, uint32_t n)
{
    uint64_t  *wm;

    if (n > p->rp.wm_n) {
        wm = realloc(p->rp.wm, 2 * (size_t) n * sizeof(uint64_t));
        if (wm == NULL) {
            return NULL;
        }
        p->rp.wm = wm;
        p->rp.wm_n = n;
    }

    return p->rp.wm;
}


/* WRITE-AHEAD LOG: one replay: the oldest segments, skipped when the
 * sink's watermarks show them applied, else merged while contiguous (up
 * to REPLAY_GROUP_KEYS keys) and applied in one flush whose watermarks
 * are the last one's end, then removed.  Also the heartbeat flush of an
 * idle sink.  1 when there is nothing to replay, 2 after a heartbeat,
 * 0 after progress, -1 when the sink or the disk failed (retried with
 * backoff).  Runs in the
 * replayer thread (or the caller's, with sync). */
static int
replay_step(pipeline_t *p)
{
    int             overlap, applied, rc, n;
    size_t          i, k;
    uint32_t        r, nrings;
    uint64_t       *wm, *end, zone, records;
    ps_sink_t      *sink = p->spooled->sink;
    replayer_t     *rp = &p->rp;
    ps_spool_seg_t  seg;

    rc = ps_spool_head(p->spool, &seg);

    if (rc == 1) {
        /* idle: a heartbeat of the positions applied, now and then */
        if (!rp->applied_known
            || ps_mono_us() < rp->last_attempt_mono + HEARTBEAT_US)
        {
            return 1;
        }

        ps_agg_table_clear(rp->group);
        rp->last_attempt_mono = ps_mono_us();
        return sink->ops->flush(sink, p->zone_id, rp->group, rp->applied,
                                p->nrings) == 0 ? 2 : -1;
    }

    if (rc != 0 || (wm = replay_wm(p, seg.nrings)) == NULL
        || sink->ops->load_watermarks(sink, seg.zone_id, wm, seg.nrings)
           != 0)
    {
        return -1;
    }

    zone = seg.zone_id;
    nrings = seg.nrings;
    end = wm + nrings;

    applied = 1;
    overlap = 0;

    for (r = 0; r < nrings; r++) {
        if (seg.end[r] > wm[r]) {
            applied = 0;
            overlap |= seg.start[r] < wm[r];
        }
    }

    if (applied) {
        ps_log(PS_LOG_INFO, "event=spool_replayed sink=%s seq=%llu "
               "records=%llu applied=already", sink->ops->name,
               (unsigned long long) seg.seq,
               (unsigned long long) seg.records);
        return ps_spool_pop(p->spool) == 0 ? 0 : -1;
    }

    if (overlap) {
        ps_log(PS_LOG_ERROR, "event=spool_overlap seq=%llu error=\"the sink "
               "holds part of this segment already: it may count some "
               "requests twice\"", (unsigned long long) seg.seq);
    }

    /* the group: this segment and the contiguous ones after it */
    ps_agg_table_clear(rp->group);
    records = 0;
    n = 0;

    for (i = 0; ; i++) {
        if (i > 0) {
            rc = ps_spool_load(p->spool, i, &seg);
            if (rc != 0 || seg.zone_id != zone || seg.nrings != nrings
                || ps_agg_count(rp->group) + ps_agg_count(seg.delta)
                   > REPLAY_GROUP_KEYS)
            {
                break;
            }
            for (r = 0; r < nrings && seg.start[r] == end[r]; r++) {
                /* contiguous */
            }
            if (r < nrings) {
                break;
            }
        }

        for (k = 0; k < ps_agg_count(seg.delta); k++) {
            if (ps_agg_merge_entry(rp->group,
                                   ps_agg_entry_at(seg.delta, k)) != 0)
            {
                ps_log(PS_LOG_ERROR, "event=spool_replay_failed "
                       "error=\"out of memory\"");
                return -1;
            }
        }

        memcpy(end, seg.end, nrings * sizeof(uint64_t));
        records += seg.records;
        n++;
    }

    if (sink->ops->flush(sink, zone, rp->group, end, nrings) != 0) {
        return -1;
    }

    if (p->crash_after_commit && records) {
        ps_log(PS_LOG_WARN, "event=test_crash_after_commit");
        _exit(1);
    }

    for (i = 0; i < (size_t) n; i++) {
        if (ps_spool_pop(p->spool) != 0) {
            return -1;
        }
    }

    ps_log(PS_LOG_INFO, "event=spool_replayed sink=%s segments=%d "
           "records=%llu keys=%zu applied=now", sink->ops->name, n,
           (unsigned long long) records, ps_agg_count(rp->group));

    pthread_mutex_lock(&rp->mu);
    if (zone == p->zone_id && nrings == p->nrings) {
        memcpy(rp->applied, end, nrings * sizeof(uint64_t));
        rp->applied_known = 1;
    }
    pthread_mutex_unlock(&rp->mu);

    return 0;
}


/* WRITE-AHEAD LOG: one replay step with its bookkeeping: state, logs,
 * backoff.  1 when idle (a heartbeat included), 0 after progress, -1
 * after a failure. */
static int
replay_once(pipeline_t *p)
{
    int          rc;
    replayer_t  *rp = &p->rp;
    ps_sink_t   *sink = p->spooled->sink;

    pthread_mutex_lock(&rp->sink_mu);
    rc = replay_step(p);
    pthread_mutex_unlock(&rp->sink_mu);

    pthread_mutex_lock(&rp->mu);

    if (rc < 0) {
        if (rp->up) {
            ps_log(PS_LOG_WARN, "event=sink_down sink=%s spool=on",
                   sink->ops->name);
        }
        rp->up = 0;
        rp->failures++;
        rp->backoff_ms = backoff(rp->backoff_ms, REPLAY_RETRY_MAX_MS);
        snprintf(rp->error, sizeof(rp->error), "%s",
                 sink->last_error[0] ? sink->last_error : "unreachable");

    } else if (rc == 0 || rc == 2 || !rp->up) {
        if (!rp->up && rc != 1) {
            ps_log(PS_LOG_INFO, "event=sink_recovered sink=%s "
                   "failures=%llu", sink->ops->name,
                   (unsigned long long) rp->failures);
        }
        if (rc != 1) {
            rp->flushes++;
            rp->last_flush_us = ps_now_us();
            rp->last_attempt_mono = ps_mono_us();
            rp->up = 1;
            rp->error[0] = '\0';
        }
        rp->backoff_ms = 0;
    }

    pthread_mutex_unlock(&rp->mu);

    return rc == 2 ? 1 : rc;
}


static void *
replayer_main(void *arg)
{
    int              rc = 1;
    uint64_t         wait_ms;
    struct timespec  ts;
    pipeline_t      *p = arg;
    replayer_t      *rp = &p->rp;

    pthread_mutex_lock(&rp->mu);

    while (!rp->stop) {
        /* after progress go on at once; idle, wait for a segment (or
         * the heartbeat); after a failure, the backoff */
        wait_ms = rc == 0 ? 0 : rc < 0 ? rp->backoff_ms : 1000;

        if (wait_ms && !rp->kick) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t) (wait_ms / 1000);
            ts.tv_nsec += (long) (wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void) pthread_cond_timedwait(&rp->cv, &rp->mu, &ts);
        }

        if (rp->stop) {
            break;
        }

        rp->kick = 0;
        pthread_mutex_unlock(&rp->mu);

        rc = replay_once(p);

        pthread_mutex_lock(&rp->mu);
    }

    pthread_mutex_unlock(&rp->mu);

    return NULL;
}


/* WRITE-AHEAD LOG: wakes the replayer (a segment was written). */
static void
replay_kick(pipeline_t *p)
{
    if (!p->rp.running) {
        return;
    }

    pthread_mutex_lock(&p->rp.mu);
    p->rp.kick = 1;
    pthread_cond_signal(&p->rp.cv);
    pthread_mutex_unlock(&p->rp.mu);
}


static int
replayer_start(pipeline_t *p)
{
    if (p->sync || p->rp.running) {
        return 0;
    }

    if (pthread_create(&p->rp.thread, NULL, replayer_main, p) != 0) {
        ps_log(PS_LOG_ERROR, "event=thread_start_failed thread=replayer");
        return -1;
    }

    (void) pthread_setname_np(p->rp.thread, "ps-replay");
    p->rp.running = 1;

    return 0;
}


static void
replayer_stop(pipeline_t *p)
{
    if (!p->rp.running) {
        return;
    }

    pthread_mutex_lock(&p->rp.mu);
    p->rp.stop = 1;
    pthread_cond_signal(&p->rp.cv);
    pthread_mutex_unlock(&p->rp.mu);

    pthread_join(p->rp.thread, NULL);
    p->rp.running = 0;
}


/* Starts reading once every durable sink is ready: skips the reader past
 * what all of them hold. */
static void
try_start(pipeline_t *p, uint64_t now)
{
    unsigned      i;
    uint32_t      r;
    uint64_t      min;
    pipe_sink_t  *s;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];

        /* WRITE-AHEAD LOG: once reading, the replayer owns the sink */
        if (!s->ready && !s->busy && now >= s->next_due
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

    /* WRITE-AHEAD LOG: what is before the ring's head is in the sink or
     * in the log, and so is what the log's newest segment ends at */
    if (p->spooled) {
        for (r = 0; r < p->nrings; r++) {
            p->pos[r] = p->spooled->ready ? p->spooled->watermark[r] : 0;
        }
        ps_spool_last_end(p->spool, p->zone_id, p->pos, p->nrings);
    }

    for (r = 0; r < p->nrings && any_holds(p); r++) {
        min = UINT64_MAX;

        for (i = 0; i < p->nsinks; i++) {
            s = &p->sinks[i];
            if (s == p->spooled) {
                if (p->pos[r] < min) {
                    min = p->pos[r];
                }
            } else if (sink_holds(s) && s->watermark[r] < min) {
                min = s->watermark[r];
            }
        }

        ps_ring_reader_skip_to(p->rr, r, min);
    }

    /* before the first record is admitted, from a sink that answered */
    seed_keys(p);

    if (p->spooled) {
        s = p->spooled;

        pthread_mutex_lock(&p->rp.mu);
        if (s->ready) {
            memcpy(p->rp.applied, s->watermark,
                   p->nrings * sizeof(uint64_t));
            p->rp.applied_known = 1;
            p->rp.up = 1;
        }
        pthread_mutex_unlock(&p->rp.mu);

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

        /* fed from here on whatever the sink does: the log takes it */
        s->ready = 1;
        s->up = 1;
    }

    p->started = 1;

    ps_log(PS_LOG_INFO, "event=pipeline_started sinks=%u durable=%u%s",
           p->nsinks, p->ndurable, p->spooled ? " log=spool" : "");
}


ps_pipeline_t *
ps_pipeline_create(const ps_config_t *cfg, ps_zone_t *zone,
    ps_ring_reader_t *rr, ps_sink_t **sinks, unsigned nsinks)
{
    unsigned        i;
    uint64_t        now;
    char            name[16];
    const char     *crash;
    pipeline_t     *p;
    pipe_sink_t    *s;

    p = calloc(1, sizeof(pipeline_t));
    if (p == NULL) {
        goto fail;
    }

    p->cfg = cfg;
    random_bytes(&p->rng, sizeof(p->rng));
    p->rng |= 1;                /* xorshift: a zero state stays zero */
    p->zone = zone;
    p->rr = rr;
    p->nrings = zone->geo.ring_count;
    p->zone_id = zone->geo.zone_id;
    p->nsinks = nsinks;
    pthread_mutex_init(&p->rp.mu, NULL);
    pthread_mutex_init(&p->rp.sink_mu, NULL);
    pthread_cond_init(&p->rp.cv, NULL);

    p->pos = calloc(p->nrings, sizeof(uint64_t));
    p->batch = calloc(PIPE_BATCH, sizeof(pipe_pending_t));
    p->key_limit = ps_key_limit_create(cfg->max_keys_per_hour);
    p->other_hash = ps_key_hash(PS_AGG_OTHER_HOST,
                                sizeof(PS_AGG_OTHER_HOST) - 1,
                                PS_AGG_OTHER_METHOD,
                                sizeof(PS_AGG_OTHER_METHOD) - 1,
                                PS_AGG_OTHER_PATH,
                                sizeof(PS_AGG_OTHER_PATH) - 1);
    p->sinks = calloc(nsinks ? nsinks : 1, sizeof(pipe_sink_t));
    if (p->pos == NULL || p->batch == NULL || p->sinks == NULL
        || p->key_limit == NULL)
    {
        goto fail;
    }

    for (i = 0; i < nsinks; i++) {
        s = &p->sinks[i];
        s->p = p;
        s->sink = sinks[i];
        sinks[i] = NULL;               /* owned by p from here */
        s->delta = ps_agg_table_create(cfg->max_keys_per_hour);
        s->job_delta = ps_agg_table_create(cfg->max_keys_per_hour);
        s->watermark = calloc(5 * (size_t) p->nrings, sizeof(uint64_t));

        if (s->delta == NULL || s->job_delta == NULL
            || s->watermark == NULL)
        {
            goto fail;
        }

        s->committed = s->watermark + p->nrings;
        s->job_start = s->committed + p->nrings;
        s->job_end = s->job_start + p->nrings;
        s->held = s->job_end + p->nrings;

        snprintf(name, sizeof(name), "ps-%.12s", s->sink->ops->name);
        s->flusher = ps_flusher_start(name);
        if (s->flusher == NULL) {
            goto fail;
        }

        p->ndurable += s->sink->durable != 0;
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

    /* WRITE-AHEAD LOG: for the one durable sink */
    if (cfg->spool_dir && cfg->spool_dir[0]) {
        if (p->ndurable != 1) {
            ps_log(PS_LOG_WARN, "event=spool_unused dir=\"%s\" "
                   "reason=\"the spool needs exactly one durable sink "
                   "(postgres)\"", cfg->spool_dir);
        } else {
            p->spool = ps_spool_open(cfg->spool_dir, cfg->spool_max_bytes,
                                     cfg->node_id, cfg->max_keys_per_hour);
            if (p->spool == NULL) {
                goto fail_spool;
            }
            p->rp.group = ps_agg_table_create(cfg->max_keys_per_hour);
            p->rp.applied = calloc(p->nrings, sizeof(uint64_t));
            if (p->rp.group == NULL || p->rp.applied == NULL) {
                goto fail;
            }
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

    /* a spool that cannot be opened is a startup error */
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

    replayer_stop(p);

    for (i = 0; p->sinks && i < p->nsinks; i++) {
        ps_flusher_stop(p->sinks[i].flusher);
        if (p->sinks[i].sink) {
            p->sinks[i].sink->ops->destroy(p->sinks[i].sink);
        }
        ps_agg_table_destroy(p->sinks[i].delta);
        ps_agg_table_destroy(p->sinks[i].job_delta);
        free(p->sinks[i].watermark);
    }

    ps_spool_close(p->spool);
    ps_agg_table_destroy(p->rp.group);
    free(p->rp.applied);
    free(p->rp.wm);
    pthread_cond_destroy(&p->rp.cv);
    pthread_mutex_destroy(&p->rp.mu);
    pthread_mutex_destroy(&p->rp.sink_mu);
    free(p->sinks);
    ps_key_limit_destroy(p->key_limit);
    free(p->pos);
    free(p->batch);
    free(p);
}


void
ps_pipeline_set_observer(ps_pipeline_t *p, ps_rec_observer_fn fn, void *ctx)
{
    p->observer = fn;
    p->observer_ctx = ctx;
}


void
ps_pipeline_set_sync(ps_pipeline_t *p, int sync)
{
    p->sync = sync;
}


void
ps_pipeline_set_windows(ps_pipeline_t *p, ps_windows_t *w)
{
    p->win = w;
    ps_windows_set_limit(w, p->cfg->max_keys_per_hour);

    /* the keys seeded at the start go to the windows instead */
    if (p->started && p->keys_seeded) {
        seed_keys(p);
    }
}


/* Counts one decoded record (its key_hash and, with windows, key_hash2
 * set) into the windows, the sinks' deltas and the observer. */
static void
record_count(pipeline_t *p, const ps_rec_t *r)
{
    unsigned        i;
    ps_rec_t        rec = *r;
    pipe_sink_t    *s;
    ps_win_key_t   *k = NULL;
    uint64_t        pos = rec.pos;
    uint32_t        ring = rec.ring;

    /* one probe: the windows are the key table and the key limit */
    if (p->win != NULL) {
        k = ps_windows_admit(p->win, &rec);
    }

    if (p->win != NULL ? k == NULL
        : !ps_key_limit_admit(p->key_limit, rec.hour, rec.key_hash))
    {
        rec.host = PS_AGG_OTHER_HOST;
        rec.host_len = sizeof(PS_AGG_OTHER_HOST) - 1;
        rec.method = PS_AGG_OTHER_METHOD;
        rec.method_len = sizeof(PS_AGG_OTHER_METHOD) - 1;
        rec.path = PS_AGG_OTHER_PATH;
        rec.path_len = sizeof(PS_AGG_OTHER_PATH) - 1;
        rec.key_hash = p->other_hash;
        if (p->win != NULL) {
            k = ps_windows_other(p->win);
        }
    }

    p->records++;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];

        if (!s->ready || pos < s->watermark[ring]
            || (s->sink->ops->skip && s->sink->ops->skip(s->sink, &rec)))
        {
            continue;
        }

        if (ps_agg_add_rec(s->delta, &rec) != 0) {
            ps_log(PS_LOG_ERROR, "event=aggregate_failed sink=%s "
                   "error=\"out of memory\"", s->sink->ops->name);
        }

        /* the sink's own memory of what the delta cannot hold; only
         * this thread adds to it, and its flush takes it over */
        if (s->sink->ops->observe) {
            s->sink->ops->observe(s->sink, &rec);
        }

        s->pending++;
    }

    if (k != NULL && ps_windows_add_to(p->win, k, &rec) != 0) {
        ps_log(PS_LOG_WARN, "event=windows_add_failed reason=no_memory");
    }

    if (p->observer) {
        p->observer(p->observer_ctx, &rec);
    }
}


/* Counts the batch: the windows' hints a step at a time, then each
 * record in order. */
static void
batch_count(pipeline_t *p)
{
    unsigned         i, j, n = p->nbatch;
    pipe_pending_t  *b = p->batch;

    if (p->win != NULL) {
        for (i = 0; i < n; i++) {
            b[i].k = ps_windows_peek(p->win, &b[i].rec);
        }
        for (i = 0; i < n; i++) {
            if (b[i].k != NULL) {
                ps_windows_prefetch_buckets(b[i].k);
            }
        }
        for (i = 0; i < n; i++) {
            if (b[i].k != NULL) {
                ps_windows_prefetch_heap(b[i].k, &b[i].rec);
            }
        }
    }

    /* the sinks' deltas likewise: the entries the slots name, then what
     * the entries point to */
    for (j = 0; j < p->nsinks; j++) {
        if (p->sinks[j].ready) {
            for (i = 0; i < n; i++) {
                ps_agg_prefetch_entry(p->sinks[j].delta, &b[i].rec);
            }
        }
    }
    for (j = 0; j < p->nsinks; j++) {
        if (p->sinks[j].ready) {
            for (i = 0; i < n; i++) {
                ps_agg_prefetch_heap(p->sinks[j].delta, &b[i].rec);
            }
        }
    }

    for (i = 0; i < n; i++) {
        record_count(p, &b[i].rec);
    }

    p->nbatch = 0;
}


static void
pipeline_record(void *ctx, uint32_t ring, uint64_t pos,
    const ps_record_t *raw)
{
    unsigned         i;
    pipeline_t      *p = ctx;
    pipe_pending_t  *b = &p->batch[p->nbatch];
    ps_rec_t        *rec = &b->rec;

    ps_rec_decode(rec, &b->scratch, ring, pos, raw, p->cfg->client_address,
                  p->key);

    if (p->win != NULL) {
        rec->key_hash = ps_key_hash_both(rec->host, rec->host_len,
                                         rec->method, rec->method_len,
                                         rec->path, rec->path_len,
                                         &rec->key_hash2);
        ps_windows_prefetch_slot(p->win, rec);

    } else {
        rec->key_hash = ps_key_hash(rec->host, rec->host_len, rec->method,
                                    rec->method_len, rec->path,
                                    rec->path_len);
    }

    for (i = 0; i < p->nsinks; i++) {
        if (p->sinks[i].ready) {
            ps_agg_prefetch_slot(p->sinks[i].delta, rec);
        }
    }

    if (++p->nbatch == PIPE_BATCH) {
        batch_count(p);
    }
}


size_t
ps_pipeline_poll(ps_pipeline_t *p, size_t max)
{
    size_t  n;

    if (!p->started) {
        return 0;
    }

    n = ps_ring_reader_poll(p->rr, max, pipeline_record, p);

    if (p->nbatch > 0) {
        batch_count(p);
    }

    /* nothing holds the rings: the slots are free at once */
    if (p->ndurable == 0 && n > 0 && !any_holds(p)) {
        ps_ring_reader_release_all(p->rr);
    }

    return n;
}


/* WRITE-AHEAD LOG: the flusher's job for the spooled sink: the delta as
 * a segment.  One that does not fit goes straight to the sink when the
 * log is empty (a flush larger than spool_max; nothing to keep in
 * order), waits for the replayer to make room when the sink is up (2:
 * given back, tried again), and is lost and counted when the sink is
 * down (1), as are flushes that find the log full during an outage. */
static int
log_write(pipeline_t *p, pipe_sink_t *s)
{
    int          rc, up;
    replayer_t  *rp = &p->rp;

    rc = ps_spool_write(p->spool, p->zone_id, s->job_delta, s->job_start,
                        s->job_end, p->nrings, s->job_records, 0);
    if (rc != 2) {
        return rc;
    }

    pthread_mutex_lock(&rp->sink_mu);

    if (ps_spool_pending(p->spool) == 0) {
        rc = s->sink->ops->flush(s->sink, p->zone_id, s->job_delta,
                                 s->job_end, p->nrings);
        pthread_mutex_lock(&rp->mu);
        if (rc == 0) {
            memcpy(rp->applied, s->job_end, p->nrings * sizeof(uint64_t));
            rp->applied_known = 1;
            rp->up = 1;
            rp->flushes++;
            rp->last_flush_us = ps_now_us();
            rp->last_attempt_mono = ps_mono_us();
        } else {
            rp->up = 0;
            rp->failures++;
        }
        pthread_mutex_unlock(&rp->mu);

    } else {
        pthread_mutex_lock(&rp->mu);
        up = rp->up;
        pthread_mutex_unlock(&rp->mu);
        rc = up ? 2 : -1;
    }

    pthread_mutex_unlock(&rp->sink_mu);

    if (rc == 0) {
        return 0;
    }
    if (rc == 2) {
        return 2;
    }

    ps_spool_drop(p->spool, s->job_records);

    return 1;
}


/* The flusher's job for a sink: its flush, or the write-ahead log's
 * segment for the spooled sink. */
static int
job_run(void *ctx)
{
    int           rc;
    uint64_t      t0, c0;
    pipe_sink_t  *s = ctx;
    pipeline_t   *p = s->p;

    if (s == p->spooled) {
        return log_write(p, s);
    }

    t0 = ps_mono_us();
    c0 = ps_thread_cpu_us();
    rc = s->sink->ops->flush(s->sink, p->zone_id, s->job_delta, s->job_end,
                             p->nrings);
    s->job_cpu = ps_thread_cpu_us() - c0;
    s->job_took = ps_mono_us() - t0;

    if (rc == 0 && p->crash_after_commit && s->sink->durable
        && s->job_records)
    {
        ps_log(PS_LOG_WARN, "event=test_crash_after_commit");
        _exit(1);
    }

    return rc;
}


/* Under a load the machine cannot carry (many keys a flush, a store
 * shared by many nodes) the flushes space out and carry more records
 * each instead of queueing up; the records wait in the rings, and a ring
 * half full of read records still flushes at once
 * (PS_PIPELINE_FLUSH_EARLY).  The pause is drawn between two and four
 * times the flush (three on average): nodes whose flushes were slow
 * together, queued behind each other at a shared store, would otherwise
 * pause alike and come back together (measured with bench/fleet-scale.pl
 * --driver: the slow flushes of the nodes ended within a few ms of each
 * other, the fast ones were those that ran alone). */
uint64_t
ps_pipeline_flush_pause(const ps_config_t *cfg, uint64_t took, uint32_t rnd)
{
    uint64_t  interval, pause;

    interval = cfg->flush_interval_ms * 1000;

    if (took > FLUSH_PAUSE_MAX_US / 2) {
        took = FLUSH_PAUSE_MAX_US / 2;
    }

    pause = 2 * took + ((2 * took * (uint64_t) rnd) >> 32);
    if (pause > FLUSH_PAUSE_MAX_US) {
        pause = FLUSH_PAUSE_MAX_US;
    }

    return interval > pause ? interval : pause;
}


/* The next of p's random numbers (xorshift64*): enough to spread pauses. */
static uint32_t
next_rand(pipeline_t *p)
{
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;

    return (uint32_t) ((p->rng * 2685821657736338717ULL) >> 32);
}


/* Takes the result of a sink's job back, if it is done: its positions
 * committed (or, failed, its delta back into the current one). */
static void
job_collect(pipeline_t *p, pipe_sink_t *s, uint64_t now)
{
    int       rc;
    size_t    i, n;

    if (!s->busy || ps_flusher_done(s->flusher, &rc) != 1) {
        return;
    }

    s->busy = 0;

    if (s == p->spooled) {
        if (rc < 0 || rc == 2) {
            /* an I/O error, or waiting for room: kept in memory,
             * written again later */
            goto failed;
        }

        /* 1: the spool is full, the flush is lost, counted and logged */
        memcpy(s->committed, s->job_end, p->nrings * sizeof(uint64_t));
        ps_agg_table_clear(s->job_delta);
        s->last_flush_mono = now;
        s->backoff_ms = 0;
        s->next_due = now + p->cfg->flush_interval_ms * 1000;
        if (rc == 0) {
            replay_kick(p);
        }
        return;
    }

    snprintf(s->error, sizeof(s->error), "%s", s->sink->last_error);

    if (rc != 0) {
        if (s->up) {
            ps_log(PS_LOG_WARN, "event=sink_down sink=%s keys=%zu",
                   s->sink->ops->name, ps_agg_count(s->job_delta));
        }
        s->up = 0;
        s->failures++;
        goto failed;
    }

    if (!s->up) {
        ps_log(PS_LOG_INFO, "event=sink_recovered sink=%s failures=%llu",
               s->sink->ops->name, (unsigned long long) s->failures);
    }

    /* duration: from the hand-over until this thread saw it done (a
     * busy loop sees it late); flush: the sink's flush() alone; cpu:
     * the CPU time that flush() took in this process (not the server's) */
    ps_log(PS_LOG_DEBUG, "event=flush sink=%s keys=%zu records=%llu "
           "duration_ms=%.1f flush_ms=%.1f cpu_ms=%.1f", s->sink->ops->name,
           ps_agg_count(s->job_delta),
           (unsigned long long) s->job_records,
           (double) (now - s->job_started) / 1000.0,
           (double) s->job_took / 1000.0, (double) s->job_cpu / 1000.0);

    memcpy(s->committed, s->job_end, p->nrings * sizeof(uint64_t));
    ps_agg_table_clear(s->job_delta);
    s->up = 1;
    s->backoff_ms = 0;
    s->flushes++;
    s->last_flush_us = ps_now_us();
    s->last_flush_mono = now;
    s->error[0] = '\0';
    s->next_due = now + ps_pipeline_flush_pause(p->cfg, s->job_took,
                                                 next_rand(p));

    if (s->sink->ops->held != NULL) {
        s->holding = s->sink->ops->held(s->sink, s->held, p->nrings) == 0;
    }

    return;

failed:

    /* the job's records go back to the current delta, the older ones
     * first, and go with the next attempt */
    n = ps_agg_count(s->delta);
    for (i = 0; i < n; i++) {
        if (ps_agg_merge_entry(s->job_delta, ps_agg_entry_at(s->delta, i))
            != 0)
        {
            ps_log(PS_LOG_ERROR, "event=aggregate_failed sink=%s "
                   "error=\"out of memory\"", s->sink->ops->name);
        }
    }
    {
        ps_agg_table_t  *t = s->delta;

        s->delta = s->job_delta;
        s->job_delta = t;
    }
    ps_agg_table_clear(s->job_delta);
    s->pending += s->job_records;

    s->backoff_ms = backoff(s->backoff_ms, BACKOFF_MAX_MS);
    s->next_due = now + s->backoff_ms * 1000;
    ps_log(PS_LOG_DEBUG, "event=flush_failed sink=%s retry_in_ms=%llu",
           s->sink->ops->name, (unsigned long long) s->backoff_ms);
}


/* Hands a sink's delta over to its flusher if it is due and free. */
static void
job_submit(pipeline_t *p, pipe_sink_t *s, uint64_t now, int force)
{
    int              changed;
    uint32_t         r;
    uint64_t         read;
    ps_agg_table_t  *t;

    if (s->busy || !s->ready) {
        return;
    }

    /* an early flush (rings filling up) skips the interval, not the
     * backoff of a failing sink */
    if (now < s->next_due
        && (!force || (force == PS_PIPELINE_FLUSH_EARLY && s->backoff_ms)))
    {
        return;
    }

    changed = ps_agg_count(s->delta) > 0 || s->pending > 0;

    for (r = 0; r < p->nrings; r++) {
        read = ps_ring_reader_position(p->rr, r);
        s->job_end[r] = read > s->committed[r] ? read : s->committed[r];
        changed |= s->job_end[r] != s->committed[r];
    }

    /* the log writes only what changed; the replayer beats the heart */
    if (!changed && (s == p->spooled
                     || now < s->last_flush_mono + HEARTBEAT_US))
    {
        s->next_due = now + p->cfg->flush_interval_ms * 1000;
        return;
    }

    memcpy(s->job_start, s->committed, p->nrings * sizeof(uint64_t));
    t = s->job_delta;
    s->job_delta = s->delta;
    s->delta = t;

    /* what observe() gathered goes with this flush */
    if (s->sink->ops->handover) {
        s->sink->ops->handover(s->sink);
    }
    s->job_records = s->pending;
    s->pending = 0;
    s->job_started = now;
    s->next_due = now + p->cfg->flush_interval_ms * 1000;

    if (ps_flusher_submit(s->flusher, job_run, s) != 0) {
        /* cannot happen: the flusher is free when s is not busy */
        t = s->job_delta;
        s->job_delta = s->delta;
        s->delta = t;
        s->pending += s->job_records;
        return;
    }

    s->busy = 1;

    if (p->sync) {
        ps_flusher_wait(s->flusher);
    }
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
        job_collect(p, s, now_mono_us);
        job_submit(p, s, now_mono_us, force);
        if (p->sync) {
            job_collect(p, s, now_mono_us);
        }
    }

    /* with sync (tests) the log is replayed here, as far as it goes */
    if (p->spooled && p->sync) {
        while (replay_once(p) == 0) {
            /* void */
        }
    } else if (p->spooled && !p->rp.running) {
        (void) replayer_start(p);
    }

    if (!any_holds(p)) {
        ps_ring_reader_release_all(p->rr);
        return;
    }

    if (!p->keys_seeded && !p->spooled && p->ndurable) {
        seed_keys(p);
    }

    for (r = 0; r < p->nrings; r++) {
        min = UINT64_MAX;

        for (i = 0; i < p->nsinks; i++) {
            s = &p->sinks[i];
            if (s->sink->durable && s->committed[r] < min) {
                min = s->committed[r];
            } else if (!s->sink->durable && sink_holds(s)
                       && s->held[r] < min)
            {
                min = s->held[r];
            }
        }

        read = ps_ring_reader_position(p->rr, r);
        ps_ring_reader_release(p->rr, r, min < read ? min : read);
    }
}


void
ps_pipeline_finish(ps_pipeline_t *p, uint64_t timeout_us)
{
    unsigned      i;
    uint64_t      deadline, now;
    pipe_sink_t  *s;

    deadline = ps_mono_us() + timeout_us;

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];
        if (s->busy) {
            ps_flusher_wait(s->flusher);
        }
    }

    /* the last flush of each sink, waited for */
    now = ps_mono_us();
    ps_pipeline_flush(p, now, 1);

    for (i = 0; i < p->nsinks; i++) {
        s = &p->sinks[i];
        if (s->busy) {
            ps_flusher_wait(s->flusher);
        }
    }

    ps_pipeline_flush(p, ps_mono_us(), 0);

    /* WRITE-AHEAD LOG: what the replayer can apply in time; the rest is
     * applied at the next start */
    while (p->spooled && ps_spool_pending(p->spool) > 0
           && ps_mono_us() < deadline)
    {
        replay_kick(p);
        ps_sleep_ms(20);
        if (!p->rp.running || p->rp.backoff_ms >= REPLAY_RETRY_MAX_MS) {
            break;
        }
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
    size_t              n;
    uint32_t            r;
    uint64_t            read, from;
    const pipe_sink_t  *s = &p->sinks[i];
    replayer_t         *rp = (replayer_t *) &p->rp;

    memset(st, 0, sizeof(*st));

    st->name = s->sink->ops->name;
    st->up = s->ready && s->up;
    st->durable = s->sink->durable;
    st->flushes = s->flushes;
    st->failures = s->failures;
    st->last_flush_us = s->last_flush_us;
    st->pending_keys = ps_agg_count(s->delta)
                       + (s->busy ? ps_agg_count(s->job_delta) : 0);

    if (s == p->spooled) {
        pthread_mutex_lock(&rp->mu);
        st->up = rp->up;
        st->flushes = rp->flushes;
        st->failures = rp->failures;
        st->last_flush_us = rp->last_flush_us;
        for (r = 0; r < p->nrings; r++) {
            read = ps_ring_reader_position(p->rr, r);
            from = rp->applied_known ? rp->applied[r] : s->committed[r];
            st->lag_records += ps_ring_reader_records(p->rr, r, from, read);
        }
        if (!st->up) {
            snprintf(st->last_error, sizeof(st->last_error), "%s",
                     rp->error[0] ? rp->error : "unreachable");
        }
        pthread_mutex_unlock(&rp->mu);

    } else {
        for (r = 0; r < p->nrings; r++) {
            read = ps_ring_reader_position(p->rr, r);
            st->lag_records += ps_ring_reader_records(p->rr, r,
                                                      s->committed[r], read);
        }

        if (!st->up) {
            snprintf(st->last_error, sizeof(st->last_error), "%s",
                     s->error[0] ? s->error
                     : (s->ready ? "flush failed" : "unreachable"));
        }
    }

    /* WRITE-AHEAD LOG */
    if (s == p->spooled) {
        ps_spool_stats_t  ss;

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
