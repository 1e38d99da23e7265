/*
 * Minimal TAP producer: see tap.h.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int  tap_planned = -1;
static int  tap_run;
static int  tap_failed;


void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}


static int
report(int cond, const char *fmt, va_list ap)
{
    tap_run++;

    printf("%sok %d - ", cond ? "" : "not ", tap_run);
    vprintf(fmt, ap);
    printf("\n");

    if (!cond) {
        tap_failed++;
    }

    fflush(stdout);

    return cond;
}


int
ok(int cond, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    cond = report(cond != 0, fmt, ap);
    va_end(ap);

    return cond;
}


int
is_int(long long got, long long want, const char *fmt, ...)
{
    int      cond;
    va_list  ap;

    va_start(ap, fmt);
    cond = report(got == want, fmt, ap);
    va_end(ap);

    if (!cond) {
        diag("       got: %lld", got);
        diag("  expected: %lld", want);
    }

    return cond;
}


int
is_u64(uint64_t got, uint64_t want, const char *fmt, ...)
{
    int      cond;
    va_list  ap;

    va_start(ap, fmt);
    cond = report(got == want, fmt, ap);
    va_end(ap);

    if (!cond) {
        diag("       got: %" PRIu64, got);
        diag("  expected: %" PRIu64, want);
    }

    return cond;
}


/* prints bytes with anything outside printable ASCII as \xHH */
static void
diag_bytes(const char *label, const void *p, size_t len)
{
    size_t               i;
    const unsigned char *s = p;

    printf("# %s", label);

    if (p == NULL) {
        printf("NULL\n");
        return;
    }

    putchar('\'');
    for (i = 0; i < len; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
            putchar(s[i]);
        } else {
            printf("\\x%02X", s[i]);
        }
    }
    printf("' (%zu bytes)\n", len);
}


static int
mem_report(const void *got, size_t glen, const void *want, size_t wlen,
    const char *fmt, va_list ap)
{
    int  cond;

    if (got == NULL || want == NULL) {
        cond = (got == want);
    } else {
        cond = (glen == wlen && memcmp(got, want, glen) == 0);
    }

    cond = report(cond, fmt, ap);

    if (!cond) {
        diag_bytes("       got: ", got, glen);
        diag_bytes("  expected: ", want, wlen);
    }

    return cond;
}


int
is_str(const char *got, const char *want, const char *fmt, ...)
{
    int      cond;
    va_list  ap;

    va_start(ap, fmt);
    cond = mem_report(got, got ? strlen(got) : 0, want,
                      want ? strlen(want) : 0, fmt, ap);
    va_end(ap);

    return cond;
}


int
is_mem(const void *got, size_t got_len, const void *want, size_t want_len,
    const char *fmt, ...)
{
    int      cond;
    va_list  ap;

    va_start(ap, fmt);
    cond = mem_report(got, got_len, want, want_len, fmt, ap);
    va_end(ap);

    return cond;
}


void
diag(const char *fmt, ...)
{
    va_list  ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}


void
bail_out(const char *fmt, ...)
{
    va_list  ap;

    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);

    exit(255);
}


int
done_testing(void)
{
    if (tap_planned < 0) {
        printf("1..%d\n", tap_run);
    } else if (tap_planned != tap_run) {
        diag("planned %d tests but ran %d", tap_planned, tap_run);
        tap_failed++;
    }

    if (tap_failed) {
        diag("failed %d of %d tests", tap_failed, tap_run);
    }

    fflush(stdout);

    return tap_failed ? 1 : 0;
}
