/*
 * Latency histogram: see histogram.h for the bucket layout and the
 * serialised format.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/histogram.h"

#define SLOT_SHIFT   54
#define COUNT_MASK   ((1ULL << SLOT_SHIFT) - 1)
#define LINEAR_MAX   100          /* 0..100 have a bucket each */
#define PER_DECADE   31
#define FIRST_DECADE 2
#define LAST_DECADE  9

#define slot_index(s)   ((unsigned) ((s) >> SLOT_SHIFT))
#define slot_count(s)   ((s) & COUNT_MASK)
#define slot_make(i, c) (((uint64_t) (i) << SLOT_SHIFT) | (c))

_Static_assert(LINEAR_MAX + 1 + (LAST_DECADE - FIRST_DECADE + 1) * PER_DECADE
               == PS_HIST_OVERFLOW, "bucket count");

static const uint64_t pow10_tab[] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
    10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL
};

/* top edges of a decade's buckets, for the decade 100..1000 */
static const uint16_t mantissa[PER_DECADE] = {
    110, 120, 130, 140, 150, 160, 170, 180, 190, 200,
    220, 240, 250, 275, 300, 330, 360, 390, 420, 460, 500,
    550, 600, 650, 700, 750, 800, 850, 900, 950, 1000
};

const uint64_t ps_hist_prom_le_us[PS_HIST_PROM_NLE] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};

const char *ps_hist_prom_le_str[PS_HIST_PROM_NLE] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10"
};


/* The slots: inline while there are at most PS_HIST_INLINE (the common
 * window bucket: a request or two of similar latency), else on the heap,
 * so that a small histogram costs no allocation and no pointer chase and
 * copies as a value. */
static inline uint64_t *
hist_slots(ps_hist_t *h)
{
    return h->cap > PS_HIST_INLINE ? h->u.slots : h->u.inl;
}


static inline const uint64_t *
hist_cslots(const ps_hist_t *h)
{
    return h->cap > PS_HIST_INLINE ? h->u.slots : h->u.inl;
}


void
ps_hist_init(ps_hist_t *h)
{
    h->u.slots = NULL;
    h->u.inl[PS_HIST_INLINE - 1] = 0;
    h->n = 0;
    h->cap = PS_HIST_INLINE;
    h->count = 0;
}


void
ps_hist_free(ps_hist_t *h)
{
    if (h->cap > PS_HIST_INLINE) {
        free(h->u.slots);
    }
    ps_hist_init(h);
}


void
ps_hist_reset(ps_hist_t *h)
{
    h->n = 0;
    h->count = 0;
}


unsigned
ps_hist_bucket_of(uint64_t us)
{
    uint64_t  d, q;
    unsigned  k, j;

    if (us <= LINEAR_MAX) {
        return (unsigned) us;
    }

    if (us > PS_HIST_MAX_US) {
        return PS_HIST_OVERFLOW;
    }

    /*
     * Upper-inclusive buckets: us is in the bucket of the first edge
     * mantissa[j] * 10^(k-2) >= us, i.e. the first mantissa[j] > q with
     * q = (us - 1) / 10^(k-2), 100 <= q <= 999.
     */
    d = us - 1;
    k = FIRST_DECADE;
    while (d >= pow10_tab[k + 1]) {
        k++;
    }
    q = d / pow10_tab[k - FIRST_DECADE];

    if (q < 200) {
        j = (unsigned) (q - 100) / 10;
    } else if (q >= 500) {
        j = 21 + (unsigned) (q - 500) / 50;
    } else {
        for (j = 10; mantissa[j] <= q; j++) {
            /* void */
        }
    }

    return LINEAR_MAX + 1 + (k - FIRST_DECADE) * PER_DECADE + j;
}


uint64_t
ps_hist_bucket_high(unsigned index)
{
    unsigned  k, j;

    if (index <= LINEAR_MAX) {
        return index;
    }

    if (index >= PS_HIST_OVERFLOW) {
        return UINT64_MAX;
    }

    k = FIRST_DECADE + (index - LINEAR_MAX - 1) / PER_DECADE;
    j = (index - LINEAR_MAX - 1) % PER_DECADE;

    return mantissa[j] * pow10_tab[k - FIRST_DECADE];
}


