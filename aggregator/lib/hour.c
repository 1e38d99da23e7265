/*
 * UTC hour buckets and ISO 8601 formatting: see hour.h.
 */

#include <string.h>

#include "lib/hour.h"


/* floor(a / b) for b > 0 */
static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t  q;

    q = a / b;
    if (a % b != 0 && a < 0) {
        q--;
    }

    return q;
}


int64_t
ps_hour_of(int64_t time_us)
{
    return floor_div(time_us, PS_US_PER_HOUR) * 3600;
}


/*
 * Proleptic Gregorian date of a day number (days since 1970-01-01), by
 * counting 400-year eras that start on March 1st so that the leap day is
 * the last day of each year.
 */
static void
civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t  era, doe, yoe, doy, mp;

    days += 719468;                     /* 0000-03-01 to 1970-01-01 */
    era = floor_div(days, 146097);
    doe = days - era * 146097;          /* [0, 146096] */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;           /* March = 0 */

    *day = (int) (doy - (153 * mp + 2) / 5 + 1);
    *month = (int) (mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}


/* Writes v in decimal, zero-padded to at least width digits. */
static char *
put_num(char *p, int64_t v, int width)
{
    char      tmp[24];
    int       n;
    uint64_t  u;

    if (v < 0) {
        *p++ = '-';
        u = (uint64_t) -(v + 1) + 1;
    } else {
        u = (uint64_t) v;
    }

    n = 0;
    do {
        tmp[n++] = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);

    while (width-- > n) {
        *p++ = '0';
    }
    while (n > 0) {
        *p++ = tmp[--n];
    }

    return p;
}


/* Writes v (0 .. 99) as two digits: the fields of a time, which a
 * snapshot writes tens of thousands of. */
static char *
put2(char *p, int64_t v)
{
    static const char  digits[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";

    memcpy(p, &digits[2 * v], 2);

    return p + 2;
}


/* v (0 .. 999) as three digits */
static char *
put3(char *p, int64_t v)
{
    *p++ = (char) ('0' + v / 100);

    return put2(p, v % 100);
}


/* the day whose date ps_format_iso8601_frac() wrote last, and the date */
static _Thread_local int64_t  date_days = INT64_MIN;
static _Thread_local char     date_text[10];


char *
ps_format_iso8601_frac(int64_t us, char *buf, int digits)
{
    int64_t   secs, days, rem, year, frac;
    int       month, day;
    char     *p;

    secs = floor_div(us, PS_US_PER_SEC);
    frac = us - secs * PS_US_PER_SEC;
    days = floor_div(secs, 86400);
    rem = secs - days * 86400;

    /* a snapshot writes tens of thousands of times of a day or two: the
     * date of the last day written is kept (per thread) */
    if (days == date_days) {
        memcpy(buf, date_text, 10);
        p = buf + 10;

    } else {
        civil_from_days(days, &year, &month, &day);

        if (year >= 0 && year <= 9999) {
            p = put2(buf, year / 100);
            p = put2(p, year % 100);
        } else {
            p = put_num(buf, year, 4);
        }
        *p++ = '-';
        p = put2(p, month);
        *p++ = '-';
        p = put2(p, day);

        if (p - buf == 10) {
            memcpy(date_text, buf, 10);
            date_days = days;
        }
    }
    *p++ = 'T';
    p = put2(p, rem / 3600);
    *p++ = ':';
    p = put2(p, rem / 60 % 60);
    *p++ = ':';
    p = put2(p, rem % 60);

    if (digits >= 6) {
        *p++ = '.';
        p = put3(p, frac / 1000);
        p = put3(p, frac % 1000);
    } else if (digits >= 1) {
        *p++ = '.';
        p = put3(p, frac / 1000);
    }

    *p++ = 'Z';
    *p = '\0';

    return buf;
}


char *
ps_format_iso8601(int64_t us, char *buf)
{
    return ps_format_iso8601_frac(us, buf, 0);
}


int64_t
ps_day_of(int64_t time_us)
{
    return floor_div(time_us, PS_US_PER_DAY);
}


char *
ps_format_day(int64_t day, char *buf)
{
    int      month, mday;
    char    *p;
    int64_t  year;

    civil_from_days(day, &year, &month, &mday);

    p = put_num(buf, year, 4);
    *p++ = '-';
    p = put_num(p, month, 2);
    *p++ = '-';
    p = put_num(p, mday, 2);
    *p = '\0';

    return buf;
}


int
ps_parse_day(const char *s, int64_t *day)
{
    int      i, y, m, d;
    char     back[PS_DAY_MAX];
    int64_t  yy, mm, n;

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7 ? s[i] != '-'
                             : (s[i] < '0' || s[i] > '9'))
        {
            return -1;
        }
    }

    if (s[10] != '\0') {
        return -1;
    }

    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10
        + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');

    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > 31) {
        return -1;
    }

    /* days from civil: the inverse of civil_from_days() */
    yy = y - (m <= 2);
    mm = m > 2 ? m - 3 : m + 9;
    n = (yy / 400) * 146097
        + (365 * (yy % 400) + (yy % 400) / 4 - (yy % 400) / 100)
        + (153 * mm + 2) / 5 + d - 1 - 719468;

    /* 2026-02-30 comes back as another day: not a date */
    if (strcmp(ps_format_day(n, back), s) != 0) {
        return -1;
    }

    *day = n;

    return 0;
}
