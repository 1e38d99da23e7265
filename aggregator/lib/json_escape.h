/*
 * JSON strings from arbitrary bytes, appended to a growable buffer or
 * built as jansson strings.  The rendering of bytes that are not valid
 * UTF-8 is lib/utf8.h's, so every output shows a path the same way.
 */

#ifndef PS_JSON_ESCAPE_H
#define PS_JSON_ESCAPE_H

#include <stddef.h>

#include <jansson.h>

#include "lib/strbuf.h"

/* Appends the escaped form of len bytes (without quotes); 0 or -1. */
int ps_json_escape(ps_buf_t *b, const void *bytes, size_t len);

/* Appends the bytes as a JSON string, quotes included; 0 or -1. */
int ps_json_quote(ps_buf_t *b, const void *bytes, size_t len);

/* A jansson string of the bytes, with the same rendering (jansson then
 * escapes it the same way when dumping); NULL if memory ran out. */
json_t *ps_json_bytes(const void *bytes, size_t len);

#endif /* PS_JSON_ESCAPE_H */
