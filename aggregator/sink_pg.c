/*
 * PostgreSQL sink: see sink_pg.h.  One flush is one transaction:
 *
 *   1. daily partitions for the delta's hours (cached per connection; a
 *      partition that cannot be created leaves its rows to the DEFAULT
 *      partition rather than failing the flush);
 *   2. COPY the delta into a temporary table;
 *   3. insert the missing keys (ON CONFLICT DO NOTHING), then lock every
 *      key's row in key order (FOR UPDATE), so that nodes flushing the
 *      same rows take turns instead of losing updates, and read their
 *      histograms;
 *   4. merge the histograms here in C and COPY the results back;
 *   5. one UPDATE adds the counters and unions the HyperLogLogs;
 *   6. the node's watermarks and its pathstats_nodes row;
 *   7. COMMIT.
 *
 * Any error rolls back everything, so the pipeline's retry sends the same
 * delta again.  If the connection breaks during COMMIT the outcome is
 * unknown: the watermarks, read back after reconnecting, tell.
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "clock.h"
#include "hour.h"
#include "log.h"
#include "migrate.h"
#include "pg_conn.h"
#include "sink_pg.h"
#include "strbuf.h"

#define DAY_CACHE      64          /* partitions known to exist */
#define DAY_SECONDS    86400
/* rows are updated every flush: room on each page keeps those updates
 * HOT (no index insert for the new row version) */
#define PARTITION_FILLFACTOR  "70"

typedef struct {
    ps_sink_t   sink;
    PGconn     *conn;
    char       *conninfo;
    char       *node_id;
    uint64_t    started_us;
    int64_t     days[DAY_CACHE];   /* day numbers with a partition */
    unsigned    ndays;
    unsigned    next_day;          /* replaced next when full */
    ps_buf_t    copy;              /* COPY data, reused */
    int         schema_bad;        /* refused: logged once per connect */
} pg_sink_t;


