/*
 * Clocks: see clock.h.
 */

#include <time.h>

#include "lib/clock.h"


static uint64_t
timespec_us(clockid_t clock)
{
    struct timespec  ts;

    (void) clock_gettime(clock, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


uint64_t
ps_now_us(void)
{
    return timespec_us(CLOCK_REALTIME);
}


uint64_t
ps_mono_us(void)
{
    return timespec_us(CLOCK_MONOTONIC);
}


uint64_t
ps_thread_cpu_us(void)
{
    return timespec_us(CLOCK_THREAD_CPUTIME_ID);
}


void
ps_clock_after(clockid_t clock, uint64_t us, struct timespec *ts)
{
    (void) clock_gettime(clock, ts);

    ts->tv_sec += (time_t) (us / 1000000);
    ts->tv_nsec += (long) (us % 1000000) * 1000;

    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}


void
ps_sleep_ms(unsigned ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000;

    (void) nanosleep(&ts, NULL);
}
