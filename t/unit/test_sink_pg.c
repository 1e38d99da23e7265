/*
 * PostgreSQL sink against a real server (t/sink-postgres.t starts one and
 * sets PS_TEST_PG to its conninfo; without it this test only skips):
 * exact counters across an hour and a day boundary, daily partitions,
 * key bytes that need COPY escaping, histograms merged in C, HyperLogLogs
 * that PostgreSQL reads as it counts them, watermarks that round-trip
 * with the zone id's high bit set, the DEFAULT partition as the fallback,
 * a failed flush that leaves nothing behind, new and existing keys of
 * two partitions in one flush, a row deleted behind the sink's back, a
 * restarted sink that reads the histograms of its rows back, rows per
 * node, two nodes flushing the same keys at once, and a node that the
 * partition's statistics do not know yet (index lookups, one a key),
 * and a flush that neither waits for nor deadlocks with a lifecycle drop
 * holding an old day.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "agg/agg_table.h"
#include "config/config.h"
#include "lib/histogram.h"
#include "lib/clock.h"
#include "lib/hll.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/murmur3.h"
#include "pipeline/sink.h"
#include "store/pg/sink_pg.h"
#include "tap.h"

#define ZONE_ID  0xF00000000000002AULL
#define H1       1795474800LL          /* 2026-11-23 23:00 UTC */
#define H2       (H1 + 3600)           /* 2026-11-24 00:00 UTC */
#define OLD_HOUR 1577854800LL          /* 2020-01-01 05:00 UTC */

static PGconn  *db;
static const char  weird[] = "/a\\b\tc\nd\re\"f'g \xc3\xa9 \xf0\x9f\x98\x80";


/* First column of the first row of sql, as text ("" on NULL). */
static char *
query1(const char *sql)
{
    static char   buf[4096];
    PGresult     *res;

    res = PQexec(db, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        diag("%s: %s", sql, PQerrorMessage(db));
        PQclear(res);
        return "(error)";
    }

    snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    return buf;
}


static void
add(ps_agg_table_t *t, int64_t hour, const char *path, size_t plen,
    unsigned status, uint64_t us, uint64_t client)
{
    uint64_t  h = ps_murmur3_hll_hash(&client, sizeof(client));

    ps_agg_add(t, hour, "h.test", 6, "GET", 3, path, plen, status, us, 10,
               100, &h, (uint64_t) hour * 1000000 + us);
}


/* The row's histogram equals the encoding of want. */
static int
hist_is(int64_t hour, const ps_hist_t *want, const char *name)
{
    char     sql[256], hex[4096];
    size_t   n, i;
    uint8_t  enc[2048];

    n = ps_hist_encode(want, enc, sizeof(enc));
    for (i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", enc[i]);
    }

    snprintf(sql, sizeof(sql), "SELECT encode(latency_hist, 'hex') FROM "
             "pathstats_hourly WHERE hour = to_timestamp(%lld) AND path = "
             "'/p'", (long long) hour);

    return is_str(query1(sql), hex, "%s", name);
}


/* requests of the row (hour, path), "" if none */
static char *
requests_of(int64_t hour, const char *path)
{
    char  sql[256];

    snprintf(sql, sizeof(sql), "SELECT coalesce((SELECT requests::text FROM "
             "pathstats_hourly WHERE hour = to_timestamp(%lld) AND path = "
             "'%s'), '')", (long long) hour, path);

    return query1(sql);
}


/* The histograms of the rows (H1, path) of nrows nodes count want
 * values together, and each counts what its row's requests say. */