static const char  create_temp_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS ps_delta ("
    " idx integer, hour timestamptz, host text, method text, path text,"
    " requests bigint, status_1xx bigint, status_2xx bigint,"
    " status_3xx bigint, status_4xx bigint, status_5xx bigint,"
    " errors bigint, bytes_in bigint, bytes_out bigint,"
    " latency_sum_us bigint, latency_max_us bigint, unique_clients hll,"
    " first_seen timestamptz, last_seen timestamptz, latency_hist bytea"
    ") ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS ps_hist ("
    " idx integer, latency_hist bytea"
    ") ON COMMIT DELETE ROWS";

static const char  insert_keys_sql[] =
    "INSERT INTO pathstats_hourly (hour, host, method, path) "
    "SELECT hour, host, method, path FROM ps_delta d "
    "WHERE NOT EXISTS (SELECT 1 FROM pathstats_hourly h"
    " WHERE h.hour = d.hour AND h.host = d.host AND h.method = d.method"
    " AND h.path = d.path) "
    "ORDER BY hour, host, method, path "
    "ON CONFLICT DO NOTHING";

static const char  lock_rows_sql[] =
    "SELECT d.idx, h.latency_hist FROM ps_delta d "
    "JOIN pathstats_hourly h ON h.hour = d.hour AND h.host = d.host "
    " AND h.method = d.method AND h.path = d.path "
    "ORDER BY d.hour, d.host, d.method, d.path "
    "FOR UPDATE OF h";

static const char  update_sql[] =
    "UPDATE pathstats_hourly h SET"
    " requests = h.requests + d.requests,"
    " status_1xx = h.status_1xx + d.status_1xx,"
    " status_2xx = h.status_2xx + d.status_2xx,"
    " status_3xx = h.status_3xx + d.status_3xx,"
    " status_4xx = h.status_4xx + d.status_4xx,"
    " status_5xx = h.status_5xx + d.status_5xx,"
    " errors = h.errors + d.errors,"
    " bytes_in = h.bytes_in + d.bytes_in,"
    " bytes_out = h.bytes_out + d.bytes_out,"
    " latency_sum_us = h.latency_sum_us + d.latency_sum_us,"
    " latency_max_us = GREATEST(h.latency_max_us, d.latency_max_us),"
    " latency_hist = d.latency_hist,"
    " unique_clients = hll_union(coalesce(h.unique_clients, hll_empty()),"
    "                            d.unique_clients),"
    " first_seen = LEAST(h.first_seen, d.first_seen),"
    " last_seen = GREATEST(h.last_seen, d.last_seen),"
    " updated_at = now() "
    "FROM ps_delta d "
    "WHERE h.hour = d.hour AND h.host = d.host AND h.method = d.method"
    " AND h.path = d.path";

/* the merged histograms join the delta by idx first, so that the update
 * of pathstats_hourly joins one table: the key join's row estimate is
 * far too low (correlated columns), which must not pick a nested loop
 * over a third table */
static const char  set_hist_sql[] =
    "UPDATE ps_delta d SET latency_hist = x.latency_hist "
    "FROM ps_hist x WHERE x.idx = d.idx";

static const char  watermark_sql[] =
    "INSERT INTO pathstats_watermark AS w"
    " (node_id, zone_id, ring, committed_pos, flushes, flushed_at) "
    "SELECT $1, $2::bigint, r, p, 1, now()"
    " FROM unnest($3::integer[], $4::bigint[]) AS u(r, p) "
    "ON CONFLICT (node_id, zone_id, ring) DO UPDATE SET"
    " committed_pos = EXCLUDED.committed_pos,"
    " flushes = w.flushes + 1, flushed_at = now()";

static const char  node_sql[] =
    "INSERT INTO pathstats_nodes AS n"
    " (node_id, zone_id, version, started_at, last_flush_at) "
    "VALUES ($1, $2::bigint, $3, to_timestamp($4::double precision), now()) "
    "ON CONFLICT (node_id) DO UPDATE SET zone_id = EXCLUDED.zone_id,"
    " version = EXCLUDED.version, started_at = EXCLUDED.started_at,"
    " last_flush_at = now()";

static const char  load_sql[] =
    "SELECT ring, committed_pos FROM pathstats_watermark "
    "WHERE node_id = $1 AND zone_id = $2::bigint";


static void
set_error(pg_sink_t *pg, const char *step, const char *msg)
{
    char  q[1100];

    snprintf(pg->sink.last_error, sizeof(pg->sink.last_error), "%s: %s",
             step, msg);

    ps_log(PS_LOG_ERROR, "event=sink_error sink=postgres step=%s error=%s",
           step, ps_log_quote(q, sizeof(q), msg));
}


/* Logs a failed result, clears it; returns -1. */
static int
fail_res(pg_sink_t *pg, const char *step, PGresult *res)
{
    char  msg[1024];

    set_error(pg, step, ps_pg_error(pg->conn, res, msg, sizeof(msg)));
    PQclear(res);

    return -1;
}


/* Runs a statement without parameters; 0 or -1. */
static int
exec_cmd(pg_sink_t *pg, const char *step, const char *sql)
{
    PGresult  *res;

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        return fail_res(pg, step, res);
    }

    PQclear(res);

    return 0;
}


static void
drop_conn(pg_sink_t *pg)
{
    PQfinish(pg->conn);
    pg->conn = NULL;
    pg->ndays = 0;
    pg->next_day = 0;
}


