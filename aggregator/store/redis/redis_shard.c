/*
 * Redis shards: see redis_shard.h.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "store/redis/redis_cluster.h"
#include "store/redis/redis_shard.h"


unsigned
ps_redis_shard_of(const char *p, size_t len, unsigned shards)
{
    uLong  crc;

    if (shards <= 1) {
        return 0;
    }

    crc = crc32(0L, (const Bytef *) p, (uInt) len);

    return (unsigned) (crc % shards);
}


unsigned
ps_redis_shard_of_key(const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, unsigned shards)
{
    uLong  crc;
    char   field[256];

    if (shards <= 1) {
        return 0;
    }

    /* one crc32() of the field joined here when it is short: each call
     * has a cost of its own, five a key were a tenth of a flush's time
     * in this process */
    if (hlen + mlen + plen + 2 <= sizeof(field)) {
        if (hlen > 0) {
            memcpy(field, host, hlen);
        }
        field[hlen] = '\t';
        if (mlen > 0) {
            memcpy(field + hlen + 1, method, mlen);
        }
        field[hlen + 1 + mlen] = '\t';
        if (plen > 0) {
            memcpy(field + hlen + 2 + mlen, path, plen);
        }
        return ps_redis_shard_of(field, hlen + mlen + plen + 2, shards);
    }

    crc = crc32(0L, (const Bytef *) host, (uInt) hlen);
    crc = crc32(crc, (const Bytef *) "\t", 1);
    crc = crc32(crc, (const Bytef *) method, (uInt) mlen);
    crc = crc32(crc, (const Bytef *) "\t", 1);
    crc = crc32(crc, (const Bytef *) path, (uInt) plen);

    return (unsigned) (crc % shards);
}


void
ps_redis_key_prefix(char *buf, size_t size, int64_t hour, unsigned shard,
    unsigned shards)
{
    time_t     t = (time_t) hour;
    struct tm  tm;
    char       tag[48];
    unsigned   k, lo, hi, slot;
    int        n;

    gmtime_r(&t, &tm);
    n = snprintf(tag, sizeof(tag), "%04d%02d%02d%02d.%u",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 shard);

    /*
     * The tag of shard s aims at the s-th of shards equal
     * ranges of the cluster's slots: "H.s" if its slot is there, else
     * "H.s.k" for the first k that is.  A cluster created with its
     * slots split evenly (redis-cli --cluster create) then gets the
     * same number of an hour's shards on each master, give or take one,
     * whatever the hour; tags that fell where CRC16 puts them gave 3, 8
     * and 5 of 16 to three masters.  Every node computes the same tags.
     */
    if (shards > 1 && shard < shards && n > 0 && (size_t) n < sizeof(tag)) {
        lo = (unsigned) ((uint64_t) shard * PS_REDIS_SLOTS / shards);
        hi = (unsigned) ((uint64_t) (shard + 1) * PS_REDIS_SLOTS / shards);
        for (k = 0; k < 100000; k++) {
            if (k > 0) {
                snprintf(tag + n, sizeof(tag) - (size_t) n, ".%u", k);
            }
            slot = ps_redis_slot(tag, strlen(tag));
            if (slot >= lo && slot < hi) {
                break;
            }
        }
        if (k == 100000) {
            tag[n] = '\0';
        }
    }

    snprintf(buf, size, "pathstats:{%s}:", tag);
}
