/*
 * Raw bytes as text: see utf8.h for the rules.
 */

#include <stdint.h>
#include <string.h>

#include "lib/utf8.h"

static const char  hex[] = "0123456789ABCDEF";


size_t
ps_utf8_sequence(const unsigned char *p, size_t len)
{
    unsigned char  c, lo, hi;
    size_t         n, i;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    /* the allowed range of the second byte excludes overlong forms,
     * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..) */

    lo = 0x80;
    hi = 0xBF;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;

    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }

    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }

    } else {
        return 0;
    }

    if (len < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }

    return n;
}


/*
 * Writes the escaped form of the unit at src (one ASCII byte, one UTF-8
 * sequence or one invalid byte) into out (at least 7 bytes); returns its
 * length and sets *used to the input bytes it covers.
 */
static size_t
escape_unit(char *out, const unsigned char *src, size_t len, size_t *used)
{
    unsigned char  c;
    size_t         n;

    c = src[0];
    *used = 1;

    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\' && c != '<') {
        out[0] = (char) c;
        return 1;
    }

    out[0] = '\\';

    switch (c) {
    case '"':  out[1] = '"';  return 2;
    case '\\': out[1] = '\\'; return 2;
    case '\b': out[1] = 'b';  return 2;
    case '\f': out[1] = 'f';  return 2;
    case '\n': out[1] = 'n';  return 2;
    case '\r': out[1] = 'r';  return 2;
    case '\t': out[1] = 't';  return 2;
    }

    if (c < 0x80) {
        /* other control characters, DEL, and '<': no "</script>" or
         * "<!--" in JSON that a page might embed */
        memcpy(out + 1, "u00", 3);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0xF];
        return 6;
    }

    n = ps_utf8_sequence(src, len);

    if (n == 0) {
        /* the text \xHH, its backslash escaped for JSON */
        out[1] = '\\';
        out[2] = 'x';
        out[3] = hex[c >> 4];
        out[4] = hex[c & 0xF];
        return 5;
    }

    *used = n;

    /* U+2028 and U+2029 (E2 80 A8/A9) end a line in JavaScript */
    if (n == 3 && c == 0xE2 && src[1] == 0x80
        && (src[2] == 0xA8 || src[2] == 0xA9))
    {
        memcpy(out + 1, src[2] == 0xA8 ? "u2028" : "u2029", 5);
        return 6;
    }

    memcpy(out, src, n);

    return n;
}


#define ONES   0x0101010101010101ULL
#define HIGHS  0x8080808080808080ULL

/* a top bit in each byte of v that is 0 (and maybe in a byte above
 * one): nothing exactly when no byte of v is 0 */
#define ZERO_BYTES(v)  (((v) - ONES) & ~(v) & HIGHS)


/* Whether one of the 8 bytes of w needs an escape in JSON (a control
 * character, DEL or above, '"', '\\', '<'): the bytes of a path are
 * looked at 8 at a time. */
static int
json_special8(uint64_t w)
{
    return (((((w - 0x20 * ONES) & ~w)                 /* below 0x20 */
              | ((w + ONES) | w))                      /* above 0x7E */
             & HIGHS)
            | ZERO_BYTES(w ^ ('"' * ONES))
            | ZERO_BYTES(w ^ ('\\' * ONES))
            | ZERO_BYTES(w ^ ('<' * ONES))) != 0;
}


size_t
ps_json_escape_mem(char *dst, size_t cap, const void *src, size_t len,
    size_t *consumed)
{
    char                  unit[8];
    size_t                i, o, n, used;
    uint64_t              w;
    const unsigned char  *s = src;

    i = 0;
    o = 0;

    while (i < len) {
        /* a run of bytes that stand for themselves (most of a path),
         * copied at once, as far as there is room */
        for (n = i; n + 8 <= len; n += 8) {
            memcpy(&w, s + n, 8);
            if (json_special8(w)) {
                break;
            }
        }

        for ( /* void */ ;
             n < len && s[n] >= 0x20 && s[n] < 0x7F && s[n] != '"'
             && s[n] != '\\' && s[n] != '<';
             n++)
        {
            /* void */
        }

        if (n > i) {
            if (o + (n - i) + 1 > cap) {
                n = i + (cap > o + 1 ? cap - o - 1 : 0);
                if (n == i) {
                    break;
                }
            }
            memcpy(dst + o, s + i, n - i);
            o += n - i;
            i = n;
            continue;
        }

        n = escape_unit(unit, s + i, len - i, &used);

        if (o + n + 1 > cap) {
            break;
        }

        memcpy(dst + o, unit, n);
        o += n;
        i += used;
    }

    if (cap) {
        dst[o] = '\0';
    }

    *consumed = i;

    return o;
}


/* The bits of a word set in a byte that is 0 or >= 0x80, and only if
 * there is one: none is 0 and none >= 0x80 exactly when no byte of
 * (w - 0x01..) | w has its top bit set. */
#define NOT_PLAIN(w)  ((((w) - 0x0101010101010101ULL) | (w)) \
                       & 0x8080808080808080ULL)

/* 1 when every one of the len (> 0) bytes at s is ASCII and none is
 * NUL: a word at a time, the last word overlapping the one before, and a
 * short string read as one word (no loop, no byte at a time). */
static inline int
plain(const unsigned char *s, size_t len)
{
    uint64_t  w;
    uint32_t  lo, hi;
    size_t    i;

    if (len >= 8) {
        for (i = 0; i + 8 < len; i += 8) {
            memcpy(&w, s + i, 8);
            if (NOT_PLAIN(w)) {
                return 0;
            }
        }
        memcpy(&w, s + len - 8, 8);

    } else if (len >= 4) {
        memcpy(&lo, s, 4);
        memcpy(&hi, s + len - 4, 4);
        w = (uint64_t) lo | (uint64_t) hi << 32;

    } else {
        /* the bytes above the three read: plain ones (0x01) */
        w = (uint64_t) s[0] | (uint64_t) s[len / 2] << 8
            | (uint64_t) s[len - 1] << 16 | 0x0101010101000000ULL;
    }

    return NOT_PLAIN(w) == 0;
}


size_t
ps_utf8_sanitise(char *dst, const void *src, size_t len, int keep_nul)
{
    size_t                i, n, o;
    uint64_t              w;
    const unsigned char  *s = src;

    if (len == 0) {
        return 0;
    }

    /* most keys, hosts and methods: plain ASCII, copied as they are */
    if (plain(s, len)) {
        memcpy(dst, s, len);
        return len;
    }

    for (i = 0, o = 0; i < len; i += n) {

        /* fast path: a run of ASCII (NUL excluded) is copied as is;
         * 8 bytes at a time: none is 0 and none >= 0x80 exactly when
         * no byte of (w - 0x01..) | w has its top bit set */
        for (n = i; n + 8 <= len; n += 8) {
            memcpy(&w, s + n, 8);
            if (NOT_PLAIN(w)) {
                break;
            }
        }

        for ( /* void */ ; n < len && (unsigned char) (s[n] - 1) < 0x7f;
             n++)
        {
            /* void */
        }

        if (n > i) {
            memcpy(dst + o, s + i, n - i);
            o += n - i;
            n -= i;
            continue;
        }

        n = (s[i] == '\0' && !keep_nul) ? 0
                                         : ps_utf8_sequence(s + i, len - i);

        if (n == 0) {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[s[i] >> 4];
            dst[o++] = hex[s[i] & 0xF];
            n = 1;
            continue;
        }

        memcpy(dst + o, s + i, n);
        o += n;
    }

    return o;
}
