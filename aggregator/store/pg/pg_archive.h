/*
 * Archives of the history: a day's rows of pathstats_hourly or
 * pathstats_daily exported to archive_dir as gzip'd CSV (COPY ... CSV
 * HEADER, which COPY or psql's \copy load back) with a manifest beside
 * it, checked by reading it back, and recorded in pathstats_archives;
 * restored into their table; and a day's rows dropped only once its
 * archives are verified and add up to exactly what the table holds.
 *
 * Files: DIR/pathstats_hourly_YYYY-MM-DD.csv.gz (part 1), or
 * ..._YYYY-MM-DD.N.csv.gz for part N, the rows of a day that came in
 * after an earlier part was archived and dropped; manifests beside them
 * (lib/manifest.h).
 */

#ifndef PS_PG_ARCHIVE_H
#define PS_PG_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "lib/manifest.h"
#include "store/pg/pg_days.h"

/* Archives day's rows of table into dir (the day's pending part,
 * replaced if it was archived before but not dropped), checks the file
 * against the database's count and sums, writes the manifest and the
 * pathstats_archives row (verified).  m gets the manifest; m->rows is 0
 * (and nothing written) for a day without rows.  0, or -1 (err set;
 * nothing is left at the final name). */
int ps_pg_archive_day(PGconn *conn, ps_days_table_t table, int64_t day,
    const char *dir, ps_manifest_t *m, char *err, size_t errlen);

/* Restores the archive file path (its manifest beside it, checked
 * first) into its table.  Refuses when the table already holds rows of
 * that day, unless replace (they are deleted first); afterwards the
 * day's count and sums must equal the manifest('s, with the other parts
 * restored in the same call: see ps_pg_restore_files).  0, or -1 (err
 * set, nothing changed). */
int ps_pg_restore_files(PGconn *conn, char *const *paths, int n,
    int replace, int64_t *rows, char *err, size_t errlen);

/* The archive files of day and table that pathstats_archives lists
 * (every part), into paths (malloc'd, at most max); count or -1. */
int ps_pg_archive_files(PGconn *conn, ps_days_table_t table, int64_t day,
    char **paths, int max, char *err, size_t errlen);

/* Drops day's rows of table (its partition, or its rows) when every
 * pending part of its archives verifies against its manifest and they
 * add up to what the table holds, under a lock that keeps writers out
 * between the check and the drop; *rows gets the rows dropped.  1 when
 * dropped, 0 when not (err says why: no archive, or it does not match),
 * -1 on error (err set). */
int ps_pg_drop_day(PGconn *conn, ps_days_table_t table, int64_t day,
    const char *dir, int64_t *rows, char *err, size_t errlen);

#endif /* PS_PG_ARCHIVE_H */
