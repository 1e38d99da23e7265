/*
 * Fake sink and temporary zone for the pipeline unit tests: see
 * fake_sink.h.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agg/agg_table.h"
#include "lib/clock.h"
#include "fake_sink.h"
#include "tap.h"

char  fake_zone_path[256];


static int
fake_connect(ps_sink_t *s)
{
    return 0;
}


static int
fake_load(ps_sink_t *s, uint64_t zone_id, uint64_t *pos, uint32_t n)
{
    fake_sink_t  *f = s->impl;

    if (f->unreachable) {
        return -1;
    }

    for (uint32_t r = 0; r < n; r++) {
        pos[r] = f->wm[r] * FAKE_U;
    }

    return 0;
}


static int
fake_flush(ps_sink_t *s, uint64_t zone_id, const ps_agg_table_t *delta,
    const uint64_t *pos, uint32_t n)
{
    size_t        i;
    fake_sink_t  *f = s->impl;

    if (f->delay_ms) {
        usleep(f->delay_ms * 1000u);
    }

    if (f->fail) {
        return -1;
    }

    for (i = 0; i < ps_agg_count(delta); i++) {
        f->requests += ps_agg_entry_at(delta, i)->counts.requests;
    }

    for (uint32_t r = 0; r < n; r++) {
        f->pos[r] = pos[r] / FAKE_U;
    }
    f->flushes++;

    return 0;
}


static void
fake_destroy(ps_sink_t *s)
{
    /* the fakes live in the test's frame */
}


static const ps_sink_ops_t  fake_ops = {
    .name = "fake",
    .connect = fake_connect,
    .load_watermarks = fake_load,
    .flush = fake_flush,
    .destroy = fake_destroy,
};


void
fake_sink_init(fake_sink_t *f, int durable)
{
    memset(f, 0, sizeof(*f));
    f->sink.ops = &fake_ops;
    f->sink.impl = f;
    f->sink.durable = durable;
}


ps_zone_header_t *
fake_zone_make(void)
{
    int                fd;
    void              *base;
    uint64_t           size;
    ps_zone_header_t   want, *h;

    memset(&want, 0, sizeof(want));
    size = ps_zone_layout(&want, FAKE_NRINGS, FAKE_CAPACITY, 16384);
    want.zone_id = 0x1122334455667788ULL;
    want.created_us = ps_now_us();
    want.master_pid = 1;
    want.attach_count = 1;

    unlink(fake_zone_path);
    fd = open(fake_zone_path, O_RDWR|O_CREAT|O_EXCL, 0600);
    if (fd == -1 || posix_fallocate(fd, 0, (off_t) size) != 0) {
        bail_out("cannot create %s", fake_zone_path);
    }

    base = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        bail_out("mmap %s", fake_zone_path);
    }

    h = base;
    memcpy(h, &want, sizeof(want));
    ps_store_release(&h->magic, PS_ZONE_MAGIC);

    return h;
}


const ps_zone_geometry_t *
fake_zone_geo(const ps_zone_header_t *h)
{
    static ps_zone_geometry_t  geo;

    /* the test wrote this header itself: its own size is the file's */
    if (ps_zone_validate(h, h->file_size, h->file_size, &geo) != NULL) {
        bail_out("fake zone header invalid: %s",
                 ps_zone_validate(h, h->file_size, h->file_size, &geo));
    }

    return &geo;
}


void
fake_zone_produce(ps_zone_header_t *h, uint32_t ring, int n)
{
    int              i;
    char             key[32];
    uint64_t         tail;
    ps_record_t     *rec;
    ps_ring_desc_t  *d;

    d = ps_zone_ring_desc(h, fake_zone_geo(h), ring);

    for (i = 0; i < n; i++) {
        tail = ps_load_relaxed(&d->tail);
        rec = ps_zone_ring_slot(h, fake_zone_geo(h), ring, tail);
        memset(rec, 0, FAKE_U * PS_RECORD_UNIT);
        rec->time_us = ps_now_us();
        rec->status = 200;
        rec->key_len = (uint16_t) snprintf(key, sizeof(key), "/r%u/%d", ring,
                                           i % 3);
        memcpy((char *) ps_record_key(rec), key, rec->key_len);
        if (ps_record_units(rec) != FAKE_U) {
            bail_out("a fake record is not %d units", FAKE_U);
        }
        /* FAKE_U divides the capacity: no record runs over the end */
        ps_store_relaxed(&d->records, ps_load_relaxed(&d->records) + 1);
        ps_store_release(&d->tail, tail + FAKE_U);
    }
}


uint64_t
fake_zone_head(ps_zone_header_t *h, uint32_t ring)
{
    return ps_load_acquire(&ps_zone_ring_desc(h, fake_zone_geo(h),
                                              ring)->head) / FAKE_U;
}
