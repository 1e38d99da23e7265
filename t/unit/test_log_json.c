/*
 * Unit tests for aggregator/lib/log_json.c: a key=value log line as one
 * JSON object: order, numbers, quoted text (as ps_log_quote() writes
 * it), bare words, a line cut in its quotes, bytes that are not UTF-8,
 * words that are not key=value.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/log.h"
#include "lib/log_json.h"
#include "tap.h"


static json_t *
convert(const char *fields, char **line)
{
    json_t       *j;
    json_error_t  e;

    *line = ps_log_json_line("2026-11-23T09:00:00.123Z", "warn", fields,
                             strlen(fields));
    if (*line == NULL) {
        bail_out("no line");
    }

    j = json_loads(*line, JSON_REJECT_DUPLICATES, &e);
    if (j == NULL) {
        diag("invalid JSON: %s: %s", e.text, *line);
    }

    return j;
}


int
main(void)
{
    json_t  *j;
    char    *line, q[64];

    j = convert("event=ring_reaped ring=3 lost=1 ratio=0.25 neg=-2 "
                "zone_id=00ab12 id=007 v=0.1.0 big=1234567890123456789012 "
                "word=on", &line);
    ok(j != NULL, "valid JSON");
    is_str(line, "{\"time\":\"2026-11-23T09:00:00.123Z\",\"level\":\"warn\","
           "\"event\":\"ring_reaped\",\"ring\":3,\"lost\":1,\"ratio\":0.25,"
           "\"neg\":-2,\"zone_id\":\"00ab12\",\"id\":\"007\","
           "\"v\":\"0.1.0\",\"big\":\"1234567890123456789012\","
           "\"word\":\"on\"}\n",
           "time, level, then the fields in order; numbers as numbers, "
           "the rest as text");
    json_decref(j);
    free(line);

    j = convert("event=x path=\"/a \\\"b\\\" \\\\c\\u0001\" next=1", &line);
    is_str(json_string_value(json_object_get(j, "path")),
           "/a \"b\" \\c\x01", "a quoted value: the text it quotes");
    is_u64((uint64_t) json_integer_value(json_object_get(j, "next")), 1,
           "  and the field after it");
    json_decref(j);
    free(line);

    /* what ps_log_quote() makes of hostile text comes back intact */
    {
        char  fields[128];

        strcpy(fields, "event=e path=");
        strcat(fields, ps_log_quote(q, sizeof(q), "x\"y\\z\n\xff"));
        j = convert(fields, &line);
        is_str(json_string_value(json_object_get(j, "path")),
               "x\"y\\z\n\\xFF", "ps_log_quote() and back");
        json_decref(j);
        free(line);
    }

    j = convert("event=x error=\"cut in the mid ...", &line);
    is_str(json_string_value(json_object_get(j, "error")),
           "cut in the mid ...", "a line cut in its quotes: the rest");
    json_decref(j);
    free(line);

    j = convert("event=x host=\xc3\x28 \xff raw words", &line);
    ok(j != NULL, "bytes that are not UTF-8: still valid JSON");
    is_str(json_string_value(json_object_get(j, "host")), "\\xC3(",
           "  as \\xHH");
    is_str(json_string_value(json_object_get(j, "text")),
           "\\xFF raw words", "words that are not key=value: in text");
    json_decref(j);
    free(line);

    j = convert("", &line);
    ok(j != NULL && json_object_size(j) == 2, "no fields: time and level");
    json_decref(j);
    free(line);

    return done_testing();
}
