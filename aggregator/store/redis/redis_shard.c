/*
 * Redis shards: see redis_shard.h.
 */

#include <stdio.h>
#include <time.h>

#include <zlib.h>

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

    if (shards <= 1) {
        return 0;
    }

    crc = crc32(0L, (const Bytef *) host, (uInt) hlen);
    crc = crc32(crc, (const Bytef *) "\t", 1);
    crc = crc32(crc, (const Bytef *) method, (uInt) mlen);
    crc = crc32(crc, (const Bytef *) "\t", 1);
    crc = crc32(crc, (const Bytef *) path, (uInt) plen);

    return (unsigned) (crc % shards);
}


void
ps_redis_key_prefix(char *buf, size_t size, int64_t hour, unsigned shard)
{
    time_t     t = (time_t) hour;
    struct tm  tm;

    gmtime_r(&t, &tm);
    snprintf(buf, size, "pathstats:{%04d%02d%02d%02d.%u}:",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             shard);
}
