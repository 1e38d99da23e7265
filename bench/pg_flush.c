/*
 * PostgreSQL flush benchmark: times the sink's flush of a delta of N keys
 * (default 10000), first into an empty hour (inserts) and then again onto
 * the same rows (updates with histogram merges), each one transaction.
 *
 *   bench-pg_flush CONNINFO [N]     (the schema must be migrated)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg_table.h"
#include "clock.h"
#include "config.h"
#include "hour.h"
#include "log.h"
#include "murmur3.h"
#include "sink.h"
#include "sink_pg.h"


int
main(int argc, char **argv)
{
    int              round;
    char             path[64];
    size_t           i, n;
    uint64_t         t0, t1, now, hash, pos[4] = { 0, 0, 0, 0 };
    int64_t          hour;
    ps_sink_t       *sink;
    ps_config_t      cfg;
    ps_agg_table_t  *delta;

    if (argc < 2) {
        fprintf(stderr, "usage: bench-pg_flush CONNINFO [N]\n");
        return 2;
    }

    n = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;

    memset(&cfg, 0, sizeof(cfg));
    cfg.postgres = argv[1];
    cfg.node_id = "bench";

    ps_log_set_level(PS_LOG_WARN);

    sink = ps_sink_pg_create(&cfg);
    delta = ps_agg_table_create(n + 1);
    if (sink == NULL || delta == NULL || sink->ops->connect(sink) != 0) {
        return 1;
    }

    now = ps_now_us();
    hour = ps_hour_of((int64_t) now);

    for (round = 1; round <= 3; round++) {
        for (i = 0; i < n; i++) {
            snprintf(path, sizeof(path), "/bench/%zu/item", i);
            hash = ps_murmur3_hll_hash(&i, sizeof(i));
            ps_agg_add(delta, hour, "bench.test", 10, "GET", 3, path,
                       strlen(path), 200 + (i % 4) * 100, 100 + i % 5000,
                       120, 900, &hash, now);
        }

        pos[0] += n;

        t0 = ps_mono_us();
        if (sink->ops->flush(sink, 0x42, delta, pos, 4) != 0) {
            fprintf(stderr, "flush failed\n");
            return 1;
        }
        t1 = ps_mono_us();

        printf("round %d (%s): %zu keys flushed in %.1f ms\n", round,
               round == 1 ? "insert" : "update", n, (t1 - t0) / 1000.0);

        ps_agg_table_clear(delta);
    }

    ps_agg_table_destroy(delta);
    sink->ops->destroy(sink);

    return 0;
}
