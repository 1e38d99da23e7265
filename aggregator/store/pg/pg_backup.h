/*
 * backup --full: one consistent snapshot (a REPEATABLE READ READ ONLY
 * transaction) of every pathstats table into a directory: the hourly
 * rows one file per day (pathstats_hourly_YYYY-MM-DD.csv.gz, restored
 * into the day's partition), every other table whole
 * (pathstats_daily.csv.gz, ... pathstats_archives.csv.gz, the archives
 * index), each with its manifest (lib/manifest.h), read back and checked
 * like an archive.  `restore` of every .csv.gz of the directory into a
 * freshly migrated database gives the same rows (pg_archive.h).
 */

#ifndef PS_PG_BACKUP_H
#define PS_PG_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* Writes the backup into dir (which must exist); *files and *rows get
 * what was written; say (may be NULL) is told each file.  0, or -1 (err
 * set: the files written so far stay, the backup is incomplete). */
int ps_pg_backup_full(PGconn *conn, const char *dir,
    void (*say)(const char *line), int64_t *files, int64_t *rows,
    char *err, size_t errlen);

#endif /* PS_PG_BACKUP_H */
