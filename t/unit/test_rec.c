/*
 * Unit tests for aggregator/ring/rec.c: what every output sees of a record's
 * strings (valid UTF-8 kept, NUL and invalid bytes as \xHH, other
 * control characters kept) and of its client address in each
 * client_address mode.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "lib/hour.h"
#include "lib/utf8.h"
#include "lib/murmur3.h"
#include "ring/rec.h"
#include "tap.h"


/* a record and the room of the largest one after its header */
typedef union {
    ps_record_t  r;
    uint64_t     b[(PS_RECORD_MAX + 7) / 8];
} recbuf_t;


/* r as the module lays it out: address af (4 or 16 bytes of addr), no
 * upstream time, "GET", "example.com" and key */
static void
build(ps_record_t *r, int af, const void *addr, const char *key, size_t klen)
{
    char  *p;

    memset(r, 0, PS_RECORD_MAX);
    r->time_us = 1795424400ULL * 1000000 + 1234567;   /* 2026-11-23 */
    r->status = 404;
    r->request_us = 1500;
    r->bytes_in = 77;
    r->bytes_out = 512;
    r->addr_family = (uint8_t) af;
    if (ps_record_addr_len(af) > 0) {          /* addr may be NULL then */
        memcpy((char *) ps_record_addr(r), addr, ps_record_addr_len(af));
    }
    r->method_len = 3;
    r->host_len = 11;
    r->key_len = (uint16_t) klen;
    p = (char *) ps_record_method(r);
    memcpy(p, "GET", 3);
    memcpy(p + 3, "example.com", 11);
    memcpy(p + 14, key, klen);
}


static void
make(recbuf_t *rb, const char *key, size_t klen)
{
    build(&rb->r, PS_AF_NONE, NULL, key, klen);
}


/* the same record with another address */
static void
set_addr(recbuf_t *rb, int af, const void *addr)
{
    char    key[PS_KEY_MAX];
    size_t  klen = rb->r.key_len;

    memcpy(key, ps_record_key(&rb->r), klen);
    build(&rb->r, af, addr, key, klen);
}


static void
test_strings(void)
{
    ps_rec_t          out;
    recbuf_t          rb;
    ps_rec_scratch_t  sc;
    char              big[PS_KEY_MAX];

    make(&rb, "/caf\xc3\xa9/\xf0\x9f\x98\x80", 11);
    ps_rec_decode(&out, &sc, 3, 42, &rb.r, PS_CLIENT_OFF, NULL);
    is_mem(out.path, out.path_len, "/caf\xc3\xa9/\xf0\x9f\x98\x80", 11,
           "valid UTF-8 passes unchanged");
    is_mem(out.host, out.host_len, "example.com", 11, "host");
    is_mem(out.method, out.method_len, "GET", 3, "method");
    is_int(out.ring, 3, "ring");
    is_u64(out.pos, 42, "pos");
    is_int(out.hour, 1795424400, "hour is the UTC hour start");
    is_int(out.status, 404, "status");
    is_u64(out.bytes_in, 77, "bytes_in");
    is_u64(out.bytes_out, 512, "bytes_out");
    is_u64(out.request_us, 1500, "request_us");
    ok(out.client == NULL && out.client_hash == NULL,
       "client_address off: no client");

    make(&rb, "/a\0b", 4);
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_OFF, NULL);
    is_mem(out.path, out.path_len, "/a\\x00b", 7, "NUL becomes \\x00");

    make(&rb, "/\xff\xc3(\xed\xa0\x80", 7);
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_OFF, NULL);
    is_mem(out.path, out.path_len, "/\\xFF\\xC3(\\xED\\xA0\\x80", 22,
           "invalid bytes, a cut sequence and a surrogate become \\xHH");

    make(&rb, "/t\tn\nr\r\x7f\\\"", 10);
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_OFF, NULL);
    is_mem(out.path, out.path_len, "/t\tn\nr\r\x7f\\\"", 10,
           "other control characters, quotes and backslashes kept");

    memset(big, 0xff, sizeof(big));
    make(&rb, big, sizeof(big));
    rb.r.key_len = 60000;                   /* hostile length: clamped */
    rb.r.host_len = 255;
    rb.r.method_len = 255;
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_OFF, NULL);
    /* every byte is then 0xff or past the record's strings (NUL): \xHH */
    is_int(out.path_len, 4 * PS_KEY_MAX, "worst case path fits, clamped");
    ok(out.host_len <= 4 * PS_HOST_MAX, "host length clamped to its "
       "maximum");
    is_int(out.method_len, 3 + 11 + 4 * 2,
           "method length clamped to its maximum (\"GETexample.com\" and "
           "two bytes of the key)");
}


