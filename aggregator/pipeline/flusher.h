/*
 * Flusher: a thread of its own that runs one job at a time for the
 * pipeline (a sink's flush, a spool write), so that the thread draining
 * the rings never waits for a database round trip or an fsync.  The
 * pipeline hands a job over and asks later whether it is done; what a
 * job reads and writes belongs to the job until then.
 */

#ifndef PS_FLUSHER_H
#define PS_FLUSHER_H

typedef struct ps_flusher_s  ps_flusher_t;

/* A job: runs in the flusher's thread; its return value is the job's
 * result. */
typedef int (*ps_flusher_fn)(void *ctx);

/* Starts a flusher thread named name (at most 15 characters, for top
 * and /proc); NULL on failure (logged). */
ps_flusher_t *ps_flusher_start(const char *name);

/* Waits for the job in hand, if any, stops the thread and frees f; NULL
 * is allowed. */
void ps_flusher_stop(ps_flusher_t *f);

/* Hands fn(ctx) over; 0, or -1 when a job is in hand already. */
int ps_flusher_submit(ps_flusher_t *f, ps_flusher_fn fn, void *ctx);

/* 1 when the job handed over is done (its result in *rc; the flusher is
 * free again), 0 while it runs, -1 when no job is in hand. */
int ps_flusher_done(ps_flusher_t *f, int *rc);

/* Waits until the job in hand, if any, is done (ps_flusher_done() then
 * collects it). */
void ps_flusher_wait(ps_flusher_t *f);

/* 1 while a job is in hand (running or done, not yet collected). */
int ps_flusher_busy(ps_flusher_t *f);

#endif /* PS_FLUSHER_H */
