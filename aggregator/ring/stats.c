/*
 * The zone's flow counters: see stats.h.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/hour.h"
#include "lib/json_escape.h"
#include "lib/log.h"
#include "ring/proc.h"
#include "ring/stats.h"


void
ps_stats_ring(const ps_zone_t *zone, uint32_t i, ps_ring_stats_t *out)
{
    uint64_t         records;
    ps_ring_desc_t  *d;

    d = ps_zone_ring(zone, i);

    /* consumed before records and records before seen: each counter read
     * later can only have grown, so the differences stay non-negative (the
     * consumer stores consumed with release after acquiring the tail that
     * the producer published after its records) */

    out->owner = ps_load_acquire(&d->owner);
    out->claims = ps_load_relaxed(&d->claims);
    out->consumed = ps_load_acquire(&d->consumed);
    out->head = ps_load_acquire(&d->head);
    out->lost = ps_load_relaxed(&d->lost);
    records = ps_load_acquire(&d->records);
    out->dropped = ps_load_relaxed(&d->dropped);
    out->seen = ps_load_relaxed(&d->seen);

    out->recorded = records + out->lost;
    out->in_ring = records >= out->consumed ? records - out->consumed : 0;
}


/* json_integer of a counter; counters stay far below 2^63 */
static json_t *
counter(uint64_t v)
{
    return json_integer((json_int_t) v);
}


static int
add_counters(json_t *obj, const ps_ring_stats_t *s)
{
    return json_object_set_new(obj, "seen", counter(s->seen))
           | json_object_set_new(obj, "recorded", counter(s->recorded))
           | json_object_set_new(obj, "dropped", counter(s->dropped))
           | json_object_set_new(obj, "consumed", counter(s->consumed))
           | json_object_set_new(obj, "in_ring", counter(s->in_ring))
           | json_object_set_new(obj, "lost", counter(s->lost))
           | json_object_set_new(obj, "head", counter(s->head));
}


static json_t *
ring_json(uint32_t i, const ps_ring_stats_t *s)
{
    int       rc, alive;
    json_t   *r;
    uint32_t  pid;

    r = json_object();
    if (r == NULL) {
        return NULL;
    }

    pid = 0;
    alive = 0;

    if (s->owner != PS_OWNER_FREE) {
        pid = (uint32_t) ps_owner_pid(s->owner);
        alive = !ps_proc_owner_dead(s->owner);
    }

    rc = json_object_set_new(r, "ring", counter(i))
         | json_object_set_new(r, "owner_pid", counter(pid))
         | json_object_set_new(r, "owner_alive", json_boolean(alive))
         | add_counters(r, s)
         | json_object_set_new(r, "claims", counter(s->claims));

    if (rc != 0) {
        json_decref(r);
        return NULL;
    }

    return r;
}


static json_t *
aggregator_json(const ps_zone_header_t *h, uint64_t now_us)
{
    uint64_t  beat;
    json_t   *a, *age;

    a = json_object();
    if (a == NULL) {
        return NULL;
    }

    beat = ps_load_acquire(&h->aggregator_heartbeat_us);

    if (beat == 0) {
        age = json_null();
    } else {
        age = json_real(now_us > beat ? (double) (now_us - beat) / 1e6 : 0.0);
    }

    if (json_object_set_new(a, "pid",
                            counter(ps_load_relaxed(&h->aggregator_pid)))
        | json_object_set_new(a, "heartbeat_age_seconds", age))
    {
        json_decref(a);
        return NULL;
    }

    return a;
}


json_t *
ps_stats_json(const ps_zone_t *zone, uint64_t now_us)
{
    int                       rc;
    char                      id[24], created[PS_ISO8601_MAX];
    json_t                   *root, *totals, *rings, *r;
    uint32_t                  i;
    ps_ring_stats_t           s, t = { 0 };
    const ps_zone_header_t   *h = zone->header;

    root = json_object();
    totals = json_object();
    rings = json_array();

    if (root == NULL || totals == NULL || rings == NULL) {
        goto fail;
    }

    for (i = 0; i < zone->geo.ring_count; i++) {
        ps_stats_ring(zone, i, &s);

        t.seen += s.seen;
        t.recorded += s.recorded;
        t.dropped += s.dropped;
        t.consumed += s.consumed;
        t.in_ring += s.in_ring;
        t.lost += s.lost;
        t.head += s.head;

        r = ring_json(i, &s);
        if (r == NULL || json_array_append_new(rings, r) != 0) {
            goto fail;
        }
    }

    if (add_counters(totals, &t)
        | json_object_set_new(totals, "no_ring",
                              counter(ps_load_relaxed(&h->no_ring))))
    {
        goto fail;
    }

    /* zone_id is a random 64-bit number: hex text, since JSON numbers
     * above 2^53 lose precision in most readers */
    (void) snprintf(id, sizeof(id), "%016" PRIx64, zone->geo.zone_id);

    rc = json_object_set_new(root, "zone", ps_json_bytes(zone->path,
                                                      strlen(zone->path)))
         | json_object_set_new(root, "zone_id", json_string(id))
         | json_object_set_new(root, "layout_version",
                               counter(h->layout_version))
         | json_object_set_new(root, "created",
                               json_string(ps_format_iso8601_frac(
                                   (int64_t) h->created_us, created, 3)))
         | json_object_set_new(root, "master_pid", counter(h->master_pid))
         | json_object_set_new(root, "attach_count",
                               counter(h->attach_count))
         | json_object_set_new(root, "file_size",
                               counter(zone->geo.file_size))
         | json_object_set_new(root, "ring_count",
                               counter(zone->geo.ring_count))
         | json_object_set_new(root, "ring_capacity",
                               counter(zone->geo.ring_capacity))
         | json_object_set_new(root, "totals", totals)
         | json_object_set_new(root, "rings", rings)
         | json_object_set_new(root, "aggregator", aggregator_json(h, now_us));

    if (rc != 0) {
        json_decref(root);
        ps_log(PS_LOG_ERROR, "event=out_of_memory what=stats_json");
        return NULL;
    }

    return root;

fail:

    json_decref(root);
    json_decref(totals);
    json_decref(rings);
    ps_log(PS_LOG_ERROR, "event=out_of_memory what=stats_json");

    return NULL;
}
