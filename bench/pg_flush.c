/*
 * PostgreSQL flush benchmark: times the sink's flush of a delta of N keys
 * (default 10000), first as new rows (inserts) and then twice onto the
 * same rows (updates), each flush one transaction; REPEAT times (default
 * 1) with fresh keys each time, then the minimum and the median of each
 * kind.  Each key gets REQS requests per flush (default 4) from a few of
 * 1000 clients, so that its histogram and HyperLogLog look like a busy
 * path's.
 *
 * Besides the wall time it reports the CPU time of the server process
 * serving the sink (from /proc, so run it on the database's machine, as
 * root or the server's user) and of this process: on a shared machine
 * the wall time moves with whatever else runs, CPU time much less.
 *
 * Then it times FLEET_READS (default 5) reads of the hour's rows as the
 * fleet thread makes them each round (snapshot/fleet.c: the live part,
 * every node's rows into the fleet table), the same three figures.
 *
 *   bench-pg_flush CONNINFO [N [REPEAT [REQS]]]   (the schema migrated)
 *   KEYS=100000 bench/pg-flush.pl 1               # a read of 100 000 rows
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "agg/agg_table.h"
#include "agg/fleet_table.h"
#include "lib/clock.h"
#include "config/config.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/murmur3.h"
#include "pipeline/sink.h"
#include "store/pg/fleet_pg.h"
#include "store/pg/sink_pg.h"

#define ROUNDS  3

typedef struct {
    double  *wall, *server, *client;
    size_t   n;
} series_t;


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static double
median(double *v, size_t n)
{
    qsort(v, n, sizeof(double), cmp_double);

    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static void
summary(const char *what, series_t *s)
{
    double  wmin;

    if (s->n == 0) {
        return;
    }

    qsort(s->wall, s->n, sizeof(double), cmp_double);
    wmin = s->wall[0];

    printf("%s: %zu flushes, wall min %.1f ms, median %.1f ms; "
           "server CPU median %.1f ms; aggregator CPU median %.1f ms\n",
           what, s->n, wmin, median(s->wall, s->n),
           median(s->server, s->n), median(s->client, s->n));
}


/* utime + stime of pid in ms, or -1. */
static double
proc_cpu_ms(long pid)
{
    char                path[64], buf[1024], *p;
    FILE               *f;
    unsigned long long  ut, st;

    if (pid <= 0) {
        return -1;
    }

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
    fclose(f);

    if (p == NULL
        || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                  "%llu %llu", &ut, &st) != 2)
    {
        return -1;
    }

    return (double) (ut + st) * 1000.0 / (double) sysconf(_SC_CLK_TCK);
}


static double
self_cpu_ms(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0
           + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}


/* The pid of the server process of the sink's connection (the one other
 * connection of its application name), or 0. */
static long
server_pid(PGconn *db)
{
    long       pid = 0;
    PGresult  *res;

    res = PQexec(db, "SELECT pid FROM pg_stat_activity WHERE "
                 "application_name LIKE 'pathstats%' AND pid <> "
                 "pg_backend_pid() ORDER BY backend_start DESC LIMIT 1");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        pid = atol(PQgetvalue(res, 0, 0));
    }
    PQclear(res);

    return pid;
}


static int
series_init(series_t *s, size_t n)
{
    s->wall = calloc(n, sizeof(double));
    s->server = calloc(n, sizeof(double));
    s->client = calloc(n, sizeof(double));
    s->n = 0;

    return s->wall && s->server && s->client ? 0 : -1;
}


/* The fleet thread's read of the hour's rows, FLEET_READS times (the
 * first, which makes the table's keys, not counted); 0 or -1. */
static int
fleet_reads(PGconn *db, const char *conninfo, int64_t hour, size_t rows)
{
    long               spid;
    size_t             i, reads;
    uint64_t           t0;
    double             s0, c0;
    series_t           rd;
    ps_fleet_pg_t     *f;
    ps_fleet_table_t  *t;

    reads = getenv("FLEET_READS") ? strtoul(getenv("FLEET_READS"), NULL, 10)
                                  : 5;
    if (reads == 0) {
        return 0;
    }

    f = ps_fleet_pg_create(conninfo);
    t = ps_fleet_table_create();
    if (f == NULL || t == NULL || series_init(&rd, reads) != 0
        || ps_fleet_pg_rows(f, t, PS_FLEET_LIVE, hour - 3600, 0) != 0)
    {
        fprintf(stderr, "fleet read failed\n");
        return -1;
    }

    spid = server_pid(db);

    for (i = 0; i < reads; i++) {
        s0 = proc_cpu_ms(spid);
        c0 = self_cpu_ms();
        t0 = ps_mono_us();
        ps_fleet_table_reset(t, PS_FLEET_LIVE);
        if (ps_fleet_pg_rows(f, t, PS_FLEET_LIVE, hour - 3600, 0) != 0) {
            fprintf(stderr, "fleet read failed\n");
            return -1;
        }
        rd.wall[rd.n] = (double) (ps_mono_us() - t0) / 1000.0;
        rd.client[rd.n] = self_cpu_ms() - c0;
        rd.server[rd.n] = s0 >= 0 ? proc_cpu_ms(spid) - s0 : -1;
        rd.n++;
    }

    qsort(rd.wall, rd.n, sizeof(double), cmp_double);
    printf("fleet read (the hour's %zu rows): %zu reads, wall min %.1f ms, "
           "median %.1f ms; server CPU median %.1f ms; aggregator CPU "
           "median %.1f ms\n", rows, rd.n, rd.wall[0], median(rd.wall, rd.n),
           median(rd.server, rd.n), median(rd.client, rd.n));

    ps_fleet_table_destroy(t);
    ps_fleet_pg_destroy(f);

    return 0;
}


