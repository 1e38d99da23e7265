/*
 * Unit tests for aggregator/lib/progress.c: the text of a progress line
 * (rows, rows/s, share and ETA), and nothing written when stderr is not
 * a terminal.
 */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "lib/progress.h"


int
main(void)
{
    char    buf[PS_PROGRESS_LINE_MAX], small[16];
    size_t  len;
    FILE   *f;

    /* unknown total: rows and rate over the whole run */
    len = ps_progress_format(buf, sizeof(buf), "archive", 1200, -1,
                             2000000);
    is_str(buf, "archive: 1200 rows, 600 rows/s", "unknown total");
    is_int((long long) len, (long long) strlen(buf), "  its length");

    /* known total: share, rate, ETA rounded up */
    ps_progress_format(buf, sizeof(buf), "restore", 1200, 2400, 2000000);
    is_str(buf, "restore: 1200/2400 rows (50%), 600 rows/s, ETA 0:02",
           "half done: 1200 left at 600/s is 2 s");
    ps_progress_format(buf, sizeof(buf), "restore", 1200, 2401, 2000000);
    is_str(buf, "restore: 1200/2401 rows (49%), 600 rows/s, ETA 0:03",
           "1201 left at 600/s: 3 s (rounded up)");
    ps_progress_format(buf, sizeof(buf), "restore", 2400, 2400, 4000000);
    is_str(buf, "restore: 2400/2400 rows (100%), 600 rows/s, ETA 0:00",
           "all done: ETA 0:00");
    ps_progress_format(buf, sizeof(buf), "restore", 2500, 2400, 4000000);
    is_str(buf, "restore: 2400/2400 rows (100%), 600 rows/s, ETA 0:00",
           "more counted than the total: shown as the total");
    ps_progress_format(buf, sizeof(buf), "restore", 0, 2400, 1000000);
    is_str(buf, "restore: 0/2400 rows (0%), 0 rows/s, ETA ?",
           "no rate yet: ETA unknown");
    ps_progress_format(buf, sizeof(buf), "verify", 0, 0, 0);
    is_str(buf, "verify: 0/0 rows (100%), 0 rows/s, ETA 0:00",
           "an empty total, no time elapsed");

    /* a large run: 2.4 M rows, 1 M done in 10 s, 14 s left */
    ps_progress_format(buf, sizeof(buf), "lifecycle", 1000000, 2400000,
                       10000000);
    is_str(buf, "lifecycle: 1000000/2400000 rows (41%), 100000 rows/s, "
           "ETA 0:14", "2.4 M rows at 100 000/s");
    /* slow: an hour and more */
    ps_progress_format(buf, sizeof(buf), "restore", 10, 100000, 10000000);
    is_str(buf, "restore: 10/100000 rows (0%), 1 rows/s, ETA 27:46:30",
           "99 990 s left: H:MM:SS");

    is_str(ps_progress_eta(small, sizeof(small), 59), "0:59", "eta 59 s");
    is_str(ps_progress_eta(small, sizeof(small), 3599), "59:59",
           "eta 3599 s");
    is_str(ps_progress_eta(small, sizeof(small), 3600), "1:00:00",
           "eta 3600 s");
    is_str(ps_progress_eta(small, sizeof(small), -5), "0:00",
           "a negative eta is 0:00");

    /* truncated to the buffer, terminated */
    len = ps_progress_format(small, sizeof(small), "restore", 1, 2, 1);
    is_int((long long) len, 15, "truncated to size - 1");
    is_str(small, "restore: 1/2 ro", "  and terminated");

    /* stderr a file, not a terminal: a whole run writes nothing */
    f = freopen("/dev/null", "w", stderr);
    ok(f != NULL, "stderr is /dev/null");
    f = tmpfile();
    if (f != NULL && dup2(fileno(f), STDERR_FILENO) >= 0) {
        ps_progress_begin("archive", 10);
        ps_progress_rows(5);
        ps_progress_set(10);
        ps_progress_clear();
        ps_progress_end();
        fflush(stderr);
        fseek(f, 0, SEEK_END);
        is_int(ftell(f), 0, "not a terminal: nothing written");
    } else {
        ok(0, "tmpfile");
    }

    return done_testing();
}
