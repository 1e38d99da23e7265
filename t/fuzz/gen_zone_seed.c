/*
 * Writes zone headers as the seed corpus of zone_fuzz.c (its input
 * format: file size, allocated bytes, header page), made by
 * ps_zone_layout() as nginx makes them:
 *
 *   gen_zone_seed DIR
 *
 * seed-small, seed-rings, seed-wide: valid small files (2 x 16, 16 x 16,
 * 2 x 64 records); seed-truncated, seed-sparse: the first one measured
 * shorter, and allocated less, than it is.
 */

#include <stdio.h>
#include <string.h>

#include "pathstats_shm.h"


static int
write_seed(const char *dir, const char *name, uint32_t rings,
    uint32_t capacity, int64_t size_delta, int64_t alloc_delta)
{
    int               i;
    FILE             *f;
    char              path[1024];
    uint8_t           prefix[16];
    uint64_t          size, allocated;
    ps_zone_header_t  h;
    static uint8_t    page[PS_HEADER_SIZE];

    memset(&h, 0, sizeof(h));
    size = ps_zone_layout(&h, rings, capacity, 64 * 1024);
    h.magic = PS_ZONE_MAGIC;
    h.zone_id = 0x0123456789abcdefULL;

    allocated = size + (uint64_t) alloc_delta;
    size += (uint64_t) size_delta;

    for (i = 0; i < 8; i++) {
        prefix[i] = (uint8_t) (size >> (8 * i));
        prefix[8 + i] = (uint8_t) (allocated >> (8 * i));
    }

    memset(page, 0, sizeof(page));
    memcpy(page, &h, sizeof(h));

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "wb");
    if (f == NULL
        || fwrite(prefix, 1, sizeof(prefix), f) != sizeof(prefix)
        || fwrite(page, 1, sizeof(page), f) != sizeof(page)
        || fclose(f) != 0)
    {
        fprintf(stderr, "gen_zone_seed: cannot write %s\n", path);
        return -1;
    }

    return 0;
}


int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_zone_seed DIR\n");
        return 2;
    }

    if (write_seed(argv[1], "seed-small", 2, 128, 0, 0) != 0
        || write_seed(argv[1], "seed-rings", 16, 128, 0, 0) != 0
        || write_seed(argv[1], "seed-wide", 2, 512, 0, 0) != 0
        || write_seed(argv[1], "seed-truncated", 2, 128, -4096, -4096) != 0
        || write_seed(argv[1], "seed-sparse", 2, 128, 0, -8192) != 0)
    {
        return 1;
    }

    return 0;
}