int
main(int argc, char **argv)
{
    int              round;
    char             path[96];
    long             spid;
    size_t           i, r, n, rep, repeat, reqs;
    double           ms, s0, s1, c0, c1;
    uint64_t         t0, t1, now, hash, client, pos[4] = { 0, 0, 0, 0 };
    int64_t          hour;
    PGconn          *db;
    series_t         ins, upd, *s;
    ps_sink_t       *sink;
    ps_config_t      cfg;
    ps_agg_table_t  *delta;

    if (argc < 2) {
        fprintf(stderr, "usage: bench-pg_flush CONNINFO [N [REPEAT "
                "[REQS]]]\n");
        return 2;
    }

    n = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    repeat = argc > 3 ? strtoul(argv[3], NULL, 10) : 1;
    reqs = argc > 4 ? strtoul(argv[4], NULL, 10) : 4;
    if (repeat == 0) {
        repeat = 1;
    }
    if (reqs == 0) {
        reqs = 1;
    }

    memset(&cfg, 0, sizeof(cfg));
    cfg.postgres = argv[1];
    cfg.node_id = "bench";

    ps_log_set_level(PS_LOG_WARN);

    db = PQconnectdb(argv[1]);
    sink = ps_sink_pg_create(&cfg);
    delta = ps_agg_table_create(n + 1);
    if (PQstatus(db) != CONNECTION_OK || sink == NULL || delta == NULL
        || series_init(&ins, repeat) != 0
        || series_init(&upd, repeat * (ROUNDS - 1)) != 0
        || sink->ops->connect(sink) != 0)
    {
        fprintf(stderr, "cannot start: %s", PQerrorMessage(db));
        return 1;
    }

    spid = server_pid(db);
    now = ps_now_us();
    hour = ps_hour_of((int64_t) now);

    for (rep = 0; rep < repeat; rep++) {
        for (round = 1; round <= ROUNDS; round++) {
            for (i = 0; i < n; i++) {
                /* keys of earlier runs and repetitions are not reused */
                snprintf(path, sizeof(path), "/bench/%lld-%zu/%zu/item",
                         (long long) (now / 1000), rep, i);
                for (r = 0; r < reqs; r++) {
                    client = (i * 7 + r * 131 + (size_t) round) % 1000;
                    hash = ps_murmur3_hll_hash(&client, sizeof(client));
                    ps_agg_add(delta, hour, "bench.test", 10, "GET", 3, path,
                               strlen(path), 200 + (i % 4) * 100,
                               100 + (i * 37 + r * 1009) % 50000, 120, 900,
                               &hash, now);
                }
            }

            pos[0] += n * reqs;

            s0 = proc_cpu_ms(spid);
            c0 = self_cpu_ms();
            t0 = ps_mono_us();
            if (sink->ops->flush(sink, 0x42, delta, pos, 4) != 0) {
                fprintf(stderr, "flush failed\n");
                return 1;
            }
            t1 = ps_mono_us();
            c1 = self_cpu_ms();
            s1 = proc_cpu_ms(spid);
            ms = (double) (t1 - t0) / 1000.0;

            s = round == 1 ? &ins : &upd;
            s->wall[s->n] = ms;
            s->server[s->n] = s0 >= 0 && s1 >= 0 ? s1 - s0 : -1;
            s->client[s->n] = c1 - c0;
            s->n++;

            printf("round %d (%s): %zu keys flushed in %.1f ms (server CPU "
                   "%.0f ms, aggregator CPU %.0f ms)\n", round,
                   round == 1 ? "insert" : "update", n, ms,
                   s->server[s->n - 1], s->client[s->n - 1]);

            ps_agg_table_clear(delta);
        }
    }

    summary("insert (all keys new)", &ins);
    summary("update (all keys existing)", &upd);

    if (fleet_reads(db, argv[1], hour, n * repeat) != 0) {
        return 1;
    }

    ps_agg_table_destroy(delta);
    sink->ops->destroy(sink);
    PQfinish(db);

    return 0;
}
