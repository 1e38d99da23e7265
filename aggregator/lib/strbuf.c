/*
 * Growable byte buffer: see strbuf.h.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/strbuf.h"


int
ps_buf_reserve(ps_buf_t *b, size_t n)
{
    char    *p;
    size_t   want, cap;

    if (n > (size_t) -1 / 2 - b->len) {
        ps_log(PS_LOG_ERROR, "event=out_of_memory what=buffer bytes=%zu", n);
        return -1;
    }

    want = b->len + n + 1;

    if (want <= b->cap) {
        return 0;
    }

    cap = b->cap ? b->cap : 256;
    while (cap < want) {
        cap *= 2;
    }

    p = realloc(b->data, cap);
    if (p == NULL) {
        ps_log(PS_LOG_ERROR, "event=out_of_memory what=buffer bytes=%zu",
               cap);
        return -1;
    }

    b->data = p;
    b->cap = cap;

    return 0;
}


int
ps_buf_append(ps_buf_t *b, const void *p, size_t n)
{
    if (ps_buf_reserve(b, n) != 0) {
        return -1;
    }

    if (n) {
        memcpy(b->data + b->len, p, n);
    }

    b->len += n;
    b->data[b->len] = '\0';

    return 0;
}


int
ps_buf_puts(ps_buf_t *b, const char *s)
{
    return ps_buf_append(b, s, strlen(s));
}


int
ps_buf_putc(ps_buf_t *b, char c)
{
    return ps_buf_append(b, &c, 1);
}


int
ps_buf_printf(ps_buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0 || ps_buf_reserve(b, (size_t) n) != 0) {
        return -1;
    }

    va_start(ap, fmt);
    (void) vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);

    b->len += (size_t) n;

    return 0;
}


void
ps_buf_reset(ps_buf_t *b)
{
    b->len = 0;

    if (b->data) {
        b->data[0] = '\0';
    }
}


void
ps_buf_free(ps_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
