/*
 * Unit tests for aggregator/snapshot/snapshot.c and metrics.c: a snapshot built
 * from live windows passes ps_snap_validate(), every JSON fragment
 * parses, the orders are sorted, rows beyond the cap are summarised,
 * hostile keys stay valid JSON and valid Prometheus text (promtool),
 * and publishing alternates the zone's double buffer.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pathstats_snapshot.h"
#include "snapshot/fleet.h"
#include "snapshot/render.h"
#include "snapshot/rows.h"
#include "snapshot/snapshot.h"
#include "tap.h"
#include "store/pg/trends.h"
#include "agg/windows.h"

#define SEC   1000000ULL
#define T0    (1795000000ULL / 3600 * 3600 * SEC + 1800 * SEC)

static ps_config_t  cfg;


static json_t *
load_ref(const ps_snap_view_t *v, ps_snap_ref_t ref)
{
    json_error_t  e;
    json_t       *j;

    j = json_loadb(v->blob + ref.off, ref.len,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (j == NULL) {
        diag("invalid JSON (%s): %.*s", e.text, (int) ref.len,
             v->blob + ref.off);
    }

    return j;
}


static double
num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}


static double
sort_value(json_t *row, int sort)
{
    double  req;

    switch (sort) {
    case PS_SNAP_SORT_REQUESTS:
        return num(row, "requests");
    case PS_SNAP_SORT_ERRORS:
        return num(row, "errors");
    case PS_SNAP_SORT_ERROR_RATE:
        req = num(row, "requests");
        return req ? num(row, "errors") / req : 0;
    case PS_SNAP_SORT_P95:
        return num(json_object_get(row, "latency_ms"), "p95");
    case PS_SNAP_SORT_BYTES:
        return num(row, "bytes_out");
    default:
        return 0;   /* last_seen: compared as text below */
    }
}


/* checks every order of every window; returns the number of failures */
static int
check_orders(const ps_snap_view_t *v)
{
    json_t       *a, *b;
    const char   *la, *lb;
    double        x, y;
    uint32_t      i, n;
    int           w, k, bad = 0, c;

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        n = v->row_count[w];
        for (k = 0; k < PS_SNAP_SORTS; k++) {
            /* a permutation of the rows: each once */
            unsigned char  *seen = calloc(n ? n : 1, 1);

            for (i = 0; seen != NULL && i < n; i++) {
                if (v->order[w][k][i] >= n || seen[v->order[w][k][i]]++) {
                    bad++;
                }
            }
            free(seen);

            for (i = 1; i < n; i++) {
                a = load_ref(v, v->rows[w][v->order[w][k][i - 1]].json);
                b = load_ref(v, v->rows[w][v->order[w][k][i]].json);
                if (k == PS_SNAP_SORT_LAST_SEEN) {
                    la = json_string_value(json_object_get(a, "last_seen"));
                    lb = json_string_value(json_object_get(b, "last_seen"));
                    c = strcmp(la, lb);
                    x = c;
                    y = 0;
                } else {
                    x = sort_value(a, k);
                    y = sort_value(b, k);
                }
                if (x < y
                    || (x == y
                        && strcmp(json_string_value(json_object_get(a,
                                                                  "path")),
                                  json_string_value(json_object_get(b,
                                                                  "path")))
                           > 0))
                {
                    bad++;
                }
                json_decref(a);
                json_decref(b);
            }
        }
    }

    return bad;
}


static void
add(ps_windows_t *w, const char *path, size_t plen, unsigned status,
    uint64_t lat, uint64_t bytes, uint64_t t, uint64_t client)
{
    char  text[32];

    snprintf(text, sizeof(text), "192.0.2.%llu",
             (unsigned long long) client);

    if (ps_windows_add(w, "example.com", 11, "GET", 3, path, plen, status,
                       lat, 0, bytes, &client, text, t) != 0)
    {
        bail_out("add failed");
    }
}


/* Differences between the live windows (1m, 1h, 24h) of two snapshots:
 * rows (texts, JSON, grams), orders and window info. */
static int
windows_differ(const void *a, size_t alen, const void *b, size_t blen)
{
    ps_snap_view_t  va, vb;
    uint32_t        i, n;
    int             w, k, bad = 0;

#define SAME_REF(ra, rb)                                                     \
    ((ra).len == (rb).len                                                    \
     && memcmp(va.blob + (ra).off, vb.blob + (rb).off, (ra).len) == 0)

    if (ps_snap_validate(a, alen, &va) != NULL
        || ps_snap_validate(b, blen, &vb) != NULL)
    {
        return 1000000;
    }

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        n = va.row_count[w];
        if (n != vb.row_count[w]) {
            bad++;
            continue;
        }
        bad += !SAME_REF(va.window_info[w], vb.window_info[w]);
        for (i = 0; i < n; i++) {
            bad += !SAME_REF(va.rows[w][i].host, vb.rows[w][i].host)
                   + !SAME_REF(va.rows[w][i].method, vb.rows[w][i].method)
                   + !SAME_REF(va.rows[w][i].path, vb.rows[w][i].path)
                   + !SAME_REF(va.rows[w][i].json, vb.rows[w][i].json)
                   + (va.grams[w][i] != vb.grams[w][i]);
            for (k = 0; k < PS_SNAP_SORTS; k++) {
                bad += va.order[w][k][i] != vb.order[w][k][i];
            }
        }
    }

