/*
 * CSV counts and sums: see csv_sums.h.
 */

#include <stdio.h>
#include <string.h>

#include "lib/csv_sums.h"

static const char *const  sum_names[PS_CSV_SUM_COLS] = {
    "requests", "errors", "bytes_in", "bytes_out"
};


void
ps_csv_sums_init(ps_csv_sums_t *c)
{
    int  i;

    memset(c, 0, sizeof(*c));
    c->in_header = 1;
    c->at_start = 1;

    for (i = 0; i < PS_CSV_SUM_COLS; i++) {
        c->col[i] = -1;
    }
}


/* The field that just ended: a header name, or a number to sum. */
static int
end_field(ps_csv_sums_t *c, char *err, size_t errlen)
{
    int       i;
    size_t    k;
    uint64_t  v;

    c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';

    for (i = 0; i < PS_CSV_SUM_COLS; i++) {
        if (c->in_header) {
            if (strcmp(c->buf, sum_names[i]) == 0) {
                c->col[i] = c->field;
            }
            continue;
        }

        if (c->col[i] != c->field) {
            continue;
        }

        v = 0;
        for (k = 0; k < c->len; k++) {
            if (c->len >= sizeof(c->buf) || c->buf[k] < '0'
                || c->buf[k] > '9')
            {
                snprintf(err, errlen, "record %lld: %s is not a whole "
                         "number", (long long) c->rows + 1, sum_names[i]);
                return -1;
            }
            v = v * 10 + (uint64_t) (c->buf[k] - '0');
        }
        c->sum[i] += v;
    }

    c->field++;
    c->len = 0;
    c->quoted = 0;
    c->quote_seen = 0;
    c->at_start = 1;

    return 0;
}


static int
end_record(ps_csv_sums_t *c, char *err, size_t errlen)
{
    if (end_field(c, err, errlen) != 0) {
        return -1;
    }

    if (c->in_header) {
        c->in_header = 0;
    } else {
        c->rows++;
    }

    c->field = 0;

    return 0;
}


int
ps_csv_sums_feed(ps_csv_sums_t *c, const char *p, size_t len, char *err,
    size_t errlen)
{
    char  ch;

    for ( /* void */ ; len > 0; p++, len--) {
        ch = *p;

        if (c->quoted) {
            if (c->quote_seen) {
                c->quote_seen = 0;
                if (ch == '"') {          /* a doubled quote */
                    if (c->len < sizeof(c->buf)) {
                        c->buf[c->len] = '"';
                    }
                    c->len++;
                    continue;
                }
                c->quoted = 0;            /* the closing quote */
                /* fall through to the unquoted handling of ch */
            } else {
                if (ch == '"') {
                    c->quote_seen = 1;
                } else {
                    if (c->len < sizeof(c->buf)) {
                        c->buf[c->len] = ch;
                    }
                    c->len++;
                }
                continue;
            }
        }

        if (ch == '"' && c->at_start) {
            c->quoted = 1;
            c->at_start = 0;
            continue;
        }

        if (ch == ',') {
            if (end_field(c, err, errlen) != 0) {
                return -1;
            }
            continue;
        }

        if (ch == '\n') {
            if (end_record(c, err, errlen) != 0) {
                return -1;
            }
            continue;
        }

        c->at_start = 0;
        if (c->len < sizeof(c->buf)) {
            c->buf[c->len] = ch;
        }
        c->len++;
    }

    return 0;
}


int
ps_csv_sums_end(ps_csv_sums_t *c, char *err, size_t errlen)
{
    int  i;

    if (c->quoted && !c->quote_seen) {
        snprintf(err, errlen, "an unterminated quoted field");
        return -1;
    }

    if (c->quoted) {
        c->quoted = 0;
    }

    if (c->field > 0 || c->len > 0 || !c->at_start) {
        if (end_record(c, err, errlen) != 0) {
            return -1;
        }
    }

    /* a table without such a column (a full backup's watermarks) sums
     * to 0, which its manifest says too */
    (void) i;

    return 0;
}
