/*
 * The JSON form of a log line: see log_json.h.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/log_json.h"
#include "lib/utf8.h"

#define VALUE_MAX  1024     /* bytes of one value kept; a line is 4 kB */


/* A JSON string of len raw bytes, made valid UTF-8; NULL on no memory. */
static json_t *
raw_string(const char *p, size_t len)
{
    char  buf[PS_UTF8_SANITISE_MAX_RATIO * VALUE_MAX + 1];

    if (len > VALUE_MAX) {
        len = VALUE_MAX;
    }

    len = ps_utf8_sanitise(buf, p, len, 0);

    return json_stringn(buf, len);
}


/* 1 when p[0..len) is a decimal number JSON keeps as it is: optional
 * '-', no leading zero (so "007" stays text), optional fraction. */
static int
is_number(const char *p, size_t len, int *real)
{
    size_t  i = 0, digits;

    *real = 0;

    if (i < len && p[i] == '-') {
        i++;
    }

    digits = strspn(p + i, "0123456789");
    if (digits == 0 || digits > 18 || i + digits > len
        || (digits > 1 && p[i] == '0'))
    {
        return 0;
    }
    i += digits;

    if (i < len && p[i] == '.') {
        digits = strspn(p + i + 1, "0123456789");
        if (digits == 0 || i + 1 + digits > len) {
            return 0;
        }
        i += 1 + digits;
        *real = 1;
    }

    return i == len;
}


/* The value at p (up to end): a quoted string or a bare word; sets *next
 * past it.  NULL on no memory. */
static json_t *
parse_value(const char *p, const char *end, const char **next)
{
    const char    *q;
    char           num[32];
    int            real;
    json_t        *v;
    json_error_t   err;

    if (p < end && *p == '"') {
        for (q = p + 1; q < end && *q != '"'; q++) {
            if (*q == '\\' && q + 1 < end) {
                q++;
            }
        }

        if (q < end) {
            /* ps_log_quote() escapes as JSON does */
            *next = q + 1;
            v = json_loadb(p, (size_t) (q + 1 - p), JSON_DECODE_ANY, &err);
            if (v != NULL && json_is_string(v)) {
                return v;
            }
            json_decref(v);
            return raw_string(p + 1, (size_t) (q - p - 1));
        }

        /* cut in the middle of the quotes */
        *next = end;
        return raw_string(p + 1, (size_t) (end - p - 1));
    }

    for (q = p; q < end && *q != ' '; q++) { /* void */ }
    *next = q;

    if (is_number(p, (size_t) (q - p), &real)) {
        memcpy(num, p, (size_t) (q - p));
        num[q - p] = '\0';
        return real ? json_real(strtod(num, NULL))
                    : json_integer(strtoll(num, NULL, 10));
    }

    return raw_string(p, (size_t) (q - p));
}


/* Appends a word that is not key=value to the "text" field; 0 or -1. */
static int
add_text(json_t *o, const char *p, size_t len)
{
    json_t      *t;
    const char  *old;
    char        *joined;
    size_t       olen;
    int          rc;

    t = json_object_get(o, "text");
    old = t ? json_string_value(t) : "";
    olen = t ? json_string_length(t) : 0;

    joined = malloc(olen + 1 + len + 1);
    if (joined == NULL) {
        return -1;
    }

    memcpy(joined, old, olen);
    if (olen) {
        joined[olen++] = ' ';
    }
    memcpy(joined + olen, p, len);

    rc = json_object_set_new(o, "text", raw_string(joined, olen + len));
    free(joined);

    return rc;
}


char *
ps_log_json_line(const char *ts, const char *level, const char *fields,
    size_t len)
{
    const char  *p, *end, *eq, *sp, *next;
    char         key[64], *line = NULL, *out;
    size_t       klen, n;
    json_t      *o, *v;

    o = json_object();
    if (o == NULL
        || json_object_set_new(o, "time", json_string(ts)) != 0
        || json_object_set_new(o, "level", json_string(level)) != 0)
    {
        goto done;
    }

    end = fields + len;

    for (p = fields; p < end; p = next) {
        if (*p == ' ') {
            next = p + 1;
            continue;
        }

        sp = memchr(p, ' ', (size_t) (end - p));
        sp = sp ? sp : end;
        eq = memchr(p, '=', (size_t) (sp - p));
        klen = eq ? (size_t) (eq - p) : 0;

        if (klen == 0 || klen >= sizeof(key)
            || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_") != klen)
        {
            next = sp;
            if (add_text(o, p, (size_t) (sp - p)) != 0) {
                goto done;
            }
            continue;
        }

        memcpy(key, p, klen);
        key[klen] = '\0';

        v = parse_value(eq + 1, end, &next);
        if (v == NULL || json_object_set_new(o, key, v) != 0) {
            goto done;
        }
    }

    line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (line == NULL) {
        goto done;
    }

    n = strlen(line);
    out = realloc(line, n + 2);
    if (out == NULL) {
        free(line);
        line = NULL;
        goto done;
    }

    out[n] = '\n';
    out[n + 1] = '\0';
    line = out;

done:

    json_decref(o);
    return line;
}