uint64_t
ps_hist_bucket_low(unsigned index)
{
    if (index <= LINEAR_MAX) {
        return index;
    }

    if (index > PS_HIST_OVERFLOW) {
        index = PS_HIST_OVERFLOW;
    }

    return ps_hist_bucket_high(index - 1) + 1;
}


int
ps_hist_is_edge(uint64_t us)
{
    unsigned  i;

    i = ps_hist_bucket_of(us);

    return i != PS_HIST_OVERFLOW && ps_hist_bucket_high(i) == us;
}


/* Position of the first slot whose index is >= index.  Branch-free: a
 * slot is below (index << 54) exactly when its index is smaller, as its
 * count is never 0. */
static uint32_t
hist_find(const ps_hist_t *h, unsigned index)
{
    const uint64_t  *base;
    uint64_t         key;
    uint32_t         n, half;

    if (h->n == 0) {
        return 0;
    }

    key = slot_make(index, 0);
    base = hist_cslots(h);
    n = h->n;

    while (n > 1) {
        half = n / 2;
        base = base[half] < key ? base + half : base;
        n -= half;
    }

    return (uint32_t) (base - hist_cslots(h)) + (*base < key);
}


static int
hist_reserve(ps_hist_t *h, uint32_t need)
{
    uint32_t   cap;
    uint64_t  *slots;

    if (need <= h->cap) {
        return 0;
    }

    cap = h->cap > PS_HIST_INLINE ? h->cap * 2 : 8;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > PS_HIST_BUCKETS) {
        cap = PS_HIST_BUCKETS;
    }

    if (h->cap > PS_HIST_INLINE) {
        slots = realloc(h->u.slots, cap * sizeof(uint64_t));
        if (slots == NULL) {
            return -1;
        }
    } else {
        slots = malloc(cap * sizeof(uint64_t));
        if (slots == NULL) {
            return -1;
        }
        memcpy(slots, h->u.inl, h->n * sizeof(uint64_t));
    }

    h->u.slots = slots;
    h->cap = cap;

    return 0;
}


int
ps_hist_add_bucket(ps_hist_t *h, unsigned index, uint64_t n)
{
    uint32_t   pos;
    uint64_t  *sl;

    if (index >= PS_HIST_BUCKETS || n > COUNT_MASK) {
        return -1;
    }

    if (n == 0) {
        return 0;
    }

    pos = hist_find(h, index);
    sl = hist_slots(h);

    if (pos < h->n && slot_index(sl[pos]) == index) {
        if (slot_count(sl[pos]) > COUNT_MASK - n) {
            return -1;
        }
        sl[pos] += n;
        h->count += n;
        return 0;
    }

    if (hist_reserve(h, h->n + 1) != 0) {
        return -1;
    }

    sl = hist_slots(h);
    memmove(&sl[pos + 1], &sl[pos], (h->n - pos) * sizeof(uint64_t));
    sl[pos] = slot_make(index, n);
    h->n++;
    h->count += n;

    return 0;
}


int
ps_hist_add(ps_hist_t *h, uint64_t us)
{
    return ps_hist_add_bucket(h, ps_hist_bucket_of(us), 1);
}