#undef SAME_REF

    return bad;
}


/* A window whose rows a build kept from the one before is not rendered
 * again: the snapshot's windows are those of a snapshot built afresh
 * from the same windows at the same time, whether every window, some or
 * none stood. */
static void
test_windows_kept(void)
{
    ps_windows_t          *w;
    ps_snapshot_t         *s, *f;
    ps_snapshot_inputs_t   in;
    const void            *buf, *fbuf;
    void                  *copy;
    size_t                 len, flen, i;
    uint64_t               t = T0 + 7200 * SEC, kept;
    char                   path[32];
    int                    k;

    w = ps_windows_create(1000);
    s = ps_snapshot_create(&cfg, w);
    if (w == NULL || s == NULL) {
        bail_out("create");
    }
    memset(&in, 0, sizeof(in));
    in.node_id = cfg.node_id;

    /* 30 paths, their requests over the last 50 seconds */
    for (i = 0; i < 30; i++) {
        snprintf(path, sizeof(path), "/kept/%02zu", i);
        for (k = 0; k <= (int) i; k++) {
            add(w, path, strlen(path), k % 9 ? 200 : 503, 700 * (i + 1) + k,
                50 + i, t - (uint64_t) ((i + k) % 50) * SEC, k % 5);
        }
    }

#define STEP(now, want_kept, what)                                           \
    do {                                                                     \
        kept = ps_snapshot_windows_kept(s);                                  \
        if (ps_snapshot_build(s, &in, (now), 64 << 20, &buf, &len) != 0) {   \
            bail_out("build");                                               \
        }                                                                    \
        copy = malloc(len);                                                  \
        memcpy(copy, buf, len);                                              \
        f = ps_snapshot_create(&cfg, w);                                     \
        if (f == NULL                                                        \
            || ps_snapshot_build(f, &in, (now), 64 << 20, &fbuf, &flen) != 0)\
        {                                                                    \
            bail_out("fresh build");                                         \
        }                                                                    \
        is_u64(ps_snapshot_windows_kept(s) - kept, (want_kept),              \
           "kept windows: %s: %d", what, (int) (want_kept));                 \
        is_int(windows_differ(copy, len, fbuf, flen), 0,                     \
           "kept windows: %s: the windows of a fresh build", what);          \
        ps_snapshot_destroy(f);                                              \
        free(copy);                                                          \
    } while (0)

    /* 24h and 1h are assembled first and stand from the second build
     * on; the 1m rows the alerts saw are kept from the second collect
     * with nothing counted between (rows.h): 1m stands from the third */
    STEP(t, 0, "first build");
    STEP(t, 2, "nothing new");
    STEP(t, 3, "nothing new, once more");
    STEP(t + SEC / 2, 3, "half a second later");

    /* requests leave the 1m window: 1m is rendered again, 1h and 24h
     * (assembled before it) stand */
    STEP(t + 20 * SEC, 2, "requests left 1m");
    STEP(t + 20 * SEC, 3, "nothing new again");

    /* a request: every window changes */
    add(w, "/kept/new", 9, 200, 1234, 99, t + 20 * SEC, 3);
    STEP(t + 20 * SEC, 0, "a request");
    STEP(t + 20 * SEC, 2, "nothing new after it");
    STEP(t + 20 * SEC, 3, "nothing new after it, once more");

    /* a past hour merged into 24h (every stamp moves with it) */
    {
        ps_win_stats_t  st;

        ps_win_stats_init(&st);
        st.counts.requests = 5;
        st.counts.status[1] = 5;
        st.first_seen_us = t - 3 * 3600 * SEC;
        st.last_seen_us = st.first_seen_us + SEC;
        if (ps_windows_add_hour(w, "example.com", 11, "GET", 3, "/kept/00",
                                8, (int64_t) ((t / SEC) / 3600 - 3), &st)
            != 0)
        {
            bail_out("add_hour");
        }
        ps_win_stats_free(&st);
    }
    STEP(t + 20 * SEC, 0, "a past hour merged");

#undef STEP

    /* a buffer too small for every row: the build shrinks the windows
     * (rendering more than once), the next ones start at what fitted and
     * stand */
    {
        ps_snapshot_t  *z = ps_snapshot_create(&cfg, w);
        uint64_t        now = t + 20 * SEC, a, kw;
        size_t          cap, plen = 0;
        void           *prev = NULL;

        if (z == NULL
            || ps_snapshot_build(z, &in, now, 64 << 20, &buf, &len) != 0)
        {
            bail_out("build");
        }
        cap = len * 3 / 4;
        for (k = 0; k < 4; k++) {
            a = ps_snapshot_assembles(z);
            kw = ps_snapshot_windows_kept(z);
            if (ps_snapshot_build(z, &in, now, cap, &buf, &len) != 0) {
                bail_out("build");
            }
            /* the first shrinks (24h and 1h stood at first: their rows
             * as many as in the build before, at the full buffer) */
            is_u64(ps_snapshot_assembles(z) - a, k == 0 ? 2 : 1,
                   "shrunk %d: renderings (%zu of %zu bytes)", k, len, cap);
            is_u64(ps_snapshot_windows_kept(z) - kw, k == 0 ? 2 : 3,
                   "shrunk %d: windows kept", k);
            if (prev != NULL) {
                is_int(windows_differ(prev, plen, buf, len), 0,
                       "shrunk %d: the windows of the build before", k);
            }
            free(prev);
            prev = malloc(len);
            memcpy(prev, buf, len);
            plen = len;
        }
        free(prev);

        /* room again (a larger buffer here): the windows grow back, an
         * eighth a build, to every row */
        {
            ps_snap_view_t  zv;
            uint32_t        rows = 0, was = 0, all;
            int             builds, up = 1;

            all = 0;
            if (ps_snapshot_build(s, &in, now, 64 << 20, &buf, &len) == 0
                && ps_snap_validate(buf, len, &zv) == NULL)
            {
                all = zv.row_count[PS_SNAP_WIN_24H];
            }
            for (builds = 0; builds < 40 && rows < all; builds++) {
                if (ps_snapshot_build(z, &in, now, 64 << 20, &buf, &len)
                    != 0 || ps_snap_validate(buf, len, &zv) != NULL)
                {
                    bail_out("build");
                }
                rows = zv.row_count[PS_SNAP_WIN_24H];
                up &= rows > was;
                was = rows;
            }
            ok(all == 31 && rows == all && up && builds > 1,
               "shrunk: grows back to all %u rows, more at each of %d "
               "builds", rows, builds);
        }

        ps_snapshot_destroy(z);
    }

    ps_snapshot_destroy(s);
    ps_windows_destroy(w);
}


