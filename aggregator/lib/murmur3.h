/*
 * MurmurHash3, x64 128-bit variant (Austin Appleby's public-domain
 * algorithm), written from its description.  It is the hash behind
 * postgresql-hll's hll_hash_*() functions: hll_hash_bytea(b) is the first
 * 64-bit half of ps_murmur3_x64_128(b, len(b), 0), as a signed bigint.
 */

#ifndef PS_MURMUR3_H
#define PS_MURMUR3_H

#include <stddef.h>
#include <stdint.h>

/* Hashes len bytes of key with seed; out[0] and out[1] are the halves. */
void ps_murmur3_x64_128(const void *key, size_t len, uint32_t seed,
    uint64_t out[2]);

/* First half of the seed-0 hash: equals hll_hash_bytea() of the bytes. */
uint64_t ps_murmur3_hll_hash(const void *key, size_t len);

#endif /* PS_MURMUR3_H */
