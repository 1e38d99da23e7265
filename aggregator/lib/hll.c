/*
 * HyperLogLog compatible with postgresql-hll: see hll.h.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hll.h"

#define HDR_SIZE        3
#define TYPE_EMPTY      1
#define TYPE_EXPLICIT   2
#define TYPE_SPARSE     3
#define TYPE_FULL       4
#define BYTE_PARAMS     (((PS_HLL_REGWIDTH - 1) << 5) | PS_HLL_LOG2M)
#define BYTE_CUTOFF     ((1 << 6) | 63)
#define REG_MAX         ((1 << PS_HLL_REGWIDTH) - 1)
#define SPARSE_WORD     (PS_HLL_LOG2M + PS_HLL_REGWIDTH)  /* 16 bits */
#define FULL_BYTES      (PS_HLL_REGISTERS * PS_HLL_REGWIDTH / 8)

_Static_assert(SPARSE_WORD == 16, "sparse words are read as 16 bits");
_Static_assert(PS_HLL_REGISTERS * PS_HLL_REGWIDTH % 8 == 0,
               "FULL needs no padding");


void
ps_hll_init(ps_hll_t *h)
{
    h->data = NULL;
    h->n = 0;
    h->cap = 0;
    h->type = PS_HLL_EMPTY;
}


/* The hashes of an explicit (or empty) set: in the struct while there
 * is room for at most PS_HLL_INLINE. */
static inline const int64_t *
explicit_cof(const ps_hll_t *h)
{
    return h->cap <= PS_HLL_INLINE ? &h->one : h->data;
}


static inline int64_t *
explicit_of(ps_hll_t *h)
{
    return (int64_t *) explicit_cof(h);
}


/* The memory h owns, if any. */
static inline void *
owned(const ps_hll_t *h)
{
    return h->type == PS_HLL_FULL || h->cap > PS_HLL_INLINE ? h->data
                                                           : NULL;
}


void
ps_hll_free(ps_hll_t *h)
{
    free(owned(h));
    ps_hll_init(h);
}


void
ps_hll_reset(ps_hll_t *h)
{
    if (h->type == PS_HLL_FULL) {
        ps_hll_free(h);
        return;
    }

    /* an array of hashes stays for the next adds: an empty set whose
     * capacity is its own (explicit_reserve(), owned()) */
    h->n = 0;
    h->type = PS_HLL_EMPTY;
}


static inline void
regs_add(uint8_t *regs, uint64_t hash)
{
    uint64_t  rest;
    unsigned  value;

    rest = hash >> PS_HLL_LOG2M;
    if (rest == 0) {
        return;
    }

    value = (unsigned) __builtin_ctzll(rest) + 1;
    if (value > REG_MAX) {
        value = REG_MAX;
    }

    if (regs[hash & (PS_HLL_REGISTERS - 1)] < value) {
        regs[hash & (PS_HLL_REGISTERS - 1)] = (uint8_t) value;
    }
}


/* Position of the first element >= v in signed order (the extension's
 * order), and whether it is v. */
