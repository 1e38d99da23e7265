/*
 * Per-path trends: the trend arrays of /api/trends (trends.h) for each
 * of a set of paths, the most requested of the 24h window (at most
 * trend_paths of them), so that /api/trends?host=&method=&path= and the
 * dashboard's drill-down need no query at request time.
 *
 * The snapshot side names the paths it wants as a packed list of keys
 * (ps_trend_keys_add); the trends thread applies that list, loads the
 * 30 days of a path that is new to the set from pathstats_hourly once,
 * refreshes the last two hours of every path at each full refresh, and
 * renders each path's three ranges into a packed list again
 * (ps_trend_paths_next reads it).  Only the non-empty hours of a path
 * are kept.  Not thread-safe: the trends thread owns it.
 */

#ifndef PS_TREND_PATHS_H
#define PS_TREND_PATHS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "lib/strbuf.h"

#define PS_TREND_RANGES  3          /* PS_SNAP_RANGE_*: 24h, 7d, 30d */

typedef struct ps_trend_paths_s  ps_trend_paths_t;

/* A path key; the strings are not NUL-terminated. */
typedef struct {
    const char  *host;
    const char  *method;
    const char  *path;
    uint32_t     hlen, mlen, plen;
} ps_trend_key_t;

/* One path's rendered ranges, pointing into a packed list. */
typedef struct {
    ps_trend_key_t   key;
    const char      *json[PS_TREND_RANGES];
    uint32_t         jlen[PS_TREND_RANGES];
} ps_trend_path_json_t;

/* Appends key to a packed list of keys; 0 or -1. */
int ps_trend_keys_add(ps_buf_t *b, const ps_trend_key_t *key);

/* Reads the key at *pos of a packed list of keys and moves *pos past
 * it: 1, 0 at the end, -1 if the list is malformed. */
int ps_trend_keys_next(const ps_buf_t *b, size_t *pos, ps_trend_key_t *key);

/* Reads the path at *pos of a packed render output (a key, then one
 * JSON array a range): 1, 0 at the end, -1 if malformed. */
int ps_trend_paths_next(const ps_buf_t *b, size_t *pos,
    ps_trend_path_json_t *out);

/* An empty set; NULL when memory ran out. */
ps_trend_paths_t *ps_trend_paths_create(void);

/* NULL is allowed. */
void ps_trend_paths_destroy(ps_trend_paths_t *p);

/* Makes the packed list keys the set, in its order: paths that stay
 * keep their hours, new ones are loaded by the next refresh.  0 or -1
 * (the set is then unchanged). */
int ps_trend_paths_apply(ps_trend_paths_t *p, const ps_buf_t *keys);

/* 1 if a path of the set has not been loaded yet. */
int ps_trend_paths_pending(const ps_trend_paths_t *p);

/* Forgets hours before first_hour, loads the paths not loaded yet from
 * first_hour on and, when recent_from is not 0, reloads the hours from
 * recent_from on of the others.  0, or -1 (logged; what was loaded
 * stays). */
int ps_trend_paths_refresh(ps_trend_paths_t *p, PGconn *conn,
    int64_t first_hour, int64_t recent_from);

/* Renders every path of the set for the hours first_hour .. first_hour
 * + 3600 * (nhours - 1) into out (reset first), as packed JSON arrays
 * of ps_trends_render(); 0 or -1. */
int ps_trend_paths_render(ps_trend_paths_t *p, int64_t first_hour,
    size_t nhours, ps_buf_t *out);

#endif /* PS_TREND_PATHS_H */