static void
hist_count_is(const char *path, int nrows, uint64_t want, const char *name)
{
    int         i, good;
    char        sql[256];
    PGresult   *res;
    ps_hist_t   h, all;

    snprintf(sql, sizeof(sql), "SELECT latency_hist, requests FROM "
             "pathstats_hourly WHERE hour = to_timestamp(%lld) AND path = "
             "'%s'", (long long) H1, path);
    res = PQexecParams(db, sql, 0, NULL, NULL, NULL, NULL, 1);
    ps_hist_init(&all);
    good = PQresultStatus(res) == PGRES_TUPLES_OK
           && PQntuples(res) == nrows;

    for (i = 0; good && i < PQntuples(res); i++) {
        ps_hist_init(&h);
        good = ps_hist_decode(&h, (const uint8_t *) PQgetvalue(res, i, 0),
                              (size_t) PQgetlength(res, i, 0)) == 0
               && PQgetlength(res, i, 1) == 8
               && ps_hist_count(&h)
                  == (uint64_t) (uint8_t) PQgetvalue(res, i, 1)[7]
               && ps_hist_merge(&all, &h) == 0;
        ps_hist_free(&h);
    }

    ok(good && ps_hist_count(&all) == want, "%s", name);

    ps_hist_free(&all);
    PQclear(res);
}


/* One node (a child process): rounds flushes of the same keys, half of
 * them new in each round; each flush retried until it commits.  Exits
 * 0 when every flush committed. */
static void
node(const char *conninfo, const char *id, int rounds, int keys)
{
    int              r, k, tries;
    char             path[32];
    uint64_t         pos[1] = { 0 };
    ps_sink_t       *sink;
    ps_config_t      cfg;
    ps_agg_table_t  *t;

    memset(&cfg, 0, sizeof(cfg));
    cfg.postgres = (char *) conninfo;
    cfg.node_id = (char *) id;

    sink = ps_sink_pg_create(&cfg);
    t = ps_agg_table_create((size_t) keys * 2);
    if (sink == NULL || t == NULL) {
        _exit(1);
    }

    for (r = 0; r < rounds; r++) {
        for (k = 0; k < keys; k++) {
            snprintf(path, sizeof(path), "/n/%d", k < keys / 2 ? k
                     : r * keys + k);
            add(t, H1, path, strlen(path), 200, 10 + (uint64_t) k, 1);
        }
        pos[0] += (uint64_t) keys;

        for (tries = 0; sink->ops->flush(sink, 7, t, pos, 1) != 0; tries++) {
            if (tries == 5) {
                _exit(2);
            }
        }
        ps_agg_table_clear(t);
    }

    ps_agg_table_destroy(t);
    sink->ops->destroy(sink);
    _exit(0);
}


