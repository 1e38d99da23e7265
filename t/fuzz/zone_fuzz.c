/*
 * libFuzzer target for the zone header validator, ps_zone_validate()
 * (include/pathstats_shm.h), which nginx's master and the aggregator run
 * on a file anyone with write access may have crafted.  The input is
 *
 *   8 bytes    the file's size (little-endian), as fstat() measured it
 *   8 bytes    its allocated bytes (st_blocks * 512)
 *   the rest   the header page (zero-padded to PS_HEADER_SIZE)
 *
 * Whatever the input, the validator reads nothing but the header page,
 * and a geometry it accepts keeps every ring descriptor, every unit and
 * both snapshot buffers inside the file, page aligned and apart from
 * each other and from the header: checked in 128-bit arithmetic, and,
 * for files up to FUZZ_MAP_MAX bytes, by touching them in a malloc()ed
 * file of exactly that size through the accessors nginx and the
 * aggregator use, so that AddressSanitizer sees any byte outside it.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pathstats_shm.h"

#define FUZZ_MAP_MAX  (4 * 1024 * 1024)

typedef unsigned __int128  u128;


static volatile uint64_t  sink;


static uint64_t
le64(const uint8_t *p)
{
    uint64_t  v;
    int       i;

    v = 0;

    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }

    return v;
}


/* [a, a + alen) and [b, b + blen) do not overlap */
static int
apart(u128 a, u128 alen, u128 b, u128 blen)
{
    return a + alen <= b || b + blen <= a;
}


static void
check_geometry(const ps_zone_geometry_t *g)
{
    u128  desc, rings, size, i;

    size = g->file_size;
    desc = (u128) g->ring_count * sizeof(ps_ring_desc_t);
    rings = (u128) g->ring_count * g->ring_capacity * PS_RECORD_UNIT;

    if (g->ring_count < PS_RINGS_MIN || g->ring_count > PS_RINGS_MAX
        || g->ring_capacity < PS_RING_CAPACITY_MIN
        || (g->ring_capacity & (g->ring_capacity - 1)) != 0)
    {
        __builtin_trap();
    }

    if (((g->ring_desc_off | g->rings_off | g->snapshot_off
          | g->snapshot_size | g->snap_buf_off[0] | g->snap_buf_off[1]
          | g->snap_buf_size | g->file_size) & (PS_PAGE_SIZE - 1)) != 0)
    {
        __builtin_trap();
    }

    if (g->ring_desc_off < PS_HEADER_SIZE
        || (u128) g->ring_desc_off + desc > size
        || (u128) g->rings_off + rings > size
        || (u128) g->snapshot_off + g->snapshot_size > size
        || g->snap_buf_size == 0)
    {
        __builtin_trap();
    }

    if (!apart(g->ring_desc_off, desc, g->rings_off, rings)
        || !apart(g->rings_off, rings, g->snapshot_off, g->snapshot_size)
        || !apart(g->snap_buf_off[0], g->snap_buf_size,
                  g->snap_buf_off[1], g->snap_buf_size))
    {
        __builtin_trap();
    }

    for (i = 0; i < 2; i++) {
        if (g->snap_buf_off[i] < g->snapshot_off
            || (u128) g->snap_buf_off[i] + g->snap_buf_size
               > (u128) g->snapshot_off + g->snapshot_size)
        {
            __builtin_trap();
        }
    }
}


/* What a worker and the aggregator touch, in a file of exactly its size */
static void
touch(const ps_zone_geometry_t *g, const uint8_t *header)
{
    char            *file;
    uint32_t         i;
    uint64_t         sum;
    ps_record_t     *slot;
    ps_ring_desc_t  *desc;

    file = malloc(g->file_size);
    if (file == NULL) {
        return;
    }

    memcpy(file, header, PS_HEADER_SIZE);
    sum = 0;

    for (i = 0; i < g->ring_count; i++) {
        desc = ps_zone_ring_desc(file, g, i);
        memset(desc, 0, sizeof(ps_ring_desc_t));
        desc->tail = i;

        /* the largest record at the first unit (a record never runs
         * over the ring's end, and a ring holds many of the largest) */
        slot = ps_zone_ring_slot(file, g, i, 0);
        memset(slot, 'a', PS_RECORD_MAX_UNITS * PS_RECORD_UNIT);

        /* the last unit, and a position that wraps around the ring */
        slot = ps_zone_ring_slot(file, g, i, UINT64_MAX);
        memset(slot, 'z', PS_RECORD_UNIT);
        sum += (uint64_t) ((char *) slot
                           - (char *) ps_zone_ring_slot(file, g, i, 0));
    }

    for (i = 0; i < 2; i++) {
        file[g->snap_buf_off[i]] = 1;
        file[g->snap_buf_off[i] + g->snap_buf_size - 1] = 1;
    }

    sink = sum;

    free(file);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t             *header;
    uint64_t             file_size, allocated;
    ps_zone_geometry_t   geo;

    if (size < 16) {
        return 0;
    }

    file_size = le64(data);
    allocated = le64(data + 8);

    /* exactly one page, so that a read past it is reported */
    header = calloc(1, PS_HEADER_SIZE);
    if (header == NULL) {
        return 0;
    }

    memcpy(header, data + 16,
           size - 16 < PS_HEADER_SIZE ? size - 16 : PS_HEADER_SIZE);

    if (ps_zone_validate(file_size >= PS_HEADER_SIZE ? header : NULL,
                         file_size, allocated, &geo)
        == NULL)
    {
        if (geo.file_size != file_size || allocated < file_size) {
            __builtin_trap();
        }

        check_geometry(&geo);

        if (file_size <= FUZZ_MAP_MAX) {
            touch(&geo, header);
        }
    }

    free(header);

    return 0;
}
