/*
 * Pipeline: between the ring reader and the sinks.  Decodes each record
 * once (rec.h), feeds every sink's delta table the records at or after
 * that sink's watermark, flushes the sinks on the flush interval with
 * retry and backoff, and says how far the rings may be released: to what
 * every durable sink has committed (or everything read, when no sink is
 * durable).  An observer (the snapshot windows) sees every record too.
 */

#ifndef PS_PIPELINE_H
#define PS_PIPELINE_H

#include <stdint.h>

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

/* Sets the observer; fn may be NULL. */
void ps_pipeline_set_observer(ps_pipeline_t *p, ps_rec_observer_fn fn,
    void *ctx);

/* Polls up to max records from the reader through the pipeline;
 * returns how many. */
size_t ps_pipeline_poll(ps_pipeline_t *p, size_t max);

/* force for ps_pipeline_flush(): a ring is more than half full of read,
 * unreleased records; flush now, except a sink in failure backoff. */
#define PS_PIPELINE_FLUSH_EARLY  2

/* Flushes every sink that is due (or all when force) and releases the
 * rings as far as the durable sinks allow. */
void ps_pipeline_flush(ps_pipeline_t *p, uint64_t now_mono_us, int force);

/* Number of sinks, and the status of sink i. */
unsigned ps_pipeline_sink_count(const ps_pipeline_t *p);
void ps_pipeline_sink_status(const ps_pipeline_t *p, unsigned i,
    ps_sink_status_t *st);

/* Records read since start, and records released to the rings. */
uint64_t ps_pipeline_records(const ps_pipeline_t *p);

#endif /* PS_PIPELINE_H */