static void
run_more(ps_sink_t *sink, ps_agg_table_t *t, int go, const pid_t *pid)
{
    int       i, st, okn;
    char      sql[256];
    uint64_t  pos[2] = { 100, 100 };

    /* new and existing keys of two partitions in one flush */
    add(t, H1, "/m1", 3, 200, 5, 1);
    add(t, H2, "/m2", 3, 200, 5, 1);
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == 0, "flush of new keys");
    ps_agg_table_clear(t);
    add(t, H1, "/m1", 3, 200, 7, 1);
    add(t, H2, "/m2", 3, 200, 5, 1);
    add(t, H1, "/m3", 3, 200, 5, 1);
    add(t, H2, "/m4", 3, 200, 5, 1);
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == 0,
       "flush of existing and new keys in two partitions");
    ps_agg_table_clear(t);
    is_str(requests_of(H1, "/m1"), "2", "  existing key, day 1: added");
    snprintf(sql, sizeof(sql), "SELECT latency_sum_us || ',' || "
             "latency_max_us || ',' || (first_seen = to_timestamp(%lld) + "
             "interval '5 us') || ',' || (last_seen = to_timestamp(%lld) + "
             "interval '7 us') FROM pathstats_hourly WHERE path = '/m1'",
             (long long) H1, (long long) H1);
    is_str(query1(sql), "12,7,true,true",
           "  latency sum and max, first_seen and last_seen merged");
    is_str(requests_of(H2, "/m2"), "2", "  existing key, day 2: added");
    is_str(requests_of(H1, "/m3"), "1", "  new key, day 1: inserted");
    is_str(requests_of(H2, "/m4"), "1", "  new key, day 2: inserted");

    /* a row the sink knows deleted behind its back */
    PQclear(PQexec(db, "DELETE FROM pathstats_hourly WHERE path = '/m1'"));
    add(t, H1, "/m1", 3, 200, 5, 1);
    add(t, H1, "/m3", 3, 200, 5, 1);
    ps_log_set_level(PS_LOG_ERROR + 1);
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == 0,
       "a flush onto a row deleted meanwhile commits");
    ps_log_set_level(PS_LOG_ERROR);
    ps_agg_table_clear(t);
    is_str(requests_of(H1, "/m1"), "1", "  the deleted row is back, once");
    is_str(requests_of(H1, "/m3"), "2", "  the other row counted once");

    /* two nodes flushing the same rows at once, new ones among them
     * (forked before anything was allocated, waiting for their go) */
    if (write(go, "gg", 2) != 2) {
        diag("cannot start the nodes");
    }
    close(go);

    okn = 0;
    for (i = 0; i < 2; i++) {
        if (pid[i] > 0 && waitpid(pid[i], &st, 0) == pid[i]
            && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        {
            okn++;
        }
    }

    ok(okn == 2, "two nodes flushed the same keys concurrently");
    snprintf(sql, sizeof(sql), "SELECT count(*) || ',' || count(DISTINCT "
             "path) || ',' || sum(requests) || ',' || sum(latency_sum_us) "
             "FROM pathstats_hourly WHERE path LIKE '/n/%%'");
    /* keys: 100 kept over the rounds, 20 x 100 new ones; each a row per
     * node; requests: 2 x 20 x 200 */
    is_str(query1(sql), "4200,2100,8000,876000",
           "  a row per node and key, every request counted once");
    is_str(query1("SELECT string_agg(DISTINCT node_id, ',') FROM "
                  "pathstats_hourly WHERE path LIKE '/n/%'"),
           "unit-pg-a,unit-pg-b", "  under the two node ids");
    hist_count_is("/n/0", 2, 40, "  histograms of a kept key, per node");
    hist_count_is("/n/150", 2, 2, "  histograms of a key both inserted");
}


/* A sink started anew (a restarted aggregator) onto rows of the hour it
 * starts in: it reads their histograms back instead of taking them as
 * new, and its rows stay apart from another node's. */
static void
run_restart(const char *conninfo, ps_agg_table_t *t)
{
    int              i;
    int64_t          live;
    char             sql[256];
    uint64_t         pos[1] = { 10 };
    ps_hist_t        want;
    ps_sink_t       *a, *b;
    ps_config_t      cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.postgres = (char *) conninfo;
    cfg.node_id = "unit-pg-r";
    live = ps_hour_of((int64_t) ps_now_us());
    ps_hist_init(&want);

    a = ps_sink_pg_create(&cfg);
    for (i = 0; i < 3; i++) {
        add(t, live, "/r", 2, 200, 1000 + (uint64_t) i, 1);
        ps_hist_add(&want, 1000 + (uint64_t) i);
    }
    ok(a->ops->flush(a, 9, t, pos, 1) == 0, "restart: first sink flushes");
    a->ops->destroy(a);
    ps_agg_table_clear(t);

    b = ps_sink_pg_create(&cfg);
    for (i = 0; i < 2; i++) {
        add(t, live, "/r", 2, 200, 50000 + (uint64_t) i, 1);
        ps_hist_add(&want, 50000 + (uint64_t) i);
    }
    pos[0] = 20;
    ok(b->ops->flush(b, 9, t, pos, 1) == 0,
       "  the restarted sink flushes onto the same row");
    ps_agg_table_clear(t);
    add(t, live, "/r", 2, 200, 7, 1);
    ps_hist_add(&want, 7);
    pos[0] = 30;
    ok(b->ops->flush(b, 9, t, pos, 1) == 0, "  and again, from memory");
    ps_agg_table_clear(t);

    snprintf(sql, sizeof(sql), "SELECT requests || ',' || latency_max_us "
             "FROM pathstats_hourly WHERE path = '/r' AND node_id = "
             "'unit-pg-r'");
    is_str(query1(sql), "6,50001", "  its row counts all six requests");
    {
        uint8_t   enc[256];
        char      hex[600];
        size_t    n, j;

        n = ps_hist_encode(&want, enc, sizeof(enc));
        for (j = 0; j < n; j++) {
            snprintf(hex + 2 * j, 3, "%02x", enc[j]);
        }
        is_str(query1("SELECT encode(latency_hist, 'hex') FROM "
                      "pathstats_hourly WHERE path = '/r'"), hex,
               "  and its histogram all six, the first three read back");
    }

    cfg.node_id = "unit-pg-s";
    a = ps_sink_pg_create(&cfg);
    add(t, live, "/r", 2, 200, 3, 1);
    ok(a->ops->flush(a, 9, t, pos, 1) == 0, "  another node flushes it");
    a->ops->destroy(a);
    ps_agg_table_clear(t);
    is_str(query1("SELECT count(*) || ',' || sum(requests) FROM "
                  "pathstats_hourly WHERE path = '/r'"), "2,7",
           "  into a row of its own");

    b->ops->destroy(b);
    ps_hist_free(&want);
}


