/*
 * Growable byte buffer for building output (JSON lines, snapshots, SQL)
 * without fixed limits.  data is always NUL terminated (not counted in
 * len), so it may be printed as a C string when it holds no NUL.
 */

#ifndef PS_STRBUF_H
#define PS_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char    *data;       /* NULL until the first append */
    size_t   len;
    size_t   cap;        /* bytes allocated, terminating NUL included */
} ps_buf_t;

#define PS_BUF_INIT  { NULL, 0, 0 }

/* Makes room for n more bytes (and the NUL); 0, or -1 (logged) if memory
 * ran out, the contents then unchanged. */
int ps_buf_reserve(ps_buf_t *b, size_t n);

/* Appends n bytes; 0 or -1. */
int ps_buf_append(ps_buf_t *b, const void *p, size_t n);

/* Appends a C string; 0 or -1. */
int ps_buf_puts(ps_buf_t *b, const char *s);

/* Appends one byte; 0 or -1. */
int ps_buf_putc(ps_buf_t *b, char c);

/* Appends printf output; 0 or -1. */
int ps_buf_printf(ps_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory. */
void ps_buf_reset(ps_buf_t *b);

/* Frees the memory; the buffer is then empty and reusable. */
void ps_buf_free(ps_buf_t *b);

/* Writes v in decimal at p (at most 20 bytes, no NUL); returns the end.
 * For output written by the million (snapshot rows, Redis commands),
 * where snprintf() costs more than the digits. */
static inline char *
ps_u64_text(char *p, uint64_t v)
{
    char    tmp[20];
    size_t  n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    while (n != 0) {
        *p++ = tmp[--n];
    }

    return p;
}

#endif /* PS_STRBUF_H */
