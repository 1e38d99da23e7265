/*
 * Redis client buffer: see redis_clients.h.  An open-addressing hash
 * table of (hour, client text) over an array in insertion order.
 */

#include <stdlib.h>
#include <string.h>

#include "lib/key_hash.h"
#include "store/redis/redis_clients.h"

#define PS_REDIS_CLIENT_SLOTS  (2 * (PS_REDIS_CLIENTS_MAX + 64))


int
ps_redis_clients_init(ps_redis_clients_t *cb)
{
    memset(cb, 0, sizeof(*cb));
    cb->clients = malloc((PS_REDIS_CLIENTS_MAX + 64) * sizeof(*cb->clients));
    cb->slots = calloc(PS_REDIS_CLIENT_SLOTS, sizeof(*cb->slots));
    return cb->clients != NULL && cb->slots != NULL ? 0 : -1;
}


void
ps_redis_clients_free(ps_redis_clients_t *cb)
{
    free(cb->clients);
    free(cb->slots);
    memset(cb, 0, sizeof(*cb));
}


/* Counts k requests of client s (n bytes, 0: the hour's fold); 0, or
 * -1 when the buffer is full. */
static int
ps_redis_client_count(ps_redis_clients_t *cb, int64_t hour, const char *s,
    size_t n, uint64_t k)
{
    uint32_t            slot, idx;
    ps_redis_client_t  *c;

    slot = (uint32_t) (ps_bytes_hash((uint64_t) hour, s, n)
                       % PS_REDIS_CLIENT_SLOTS);
    for ( ;; ) {
        idx = cb->slots[slot];
        if (idx == 0) {
            break;
        }
        c = &cb->clients[idx - 1];
        if (c->hour == hour && c->len == n && memcmp(c->text, s, n) == 0) {
            c->requests += k;
            return 0;
        }
        slot = (slot + 1) % PS_REDIS_CLIENT_SLOTS;
    }

    if (cb->nclients >= (n ? PS_REDIS_CLIENTS_MAX
                           : PS_REDIS_CLIENTS_MAX + 64))
    {
        return -1;
    }

    c = &cb->clients[cb->nclients++];
    c->hour = hour;
    c->requests = k;
    c->len = (uint8_t) n;
    memcpy(c->text, s, n);
    cb->slots[slot] = (uint32_t) cb->nclients;
    return 0;
}


void
ps_redis_clients_add(ps_redis_clients_t *cb, int64_t hour, const char *text,
    size_t len)
{
    if (ps_redis_client_count(cb, hour, text, len, 1) != 0) {
        cb->folded++;
        (void) ps_redis_client_count(cb, hour, "", 0, 1);
    }
}


void
ps_redis_clients_move(ps_redis_clients_t *dst, ps_redis_clients_t *src)
{
    size_t                    i;
    const ps_redis_client_t  *c;

    for (i = 0; i < src->nclients; i++) {
        c = &src->clients[i];
        if (ps_redis_client_count(dst, c->hour, c->text, c->len,
                                  c->requests) != 0)
        {
            dst->folded += c->requests;
            (void) ps_redis_client_count(dst, c->hour, "", 0, c->requests);
        }
    }

    dst->folded += src->folded;
    src->folded = 0;
    ps_redis_clients_clear(src);
}


void
ps_redis_clients_clear(ps_redis_clients_t *cb)
{
    memset(cb->slots, 0, PS_REDIS_CLIENT_SLOTS * sizeof(*cb->slots));
    cb->nclients = 0;
}
