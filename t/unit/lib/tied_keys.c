/*
 * Requests over keys that tie: see tied_keys.h.
 */

#include <stdio.h>
#include <string.h>

#include "rng.h"
#include "tap.h"
#include "tied_keys.h"


void
tied_keys_add(ps_windows_t *w, uint64_t *rng, size_t n, uint64_t t,
    unsigned npaths, uint64_t spread_us)
{
    static const char  *hosts[] = { "a", "ab", "b", "" };
    static const char  *methods[] = { "GET", "GE", "POST" };
    const char         *h, *m;
    char                path[32];
    uint64_t            r, client = 1;
    size_t              i;

    for (i = 0; i < n; i++) {
        r = rng_next(rng);
        snprintf(path, sizeof(path), "/k/%llu%s",
                 (unsigned long long) (r % npaths), r & 0x10000 ? "/" : "");
        h = hosts[(r >> 20) % 4];
        m = methods[(r >> 24) % 3];
        if (ps_windows_add(w, h, strlen(h), m, strlen(m), path, strlen(path),
                           r % 7 == 0 ? 500 : 200, 1000 * (1 + (r >> 32) % 4),
                           10, 100 * (1 + (r >> 40) % 3), &client,
                           "10.0.0.1", t - (spread_us ? (r >> 44) % spread_us
                                                      : 0))
            != 0)
        {
            bail_out("ps_windows_add failed");
        }
    }
}
