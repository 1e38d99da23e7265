/*
 * The days of the history as PostgreSQL holds them: which UTC days have
 * hourly rows (a daily partition pathstats_hourly_pYYYYMMDD, or rows in
 * the DEFAULT partition), and a day's count and sums, in one place for
 * the rollup, the archives, retention and verify.
 */

#ifndef PS_PG_DAYS_H
#define PS_PG_DAYS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* A day's (or an archive's) row count and sums; exact (numeric in SQL). */
typedef struct {
    int64_t   rows;
    char      requests[32];     /* decimal text, as PostgreSQL sums them */
    char      errors[32];
    char      bytes_in[32];
    char      bytes_out[32];
} ps_day_sums_t;

/* The day of a table: pathstats_hourly's (hour within the day) or
 * pathstats_daily's (day = the day). */
typedef enum {
    PS_DAYS_HOURLY = 0,
    PS_DAYS_DAILY
} ps_days_table_t;

/* Days (ascending, at most max) with hourly rows or a partition, into
 * days; the count, or -1 (err set). */
int ps_pg_hourly_days(PGconn *conn, int64_t *days, size_t max, char *err,
    size_t errlen);

/* Days (ascending, at most max) with rows in pathstats_daily; the count,
 * or -1 (err set). */
int ps_pg_daily_days(PGconn *conn, int64_t *days, size_t max, char *err,
    size_t errlen);

/* The WHERE condition selecting day's rows of table into buf
 * ("hour >= '...' AND hour < '...'" or "day = '...'"); returns buf. */
const char *ps_pg_day_where(ps_days_table_t table, int64_t day, char *buf,
    size_t size);

/* Count and sums of day's rows of table; 0, or -1 (err set). */
int ps_pg_day_sums(PGconn *conn, ps_days_table_t table, int64_t day,
    ps_day_sums_t *s, char *err, size_t errlen);

/* 1 when a and b hold the same count and sums, else 0. */
int ps_day_sums_equal(const ps_day_sums_t *a, const ps_day_sums_t *b);

/* The table name of a table ("pathstats_hourly"). */
const char *ps_pg_days_table_name(ps_days_table_t table);

#endif /* PS_PG_DAYS_H */
