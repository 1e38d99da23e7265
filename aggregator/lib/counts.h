/*
 * The counters every aggregate of requests carries (a key's hour, a
 * window bucket, a snapshot row, a Redis repair entry): requests, status
 * classes, 5xx errors, bytes, latency sum and maximum.  One add for a
 * request and one merge, so that every aggregate counts the same way.
 *
 * Status classes: 100..199 count in status[0] (1xx) ... 500..599 in
 * status[4] (5xx); a status below 100 or above 599 (e.g. 0 for a request
 * that got no response) counts in requests but in no class.
 */

#ifndef PS_COUNTS_H
#define PS_COUNTS_H

#include <stdint.h>

typedef struct {
    uint64_t  requests;
    uint64_t  status[5];        /* [0] = 1xx ... [4] = 5xx */
    uint64_t  errors;           /* = status[4] */
    uint64_t  bytes_in;
    uint64_t  bytes_out;
    uint64_t  latency_sum_us;
    uint64_t  latency_max_us;
} ps_counts_t;


/* Counts one request. */
static inline void
ps_counts_add(ps_counts_t *c, unsigned status, uint64_t request_us,
    uint64_t bytes_in, uint64_t bytes_out)
{
    c->requests++;

    if (status >= 100 && status <= 599) {
        c->status[status / 100 - 1]++;
        c->errors += (status >= 500);
    }

    c->bytes_in += bytes_in;
    c->bytes_out += bytes_out;
    c->latency_sum_us += request_us;

    if (request_us > c->latency_max_us) {
        c->latency_max_us = request_us;
    }
}


/* dst += src (the maximum of the maxima). */
static inline void
ps_counts_merge(ps_counts_t *dst, const ps_counts_t *src)
{
    int  i;

    dst->requests += src->requests;

    for (i = 0; i < 5; i++) {
        dst->status[i] += src->status[i];
    }

    dst->errors += src->errors;
    dst->bytes_in += src->bytes_in;
    dst->bytes_out += src->bytes_out;
    dst->latency_sum_us += src->latency_sum_us;

    if (src->latency_max_us > dst->latency_max_us) {
        dst->latency_max_us = src->latency_max_us;
    }
}

#endif /* PS_COUNTS_H */