static uint16_t
explicit_find(const int64_t *a, uint16_t n, int64_t v, int *found)
{
    uint16_t  lo, hi, mid;

    lo = 0;
    hi = n;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (a[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    *found = lo < n && a[lo] == v;

    return lo;
}


/* Registers holding h's explicit hashes; h's own memory is untouched. */
static uint8_t *
regs_from_explicit(const ps_hll_t *h)
{
    uint8_t        *regs;
    const int64_t  *a;
    uint16_t        i;

    regs = calloc(PS_HLL_REGISTERS, 1);
    if (regs == NULL) {
        return NULL;
    }

    a = explicit_cof(h);
    for (i = 0; i < h->n; i++) {
        regs_add(regs, (uint64_t) a[i]);
    }

    return regs;
}


static void
become_full(ps_hll_t *h, uint8_t *regs)
{
    free(owned(h));
    h->data = regs;
    h->n = 0;
    h->cap = 0;
    h->type = PS_HLL_FULL;
}


static int
explicit_reserve(ps_hll_t *h, unsigned need)
{
    unsigned   cap;
    int64_t   *a;

    if (need <= h->cap) {
        return 0;
    }

    if (need <= PS_HLL_INLINE) {
        h->cap = PS_HLL_INLINE;
        return 0;
    }

    cap = h->cap > PS_HLL_INLINE ? h->cap : 8;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > PS_HLL_EXPLICIT_MAX) {
        cap = PS_HLL_EXPLICIT_MAX;
    }

    if (h->cap > PS_HLL_INLINE) {
        a = realloc(h->data, cap * sizeof(int64_t));
        if (a == NULL) {
            return -1;
        }
    } else {
        a = malloc(cap * sizeof(int64_t));
        if (a == NULL) {
            return -1;
        }
        if (h->n > 0) {
            a[0] = h->one;
        }
    }

    h->data = a;
    h->cap = (uint16_t) cap;

    return 0;
}


int
ps_hll_add_hash(ps_hll_t *h, uint64_t hash)
{
    int64_t   *a;
    uint16_t   pos;
    uint8_t   *regs;
    int        found;

    if (h->type == PS_HLL_FULL) {
        regs_add(h->data, hash);
        return 0;
    }

    a = explicit_of(h);
    pos = explicit_find(a, h->n, (int64_t) hash, &found);
    if (found) {
        return 0;
    }

    if (h->n == PS_HLL_EXPLICIT_MAX) {
        regs = regs_from_explicit(h);
        if (regs == NULL) {
            return -1;
        }
        regs_add(regs, hash);
        become_full(h, regs);
        return 0;
    }

    if (explicit_reserve(h, h->n + 1u) != 0) {
        return -1;
    }

    a = explicit_of(h);
    memmove(&a[pos + 1], &a[pos], (h->n - pos) * sizeof(int64_t));
    a[pos] = (int64_t) hash;
    h->n++;
    h->type = PS_HLL_EXPLICIT;

    return 0;
}


int
ps_hll_merge(ps_hll_t *dst, const ps_hll_t *src)
{
    const int64_t  *s;
    uint8_t        *regs, *d;
    const uint8_t  *r;
    unsigned        i, fresh;
    int             found;

    if (src->type == PS_HLL_EMPTY || src == dst) {
        return 0;
    }

    if (src->type == PS_HLL_FULL) {
        if (dst->type != PS_HLL_FULL) {
            regs = regs_from_explicit(dst);
            if (regs == NULL) {
                return -1;
            }
            become_full(dst, regs);
        }
        d = dst->data;
        r = src->data;
        for (i = 0; i < PS_HLL_REGISTERS; i++) {
            if (d[i] < r[i]) {
                d[i] = r[i];
            }
        }
        return 0;
    }

    s = explicit_cof(src);

    if (dst->type == PS_HLL_FULL) {
        for (i = 0; i < src->n; i++) {
            regs_add(dst->data, (uint64_t) s[i]);
        }
        return 0;
    }

    /* explicit into explicit: allocate once, then nothing can fail */
    fresh = 0;
    for (i = 0; i < src->n; i++) {
        explicit_find(explicit_of(dst), dst->n, s[i], &found);
        fresh += !found;
    }

    if (dst->n + fresh > PS_HLL_EXPLICIT_MAX) {
        regs = regs_from_explicit(dst);
        if (regs == NULL) {
            return -1;
        }
        for (i = 0; i < src->n; i++) {
            regs_add(regs, (uint64_t) s[i]);
        }
        become_full(dst, regs);
        return 0;
    }

    if (explicit_reserve(dst, dst->n + fresh) != 0) {
        return -1;
    }

    for (i = 0; i < src->n; i++) {
        (void) ps_hll_add_hash(dst, (uint64_t) s[i]);
    }

    return 0;
}


double
ps_hll_cardinality(const ps_hll_t *h)
{
    const uint8_t  *regs;
    double          sum, estimator, two_to_l, m;
    unsigned        i, zeros;

    switch (h->type) {
    case PS_HLL_EMPTY:
        return 0.0;
    case PS_HLL_EXPLICIT:
        return (double) h->n;
    default:
        break;
    }

    /*
     * The extension's estimator, in the same order of operations so that
     * the result is the same double: raw HyperLogLog with linear counting
     * below 5m/2 and a correction for hashes approaching 2^L, where
     * L = (2^regwidth - 2) + log2m is the number of hash bits that
     * registers can observe.
     */
    regs = h->data;
    m = PS_HLL_REGISTERS;
    sum = 0.0;
    zeros = 0;
    for (i = 0; i < PS_HLL_REGISTERS; i++) {
        sum += 1.0 / (double) (1ULL << regs[i]);
        zeros += regs[i] == 0;
    }

    estimator = (0.7213 / (1.0 + 1.079 / m)) * m * m / sum;
    two_to_l = (double) (1ULL << (REG_MAX - 1 + PS_HLL_LOG2M));

    if (zeros != 0 && estimator < 5.0 * m / 2.0) {
        return m * log(m / (double) zeros);
    }

    if (estimator <= two_to_l / 30.0) {
        return estimator;
    }

    return -two_to_l * log(1.0 - estimator / two_to_l);
}


size_t
ps_hll_mem(const ps_hll_t *h)
{
    switch (h->type) {
    case PS_HLL_FULL:
        return PS_HLL_REGISTERS;
    default:                /* explicit, or empty with an array kept */
        return h->cap > PS_HLL_INLINE ? (size_t) h->cap * sizeof(int64_t)
                                      : 0;
    }
}


static unsigned
regs_filled(const uint8_t *regs)
{
    unsigned  i, n;

    n = 0;
    for (i = 0; i < PS_HLL_REGISTERS; i++) {
        n += regs[i] != 0;
    }

    return n;
}


/* The extension writes SPARSE only when it is strictly smaller. */
static int
use_sparse(unsigned filled)
{
    return (size_t) filled * SPARSE_WORD
           < (size_t) PS_HLL_REGISTERS * PS_HLL_REGWIDTH;
}


size_t
ps_hll_serialized_size(const ps_hll_t *h)
{
    unsigned  filled;

    switch (h->type) {
    case PS_HLL_EMPTY:
        return HDR_SIZE;
    case PS_HLL_EXPLICIT:
        return HDR_SIZE + 8 * (size_t) h->n;
    default:
        filled = regs_filled(h->data);
        return HDR_SIZE + (use_sparse(filled) ? 2 * (size_t) filled
                                              : FULL_BYTES);
    }
}


size_t
ps_hll_serialize(const ps_hll_t *h, uint8_t *buf, size_t cap)
{
    size_t          len, p;
    const int64_t  *a;
    const uint8_t  *regs;
    uint64_t        v, acc;
    unsigned        i, type, bits;
    int             b;

    len = ps_hll_serialized_size(h);
    if (cap < len) {
        return 0;
    }

    switch (h->type) {
    case PS_HLL_EMPTY:
        type = TYPE_EMPTY;
        break;
    case PS_HLL_EXPLICIT:
        type = TYPE_EXPLICIT;
        break;
    default:
        type = len == HDR_SIZE + FULL_BYTES ? TYPE_FULL : TYPE_SPARSE;
        break;
    }

    buf[0] = (uint8_t) (0x10 | type);
    buf[1] = BYTE_PARAMS;
    buf[2] = BYTE_CUTOFF;
    p = HDR_SIZE;

    switch (type) {
    case TYPE_EXPLICIT:
        a = explicit_cof(h);
        for (i = 0; i < h->n; i++) {
            v = (uint64_t) a[i];
            for (b = 56; b >= 0; b -= 8) {
                buf[p++] = (uint8_t) (v >> b);
            }
        }
        break;

    case TYPE_SPARSE:
        regs = h->data;
        for (i = 0; i < PS_HLL_REGISTERS; i++) {
            if (regs[i] != 0) {
                v = ((uint64_t) i << PS_HLL_REGWIDTH) | regs[i];
                buf[p++] = (uint8_t) (v >> 8);
                buf[p++] = (uint8_t) v;
            }
        }
        break;

    case TYPE_FULL:
        /* pack 5-bit registers high bit first through a bit accumulator */
        regs = h->data;
        acc = 0;
        bits = 0;
        for (i = 0; i < PS_HLL_REGISTERS; i++) {
            acc = (acc << PS_HLL_REGWIDTH) | regs[i];
            bits += PS_HLL_REGWIDTH;
            while (bits >= 8) {
                bits -= 8;
                buf[p++] = (uint8_t) (acc >> bits);
            }
        }
        break;

    default:
        break;
    }

    return p;
}


int
ps_hll_deserialize(ps_hll_t *h, const uint8_t *buf, size_t len)
{
    ps_hll_t   tmp;
    int64_t   *a;
    uint8_t   *regs;
    uint64_t   v, acc;
    size_t     n, i, p;
    unsigned   index, bits;
    long       prev;

    if (len < HDR_SIZE || (buf[0] >> 4) != 1 || buf[1] != BYTE_PARAMS
        || buf[2] != BYTE_CUTOFF)
    {
        return -1;
    }

    ps_hll_init(&tmp);

    switch (buf[0] & 0x0f) {
    case TYPE_EMPTY:
        if (len != HDR_SIZE) {
            return -1;
        }
        break;

    case TYPE_EXPLICIT:
        if ((len - HDR_SIZE) % 8 != 0) {
            return -1;
        }
        n = (len - HDR_SIZE) / 8;
        if (n > PS_HLL_EXPLICIT_MAX) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        if (explicit_reserve(&tmp, (unsigned) n) != 0) {
            return -1;
        }
        a = explicit_of(&tmp);
        for (i = 0; i < n; i++) {
            v = 0;
            for (p = 0; p < 8; p++) {
                v = (v << 8) | buf[HDR_SIZE + 8 * i + p];
            }
            a[i] = (int64_t) v;
            if (i > 0 && a[i - 1] >= a[i]) {
                goto fail;
            }
        }
        tmp.n = (uint16_t) n;
        tmp.type = PS_HLL_EXPLICIT;
        break;

    case TYPE_SPARSE:
        if ((len - HDR_SIZE) % 2 != 0) {
            return -1;
        }
        regs = calloc(PS_HLL_REGISTERS, 1);
        if (regs == NULL) {
            return -1;
        }
        tmp.data = regs;
        tmp.type = PS_HLL_FULL;
        prev = -1;
        for (p = HDR_SIZE; p < len; p += 2) {
            v = ((uint64_t) buf[p] << 8) | buf[p + 1];
            index = (unsigned) (v >> PS_HLL_REGWIDTH);
            if ((long) index <= prev) {
                goto fail;
            }
            regs[index] = (uint8_t) (v & REG_MAX);
            prev = (long) index;
        }
        break;

    case TYPE_FULL:
        if (len != HDR_SIZE + FULL_BYTES) {
            return -1;
        }
        regs = malloc(PS_HLL_REGISTERS);
        if (regs == NULL) {
            return -1;
        }
        tmp.data = regs;
        tmp.type = PS_HLL_FULL;
        acc = 0;
        bits = 0;
        i = 0;
        for (p = HDR_SIZE; p < len; p++) {
            acc = (acc << 8) | buf[p];
            bits += 8;
            while (bits >= PS_HLL_REGWIDTH) {
                bits -= PS_HLL_REGWIDTH;
                regs[i++] = (uint8_t) ((acc >> bits) & REG_MAX);
            }
        }
        break;

    default:
        /* 0 is the extension's "undefined" result: not a set */
        return -1;
    }

    ps_hll_free(h);
    *h = tmp;

    return 0;

fail:

    ps_hll_free(&tmp);

    return -1;
}