/* The fleet thread's pause after a round: fleet_interval, or 4 x a slow
 * round, at most node_stale / 3. */
/* The rows' grams: one a row, each the grams of its path; every
 * substring of a path (any case) has grams the path's include; a grams
 * section of the wrong length is refused. */
static void
test_grams(const ps_snap_view_t *v, const void *buf, size_t len)
{
    int                  w, bad, miss;
    char                 q[64];
    size_t               i, a, b, k, cut;
    uint64_t             qg, g;
    ps_snap_view_t       v2;
    ps_snap_section_t   *sec;
    const unsigned char *p;
    char                *copy;

    bad = 0;
    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        if (v->grams[w] == NULL) {
            bad++;
            continue;
        }
        for (i = 0; i < v->row_count[w]; i++) {
            p = (const unsigned char *) v->blob + v->rows[w][i].path.off;
            bad += v->grams[w][i]
                   != ps_snap_grams(p, v->rows[w][i].path.len);
        }
    }
    is_int(bad, 0, "grams: one a row of each window, its path's");

    miss = 0;
    for (i = 0; i < v->row_count[PS_SNAP_WIN_1H]; i++) {
        p = (const unsigned char *) v->blob
            + v->rows[PS_SNAP_WIN_1H][i].path.off;
        k = v->rows[PS_SNAP_WIN_1H][i].path.len;
        g = v->grams[PS_SNAP_WIN_1H][i];
        for (a = 0; a < k; a++) {
            for (b = a + 1; b <= k && b - a < sizeof(q); b++) {
                memcpy(q, p + a, b - a);
                /* upper case: the search folds ASCII letters */
                for (cut = 0; cut < b - a; cut += 2) {
                    if (q[cut] >= 'a' && q[cut] <= 'z') {
                        q[cut] = (char) (q[cut] - 'a' + 'A');
                    }
                }
                qg = ps_snap_grams((const unsigned char *) q, b - a);
                miss += (g & qg) != qg;
            }
        }
    }
    is_int(miss, 0, "grams: no substring of a path (letters in either "
           "case) has a pair the path's grams lack");
    qg = ps_snap_grams((const unsigned char *) "/zz", 3);
    is_int((v->grams[PS_SNAP_WIN_1H][0] & qg) == qg, 0,
           "  \"/zz\", in no path, is filtered out of the first row");

    copy = malloc(len);
    if (copy == NULL) {
        bail_out("out of memory");
    }
    memcpy(copy, buf, len);
    sec = (ps_snap_section_t *) (copy + sizeof(ps_snap_header_t));
    for (i = 0; i < ((ps_snap_header_t *) copy)->section_count; i++) {
        if (sec[i].type == PS_SNAP_GRAMS && sec[i].len >= 8) {
            sec[i].len -= 8;
            break;
        }
    }
    ok(ps_snap_validate(copy, len, &v2) != NULL,
       "  a grams section one row short is refused");
    free(copy);
}


