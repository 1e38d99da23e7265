/*
 * A set of 64-bit values: open addressing with linear probing, at most
 * half full, grown by doubling.  0 marks an empty slot, so 0 is never a
 * member (the key hashes kept in it are never 0: lib/key_hash.h).  Used
 * where a key is remembered by its hash alone: the per-hour key limit
 * and the PostgreSQL sink's known keys.  Not thread-safe.
 */

#ifndef PS_U64SET_H
#define PS_U64SET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t  *slots;           /* NULL until the first add */
    size_t     mask;            /* slots - 1 */
    size_t     n;               /* members */
} ps_u64set_t;

#define PS_U64SET_INIT  { NULL, 0, 0 }

/* 1 when v is a member, else 0 (always 0 for v == 0). */
int ps_u64set_has(const ps_u64set_t *s, uint64_t v);

/* Adds v (!= 0): 1 when added, 0 when it was a member, -1 when memory
 * ran out (the set is unchanged). */
int ps_u64set_add(ps_u64set_t *s, uint64_t v);

/* Makes room for n members without growing again; 0 or -1. */
int ps_u64set_reserve(ps_u64set_t *s, size_t n);

/* Forgets every member, keeping the memory. */
void ps_u64set_clear(ps_u64set_t *s);

/* Frees the memory; the set is empty and usable again. */
void ps_u64set_free(ps_u64set_t *s);

#endif /* PS_U64SET_H */