static int
pg_connect(ps_sink_t *sink)
{
    int         rc;
    char        err[1024], q[1100];
    pg_sink_t  *pg = sink->impl;

    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) {
        return 0;
    }

    drop_conn(pg);

    pg->conn = ps_pg_connect(pg->conninfo, err, sizeof(err));

    if (pg->conn == NULL) {
        snprintf(sink->last_error, sizeof(sink->last_error), "%.250s", err);
        ps_log(PS_LOG_WARN, "event=sink_down sink=postgres error=%s",
               ps_log_quote(q, sizeof(q), err));
        return -1;
    }

    rc = ps_schema_check_conn(pg->conn, err, sizeof(err));

    if (rc != PS_SCHEMA_OK) {
        snprintf(sink->last_error, sizeof(sink->last_error), "%.250s", err);
        ps_log(PS_LOG_ERROR, "event=sink_down sink=postgres error=%s",
               ps_log_quote(q, sizeof(q), err));
        drop_conn(pg);
        return -1;
    }

    if (exec_cmd(pg, "create_temp", create_temp_sql) != 0) {
        drop_conn(pg);
        return -1;
    }

    ps_log(PS_LOG_INFO, "event=sink_up sink=postgres host=%s port=%s "
           "dbname=%s", PQhost(pg->conn), PQport(pg->conn), PQdb(pg->conn));

    sink->last_error[0] = '\0';

    return 0;
}


static int
pg_load_watermarks(ps_sink_t *sink, uint64_t zone_id, uint64_t *pos,
    uint32_t nrings)
{
    int          i, n;
    long long    ring;
    char         zid[32];
    PGresult    *res;
    pg_sink_t   *pg = sink->impl;
    const char  *params[2];

    if (pg_connect(sink) != 0) {
        return -1;
    }

    snprintf(zid, sizeof(zid), "%lld", (long long) (int64_t) zone_id);
    params[0] = pg->node_id;
    params[1] = zid;

    res = PQexecParams(pg->conn, load_sql, 2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail_res(pg, "load_watermarks", res);
        if (PQstatus(pg->conn) != CONNECTION_OK) {
            drop_conn(pg);
        }
        return -1;
    }

    memset(pos, 0, nrings * sizeof(uint64_t));
    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        ring = atoll(PQgetvalue(res, i, 0));
        if (ring >= 0 && ring < (long long) nrings) {
            pos[ring] = strtoull(PQgetvalue(res, i, 1), NULL, 10);
        }
    }

    PQclear(res);

    return 0;
}


/* COPY text format: escape backslash, tab, newline and CR. */
static int
copy_text(ps_buf_t *b, const char *s, size_t len)
{
    size_t  i, start;
    char    esc[2] = { '\\', 0 };

    for (i = 0, start = 0; i < len; i++) {
        switch (s[i]) {
        case '\\': esc[1] = '\\'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        default: continue;
        }

        if (ps_buf_append(b, s + start, i - start) != 0
            || ps_buf_append(b, esc, 2) != 0)
        {
            return -1;
        }
        start = i + 1;
    }

    return ps_buf_append(b, s + start, len - start);
}


/* A bytea (or hll) value in COPY text format: \\x and hex digits. */
static int
copy_hex(ps_buf_t *b, const uint8_t *p, size_t len)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;
    char              *o;

    if (ps_buf_reserve(b, 3 + 2 * len) != 0) {
        return -1;
    }

    o = b->data + b->len;
    *o++ = '\\';
    *o++ = '\\';
    *o++ = 'x';

    for (i = 0; i < len; i++) {
        *o++ = hex[p[i] >> 4];
        *o++ = hex[p[i] & 0xF];
    }

    b->len = (size_t) (o - b->data);
    b->data[b->len] = '\0';

    return 0;
}


