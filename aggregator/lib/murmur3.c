/*
 * MurmurHash3 x64_128.  Blocks are read as little-endian words whatever
 * the host byte order, which is what the reference does on x86 and so
 * what postgresql-hll computes there.
 */

#include "lib/le.h"
#include "lib/murmur3.h"

#define C1  0x87c37b91114253d5ULL
#define C2  0x4cf5ad432745937fULL

static inline uint64_t
rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}


/* Final avalanche of one half. */
static inline uint64_t
fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}


void
ps_murmur3_x64_128(const void *key, size_t len, uint32_t seed,
    uint64_t out[2])
{
    const uint8_t  *p = key, *tail;
    size_t          nblocks, i, rest;
    uint64_t        h1, h2, k1, k2;

    h1 = seed;
    h2 = seed;
    nblocks = len / 16;

    for (i = 0; i < nblocks; i++) {
        k1 = ps_le64_get(p + 16 * i);
        k2 = ps_le64_get(p + 16 * i + 8);

        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;

        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }

    /* the last len % 16 bytes: bytes 8..15 into k2, 0..7 into k1 */
    tail = p + 16 * nblocks;
    rest = len & 15;
    k1 = 0;
    k2 = 0;

    for (i = rest; i > 8; i--) {
        k2 ^= (uint64_t) tail[i - 1] << (8 * (i - 9));
    }
    if (rest > 8) {
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
    }

    for (i = rest < 8 ? rest : 8; i > 0; i--) {
        k1 ^= (uint64_t) tail[i - 1] << (8 * (i - 1));
    }
    if (rest > 0) {
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
    }

    h1 ^= (uint64_t) len;
    h2 ^= (uint64_t) len;

    h1 += h2;
    h2 += h1;

    h1 = fmix64(h1);
    h2 = fmix64(h2);

    h1 += h2;
    h2 += h1;

    out[0] = h1;
    out[1] = h2;
}


uint64_t
ps_murmur3_hll_hash(const void *key, size_t len)
{
    uint64_t  out[2];

    ps_murmur3_x64_128(key, len, 0, out);

    return out[0];
}
