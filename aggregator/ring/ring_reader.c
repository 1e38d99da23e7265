/*
 * Ring reader: see ring_reader.h; the protocol is in pathstats_shm.h.
 *
 * Per ring the consumer owns head (records released) and keeps pos
 * (records handed out), head <= pos <= tail.  The producer publishes tail
 * with a release store after filling the slot, so an acquire load of tail
 * makes every slot below it readable; it never writes a slot at or above
 * head + capacity, so slots in [head, tail) stay untouched until head
 * moves past them.
 */

#include <inttypes.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "ring/proc.h"
#include "ring/ring_reader.h"

struct ps_ring_reader_s {
    ps_zone_t  *zone;
    uint32_t    nrings;
    uint32_t    next;           /* ring the next poll starts with */
    uint64_t   *pos;            /* per ring: handed out up to here */
    uint64_t   *limit;          /* per ring: poll stops here */
    uint64_t    corrupt_logged; /* ps_mono_us() of the last such line */
};

#define PS_CORRUPT_LOG_INTERVAL_US  (60 * 1000000ULL)


ps_ring_reader_t *
ps_ring_reader_create(ps_zone_t *zone)
{
    uint32_t           i;
    ps_ring_reader_t  *rr;

    if (!zone->writable) {
        /* releasing and reaping store into the zone */
        ps_log(PS_LOG_ERROR, "event=ring_reader_failed error=\"the zone is "
               "open read-only\"");
        return NULL;
    }

    rr = calloc(1, sizeof(ps_ring_reader_t));
    if (rr == NULL) {
        goto fail;
    }

    rr->zone = zone;
    rr->nrings = zone->geo.ring_count;

    rr->pos = calloc(rr->nrings, sizeof(uint64_t));
    rr->limit = calloc(rr->nrings, sizeof(uint64_t));
    if (rr->pos == NULL || rr->limit == NULL) {
        goto fail;
    }

    for (i = 0; i < rr->nrings; i++) {
        rr->pos[i] = ps_load_acquire(&ps_zone_ring(zone, i)->head);
        rr->limit[i] = UINT64_MAX;
    }

    return rr;

fail:

    ps_log(PS_LOG_ERROR, "event=out_of_memory what=ring_reader");
    ps_ring_reader_destroy(rr);

    return NULL;
}


void
ps_ring_reader_destroy(ps_ring_reader_t *rr)
{
    if (rr == NULL) {
        return;
    }

    free(rr->pos);
    free(rr->limit);
    free(rr);
}


/*
 * The ring's tail, or pos when tail is not plausible: a tail behind what
 * was already handed out, or more than a ring ahead of head, means the
 * counters are corrupt, and reading on would hand out garbage.
 */
static uint64_t
ring_tail(ps_ring_reader_t *rr, uint32_t ring)
{
    uint64_t         tail, head;
    ps_ring_desc_t  *desc;

    desc = ps_zone_ring(rr->zone, ring);
    tail = ps_load_acquire(&desc->tail);
    head = ps_load_relaxed(&desc->head);

    if (tail >= rr->pos[ring]
        && tail - head <= rr->zone->geo.ring_capacity)
    {
        return tail;
    }

    /* once a minute: the poll loop meets it every few milliseconds */
    if (rr->corrupt_logged == 0
        || ps_mono_us() - rr->corrupt_logged >= PS_CORRUPT_LOG_INTERVAL_US)
    {
        rr->corrupt_logged = ps_mono_us();
        ps_log(PS_LOG_ERROR, "event=ring_corrupt ring=%u head=%" PRIu64
               " pos=%" PRIu64 " tail=%" PRIu64 " capacity=%u", ring, head,
               rr->pos[ring], tail, rr->zone->geo.ring_capacity);
    }

    return rr->pos[ring];
}


void
ps_ring_reader_skip_to(ps_ring_reader_t *rr, uint32_t ring, uint64_t pos)
{
    uint64_t  tail;

    if (pos <= rr->pos[ring]) {
        return;
    }

    tail = ring_tail(rr, ring);
    if (pos > tail) {
        pos = tail;
    }

    rr->pos[ring] = pos;
    ps_ring_reader_release(rr, ring, pos);
}


