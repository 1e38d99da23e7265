/*
 * What the daemon's lifecycle scheduler reports to the snapshot (the
 * summary's lifecycle and consistency, the metrics, /health): a plain
 * struct, no libpq type, copied out under the scheduler's lock.
 */

#ifndef PS_LIFECYCLE_STATUS_H
#define PS_LIFECYCLE_STATUS_H

#include <stdint.h>

typedef struct {
    int        enabled;             /* 0: no scheduler (no postgres, off) */
    uint64_t   last_run_us;         /* wall time the last run ended; 0 */
    uint64_t   last_success_us;     /* of any node (pathstats_lifecycle_runs) */
    uint64_t   last_duration_us;
    int64_t    rows_rolled;         /* by the last run of this node */
    int64_t    rows_archived;
    int64_t    rows_dropped;
    uint64_t   runs;                /* runs of this node since start */
    uint64_t   failures;            /* failed steps since start */
    int64_t    hourly_bytes;        /* table sizes; -1 unknown */
    int64_t    daily_bytes;
    int64_t    archive_bytes;       /* sum of pathstats_archives.bytes */
    int64_t    archive_free_bytes;  /* free space of archive_dir; -1 */
    uint64_t   stale_after_us;      /* lifecycle_stale; 0: never */
    uint64_t   min_free_bytes;      /* archive_min_free */
    uint64_t   verify_at_us;        /* the last verify; 0: never */
    int64_t    verify_checked;
    int64_t    verify_mismatches;
} ps_lifecycle_status_t;

#endif /* PS_LIFECYCLE_STATUS_H */