/* The index scans of the partition of day p20261128 so far
 * (pg_stat_user_indexes; a backend reports its counts when it ends). */
static long long
stale_scans(void)
{
    return atoll(query1("SELECT coalesce(sum(idx_scan), 0) FROM "
                        "pg_stat_user_indexes WHERE relname = "
                        "'pathstats_hourly_p20261128'"));
}


/* Waits until stale_scans() has taken at least want (the counts of a
 * sink's backend arrive when it ends) and stays put for 300 ms; its
 * value. */
static long long
stale_scans_settle(long long want)
{
    int        i, still = 0;
    long long  v, last = -1;

    for (i = 0; i < 100 && still < 3; i++) {
        v = stale_scans();
        still = v >= want && v == last ? still + 1 : 0;
        last = v;
        usleep(100000);
    }

    return last;
}


/* A node the partition's statistics do not know yet (their ANALYZE saw
 * another node's rows only) reads and updates its rows of a past hour
 * by index lookups, one a key, not by a pass over all its rows per key. */
static void
run_stale_stats(const char *conninfo)
{
    int              i, n = 2000, round;
    char             path[32];
    int64_t          hour = H2 + 4 * 86400;      /* 2026-11-28 00:00 */
    uint64_t         pos[1] = { 0 };
    long long        before, scans;
    ps_sink_t       *s = NULL;
    ps_config_t      cfg;
    ps_agg_table_t  *t = ps_agg_table_create((size_t) n * 2);

    memset(&cfg, 0, sizeof(cfg));
    cfg.postgres = (char *) conninfo;
    before = 0;

    /* round 1: the old node; 2 and 3: the new one, new rows then the
     * same rows again */
    for (round = 0; round < 3; round++) {
        cfg.node_id = round == 0 ? "unit-pg-old" : "unit-pg-new";
        if (round < 2) {
            s = ps_sink_pg_create(&cfg);
        }
        for (i = 0; t && i < n; i++) {
            snprintf(path, sizeof(path), "/s/%d", i);
            add(t, hour, path, strlen(path), 200, 5, 1);
        }
        pos[0] += (uint64_t) n;
        ok(s && t && s->ops->flush(s, 11, t, pos, 1) == 0,
           "stale statistics: %s flushes %d keys (round %d)", cfg.node_id,
           n, round + 1);
        ps_agg_table_clear(t);
        if (round == 0) {
            s->ops->destroy(s);
            PQclear(PQexec(db, "ANALYZE pathstats_hourly_p20261128"));
            before = stale_scans_settle(0);
        }
    }
    s->ops->destroy(s);

    scans = stale_scans_settle(before + 1) - before;
    ok(scans >= 2 * n, "  its reads and its UPDATE took %lld index scans "
       "for %d keys (>= 2 x %d)", scans, n, n);
    is_str(query1("SELECT count(*) || ' ' || sum(requests) FROM "
                  "pathstats_hourly WHERE path LIKE '/s/%' AND node_id = "
                  "'unit-pg-new'"), "2000 4000",
           "  and its 2000 rows count both flushes");
    ps_agg_table_destroy(t);
}


