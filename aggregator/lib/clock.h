/*
 * Clocks: wall time for timestamps (records, logs, the zone header) and a
 * monotonic clock for intervals, which must not jump when the wall clock
 * is set.
 */

#ifndef PS_CLOCK_H
#define PS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock time, microseconds since the Unix epoch (UTC). */
uint64_t ps_now_us(void);

/* Monotonic time in microseconds, for deadlines and intervals only. */
uint64_t ps_mono_us(void);

/* CPU time of the calling thread in microseconds (user and system). */
uint64_t ps_thread_cpu_us(void);

/* Into ts: the time us microseconds from now on clock, a deadline as
 * pthread_cond_timedwait() takes it. */
void ps_clock_after(clockid_t clock, uint64_t us, struct timespec *ts);

/* Sleeps ms milliseconds; returns early (without error) on a signal. */
void ps_sleep_ms(unsigned ms);

#endif /* PS_CLOCK_H */
