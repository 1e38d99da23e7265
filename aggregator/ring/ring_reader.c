/*
 * Ring reader: see ring_reader.h; the protocol is in pathstats_shm.h.
 *
 * Per ring the consumer owns head (units released) and keeps pos (units
 * handed out), head <= pos <= tail.  The producer publishes tail with a
 * release store after filling the record, so an acquire load of tail
 * makes every unit below it readable; it never writes a unit at or above
 * head + capacity, so units in [head, tail) stay untouched until head
 * moves past them.
 *
 * Each record is copied out of the zone before it is handed out, its
 * lengths checked against the maxima and its size against the ring: the
 * consumer then reads a record that nobody can change under it, and a
 * record that does not fit (a corrupt or hostile writer) ends the ring's
 * reading up to its tail, logged.
 *
 * The zone counts consumed records next to head (units): the reader
 * notes how many records it had handed out at each position a poll
 * reached, which are the positions released later.
 */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "ring/proc.h"
#include "ring/ring_reader.h"

#define PREFETCH_AHEAD  8             /* units */
#define MARKS_MAX       4096          /* positions noted per ring */

/* records handed out up to a position */
typedef struct {
    uint64_t    pos;
    uint64_t    records;
} rr_mark_t;

typedef struct {
    rr_mark_t  *m;                  /* ascending pos, a FIFO */
    size_t      first, n, cap;
} rr_marks_t;

struct ps_ring_reader_s {
    ps_zone_t  *zone;
    uint32_t    nrings;
    uint32_t    next;           /* ring the next poll starts with */
    uint64_t   *pos;            /* per ring: handed out up to here */
    uint64_t   *records;        /* per ring: records handed out (as the
                                   zone counts them) */
    uint64_t   *limit;          /* per ring: poll stops here */
    rr_marks_t *marks;          /* per ring */
    uint64_t    corrupt_logged; /* ps_mono_us() of the last such line */
    uint64_t    copy[PS_RECORD_MAX_UNITS * PS_RECORD_UNIT / 8];
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
    rr->records = calloc(rr->nrings, sizeof(uint64_t));
    rr->limit = calloc(rr->nrings, sizeof(uint64_t));
    rr->marks = calloc(rr->nrings, sizeof(rr_marks_t));
    if (rr->pos == NULL || rr->records == NULL || rr->limit == NULL
        || rr->marks == NULL)
    {
        goto fail;
    }