static void
test_clients(void)
{
    ps_rec_t          out;
    recbuf_t          rb;
    ps_rec_scratch_t  sc;
    uint64_t          h1, h2;
    uint8_t           v4[4] = { 192, 168, 1, 77 }, v4t[4] = { 192, 168, 1 },
                      v6t[16], v6[16];

    make(&rb, "/", 1);
    set_addr(&rb, PS_AF_INET, v4);

    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_FULL, NULL);
    is_str(out.client, "192.168.1.77", "full IPv4: the address");
    ok(out.client_hash && *out.client_hash == ps_murmur3_hll_hash(v4, 4),
       "  hash of the 4 raw bytes (= hll_hash_bytea)");

    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_TRUNCATED, NULL);
    is_str(out.client, "192.168.1.0/24", "truncated IPv4: the /24");
    ok(out.client_hash && *out.client_hash == ps_murmur3_hll_hash(v4t, 4),
       "  hash of the truncated bytes");

    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_HASHED, "secret");
    h1 = *out.client_hash;
    is_int(strlen(out.client), 16, "hashed: 16 hex characters");
    ok(strspn(out.client, "0123456789abcdef") == 16, "  only hex digits");
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_HASHED, "secret");
    ok(*out.client_hash == h1, "  stable for one key");
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_HASHED, "other");
    h2 = *out.client_hash;
    ok(h1 != h2, "  another key, another hash");
    ok(h1 != ps_murmur3_hll_hash(v4, 4), "  not the plain address hash");

    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_OFF, NULL);
    ok(out.client == NULL && out.client_hash == NULL, "off: nothing");

    inet_pton(AF_INET6, "2001:db8:abcd:1234::1", v6);
    set_addr(&rb, PS_AF_INET6, v6);
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_FULL, NULL);
    is_str(out.client, "2001:db8:abcd:1234::1", "full IPv6");
    ok(*out.client_hash == ps_murmur3_hll_hash(v6, 16),
       "  hash of the 16 raw bytes");
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_TRUNCATED, NULL);
    is_str(out.client, "2001:db8:abcd::/48", "truncated IPv6: the /48");
    memset(v6t, 0, sizeof(v6t));
    memcpy(v6t, v6, 6);
    ok(*out.client_hash == ps_murmur3_hll_hash(v6t, 16),
       "  hash of the truncated bytes");

    set_addr(&rb, PS_AF_NONE, NULL);
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_FULL, NULL);
    ok(out.client == NULL && out.client_hash == NULL,
       "no address recorded: no client");
}


/* The byte-at-a-time rule: what the word-at-a-time fast path must do. */
static size_t
sanitise_ref(char *dst, const unsigned char *s, size_t len)
{
    static const char  hex[] = "0123456789ABCDEF";
    size_t             i, n, o = 0;

    for (i = 0; i < len; i += n) {
        n = s[i] == 0 ? 0 : ps_utf8_sequence(s + i, len - i);
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


static void
test_strings_random(void)
{
    static const unsigned char  alphabet[] = {
        'a', '/', '0', 'Z', 0x01, 0x7f, 0x00, 0x80, 0xc3, 0xa9, 0xe2, 0x82,
        0xac, 0xf0, 0x9f, 0xff, 0xed, 0xa0
    };
    ps_rec_t          out;
    recbuf_t          rb;
    ps_rec_scratch_t  sc;
    unsigned char     key[200];
    char              want[4 * sizeof(key)];
    uint64_t          x = 0x9e3779b97f4a7c15ULL;
    size_t            len, i, wlen;
    int               round, same = 1;

    for (round = 0; round < 5000; round++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        len = x % sizeof(key);
        for (i = 0; i < len; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            /* mostly ASCII, so that long clean runs occur */
            key[i] = (x & 7) ? (unsigned char) ('a' + (x >> 8) % 26)
                             : alphabet[(x >> 8) % sizeof(alphabet)];
        }
        make(&rb, (const char *) key, len);
        ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_OFF, NULL);
        wlen = sanitise_ref(want, key, len);
        if (out.path_len != wlen || memcmp(out.path, want, wlen) != 0) {
            same = 0;
        }
    }

    ok(same, "5000 random keys sanitised as byte by byte");

    /* plain keys of every length up to 40, then each with one byte that
     * is not plain at each place: the whole-key check must see it */
    same = 1;
    for (len = 0; len <= 40; len++) {
        for (i = 0; i <= len; i++) {
            for (round = 0; round < 4; round++) {
                memset(key, 'a' + (int) (len % 26), len);
                if (i < len) {
                    key[i] = (const unsigned char []) { 0x00, 0x80, 0xff,
                                                        0xc3 }[round];
                } else if (round > 0) {
                    break;
                }
                make(&rb, (const char *) key, len);
                ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_OFF, NULL);
                wlen = sanitise_ref(want, key, len);
                if (out.path_len != wlen
                    || memcmp(out.path, want, wlen) != 0)
                {
                    same = 0;
                }
            }
        }
    }

    ok(same, "keys of 0..40 bytes, one byte not plain at every place");
}


/* The aggregator formats IPv4 and the hashed text itself: the same
 * text as inet_ntop() and "%016llx". */
static void
test_client_text(void)
{
    static const uint8_t  addrs[][4] = {
        { 0, 0, 0, 0 }, { 255, 255, 255, 255 }, { 10, 0, 100, 9 },
        { 1, 20, 199, 200 }, { 99, 100, 101, 7 }, { 127, 0, 0, 1 }
    };
    ps_rec_t          out;
    recbuf_t          rb;
    ps_rec_scratch_t  sc;
    char              want[64];
    size_t            i;
    int               same = 1;

    make(&rb, "/", 1);

    for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        set_addr(&rb, PS_AF_INET, addrs[i]);
        ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_FULL, NULL);
        inet_ntop(AF_INET, addrs[i], want, sizeof(want));
        if (strcmp(out.client, want) != 0) {
            diag("got %s, want %s", out.client, want);
            same = 0;
        }
    }
    ok(same, "IPv4 text as inet_ntop's");

    set_addr(&rb, PS_AF_INET, addrs[1]);
    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_TRUNCATED, NULL);
    is_str(out.client, "255.255.255.0/24", "truncated 255.255.255.255");

    ps_rec_decode(&out, &sc, 0, 0, &rb.r, PS_CLIENT_HASHED, "k");
    snprintf(want, sizeof(want), "%016llx",
             (unsigned long long) *out.client_hash);
    is_str(out.client, want, "hashed text: 16 hex digits of the hash");
}


int
main(void)
{
    test_strings();
    test_strings_random();
    test_clients();
    test_client_text();

    return done_testing();
}
