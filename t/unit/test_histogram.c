/*
 * Unit tests for aggregator/lib/histogram.c: bucket layout, percentile
 * accuracy against exact percentiles, merge, Prometheus buckets and the
 * serialised form.  Prints TAP.
 */

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/histogram.h"
#include "rng.h"
#include "tap.h"

/* deterministic PRNG (splitmix64) */
static uint64_t rng_state = 42;

static uint64_t
rng(void)
{
    return rng_next(&rng_state);
}

static double
rng_unit(void)            /* (0, 1) */
{
    return rng_unit_next(&rng_state);
}

static double
rng_normal(void)
{
    return sqrt(-2.0 * log(rng_unit())) * cos(2.0 * M_PI * rng_unit());
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

#define NSAMPLES 100000

typedef uint64_t (*gen_fn)(void);

static uint64_t gen_uniform(void) { return 1 + rng() % 1000000; }
static uint64_t gen_exponential(void)
{
    return (uint64_t) (-20000.0 * log(rng_unit()));
}
static uint64_t gen_lognormal(void)
{
    return (uint64_t) exp(log(5000.0) + 1.5 * rng_normal());
}
static uint64_t gen_lognormal_ms(void)   /* nginx's ms resolution */
{
    return gen_lognormal() / 1000 * 1000;
}
static uint64_t gen_constant(void) { return 12345; }
static uint64_t gen_small(void) { return rng() % 150; }
static uint64_t gen_bimodal(void)
{
    double  v;

    if (rng() % 10 == 0) {
        v = 800000.0 + 50000.0 * rng_normal();
    } else {
        v = 2000.0 + 300.0 * rng_normal();
    }
    return v < 1.0 ? 1 : (uint64_t) v;
}
static uint64_t gen_wide(void)       /* 1 us .. 1 hour, log-uniform */
{
    return (uint64_t) exp(rng_unit() * log(3600e6));
}

static void
test_distribution(const char *name, gen_fn gen)
{
    static uint64_t  v[NSAMPLES];
    static const double qs[] = { 0.5, 0.95, 0.99, 0.999 };
    ps_hist_t        h;
    size_t           i, q;
    uint64_t         exact, rank;
    double           got, err, worst;

    ps_hist_init(&h);
    for (i = 0; i < NSAMPLES; i++) {
        v[i] = gen();
        ps_hist_add(&h, v[i]);
    }
    qsort(v, NSAMPLES, sizeof(v[0]), cmp_u64);

    is_u64(ps_hist_count(&h), NSAMPLES, "count");

    worst = 0;
    for (q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
        rank = (uint64_t) ceil(qs[q] * NSAMPLES);
        exact = v[rank - 1];
        got = ps_hist_percentile(&h, qs[q]);
        err = exact ? fabs(got - (double) exact) / (double) exact
                    : fabs(got);
        if (err > worst) {
            worst = err;
        }
        ok(err <= 0.05, "%s p%g: %.1f vs exact %" PRIu64 " (err %.2f%%)",
           name, qs[q] * 100, got, exact, err * 100);
    }
    printf("# %s: worst error %.2f%%, %u buckets used, %zu bytes\n",
           name, worst * 100, h.n, sizeof(h) + ps_hist_mem(&h));

    ps_hist_free(&h);
}

static void
test_layout(void)
{
    unsigned  i, bad_cont = 0, bad_map = 0, bad_width = 0;
    uint64_t  lo, hi, v;

    for (i = 0; i < PS_HIST_BUCKETS; i++) {
        lo = ps_hist_bucket_low(i);
        hi = ps_hist_bucket_high(i);
        if (i > 0 && lo != ps_hist_bucket_high(i - 1) + 1) {
            bad_cont++;
        }
        if (ps_hist_bucket_of(lo) != i || ps_hist_bucket_of(hi) != i
            || (lo > 0 && ps_hist_bucket_of(lo - 1) != i - 1))
        {
            bad_map++;
        }
        /* the midpoint is within 5 % of every value in the bucket */
        if (i != PS_HIST_OVERFLOW && lo > 0
            && ((double) hi - (double) lo) / 2.0 > 0.05 * (double) lo)
        {
            bad_width++;
        }
    }
    is_u64(bad_cont, 0, "buckets are contiguous");
    is_u64(bad_map, 0, "bucket_of maps both edges of every bucket to it");
    is_u64(bad_width, 0, "every bucket's half width is <= 5%% of its low");

    is_u64(ps_hist_bucket_of(0), 0, "0 us -> bucket 0");
    is_u64(ps_hist_bucket_of(100), 100, "100 us -> bucket 100");
    is_u64(ps_hist_bucket_of(101), 101, "101 us -> bucket 101 (100,110]");
    is_u64(ps_hist_bucket_of(110), 101, "110 us -> bucket 101 (100,110]");
    is_u64(ps_hist_bucket_of(111), 102, "111 us -> bucket 102");
    is_u64(ps_hist_bucket_of(PS_HIST_MAX_US), PS_HIST_OVERFLOW - 1,
           "1e10 us -> last regular bucket");
    is_u64(ps_hist_bucket_of(PS_HIST_MAX_US + 1), PS_HIST_OVERFLOW,
           "1e10+1 us -> overflow");
    is_u64(ps_hist_bucket_of(UINT64_MAX), PS_HIST_OVERFLOW,
           "UINT64_MAX -> overflow");
    is_u64(ps_hist_bucket_of(250000), 206, "250 ms -> bucket 206");
    is_u64(ps_hist_bucket_of(250001), 207, "250.001 ms -> bucket 207");
    is_u64(ps_hist_bucket_of(431), 120, "431 us -> bucket 120 (420,460]");
    is_u64(ps_hist_bucket_high(PS_HIST_OVERFLOW), UINT64_MAX,
           "overflow bucket is unbounded");

    /* random values land in a bucket that contains them */
    bad_map = 0;
    for (i = 0; i < 100000; i++) {
        v = rng() >> (rng() % 64);
        lo = ps_hist_bucket_low(ps_hist_bucket_of(v));
        hi = ps_hist_bucket_high(ps_hist_bucket_of(v));
        bad_map += v < lo || v > hi;
    }
    is_u64(bad_map, 0, "100000 random values are inside their bucket");
}

static void
test_percentile_edges(void)
{
    ps_hist_t  h;

    ps_hist_init(&h);
    ok(ps_hist_percentile(&h, 0.5) == 0.0, "empty histogram: p50 = 0");
    is_u64(ps_hist_count(&h), 0, "empty histogram: count 0");

    ps_hist_add(&h, 7);
    ok(ps_hist_percentile(&h, 0.0) == 7.0
       && ps_hist_percentile(&h, 1.0) == 7.0, "one value 7: p0 = p100 = 7");

    ps_hist_add(&h, PS_HIST_MAX_US * 10);
    ok(ps_hist_percentile(&h, 1.0) == (double) PS_HIST_MAX_US + 1,
       "overflow value: p100 = PS_HIST_MAX_US + 1");
    ok(ps_hist_percentile(&h, 0.5) == 7.0, "p50 of {7, huge} = 7");
    ps_hist_free(&h);
}

static void
test_merge(void)
{
    ps_hist_t  a, b, all;
    size_t     i, la, lall;
    uint64_t   v;
    uint8_t    ba[PS_HIST_BUCKETS * 10 + 1], ball[PS_HIST_BUCKETS * 10 + 1];
    int        same_p = 1;
    double     q;

    ps_hist_init(&a);
    ps_hist_init(&b);
    ps_hist_init(&all);

    for (i = 0; i < 50000; i++) {
        v = gen_lognormal();
        ps_hist_add(i % 3 ? &a : &b, v);
        ps_hist_add(&all, v);
    }
    ok(ps_hist_merge(&a, &b) == 0, "merge returns 0");
    is_u64(ps_hist_count(&a), 50000, "merged count is the sum");

    la = ps_hist_encode(&a, ba, sizeof(ba));
    lall = ps_hist_encode(&all, ball, sizeof(ball));
    ok(la == lall && memcmp(ba, ball, la) == 0,
       "merge(A, B) encodes to the same bytes as the histogram of A+B");

    for (q = 0.01; q < 1.0; q += 0.01) {
        same_p &= ps_hist_percentile(&a, q) == ps_hist_percentile(&all, q);
    }
    ok(same_p, "merge(A, B) has the same percentiles as A+B");

    /* merge into empty, merge of empty, merge with all buckets present */
    ps_hist_free(&b);
    ok(ps_hist_merge(&b, &all) == 0 && ps_hist_count(&b) == 50000,
       "merge into an empty histogram");
    ok(ps_hist_merge(&b, &all) == 0 && ps_hist_count(&b) == 100000,
       "merge when every source bucket already exists");
    ps_hist_reset(&all);
    ok(ps_hist_merge(&b, &all) == 0 && ps_hist_count(&b) == 100000,
       "merge of an empty histogram changes nothing");

    ps_hist_free(&a);
    ps_hist_free(&b);
    ps_hist_free(&all);
}

/* Merges of small sparse histograms (in place, top down): interleaved,
 * overlapping and disjoint buckets, against adding the values. */
static void
test_merge_sparse(void)
{
    ps_hist_t  a, b, all;
    uint8_t    ba[PS_HIST_BUCKETS * 10 + 1], ball[PS_HIST_BUCKETS * 10 + 1];
    uint64_t   x = 0x2545f4914f6cdd1dULL, v;
    size_t     la, lall;
    int        round, i, n, same = 1;

    for (round = 0; round < 2000; round++) {
        ps_hist_init(&a);
        ps_hist_init(&b);
        ps_hist_init(&all);

        /* a third of the rounds merge into a histogram of many
         * buckets (the binary-search path) */
        for (n = round % 3 == 0 ? 3000 : 0; n > 0; n--) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            v = (x >> 8) % 50000000;
            ps_hist_add(&a, v);
            ps_hist_add(&all, v);
        }

        for (i = 0; i < 2; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            for (n = (int) (x % 12); n > 0; n--) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                v = (x >> 8) % (round % 2 ? 200 : 5000000);
                ps_hist_add(i ? &b : &a, v);
                ps_hist_add(&all, v);
            }
        }

        if (ps_hist_merge(&a, &b) != 0 || a.count != all.count) {
            same = 0;
        }
        la = ps_hist_encode(&a, ba, sizeof(ba));
        lall = ps_hist_encode(&all, ball, sizeof(ball));
        if (la != lall || memcmp(ba, ball, la) != 0) {
            same = 0;
        }

        ps_hist_free(&a);
        ps_hist_free(&b);
        ps_hist_free(&all);
    }

    ok(same, "2000 merges of small histograms equal the histogram of A+B");
}


