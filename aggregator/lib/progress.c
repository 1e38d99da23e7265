/*
 * A progress line on a terminal (progress.h).  The line goes to stderr
 * with a carriage return and "erase to the end of the line", so a
 * shorter line leaves nothing of the longer one before it.
 */

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/progress.h"

typedef struct {
    int          on;           /* a run began and stderr is a terminal */
    int          shown;        /* the line is on the screen */
    const char  *what;
    int64_t      done;
    int64_t      total;
    uint64_t     start_us;
    uint64_t     drawn_us;
} ps_progress_t;

static ps_progress_t  ps_progress;


char *
ps_progress_eta(char *buf, size_t size, int64_t seconds)
{
    if (seconds < 0) {
        seconds = 0;
    }

    if (seconds >= 3600) {
        (void) snprintf(buf, size, "%" PRId64 ":%02d:%02d", seconds / 3600,
                        (int) (seconds / 60 % 60), (int) (seconds % 60));
    } else {
        (void) snprintf(buf, size, "%d:%02d", (int) (seconds / 60),
                        (int) (seconds % 60));
    }

    return buf;
}


size_t
ps_progress_format(char *buf, size_t size, const char *what, int64_t done,
    int64_t total, uint64_t elapsed_us)
{
    int       n;
    int64_t   rate, left;
    char      eta[32];

    if (done < 0) {
        done = 0;
    }
    if (total >= 0 && done > total) {
        /* counted from lines before the exact count came: never past */
        done = total;
    }

    /* rows/s from the whole run: steadier than the last interval */
    rate = elapsed_us > 0
           ? (int64_t) ((double) done * 1e6 / (double) elapsed_us) : 0;

    if (total < 0) {
        n = snprintf(buf, size, "%s: %" PRId64 " rows, %" PRId64 " rows/s",
                     what, done, rate);
    } else {
        left = total - done;
        if (left == 0) {
            ps_progress_eta(eta, sizeof(eta), 0);
        } else if (rate == 0) {
            (void) snprintf(eta, sizeof(eta), "?");
        } else {
            /* rounded up: "0:00" only when nothing is left */
            ps_progress_eta(eta, sizeof(eta), (left + rate - 1) / rate);
        }
        n = snprintf(buf, size, "%s: %" PRId64 "/%" PRId64 " rows (%d%%), "
                     "%" PRId64 " rows/s, ETA %s", what, done, total,
                     total > 0 ? (int) (done * 100 / total) : 100, rate,
                     eta);
    }

    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }

    return (size_t) n < size ? (size_t) n : size - 1;
}


static void
ps_progress_draw(uint64_t now)
{
    char    line[PS_PROGRESS_LINE_MAX];
    size_t  len;

    len = ps_progress_format(line, sizeof(line), ps_progress.what,
                             ps_progress.done, ps_progress.total,
                             now - ps_progress.start_us);
    (void) fprintf(stderr, "\r%.*s\033[K", (int) len, line);
    (void) fflush(stderr);
    ps_progress.shown = 1;
    ps_progress.drawn_us = now;
}


void
ps_progress_begin(const char *what, int64_t total)
{
    ps_progress.on = isatty(STDERR_FILENO);
    ps_progress.shown = 0;
    ps_progress.what = what;
    ps_progress.done = 0;
    ps_progress.total = total;
    ps_progress.start_us = ps_mono_us();
    ps_progress.drawn_us = ps_progress.start_us;
}


void
ps_progress_total(int64_t total)
{
    ps_progress.total = total;
}


void
ps_progress_rows(int64_t n)
{
    uint64_t  now;

    if (!ps_progress.on) {
        return;
    }

    ps_progress.done += n;
    now = ps_mono_us();

    if (now - ps_progress.drawn_us >= PS_PROGRESS_EVERY_US) {
        ps_progress_draw(now);
    }
}


void
ps_progress_set(int64_t done)
{
    ps_progress.done = done;
    ps_progress_rows(0);
}


void
ps_progress_clear(void)
{
    if (ps_progress.on && ps_progress.shown) {
        (void) fputs("\r\033[K", stderr);
        (void) fflush(stderr);
        ps_progress.shown = 0;
    }
}


void
ps_progress_end(void)
{
    if (ps_progress.on) {
        ps_progress_draw(ps_mono_us());
        (void) fputc('\n', stderr);
        (void) fflush(stderr);
    }

    ps_progress.on = 0;
    ps_progress.shown = 0;
}
