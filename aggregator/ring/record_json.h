/*
 * One ring record as a JSON object, the line format of --tail:
 *
 *   {"ring":0,"pos":17,"time":"2026-11-23T09:00:00.123456Z",
 *    "time_us":1795424400123456,"host":"example.com","method":"GET",
 *    "path":"/users/{id}","status":200,"request_us":1520,
 *    "upstream_us":null,"bytes_in":78,"bytes_out":230,
 *    "client":"127.0.0.1","key_truncated":false,"host_truncated":false,
 *    "normalized":false,"upgraded":false}
 *
 * upstream_us is null when the request was not proxied; client is null
 * when no address was stored (pathstats_client_address off).  Strings
 * follow lib/utf8.h (bytes that are not UTF-8 read as \xHH).  Lengths
 * in the record are clamped to their fields, so a corrupt record still
 * yields valid JSON.
 */

#ifndef PS_RECORD_JSON_H
#define PS_RECORD_JSON_H

#include <stdint.h>

#include "pathstats_shm.h"
#include "lib/strbuf.h"

/* Longest text of an address ("ffff:...:255.255.255.255" and the NUL). */
#define PS_ADDR_TEXT_MAX  46

/* Writes the record's client address as text into buf (PS_ADDR_TEXT_MAX
 * bytes); returns buf, or NULL when the record has no address. */
const char *ps_record_client(const ps_record_t *rec, char *buf);

/* Appends the record as one JSON object, no newline; 0 or -1. */
int ps_record_json(ps_buf_t *b, uint32_t ring, uint64_t pos,
    const ps_record_t *rec);

#endif /* PS_RECORD_JSON_H */
