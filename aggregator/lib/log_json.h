/*
 * The JSON form of a log line (log_format = json): the fields of the
 * key=value line as one JSON object, in their order, after "time" and
 * "level":
 *
 *   {"time":"2026-11-23T09:00:00.123Z","level":"info",
 *    "event":"ring_reaped","ring":3,"lost":1}
 *
 * A quoted value ("...", as ps_log_quote() writes it) becomes the string
 * it quotes; a bare decimal number (no leading zero) a JSON number; any
 * other bare value a string.  Bytes that are not UTF-8 become the text
 * \xHH, as everywhere (lib/utf8.h).  Text that is not key=value (a line
 * cut at its maximum length ends in "...") goes to "text".
 */

#ifndef PS_LOG_JSON_H
#define PS_LOG_JSON_H

#include <stddef.h>

/* The JSON object line (with its '\n') of fields (len bytes of
 * key=value text) at time ts and level; malloc'ed (the caller frees),
 * NULL if memory ran out. */
char *ps_log_json_line(const char *ts, const char *level,
    const char *fields, size_t len);

#endif /* PS_LOG_JSON_H */