/* A dense accumulator merged into histograms of none, few and many
 * buckets, then cleared and filled again: each time the histogram of
 * adding its values one by one, byte for byte. */
static void
test_acc(void)
{
    static ps_hist_acc_t  acc;
    ps_hist_t             h, want;
    uint8_t               bh[PS_HIST_BUCKETS * 10 + 1];
    uint8_t               bw[PS_HIST_BUCKETS * 10 + 1];
    uint64_t              v;
    size_t                lh, lw;
    unsigned              i;
    int                   round, n, same = 1, empty = 1;

    ps_hist_init(&h);
    ps_hist_init(&want);
    ps_hist_add(&h, 7);
    ps_hist_add(&want, 7);
    same &= ps_hist_acc_merge(&h, &acc) == 0 && h.count == 1;

    for (round = 0; round < 300; round++) {
        /* 0, a few, or thousands of values, over a narrow or the whole
         * range, the overflow bucket included */
        n = round % 3 == 0 ? 0 : round % 3 == 1 ? (int) (rng() % 5)
                                                : 3000;
        for (; n > 0; n--) {
            v = round % 2 ? rng() % 300 : rng() % 20000000000ULL;
            ps_hist_acc_add(&acc, ps_hist_bucket_of(v));
            ps_hist_add(&want, v);
        }

        if (ps_hist_acc_merge(&h, &acc) != 0 || h.count != want.count) {
            same = 0;
        }
        lh = ps_hist_encode(&h, bh, sizeof(bh));
        lw = ps_hist_encode(&want, bw, sizeof(bw));
        if (lh != lw || memcmp(bh, bw, lh) != 0) {
            same = 0;
        }

        ps_hist_acc_clear(&acc);
        for (i = 0; i < PS_HIST_BUCKETS; i++) {
            empty &= acc.n[i] == 0;
        }
        for (i = 0; i < sizeof(acc.used) / sizeof(acc.used[0]); i++) {
            empty &= acc.used[i] == 0;
        }
        empty &= acc.count == 0;

        if (round % 50 == 49) {
            ps_hist_free(&h);
            ps_hist_free(&want);
        }
    }

    ok(same, "300 merges of a dense accumulator equal adding its values");
    ok(empty, "  and each clear leaves it empty");

    ps_hist_free(&h);
    ps_hist_free(&want);
}

