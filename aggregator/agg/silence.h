/*
 * Silences: scopes whose alerts notify nobody until a time, set with
 * `pathstats-aggregator -c FILE --silence SCOPE --for DURATION` and
 * stored where every node reads them (store/pg/silences.c).  This file is
 * the pure part: what a scope may be, what it covers, and a list of
 * silences as a node holds it.
 *
 * A scope is one of
 *
 *   all          every alert
 *   overall      the alerts on the whole traffic
 *   /a/path      the per-path alerts of that path (any host and method)
 *   /a/prefix*   the per-path alerts of every path starting with /a/prefix
 *
 * at most PS_SILENCE_SCOPE_MAX bytes, printable ASCII without blanks.
 */

#ifndef PS_SILENCE_H
#define PS_SILENCE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"

#define PS_SILENCE_SCOPE_MAX  512
#define PS_SILENCES_MAX       1000     /* held by a node */

typedef struct {
    int64_t    id;
    char      *scope;
    char      *created_by;       /* node id or user; may be NULL */
    uint64_t   starts_us;
    uint64_t   ends_us;
} ps_silence_t;

typedef struct {
    ps_silence_t  *s;
    size_t         n;
    size_t         cap;
} ps_silences_t;

#define PS_SILENCES_INIT  { NULL, 0, 0 }

/* NULL when scope is valid, else the reason it is not. */
const char *ps_silence_scope_check(const char *scope);

/* 1 when scope covers an alert: the overall one, or a path's. */
int ps_silence_covers(const char *scope, int overall, const char *path,
    size_t plen);

/* 1 when a silence of l that has started and not ended at now_us covers
 * the alert. */
int ps_silences_match(const ps_silences_t *l, uint64_t now_us, int overall,
    const char *path, size_t plen);

/* Number of silences of l in force at now_us. */
size_t ps_silences_in_force(const ps_silences_t *l, uint64_t now_us);

/* Appends a silence (strings copied; created_by may be NULL); 0 or -1
 * (no memory, or PS_SILENCES_MAX reached). */
int ps_silences_add(ps_silences_t *l, int64_t id, const char *scope,
    const char *created_by, uint64_t starts_us, uint64_t ends_us);

/* dst becomes a copy of src; 0 or -1 (dst is then empty). */
int ps_silences_copy(ps_silences_t *dst, const ps_silences_t *src);

/* Empties l, keeping nothing. */
void ps_silences_free(ps_silences_t *l);

/* Appends the JSON array of the silences in force at now_us:
 * [{"id","scope","starts_at","ends_at","created_by"}]; 0 or -1. */
int ps_silences_json(const ps_silences_t *l, uint64_t now_us, ps_buf_t *b);

#endif /* PS_SILENCE_H */