/* A flush of this week's hours while another transaction holds SHARE
 * on an old day's partition (as a lifecycle drop does before it takes
 * the parent): it neither reads nor updates that partition, so it
 * neither waits for nor deadlocks with the drop.  The flush runs in a
 * child, given 10 s; it used to wait for the lock (its UPDATE took ROW
 * EXCLUSIVE on every partition). */
static void
run_old_day_locked(const char *conninfo)
{
    int              i, st;
    pid_t            pid;
    uint64_t         pos[1] = { 100000 };
    PGresult        *res;
    ps_sink_t       *s;
    ps_config_t      cfg;
    ps_agg_table_t  *t;

    res = PQexec(db, "BEGIN; LOCK TABLE pathstats_hourly_p20261123, "
                 "pathstats_hourly_default IN SHARE MODE");
    ok(PQresultStatus(res) == PGRES_COMMAND_OK, "an old day and the DEFAULT "
       "partition held in SHARE mode by another session");
    PQclear(res);

    pid = fork();
    if (pid == 0) {
        memset(&cfg, 0, sizeof(cfg));
        cfg.postgres = (char *) conninfo;
        cfg.node_id = "unit-pg-new";
        s = ps_sink_pg_create(&cfg);
        t = ps_agg_table_create(16);
        if (s == NULL || t == NULL) {
            _exit(3);
        }
        /* an existing row (UPDATE) and a new one (COPY) */
        add(t, H2 + 4 * 86400, "/s/0", 4, 200, 5, 1);
        add(t, H2 + 4 * 86400, "/s/new", 6, 200, 5, 1);
        _exit(s->ops->flush(s, 11, t, pos, 1) == 0 ? 0 : 1);
    }

    st = -1;
    for (i = 0; pid > 0 && i < 1000; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            break;
        }
        st = -1;
        usleep(10000);
    }

    PQclear(PQexec(db, "ROLLBACK"));
    if (pid > 0 && st == -1) {
        (void) waitpid(pid, &st, 0);
        st = -1;
    }

    ok(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "  a flush of another day commits meanwhile, without waiting");
    is_str(query1("SELECT string_agg(requests::text, ',' ORDER BY path) "
                  "FROM pathstats_hourly WHERE node_id = 'unit-pg-new' AND "
                  "path IN ('/s/0', '/s/new')"), "3,1",
           "  its existing row updated, its new row inserted");
}


