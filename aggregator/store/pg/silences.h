/*
 * Silences in PostgreSQL (table pathstats_silences, schema/003): where
 * --silence stores one, so that every node of the fleet honours it.
 *
 * The daemon reads the silences in force every PS_PG_SILENCES_POLL_MS in
 * a thread of its own (a slow or dead PostgreSQL never holds up the
 * rings) and takes the latest list with ps_pg_silences_take(); while
 * PostgreSQL cannot be read it keeps the last list it read.
 */

#ifndef PS_PG_SILENCES_H
#define PS_PG_SILENCES_H

#include <stddef.h>
#include <stdint.h>

#include "agg/silence.h"

#define PS_PG_SILENCES_POLL_MS  2000

typedef struct ps_pg_silences_s  ps_pg_silences_t;

/* Starts reading from conninfo; NULL on failure (logged). */
ps_pg_silences_t *ps_pg_silences_start(const char *conninfo);

/* Stops the thread and frees; NULL is allowed. */
void ps_pg_silences_stop(ps_pg_silences_t *s);

/* Copies the latest list into dst if it changed since the last take:
 * 1, 0 when it did not, -1 if memory ran out (dst then empty). */
int ps_pg_silences_take(ps_pg_silences_t *s, ps_silences_t *dst);

/* Stores a silence of scope (checked by ps_silence_scope_check()) from
 * now for ms, by created_by; with ms 0 ends the silences of scope that
 * are in force instead.  *id and *ends_us get the silence's (or the
 * number of silences ended, and now).  0, or -1 with the reason in err
 * (libpq's message never holds a password). */
int ps_pg_silence_store(const char *conninfo, const char *scope,
    uint64_t ms, const char *created_by, int64_t *id, uint64_t *ends_us,
    char *err, size_t errlen);

#endif /* PS_PG_SILENCES_H */
