/*
 * JSON strings from arbitrary bytes: see json_escape.h.
 */

#include <stdint.h>
#include <string.h>

#include "lib/json_escape.h"
#include "lib/log.h"
#include "lib/utf8.h"


int
ps_json_escape(ps_buf_t *b, const void *bytes, size_t len)
{
    size_t  n, used;

    if (len > ((size_t) -1 / 2) / PS_JSON_ESCAPE_MAX_RATIO
        || ps_buf_reserve(b, len * PS_JSON_ESCAPE_MAX_RATIO) != 0)
    {
        return -1;
    }

    n = ps_json_escape_mem(b->data + b->len, b->cap - b->len, bytes, len,
                           &used);
    b->len += n;

    return 0;
}


int
ps_json_quote(ps_buf_t *b, const void *bytes, size_t len)
{
    /* room for the quotes and the text at once (a snapshot quotes three
     * strings a row): ps_json_escape() then finds it, and the closing
     * quote needs no check */
    if (len > ((size_t) -1 / 2) / PS_JSON_ESCAPE_MAX_RATIO - 1
        || ps_buf_reserve(b, len * PS_JSON_ESCAPE_MAX_RATIO + 2) != 0)
    {
        return -1;
    }

    b->data[b->len++] = '"';
    if (ps_json_escape(b, bytes, len) != 0) {
        return -1;
    }
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';

    return 0;
}


json_t *
ps_json_bytes(const void *bytes, size_t len)
{
    json_t    *j;
    ps_buf_t   b = PS_BUF_INIT;

    /* valid UTF-8 with each invalid byte as the text \xHH; jansson does
     * the JSON escaping itself */

    if (len > ((size_t) -1 / 2) / PS_UTF8_SANITISE_MAX_RATIO
        || ps_buf_reserve(&b, len * PS_UTF8_SANITISE_MAX_RATIO) != 0)
    {
        return NULL;
    }

    b.len = ps_utf8_sanitise(b.data, bytes, len, 1);

    j = json_stringn_nocheck(b.data, b.len);
    if (j == NULL) {
        ps_log(PS_LOG_ERROR, "event=out_of_memory what=json_string");
    }

    ps_buf_free(&b);

    return j;
}
