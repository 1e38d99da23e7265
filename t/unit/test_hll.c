/*
 * Unit tests for aggregator/lib/murmur3.c and aggregator/lib/hll.c.  The golden
 * values were computed by PostgreSQL 15 with postgresql-hll 2.17
 * (hll_hash_bytea, hll_add_agg, hll_cardinality); t/tools/hll-check.sh
 * repeats the comparison against a live server.  Prints TAP.
 */

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hll.h"
#include "lib/murmur3.h"
#include "tap.h"

/* the address list of t/tools/hll-check.sh: 3 of 4 IPv4, 1 of 4 IPv6 */
static uint64_t
addr_hash(uint64_t i)
{
    uint8_t  a[16];

    if (i % 4 == 3) {
        memset(a, 0, 16);
        a[0] = 0x20; a[1] = 0x01; a[2] = 0x0d; a[3] = 0xb8;
        a[12] = (uint8_t) (i >> 24); a[13] = (uint8_t) (i >> 16);
        a[14] = (uint8_t) (i >> 8);  a[15] = (uint8_t) i;
        return ps_murmur3_hll_hash(a, 16);
    }

    a[0] = 10; a[1] = (uint8_t) (i >> 16);
    a[2] = (uint8_t) (i >> 8); a[3] = (uint8_t) i;
    return ps_murmur3_hll_hash(a, 4);
}

static void
build(ps_hll_t *h, uint64_t from, uint64_t n)
{
    uint64_t  i;

    for (i = from; i < from + n; i++) {
        ps_hll_add_hash(h, addr_hash(i));
    }
}

static void
test_murmur3(void)
{
    static const uint8_t v4[] = { 127, 0, 0, 1 };
    static const uint8_t v6[] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 1 };
    static const char    s31[] = "hello world, this is 31 bytes..";
    uint8_t              buf[40];
    uint64_t             out[2], h, prev;
    size_t               len;
    int                  distinct = 1;

    ok(ps_murmur3_hll_hash(v4, 4) == 3370802529007389742ULL,
       "murmur3 of 127.0.0.1 = hll_hash_bytea('\\x7f000001')");
    ok(ps_murmur3_hll_hash(v6, 16) == 7690651592769139653ULL,
       "murmur3 of 2001:db8::1 (one full block) = hll_hash_bytea");
    ok(ps_murmur3_hll_hash(s31, 31) == 6765678201639720520ULL,
       "murmur3 of 31 bytes (block + 15-byte tail) = hll_hash_bytea");
    ok(ps_murmur3_hll_hash("", 0) == 0, "murmur3 of no bytes, seed 0 = 0");
    ok((int64_t) ps_murmur3_hll_hash("\x01\x00\x00\x00", 4)
       == -8604791237420463362LL, "murmur3 of int 1 = hll_hash_integer(1)");

    ps_murmur3_x64_128(v4, 4, 0, out);
    ok(out[0] == ps_murmur3_hll_hash(v4, 4),
       "hll hash is the first half of x64_128");

    /* every tail length gives a different hash; the seed matters */
    memset(buf, 0xab, sizeof(buf));
    prev = 1;
    for (len = 0; len <= 33; len++) {
        h = ps_murmur3_hll_hash(buf, len);
        distinct &= h != prev;
        prev = h;
    }
    ok(distinct, "lengths 0..33 all hash differently");
    ps_murmur3_x64_128(v4, 4, 1, out);
    ok(out[0] != ps_murmur3_hll_hash(v4, 4), "seed changes the hash");
}

static void
hex_is(const uint8_t *b, size_t len, const char *want, const char *name)
{
    char    got[2 * PS_HLL_MAX_BYTES + 1];
    size_t  i;

    for (i = 0; i < len; i++) {
        sprintf(got + 2 * i, "%02x", b[i]);
    }
    got[2 * len] = '\0';

    if (!ok(strcmp(got, want) == 0, "%s", name)) {
        printf("#   got: %s\n#  want: %s\n", got, want);
    }
}

