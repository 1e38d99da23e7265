/*
 * Time helpers for aggregation keys: UTC hour buckets and ISO 8601 text.
 * Times are microseconds since the Unix epoch (UTC); hours are the unix
 * seconds of the start of a UTC hour.  No time zone or locale is used.
 */

#ifndef PS_HOUR_H
#define PS_HOUR_H

#include <stddef.h>
#include <stdint.h>

#define PS_US_PER_SEC     1000000LL
#define PS_US_PER_HOUR    3600000000LL
#define PS_ISO8601_MAX    40       /* buffer size for any formatted time */

/* Start of the UTC hour containing time_us, in unix seconds (floor, also
 * for times before 1970). */
int64_t ps_hour_of(int64_t time_us);

/* Writes us as "2026-11-23T09:00:00Z" (seconds truncated) into buf
 * (PS_ISO8601_MAX bytes); returns buf. */
char *ps_format_iso8601(int64_t us, char *buf);

/* Same with digits (0, 3 or 6; others are clamped to those) fractional
 * second digits, truncated: "2026-11-23T09:00:00.123456Z"; returns buf. */
char *ps_format_iso8601_frac(int64_t us, char *buf, int digits);

/* UTC days: numbered from 1970-01-01 (day 0), written "2026-11-23". */
#define PS_US_PER_DAY     86400000000LL
#define PS_DAY_MAX        16       /* buffer size for a formatted day */

/* The UTC day containing time_us (floor). */
int64_t ps_day_of(int64_t time_us);

/* Writes day as "YYYY-MM-DD" into buf (PS_DAY_MAX bytes); returns buf. */
char *ps_format_day(int64_t day, char *buf);

/* Parses exactly "YYYY-MM-DD" (a real date, years 1970-9999) into *day;
 * 0, or -1. */
int ps_parse_day(const char *s, int64_t *day);

#endif /* PS_HOUR_H */