static void
test_cumulative(void)
{
    ps_hist_t  h;
    uint64_t   got[PS_HIST_PROM_NLE], want[PS_HIST_PROM_NLE], v;
    size_t     i, b;
    int        edges = 1;

    for (b = 0; b < PS_HIST_PROM_NLE; b++) {
        edges &= ps_hist_is_edge(ps_hist_prom_le_us[b]);
        want[b] = 0;
    }
    ok(edges, "every default Prometheus le is a bucket edge");
    ok(!ps_hist_is_edge(5001) && ps_hist_is_edge(5500),
       "5001 us is not an edge, 5500 us is");

    ps_hist_init(&h);
    for (i = 0; i < 200000; i++) {
        v = gen_wide() % 12000000;
        /* make sure exact boundary values occur */
        if (i % 100 == 0) {
            v = ps_hist_prom_le_us[i / 100 % PS_HIST_PROM_NLE] + (i % 200 ? 1 : 0);
        }
        ps_hist_add(&h, v);
        for (b = 0; b < PS_HIST_PROM_NLE; b++) {
            want[b] += v <= ps_hist_prom_le_us[b];
        }
    }

    ps_hist_cumulative(&h, ps_hist_prom_le_us, PS_HIST_PROM_NLE, got);
    edges = 1;
    for (b = 0; b < PS_HIST_PROM_NLE; b++) {
        if (got[b] != want[b]) {
            printf("# le=%s: got %" PRIu64 " want %" PRIu64 "\n",
                   ps_hist_prom_le_str[b], got[b], want[b]);
            edges = 0;
        }
    }
    ok(edges, "cumulative counts at the default le are exact (200000 values)");
    ps_hist_free(&h);
}

