/*
 * Latency histogram: fixed, mergeable, log-linear buckets over integer
 * microseconds.
 *
 * Buckets are upper-inclusive, so that "values <= edge" is exact for every
 * bucket edge (Prometheus `le` semantics):
 *
 *   index 0 .. 100      one value each: v == index
 *   index 101 .. 348    8 decades (k = 2..9) of 31 buckets each:
 *                       index = 101 + 31 * (k - 2) + j, and bucket
 *                       (M[j-1] * 10^(k-2), M[j] * 10^(k-2)] with M[-1] = 100
 *                       and M = 110 120 130 140 150 160 170 180 190 200
 *                               220 240 250 275 300 330 360 390 420 460 500
 *                               550 600 650 700 750 800 850 900 950 1000
 *                       so (100,110] (110,120] ... (950,1000] us, then
 *                       (1000,1100] ... up to (9.5e9,1e10] us
 *   index 349           overflow: v > 10^10 us (about 2.8 hours)
 *
 * Each bucket's top edge is at most 1.1 times its bottom edge, so the
 * midpoint of the integer values in a bucket is within 5 % (just under,
 * for the 1.1 steps such as (500,550]) of any of them: percentiles are
 * within +-5 %.
 * 1, 2, 2.5 and 5 times every power of ten are edges, so the usual
 * Prometheus boundaries (5 ms, 10 ms, 25 ms, ... 10 s) are exact.
 *
 * In memory the histogram is sparse: a sorted array of the non-zero
 * buckets, one uint64 each (index in the top 10 bits, count in the low
 * 54), inside the struct while there are at most PS_HIST_INLINE of them
 * (no allocation, and the struct copies as a value), then on the heap,
 * 8 slots at first (a bucket that outgrows two usually goes on growing:
 * fewer reallocations on the aggregator's hot path), doubling; 32 bytes,
 * + 64 once beyond two buckets, + 8 per bucket beyond eight.
 *
 * Serialised form (the bytea stored in PostgreSQL), all big-endian:
 *
 *   byte 0       format: high nibble = version (1 = this bucket layout),
 *                low nibble = width W of each count in bytes (4 or 8;
 *                the encoder uses 4 unless a count needs more)
 *   then n pairs (uint16 bucket index, W-byte count), n >= 0,
 *                indices strictly ascending and < PS_HIST_BUCKETS,
 *                counts non-zero.
 *
 * So an empty histogram is the single byte 0x14, and one value of 250 ms
 * (index 206) is 14 00ce 00000001.
 */

#ifndef PS_HISTOGRAM_H
#define PS_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define PS_HIST_BUCKETS        350
#define PS_HIST_OVERFLOW       349            /* index of the overflow */
#define PS_HIST_MAX_US         10000000000ULL /* top edge before it */
#define PS_HIST_FORMAT_V1_32   0x14
#define PS_HIST_FORMAT_V1_64   0x18

/* The default Prometheus `le` boundaries, in us and as printed seconds;
 * each is a bucket edge, so their cumulative counts are exact. */
#define PS_HIST_PROM_NLE       11
extern const uint64_t  ps_hist_prom_le_us[PS_HIST_PROM_NLE];
extern const char     *ps_hist_prom_le_str[PS_HIST_PROM_NLE];

#define PS_HIST_INLINE         2

typedef struct {
    union {
        uint64_t  *slots;                  /* cap > PS_HIST_INLINE */
        uint64_t   inl[PS_HIST_INLINE];    /* else */
    } u;                   /* (index << 54) | count, ascending */
    uint32_t   n;          /* used slots */
    uint32_t   cap;        /* slots there is room for */
    uint64_t   count;      /* total of all counts */
} ps_hist_t;

/* Starts loading the buckets h keeps on the heap (a hint before
 * counting into a histogram that is likely not in cache; no effect on
 * h). */
static inline void
ps_hist_prefetch(const ps_hist_t *h)
{
    uint32_t  i, n;

    if (h->cap <= PS_HIST_INLINE || h->n == 0) {
        return;
    }

    /* a binary search's lines: every one of the first 16 (a key's
     * buckets rarely hold more), then where the search starts */
    n = h->n < 128 ? h->n : 128;
    for (i = 0; i < n; i += 8) {
        __builtin_prefetch(h->u.slots + i);
    }
    if (h->n > n) {
        __builtin_prefetch(h->u.slots + h->n / 2);
        __builtin_prefetch(h->u.slots + h->n / 4 * 3);
    }
    __builtin_prefetch(h->u.slots + h->n - 1);
}

