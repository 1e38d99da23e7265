/*
 * The aggregator's threads: the main thread drains the rings and the
 * flushers write the sinks (what decides whether records are dropped and
 * how soon they are durable); the others read back from PostgreSQL for
 * views (the fleet's, the day windows, trends) or run the lifecycle, and
 * can wait.  Those mark themselves background: a name for top -H and
 * ps -L, and a nice value PS_THREAD_BACKGROUND_NICE above the process's,
 * so that on a busy box the scheduler gives the drain and the flushes
 * the CPU first (with very many keys a view's read-back costs a core for
 * a second).
 */

#ifndef PS_THREAD_H
#define PS_THREAD_H

#define PS_THREAD_BACKGROUND_NICE  10

/* Names the calling thread (at most 15 characters) and lowers its
 * priority; failures are ignored (the thread runs as it was). */
void ps_thread_background(const char *name);

#endif /* PS_THREAD_H */