static void
test_small(void)
{
    ps_hll_t  h;
    uint8_t   buf[PS_HLL_MAX_BYTES];
    size_t    len;
    static const uint8_t a0[] = { 10, 0, 0, 0 }, a1[] = { 10, 0, 0, 1 },
                         a2[] = { 10, 0, 0, 2 };

    ps_hll_init(&h);
    ok(ps_hll_cardinality(&h) == 0.0, "empty set: cardinality 0");
    len = ps_hll_serialize(&h, buf, sizeof(buf));
    hex_is(buf, len, "118b7f", "empty set = hll_empty() = \\x118b7f");
    ok(ps_hll_mem(&h) == 0, "empty set uses no heap");

    ps_hll_add_hash(&h, ps_murmur3_hll_hash(a2, 4));
    ps_hll_add_hash(&h, ps_murmur3_hll_hash(a0, 4));
    ps_hll_add_hash(&h, ps_murmur3_hll_hash(a1, 4));
    ps_hll_add_hash(&h, ps_murmur3_hll_hash(a1, 4));
    ok(ps_hll_cardinality(&h) == 3.0, "3 addresses, one twice: exactly 3");
    len = ps_hll_serialize(&h, buf, sizeof(buf));
    hex_is(buf, len,
           "128b7f8a4a53b6d8327a4fb3b5306c412ca5052c98c8925c9ed052",
           "EXPLICIT bytes = SQL hll_add_agg of 10.0.0.0-2 (signed order)");
    ok(ps_hll_serialize(&h, buf, len - 1) == 0, "too small a buffer: 0");
    ok(ps_hll_mem(&h) == 8 * 8, "3 hashes use the first array, 8 slots (64 bytes)");

    ps_hll_free(&h);
}

static void
test_promotion(void)
{
    ps_hll_t  h;
    uint8_t   buf[PS_HLL_MAX_BYTES];
    size_t    len;

    ps_hll_init(&h);
    build(&h, 0, 160);
    ok(h.type == PS_HLL_EXPLICIT && ps_hll_cardinality(&h) == 160.0,
       "160 distinct: still explicit, exactly 160");
    len = ps_hll_serialize(&h, buf, sizeof(buf));
    ok(len == 3 + 160 * 8 && buf[0] == 0x12, "160 serialise as EXPLICIT");

    build(&h, 0, 160);
    ok(h.type == PS_HLL_EXPLICIT, "re-adding the same 160 keeps it explicit");

    build(&h, 160, 1);
    ok(h.type == PS_HLL_FULL && ps_hll_mem(&h) == PS_HLL_REGISTERS,
       "the 161st distinct hash promotes to 2048 registers");
    ok(ps_hll_cardinality(&h) == 160.09771502259153,
       "161 addresses: hll_cardinality's 160.09771502259153");
    len = ps_hll_serialize(&h, buf, sizeof(buf));
    ok(buf[0] == 0x13 && len < PS_HLL_MAX_BYTES, "161 serialise as SPARSE");
    ps_hll_free(&h);
}

static void
test_golden(void)
{
    static const struct { uint64_t n; double card; uint8_t type; } g[] = {
        { 300, 303.40424703076997, 0x13 },
        { 1000, 1019.3473070296892, 0x14 },
        { 100000, 101924.57996214628, 0x14 },
    };
    ps_hll_t  h, d;
    uint8_t   buf[PS_HLL_MAX_BYTES], buf2[PS_HLL_MAX_BYTES];
    size_t    i, len, len2;
    uint32_t  k;

    for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        ps_hll_init(&h);
        ps_hll_init(&d);
        build(&h, 0, g[i].n);
        ok(ps_hll_cardinality(&h) == g[i].card,
           "%" PRIu64 " addresses: cardinality %.17g as in PostgreSQL",
           g[i].n, g[i].card);
        len = ps_hll_serialize(&h, buf, sizeof(buf));
        ok(buf[0] == g[i].type, "%" PRIu64 " addresses: type byte %02x",
           g[i].n, g[i].type);
        ok(ps_hll_deserialize(&d, buf, len) == 0
           && ps_hll_cardinality(&d) == g[i].card,
           "%" PRIu64 " addresses: deserialised, same cardinality", g[i].n);
        len2 = ps_hll_serialize(&d, buf2, sizeof(buf2));
        ok(len == len2 && memcmp(buf, buf2, len) == 0,
           "%" PRIu64 " addresses: re-serialises to the same bytes", g[i].n);
        ps_hll_free(&h);
        ps_hll_free(&d);
    }

    /* hll_add_agg(hll_hash_integer(i)) for i in 1..2000000 */
    ps_hll_init(&h);
    for (k = 1; k <= 2000000; k++) {
        ps_hll_add_hash(&h, ps_murmur3_hll_hash(&k, 4));
    }
    ok(ps_hll_cardinality(&h) == 1986593.1916746714,
       "2e6 integers: cardinality 1986593.1916746714 as in PostgreSQL");
    ps_hll_free(&h);
}

