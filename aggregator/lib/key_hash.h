/*
 * Key hash: the one 64-bit hash of a (host, method, path) key that the
 * pipeline computes once per record and hands to the key limit, the
 * flush tables and the windows (ps_rec_t.key_hash), each of which used to
 * hash the key again; and the same mixing for any other short string an
 * in-memory table keys by (ps_bytes_hash()).  In memory only: nothing
 * stored depends on it.
 *
 * Multiply-rotate over 8-byte words, each part's length mixed into its
 * last word (so "ab"+"c" and "a"+"bc" differ), and a final avalanche, as
 * the tables index by the low bits and tag by the high ones.  Never 0, so
 * that 0 can mark an empty slot.
 */

#ifndef PS_KEY_HASH_H
#define PS_KEY_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PS_KEY_SEED   0x243f6a8885a308d3ULL     /* ps_key_hash() */
#define PS_KEY_SEED2  0x452821e638d01377ULL     /* ps_key_hash2() */


static inline uint64_t
ps_key_mix(uint64_t h, uint64_t v)
{
    h ^= v * 0x9e3779b97f4a7c15ULL;
    h = (h << 29) | (h >> 35);
    return h * 0xbf58476d1ce4e5b9ULL;
}


/* The tail of a part: its last 0..7 bytes and its length, as one word
 * (without a variable-length memcpy). */
static inline uint64_t
ps_key_tail(const char *p, size_t left, size_t len)
{
    uint64_t        w;
    uint32_t        lo, hi;
    const uint8_t  *u = (const uint8_t *) p;

    w = (uint64_t) len << 56;

    if (left >= 4) {
        memcpy(&lo, u, 4);
        memcpy(&hi, u + left - 4, 4);
        w ^= (uint64_t) lo | (uint64_t) hi << 32;

    } else if (left > 0) {
        w ^= (uint64_t) u[0] | (uint64_t) u[left / 2] << 8
             | (uint64_t) u[left - 1] << 16;
    }

    return w;
}


static inline uint64_t
ps_key_hash_part(uint64_t h, const char *p, size_t len)
{
    uint64_t  w;
    size_t    left;

    for (left = len; left >= 8; left -= 8, p += 8) {
        memcpy(&w, p, 8);
        h = ps_key_mix(h, w);
    }

    return ps_key_mix(h, ps_key_tail(p, left, len));
}


/* The same mixing into two states at once: each word is read once, and
 * the two chains of multiplications run side by side. */
static inline void
ps_key_hash_part2(uint64_t *h, uint64_t *g, const char *p, size_t len)
{
    uint64_t  w, a = *h, b = *g;
    size_t    left;

    for (left = len; left >= 8; left -= 8, p += 8) {
        memcpy(&w, p, 8);
        a = ps_key_mix(a, w);
        b = ps_key_mix(b, w);
    }

    w = ps_key_tail(p, left, len);
    *h = ps_key_mix(a, w);
    *g = ps_key_mix(b, w);
}


static inline uint64_t
ps_key_avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;

    return h ? h : 1;
}


static inline uint64_t
ps_key_hash(const char *host, size_t hlen, const char *method, size_t mlen,
    const char *path, size_t plen)
{
    uint64_t  h = PS_KEY_SEED;

    h = ps_key_hash_part(h, host, hlen);
    h = ps_key_hash_part(h, method, mlen);
    h = ps_key_hash_part(h, path, plen);

    return ps_key_avalanche(h);
}


/* A second, independent hash of the same key (other seed, other
 * avalanche): the key table identifies a key by both (agg/windows.c). */
static inline uint64_t
ps_key_avalanche2(uint64_t h)
{
    h ^= h >> 31;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;

    return h;
}


static inline uint64_t
ps_key_hash2(const char *host, size_t hlen, const char *method, size_t mlen,
    const char *path, size_t plen)
{
    uint64_t  h = PS_KEY_SEED2;

    h = ps_key_hash_part(h, host, hlen);
    h = ps_key_hash_part(h, method, mlen);
    h = ps_key_hash_part(h, path, plen);

    return ps_key_avalanche2(h);
}


/* ps_key_hash() and ps_key_hash2() of one key in one pass over it; the
 * first, with the second in *h2. */
static inline uint64_t
ps_key_hash_both(const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, uint64_t *h2)
{
    uint64_t  h = PS_KEY_SEED, g = PS_KEY_SEED2;

    ps_key_hash_part2(&h, &g, host, hlen);
    ps_key_hash_part2(&h, &g, method, mlen);
    ps_key_hash_part2(&h, &g, path, plen);

    *h2 = ps_key_avalanche2(g);

    return ps_key_avalanche(h);
}


/* The hash of one short byte string (a client address, a Redis field),
 * seeded (e.g. with its hour) for tables keyed by more than the bytes;
 * never 0. */
static inline uint64_t
ps_bytes_hash(uint64_t seed, const void *p, size_t len)
{
    return ps_key_avalanche(ps_key_hash_part(seed ^ 0x13198a2e03707344ULL,
                                             p, len));
}


/* The key's hash within one hour, for tables keyed by (hour, key). */
static inline uint64_t
ps_key_hash_hour(uint64_t key_hash, int64_t hour)
{
    return ps_key_avalanche(ps_key_mix(key_hash, (uint64_t) hour));
}

#endif /* PS_KEY_HASH_H */
