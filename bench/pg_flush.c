/*
 * PostgreSQL flush benchmark: times the sink's flush of a delta of N keys
 * (default 10000), first as new rows (inserts) and then twice onto the
 * same rows (updates with merges), each flush one transaction; REPEAT
 * times (default 1) with fresh keys each time, then the minimum and the
 * median of each kind.
 *
 *   bench-pg_flush CONNINFO [N [REPEAT]]   (the schema must be migrated)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg/agg_table.h"
#include "lib/clock.h"
#include "config/config.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/murmur3.h"
#include "pipeline/sink.h"
#include "store/pg/sink_pg.h"

#define ROUNDS  3


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static void
summary(const char *what, double *ms, size_t n)
{
    if (n == 0) {
        return;
    }

    qsort(ms, n, sizeof(double), cmp_double);
    printf("%s: %zu flushes, min %.1f ms, median %.1f ms\n", what, n, ms[0],
           n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2);
}


int
main(int argc, char **argv)
{
    int              round;
    char             path[96];
    size_t           i, n, rep, repeat, nins, nupd;
    double           ms, *ins, *upd;
    uint64_t         t0, t1, now, hash, pos[4] = { 0, 0, 0, 0 };
    int64_t          hour;
    ps_sink_t       *sink;
    ps_config_t      cfg;
    ps_agg_table_t  *delta;

    if (argc < 2) {
        fprintf(stderr, "usage: bench-pg_flush CONNINFO [N [REPEAT]]\n");
        return 2;
    }

    n = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    repeat = argc > 3 ? strtoul(argv[3], NULL, 10) : 1;
    if (repeat == 0) {
        repeat = 1;
    }

    memset(&cfg, 0, sizeof(cfg));
    cfg.postgres = argv[1];
    cfg.node_id = "bench";

    ps_log_set_level(PS_LOG_WARN);

    sink = ps_sink_pg_create(&cfg);
    delta = ps_agg_table_create(n + 1);
    ins = calloc(repeat, sizeof(double));
    upd = calloc(repeat * (ROUNDS - 1), sizeof(double));
    if (sink == NULL || delta == NULL || ins == NULL || upd == NULL
        || sink->ops->connect(sink) != 0)
    {
        return 1;
    }

    now = ps_now_us();
    hour = ps_hour_of((int64_t) now);
    nins = 0;
    nupd = 0;

    for (rep = 0; rep < repeat; rep++) {
        for (round = 1; round <= ROUNDS; round++) {
            for (i = 0; i < n; i++) {
                /* keys of earlier runs and repetitions are not reused */
                snprintf(path, sizeof(path), "/bench/%lld-%zu/%zu/item",
                         (long long) (now / 1000), rep, i);
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
            ms = (double) (t1 - t0) / 1000.0;

            if (round == 1) {
                ins[nins++] = ms;
            } else {
                upd[nupd++] = ms;
            }

            printf("round %d (%s): %zu keys flushed in %.1f ms\n", round,
                   round == 1 ? "insert" : "update", n, ms);

            ps_agg_table_clear(delta);
        }
    }

    if (repeat > 1) {
        summary("insert (all keys new)", ins, nins);
        summary("update (all keys existing)", upd, nupd);
    }

    free(ins);
    free(upd);
    ps_agg_table_destroy(delta);
    sink->ops->destroy(sink);

    return 0;
}