static void
run(const char *conninfo, int go, const pid_t *pid)
{
    int              i;
    char             sql[512];
    uint64_t         pos[2], got[2];
    ps_hist_t        want;
    ps_hll_t         clients;
    ps_sink_t       *sink;
    ps_config_t      cfg;
    ps_agg_table_t  *t;

    memset(&cfg, 0, sizeof(cfg));
    cfg.postgres = (char *) conninfo;
    cfg.node_id = "unit-pg";

    db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        bail_out("connect: %s", PQerrorMessage(db));
    }

    sink = ps_sink_pg_create(&cfg);
    t = ps_agg_table_create(1000);
    ok(sink && t && sink->ops->connect(sink) == 0, "sink connects");
    ok(sink->durable, "the PostgreSQL sink is durable");

    ok(sink->ops->load_watermarks(sink, ZONE_ID, got, 2) == 0
       && got[0] == 0 && got[1] == 0, "no watermarks yet: zeros");

    /* flush 1: two hours across midnight, a key that needs escaping */
    ps_hist_init(&want);
    ps_hll_init(&clients);
    for (i = 0; i < 50; i++) {
        uint64_t  c = (uint64_t) i % 7;
        uint64_t  h = ps_murmur3_hll_hash(&c, sizeof(c));

        add(t, H1, "/p", 2, 200 + (i % 4) * 100, 100 + i * 37, c);
        ps_hist_add(&want, 100 + i * 37);
        ps_hll_add_hash(&clients, h);
    }
    add(t, H2, "/p", 2, 200, 5000, 1);
    add(t, H2, weird, strlen(weird), 500, 7, 2);

    pos[0] = 3;
    pos[1] = 53;
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == 0, "flush 1 commits");
    ps_agg_table_clear(t);

    is_str(query1("SELECT count(*) FROM pathstats_hourly"), "3", "3 rows");
    is_str(query1("SELECT requests FROM pathstats_hourly WHERE hour = "
                  "'2026-11-23 23:00+00' AND path = '/p'"), "50",
           "hour 23:00 has its 50 requests");
    is_str(query1("SELECT status_2xx || ',' || status_3xx || ',' || "
                  "status_4xx || ',' || status_5xx || ',' || errors FROM "
                  "pathstats_hourly WHERE hour = '2026-11-23 23:00+00'"),
           "13,13,12,12,12", "status classes and errors");
    is_str(query1("SELECT requests FROM pathstats_hourly WHERE hour = "
                  "'2026-11-24 00:00+00' AND path = '/p'"), "1",
           "hour 00:00 of the next day is its own row");
    is_str(query1("SELECT string_agg(tableoid::regclass::text, ',' ORDER BY "
                  "hour, path) FROM pathstats_hourly"),
           "pathstats_hourly_p20261123,pathstats_hourly_p20261124,"
           "pathstats_hourly_p20261124", "each day in its own partition");
    is_str(query1("SELECT count(*) FROM pathstats_hourly_default"), "0",
           "nothing in the DEFAULT partition");
    is_str(query1("SELECT to_regclass('pathstats_hourly_p20261125') "
                  "IS NOT NULL"), "t", "the next day's partition is ready");
    is_str(query1("SELECT path FROM pathstats_hourly WHERE status_5xx = 1 "
                  "AND hour = '2026-11-24 00:00+00'"), weird,
           "backslash, tab, newline, CR, quotes, UTF-8 survive COPY");
    hist_is(H1, &want, "histogram as encoded in C");
    snprintf(sql, sizeof(sql), "SELECT hll_cardinality(unique_clients) = %.1f"
             " FROM pathstats_hourly WHERE hour = '2026-11-23 23:00+00'",
             ps_hll_cardinality(&clients));
    is_str(query1(sql), "t", "hll_cardinality() = ps_hll_cardinality() (7)");
    is_str(query1("SELECT first_seen = '2026-11-23 23:00:00.0001+00' AND "
                  "last_seen = '2026-11-23 23:00:00.001913+00' FROM "
                  "pathstats_hourly WHERE hour = '2026-11-23 23:00+00'"),
           "t", "first_seen and last_seen to the microsecond");

    ok(sink->ops->load_watermarks(sink, ZONE_ID, got, 2) == 0
       && got[0] == 3 && got[1] == 53, "watermarks round-trip");
    is_str(query1("SELECT zone_id FROM pathstats_watermark LIMIT 1"),
           "-1152921504606846934", "zone_id stored as the signed bigint");

    /* flush 2: onto the same rows; histogram merged in C */
    for (i = 0; i < 10; i++) {
        add(t, H1, "/p", 2, 200, 20000 + i, 100 + (uint64_t) i);
        ps_hist_add(&want, 20000 + i);
    }
    add(t, H1, "/p", 2, 200, 1, 3);
    ps_hist_add(&want, 1);
    pos[0] = 4;
    pos[1] = 63;
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == 0, "flush 2 commits");
    ps_agg_table_clear(t);
    is_str(query1("SELECT requests || ',' || latency_max_us FROM "
                  "pathstats_hourly WHERE hour = '2026-11-23 23:00+00'"),
           "61,20009", "counters added, latency_max the greater");
    hist_is(H1, &want, "histograms merged in C");
    is_str(query1("SELECT round(hll_cardinality(unique_clients)) FROM "
                  "pathstats_hourly WHERE hour = '2026-11-23 23:00+00'"),
           "17", "unique clients unioned (7 + 10, client 3 seen before)");

    /* a failed flush leaves nothing behind; the retry counts once */
    PQclear(PQexec(db, "ALTER TABLE pathstats_watermark ADD CONSTRAINT "
                   "t_fail CHECK (committed_pos < 1000)"));
    add(t, H1, "/p", 2, 200, 5, 9);
    pos[1] = 5000;
    ps_log_set_level(PS_LOG_ERROR + 1);
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == -1,
       "a flush whose watermark fails returns -1");
    ps_log_set_level(PS_LOG_ERROR);
    ok(sink->last_error[0] != '\0', "  with last_error set");
    is_str(query1("SELECT requests FROM pathstats_hourly WHERE hour = "
                  "'2026-11-23 23:00+00'"), "61", "  and nothing applied");
    PQclear(PQexec(db, "ALTER TABLE pathstats_watermark DROP CONSTRAINT "
                   "t_fail"));
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == 0, "the retry commits");
    is_str(query1("SELECT requests FROM pathstats_hourly WHERE hour = "
                  "'2026-11-23 23:00+00'"), "62", "  counted once");
    ps_agg_table_clear(t);

    /* DEFAULT partition fallback: a day that cannot get a partition */
    PQclear(PQexec(db, "INSERT INTO pathstats_hourly (hour, host, method, "
                   "path, node_id, requests) VALUES ('2020-01-01 00:00+00', "
                   "'x', 'GET', '/', 'unit-pg', 1)"));
    add(t, OLD_HOUR, "/old", 4, 200, 5, 1);
    {
        /* and the row already there: new and existing keys */
        uint64_t  c = 1, h = ps_murmur3_hll_hash(&c, sizeof(c));

        ps_agg_add(t, OLD_HOUR - 5 * 3600, "x", 1, "GET", 3, "/", 1, 200, 5,
                   10, 100, &h, (uint64_t) OLD_HOUR * 1000000);
    }
    ps_log_set_level(PS_LOG_ERROR + 1);
    ok(sink->ops->flush(sink, ZONE_ID, t, pos, 2) == 0,
       "a day whose partition cannot be created still flushes");
    ps_log_set_level(PS_LOG_ERROR);
    is_str(query1("SELECT sum(requests) FROM pathstats_hourly_default"), "3",
           "  into the DEFAULT partition");
    is_str(query1("SELECT requests FROM pathstats_hourly WHERE host = 'x'"),
           "2", "  the existing row there counted once");
    ps_agg_table_clear(t);

    run_more(sink, t, go, pid);
    run_restart(conninfo, t);
    run_stale_stats(conninfo);
    run_old_day_locked(conninfo);

    ps_hist_free(&want);
    ps_hll_free(&clients);
    ps_agg_table_destroy(t);
    sink->ops->destroy(sink);
    PQfinish(db);
}


int
main(void)
{
    const char  *conninfo = getenv("PS_TEST_PG");

    ps_log_set_level(PS_LOG_ERROR);

    if (conninfo == NULL || conninfo[0] == '\0') {
        ok(1, "skipped: PS_TEST_PG is not set (t/sink-postgres.t sets it)");
        return done_testing();
    }

    {
        int    i, go[2];
        char   c;
        pid_t  pid[2];

        if (pipe(go) != 0) {
            bail_out("pipe failed");
        }

        fflush(stdout);

        for (i = 0; i < 2; i++) {
            pid[i] = fork();
            if (pid[i] == 0) {
                close(go[1]);
                if (read(go[0], &c, 1) == 1) {
                    node(conninfo, i ? "unit-pg-b" : "unit-pg-a", 20, 200);
                }
                _exit(3);
            }
        }

        close(go[0]);
        run(conninfo, go[1], pid);
    }

    return done_testing();
}