int
ps_hist_merge(ps_hist_t *dst, const ps_hist_t *src)
{
    uint32_t         i, j, k, fresh;
    uint64_t        *out, *ds;
    const uint64_t  *ss;
    unsigned         a, b;
    int              jump;

    ss = hist_cslots(src);
    ds = hist_slots(dst);

    /* a few buckets into many (a window's total): binary search each
     * instead of walking dst */
    jump = (uint64_t) src->n * 8 < dst->n;

    /* count buckets that dst lacks, and refuse counter overflow early */
    fresh = 0;
    for (i = 0, j = 0; j < src->n; j++) {
        b = slot_index(ss[j]);
        if (jump) {
            i = hist_find(dst, b);
        }
        while (i < dst->n && slot_index(ds[i]) < b) {
            i++;
        }
        if (i < dst->n && slot_index(ds[i]) == b) {
            if (slot_count(ds[i])
                > COUNT_MASK - slot_count(ss[j]))
            {
                return -1;
            }
        } else {
            fresh++;
        }
    }

    if (fresh == 0) {
        for (i = 0, j = 0; j < src->n; j++) {
            b = slot_index(ss[j]);
            if (jump) {
                i = hist_find(dst, b);
            }
            while (slot_index(ds[i]) < b) {
                i++;
            }
            ds[i] += slot_count(ss[j]);
        }
        dst->count += src->count;
        return 0;
    }

    /* room first, so that a failure leaves dst untouched; then merge in
     * place from the top down (no new array per merge) */
    if (hist_reserve(dst, dst->n + fresh) != 0) {
        return -1;
    }

    i = dst->n;
    j = src->n;
    k = dst->n + fresh;
    out = hist_slots(dst);

    while (j > 0) {
        b = slot_index(ss[j - 1]);
        a = i > 0 ? slot_index(out[i - 1]) : 0;

        if (i > 0 && a > b) {
            out[--k] = out[--i];
        } else if (i > 0 && a == b) {
            out[--k] = out[--i] + slot_count(ss[--j]);
        } else {
            out[--k] = ss[--j];
        }
    }

    dst->n += fresh;
    dst->count += src->count;

    return 0;
}


int
ps_hist_acc_merge(ps_hist_t *dst, const ps_hist_acc_t *a)
{
    uint64_t   slots[PS_HIST_BUCKETS], bits;
    uint32_t   n, w;
    unsigned   i;
    ps_hist_t  src;

    if (a->count == 0) {
        return 0;
    }

    /* its buckets as a ps_hist_t's slots, ascending (the bits in order) */
    n = 0;
    for (w = 0; w < sizeof(a->used) / sizeof(a->used[0]); w++) {
        for (bits = a->used[w]; bits != 0; bits &= bits - 1) {
            i = w * 64 + (unsigned) __builtin_ctzll(bits);
            slots[n++] = slot_make(i, a->n[i]);
        }
    }

    src.u.slots = slots;
    src.n = n;
    src.cap = PS_HIST_BUCKETS;      /* > PS_HIST_INLINE: slots is used */
    src.count = a->count;

    return ps_hist_merge(dst, &src);
}


void
ps_hist_acc_clear(ps_hist_acc_t *a)
{
    uint64_t  bits;
    uint32_t  w;

    for (w = 0; w < sizeof(a->used) / sizeof(a->used[0]); w++) {
        for (bits = a->used[w]; bits != 0; bits &= bits - 1) {
            a->n[w * 64 + (unsigned) __builtin_ctzll(bits)] = 0;
        }
        a->used[w] = 0;
    }

    a->count = 0;
}


uint64_t
ps_hist_count(const ps_hist_t *h)
{
    return h->count;
}


double
ps_hist_percentile(const ps_hist_t *h, double q)
{
    uint64_t  rank, seen;
    uint32_t  i;
    unsigned  index;

    if (h->count == 0) {
        return 0.0;
    }

    if (!(q > 0.0)) {
        rank = 1;
    } else if (q >= 1.0) {
        rank = h->count;
    } else {
        rank = (uint64_t) ceil(q * (double) h->count);
        if (rank < 1) {
            rank = 1;
        }
        if (rank > h->count) {
            rank = h->count;
        }
    }

    seen = 0;
    index = PS_HIST_OVERFLOW;
    for (i = 0; i < h->n; i++) {
        seen += slot_count(hist_cslots(h)[i]);
        if (seen >= rank) {
            index = slot_index(hist_cslots(h)[i]);
            break;
        }
    }

    if (index == PS_HIST_OVERFLOW) {
        return (double) PS_HIST_MAX_US + 1.0;
    }

    return ((double) ps_hist_bucket_low(index)
            + (double) ps_hist_bucket_high(index)) / 2.0;
}