static void
test_fleet_wait(void)
{
    ps_config_t  c;

    memset(&c, 0, sizeof(c));
    c.fleet_interval_ms = 2000;
    c.node_stale_ms = 30000;

    is_u64(ps_fleet_wait_us(&c, 100000), 2000000,
           "fleet wait: a round of 100 ms, fleet_interval");
    is_u64(ps_fleet_wait_us(&c, 500000), 2000000,
           "  500 ms: 4 x = fleet_interval");
    is_u64(ps_fleet_wait_us(&c, 900000), 3600000, "  900 ms: 4 x");
    is_u64(ps_fleet_wait_us(&c, 2500000), 10000000,
           "  2.5 s: 4 x = node_stale / 3");
    is_u64(ps_fleet_wait_us(&c, 60000000), 10000000,
           "  a minute: node_stale / 3, the heartbeat stays fresh");

    c.node_stale_ms = 3000;
    is_u64(ps_fleet_wait_us(&c, 60000000), 2000000,
           "  node_stale / 3 below fleet_interval: fleet_interval");
}


static const char  hostile[] = "/h\"q\\b\x01\n\t\xff\xc3(</script>\xe2\x80\xa8"
                               "\0end";

int
main(void)
{
    ps_windows_t          *w;
    ps_snapshot_t         *s;
    ps_snapshot_inputs_t   in;
    ps_sink_status_t       sinks[2];
    ps_snap_view_t         v;
    const void            *buf;
    const char            *why;
    json_t                *j, *x;
    size_t                 len, i;
    char                   path[64];
    uint64_t               sum, total, t = T0;
    int                    bad, rc, k;
    FILE                  *f;

    memset(&cfg, 0, sizeof(cfg));
    cfg.node_id = "node-1";
    cfg.top_n = 5;
    cfg.snapshot_max_rows = 10000;
    cfg.alert_error_rate_warning_bp = 50;
    cfg.alert_error_rate_critical_bp = 100;
    cfg.alert_p95_warning_ms = 100;
    cfg.alert_p95_critical_ms = 200;
    cfg.alert_min_requests = 20;
    cfg.alert_cooldown_ms = 300000;

    w = ps_windows_create(1000);
    s = ps_snapshot_create(&cfg, w);
    ok(w != NULL && s != NULL, "create");

    /* 12 paths: path i gets 10 * (i + 1) requests in the last minute,
     * every 5th a 500 for paths with odd i */
    total = 0;
    for (i = 0; i < 12; i++) {
        snprintf(path, sizeof(path), "/p/%02zu", i);
        for (k = 0; k < (int) (10 * (i + 1)); k++) {
            add(w, path, strlen(path),
                (i % 2 && k % 5 == 0) ? 500 : 200, 1000 * (i + 1) + k,
                100 * (12 - i), t - (uint64_t) k * SEC / 4, k % 7);
            total++;
        }
    }

    /* an older request: in 1h and 24h, not 1m */
    add(w, "/old", 4, 404, 5000, 10, t - 600 * SEC, 99);
    add(w, hostile, sizeof(hostile) - 1, 200, 300000, 1, t, 100);
    total++;

    memset(&in, 0, sizeof(in));
    memset(sinks, 0, sizeof(sinks));
    sinks[0].name = "postgres";
    sinks[0].up = 1;
    sinks[0].durable = 1;
    sinks[1].name = "redis";
    sinks[1].up = 0;
    snprintf(sinks[1].last_error, sizeof(sinks[1].last_error),
             "connection refused \"x\"");
    in.node_id = cfg.node_id;
    in.pid = 42;
    in.started_us = T0 - 100 * SEC;
    in.heartbeat_us = t;
    in.ring_count = 4;
    in.rings.seen = 1000;
    in.rings.consumed = 990;
    in.rings.dropped = 10;
    in.sinks = sinks;
    in.nsinks = 2;

    rc = ps_snapshot_build(s, &in, t, 64 << 20, &buf, &len);
    ok(rc == 0, "build");
    why = ps_snap_validate(buf, len, &v);
    ok(why == NULL, "validates: %s", why ? why : "ok");
    if (why != NULL) {
        bail_out("invalid snapshot");
    }

    is_u64(v.row_count[PS_SNAP_WIN_1M], 13, "1m rows: 12 paths + hostile");
    test_grams(&v, buf, len);
    is_u64(v.row_count[PS_SNAP_WIN_1H], 14, "1h rows: + /old");
    is_u64(v.row_count[PS_SNAP_WIN_24H], 14, "24h rows");

    bad = 0;
    sum = 0;
    for (k = 0; k < PS_SNAP_WINDOWS; k++) {
        for (i = 0; i < v.row_count[k]; i++) {
            j = load_ref(&v, v.rows[k][i].json);
            if (j == NULL) {
                bad++;
                continue;
            }
            if (k == PS_SNAP_WIN_1M) {
                sum += (uint64_t) num(j, "requests");
            }
            if (json_object_size(j) != 12
                || num(json_object_get(j, "latency_ms"), "p99")
                   > num(json_object_get(j, "latency_ms"), "max"))
            {
                bad++;
            }
            json_decref(j);
        }
    }
    is_int(bad, 0, "every row is a 12-field JSON object, p99 <= max");
    is_u64(sum, total, "1m rows add up to every request of the minute");

    /* the first row (most requests) */
    j = load_ref(&v, v.rows[PS_SNAP_WIN_1M][0].json);
    is_str(json_string_value(json_object_get(j, "path")), "/p/11",
           "row 0 is the busiest path");
    is_int((int) num(j, "requests"), 120, "its requests");
    is_int((int) num(j, "errors"), 24, "its errors");
    is_int((int) num(json_object_get(j, "status"), "5xx"), 24, "its 5xx");
    is_int((int) num(j, "unique_clients"), 7, "its unique clients");
    is_int((int) num(j, "bytes_out"), 12000, "its bytes_out");
    ok(json_is_string(json_object_get(j, "first_seen"))
       && json_is_string(json_object_get(j, "last_seen")),
       "first_seen and last_seen are strings");
    is_mem(v.blob + v.rows[PS_SNAP_WIN_1M][0].path.off,
           v.rows[PS_SNAP_WIN_1M][0].path.len, "/p/11", 5,
           "raw path ref for filtering");
    json_decref(j);

    /* the hostile row */
    bad = 1;
    for (i = 0; i < v.row_count[PS_SNAP_WIN_1M]; i++) {
        if (v.rows[PS_SNAP_WIN_1M][i].path.len == sizeof(hostile) - 1) {
            j = load_ref(&v, v.rows[PS_SNAP_WIN_1M][i].json);
            x = json_object_get(j, "path");
            bad = !(json_is_string(x)
                    && memcmp(json_string_value(x),
                              "/h\"q\\b\x01\n\t\\xFF\\xC3(</script>"
                              "\xe2\x80\xa8", 27) == 0);
            json_decref(j);
        }
    }
    ok(!bad, "hostile path renders as valid JSON, invalid bytes as \\xHH");

    is_int(check_orders(&v), 0, "all 18 orders sorted, ties by path");

    /* summary, health, trends, window info */
    ok(v.has_summary && v.has_health && v.has_metrics, "sections present");
    j = load_ref(&v, v.summary);
    ok(j != NULL, "summary parses");
    x = json_object_get(json_object_get(j, "windows"), "1m");
    is_u64((uint64_t) num(x, "requests"), total, "summary 1m requests");
    is_u64((uint64_t) num(json_object_get(json_object_get(j, "windows"),
                                          "24h"), "requests"),
           total + 1, "summary 24h requests");
    ok(fabs(num(j, "requests_per_second") - total / 60.0) < 0.01,
       "requests_per_second = 1m / 60");
    is_int((int) json_array_size(json_object_get(j, "top_clients")), 9,
           "nine top clients (all of them)");
    is_int((int) num(json_object_get(json_object_get(j, "pipeline"),
                                     "rings"), "dropped"), 10,
           "ring counters in the summary");
    ok(json_array_size(json_object_get(json_object_get(j, "pipeline"),
                                       "sinks")) == 2, "two sinks");
    ok(json_array_size(json_object_get(j, "alerts")) >= 1,
       "alerts fired (error rate and p95 are high)");
    {
        char  *dump = json_dumps(j, 0);

        ok(dump != NULL && strstr(dump, "password") == NULL
           && strstr(dump, "18592") == NULL, "no password or conninfo");
        free(dump);
    }
    json_decref(j);

    j = load_ref(&v, v.health);
    ok(json_is_array(j) && json_array_size(j) == 1, "health: redis down");
    json_decref(j);
    ok(!(v.header->flags & PS_SNAP_F_AGGREGATOR_OK), "flag not ok");

    for (k = 0; k < PS_SNAP_RANGES; k++) {
        j = load_ref(&v, v.trends[k]);
        ok(json_is_array(j), "trends %d is an array", k);
        json_decref(j);
    }

    j = load_ref(&v, v.window_info[PS_SNAP_WIN_1H]);
    is_int((int) num(j, "rows_total"), 14, "window info rows_total");
    is_int((int) num(j, "rows_shown"), 14, "window info rows_shown");
    ok(json_is_null(json_object_get(j, "limited_by")), "not limited");
    json_decref(j);

    /* metrics through promtool */
    f = fopen("/tmp/ps-test-snapshot.prom", "w");
    if (f != NULL) {
        fwrite(v.blob + v.metrics.off, 1, v.metrics.len, f);
        fclose(f);
    }
    ok(memmem(v.blob + v.metrics.off, v.metrics.len,
              "path=\"{other}\"", 14) != NULL, "metrics has an {other} row");
    ok(memmem(v.blob + v.metrics.off, v.metrics.len,
              "pathstats_sink_up{sink=\"redis\"} 0", 33) != NULL,
       "metrics has sink up gauges");
    if (access("/usr/bin/promtool", X_OK) == 0) {
        rc = system("/usr/bin/promtool check metrics "
                    "< /tmp/ps-test-snapshot.prom");
        is_int(rc, 0, "promtool check metrics passes");
    } else {
        ok(1, "# SKIP promtool not installed");
    }

    /* every path labelled, the hostile one included */
    cfg.top_n = 100;
    rc = ps_snapshot_build(s, &in, t, 64 << 20, &buf, &len);
    ok(rc == 0 && ps_snap_validate(buf, len, &v) == NULL, "rebuilt");
    ok(memmem(v.blob + v.metrics.off, v.metrics.len,
              "path=\"/h\\\"q\\\\b\\\\x01\\n\\\\x09\\\\xFF", 31) != NULL,
       "hostile label value escaped, control characters as \\xHH");
    ok(memmem(v.blob + v.metrics.off, v.metrics.len,
              "path=\"{other}\",status", 21) == NULL,
       "no {other} row when all fit");
    f = fopen("/tmp/ps-test-snapshot.prom", "w");
    if (f != NULL) {
        fwrite(v.blob + v.metrics.off, 1, v.metrics.len, f);
        fclose(f);
    }
    if (access("/usr/bin/promtool", X_OK) == 0) {
        rc = system("/usr/bin/promtool check metrics "
                    "< /tmp/ps-test-snapshot.prom");
        is_int(rc, 0, "promtool passes with hostile labels");
    } else {
        ok(1, "# SKIP promtool not installed");
    }
    cfg.top_n = 5;

    /* the row cap: 5 shown, the rest summarised */
    cfg.snapshot_max_rows = 5;
    rc = ps_snapshot_build(s, &in, t, 64 << 20, &buf, &len);
    ok(rc == 0 && ps_snap_validate(buf, len, &v) == NULL,
       "capped snapshot validates");
    is_u64(v.row_count[PS_SNAP_WIN_1M], 5, "5 rows shown");
    j = load_ref(&v, v.window_info[PS_SNAP_WIN_1M]);
    is_int((int) num(j, "rows_total"), 13, "rows_total 13");
    is_int((int) num(j, "rows_shown"), 5, "rows_shown 5");
    sum = 0;
    for (i = 0; i < v.row_count[PS_SNAP_WIN_1M]; i++) {
        x = load_ref(&v, v.rows[PS_SNAP_WIN_1M][i].json);
        sum += (uint64_t) num(x, "requests");
        json_decref(x);
    }
    is_u64(sum + (uint64_t) num(json_object_get(j, "other"), "requests"),
           total, "shown + other = total");
    is_str(json_string_value(json_object_get(j, "limited_by")),
           "snapshot_max_rows", "limited_by snapshot_max_rows");
    json_decref(j);
    is_int(check_orders(&v), 0, "capped orders sorted");
    x = load_ref(&v, v.rows[PS_SNAP_WIN_1M][0].json);
    is_int((int) num(x, "requests"), 120, "capped: the most requested first");
    json_decref(x);
    x = load_ref(&v, v.rows[PS_SNAP_WIN_1M][4].json);
    is_int((int) num(x, "requests"), 80, "  and the fifth most requested");
    json_decref(x);

    /* a small buffer: rows halved until it fits */
    cfg.snapshot_max_rows = 10000;
    rc = ps_snapshot_build(s, &in, t, 16384, &buf, &len);
    ok(rc == 0 && len <= 16384 && ps_snap_validate(buf, len, &v) == NULL,
       "shrunk snapshot fits and validates (%zu bytes)", len);
    j = load_ref(&v, v.window_info[PS_SNAP_WIN_24H]);
    ok(num(j, "rows_shown") < 14, "24h rows shrunk to %d",
       (int) num(j, "rows_shown"));
    is_str(json_string_value(json_object_get(j, "limited_by")),
           "snapshot_size", "limited_by snapshot_size");
    json_decref(j);

    /* 100 paths of 4000 bytes: the metrics' series alone (a histogram
     * per path) are megabytes, so the metrics' top paths shrink with the
     * rows until the snapshot fits */
    {
        ps_windows_t   *w2 = ps_windows_create(1000);
        ps_snapshot_t  *s2 = ps_snapshot_create(&cfg, w2);
        char            lp[4000], tag[16];
        size_t          shown = 0, keep_top = cfg.top_n;

        cfg.top_n = 100;
        memset(lp, 'x', sizeof(lp));
        for (i = 0; i < 100; i++) {
            snprintf(tag, sizeof(tag), "/long/%03zu/", i);
            memcpy(lp, tag, strlen(tag));
            add(w2, lp, sizeof(lp), 200, 1000 + i, 10, t, i % 7);
        }
        rc = ps_snapshot_build(s2, &in, t, 262144, &buf, &len);
        ok(rc == 0 && len <= 262144 && ps_snap_validate(buf, len, &v) == NULL,
           "long paths: the snapshot fits (%zu bytes)", len);
        for (i = 0; rc == 0 && i < 100; i++) {
            snprintf(tag, sizeof(tag), "/long/%03zu/", i);
            shown += memmem(v.blob + v.metrics.off, v.metrics.len, tag,
                            strlen(tag)) != NULL;
        }
        ok(shown > 0 && shown < 100, "  metrics label %zu of the 100 paths",
           shown);
        ok(rc == 0 && memmem(v.blob + v.metrics.off, v.metrics.len,
                             "path=\"{other}\"", 14) != NULL,
           "  the rest in path=\"{other}\"");
        rc = ps_snapshot_build(s2, &in, t, 262144, &buf, &len);
        ok(rc == 0 && len <= 262144, "  and the next build starts from "
           "what fitted (%zu bytes)", len);

        cfg.top_n = keep_top;
        ps_snapshot_destroy(s2);
        ps_windows_destroy(w2);
    }

    /* publishing into a zone's double buffer */
    {
        ps_zone_t          zone;
        ps_zone_header_t  *zh;
        size_t             bsz = 1 << 20;
        uint64_t           ver;
        int                b;

        zh = aligned_alloc(4096, PS_HEADER_SIZE + 2 * bsz);
        memset(zh, 0, PS_HEADER_SIZE + 2 * bsz);
        zh->snapshot.buf_off[0] = PS_HEADER_SIZE;
        zh->snapshot.buf_off[1] = PS_HEADER_SIZE + bsz;
        zh->snapshot.buf_size = bsz;
        zh->snapshot_off = PS_HEADER_SIZE;
        zh->snapshot_size = 2 * bsz;
        memset(&zone, 0, sizeof(zone));
        zone.header = zh;
        zone.size = PS_HEADER_SIZE + 2 * bsz;
        /* the layout is the zone's validated copy, not the header */
        zone.geo.snap_buf_off[0] = PS_HEADER_SIZE;
        zone.geo.snap_buf_off[1] = PS_HEADER_SIZE + bsz;
        zone.geo.snap_buf_size = bsz;

        for (ver = 1; ver <= 3; ver++) {
            rc = ps_snapshot_publish(s, &zone, sinks, 2, 7, t + ver * SEC);
            b = (int) (zh->snapshot.version % 2);
            ok(rc == 0 && zh->snapshot.version == ver
               && zh->snapshot.buf_seq[b] % 2 == 0
               && ps_snap_validate((char *) zh + zh->snapshot.buf_off[b],
                                   zh->snapshot.buf_len[b], &v) == NULL
               && v.header->generated_us == t + ver * SEC,
               "publish %llu: buffer %d current and valid",
               (unsigned long long) ver, b);
        }
        is_int(ps_snapshot_write_zone(&zone, buf, bsz + 8, t), -1,
               "a snapshot larger than the buffer is refused");
        free(zh);
    }

    ps_snapshot_destroy(s);
    ps_windows_destroy(w);

    /* trends from per-hour values: 48 hours, hour h has h requests */
    {
        ps_trend_hour_t  hours[48];
        ps_buf_t         b = PS_BUF_INIT;
        int64_t          first = 1795000000 / 86400 * 86400;  /* a day */
        uint64_t         want;

        for (i = 0; i < 48; i++) {
            hours[i].requests = i;
            hours[i].errors = i % 2;
            ps_hist_init(&hours[i].hist);
            if (i > 0) {
                ps_hist_add_bucket(&hours[i].hist, 50, i);
            }
        }

        ok(ps_trends_render(hours, 48, first, PS_SNAP_RANGE_24H, &b) == 0,
           "render 24h");
        j = json_loadb(b.data, b.len, 0, NULL);
        is_int((int) json_array_size(j), 24, "24 hourly points");
        x = json_array_get(j, 0);
        is_int((int) num(x, "requests"), 24, "first point is hour 24");
        ok(num(x, "p95_ms") == 0.05, "p95_ms from the histogram");
        x = json_array_get(j, 23);
        is_int((int) num(x, "requests"), 47, "last point is the current hour");
        json_decref(j);

        ps_buf_reset(&b);
        ps_trends_render(hours, 48, first, PS_SNAP_RANGE_7D, &b);
        j = json_loadb(b.data, b.len, 0, NULL);
        is_int((int) json_array_size(j), 8, "7d: 8 six-hour points");
        want = 0 + 1 + 2 + 3 + 4 + 5;
        x = json_array_get(j, 0);
        is_u64((uint64_t) num(x, "requests"), want, "6-hour sums");
        ok(json_is_null(json_object_get(x, "p95_ms")) == 0,
           "p95 of a block with data is a number");
        json_decref(j);

        ps_buf_reset(&b);
        ps_trends_render(hours, 48, first, PS_SNAP_RANGE_30D, &b);
        j = json_loadb(b.data, b.len, 0, NULL);
        is_int((int) json_array_size(j), 2, "30d: 2 daily points");
        is_u64((uint64_t) num(json_array_get(j, 1), "requests"),
               (24 + 47) * 24 / 2, "daily sum");
        is_u64((uint64_t) num(json_array_get(j, 1), "errors"), 12,
               "daily errors");
        json_decref(j);

        ps_buf_free(&b);
        for (i = 0; i < 48; i++) {
            ps_hist_free(&hours[i].hist);
        }
    }

    /* a row's numbers, written without printf: exactly what printf
     * wrote, from 0 to the counters' limits */
    {
        ps_buf_t  b = PS_BUF_INIT;
        ps_row_t  r;
        char      want[1024];

        memset(&r, 0, sizeof(r));
        r.host = "h";
        r.hlen = 1;
        r.method = "GET";
        r.mlen = 3;
        r.path = "/\"x";
        r.plen = 3;
        r.counts.requests = 4;
        r.counts.errors = 0;
        r.counts.status[1] = 3;
        r.counts.status[4] = UINT64_MAX;
        r.counts.bytes_in = 1000;
        r.counts.bytes_out = 18446744073709551614ULL;
        r.counts.latency_sum_us = 6;            /* avg 1.5 us */
        r.counts.latency_max_us = UINT64_MAX;
        r.p50 = 999.4;
        r.p95 = 1234567.8;
        r.p99 = 0.2;
        r.unique = 10;
        r.first_us = 1767225600123456ULL;       /* 2026-01-01 */
        r.flags = PS_REC_KEY_TRUNCATED | PS_REC_NORMALIZED;

        snprintf(want, sizeof(want),
                 "{\"host\":\"h\",\"method\":\"GET\",\"path\":\"/\\\"x\","
                 "\"requests\":4,\"errors\":0,\"status\":{\"1xx\":0,"
                 "\"2xx\":3,\"3xx\":0,\"4xx\":0,\"5xx\":%llu},"
                 "\"bytes_in\":1000,\"bytes_out\":%llu,\"latency_ms\":"
                 "{\"avg\":%.3f,\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,"
                 "\"max\":%.3f},\"unique_clients\":10,"
                 "\"first_seen\":\"2026-01-01T00:00:00.123Z\","
                 "\"last_seen\":null,\"key_truncated\":true,"
                 "\"normalized\":true}",
                 (unsigned long long) UINT64_MAX,
                 18446744073709551614ULL, 1.5 / 1000, 999.4 / 1000,
                 1234567.8 / 1000, 0.2 / 1000,
                 (double) UINT64_MAX / 1000);
        ok(ps_render_row(&b, &r) == 0 && strcmp(b.data, want) == 0,
           "a row's numbers as printf wrote them");
        if (b.data != NULL && strcmp(b.data, want) != 0) {
            diag("got  %s", b.data);
            diag("want %s", want);
        }
        ps_buf_free(&b);
    }

    test_fleet_wait();
    test_windows_kept();

    return done_testing();
}
