/*
 * Unit tests for aggregator/store/redis/redis_repair.c: the Redis sink's
 * memory of what it handed to Redis per live hour sums entries and clients
 * exactly, folds keys and clients beyond its bounds without losing requests,
 * and forgets old hours for good; a repair split into chunks writes every
 * field and client exactly once, in bounded chunks. Prints TAP.
 */

#include <stdio.h>
#include <string.h>

#include "agg/agg_table.h"
#include "store/redis/redis_repair.h"
#include "tap.h"

#define H0  (1795000000LL / 3600 * 3600)

static const ps_redis_repair_entry_t *
find(const ps_redis_repair_hour_t *h, const char *field)
{
    size_t  i;

    for (i = 0; h != NULL && i < h->nentries; i++) {
        if (strcmp(h->entries[i].field, field) == 0) {
            return &h->entries[i];
        }
    }
    return NULL;
}


static uint64_t
client_requests(const ps_redis_repair_hour_t *h, const char *text)
{
    size_t  i;

    for (i = 0; h != NULL && i < h->nclients; i++) {
        if (h->clients[i].len == strlen(text)
            && memcmp(h->clients[i].text, text, h->clients[i].len) == 0)
        {
            return h->clients[i].requests;
        }
    }
    return 0;
}


/* Every field and client in exactly one chunk, in order, no chunk
 * over its budget; 0 on success. */
static int
check_chunks(size_t nf, size_t nc, size_t chunk)
{
    ps_redis_repair_span_t  sp;
    size_t                  k, n, f = 0, c = 0, units;

    n = ps_redis_repair_nchunks(nf, nc, chunk);
    if (n == 0) {
        return -1;
    }
    for (k = 0; k < n; k++) {
        ps_redis_repair_span(nf, nc, chunk, k, &sp);
        units = sp.nfields * PS_REDIS_REPAIR_CLIENT_COST + sp.nclients;
        if (sp.field0 != f || sp.client0 != c
            || units > chunk * PS_REDIS_REPAIR_CLIENT_COST
            || (units == 0 && n > 1)
            || (sp.nclients > 0 && f + sp.nfields != nf))
        {
            diag("nf %zu nc %zu chunk %zu: chunk %zu of %zu: fields %zu+%zu "
                 "clients %zu+%zu", nf, nc, chunk, k, n, sp.field0,
                 sp.nfields, sp.client0, sp.nclients);
            return -1;
        }
        /* only the last chunk may be short */
        if (k + 1 < n && units != chunk * PS_REDIS_REPAIR_CLIENT_COST) {
            diag("nf %zu nc %zu chunk %zu: chunk %zu short", nf, nc, chunk,
                 k);
            return -1;
        }
        f += sp.nfields;
        c += sp.nclients;
    }
    return f == nf && c == nc ? 0 : -1;
}


