/*
 * Key limit: see key_limit.h.
 */

#include <stdlib.h>
#include <string.h>

#include "agg/key_limit.h"

#define KL_HOURS  3

typedef struct {
    int64_t    hour;
    size_t     n;
    size_t     mask;            /* slots - 1 */
    uint64_t  *slots;           /* 0 = empty */
} kl_hour_t;

struct ps_key_limit_s {
    size_t     max_keys;
    uint64_t   overflowed;
    kl_hour_t  hours[KL_HOURS];
};


ps_key_limit_t *
ps_key_limit_create(size_t max_keys)
{
    ps_key_limit_t  *kl;

    kl = calloc(1, sizeof(ps_key_limit_t));
    if (kl == NULL) {
        return NULL;
    }

    kl->max_keys = max_keys ? max_keys : 1;

    return kl;
}


void
ps_key_limit_destroy(ps_key_limit_t *kl)
{
    unsigned  i;

    if (kl == NULL) {
        return;
    }

    for (i = 0; i < KL_HOURS; i++) {
        free(kl->hours[i].slots);
    }

    free(kl);
}


/* The set of hour: found, or the oldest one reused for it; NULL when
 * hour is older than every set kept (a very late record). */
static kl_hour_t *
kl_hour(ps_key_limit_t *kl, int64_t hour)
{
    unsigned    i;
    size_t      slots;
    kl_hour_t  *oldest = NULL;

    for (i = 0; i < KL_HOURS; i++) {
        if (kl->hours[i].slots != NULL && kl->hours[i].hour == hour) {
            return &kl->hours[i];
        }
    }

    for (i = 0; i < KL_HOURS; i++) {
        if (kl->hours[i].slots == NULL) {
            oldest = &kl->hours[i];
            break;
        }

        if (oldest == NULL || kl->hours[i].hour < oldest->hour) {
            oldest = &kl->hours[i];
        }
    }

    if (oldest->slots != NULL && oldest->hour > hour) {
        return NULL;
    }

    /* load factor at most 1/2 when full */
    for (slots = 16; slots < 2 * kl->max_keys; slots *= 2) {
        /* void */
    }

    if (oldest->slots == NULL || oldest->mask + 1 != slots) {
        free(oldest->slots);
        oldest->slots = calloc(slots, sizeof(uint64_t));
        if (oldest->slots == NULL) {
            return NULL;
        }

    } else {
        memset(oldest->slots, 0, slots * sizeof(uint64_t));
    }

    oldest->hour = hour;
    oldest->n = 0;
    oldest->mask = slots - 1;

    return oldest;
}


int
ps_key_limit_admit(ps_key_limit_t *kl, int64_t hour, uint64_t h)
{
    size_t      i;
    kl_hour_t  *set;

    set = kl_hour(kl, hour);
    if (set == NULL) {
        kl->overflowed++;
        return 0;
    }

    for (i = h & set->mask; set->slots[i] != 0; i = (i + 1) & set->mask) {
        if (set->slots[i] == h) {
            return 1;
        }
    }

    if (set->n >= kl->max_keys) {
        kl->overflowed++;
        return 0;
    }

    set->slots[i] = h;
    set->n++;

    return 1;
}


uint64_t
ps_key_limit_overflowed(const ps_key_limit_t *kl)
{
    return kl->overflowed;
}