static int
copy_row(ps_buf_t *b, size_t idx, const ps_agg_entry_t *e)
{
    size_t   n;
    char     hour[PS_ISO8601_MAX], first[PS_ISO8601_MAX],
             last[PS_ISO8601_MAX];
    uint8_t  hll[PS_HLL_MAX_BYTES];

    ps_format_iso8601(e->hour * PS_US_PER_SEC, hour);
    ps_format_iso8601_frac((int64_t) e->first_seen_us, first, 6);
    ps_format_iso8601_frac((int64_t) e->last_seen_us, last, 6);

    n = ps_hll_serialize(&e->clients, hll, sizeof(hll));

    if (ps_buf_printf(b, "%zu\t%s\t", idx, hour) != 0
        || copy_text(b, e->host, e->host_len) != 0
        || ps_buf_putc(b, '\t') != 0
        || copy_text(b, e->method, e->method_len) != 0
        || ps_buf_putc(b, '\t') != 0
        || copy_text(b, e->path, e->path_len) != 0
        || ps_buf_printf(b, "\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu"
                         "\t%llu\t%llu\t%llu\t%llu\t",
                         (unsigned long long) e->requests,
                         (unsigned long long) e->status[0],
                         (unsigned long long) e->status[1],
                         (unsigned long long) e->status[2],
                         (unsigned long long) e->status[3],
                         (unsigned long long) e->status[4],
                         (unsigned long long) e->errors,
                         (unsigned long long) e->bytes_in,
                         (unsigned long long) e->bytes_out,
                         (unsigned long long) e->latency_sum_us,
                         (unsigned long long) e->latency_max_us) != 0
        || copy_hex(b, hll, n) != 0
        || ps_buf_printf(b, "\t%s\t%s\t\\N\n", first, last) != 0)
    {
        return -1;
    }

    return 0;
}


/* Sends b as the data of "COPY table FROM STDIN"; 0 or -1. */
static int
copy_in(pg_sink_t *pg, const char *step, const char *sql, const ps_buf_t *b)
{
    PGresult  *res;

    res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        return fail_res(pg, step, res);
    }
    PQclear(res);

    if ((b->len && PQputCopyData(pg->conn, b->data, (int) b->len) != 1)
        || PQputCopyEnd(pg->conn, NULL) != 1)
    {
        set_error(pg, step, PQerrorMessage(pg->conn));
        return -1;
    }

    res = PQgetResult(pg->conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_res(pg, step, res);
        while ((res = PQgetResult(pg->conn)) != NULL) {
            PQclear(res);
        }
        return -1;
    }
    PQclear(res);

    while ((res = PQgetResult(pg->conn)) != NULL) {
        PQclear(res);
    }

    return 0;
}


static int
day_known(pg_sink_t *pg, int64_t day)
{
    unsigned  i;

    for (i = 0; i < pg->ndays; i++) {
        if (pg->days[i] == day) {
            return 1;
        }
    }

    return 0;
}


static void
day_remember(pg_sink_t *pg, int64_t day)
{
    if (pg->ndays < DAY_CACHE) {
        pg->days[pg->ndays++] = day;
        return;
    }

    pg->days[pg->next_day] = day;
    pg->next_day = (pg->next_day + 1) % DAY_CACHE;
}


/* Makes sure the daily partition of day exists (inside the flush's
 * transaction); 0, or -1 when the transaction failed. */
static int
ensure_partition(pg_sink_t *pg, int64_t day)
{
    char        name[64], sql[512], from[16], to[16];
    time_t      t;
    struct tm   tm;
    PGresult   *res;

    t = (time_t) (day * DAY_SECONDS);
    gmtime_r(&t, &tm);
    strftime(from, sizeof(from), "%Y-%m-%d", &tm);
    snprintf(name, sizeof(name), "pathstats_hourly_p%04d%02d%02d",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);

    t += DAY_SECONDS;
    gmtime_r(&t, &tm);
    strftime(to, sizeof(to), "%Y-%m-%d", &tm);

    snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NOT NULL", name);

    res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail_res(pg, "partition_lookup", res);
    }

    if (PQgetvalue(res, 0, 0)[0] == 't') {
        PQclear(res);
        day_remember(pg, day);
        return 0;
    }

    PQclear(res);

    snprintf(sql, sizeof(sql),
             "SAVEPOINT ps_partition; "
             "CREATE TABLE IF NOT EXISTS %s PARTITION OF pathstats_hourly "
             "FOR VALUES FROM ('%s 00:00:00+00') TO ('%s 00:00:00+00') "
             "WITH (fillfactor = " PARTITION_FILLFACTOR "); "
             "RELEASE SAVEPOINT ps_partition", name, from, to);

    res = PQexec(pg->conn, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char         msg[1024], q[1100];
        const char  *state;

        /* another node created it a moment ago (42P07), or the DEFAULT
         * partition already holds rows of that day: they keep going
         * there, the flush goes on */
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        ps_log(state && strcmp(state, "42P07") == 0 ? PS_LOG_DEBUG
                                                    : PS_LOG_WARN,
               "event=partition_not_created sink=postgres "
               "partition=%s error=%s", name,
               ps_log_quote(q, sizeof(q),
                            ps_pg_error(pg->conn, res, msg, sizeof(msg))));
        PQclear(res);

        if (exec_cmd(pg, "partition_rollback",
                     "ROLLBACK TO SAVEPOINT ps_partition") != 0)
        {
            return -1;
        }

    } else {
        PQclear(res);
        ps_log(PS_LOG_INFO, "event=partition_created sink=postgres "
               "partition=%s", name);
    }

    day_remember(pg, day);

    return 0;
}


