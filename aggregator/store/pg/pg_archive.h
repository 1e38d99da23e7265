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

/* The tables a full backup holds whole (pg_backup.h), NULL-terminated:
 * restore loads them whole. */
extern const char *const  ps_pg_whole_tables[];

/* The columns of an archive of table, in the CSV's order. */
const char *ps_pg_archive_columns(ps_days_table_t table);

/* Runs copy_sql (a COPY ... TO STDOUT (FORMAT csv, HEADER)) into the
 * gzip file path (temporary name, fsync, rename), then reads it back and
 * checks it against m (its table, day, part, rows and sums set by the
 * caller; file, schema version, sha256, bytes and created_at are set
 * here) and writes its manifest.  0, or -1 (err set, nothing at path). */
int ps_pg_export(PGconn *conn, const char *copy_sql, const char *path,
    ps_manifest_t *m, char *err, size_t errlen);

/* Archives day's rows of table into dir (the day's pending part,
 * replaced if it was archived before but not dropped), checks the file
 * against the database's count and sums, writes the manifest and the
 * pathstats_archives row (verified).  m gets the manifest; m->rows is 0
 * (and nothing written) for a day without rows.  0, or -1 (err set;
 * nothing is left at the final name). */
int ps_pg_archive_day(PGconn *conn, ps_days_table_t table, int64_t day,
    const char *dir, ps_manifest_t *m, char *err, size_t errlen);

/* Restores the n files paths (each checked against its manifest
 * first) in one transaction: a day's archive into its table (the day's
 * partition created if missing), a whole table of a full backup into
 * that table.  Refuses a day or a table that already holds rows, unless
 * replace (they are deleted first); afterwards each day's (table's)
 * count and sums must equal its files' manifests.  With mark_index, the
 * files are archive_dir's: their pathstats_archives rows are marked
 * restored (and no longer dropped).  0, or -1 (err set, nothing
 * changed). */
int ps_pg_restore_files(PGconn *conn, char *const *paths, int n,
    int replace, int mark_index, int64_t *rows, char *err, size_t errlen);

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