/*
 * A histogram filled one value at a time and merged into ps_hist_t's in
 * one go (ps_hist_acc_merge()): a count per bucket, and a bit per bucket
 * used, so that merging and clearing cost what was added, not every
 * bucket.  For a table that takes many values between reads (the windows'
 * totals): adding is an increment, where a ps_hist_t searches its slots.
 * Its counts are 32-bit: merge and clear it before 2^32 values.
 */
typedef struct {
    uint64_t  used[(PS_HIST_BUCKETS + 63) / 64];
    uint64_t  count;
    uint32_t  n[PS_HIST_BUCKETS];
} ps_hist_acc_t;

/* Counts one value of bucket index (< PS_HIST_BUCKETS). */
static inline void
ps_hist_acc_add(ps_hist_acc_t *a, unsigned index)
{
    a->n[index]++;
    a->used[index / 64] |= 1ULL << (index % 64);
    a->count++;
}

/* dst += a; 0, or -1 if memory ran out (dst unchanged). */
int ps_hist_acc_merge(ps_hist_t *dst, const ps_hist_acc_t *a);

/* Empties a (which must be zeroed, or cleared, before its first use). */
void ps_hist_acc_clear(ps_hist_acc_t *a);

/* Makes h an empty histogram that owns no memory. */
void ps_hist_init(ps_hist_t *h);

/* Frees h's memory; h is empty (and reusable) afterwards. */
void ps_hist_free(ps_hist_t *h);

/* Empties h but keeps its memory for reuse. */
void ps_hist_reset(ps_hist_t *h);

/* Counts one value; 0, or -1 if memory ran out (h unchanged). */
int ps_hist_add(ps_hist_t *h, uint64_t us);

/* Adds n to bucket index (< PS_HIST_BUCKETS); 0, or -1 on bad index or
 * no memory (h unchanged). */
int ps_hist_add_bucket(ps_hist_t *h, unsigned index, uint64_t n);

/* dst += src, element-wise; 0, or -1 if memory ran out (dst unchanged). */
int ps_hist_merge(ps_hist_t *dst, const ps_hist_t *src);

/* Number of values counted. */
uint64_t ps_hist_count(const ps_hist_t *h);

/* Value at quantile q (0..1, nearest rank) as the midpoint of its bucket
 * in us; exact below 101 us, PS_HIST_MAX_US + 1 in the overflow bucket,
 * 0 when h is empty. */
double ps_hist_percentile(const ps_hist_t *h, double q);

/* Bucket index of a value. */
unsigned ps_hist_bucket_of(uint64_t us);

/* Smallest value in bucket index. */
uint64_t ps_hist_bucket_low(unsigned index);

/* Largest value in bucket index (UINT64_MAX for the overflow). */
uint64_t ps_hist_bucket_high(unsigned index);

/* 1 if us is the top edge of a bucket (so "<= us" is exact), else 0. */
int ps_hist_is_edge(uint64_t us);

/* For each of the n ascending boundaries le_us[i], out[i] = number of
 * values <= le_us[i]; exact at bucket edges, otherwise it counts the
 * buckets whose top edge is <= le_us[i] (a lower bound). */
void ps_hist_cumulative(const ps_hist_t *h, const uint64_t *le_us,
    size_t n, uint64_t *out);

/* Bytes of heap memory h uses (not counting the struct itself). */
size_t ps_hist_mem(const ps_hist_t *h);

/* Size of h's serialised form. */
size_t ps_hist_encoded_size(const ps_hist_t *h);

/* Serialises h into buf (cap bytes); returns the length, or 0 if cap is
 * too small. */
size_t ps_hist_encode(const ps_hist_t *h, uint8_t *buf, size_t cap);

/* Adds the serialised histogram buf (len bytes) into h; 0, or -1 if buf
 * is malformed or memory ran out (h unchanged). */
int ps_hist_decode(ps_hist_t *h, const uint8_t *buf, size_t len);

#endif /* PS_HISTOGRAM_H */
