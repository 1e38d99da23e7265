/*
 * Known keys of the PostgreSQL sink: a committed delta's keys are known
 * (by hour, host, method and path, byte for byte), counted per hour for
 * the latest four hours, forgotten all at once past max_keys or on
 * clear.
 */

#include <stdio.h>
#include <string.h>

#include "agg/agg_table.h"
#include "lib/key_hash.h"
#include "store/pg/pg_known.h"
#include "tap.h"

#define NKEYS  3000
#define H      ((int64_t) 1700000000 / 3600 * 3600)

static ps_agg_entry_t         entries[NKEYS];
static const ps_agg_entry_t  *order[NKEYS];
static char                   paths[NKEYS][16];


static const ps_agg_entry_t *
key(ps_agg_entry_t *e, int64_t hour, const char *host, const char *method,
    const char *path)
{
    memset(e, 0, sizeof(*e));
    e->hour = hour;
    e->host = host;
    e->host_len = (uint32_t) strlen(host);
    e->method = method;
    e->method_len = (uint32_t) strlen(method);
    e->path = path;
    e->path_len = (uint32_t) strlen(path);

    /* as the aggregation table hashes its entries */
    e->hash = ps_key_hash_hour(ps_key_hash(host, e->host_len, method,
                                           e->method_len, path,
                                           e->path_len), hour);

    return e;
}


/* order[0..n): n keys "/p/<first + i>" of hour */
static void
make_keys(int64_t hour, unsigned first, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/p/%zu", first + i);
        order[i] = key(&entries[i], hour, "h", "GET", paths[i]);
    }
}


/* how many of the keys "/p/<first + i>" of hour, i < n, are known */
static size_t
known_of(ps_pg_known_t *k, int64_t hour, unsigned first, size_t n)
{
    size_t          i, found;
    char            path[16];
    ps_agg_entry_t  e;

    for (i = 0, found = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/p/%zu", first + i);
        found += ps_pg_known_has(k, key(&e, hour, "h", "GET", path));
    }

    return found;
}


int
main(void)
{
    unsigned         i;
    ps_agg_entry_t   e;
    ps_pg_known_t   *k;

    plan(24);

    k = ps_pg_known_create(10000);
    ok(k != NULL, "created");

    ok(!ps_pg_known_has(k, key(&e, H, "h", "GET", "/a")),
       "nothing is known at first");
    is_int(ps_pg_known_in_hours(k, 0, INT64_MAX), 0, "no hour has keys");

    /* one delta of 3 keys */
    order[0] = key(&entries[0], H, "ab", "GET", "/x");
    order[1] = key(&entries[1], H, "h", "POST", "/x");
    order[2] = key(&entries[2], H + 3600, "h", "GET", "/x");
    ps_pg_known_add(k, order, 3);

    ok(ps_pg_known_has(k, key(&e, H, "ab", "GET", "/x")),
       "a committed key is known");
    ok(ps_pg_known_has(k, key(&e, H + 3600, "h", "GET", "/x")),
       "a key of another hour in the same delta is known");
    ok(!ps_pg_known_has(k, key(&e, H, "h", "GET", "/x")),
       "another method is another key");
    ok(!ps_pg_known_has(k, key(&e, H + 7200, "h", "GET", "/x")),
       "another hour is another key");
    ok(!ps_pg_known_has(k, key(&e, H, "a", "bGET", "/x")),
       "the parts' boundaries are part of the key");
    is_int(ps_pg_known_in_hours(k, H, H), 2, "two keys counted in hour 1");
    is_int(ps_pg_known_in_hours(k, H, H + 3600), 3,
           "three keys in hours 1 to 2");
    is_int(ps_pg_known_in_hours(k, H + 7200, H + 7200), 0,
           "none in an hour without keys");

    ps_pg_known_add(k, order, 3);
    is_int(ps_pg_known_in_hours(k, H, H + 3600), 3,
           "a key added again is counted once");

    /* grows past its first table */
    make_keys(H, 0, NKEYS);
    ps_pg_known_add(k, order, NKEYS);
    is_int(known_of(k, H, 0, NKEYS), NKEYS, "3000 keys of one delta known");
    ok(ps_pg_known_has(k, key(&e, H, "ab", "GET", "/x")),
       "the keys known before stay known when the set grows");
    is_int(known_of(k, H, NKEYS, 100), 0, "keys never added are not known");
    is_int(ps_pg_known_in_hours(k, H, H), NKEYS + 2,
           "hour 1 counts every key");

    /* the latest four hours are counted */
    for (i = 1; i <= 4; i++) {
        make_keys(H + 3600 * i, 0, i);
        ps_pg_known_add(k, order, i);
    }
    is_int(ps_pg_known_in_hours(k, H, H), 0,
           "the fifth latest hour is no longer counted");
    is_int(ps_pg_known_in_hours(k, H, H + 4 * 3600), 1 + 1 + 2 + 3 + 4,
           "the four latest hours are");
    ok(ps_pg_known_has(k, key(&e, H, "ab", "GET", "/x")),
       "a key of an hour no longer counted is still known");

    ps_pg_known_clear(k);
    is_int(known_of(k, H, 0, NKEYS), 0, "clear forgets every key");
    is_int(ps_pg_known_in_hours(k, 0, INT64_MAX), 0, "and every count");

    ps_pg_known_destroy(k);

    /* max_keys */
    k = ps_pg_known_create(10);

    make_keys(H, 0, 8);
    ps_pg_known_add(k, order, 8);
    make_keys(H, 100, 5);
    ps_pg_known_add(k, order, 5);
    ok(known_of(k, H, 0, 8) == 0 && known_of(k, H, 100, 5) == 5,
       "past max_keys the keys known before are forgotten, the new kept");
    is_int(ps_pg_known_in_hours(k, H, H), 5, "and counted alone");

    make_keys(H, 200, 11);
    ps_pg_known_add(k, order, 11);
    is_int(known_of(k, H, 100, 5) + known_of(k, H, 200, 11), 0,
           "a delta of more than max_keys keys is not remembered");

    ps_pg_known_destroy(k);
    ps_pg_known_destroy(NULL);

    return done_testing();
}
