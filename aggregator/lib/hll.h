/*
 * HyperLogLog of unique clients, bit-compatible with the postgresql-hll
 * extension (storage specification, schema version 1), so that values
 * built here can be stored as `hll` and merged with hll_union_agg().
 *
 * Parameters are the extension's defaults, `hll(11, 5, -1, 1)`:
 * log2m = 11 (2048 registers), regwidth = 5, expthresh = -1 (auto: an
 * explicit set holds up to 160 hashes, the size of the packed registers),
 * sparseon = 1.  Every serialised value starts with the bytes
 *
 *   0x1T  schema version 1, type T: 1 EMPTY, 2 EXPLICIT, 3 SPARSE, 4 FULL
 *   0x8b  (regwidth - 1) << 5 | log2m
 *   0x7f  sparseon << 6 | 63 (expthresh auto)
 *
 * followed by, for EXPLICIT, the hashes as big-endian signed 64-bit values
 * in ascending signed order; for SPARSE, 16-bit big-endian words
 * (register index << 5 | value) in ascending index order; for FULL, the
 * 2048 5-bit registers packed high bit first (1280 bytes).
 *
 * Hashes are 64-bit MurmurHash3 values (see murmur3.h): register index =
 * the low 11 bits, register value = 1 + the number of trailing zero bits
 * of hash >> 11 (0 if that is 0), at most 31.  The cardinality estimator
 * is the extension's, computed the same way, so hll_cardinality() of a
 * serialised value equals ps_hll_cardinality() bit for bit: exact for up
 * to 160 distinct hashes, HyperLogLog with linear counting and the large
 * range correction beyond.
 *
 * In memory a set is EMPTY (no allocation, or the array ps_hll_reset()
 * kept), EXPLICIT (a sorted array of
 * hashes, 8 bytes each, 8 slots at first, then doubling) and becomes
 * REGISTERS (2048 bytes, one per register) on its 161st distinct hash,
 * exactly when the extension promotes it, so that union results agree
 * with SQL.
 */

#ifndef PS_HLL_H
#define PS_HLL_H

#include <stddef.h>
#include <stdint.h>

#define PS_HLL_LOG2M          11
#define PS_HLL_REGWIDTH       5
#define PS_HLL_REGISTERS      (1 << PS_HLL_LOG2M)
#define PS_HLL_EXPLICIT_MAX   160
#define PS_HLL_MAX_BYTES      (3 + PS_HLL_REGISTERS * PS_HLL_REGWIDTH / 8)

/* in-memory representation (ps_hll_t.type) */
#define PS_HLL_EMPTY          0
#define PS_HLL_EXPLICIT       1
#define PS_HLL_FULL           2

/* An explicit set of one hash holds it in the struct: a key's minute
 * bucket that sees one client needs no memory. */
#define PS_HLL_INLINE         1

typedef struct {
    union {
        void      *data;   /* int64_t[cap] sorted (cap > PS_HLL_INLINE),
                              or uint8_t[2048] (FULL) */
        int64_t    one;    /* EXPLICIT, cap <= PS_HLL_INLINE */
    };
    uint16_t   n;          /* EXPLICIT: hashes held */
    uint16_t   cap;        /* EXPLICIT: capacity */
    uint8_t    type;       /* PS_HLL_EMPTY, _EXPLICIT or _FULL */
} ps_hll_t;

/* Starts loading what adding hash to h reads (a hint before adding to a
 * set that is likely not in cache; no effect on h). */
static inline void
ps_hll_prefetch(const ps_hll_t *h, uint64_t hash)
{
    unsigned  i;

    if (h->type == PS_HLL_FULL) {
        __builtin_prefetch((const uint8_t *) h->data
                           + (hash & (PS_HLL_REGISTERS - 1)));
    } else if (h->type == PS_HLL_EXPLICIT && h->cap > PS_HLL_INLINE) {
        /* a binary search's lines: all of them (at most 20) */
        for (i = 0; i < h->n; i += 8) {
            __builtin_prefetch((const int64_t *) h->data + i);
        }
    }
}

/* Makes h an empty set that owns no memory. */
void ps_hll_init(ps_hll_t *h);

/* Frees h's memory; h is an empty set afterwards. */
void ps_hll_free(ps_hll_t *h);

/* Makes h an empty set that keeps its array of hashes (not its
 * registers) for the sets it becomes next: emptied and filled again
 * many times, it allocates once. */
void ps_hll_reset(ps_hll_t *h);

/* Adds a 64-bit hash; 0, or -1 if memory ran out (h unchanged). */
int ps_hll_add_hash(ps_hll_t *h, uint64_t hash);

/* dst := dst union src; 0, or -1 if memory ran out (dst unchanged). */
int ps_hll_merge(ps_hll_t *dst, const ps_hll_t *src);

/* Estimated number of distinct hashes, as hll_cardinality() computes it;
 * exact up to PS_HLL_EXPLICIT_MAX. */
double ps_hll_cardinality(const ps_hll_t *h);

/* Bytes of heap memory h uses (not counting the struct itself). */
size_t ps_hll_mem(const ps_hll_t *h);

/* Size of h's serialised form (at most PS_HLL_MAX_BYTES). */
size_t ps_hll_serialized_size(const ps_hll_t *h);

/* Writes h in postgresql-hll storage format (EMPTY, EXPLICIT, or SPARSE
 * or FULL whichever is smaller, as the extension itself chooses) into
 * buf; returns the length, or 0 if cap is too small. */
size_t ps_hll_serialize(const ps_hll_t *h, uint8_t *buf, size_t cap);

/* Replaces h with the set serialised in buf (EMPTY, EXPLICIT, SPARSE or
 * FULL with this file's parameters); 0, or -1 if buf is malformed, has
 * other parameters, or memory ran out (h unchanged). */
int ps_hll_deserialize(ps_hll_t *h, const uint8_t *buf, size_t len);

#endif /* PS_HLL_H */