static int
ensure_partitions(pg_sink_t *pg, const ps_agg_table_t *delta)
{
    size_t   i, n;
    int64_t  day, newest;

    n = ps_agg_count(delta);
    newest = INT64_MIN;

    for (i = 0; i < n; i++) {
        day = ps_agg_entry_at(delta, i)->hour / DAY_SECONDS;

        if (day > newest) {
            newest = day;
        }

        if (!day_known(pg, day) && ensure_partition(pg, day) != 0) {
            return -1;
        }
    }

    /* tomorrow's ahead of time, so midnight needs no DDL */
    if (newest != INT64_MIN && !day_known(pg, newest + 1)
        && ensure_partition(pg, newest + 1) != 0)
    {
        return -1;
    }

    return 0;
}


/* Steps 3 and 4: lock the rows, merge their histograms with the delta's,
 * COPY the merged ones into ps_hist. */
static int
merge_histograms(pg_sink_t *pg, const ps_agg_table_t *delta)
{
    int                    i, rows, rc;
    size_t                 n, len, cap;
    uint32_t               idx;
    uint8_t               *enc;
    PGresult              *res;
    ps_hist_t              h;
    const ps_agg_entry_t  *e;

    res = PQexecParams(pg->conn, lock_rows_sql, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail_res(pg, "lock_rows", res);
    }

    n = ps_agg_count(delta);
    rows = PQntuples(res);

    if ((size_t) rows != n) {
        PQclear(res);
        set_error(pg, "lock_rows", "locked fewer rows than the delta has");
        return -1;
    }

    ps_buf_reset(&pg->copy);
    ps_hist_init(&h);
    enc = NULL;
    cap = 0;
    rc = -1;

    for (i = 0; i < rows; i++) {
        if (PQgetlength(res, i, 0) != 4) {
            set_error(pg, "lock_rows", "unexpected idx");
            goto done;
        }

        memcpy(&idx, PQgetvalue(res, i, 0), 4);
        idx = ntohl(idx);

        if (idx >= n) {
            set_error(pg, "lock_rows", "idx out of range");
            goto done;
        }

        e = ps_agg_entry_at(delta, idx);
        ps_hist_reset(&h);

        if (!PQgetisnull(res, i, 1)
            && ps_hist_decode(&h, (const uint8_t *) PQgetvalue(res, i, 1),
                              (size_t) PQgetlength(res, i, 1)) != 0)
        {
            /* not ours to repair: keep counting from what we have */
            ps_log(PS_LOG_WARN, "event=bad_histogram sink=postgres "
                   "action=replaced");
            ps_hist_reset(&h);
        }

        if (ps_hist_merge(&h, &e->latency) != 0) {
            set_error(pg, "merge_histograms", "out of memory");
            goto done;
        }

        len = ps_hist_encoded_size(&h);
        if (len > cap) {
            free(enc);
            cap = len * 2;
            enc = malloc(cap);
            if (enc == NULL) {
                cap = 0;
                set_error(pg, "merge_histograms", "out of memory");
                goto done;
            }
        }

        len = ps_hist_encode(&h, enc, cap);

        if (ps_buf_printf(&pg->copy, "%u\t", idx) != 0
            || copy_hex(&pg->copy, enc, len) != 0
            || ps_buf_putc(&pg->copy, '\n') != 0)
        {
            set_error(pg, "merge_histograms", "out of memory");
            goto done;
        }
    }

    rc = 0;

done:

    free(enc);
    ps_hist_free(&h);
    PQclear(res);

    if (rc == 0) {
        rc = copy_in(pg, "copy_hist", "COPY ps_hist FROM STDIN", &pg->copy);
    }

    if (rc == 0) {
        rc = exec_cmd(pg, "analyze_hist", "ANALYZE ps_hist (idx)");
    }

    if (rc == 0) {
        rc = exec_cmd(pg, "set_hist", set_hist_sql);
    }

    return rc;
}


