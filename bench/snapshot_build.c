/*
 * Snapshot build benchmark: what one snapshot build costs the drain
 * thread of a settled aggregator that holds PATHS keys (default 100000)
 * in all three windows, with the daemon's defaults (snapshot_max_rows
 * 10000; windows of 2 x max_keys_per_hour = 200 000 keys, the rest of
 * PATHS beyond them counted in the overflow key).  Between two builds
 * CHURN new keys come (default 100) and 10 times as many requests of
 * known keys, and the clock moves on by the snapshot interval (500 ms),
 * as in a busy box's steady state.  No key expires or is folded within
 * a run (the keys' requests are all within the last minutes), so the
 * cost of closing the order's holes is not in the figures.  With CHURN
 * 0 nothing comes between the builds: an idle box, whose windows keep
 * their rows (rows.h) and whose expiry reads no key.
 *
 * The inputs are the same on every run (a seeded sequence), so that
 * callgrind counts the same instructions each time; the CPU times are
 * this process's, per build, their median, minimum and maximum:
 *
 *   bench-snapshot_build [PATHS [BUILDS [CHURN]]]
 *   bench-snapshot_build 100000 9 0           # idle: nothing new
 *   SNAPSHOT_OUT=f bench-snapshot_build ...   # f: the last snapshot
 *   MAX_ROWS=101000 bench-snapshot_build      # snapshot_max_rows: all
 *                                             # keys rows (freshness.pl)
 *   valgrind --tool=callgrind --toggle-collect=settled_builds \
 *       bench-snapshot_build 100000 5      # instructions: total / BUILDS
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg/windows.h"
#include "config/config.h"
#include "lib/log.h"
#include "snapshot/snapshot.h"

#define SEC       1000000ULL
#define T0        (1795000000ULL / 3600 * 3600 * SEC + 1800 * SEC)
#define INTERVAL  (SEC / 2)

static uint64_t  rng_state = 42;


static uint64_t
rng(void)
{
    uint64_t  z;

    z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static double
cpu_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);

    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


/* A request of key i at time t: a path among a few hosts and methods,
 * one in 20 a 500, latencies and sizes spread out so that every order of
 * the snapshot has work to do. */
static void
request(ps_windows_t *w, uint64_t i, uint64_t t)
{
    static const char  *hosts[] = { "api.example.com", "www.example.com" };
    static const char  *methods[] = { "GET", "POST" };
    char                path[64], client[32];
    const char         *h, *m;
    uint64_t            r, chash;
    int                 n;

    r = rng();
    n = snprintf(path, sizeof(path), "/api/v1/items/%llu/detail",
                 (unsigned long long) (i / 4));
    h = hosts[i % 2];
    m = methods[i / 2 % 2];
    chash = r % 5000;
    snprintf(client, sizeof(client), "10.0.%llu.%llu",
             (unsigned long long) (chash / 256),
             (unsigned long long) (chash % 256));

    if (ps_windows_add(w, h, strlen(h), m, strlen(m), path, (size_t) n,
                       r % 20 == 0 ? 500 : 200, 200 + (r >> 8) % 50000,
                       300, 500 + (r >> 24) % 20000, &chash, client, t)
        != 0)
    {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
}


static ps_snapshot_inputs_t  in;


/* BUILDS builds of the settled windows (callgrind's --toggle-collect
 * counts this function only: not inlined, not cloned); their CPU times
 * into ms[]. */
__attribute__((noinline, noclone)) static void
settled_builds(ps_windows_t *w, ps_snapshot_t *s, uint64_t *keys,
    size_t builds, size_t churn, uint64_t *now, double *ms)
{
    const void  *buf;
    size_t       b, j, len;
    double       start;

    for (b = 0; b < builds; b++) {
        *now += INTERVAL;

        for (j = 0; j < churn; j++) {
            request(w, (*keys)++, *now - j);
        }
        for (j = 0; j < 10 * churn; j++) {
            request(w, rng() % *keys, *now - j);
        }

        in.heartbeat_us = *now;
        start = cpu_ms();
        if (ps_snapshot_build(s, &in, *now, 256 << 20, &buf, &len) != 0) {
            fprintf(stderr, "build failed\n");
            exit(1);
        }
        ms[b] = cpu_ms() - start;
    }
}


int
main(int argc, char **argv)
{
    ps_config_t     cfg;
    ps_windows_t   *w;
    ps_snapshot_t  *s;
    const void     *buf;
    size_t          paths, builds, churn, len, first_len, j;
    uint64_t        keys, now;
    double          first, start, *ms;
    FILE           *f;

    paths = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    builds = argc > 2 ? strtoull(argv[2], NULL, 10) : 9;
    churn = argc > 3 ? strtoull(argv[3], NULL, 10) : 100;
    if (paths == 0 || builds == 0) {
        fprintf(stderr, "usage: %s [PATHS [BUILDS [CHURN]]]\n", argv[0]);
        return 2;
    }

    ps_log_set_level(PS_LOG_ERROR);
    if (ps_config_load(&cfg, NULL, NULL, 0) != 0) {
        return 1;
    }
    if (getenv("MAX_ROWS") != NULL) {
        cfg.snapshot_max_rows = strtoull(getenv("MAX_ROWS"), NULL, 10);
    }

    w = ps_windows_create(2 * cfg.max_keys_per_hour);   /* as the daemon */
    s = ps_snapshot_create(&cfg, w);
    ms = calloc(builds, sizeof(double));
    if (w == NULL || s == NULL || ms == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    /* every key 1 to 8 requests over the last 50 s: in all windows, and
     * most of them tied with many others */
    now = T0;
    for (keys = 0; keys < paths; keys++) {
        for (j = 1 + rng() % 8; j > 0; j--) {
            request(w, keys, now - rng() % (50 * SEC));
        }
    }

    memset(&in, 0, sizeof(in));
    in.node_id = cfg.node_id;
    in.pid = 1;
    in.started_us = T0 - 3600 * SEC;
    in.heartbeat_us = now;
    in.ring_count = 1;

    start = cpu_ms();
    if (ps_snapshot_build(s, &in, now, 256 << 20, &buf, &len) != 0) {
        fprintf(stderr, "build failed\n");
        return 1;
    }
    first = cpu_ms() - start;
    first_len = len;

    settled_builds(w, s, &keys, builds, churn, &now, ms);

    /* the last one, to compare two builds of the program */
    if (getenv("SNAPSHOT_OUT") != NULL) {
        if (ps_snapshot_build(s, &in, now, 256 << 20, &buf, &len) != 0
            || (f = fopen(getenv("SNAPSHOT_OUT"), "w")) == NULL
            || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        {
            fprintf(stderr, "cannot write the snapshot\n");
            return 1;
        }
    }

    qsort(ms, builds, sizeof(double), cmp_double);
    printf("# snapshot builds: %zu keys, snapshot_max_rows %llu, %zu new keys"
           " and %zu requests between builds\n", paths,
           (unsigned long long) cfg.snapshot_max_rows, churn, 10 * churn);
    printf("first build    %8.1f ms cpu (%zu bytes)\n", first, first_len);
    printf("settled build  %8.1f ms cpu, median of %zu (%.1f - %.1f)\n",
           ms[builds / 2], builds, ms[0], ms[builds - 1]);

    free(ms);
    ps_snapshot_destroy(s);
    ps_windows_destroy(w);
    ps_config_free(&cfg);

    return 0;
}