int
main(void)
{
    ps_redis_repair_t             *rp;
    ps_agg_table_t                *t;
    const ps_redis_repair_hour_t  *h;
    const ps_redis_repair_entry_t *e;
    int64_t                        hours[PS_REDIS_REPAIR_HOURS];
    char                           path[32], client[32];
    size_t                         i, nown, nfolded;
    uint32_t                       at;
    int                            k;

    rp = ps_redis_repair_create(3, 100, 1);
    t = ps_agg_table_create(100);
    if (rp == NULL || t == NULL) {
        bail_out("create");
    }

    /* two flushes of one key sum up; max is a max */
    (void) ps_agg_add(t, H0, "h", 1, "GET", 3, "/a", 2, 200, 10, 1, 100,
                      NULL, 0);
    (void) ps_agg_add(t, H0, "h", 1, "GET", 3, "/a", 2, 503, 30, 2, 200,
                      NULL, 0);
    for (i = 0; i < ps_agg_count(t); i++) {
        is_int(ps_redis_repair_add_entry(rp, ps_agg_entry_at(t, i), NULL), 0,
               "entry added");
    }
    ps_agg_table_clear(t);
    (void) ps_agg_add(t, H0, "h", 1, "GET", 3, "/a", 2, 200, 20, 4, 400,
                      NULL, 0);
    (void) ps_redis_repair_add_entry(rp, ps_agg_entry_at(t, 0), NULL);

    h = ps_redis_repair_hour(rp, H0);
    ok(h != NULL, "hour kept");
    e = find(h, "h\tGET\t/a");
    ok(e != NULL, "field is host\\tmethod\\tpath");
    if (e != NULL) {
        is_u64(e->counts.requests, 3, "requests summed");
        is_u64(e->counts.errors, 1, "errors summed");
        is_u64(e->counts.status[1], 2, "2xx summed");
        is_u64(e->counts.bytes_in, 7, "bytes_in summed");
        is_u64(e->counts.bytes_out, 700, "bytes_out summed");
        is_u64(e->counts.latency_sum_us, 60, "latency sum summed");
        is_u64(e->counts.latency_max_us, 30, "latency max is the max");
    }

    /* beyond max_keys (3): the overflow field, requests stay exact */
    ps_agg_table_clear(t);
    for (k = 0; k < 10; k++) {
        snprintf(path, sizeof(path), "/p%d", k);
        (void) ps_agg_add(t, H0, "h", 1, "GET", 3, path, strlen(path), 200,
                          1, 1, 1, NULL, 0);
    }
    nown = 0;
    nfolded = 0;
    for (i = 0; i < ps_agg_count(t); i++) {
        (void) ps_redis_repair_add_entry(rp, ps_agg_entry_at(t, i), &at);
        h = ps_redis_repair_hour(rp, H0);
        if (at == 0) {
            nfolded++;
        } else if (h != NULL && at <= h->nentries
                   && h->entries[at - 1].field_len
                      == 6 + ps_agg_entry_at(t, i)->path_len
                   && memcmp(h->entries[at - 1].field + 6,
                             ps_agg_entry_at(t, i)->path,
                             ps_agg_entry_at(t, i)->path_len) == 0)
        {
            nown++;
        }
    }
    h = ps_redis_repair_hour(rp, H0);
    is_int((long long) nown, 2, "at: the entry of a key kept as its own");
    is_int((long long) nfolded, 8, "at: 0 for a key folded into overflow");
    is_int((long long) h->nentries, 4, "three keys and the overflow field");
    e = find(h, "*\t*\t{other}");
    ok(e != NULL && e->counts.requests == 8, "overflow field holds the rest");
    is_u64(ps_redis_repair_requests(h), 13, "requests of the hour exact");

    /* clients: summed, folded beyond max_clients (100) */
    for (k = 0; k < 150; k++) {
        snprintf(client, sizeof(client), "10.0.0.%d", k);
        (void) ps_redis_repair_add_client(rp, H0, client, strlen(client),
                                          2);
    }
    (void) ps_redis_repair_add_client(rp, H0, "10.0.0.1", 8, 5);
    (void) ps_redis_repair_add_client(rp, H0, "", 0, 3);
    h = ps_redis_repair_hour(rp, H0);
    is_int((long long) h->nclients, 100, "at most 100 clients kept");
    is_u64(client_requests(h, "10.0.0.1"), 7, "client requests summed");
    is_u64(h->clients_folded, 50 * 2 + 3, "the rest is folded");

    /* hours: at most PS_REDIS_REPAIR_HOURS, the oldest evicted */
    ps_agg_table_clear(t);
    for (k = 1; k <= PS_REDIS_REPAIR_HOURS; k++) {
        (void) ps_agg_add(t, H0 + k * 3600, "h", 1, "GET", 3, "/", 1, 200,
                          1, 1, 1, NULL, 0);
    }
    for (i = 0; i < ps_agg_count(t); i++) {
        is_int(ps_redis_repair_add_entry(rp, ps_agg_entry_at(t, i), NULL), 0,
               "newer hour kept");
    }
    ok(ps_redis_repair_hour(rp, H0) == NULL, "oldest hour evicted");
    is_int((long long) ps_redis_repair_hours(rp, hours),
           PS_REDIS_REPAIR_HOURS, "kept hours listed");
    ok(hours[0] == H0 + 3600 && hours[1] == H0 + 7200, "oldest first");
    ps_agg_table_clear(t);
    (void) ps_agg_add(t, H0, "h", 1, "GET", 3, "/", 1, 200, 1, 1, 1, NULL,
                      0);
    is_int(ps_redis_repair_add_entry(rp, ps_agg_entry_at(t, 0), NULL), 1,
           "an evicted hour is never kept again (it would be partial)");

    ps_redis_repair_keep_from(rp, H0 + 3 * 3600);
    is_int((long long) ps_redis_repair_hours(rp, hours), 1,
           "keep_from forgets older hours");
    ok(ps_redis_repair_hour(rp, H0 + 3600) == NULL, "forgotten");
    is_int(ps_redis_repair_add_client(rp, H0 + 3600, "x", 1, 1), 1,
           "a forgotten hour is not kept again");

    ps_redis_repair_destroy(rp);
    ps_agg_table_destroy(t);

    /* chunks of a repair */
    {
        ps_redis_repair_span_t  sp;
        size_t                  nf, nc, chunk, bad = 0;

        is_int((long long) ps_redis_repair_nchunks(0, 0, 1000), 1,
               "an hour without fields or clients is one chunk");
        ps_redis_repair_span(0, 0, 1000, 0, &sp);
        ok(sp.nfields == 0 && sp.nclients == 0, "and an empty one");
        is_int((long long) ps_redis_repair_nchunks(100000, 16384, 1000),
               105, "100 000 fields and 16 384 clients: 105 chunks of 1000");
        is_int((long long) ps_redis_repair_nchunks(7, 0, 7), 1,
               "7 fields, chunk 7: one chunk");
        is_int((long long) ps_redis_repair_nchunks(8, 0, 7), 2,
               "8 fields: two");
        is_int((long long) ps_redis_repair_nchunks(7, 1, 7), 2,
               "7 fields and a client: two");
        ps_redis_repair_span(7, 1, 7, 1, &sp);
        ok(sp.field0 == 7 && sp.nfields == 0 && sp.client0 == 0
           && sp.nclients == 1, "the client alone in the second");
        ps_redis_repair_span(5, 100, 7, 0, &sp);
        ok(sp.nfields == 5 && sp.client0 == 0
           && sp.nclients == 2 * PS_REDIS_REPAIR_CLIENT_COST,
           "a chunk's room left by its fields goes to clients");
        is_int((long long) ps_redis_repair_nchunks(3, 5, 0), 5,
               "chunk 0 counts as 1 (3 fields, 5 clients: 17 / 4)");

        for (nf = 0; nf < 40; nf++) {
            for (nc = 0; nc < 40; nc += 3) {
                for (chunk = 1; chunk < 12; chunk++) {
                    if (check_chunks(nf, nc, chunk) != 0) {
                        bad++;
                    }
                }
            }
        }
        is_int((long long) bad, 0, "every field and client once, in order, "
               "chunks full but the last (%d sizes)", 40 * 14 * 11);
        ok(check_chunks(100000, 16384, 1000) == 0
           && check_chunks(99999, 16383, 2000) == 0, "large hours too");
    }

    return done_testing();
}
