/*
 * Unit tests for aggregator/lib/json_escape.c and record_json.c: every byte
 * string becomes valid JSON in valid UTF-8; valid UTF-8 passes through;
 * bytes that are not UTF-8 read as the text \xHH; records come out with
 * every field.  Prints TAP.
 */

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/json_escape.h"
#include "lib/utf8.h"
#include "ring/record_json.h"
#include "lib/strbuf.h"
#include "tap.h"

typedef struct {
    const char  *name;
    const char  *in;
    size_t       in_len;
    const char  *json;       /* escaped text between the quotes */
    const char  *decoded;    /* what a JSON reader gets back */
    size_t       decoded_len;
} esc_case_t;

#define S(s)  s, sizeof(s) - 1

static const esc_case_t  cases[] = {
    { "plain ASCII", S("/users/42"), "/users/42", S("/users/42") },
    { "empty", S(""), "", S("") },
    { "quotes", S("/q\"x\""), "/q\\\"x\\\"", S("/q\"x\"") },
    { "backslashes", S("/b\\c\\"), "/b\\\\c\\\\", S("/b\\c\\") },
    { "NUL", S("/n\0x"), "/n\\u0000x", S("/n\0x") },
    { "short escapes", S("\b\f\n\r\t"), "\\b\\f\\n\\r\\t", S("\b\f\n\r\t") },
    { "other controls and DEL", S("\x01\x1f\x7f"), "\\u0001\\u001F\\u007F",
      S("\x01\x1f\x7f") },
    { "HTML", S("/</script><!--&>"), "/\\u003C/script>\\u003C!--&>",
      S("/</script><!--&>") },
    { "2-byte UTF-8", S("/v\xC3\xA9"), "/v\xC3\xA9", S("/v\xC3\xA9") },
    { "3-byte UTF-8", S("\xE2\x82\xAC"), "\xE2\x82\xAC", S("\xE2\x82\xAC") },
    { "4-byte UTF-8", S("/e\xF0\x9F\x98\x80"), "/e\xF0\x9F\x98\x80",
      S("/e\xF0\x9F\x98\x80") },
    { "U+FFFF", S("\xEF\xBF\xBF"), "\xEF\xBF\xBF", S("\xEF\xBF\xBF") },
    { "U+10FFFF", S("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF",
      S("\xF4\x8F\xBF\xBF") },
    { "U+0080 (C1 control) is valid UTF-8", S("\xC2\x80"), "\xC2\x80",
      S("\xC2\x80") },
    { "U+2028 and U+2029", S("\xE2\x80\xA8\xE2\x80\xA9"), "\\u2028\\u2029",
      S("\xE2\x80\xA8\xE2\x80\xA9") },
    { "lone 0xFF", S("/f\xFF"), "/f\\\\xFF", S("/f\\xFF") },
    { "0xFF 0xFE", S("\xFF\xFE"), "\\\\xFF\\\\xFE", S("\\xFF\\xFE") },
    { "lead byte before ASCII", S("/u\xC3("), "/u\\\\xC3(", S("/u\\xC3(") },
    { "truncated 3-byte at the end", S("/z\xE2\x82"), "/z\\\\xE2\\\\x82",
      S("/z\\xE2\\x82") },
    { "truncated 4-byte at the end", S("\xF0\x9F\x98"),
      "\\\\xF0\\\\x9F\\\\x98", S("\\xF0\\x9F\\x98") },
    { "lone continuation byte", S("\x80z"), "\\\\x80z", S("\\x80z") },
    { "overlong 2-byte", S("/o\xC0\xAF"), "/o\\\\xC0\\\\xAF",
      S("/o\\xC0\\xAF") },
    { "overlong C1", S("\xC1\xBF"), "\\\\xC1\\\\xBF", S("\\xC1\\xBF") },
    { "overlong 3-byte", S("\xE0\x80\xAF"), "\\\\xE0\\\\x80\\\\xAF",
      S("\\xE0\\x80\\xAF") },
    { "overlong 4-byte", S("\xF0\x80\x80\xAF"),
      "\\\\xF0\\\\x80\\\\x80\\\\xAF", S("\\xF0\\x80\\x80\\xAF") },
    { "UTF-16 surrogate in UTF-8", S("/s\xED\xA0\x80"),
      "/s\\\\xED\\\\xA0\\\\x80", S("/s\\xED\\xA0\\x80") },
    { "above U+10FFFF", S("\xF4\x90\x80\x80"),
      "\\\\xF4\\\\x90\\\\x80\\\\x80", S("\\xF4\\x90\\x80\\x80") },
    { "F5 lead", S("\xF5\x80"), "\\\\xF5\\\\x80", S("\\xF5\\x80") },
    { "Latin-1 text", S("/l\xE9t\xE9"), "/l\\\\xE9t\\\\xE9",
      S("/l\\xE9t\\xE9") },
    { "bad continuation inside a sequence", S("\xE2\x28\xA1"),
      "\\\\xE2(\\\\xA1", S("\\xE2(\\xA1") },
};

#define NCASES  (sizeof(cases) / sizeof(cases[0]))


/* Decodes ["..."] with jansson (strict UTF-8, NUL allowed); the value
 * or NULL. */
static json_t *
parse_string(const char *quoted, size_t len)
{
    json_t        *arr, *s;
    json_error_t   err;
    ps_buf_t       b = PS_BUF_INIT;

    ps_buf_putc(&b, '[');
    ps_buf_append(&b, quoted, len);
    ps_buf_putc(&b, ']');

    arr = json_loadb(b.data, b.len, JSON_ALLOW_NUL, &err);
    ps_buf_free(&b);

    if (arr == NULL) {
        diag("jansson: %s", err.text);
        return NULL;
    }

    s = json_incref(json_array_get(arr, 0));
    json_decref(arr);

    return json_is_string(s) ? s : NULL;
}


static void
test_cases(void)
{
    size_t           i;
    char            *dumped;
    json_t          *s, *j;
    ps_buf_t         b = PS_BUF_INIT, q = PS_BUF_INIT;
    const esc_case_t *c;

    for (i = 0; i < NCASES; i++) {
        c = &cases[i];

        ps_buf_reset(&b);
        ok(ps_json_escape(&b, c->in, c->in_len) == 0, "%s: escaped",
           c->name);
        is_mem(b.data, b.len, c->json, strlen(c->json), "%s: JSON text",
               c->name);

        ps_buf_reset(&q);
        ps_json_quote(&q, c->in, c->in_len);
        s = parse_string(q.data, q.len);
        ok(s != NULL, "%s: jansson parses it", c->name);
        is_mem(s ? json_string_value(s) : NULL, s ? json_string_length(s) : 0,
               c->decoded, c->decoded_len, "%s: decodes back", c->name);
        json_decref(s);

        /* the jansson path renders the same text */
        j = ps_json_bytes(c->in, c->in_len);
        dumped = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        s = dumped ? parse_string(dumped, strlen(dumped)) : NULL;
        is_mem(s ? json_string_value(s) : NULL, s ? json_string_length(s) : 0,
               c->decoded, c->decoded_len, "%s: ps_json_bytes agrees",
               c->name);
        json_decref(s);
        free(dumped);
        json_decref(j);
    }

    ps_buf_free(&b);
    ps_buf_free(&q);
}


static void
test_sequence_lengths(void)
{
    is_int(ps_utf8_sequence((const unsigned char *) "a", 1), 1, "ASCII: 1");
    is_int(ps_utf8_sequence((const unsigned char *) "\xC3\xA9", 2), 2,
           "U+00E9: 2");
    is_int(ps_utf8_sequence((const unsigned char *) "\xE2\x82\xAC", 3), 3,
           "U+20AC: 3");
    is_int(ps_utf8_sequence((const unsigned char *) "\xF0\x9F\x98\x80", 4),
           4, "U+1F600: 4");
    is_int(ps_utf8_sequence((const unsigned char *) "\xF0\x9F\x98\x80", 3),
           0, "a sequence longer than the input: 0");
    is_int(ps_utf8_sequence((const unsigned char *) "\xED\x9F\xBF", 3), 3,
           "U+D7FF, just below the surrogates: 3");
    is_int(ps_utf8_sequence((const unsigned char *) "\xEE\x80\x80", 3), 3,
           "U+E000, just above the surrogates: 3");
    is_int(ps_utf8_sequence((const unsigned char *) "\xE0\xA0\x80", 3), 3,
           "U+0800, the first 3-byte code point: 3");
    is_int(ps_utf8_sequence((const unsigned char *) "\xF0\x90\x80\x80", 4),
           4, "U+10000, the first 4-byte code point: 4");
}


/* escaping into a fixed buffer never cuts an escape in two */
static void
test_escape_mem(void)
{
    char    out[16];
    size_t  n, used;

    n = ps_json_escape_mem(out, sizeof(out), "\x01\x02\x03", 3, &used);
    is_int(n, 12, "two \\u00XX escapes fit in 16 bytes, a third does not");
    is_int(used, 2, "two input bytes used");
    is_str(out, "\\u0001\\u0002", "and the text ends after the second");

    n = ps_json_escape_mem(out, 5, "ab\xF0\x9F\x98\x80", 6, &used);
    is_int(n, 2, "a 4-byte character does not fit in the 2 bytes left");
    is_int(used, 2, "so it is not consumed");

    n = ps_json_escape_mem(out, sizeof(out), "", 0, &used);
    ok(n == 0 && used == 0 && out[0] == '\0', "empty input: empty string");

    /* a run of plain bytes is cut where the room ends */
    n = ps_json_escape_mem(out, 4, "abcdef", 6, &used);
    ok(n == 3 && used == 3 && strcmp(out, "abc") == 0,
       "plain bytes: as many as fit before the NUL");
    n = ps_json_escape_mem(out, sizeof(out), "/a\"b<c", 6, &used);
    ok(used == 6 && strcmp(out, "/a\\\"b\\u003Cc") == 0,
       "runs between escapes");
    n = ps_json_escape_mem(out, 1, "abc", 3, &used);
    ok(n == 0 && used == 0 && out[0] == '\0', "room for the NUL alone");
}


/* Strings of units of every kind, at every offset of an 8-byte word (the
 * plain runs are scanned 8 bytes at a time): the escape of each is known
 * alone, so the string's is their concatenation. */
static void
test_escape_units(void)
{
    static const struct {
        const char  *in;
        size_t       len;
        const char  *out;
    } units[] = {
        { "a", 1, "a" }, { "/", 1, "/" }, { " ", 1, " " }, { "~", 1, "~" },
        { "\"", 1, "\\\"" }, { "\\", 1, "\\\\" }, { "<", 1, "\\u003C" },
        { "\n", 1, "\\n" }, { "\x01", 1, "\\u0001" },
        { "\x1f", 1, "\\u001F" }, { "", 1, "\\u0000" },
        { "\x7f", 1, "\\u007F" }, { "\xff", 1, "\\\\xFF" },
        { "\xc3\xa9", 2, "\xc3\xa9" },
    };
    char      in[64], want[512], got[512];
    size_t    i, k, n, len, wlen, used;
    size_t    nunits = sizeof(units) / sizeof(units[0]);
    uint64_t  x = 7;
    int       bad = 0;

    for (i = 0; i < 20000; i++) {
        len = 0;
        wlen = 0;
        want[0] = '\0';
        n = (x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 59;
        while (n-- > 0) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            /* mostly plain: long runs with one special somewhere */
            k = (x >> 33) % 8 < 6 ? (x >> 40) % 4
                                  : (x >> 40) % nunits;
            memcpy(in + len, units[k].in, units[k].len);
            len += units[k].len;
            strcpy(want + wlen, units[k].out);
            wlen += strlen(units[k].out);
        }

        ps_json_escape_mem(got, sizeof(got), in, len, &used);
        bad += used != len || strcmp(got, want) != 0;
    }

    is_int(bad, 0, "20 000 strings of units of every kind: each unit "
           "escaped as it is alone");
}


/* random bytes, biased towards the interesting ones, always parse */
static void
test_random(void)
{
    int            bad;
    size_t         i, j, len;
    uint64_t       x;
    json_t        *s;
    ps_buf_t       b = PS_BUF_INIT;
    unsigned char  in[64];
    static const unsigned char  pick[] = {
        0x00, 0x01, 0x1F, '"', '\\', '/', 'a', 0x7F, 0x80, 0xBF, 0xC0, 0xC2,
        0xDF, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0xA0, 0x9F,
        0x8F, 0x90
    };

    bad = 0;
    x = 88172645463325252ULL;

    for (i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        len = x % sizeof(in);

        for (j = 0; j < len; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            in[j] = (x & 1) ? (unsigned char) (x >> 8)
                            : pick[(x >> 8) % sizeof(pick)];
        }

        ps_buf_reset(&b);
        ps_json_quote(&b, in, len);
        s = parse_string(b.data, b.len);
        if (s == NULL) {
            bad++;
        }
        json_decref(s);
    }

    is_int(bad, 0, "20000 random byte strings all give valid JSON");
    ps_buf_free(&b);
}


static json_t *
record_object(uint32_t ring, uint64_t pos, const ps_record_t *rec)
{
    json_t        *o;
    ps_buf_t       b = PS_BUF_INIT;
    json_error_t   err;

    if (ps_record_json(&b, ring, pos, rec) != 0) {
        ps_buf_free(&b);
        return NULL;
    }

    ok(memchr(b.data, '\n', b.len) == NULL, "record JSON is one line");

    o = json_loadb(b.data, b.len, 0, &err);
    if (o == NULL) {
        diag("jansson: %s in %s", err.text, b.data);
    }

    ps_buf_free(&b);

    return o;
}


/* a record and the room of the largest one after its header */
typedef union {
    ps_record_t  r;
    uint64_t     b[(PS_RECORD_MAX + 7) / 8];
} recbuf_t;


/* Lays out rb's variable part as the module does: address of rb's
 * addr_family, upstream time (with PS_REC_UPSTREAM in flags), strings. */
static void
lay_out(recbuf_t *rb, const void *addr, uint64_t upstream,
    const char *method, const char *host, const char *key)
{
    char      *p;
    uint32_t   ms;

    memset((char *) rb + sizeof(ps_record_t), 0,
           sizeof(*rb) - sizeof(ps_record_t));

    p = (char *) ps_record_addr(&rb->r);
    if (ps_record_addr_len(rb->r.addr_family) > 0) {   /* addr may be NULL */
        memcpy(p, addr, ps_record_addr_len(rb->r.addr_family));
    }
    p += ps_record_addr_len(rb->r.addr_family);

    rb->r.flags &= (uint8_t) ~PS_REC_UPSTREAM;
    if (upstream != PS_NO_UPSTREAM) {
        rb->r.flags |= PS_REC_UPSTREAM;
        ms = (uint32_t) (upstream / 1000);
        memcpy(p, &ms, 4);
        p += 4;
    }

    rb->r.method_len = (uint8_t) strlen(method);
    rb->r.host_len = (uint8_t) strlen(host);
    rb->r.key_len = (uint16_t) strlen(key);
    memcpy(p, method, rb->r.method_len);
    p += rb->r.method_len;
    memcpy(p, host, rb->r.host_len);
    p += rb->r.host_len;
    memcpy(p, key, rb->r.key_len);
}


static void
test_record(void)
{
    json_t       *o;
    recbuf_t      rb;
    uint8_t       a4[4], a6[16];
    char         *p;
    const char   *path = "/api/\"x\"\xFF";
    static const char  *keys[] = {
        "ring", "pos", "time", "time_us", "host", "method", "path", "status",
        "request_us", "upstream_us", "bytes_in", "bytes_out", "client",
        "key_truncated", "host_truncated", "normalized", "upgraded", NULL
    };
    int           i, have;

    memset(&rb, 0, sizeof(rb));
    rb.r.time_us = 1700000000123456ULL;
    rb.r.request_us = 1520;
    rb.r.bytes_in = 78;
    rb.r.bytes_out = 230;
    rb.r.status = 404;
    rb.r.addr_family = PS_AF_INET;
    inet_pton(AF_INET, "127.0.0.1", a4);
    rb.r.flags = PS_REC_KEY_TRUNCATED | PS_REC_UPGRADED;
    lay_out(&rb, a4, PS_NO_UPSTREAM, "GET", "example.com", path);

    o = record_object(3, 17, &rb.r);
    ok(o != NULL, "record parses");

    have = 0;
    for (i = 0; keys[i]; i++) {
        have += json_object_get(o, keys[i]) != NULL;
    }
    is_int(have, i, "all %d fields present", i);
    is_int((long long) json_object_size(o), i, "and no others");

    is_int(json_integer_value(json_object_get(o, "ring")), 3, "ring");
    is_int(json_integer_value(json_object_get(o, "pos")), 17, "pos");
    is_str(json_string_value(json_object_get(o, "time")),
           "2023-11-14T22:13:20.123456Z", "time in ISO 8601 with us");
    is_int(json_integer_value(json_object_get(o, "time_us")),
           1700000000123456LL, "time_us");
    is_str(json_string_value(json_object_get(o, "host")), "example.com",
           "host");
    is_str(json_string_value(json_object_get(o, "method")), "GET", "method");
    is_str(json_string_value(json_object_get(o, "path")), "/api/\"x\"\\xFF",
           "path with a quote and an invalid byte");
    is_int(json_integer_value(json_object_get(o, "status")), 404, "status");
    is_int(json_integer_value(json_object_get(o, "request_us")), 1520,
           "request_us");
    ok(json_is_null(json_object_get(o, "upstream_us")),
       "upstream_us null when not proxied");
    is_int(json_integer_value(json_object_get(o, "bytes_in")), 78,
           "bytes_in");
    is_int(json_integer_value(json_object_get(o, "bytes_out")), 230,
           "bytes_out");
    is_str(json_string_value(json_object_get(o, "client")), "127.0.0.1",
           "IPv4 client");
    ok(json_is_true(json_object_get(o, "key_truncated")), "key_truncated");
    ok(json_is_false(json_object_get(o, "host_truncated")),
       "host_truncated");
    ok(json_is_false(json_object_get(o, "normalized")), "normalized");
    ok(json_is_true(json_object_get(o, "upgraded")), "upgraded");
    json_decref(o);

    rb.r.addr_family = PS_AF_INET6;
    memset(a6, 0, sizeof(a6));
    a6[15] = 1;
    rb.r.flags = PS_REC_NORMALIZED | PS_REC_HOST_TRUNCATED;
    lay_out(&rb, a6, 900000, "GET", "example.com", path);
    o = record_object(0, 0, &rb.r);
    is_int(json_integer_value(json_object_get(o, "upstream_us")), 900000,
           "upstream_us when proxied (900 ms)");
    is_str(json_string_value(json_object_get(o, "client")), "::1",
           "IPv6 client");
    ok(json_is_true(json_object_get(o, "normalized"))
       && json_is_true(json_object_get(o, "host_truncated"))
       && json_is_false(json_object_get(o, "key_truncated")),
       "normalized and host_truncated flags");
    json_decref(o);

    /* a record with no address and lengths beyond the maxima */
    rb.r.addr_family = PS_AF_NONE;
    rb.r.flags = 0;
    lay_out(&rb, NULL, PS_NO_UPSTREAM, "", "", "");
    p = (char *) ps_record_method(&rb.r);
    memset(p, 'M', PS_METHOD_MAX);
    memset(p + PS_METHOD_MAX, 'h', PS_HOST_MAX);
    memset(p + PS_METHOD_MAX + PS_HOST_MAX, 'k', PS_KEY_MAX);
    rb.r.key_len = 60000;
    rb.r.host_len = 255;
    rb.r.method_len = 255;
    o = record_object(1, 2, &rb.r);
    ok(json_is_null(json_object_get(o, "client")), "no address: null");
    is_int((long long) strlen(json_string_value(json_object_get(o, "path"))),
           PS_KEY_MAX, "corrupt key_len is cut to the maximum");
    is_int((long long) strlen(json_string_value(json_object_get(o, "host"))),
           PS_HOST_MAX, "corrupt host_len is cut to the maximum");
    is_int((long long) strlen(json_string_value(json_object_get(o,
                                                                "method"))),
           PS_METHOD_MAX, "corrupt method_len is cut to the maximum");
    ok(strspn(json_string_value(json_object_get(o, "path")), "k")
       == PS_KEY_MAX, "  each string read where the cut lengths put it");
    json_decref(o);
}


int
main(void)
{
    test_sequence_lengths();
    test_cases();
    test_escape_mem();
    test_escape_units();
    test_random();
    test_record();

    return done_testing();
}
