/*
 * JSON strings from arbitrary bytes: the one place that decides how bytes
 * from the rings (paths, hosts, methods: any byte, NUL included, not
 * necessarily UTF-8) become JSON text.
 *
 * The output is valid JSON and valid UTF-8 for any input:
 *
 *   - valid UTF-8 sequences pass through unchanged (4-byte ones too);
 *   - '"' and '\' are escaped as \" and \\;
 *   - control characters become \b \f \n \r \t or \u00XX (NUL is \u0000,
 *     DEL is \u007F); U+2028 and U+2029 become \u2028 and \u2029, and '<'
 *     becomes \u003C, so the text is also safe inside JavaScript and in
 *     an HTML page (no "</script>", no "<!--");
 *   - a byte that does not belong to a valid UTF-8 sequence (a stray
 *     continuation byte, C0/C1 and F5..FF, an overlong form, a UTF-16
 *     surrogate encoded in UTF-8, a code point above U+10FFFF, a sequence
 *     cut short) is shown as the four characters \xHH (backslash, x, two
 *     upper-case hex digits), i.e. "\\xHH" in the JSON text.  So such a
 *     byte stays visible and is never mistaken for another character: the
 *     path /f%FF reads as /f\xFF once the JSON is decoded.  (A path that
 *     really contains the text \xFF reads the same; the rendering is for
 *     people and dashboards, it is not reversible.)
 */

#ifndef PS_JSON_ESCAPE_H
#define PS_JSON_ESCAPE_H

#include <stddef.h>

#include <jansson.h>

#include "lib/strbuf.h"

/* Most bytes the escaped form of one input byte takes ("\u001F"). */
#define PS_JSON_ESCAPE_MAX_RATIO  6

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when p[0] does
 * not start one (the byte is then rendered as \xHH). */
size_t ps_utf8_sequence(const unsigned char *p, size_t len);

/* Appends the escaped form of len bytes (without quotes); 0 or -1. */
int ps_json_escape(ps_buf_t *b, const void *bytes, size_t len);

/* Appends the bytes as a JSON string, quotes included; 0 or -1. */
int ps_json_quote(ps_buf_t *b, const void *bytes, size_t len);

/* Escapes as much of src as fits whole into dst (cap bytes, NUL
 * included); returns the bytes written (without the NUL) and sets
 * *consumed to the input bytes used. */
size_t ps_json_escape_mem(char *dst, size_t cap, const void *src,
    size_t len, size_t *consumed);

/* A jansson string of the bytes, with the same rendering (jansson then
 * escapes it the same way when dumping); NULL if memory ran out. */
json_t *ps_json_bytes(const void *bytes, size_t len);

#endif /* PS_JSON_ESCAPE_H */