/* Appends "{a,b,c}" of the rings or positions. */
static int
array_text(ps_buf_t *b, const uint64_t *pos, uint32_t nrings)
{
    uint32_t  i;

    if (ps_buf_putc(b, '{') != 0) {
        return -1;
    }

    for (i = 0; i < nrings; i++) {
        if (ps_buf_printf(b, i ? ",%llu" : "%llu",
                          pos ? (unsigned long long) pos[i]
                              : (unsigned long long) i) != 0)
        {
            return -1;
        }
    }

    return ps_buf_putc(b, '}');
}


static int
write_watermarks(pg_sink_t *pg, uint64_t zone_id, const uint64_t *pos,
    uint32_t nrings)
{
    int          rc;
    char         zid[32], started[32];
    ps_buf_t     rings = PS_BUF_INIT, poss = PS_BUF_INIT;
    PGresult    *res;
    const char  *params[4];

    snprintf(zid, sizeof(zid), "%lld", (long long) (int64_t) zone_id);

    if (array_text(&rings, NULL, nrings) != 0
        || array_text(&poss, pos, nrings) != 0)
    {
        set_error(pg, "watermark", "out of memory");
        rc = -1;
        goto done;
    }

    params[0] = pg->node_id;
    params[1] = zid;
    params[2] = rings.data;
    params[3] = poss.data;

    res = PQexecParams(pg->conn, watermark_sql, 4, NULL, params, NULL, NULL,
                       0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail_res(pg, "watermark", res);
        goto done;
    }
    PQclear(res);

    snprintf(started, sizeof(started), "%.6f",
             (double) pg->started_us / 1e6);
    params[2] = PATHSTATS_VERSION;
    params[3] = started;

    res = PQexecParams(pg->conn, node_sql, 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail_res(pg, "node", res);
        goto done;
    }
    PQclear(res);

    rc = 0;

done:

    ps_buf_free(&rings);
    ps_buf_free(&poss);

    return rc;
}


/* After a COMMIT whose answer was lost: the watermarks, read back, say
 * whether it was applied (0) or not (-1: the pipeline retries).  If they
 * cannot be read, a retry could count twice, so the process exits: the
 * restart reads the watermarks and replays the rings from there, which
 * is exact either way (systemd's Restart=always brings it back). */
static int
commit_outcome(ps_sink_t *sink, uint64_t zone_id, const uint64_t *pos,
    uint32_t nrings)
{
    int        rc;
    uint64_t  *now;

    now = calloc(nrings ? nrings : 1, sizeof(uint64_t));

    if (now == NULL || pg_load_watermarks(sink, zone_id, now, nrings) != 0) {
        ps_log(PS_LOG_ERROR, "event=commit_outcome_unknown sink=postgres "
               "action=exit reason=\"the connection broke during COMMIT; "
               "restarting replays the rings from the committed "
               "watermarks\"");
        exit(1);
    }

    rc = memcmp(now, pos, nrings * sizeof(uint64_t)) == 0 ? 0 : -1;
    ps_log(PS_LOG_WARN, "event=commit_outcome sink=postgres applied=%s",
           rc == 0 ? "yes" : "no");

    free(now);

    return rc;
}


