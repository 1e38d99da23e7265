/*
 * Redis Cluster key slots (store/redis/redis_cluster.h): CRC16-XMODEM
 * and the hash tag rule, against the values Redis itself gives
 * (CLUSTER KEYSLOT), and the shards' tags spread over the slots.
 */

#include <stdio.h>
#include <string.h>

#include "store/redis/redis_cluster.h"
#include "store/redis/redis_shard.h"
#include "tap.h"


static unsigned
slot(const char *key)
{
    return ps_redis_slot(key, strlen(key));
}


int
main(void)
{
    char      prefix[64];
    unsigned  s, i, masters[3] = { 0, 0, 0 };

    is_int(ps_redis_crc16("123456789", 9), 0x31c3,
           "CRC16-XMODEM of 123456789 is 0x31c3");
    is_int(ps_redis_crc16("", 0), 0, "of nothing 0");

    /* CLUSTER KEYSLOT of Redis 7.0 */
    is_int(slot("foo"), 12182, "foo: slot 12182");
    is_int(slot("somekey"), 11058, "somekey: slot 11058");
    is_int(slot("hello"), 866, "hello: slot 866");
    is_int(slot("{user1000}.following"), slot("{user1000}.followers"),
           "one hash tag, one slot");
    is_int(slot("{user1000}.following"), slot("user1000"),
           "the tag alone decides");
    is_int(slot("foo{}{bar}"), ps_redis_crc16("foo{}{bar}", 10) & 16383,
           "an empty tag: the whole key");
    is_int(slot("foo{{bar}}zap"), slot("{bar"), "the first { to the next }");
    is_int(slot("foo{bar}{zap}"), slot("bar"), "the first tag only");
    is_int(slot("{open"), ps_redis_crc16("{open", 5) & 16383,
           "no closing brace: the whole key");

    /* the keys of one hour's shard share a slot */
    ps_redis_key_prefix(prefix, sizeof(prefix), 1764158400, 3, 1);
    is_str(prefix, "pathstats:{2025112612.3}:", "a shard's prefix");
    ps_redis_key_prefix(prefix, sizeof(prefix), 1764158400, 3, 16);
    s = slot(prefix);
    ok(s >= 3 * 1024 && s < 4 * 1024 && strncmp(prefix,
                                                "pathstats:{2025112612.3", 23)
       == 0, "shard 3 of 16: %s, slot %u in the 4th sixteenth", prefix, s);
    {
        char  a[96], b[96];

        snprintf(a, sizeof(a), "%stotals", prefix);
        snprintf(b, sizeof(b), "%swm:node-a", prefix);
        is_int(slot(a), slot(b), "totals and watermark in one slot");
    }

    /* the 16 shards of an hour on a 3-master cluster (slots split as
     * redis-cli --cluster create does: 0-5460, 5461-10922, 10923-16383)
     * land on every master, none with more than twice another's */
    for (i = 0; i < 16; i++) {
        ps_redis_key_prefix(prefix, sizeof(prefix), 1764158400, i, 16);
        s = slot(prefix);
        masters[s <= 5460 ? 0 : s <= 10922 ? 1 : 2]++;
    }
    ok(masters[0] >= 4 && masters[1] >= 4 && masters[2] >= 4,
       "16 shards of an hour: 4 to 6 on each master (%u %u %u)",
       masters[0], masters[1], masters[2]);
    {
        int64_t   h;
        unsigned  worst = 16;

        for (h = 0; h < 24 * 30; h++) {
            unsigned  m[3] = { 0, 0, 0 };

            for (i = 0; i < 16; i++) {
                ps_redis_key_prefix(prefix, sizeof(prefix),
                                    1764158400 + h * 3600, i, 16);
                s = slot(prefix);
                m[s <= 5460 ? 0 : s <= 10922 ? 1 : 2]++;
            }
            for (i = 0; i < 3; i++) {
                worst = m[i] < worst ? m[i] : worst;
            }
        }
        ok(worst >= 4, "so in every hour of 30 days (fewest %u): within "
           "1.5 times of each other", worst);
    }

    return done_testing();
}