void
ps_hist_cumulative(const ps_hist_t *h, const uint64_t *le_us, size_t n,
    uint64_t *out)
{
    uint32_t  i;
    size_t    b;
    uint64_t  below;

    below = 0;
    i = 0;

    for (b = 0; b < n; b++) {
        while (i < h->n
               && ps_hist_bucket_high(slot_index(hist_cslots(h)[i]))
                  <= le_us[b])
        {
            below += slot_count(hist_cslots(h)[i]);
            i++;
        }
        out[b] = below;
    }
}


size_t
ps_hist_mem(const ps_hist_t *h)
{
    return h->cap > PS_HIST_INLINE ? (size_t) h->cap * sizeof(uint64_t) : 0;
}


static int
hist_wide(const ps_hist_t *h)
{
    uint32_t  i;

    for (i = 0; i < h->n; i++) {
        if (slot_count(hist_cslots(h)[i]) > UINT32_MAX) {
            return 1;
        }
    }

    return 0;
}


size_t
ps_hist_encoded_size(const ps_hist_t *h)
{
    return 1 + (size_t) h->n * (hist_wide(h) ? 10 : 6);
}


size_t
ps_hist_encode(const ps_hist_t *h, uint8_t *buf, size_t cap)
{
    size_t    len, w, p, b;
    uint32_t  i;
    uint64_t  c;
    unsigned  index;

    w = hist_wide(h) ? 8 : 4;
    len = 1 + (size_t) h->n * (2 + w);

    if (cap < len) {
        return 0;
    }

    buf[0] = (uint8_t) (0x10 | w);
    p = 1;

    for (i = 0; i < h->n; i++) {
        index = slot_index(hist_cslots(h)[i]);
        c = slot_count(hist_cslots(h)[i]);
        buf[p++] = (uint8_t) (index >> 8);
        buf[p++] = (uint8_t) index;
        for (b = w; b > 0; b--) {
            buf[p++] = (uint8_t) (c >> (8 * (b - 1)));
        }
    }

    return len;
}


int
ps_hist_decode(ps_hist_t *h, const uint8_t *buf, size_t len)
{
    size_t     w, p, b, npairs;
    uint64_t   c, total;
    unsigned   index;
    long       prev;
    ps_hist_t  tmp;

    if (len < 1 || (buf[0] != PS_HIST_FORMAT_V1_32
                    && buf[0] != PS_HIST_FORMAT_V1_64))
    {
        return -1;
    }

    w = buf[0] & 0x0f;
    if ((len - 1) % (2 + w) != 0) {
        return -1;
    }

    npairs = (len - 1) / (2 + w);
    if (npairs > PS_HIST_BUCKETS) {
        return -1;
    }

    /* validate completely before touching h */
    prev = -1;
    total = 0;
    for (p = 1; p < len; ) {
        index = ((unsigned) buf[p] << 8) | buf[p + 1];
        p += 2;
        c = 0;
        for (b = 0; b < w; b++) {
            c = (c << 8) | buf[p++];
        }
        if (index >= PS_HIST_BUCKETS || (long) index <= prev
            || c == 0 || c > COUNT_MASK || total > UINT64_MAX - c)
        {
            return -1;
        }
        prev = (long) index;
        total += c;
    }

    if (npairs == 0) {
        return 0;
    }

    ps_hist_init(&tmp);
    if (hist_reserve(&tmp, (uint32_t) npairs) != 0) {
        return -1;
    }
    tmp.count = total;

    for (p = 1; p < len; ) {
        index = ((unsigned) buf[p] << 8) | buf[p + 1];
        p += 2;
        c = 0;
        for (b = 0; b < w; b++) {
            c = (c << 8) | buf[p++];
        }
        hist_slots(&tmp)[tmp.n++] = slot_make(index, c);
    }

    if (ps_hist_merge(h, &tmp) != 0) {
        ps_hist_free(&tmp);
        return -1;
    }

    ps_hist_free(&tmp);

    return 0;
}