static void
test_encoding(void)
{
    ps_hist_t  h, d;
    uint8_t    buf[PS_HIST_BUCKETS * 10 + 1];
    size_t     len, i;
    static const uint8_t one250[] = { 0x14, 0x00, 0xce, 0, 0, 0, 1 };

    static const struct { const char *name; uint8_t b[16]; size_t len; }
    bad[] = {
        { "empty input", { 0 }, 0 },
        { "version 2", { 0x24 }, 1 },
        { "count width 3", { 0x13 }, 1 },
        { "count width 0", { 0x10 }, 1 },
        { "truncated pair", { 0x14, 0x00, 0x05, 0, 0, 1 }, 6 },
        { "trailing byte", { 0x14, 0x00, 0x05, 0, 0, 0, 1, 0 }, 8 },
        { "index 350", { 0x14, 0x01, 0x5e, 0, 0, 0, 1 }, 7 },
        { "index 65535", { 0x14, 0xff, 0xff, 0, 0, 0, 1 }, 7 },
        { "zero count", { 0x14, 0x00, 0x05, 0, 0, 0, 0 }, 7 },
        { "duplicate index", { 0x14, 0, 5, 0, 0, 0, 1, 0, 5, 0, 0, 0, 1 },
          13 },
        { "descending index", { 0x14, 0, 6, 0, 0, 0, 1, 0, 5, 0, 0, 0, 1 },
          13 },
        { "count above 2^54", { 0x18, 0, 5, 0, 0x40, 0, 0, 0, 0, 0, 0 },
          11 },
    };

    ps_hist_init(&h);
    ps_hist_init(&d);

    len = ps_hist_encode(&h, buf, sizeof(buf));
    ok(len == 1 && buf[0] == 0x14, "empty histogram encodes as 0x14");

    ps_hist_add(&h, 250000);
    len = ps_hist_encode(&h, buf, sizeof(buf));
    ok(len == sizeof(one250) && memcmp(buf, one250, len) == 0,
       "one value of 250 ms encodes as 14 00ce 00000001");

    for (i = 0; i < 100000; i++) {
        ps_hist_add(&h, gen_wide());
    }
    len = ps_hist_encode(&h, buf, sizeof(buf));
    is_u64(len, ps_hist_encoded_size(&h), "encoded size is as announced");
    is_u64(ps_hist_encode(&h, buf, len - 1), 0, "too small a buffer: 0");
    ok(ps_hist_decode(&d, buf, len) == 0, "decode of our encoding");
    {
        uint8_t  again[8192];
        size_t   alen = ps_hist_encode(&d, again, sizeof(again));

        ok(d.n == h.n && alen == len && memcmp(again, buf, len) == 0
           && d.count == h.count, "decode(encode(h)) == h");
    }
    ok(ps_hist_decode(&d, buf, len) == 0 && d.count == 2 * h.count,
       "decode adds into an existing histogram");

    /* small histograms live in the struct: copies are values */
    {
        ps_hist_t  a, b;

        ps_hist_init(&a);
        ps_hist_add(&a, 7);
        ps_hist_add(&a, 7000);
        ps_hist_add(&a, 7);
        b = a;
        ps_hist_add(&b, 9);
        ok(ps_hist_count(&a) == 3 && ps_hist_mem(&a) == 0
           && ps_hist_percentile(&a, 0.5) == 7,
           "two buckets inline, no heap; a copy is a value");
        ok(ps_hist_count(&b) == 4 && ps_hist_mem(&b) > 0,
           "a third bucket moves the copy to the heap");
        ok(ps_hist_merge(&a, &b) == 0 && ps_hist_count(&a) == 7
           && ps_hist_percentile(&a, 0.5) == 7, "merged");
        ps_hist_free(&a);
        ps_hist_free(&b);
    }

    /* counts beyond 32 bits switch to 8-byte counts */
    ps_hist_reset(&h);
    ok(ps_hist_add_bucket(&h, 300, 5000000000ULL) == 0, "add 5e9 to a bucket");
    ps_hist_add(&h, 1);
    len = ps_hist_encode(&h, buf, sizeof(buf));
    ok(len == 21 && buf[0] == 0x18, "a count > 2^32 uses the 0x18 format");
    ps_hist_free(&d);
    ok(ps_hist_decode(&d, buf, len) == 0 && d.count == 5000000001ULL,
       "0x18 format decodes");
    ok(ps_hist_add_bucket(&h, PS_HIST_BUCKETS, 1) == -1,
       "add_bucket refuses an index out of range");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t before = d.count;
        ok(ps_hist_decode(&d, bad[i].b, bad[i].len) == -1
           && d.count == before, "decode rejects %s, h unchanged",
           bad[i].name);
    }

    ps_hist_free(&h);
    ps_hist_free(&d);
}

int
main(void)
{
    test_layout();
    test_percentile_edges();
    test_distribution("uniform 1us..1s", gen_uniform);
    test_distribution("exponential mean 20ms", gen_exponential);
    test_distribution("lognormal median 5ms", gen_lognormal);
    test_distribution("lognormal median 5ms, whole ms", gen_lognormal_ms);
    test_distribution("constant 12345us", gen_constant);
    test_distribution("bimodal 2ms/800ms", gen_bimodal);
    test_distribution("small 0..149us", gen_small);
    test_distribution("log-uniform 1us..1h", gen_wide);
    test_merge();
    test_merge_sparse();
    test_acc();
    test_cumulative();
    test_encoding();

    return done_testing();
}