static int
pg_flush(ps_sink_t *sink, uint64_t zone_id, const ps_agg_table_t *delta,
    const uint64_t *pos, uint32_t nrings)
{
    size_t      i, n;
    PGresult   *res;
    pg_sink_t  *pg = sink->impl;

    if (pg_connect(sink) != 0) {
        return -1;
    }

    n = ps_agg_count(delta);

    if (exec_cmd(pg, "begin", "BEGIN") != 0) {
        goto fail;
    }

    if (n) {
        if (ensure_partitions(pg, delta) != 0) {
            goto fail;
        }

        ps_buf_reset(&pg->copy);

        for (i = 0; i < n; i++) {
            if (copy_row(&pg->copy, i, ps_agg_entry_at(delta, i)) != 0) {
                set_error(pg, "copy_delta", "out of memory");
                goto fail;
            }
        }

        /* ANALYZE: without row counts the planner may join the temporary
         * tables by nested loops, quadratic in the delta */
        if (copy_in(pg, "copy_delta", "COPY ps_delta FROM STDIN",
                    &pg->copy) != 0
            || exec_cmd(pg, "analyze_delta", "ANALYZE ps_delta (idx)") != 0
            || exec_cmd(pg, "insert_keys", insert_keys_sql) != 0
            || merge_histograms(pg, delta) != 0)
        {
            goto fail;
        }

        res = PQexec(pg->conn, update_sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            fail_res(pg, "update", res);
            goto fail;
        }

        if (strtoull(PQcmdTuples(res), NULL, 10) != n) {
            PQclear(res);
            set_error(pg, "update", "updated fewer rows than the delta has");
            goto fail;
        }
        PQclear(res);
    }

    if (write_watermarks(pg, zone_id, pos, nrings) != 0) {
        goto fail;
    }

    res = PQexec(pg->conn, "COMMIT");

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_res(pg, "commit", res);

        if (PQstatus(pg->conn) != CONNECTION_OK) {
            drop_conn(pg);
            return commit_outcome(sink, zone_id, pos, nrings);
        }

        goto fail;
    }

    PQclear(res);

    /* a large delta's COPY buffer is not kept between flushes */
    if (pg->copy.cap > 16 * 1024 * 1024) {
        ps_buf_free(&pg->copy);
    }

    sink->last_error[0] = '\0';

    return 0;

fail:

    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) {
        (void) exec_cmd(pg, "rollback", "ROLLBACK");
    }

    if (pg->conn && PQstatus(pg->conn) != CONNECTION_OK) {
        drop_conn(pg);
    }

    return -1;
}


static void
pg_destroy(ps_sink_t *sink)
{
    pg_sink_t  *pg;

    if (sink == NULL) {
        return;
    }

    pg = sink->impl;

    drop_conn(pg);
    ps_buf_free(&pg->copy);
    free(pg->conninfo);
    free(pg->node_id);
    free(pg);
}


static const ps_sink_ops_t  pg_ops = {
    "postgres",
    pg_connect,
    pg_load_watermarks,
    pg_flush,
    pg_destroy,
    NULL
};


ps_sink_t *
ps_sink_pg_create(const ps_config_t *cfg)
{
    pg_sink_t  *pg;

    pg = calloc(1, sizeof(pg_sink_t));
    if (pg == NULL) {
        return NULL;
    }

    pg->conninfo = strdup(cfg->postgres);
    pg->node_id = strdup(cfg->node_id);

    if (pg->conninfo == NULL || pg->node_id == NULL) {
        free(pg->conninfo);
        free(pg->node_id);
        free(pg);
        return NULL;
    }

    pg->started_us = ps_now_us();
    pg->sink.ops = &pg_ops;
    pg->sink.impl = pg;
    pg->sink.durable = 1;

    return &pg->sink;
}