size_t
ps_ring_reader_poll(ps_ring_reader_t *rr, size_t max, ps_record_fn fn,
    void *ctx)
{
    size_t    n;
    uint32_t  i, ring;
    uint64_t  tail, pos;

    n = 0;

    /* start where the last poll stopped, so that a busy ring cannot
     * starve the others when max cuts a poll short */

    for (i = 0; i < rr->nrings && n < max; i++) {
        ring = (rr->next + i) % rr->nrings;
        tail = ring_tail(rr, ring);
        if (tail > rr->limit[ring]) {
            tail = rr->limit[ring];
        }

        for (pos = rr->pos[ring]; pos < tail && n < max; pos++, n++) {
            fn(ctx, ring, pos, ps_zone_slot(rr->zone, ring, pos));
        }

        rr->pos[ring] = pos;

        if (n == max) {
            rr->next = (pos < tail) ? ring : (ring + 1) % rr->nrings;
        }
    }

    return n;
}


void
ps_ring_reader_limit(ps_ring_reader_t *rr, uint32_t ring, uint64_t limit)
{
    rr->limit[ring] = limit;
}


uint64_t
ps_ring_reader_position(const ps_ring_reader_t *rr, uint32_t ring)
{
    return rr->pos[ring];
}


int
ps_ring_reader_half_full(const ps_ring_reader_t *rr)
{
    uint32_t   ring;
    uint64_t   head, half;

    half = rr->zone->geo.ring_capacity / 2;

    for (ring = 0; ring < rr->nrings; ring++) {
        /* head is ours: only the consumer moves it */
        head = ps_load_acquire(&ps_zone_ring(rr->zone, ring)->head);
        if (rr->pos[ring] - head > half) {
            return 1;
        }
    }

    return 0;
}


void
ps_ring_reader_release(ps_ring_reader_t *rr, uint32_t ring, uint64_t pos)
{
    ps_ring_desc_t  *desc;

    if (pos > rr->pos[ring]) {
        pos = rr->pos[ring];
    }

    desc = ps_zone_ring(rr->zone, ring);

    /* only this process writes head (the consumer lock): relaxed load */
    if (pos > ps_load_relaxed(&desc->head)) {
        ps_store_release(&desc->head, pos);
    }
}


void
ps_ring_reader_release_all(ps_ring_reader_t *rr)
{
    uint32_t  i;

    for (i = 0; i < rr->nrings; i++) {
        ps_ring_reader_release(rr, i, rr->pos[i]);
    }
}


/*
 * Frees ring i if its owner is proven dead and everything it published
 * is released.  The counters of a dead owner's ring stand still until
 * somebody claims it, and the compare-and-swap from exactly that owner
 * proves nobody did in between: so lost, computed before it, is exact,
 * and a worker that claims the freed ring afterwards does not touch lost
 * (only one adopting a dead owner's ring recomputes it, to the same or a
 * larger total).
 */
static int
reap_ring(ps_ring_reader_t *rr, uint32_t i)
{
    uint64_t         owner, expected, tail, lost, old;
    ps_ring_desc_t  *desc;

    desc = ps_zone_ring(rr->zone, i);
    owner = ps_load_acquire(&desc->owner);

    if (owner == PS_OWNER_FREE || !ps_proc_owner_dead(owner)) {
        return 0;
    }

    tail = ps_load_acquire(&desc->tail);

    if (ps_load_relaxed(&desc->head) != tail) {
        return 0;
    }

    /* a producer that died mid-request counted it in seen, never in tail */
    lost = ps_load_relaxed(&desc->seen) - ps_load_relaxed(&desc->dropped)
           - tail;

    expected = owner;

    if (!ps_cas(&desc->owner, &expected, PS_OWNER_FREE)) {
        /* a worker adopted the ring meanwhile; it accounts lost itself */
        return 0;
    }

    old = ps_load_relaxed(&desc->lost);
    if (lost > old) {
        ps_store_relaxed(&desc->lost, lost);
    }

    ps_store_relaxed(&desc->released_at_us, ps_now_us());

    ps_log(PS_LOG_INFO, "event=ring_reaped ring=%u pid=%d lost=%" PRIu64
           " lost_total=%" PRIu64 " records=%" PRIu64, i,
           (int) ps_owner_pid(owner), lost > old ? lost - old : 0,
           lost > old ? lost : old, tail);

    return 1;
}


unsigned
ps_ring_reader_reap(ps_ring_reader_t *rr)
{
    uint32_t  i;
    unsigned  n;

    n = 0;

    for (i = 0; i < rr->nrings; i++) {
        n += reap_ring(rr, i);
    }

    return n;
}
