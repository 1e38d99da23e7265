/*
 * Minimal TAP producer for the C unit tests in t/unit, in the style of
 * Perl's Test::More.  Each test prints "ok N - name" or "not ok N - name"
 * with "#" diagnostics; main() ends with "return done_testing();", whose
 * value is the exit status (non-zero when a test failed or the plan was
 * not met).  t/unit.t runs every binary under prove.
 */

#ifndef PS_TAP_H
#define PS_TAP_H

#include <stddef.h>
#include <stdint.h>

/* Announces n tests up front (optional: done_testing() prints the plan
 * at the end otherwise). */
void plan(int n);

/* Passes when cond is true; returns cond. */
int ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Passes when got == want (signed); prints both otherwise. */
int is_int(long long got, long long want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Passes when got == want (unsigned 64-bit). */
int is_u64(uint64_t got, uint64_t want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Passes when both strings are equal (NULL equals only NULL); prints them
 * with non-printable bytes as \xHH otherwise. */
int is_str(const char *got, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Passes when the byte strings are equal. */
int is_mem(const void *got, size_t got_len, const void *want,
    size_t want_len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Prints a "# " diagnostic line (to stdout, so it stays in order). */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Stops the test run: prints "Bail out!" and exits 255. */
void bail_out(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Prints the plan if none was given; returns the exit status: 0 when
 * every test passed and the plan was met, else 1. */
int done_testing(void);

#endif /* PS_TAP_H */
