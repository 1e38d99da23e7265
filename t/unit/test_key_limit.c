/*
 * Key limit: at most max_keys distinct keys per hour, counted across
 * calls (not per flush), known keys always admitted, hours independent.
 */

#include <stdio.h>
#include <string.h>

#include "lib/key_hash.h"
#include "agg/key_limit.h"
#include "tap.h"

static int
admit_path(ps_key_limit_t *kl, int64_t hour, const char *path)
{
    return ps_key_limit_admit(kl, hour, ps_key_hash("h", 1, "GET", 3, path,
                                                    strlen(path)));
}

int
main(void)
{
    char             path[32];
    unsigned         i, admitted;
    ps_key_limit_t  *kl;

    plan(10);

    kl = ps_key_limit_create(100);
    ok(kl != NULL, "created");

    admitted = 0;
    for (i = 0; i < 1000; i++) {
        snprintf(path, sizeof(path), "/p/%u", i);
        admitted += admit_path(kl, 3600, path);
    }
    is_int(admitted, 100, "exactly max_keys distinct keys admitted");
    is_u64(ps_key_limit_overflowed(kl), 900, "the rest counted as overflow");

    ok(admit_path(kl, 3600, "/p/7"), "an admitted key stays admitted");
    ok(!admit_path(kl, 3600, "/p/999"), "an overflowed key stays out");

    ok(ps_key_limit_admit(kl, 3600, ps_key_hash("h", 1, "POST", 4, "/p/7", 4))
       == 0,
       "another method is another key");

    admitted = 0;
    for (i = 0; i < 1000; i++) {
        snprintf(path, sizeof(path), "/q/%u", i);
        admitted += admit_path(kl, 7200, path);
    }
    is_int(admitted, 100, "the next hour has its own limit");
    ok(admit_path(kl, 3600, "/p/7"), "the previous hour is still known");

    admit_path(kl, 10800, "/r");
    admit_path(kl, 14400, "/r");
    ok(!admit_path(kl, 3600, "/p/new"), "an hour older than all kept is "
       "overflow");
    ok(admit_path(kl, 14400, "/r"), "the newest hour is kept");

    ps_key_limit_destroy(kl);

    return done_testing();
}
