/*
 * Silences: see silence.h.
 */

#include <stdlib.h>
#include <string.h>

#include "agg/silence.h"
#include "lib/hour.h"
#include "lib/json_escape.h"


const char *
ps_silence_scope_check(const char *scope)
{
    size_t  i, len;

    len = strlen(scope);

    if (len == 0) {
        return "empty scope";
    }

    if (len > PS_SILENCE_SCOPE_MAX) {
        return "scope too long (at most 512 bytes)";
    }

    for (i = 0; i < len; i++) {
        if (scope[i] <= ' ' || scope[i] >= 0x7f) {
            return "a scope is printable ASCII without blanks";
        }
    }

    if (strcmp(scope, "all") == 0 || strcmp(scope, "overall") == 0
        || scope[0] == '/')
    {
        return NULL;
    }

    return "expected all, overall, a path (/api/users) or a path prefix "
           "(/api/*)";
}


int
ps_silence_covers(const char *scope, int overall, const char *path,
    size_t plen)
{
    size_t  len;

    if (strcmp(scope, "all") == 0) {
        return 1;
    }

    if (strcmp(scope, "overall") == 0) {
        return overall;
    }

    if (overall || scope[0] != '/') {
        return 0;
    }

    len = strlen(scope);

    if (scope[len - 1] == '*') {
        return plen >= len - 1 && memcmp(path, scope, len - 1) == 0;
    }

    return plen == len && memcmp(path, scope, len) == 0;
}


int
ps_silences_match(const ps_silences_t *l, uint64_t now_us, int overall,
    const char *path, size_t plen)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        if (l->s[i].starts_us <= now_us && now_us < l->s[i].ends_us
            && ps_silence_covers(l->s[i].scope, overall, path, plen))
        {
            return 1;
        }
    }

    return 0;
}


size_t
ps_silences_in_force(const ps_silences_t *l, uint64_t now_us)
{
    size_t  i, n = 0;

    for (i = 0; i < l->n; i++) {
        n += l->s[i].starts_us <= now_us && now_us < l->s[i].ends_us;
    }

    return n;
}


int
ps_silences_add(ps_silences_t *l, int64_t id, const char *scope,
    const char *created_by, uint64_t starts_us, uint64_t ends_us)
{
    ps_silence_t  *s;
    size_t         cap;

    if (l->n >= PS_SILENCES_MAX) {
        return -1;
    }

    if (l->n == l->cap) {
        cap = l->cap ? 2 * l->cap : 8;
        s = realloc(l->s, cap * sizeof(ps_silence_t));
        if (s == NULL) {
            return -1;
        }
        l->s = s;
        l->cap = cap;
    }

    s = &l->s[l->n];
    s->id = id;
    s->starts_us = starts_us;
    s->ends_us = ends_us;
    s->scope = strdup(scope);
    s->created_by = created_by ? strdup(created_by) : NULL;

    if (s->scope == NULL || (created_by && s->created_by == NULL)) {
        free(s->scope);
        free(s->created_by);
        return -1;
    }

    l->n++;

    return 0;
}


int
ps_silences_copy(ps_silences_t *dst, const ps_silences_t *src)
{
    size_t  i;

    ps_silences_free(dst);

    for (i = 0; i < src->n; i++) {
        if (ps_silences_add(dst, src->s[i].id, src->s[i].scope,
                            src->s[i].created_by, src->s[i].starts_us,
                            src->s[i].ends_us) != 0)
        {
            ps_silences_free(dst);
            return -1;
        }
    }

    return 0;
}


void
ps_silences_free(ps_silences_t *l)
{
    size_t  i;

    for (i = 0; i < l->n; i++) {
        free(l->s[i].scope);
        free(l->s[i].created_by);
    }

    free(l->s);
    l->s = NULL;
    l->n = 0;
    l->cap = 0;
}


int
ps_silences_json(const ps_silences_t *l, uint64_t now_us, ps_buf_t *b)
{
    const ps_silence_t  *s;
    char                 from[PS_ISO8601_MAX], to[PS_ISO8601_MAX];
    size_t               i;
    int                  first = 1;

    if (ps_buf_putc(b, '[') != 0) {
        return -1;
    }

    for (i = 0; i < l->n; i++) {
        s = &l->s[i];
        if (now_us >= s->ends_us) {
            continue;
        }

        if (ps_buf_printf(b, "%s{\"id\":%lld,\"scope\":", first ? "" : ",",
                          (long long) s->id) != 0
            || ps_json_quote(b, s->scope, strlen(s->scope)) != 0
            || ps_buf_printf(b, ",\"starts_at\":\"%s\",\"ends_at\":\"%s\","
                             "\"created_by\":",
                             ps_format_iso8601((int64_t) s->starts_us, from),
                             ps_format_iso8601((int64_t) s->ends_us, to))
               != 0
            || (s->created_by
                ? ps_json_quote(b, s->created_by, strlen(s->created_by))
                : ps_buf_puts(b, "null")) != 0
            || ps_buf_putc(b, '}') != 0)
        {
            return -1;
        }

        first = 0;
    }

    return ps_buf_putc(b, ']');
}
