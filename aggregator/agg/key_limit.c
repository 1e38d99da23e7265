/*
 * Key limit: see key_limit.h.
 */

#include <stdlib.h>

#include "agg/key_limit.h"
#include "lib/u64set.h"

#define KL_HOURS  3

typedef struct {
    int64_t      hour;
    int          used;
    ps_u64set_t  keys;          /* key hashes admitted in hour */
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
        ps_u64set_free(&kl->hours[i].keys);
    }

    free(kl);
}


/* The set of hour: found, or the oldest one reused for it; NULL when
 * hour is older than every set kept (a very late record). */
static kl_hour_t *
kl_hour(ps_key_limit_t *kl, int64_t hour)
{
    unsigned    i;
    kl_hour_t  *oldest = NULL;

    for (i = 0; i < KL_HOURS; i++) {
        if (kl->hours[i].used && kl->hours[i].hour == hour) {
            return &kl->hours[i];
        }
    }

    for (i = 0; i < KL_HOURS; i++) {
        if (!kl->hours[i].used) {
            oldest = &kl->hours[i];
            break;
        }

        if (oldest == NULL || kl->hours[i].hour < oldest->hour) {
            oldest = &kl->hours[i];
        }
    }

    if (oldest->used && oldest->hour > hour) {
        return NULL;
    }

    /* the memory of the hour it replaces is reused */
    ps_u64set_clear(&oldest->keys);
    oldest->hour = hour;
    oldest->used = 1;

    return oldest;
}


int
ps_key_limit_admit(ps_key_limit_t *kl, int64_t hour, uint64_t h)
{
    kl_hour_t  *set;

    set = kl_hour(kl, hour);

    if (set != NULL) {
        if (ps_u64set_has(&set->keys, h)) {
            return 1;
        }

        if (set->keys.n < kl->max_keys
            && ps_u64set_add(&set->keys, h) == 1)
        {
            return 1;
        }
    }

    kl->overflowed++;

    return 0;
}


uint64_t
ps_key_limit_overflowed(const ps_key_limit_t *kl)
{
    return kl->overflowed;
}