/* One hash is held in the struct, without memory; the second moves it
 * into the first array; and a set of one survives a round trip. */
static void
test_inline(void)
{
    ps_hll_t  h, d;
    uint8_t   buf[PS_HLL_MAX_BYTES], again[PS_HLL_MAX_BYTES];
    size_t    len, len2;

    ps_hll_init(&h);
    ps_hll_add_hash(&h, addr_hash(7));
    ok(ps_hll_cardinality(&h) == 1.0 && ps_hll_mem(&h) == 0,
       "one hash: cardinality 1, no heap");
    ps_hll_add_hash(&h, addr_hash(7));
    ok(ps_hll_cardinality(&h) == 1.0 && ps_hll_mem(&h) == 0,
       "  the same hash again: still 1, no heap");

    len = ps_hll_serialize(&h, buf, sizeof(buf));
    ps_hll_init(&d);
    ok(len == 3 + 8 && ps_hll_deserialize(&d, buf, len) == 0
       && ps_hll_mem(&d) == 0 && ps_hll_cardinality(&d) == 1.0,
       "  serialized as EXPLICIT of one, read back into the struct");
    len2 = ps_hll_serialize(&d, again, sizeof(again));
    ok(len2 == len && memcmp(buf, again, len) == 0, "  the same bytes");

    ps_hll_add_hash(&h, addr_hash(3));
    ps_hll_add_hash(&d, addr_hash(3));
    ok(ps_hll_cardinality(&h) == 2.0 && ps_hll_mem(&h) == 8 * 8,
       "a second hash: both in the first array (64 bytes)");
    len = ps_hll_serialize(&h, buf, sizeof(buf));
    len2 = ps_hll_serialize(&d, again, sizeof(again));
    ok(len == 3 + 16 && len2 == len && memcmp(buf, again, len) == 0,
       "  in signed order, however the first was made");

    ps_hll_free(&h);
    ps_hll_free(&d);
}

/* h (reset, then filled as told) against a fresh set filled the same:
 * 1 when they serialise to the same bytes and count the same */
static int
same_as_fresh(const ps_hll_t *h, uint64_t from, uint64_t n,
    const ps_hll_t *merged)
{
    ps_hll_t  f;
    uint8_t   a[PS_HLL_MAX_BYTES], b[PS_HLL_MAX_BYTES];
    size_t    la, lb;
    double    c;

    ps_hll_init(&f);
    build(&f, from, n);
    if (merged != NULL && ps_hll_merge(&f, merged) != 0) {
        bail_out("out of memory");
    }
    la = ps_hll_serialize(h, a, sizeof(a));
    lb = ps_hll_serialize(&f, b, sizeof(b));
    c = ps_hll_cardinality(&f);
    ps_hll_free(&f);

    return la == lb && memcmp(a, b, la) == 0 && ps_hll_cardinality(h) == c;
}

static void
test_reset(void)
{
    ps_hll_t  h, src, e;
    uint8_t   buf[PS_HLL_MAX_BYTES], empty[PS_HLL_MAX_BYTES];
    size_t    len, elen;
    void     *array;

    ps_hll_init(&h);
    ps_hll_init(&e);
    elen = ps_hll_serialize(&e, empty, sizeof(empty));

    build(&h, 0, 20);
    array = h.data;
    ps_hll_reset(&h);
    len = ps_hll_serialize(&h, buf, sizeof(buf));
    ok(ps_hll_cardinality(&h) == 0.0 && len == elen
       && memcmp(buf, empty, len) == 0,
       "reset: empty, serialised as the empty set");
    is_u64(ps_hll_mem(&h), 32 * 8, "  its array of 32 kept");

    build(&h, 100, 30);
    ok(h.data == array && same_as_fresh(&h, 100, 30, NULL)
       && ps_hll_cardinality(&h) == 30.0,
       "30 hashes after it: in the same array, as a fresh set");

    ps_hll_reset(&h);
    build(&h, 200, 3);
    ps_hll_init(&src);
    build(&src, 300, 150);
    ok(ps_hll_merge(&h, &src) == 0 && same_as_fresh(&h, 200, 3, &src)
       && ps_hll_cardinality(&h) == 153.0,
       "a merge after a reset: 153, as a fresh set");

    ps_hll_reset(&h);
    ok(ps_hll_merge(&h, &src) == 0 && same_as_fresh(&h, 0, 0, &src),
       "a merge into a reset set: as into a fresh one");
    build(&h, 1000, 20);
    ok(h.type == PS_HLL_FULL && same_as_fresh(&h, 1000, 20, &src),
       "  past 160 hashes: registers, as a fresh set");

    ps_hll_reset(&h);
    ok(h.type == PS_HLL_EMPTY && ps_hll_mem(&h) == 0,
       "registers are not kept: an empty set of no memory");

    ps_hll_reset(&h);
    build(&h, 0, 1);
    ok(ps_hll_mem(&h) == 0 && ps_hll_cardinality(&h) == 1.0,
       "one hash: in the struct");
    ps_hll_reset(&h);
    build(&h, 7, 2);
    ok(same_as_fresh(&h, 7, 2, NULL), "  reset, two: as a fresh set");

    len = ps_hll_serialize(&src, buf, sizeof(buf));
    ps_hll_reset(&h);
    ok(ps_hll_deserialize(&h, buf, len) == 0
       && same_as_fresh(&h, 0, 0, &src),
       "read into a reset set: the set read");

    ps_hll_free(&h);
    ps_hll_free(&src);
}

