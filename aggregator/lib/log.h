/*
 * Logging: one line per event, key=value fields after a UTC timestamp and
 * the level, e.g.
 *
 *   2026-11-23T09:00:00.123Z level=info event=ring_reaped ring=3 lost=1
 *
 * The format string carries "event=NAME" and the fields; a value that may
 * hold spaces is written in double quotes (use ps_log_quote() for text
 * that is not ours).  ps_log() checks the level before any formatting, so
 * a disabled debug line costs one comparison.  Lines go to stderr until
 * ps_log_open() names a file; each is written with one write(2), so lines
 * of concurrent threads never interleave.  ps_log_set_json() turns each
 * line into one JSON object with the same fields (log_json.h).
 */

#ifndef PS_LOG_H
#define PS_LOG_H

#include <stddef.h>

typedef enum {
    PS_LOG_DEBUG = 0,
    PS_LOG_INFO,
    PS_LOG_WARN,
    PS_LOG_ERROR
} ps_log_level_t;

/* The lowest level written; read by ps_log(), set by ps_log_set_level(). */
extern ps_log_level_t  ps_log_min_level;

#define ps_log(level, ...)                                                   \
    do {                                                                     \
        if ((level) >= ps_log_min_level) {                                   \
            ps_log_write((level), __VA_ARGS__);                              \
        }                                                                    \
    } while (0)

/* Formats and writes one line unconditionally; use ps_log() instead. */
void ps_log_write(ps_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the lowest level that is written. */
void ps_log_set_level(ps_log_level_t level);

/* Writes lines as JSON objects (json != 0) or key=value text. */
void ps_log_set_json(int json);

/* Level of a name (debug, info, warn, error); -1 if unknown. */
int ps_log_level_parse(const char *name);

/* Name of a level ("info"). */
const char *ps_log_level_name(ps_log_level_t level);

/* Sends lines to path (appending; created 0640), or to stderr when path is
 * NULL, empty or "stderr".  0, or -1 (logged to the old target). */
int ps_log_open(const char *path);

/* Reopens the current file (after logrotate moved it: SIGHUP); 0 or -1. */
int ps_log_reopen(void);

/* Writes s into buf (size bytes) as a double-quoted value with '"', '\'
 * and control characters escaped, cut to fit; returns buf. */
const char *ps_log_quote(char *buf, size_t size, const char *s);

#endif /* PS_LOG_H */
