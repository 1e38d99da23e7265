/*
 * Key limit: at most max_keys distinct keys per hour, counted across
 * calls (not per flush), known keys always admitted, hours independent.
 * And the key's hashes: ps_key_hash_both() is ps_key_hash() and
 * ps_key_hash2().
 */

#include <stdio.h>
#include <string.h>

#include "lib/key_hash.h"
#include "agg/key_limit.h"
#include "rng.h"
#include "tap.h"

/* Both hashes of one pass against each alone, for every length of each
 * part up to 40 bytes (tails of 0..7 bytes after 0..5 words), bytes of
 * every value, at any alignment. */
static void
test_hash_both(void)
{
    char      buf[3][48];
    uint64_t  rng = 5, h2;
    size_t    len[3], i, j, off, same = 0, all = 0, differ = 0;

    for (i = 0; i < 3 * 41 * 8; i++) {
        for (j = 0; j < 3; j++) {
            len[j] = rng_next(&rng) % 41;
        }
        len[i % 3] = (i / 3) % 41;
        off = (i / 123) % 8;
        for (j = 0; j < sizeof(buf[0]); j++) {
            buf[0][j] = (char) rng_next(&rng);
            buf[1][j] = (char) rng_next(&rng);
            buf[2][j] = (char) rng_next(&rng);
        }

        all++;
        if (ps_key_hash_both(buf[0] + off, len[0], buf[1], len[1],
                             buf[2] + 7 - off, len[2], &h2)
                == ps_key_hash(buf[0] + off, len[0], buf[1], len[1],
                               buf[2] + 7 - off, len[2])
            && h2 == ps_key_hash2(buf[0] + off, len[0], buf[1], len[1],
                                  buf[2] + 7 - off, len[2]))
        {
            same++;
        }
        differ += h2 != ps_key_hash(buf[0] + off, len[0], buf[1], len[1],
                                    buf[2] + 7 - off, len[2]);
    }

    is_u64(same, all, "ps_key_hash_both: both hashes as computed alone");
    is_u64(differ, all, "  and the two differ");
}


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

    plan(12);

    test_hash_both();

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
