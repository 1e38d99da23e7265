/*
 * Unit tests for aggregator/lib/u64set.c: membership across growth,
 * clear, and the values next to each other in the probe order.
 */

#include <stdint.h>

#include "tap.h"
#include "lib/u64set.h"


int
main(void)
{
    ps_u64set_t  s = PS_U64SET_INIT;
    uint64_t     i, bad, v;

    ok(!ps_u64set_has(&s, 1), "empty: nothing is a member");
    ok(!ps_u64set_has(&s, 0), "0 is never a member");
    is_int(ps_u64set_add(&s, 42), 1, "add: 1 when added");
    is_int(ps_u64set_add(&s, 42), 0, "add again: 0");
    ok(ps_u64set_has(&s, 42), "member");
    is_u64(s.n, 1, "one member");

    /* values that share their low bits probe the same run of slots */
    for (i = 1; i <= 100000; i++) {
        v = i << 32 | 7;
        if (ps_u64set_add(&s, v) != 1) {
            break;
        }
    }
    is_u64(i, 100001, "100 000 colliding values added, through growth");
    is_u64(s.n, 100001, "  counted");
    ok(2 * s.n <= s.mask + 1, "  at most half full");

    for (i = 1, bad = 0; i <= 100000; i++) {
        bad += !ps_u64set_has(&s, i << 32 | 7);
        bad += ps_u64set_has(&s, i << 32 | 8);
    }
    is_u64(bad, 0, "  every one a member, no neighbour one");

    ps_u64set_clear(&s);
    is_u64(s.n, 0, "clear: empty");
    ok(!ps_u64set_has(&s, 42), "  42 forgotten");
    ok(s.slots != NULL, "  memory kept");
    is_int(ps_u64set_reserve(&s, 10), 0, "reserve below the size: 0");

    ps_u64set_free(&s);
    ok(s.slots == NULL && s.n == 0, "free: empty and reusable");
    is_int(ps_u64set_add(&s, 7), 1, "  add after free");
    ps_u64set_free(&s);

    return done_testing();
}