static void
test_merge(void)
{
    ps_hll_t  a, b, all, e;
    uint8_t   ba[PS_HLL_MAX_BYTES], ball[PS_HLL_MAX_BYTES];
    size_t    la, lall;
    static const struct { uint64_t na, nb, off; } c[] = {
        { 10, 10, 5 }, { 100, 60, 90 }, { 100, 100, 50 }, { 160, 1, 0 },
        { 120, 120, 100 },
        { 50, 1000, 25 }, { 1000, 50, 25 }, { 5000, 3000, 4000 },
        { 0, 10, 0 }, { 10, 0, 0 },
        /* a set of one hash, held in the struct (PS_HLL_INLINE) */
        { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 }, { 1, 1, 1 }, { 1, 2, 1 },
        { 2, 1, 5 }, { 1, 3000, 0 }, { 3000, 1, 0 }, { 1, 160, 1 },
        { 160, 1, 500 },
    };
    size_t    i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        ps_hll_init(&a);
        ps_hll_init(&b);
        ps_hll_init(&all);
        build(&a, 0, c[i].na);
        build(&b, c[i].off, c[i].nb);
        build(&all, 0, c[i].na);
        build(&all, c[i].off, c[i].nb);
        ok(ps_hll_merge(&a, &b) == 0, "merge %" PRIu64 " + %" PRIu64
           " returns 0", c[i].na, c[i].nb);
        la = ps_hll_serialize(&a, ba, sizeof(ba));
        lall = ps_hll_serialize(&all, ball, sizeof(ball));
        ok(la == lall && memcmp(ba, ball, la) == 0
           && ps_hll_cardinality(&a) == ps_hll_cardinality(&all),
           "merge of [0,%" PRIu64 ") and [%" PRIu64 ",%" PRIu64
           ") = adding all (card %.1f)", c[i].na, c[i].off,
           c[i].off + c[i].nb, ps_hll_cardinality(&a));
        ps_hll_free(&a);
        ps_hll_free(&b);
        ps_hll_free(&all);
    }

    ps_hll_init(&a);
    ps_hll_init(&e);
    build(&a, 0, 10);
    ok(ps_hll_merge(&a, &a) == 0 && ps_hll_cardinality(&a) == 10.0,
       "merge with itself changes nothing");
    ok(ps_hll_merge(&a, &e) == 0 && ps_hll_cardinality(&a) == 10.0,
       "merge with empty changes nothing");
    ps_hll_free(&a);
}

static void
test_accuracy(void)
{
    ps_hll_t  h;
    uint64_t  n;
    double    err, worst = 0;
    int       good = 1;

    /* 3 standard errors: 3 * 1.04 / sqrt(2048) = 6.9 % */
    for (n = 200; n <= 1000000; n *= 5) {
        ps_hll_init(&h);
        build(&h, 1000000, n);
        err = fabs(ps_hll_cardinality(&h) - (double) n) / (double) n;
        good &= err < 0.069;
        if (err > worst) {
            worst = err;
        }
        ps_hll_free(&h);
    }
    ok(good, "200 .. 625000 distinct: within 6.9%% (worst %.2f%%)",
       worst * 100);
}