    for (i = 0; i < rr->nrings; i++) {
        rr->pos[i] = ps_load_acquire(&ps_zone_ring(zone, i)->head);
        rr->records[i] = ps_load_relaxed(&ps_zone_ring(zone, i)->consumed);
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
    uint32_t  i;

    if (rr == NULL) {
        return;
    }

    for (i = 0; rr->marks != NULL && i < rr->nrings; i++) {
        free(rr->marks[i].m);
    }

    free(rr->pos);
    free(rr->records);
    free(rr->limit);
    free(rr->marks);
    free(rr);
}


/* Notes that records were handed out up to pos of ring (after a poll). */
static void
mark(ps_ring_reader_t *rr, uint32_t ring, uint64_t pos, uint64_t records)
{
    size_t       cap, i;
    rr_mark_t   *m;
    rr_marks_t  *ms = &rr->marks[ring];

    if (ms->n > 0 && ms->m[(ms->first + ms->n - 1) % ms->cap].pos == pos) {
        return;
    }

    if (ms->n == MARKS_MAX) {
        /* too many releases pending: the oldest is counted by a walk if
         * it is ever released exactly there */
        ms->first = (ms->first + 1) % ms->cap;
        ms->n--;
    }

    if (ms->n == ms->cap) {
        cap = ms->cap ? 2 * ms->cap : 64;
        m = malloc(cap * sizeof(rr_mark_t));
        if (m == NULL) {
            return;                 /* counted by a walk instead */
        }
        for (i = 0; i < ms->n; i++) {
            m[i] = ms->m[(ms->first + i) % ms->cap];
        }
        free(ms->m);
        ms->m = m;
        ms->cap = cap;
        ms->first = 0;
    }

    ms->m[(ms->first + ms->n) % ms->cap].pos = pos;
    ms->m[(ms->first + ms->n) % ms->cap].records = records;
    ms->n++;
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


/*
 * The record at pos of ring (pos < tail), copied into rr->copy, and the
 * units it takes: 0 for one that does not fit the ring (lengths beyond
 * the maxima, running over the ring's end or past tail), logged.  A skip
 * marker is a record of no content: *skip set, its units those to the
 * ring's end.
 */
static uint64_t
read_record(ps_ring_reader_t *rr, uint32_t ring, uint64_t pos, uint64_t tail,
    int *skip)
{
    uint64_t            off, room, units;
    const ps_record_t  *rec, *src;

    src = ps_zone_slot(rr->zone, ring, pos);
    off = pos & (rr->zone->geo.ring_capacity - 1);
    room = rr->zone->geo.ring_capacity - off;

    memcpy(rr->copy, src, PS_RECORD_UNIT);
    rec = (const ps_record_t *) rr->copy;

    if (rec->flags & PS_REC_SKIP) {
        *skip = 1;
        return room <= tail - pos ? room : 0;
    }

    *skip = 0;
    units = 0;

    if (rec->method_len <= PS_METHOD_MAX && rec->host_len <= PS_HOST_MAX
        && rec->key_len <= PS_KEY_MAX
        && (rec->addr_family == PS_AF_NONE || rec->addr_family == PS_AF_INET
            || rec->addr_family == PS_AF_INET6))
    {
        units = ps_record_units(rec);
    }

    if (units < 2 || units > room || units > tail - pos) {
        return 0;
    }

    memcpy((char *) rr->copy + PS_RECORD_UNIT,
           (const char *) src + PS_RECORD_UNIT,
           (units - 1) * PS_RECORD_UNIT);

    return units;
}


static void
record_corrupt(ps_ring_reader_t *rr, uint32_t ring, uint64_t pos,
    uint64_t tail)
{
    ps_log(PS_LOG_ERROR, "event=ring_record_corrupt ring=%u pos=%" PRIu64
           " tail=%" PRIu64 " action=\"skipped to the tail\"", ring, pos,
           tail);
}


/* Records from pos to end of ring (record boundaries both), counted by
 * walking their headers; the count, or the records up to where the walk
 * met a record that does not fit. */
static uint64_t
walk(ps_ring_reader_t *rr, uint32_t ring, uint64_t pos, uint64_t end)
{
    int       skip;
    uint64_t  units, n = 0;

    while (pos < end) {
        units = read_record(rr, ring, pos, end, &skip);
        if (units == 0) {
            break;
        }
        n += !skip;
        pos += units;
    }

    return n;
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

    rr->records[ring] += walk(rr, ring, rr->pos[ring], pos);
    rr->pos[ring] = pos;
    mark(rr, ring, pos, rr->records[ring]);
    ps_ring_reader_release(rr, ring, pos);
}


size_t
ps_ring_reader_poll(ps_ring_reader_t *rr, size_t max, ps_record_fn fn,
    void *ctx)
{
    int       skip;
    size_t    n;
    uint32_t  i, ring;
    uint64_t  tail, pos, units, records;

    n = 0;

    /* start where the last poll stopped, so that a busy ring cannot
     * starve the others when max cuts a poll short */

    for (i = 0; i < rr->nrings && n < max; i++) {
        ring = (rr->next + i) % rr->nrings;
        tail = ring_tail(rr, ring);
        if (tail > rr->limit[ring]) {
            tail = rr->limit[ring];
        }

        pos = rr->pos[ring];
        records = rr->records[ring];

        while (pos < tail && n < max) {
            /* the units a little ahead are on their way from memory while
             * this record is handled (the consumer touches every unit
             * once, far apart in a large zone) */
            if (pos + PREFETCH_AHEAD < tail) {
                __builtin_prefetch(ps_zone_slot(rr->zone, ring,
                                                pos + PREFETCH_AHEAD));
            }

            units = read_record(rr, ring, pos, tail, &skip);

            if (units == 0) {
                record_corrupt(rr, ring, pos, tail);
                pos = tail;
                break;
            }

            if (!skip) {
                fn(ctx, ring, pos, (const ps_record_t *) rr->copy);
                records++;
                n++;
            }

            pos += units;
        }

        if (pos != rr->pos[ring]) {
            rr->pos[ring] = pos;
            rr->records[ring] = records;
            mark(rr, ring, pos, records);
        }

        if (n == max) {
            rr->next = (pos < tail) ? ring : (ring + 1) % rr->nrings;
        }
    }

    return n;
}


/*
 * The records handed out below pos of ring: exact at the read position, at
 * head and at a position a poll stopped at (a mark), else counted by a
 * walk from the nearest of them below pos.  A position below head counts
 * as head (released records are not walked again).
 */
static uint64_t
records_to(ps_ring_reader_t *rr, uint32_t ring, uint64_t pos)
{
    size_t           lo, hi, mid;
    uint64_t         from, n, head;
    rr_mark_t       *m;
    rr_marks_t      *ms = &rr->marks[ring];
    ps_ring_desc_t  *desc;

    if (pos >= rr->pos[ring]) {
        return rr->records[ring];
    }

    desc = ps_zone_ring(rr->zone, ring);
    head = ps_load_relaxed(&desc->head);
    from = head;
    n = ps_load_relaxed(&desc->consumed);

    if (pos <= head) {
        return n;
    }

    /* the last mark at or below pos (ascending) */
    lo = 0;
    hi = ms->n;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (ms->m[(ms->first + mid) % ms->cap].pos <= pos) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    if (lo > 0) {
        m = &ms->m[(ms->first + lo - 1) % ms->cap];
        if (m->pos >= from) {
            from = m->pos;
            n = m->records;
        }
    }

    return from == pos ? n : n + walk(rr, ring, from, pos);
}


uint64_t
ps_ring_reader_records(ps_ring_reader_t *rr, uint32_t ring, uint64_t from,
    uint64_t to)
{
    uint64_t  a, b;

    if (to <= from) {
        return 0;
    }

    a = records_to(rr, ring, from);
    b = records_to(rr, ring, to);

    return b > a ? b - a : 0;
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
    uint64_t         head, consumed;
    rr_mark_t       *m;
    rr_marks_t      *ms = &rr->marks[ring];
    ps_ring_desc_t  *desc;

    if (pos > rr->pos[ring]) {
        pos = rr->pos[ring];
    }

    desc = ps_zone_ring(rr->zone, ring);

    /* only this process writes head (the consumer lock): relaxed load */
    head = ps_load_relaxed(&desc->head);

    if (pos <= head) {
        return;
    }

    /* the records up to pos: noted by the poll that reached it */
    while (ms->n > 0 && ms->m[ms->first].pos < pos) {
        ms->first = (ms->first + 1) % ms->cap;
        ms->n--;
    }

    m = ms->n > 0 ? &ms->m[ms->first] : NULL;

    if (m != NULL && m->pos == pos) {
        consumed = m->records;
    } else if (pos == rr->pos[ring]) {
        consumed = rr->records[ring];
    } else {
        consumed = ps_load_relaxed(&desc->consumed)
                   + walk(rr, ring, head, pos);
    }

    ps_store_release(&desc->consumed, consumed);
    ps_store_release(&desc->head, pos);
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

    /* a producer that died mid-request counted it in seen, never in
     * records */
    lost = ps_load_relaxed(&desc->seen) - ps_load_relaxed(&desc->dropped)
           - ps_load_relaxed(&desc->records);

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
           lost > old ? lost : old, ps_load_relaxed(&desc->records));

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
