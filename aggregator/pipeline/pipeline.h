/*
 * Pipeline: between the ring reader and the sinks.  Decodes each record
 * once (rec.h), feeds every sink's delta table the records at or after
 * that sink's watermark, flushes the sinks on the flush interval with
 * retry and backoff, each in a thread of its own (flusher.h), and says
 * how far the rings may be released: to what every durable sink has
 * committed, or written to its write-ahead log (the spool), or
 * everything read, when no sink is durable.  An observer (the snapshot
 * windows) sees every record too.  The pipeline's functions are called
 * from one thread.
 */

#ifndef PS_PIPELINE_H
#define PS_PIPELINE_H

#include <stdint.h>

#include "agg/windows.h"
#include "config/config.h"
#include "pipeline/sink.h"
#include "ring/rec.h"
#include "ring/ring_reader.h"
#include "ring/zone.h"

typedef struct ps_pipeline_s  ps_pipeline_t;

/* Called with every decoded record (after the sinks got it). */
typedef void (*ps_rec_observer_fn)(void *ctx, const ps_rec_t *rec);

/* Creates the pipeline over sinks[0..n) (none: embedded mode; the
 * configured ones come from store/store.h) and loads their watermarks,
 * skipping the reader past what every durable sink holds.  Takes
 * ownership of the sinks even on failure.  NULL on a startup error
 * (logged). */
ps_pipeline_t *ps_pipeline_create(const ps_config_t *cfg, ps_zone_t *zone,
    ps_ring_reader_t *rr, ps_sink_t **sinks, unsigned n);

/* Frees the pipeline and its sinks (no flush). */
void ps_pipeline_destroy(ps_pipeline_t *p);

/* Makes w (agg/windows.h) the pipeline's key table: every record's key
 * is admitted under max_keys_per_hour and counted into w, with one
 * probe (in place of the key limit of its own and an observer). */
void ps_pipeline_set_windows(ps_pipeline_t *p, ps_windows_t *w);

/* Sets the observer; fn may be NULL. */
void ps_pipeline_set_observer(ps_pipeline_t *p, ps_rec_observer_fn fn,
    void *ctx);

/* Tests: with sync, every flush (and the write-ahead log's replay) runs
 * to its end within ps_pipeline_flush(), in its threads but waited for,
 * so that its outcome is known when the call returns. */
void ps_pipeline_set_sync(ps_pipeline_t *p, int sync);

/* Polls up to max records from the reader through the pipeline;
 * returns how many.  Without a durable sink the records are released
 * as soon as they are read. */
size_t ps_pipeline_poll(ps_pipeline_t *p, size_t max);

/* force for ps_pipeline_flush(): a ring is more than half full of read,
 * unreleased records; flush now, except a sink in failure backoff. */
#define PS_PIPELINE_FLUSH_EARLY  2

/* Takes back the flushes that are done, hands the sinks that are due
 * (or all when force) a flush, and releases the rings as far as the
 * durable sinks allow.  Never waits for a sink (unless sync). */
void ps_pipeline_flush(ps_pipeline_t *p, uint64_t now_mono_us, int force);

/* The pause before a sink's next flush after one whose sink took took_us
 * (in its flusher thread): flush_interval, or when that is shorter
 * between two and four times the flush (rnd, uniform over 32 bits,
 * chooses; at most 10 s), so that a sink spends about a quarter of its
 * time flushing and nodes slowed down together do not pause alike. */
uint64_t ps_pipeline_flush_pause(const ps_config_t *cfg, uint64_t took_us,
    uint32_t rnd);

/* The last flush before stopping: waits for the flushes under way, runs
 * one more of every sink and waits for it, releases the rings, and gives
 * the write-ahead log's replayer up to timeout_us to apply what waits
 * (what it cannot is applied at the next start). */
void ps_pipeline_finish(ps_pipeline_t *p, uint64_t timeout_us);

/* Number of sinks, and the status of sink i. */
unsigned ps_pipeline_sink_count(const ps_pipeline_t *p);
void ps_pipeline_sink_status(const ps_pipeline_t *p, unsigned i,
    ps_sink_status_t *st);

/* Records read since start, and records released to the rings. */
uint64_t ps_pipeline_records(const ps_pipeline_t *p);

#endif /* PS_PIPELINE_H */
