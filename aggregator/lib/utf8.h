/*
 * Raw bytes as text.  Bytes from the rings (paths, hosts, methods) may be
 * anything, NUL included, and not necessarily UTF-8; this is the one
 * place that decides how they become text, written into caller memory:
 * no allocation, no logging, so that the log, the JSON writers and the
 * record decoder all build on it.
 *
 * Sanitised text (ps_utf8_sanitise) keeps valid UTF-8 and writes each
 * byte outside a valid sequence as the four characters \xHH: valid
 * UTF-8 whatever the input, as PostgreSQL text and jansson need.
 *
 * JSON string text (ps_json_escape_mem) is valid JSON and valid UTF-8 for
 * any input:
 *
 *   - valid UTF-8 sequences pass through unchanged (4-byte ones too);
 *   - '"' and '\' are escaped as \" and \\;
 *   - control characters become \b \f \n \r \t or \u00XX (NUL is
 *     \u0000, DEL is \u007F); U+2028 and U+2029 become \u2028 and
 *     \u2029, and '<' becomes \u003C, so the text is also safe inside
 *     JavaScript and in an HTML page (no "</script>", no "<!--");
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

#ifndef PS_UTF8_H
#define PS_UTF8_H

#include <stddef.h>

/* Most bytes the JSON form of one input byte takes ("\u001F"). */
#define PS_JSON_ESCAPE_MAX_RATIO  6

/* Most bytes the sanitised form of one input byte takes ("\xFF"). */
#define PS_UTF8_SANITISE_MAX_RATIO  4

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when p[0] does
 * not start one (the byte is then rendered as \xHH). */
size_t ps_utf8_sequence(const unsigned char *p, size_t len);

/* Writes the sanitised text of len bytes of src into dst (room for
 * PS_UTF8_SANITISE_MAX_RATIO * len) and returns its length; NUL is kept
 * when keep_nul, else written as \x00 too. */
size_t ps_utf8_sanitise(char *dst, const void *src, size_t len,
    int keep_nul);

/* Escapes as much of src as fits whole into dst (cap bytes, NUL
 * included) as JSON string text, without quotes; returns the bytes
 * written (without the NUL) and sets *consumed to the input bytes used. */
size_t ps_json_escape_mem(char *dst, size_t cap, const void *src,
    size_t len, size_t *consumed);

#endif /* PS_UTF8_H */
