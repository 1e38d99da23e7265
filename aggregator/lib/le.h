/*
 * Little-endian integers in byte buffers, for the files the aggregator
 * writes (spool segments, the intent file) and murmur3's blocks: the
 * same bytes on every host.
 */

#ifndef PS_LE_H
#define PS_LE_H

#include <stdint.h>


static inline void
ps_le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}


static inline void
ps_le64_put(uint8_t *p, uint64_t v)
{
    ps_le32_put(p, (uint32_t) v);
    ps_le32_put(p + 4, (uint32_t) (v >> 32));
}


static inline uint32_t
ps_le32_get(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}


static inline uint64_t
ps_le64_get(const uint8_t *p)
{
    return (uint64_t) ps_le32_get(p) | (uint64_t) ps_le32_get(p + 4) << 32;
}

#endif /* PS_LE_H */
