/*
 * The history lifecycle, one run: rollup of every closed day that needs
 * it, archive of every closed day whose rows are not yet in a verified
 * archive, then retention: hourly days older than hourly_retention and
 * daily days older than daily_retention dropped once their archives
 * verify (pg_archive.c).  Each step is one transaction on its own day,
 * so a run stopped at any point (kill -9 included) is resumed by the
 * next from the state the database and archive_dir hold: nothing lost,
 * nothing doubled.  Runs of a fleet take turns through an advisory lock
 * (pg_try_advisory_lock): a node that does not get it runs nothing.
 */

#ifndef PS_PG_LIFECYCLE_H
#define PS_PG_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config/config.h"

typedef struct {
    int       dry_run;          /* plan only: change nothing */
    int64_t   now_us;           /* the run's clock (tests may move it) */
    volatile int  *stop;        /* when set, the run ends after its step */

    /* each step's line ("rollup 2026-11-01 ...") when not NULL */
    void    (*say)(void *ctx, const char *line);
    void     *ctx;
} ps_lifecycle_opts_t;

typedef struct {
    int       locked;           /* 0: another node holds the lock */
    int64_t   days_rolled;
    int64_t   rows_rolled;      /* hourly rows read by rollups */
    int64_t   days_archived;
    int64_t   rows_archived;
    int64_t   days_dropped;
    int64_t   rows_dropped;
    int64_t   failures;         /* steps that failed (logged) */
    int64_t   duration_us;
} ps_lifecycle_result_t;

/* One run as described above; 0 when every step succeeded (or the lock
 * is another node's), -1 when one failed (each logged as
 * event=lifecycle_failed, the others still run). */
int ps_pg_lifecycle_run(PGconn *conn, const ps_config_t *cfg,
    const ps_lifecycle_opts_t *o, ps_lifecycle_result_t *r);

/* The advisory lock key of the lifecycle (also taken by archive,
 * restore and verify from the CLI). */
#define PS_LIFECYCLE_LOCK  "7065746873746175"

#endif /* PS_PG_LIFECYCLE_H */