static void
test_deserialize_rejects(void)
{
    ps_hll_t  h;
    uint8_t   full[PS_HLL_MAX_BYTES + 1];
    size_t    i;
    static const struct { const char *name; uint8_t b[24]; size_t len; }
    bad[] = {
        { "nothing", { 0 }, 0 },
        { "2 bytes", { 0x11, 0x8b }, 2 },
        { "schema version 2", { 0x21, 0x8b, 0x7f }, 3 },
        { "schema version 0", { 0x01, 0x8b, 0x7f }, 3 },
        { "log2m 12", { 0x11, 0x8c, 0x7f }, 3 },
        { "regwidth 6", { 0x11, 0xab, 0x7f }, 3 },
        { "sparse off", { 0x11, 0x8b, 0x3f }, 3 },
        { "expthresh 0", { 0x11, 0x8b, 0x40 }, 3 },
        { "undefined type", { 0x10, 0x8b, 0x7f }, 3 },
        { "type 5", { 0x15, 0x8b, 0x7f }, 3 },
        { "EMPTY with data", { 0x11, 0x8b, 0x7f, 0 }, 4 },
        { "EXPLICIT with 7 bytes", { 0x12, 0x8b, 0x7f, 1, 2, 3, 4, 5, 6, 7 },
          10 },
        { "EXPLICIT duplicate", { 0x12, 0x8b, 0x7f, 0, 0, 0, 0, 0, 0, 0, 1,
                                  0, 0, 0, 0, 0, 0, 0, 1 }, 19 },
        { "EXPLICIT descending", { 0x12, 0x8b, 0x7f, 0, 0, 0, 0, 0, 0, 0, 2,
                                   0, 0, 0, 0, 0, 0, 0, 1 }, 19 },
        { "EXPLICIT unsigned order", { 0x12, 0x8b, 0x7f, 0, 0, 0, 0, 0, 0,
                                       0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0 },
          19 },
        { "SPARSE odd length", { 0x13, 0x8b, 0x7f, 0x00, 0x21, 0x01 }, 6 },
        { "SPARSE descending", { 0x13, 0x8b, 0x7f, 0x00, 0x41, 0x00, 0x21 },
          7 },
        { "SPARSE duplicate", { 0x13, 0x8b, 0x7f, 0x00, 0x21, 0x00, 0x22 },
          7 },
        { "FULL too short", { 0x14, 0x8b, 0x7f, 0 }, 4 },
    };

    ps_hll_init(&h);
    build(&h, 0, 5);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(ps_hll_deserialize(&h, bad[i].b, bad[i].len) == -1
           && ps_hll_cardinality(&h) == 5.0,
           "deserialize rejects %s, set unchanged", bad[i].name);
    }

    memset(full, 0, sizeof(full));
    full[0] = 0x14; full[1] = 0x8b; full[2] = 0x7f;
    ok(ps_hll_deserialize(&h, full, PS_HLL_MAX_BYTES + 1) == -1,
       "deserialize rejects FULL one byte too long");
    ok(ps_hll_deserialize(&h, full, PS_HLL_MAX_BYTES) == 0
       && h.type == PS_HLL_FULL && ps_hll_cardinality(&h) == 0.0,
       "all-zero FULL is accepted: cardinality 0");

    /* 161 explicit values is more than these parameters ever produce */
    {
        uint8_t  big[3 + 161 * 8];
        size_t   j;

        big[0] = 0x12; big[1] = 0x8b; big[2] = 0x7f;
        for (j = 0; j < 161; j++) {
            memset(big + 3 + 8 * j, 0, 8);
            big[3 + 8 * j + 7] = (uint8_t) j;
            big[3 + 8 * j + 6] = (uint8_t) (j >> 8);
        }
        ok(ps_hll_deserialize(&h, big, sizeof(big) - 8) == 0
           && ps_hll_cardinality(&h) == 160.0, "EXPLICIT of 160 accepted");
        ok(ps_hll_deserialize(&h, big, sizeof(big)) == -1,
           "EXPLICIT of 161 rejected");
    }

    ok(ps_hll_deserialize(&h, (const uint8_t *) "\x11\x8b\x7f", 3) == 0
       && h.type == PS_HLL_EMPTY && ps_hll_cardinality(&h) == 0.0,
       "EMPTY accepted");
    ok(ps_hll_deserialize(&h, (const uint8_t *) "\x13\x8b\x7f\x00\x21", 5)
       == 0 && ps_hll_cardinality(&h) > 0.9
       && ps_hll_cardinality(&h) < 1.1, "SPARSE of one register accepted");

    ps_hll_free(&h);
}

int
main(void)
{
    test_murmur3();
    test_small();
    test_inline();
    test_promotion();
    test_golden();
    test_merge();
    test_reset();
    test_accuracy();
    test_deserialize_rejects();

    return done_testing();
}
