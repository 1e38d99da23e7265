/*
 * A streaming CSV reader (RFC 4180, as PostgreSQL's COPY ... CSV HEADER
 * writes it: quoted fields may hold commas, quotes doubled and newlines)
 * that counts the records after the header and sums the columns named
 * requests, errors, bytes_in and bytes_out: what an archive's manifest
 * says, recomputed from the file alone.
 */

#ifndef PS_CSV_SUMS_H
#define PS_CSV_SUMS_H

#include <stddef.h>
#include <stdint.h>

#define PS_CSV_SUM_COLS  4          /* requests, errors, bytes_in, out */

typedef struct {
    int64_t   rows;                 /* records after the header */
    uint64_t  sum[PS_CSV_SUM_COLS];
    int       col[PS_CSV_SUM_COLS]; /* their indexes; -1: not there */
    int       bad;                  /* a summed field was not a number */

    /* parser state */
    int       in_header;
    int       field;                /* index of the current field */
    int       quoted, quote_seen;
    int       at_start;             /* nothing of the field read yet */
    char      buf[64];              /* the current field (header, sums) */
    size_t    len;
} ps_csv_sums_t;

/* Starts counting. */
void ps_csv_sums_init(ps_csv_sums_t *c);

/* Feeds len bytes; 0, or -1 (err set) when a summed field is not a
 * whole number. */
int ps_csv_sums_feed(ps_csv_sums_t *c, const char *p, size_t len,
    char *err, size_t errlen);

/* Ends the input (a last record without a newline counts); 0, or -1 (err
 * set) on an unterminated quote.  A column the header lacks sums to 0. */
int ps_csv_sums_end(ps_csv_sums_t *c, char *err, size_t errlen);

#endif /* PS_CSV_SUMS_H */
