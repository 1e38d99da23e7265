/*
 * PostgreSQL sink: see sink_pg.h.  One flush is one transaction:
 *
 *   1. daily partitions for the delta's hours (cached per connection; a
 *      partition that cannot be created leaves its rows to the DEFAULT
 *      partition rather than failing the flush);
 *   2. COPY (binary) the delta, sorted by key, each key with its complete
 *      values, into a temporary table;
 *   3. insert the keys not known to have a row (pg_known.h)
 *      with their values, ON CONFLICT DO NOTHING, in key order: a new row
 *      needs no merge, and when every key was new the flush is done with
 *      its rows;
 *   4. lock the rows that existed before (FOR UPDATE, in key order, so
 *      that nodes flushing the same rows take turns instead of losing
 *      updates; the rows this transaction inserted are told apart by
 *      their xmin), reading their partition, ctid and values;
 *   5. merge here in C: counters, first/last seen, the histograms and the
 *      HyperLogLogs (bit-compatible with postgresql-hll; one that does not
 *      read as ours is left to hll_union()), and COPY the results back
 *      with the rows' ctids;
 *   6. per partition, one UPDATE by ctid (a TID scan: no second index
 *      lookup; the rows are locked, so their ctids cannot change) sets
 *      the merged values;
 *   7. the node's watermarks and its pathstats_nodes row;
 *   8. COMMIT.
 *
 * Any error rolls back everything, so the pipeline's retry sends the same
 * delta again.  If the connection breaks during COMMIT the outcome is
 * unknown: the watermarks, read back after reconnecting, tell.
 *
 * The session runs with jit = off: compiling a flush's statements, whose
 * cost estimates grow with the partitions, takes longer than running
 * them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "lib/clock.h"
#include "lib/histogram.h"
#include "lib/hll.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "store/pg/migrate.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_known.h"
#include "store/pg/sink_pg.h"
#include "lib/strbuf.h"

#define DAY_CACHE      64          /* partitions known to exist */
#define DAY_SECONDS    86400
/* rows are updated at every flush: room on each page keeps those updates
 * HOT (no index insert for the new row version).  At 50 every row's next
 * version fits on its page, the first update after the insert included
 * (the hour's second flush: with 70 its UPDATE took twice as long);
 * later ones reuse the space of the versions pruned since */
#define PARTITION_FILLFACTOR  "50"
/* keys known to have a row: at most this many, then forgotten */
#define KNOWN_MAX      (1u << 20)

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
    uint8_t    *enc;               /* histogram encoding scratch */
    size_t      enc_cap;
    const ps_agg_entry_t **order;  /* the delta in key order; idx is the
                                      position in it */
    size_t      order_cap;
    size_t      norder;
    size_t      inserted;          /* last flush: rows inserted */
    ps_pg_known_t  *known;         /* keys that have a row */
    int         schema_bad;        /* refused: logged once per connect */
} pg_sink_t;


static const char  create_temp_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS ps_delta ("
    " idx integer, hour timestamptz, host text, method text, path text,"
    " requests bigint, status_1xx bigint, status_2xx bigint,"
    " status_3xx bigint, status_4xx bigint, status_5xx bigint,"
    " errors bigint, bytes_in bigint, bytes_out bigint,"
    " latency_sum_us bigint, latency_max_us bigint, unique_clients hll,"
    " first_seen timestamptz, last_seen timestamptz, latency_hist bytea,"
    " fresh boolean"
    ") ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS ps_merged ("
    " part oid, tid tid, requests bigint, status_1xx bigint,"
    " status_2xx bigint, status_3xx bigint, status_4xx bigint,"
    " status_5xx bigint, errors bigint, bytes_in bigint, bytes_out bigint,"
    " latency_sum_us bigint, latency_max_us bigint, unique_clients hll,"
    " first_seen timestamptz, last_seen timestamptz, latency_hist bytea,"
    " hll_sql boolean"
    ") ON COMMIT DELETE ROWS";

static const char  insert_rows_sql[] =
    "INSERT INTO pathstats_hourly (hour, host, method, path, requests,"
    " status_1xx, status_2xx, status_3xx, status_4xx, status_5xx, errors,"
    " bytes_in, bytes_out, latency_sum_us, latency_max_us, latency_hist,"
    " unique_clients, first_seen, last_seen) "
    "SELECT hour, host, method, path, requests,"
    " status_1xx, status_2xx, status_3xx, status_4xx, status_5xx, errors,"
    " bytes_in, bytes_out, latency_sum_us, latency_max_us, latency_hist,"
    " unique_clients, first_seen, last_seen FROM ps_delta WHERE fresh "
    "ORDER BY hour, host, method, path "
    "ON CONFLICT DO NOTHING";

/* the rows that existed before this transaction (xmin: the ones it just
 * inserted are not merged again), with the values the merge needs; the
 * bounds on hour prune partitions */
static const char  lock_rows_sql[] =
    "SELECT d.idx, h.tableoid, h.ctid, h.requests, h.status_1xx,"
    " h.status_2xx, h.status_3xx, h.status_4xx, h.status_5xx, h.errors,"
    " h.bytes_in, h.bytes_out, h.latency_sum_us, h.latency_max_us,"
    " h.first_seen, h.last_seen, h.latency_hist, h.unique_clients "
    "FROM ps_delta d "
    "JOIN pathstats_hourly h ON h.hour = d.hour AND h.host = d.host "
    " AND h.method = d.method AND h.path = d.path "
    "WHERE h.hour >= $1::timestamptz AND h.hour <= $2::timestamptz"
    " AND h.xmin <> pg_current_xact_id()::xid "
    "ORDER BY d.hour, d.host, d.method, d.path "
    "FOR UPDATE OF h";

/* the columns of lock_rows_sql */
enum {
    L_IDX, L_PART, L_TID, L_REQUESTS, L_STATUS, L_ERRORS = L_STATUS + 5,
    L_BYTES_IN, L_BYTES_OUT, L_LAT_SUM, L_LAT_MAX, L_FIRST, L_LAST, L_HIST,
    L_HLL, L_COLUMNS
};

/* one partition's locked rows, found by ctid (%s: the partition, %u its
 * oid), set to the values merged in C (a HyperLogLog that C could not
 * read, hll_sql, is unioned here); the key columns do not change, so the
 * row stays in it */
static const char  update_sql[] =
    "UPDATE %s h SET"
    " requests = x.requests, status_1xx = x.status_1xx,"
    " status_2xx = x.status_2xx, status_3xx = x.status_3xx,"
    " status_4xx = x.status_4xx, status_5xx = x.status_5xx,"
    " errors = x.errors, bytes_in = x.bytes_in, bytes_out = x.bytes_out,"
    " latency_sum_us = x.latency_sum_us, latency_max_us = x.latency_max_us,"
    " latency_hist = x.latency_hist,"
    " unique_clients = CASE WHEN x.hll_sql"
    "  THEN hll_union(coalesce(h.unique_clients, hll_empty()),"
    "                 x.unique_clients)"
    "  ELSE x.unique_clients END,"
    " first_seen = x.first_seen, last_seen = x.last_seen,"
    " updated_at = now() "
    "FROM ps_merged x "
    "WHERE h.ctid = x.tid AND x.part = %u";

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

static const char  load_keys_sql[] =
    "SELECT host, method, path FROM pathstats_hourly "
    "WHERE hour = to_timestamp($1::bigint) "
    "AND NOT (host = '" PS_AGG_OTHER_HOST "' AND method = '"
    PS_AGG_OTHER_METHOD "' AND path = '" PS_AGG_OTHER_PATH "') "
    "LIMIT $2::bigint";


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
    ps_pg_known_clear(pg->known);
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

    /* JIT compiling a flush's statements (their cost estimates grow
     * with the partitions) takes longer than running them */
    if (exec_cmd(pg, "create_temp", create_temp_sql) != 0
        || exec_cmd(pg, "session_setup", "SET jit = off") != 0)
    {
        drop_conn(pg);
        return -1;
    }

    ps_log(PS_LOG_INFO, "event=sink_up sink=postgres host=%s port=%s "
           "dbname=%s", PQhost(pg->conn), PQport(pg->conn), PQdb(pg->conn));

    sink->last_error[0] = '\0';

    return 0;
}


/* Runs a SELECT of two text parameters outside a flush, connecting
 * first if needed: its rows, or NULL (logged, and the connection dropped
 * if it broke). */
static PGresult *
select_rows(ps_sink_t *sink, const char *step, const char *sql,
    const char *p1, const char *p2)
{
    PGresult    *res;
    pg_sink_t   *pg = sink->impl;
    const char  *params[2];

    if (pg_connect(sink) != 0) {
        return NULL;
    }

    params[0] = p1;
    params[1] = p2;

    res = PQexecParams(pg->conn, sql, 2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail_res(pg, step, res);
        if (PQstatus(pg->conn) != CONNECTION_OK) {
            drop_conn(pg);
        }
        return NULL;
    }

    return res;
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

    snprintf(zid, sizeof(zid), "%lld", (long long) (int64_t) zone_id);

    res = select_rows(sink, "load_watermarks", load_sql, pg->node_id, zid);
    if (res == NULL) {
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


static int
pg_load_keys(ps_sink_t *sink, int64_t hour, size_t max, ps_sink_key_fn fn,
    void *ctx)
{
    int          i, n;
    char         h[32], m[32];
    PGresult    *res;

    snprintf(h, sizeof(h), "%lld", (long long) hour);
    snprintf(m, sizeof(m), "%llu", (unsigned long long) max);

    res = select_rows(sink, "load_keys", load_keys_sql, h, m);
    if (res == NULL) {
        return -1;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        fn(ctx, PQgetvalue(res, i, 0), (size_t) PQgetlength(res, i, 0),
           PQgetvalue(res, i, 1), (size_t) PQgetlength(res, i, 1),
           PQgetvalue(res, i, 2), (size_t) PQgetlength(res, i, 2));
    }

    PQclear(res);

    return 0;
}


/* Encodes h into pg->enc; its length, or 0 if memory ran out. */
static size_t
encode_hist(pg_sink_t *pg, const ps_hist_t *h)
{
    size_t    len;
    uint8_t  *p;

    len = ps_hist_encoded_size(h);

    if (len > pg->enc_cap) {
        p = realloc(pg->enc, len * 2);
        if (p == NULL) {
            return 0;
        }
        pg->enc = p;
        pg->enc_cap = len * 2;
    }

    return ps_hist_encode(h, pg->enc, pg->enc_cap);
}


/* COPY binary format: the header (signature, flags, no extension) and
 * the trailer. */
static const char  copy_bin_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0";
static const char  copy_bin_trailer[2] = "\377\377";

/* microseconds between the unix epoch and PostgreSQL's (2000-01-01) */
#define PG_EPOCH_US   INT64_C(946684800000000)
#define DELTA_FIELDS  21
#define MERGED_FIELDS 18


static char *
put_be(char *o, uint64_t v, int bytes)
{
    int  i;

    for (i = bytes - 1; i >= 0; i--) {
        o[i] = (char) (v & 0xFF);
        v >>= 8;
    }

    return o + bytes;
}


/* A field: its length (4 bytes) and len bytes of p. */
static char *
put_field(char *o, const void *p, size_t len)
{
    o = put_be(o, len, 4);
    memcpy(o, p, len);

    return o + len;
}


static char *
put_int8(char *o, uint64_t v)
{
    o = put_be(o, 8, 4);

    return put_be(o, v, 8);
}


/* One ps_delta row in COPY binary format; fresh: the INSERT tries it. */
static int
copy_row(pg_sink_t *pg, size_t idx, const ps_agg_entry_t *e, int fresh)
{
    int        i;
    char      *o;
    size_t     n, hn;
    uint8_t    hll[PS_HLL_MAX_BYTES];
    ps_buf_t  *b = &pg->copy;

    n = ps_hll_serialize(&e->clients, hll, sizeof(hll));

    /* a new row takes the delta's histogram as it is */
    hn = encode_hist(pg, &e->latency);

    if (hn == 0
        || ps_buf_reserve(b, 2 + DELTA_FIELDS * 4 + 4 + 3 * 8 + 11 * 8 + 1
                             + e->host_len + e->method_len + e->path_len
                             + n + hn) != 0)
    {
        return -1;
    }

    o = b->data + b->len;
    o = put_be(o, DELTA_FIELDS, 2);
    o = put_be(o, 4, 4);
    o = put_be(o, idx, 4);
    o = put_int8(o, (uint64_t) (e->hour * PS_US_PER_SEC - PG_EPOCH_US));
    o = put_field(o, e->host, e->host_len);
    o = put_field(o, e->method, e->method_len);
    o = put_field(o, e->path, e->path_len);
    o = put_int8(o, e->counts.requests);

    for (i = 0; i < 5; i++) {
        o = put_int8(o, e->counts.status[i]);
    }

    o = put_int8(o, e->counts.errors);
    o = put_int8(o, e->counts.bytes_in);
    o = put_int8(o, e->counts.bytes_out);
    o = put_int8(o, e->counts.latency_sum_us);
    o = put_int8(o, e->counts.latency_max_us);
    o = put_field(o, hll, n);
    o = put_int8(o, (uint64_t) ((int64_t) e->first_seen_us - PG_EPOCH_US));
    o = put_int8(o, (uint64_t) ((int64_t) e->last_seen_us - PG_EPOCH_US));
    o = put_field(o, pg->enc, hn);
    o = put_be(o, 1, 4);
    *o++ = fresh ? 1 : 0;

    b->len = (size_t) (o - b->data);

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

        /* RELEASE too: the rest of the flush must run in the top
         * transaction, whose xid tells the rows it inserts */
        if (exec_cmd(pg, "partition_rollback",
                     "ROLLBACK TO SAVEPOINT ps_partition; "
                     "RELEASE SAVEPOINT ps_partition") != 0)
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


/* A big-endian unsigned of size bytes from a binary result field. */
static uint32_t
be_field(const PGresult *res, int row, int col)
{
    size_t          i, len;
    uint32_t        v;
    const uint8_t  *p;

    p = (const uint8_t *) PQgetvalue(res, row, col);
    len = (size_t) PQgetlength(res, row, col);

    for (i = 0, v = 0; i < len && i < 4; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


/* Step 6: one UPDATE by ctid for the locked rows of partition part;
 * adds the rows it updated to *updated.  0 or -1. */
static int
update_partition(pg_sink_t *pg, uint32_t part, size_t *updated)
{
    char         oid[16], *sql;
    size_t       len;
    PGresult    *res;
    const char  *params[1];

    snprintf(oid, sizeof(oid), "%u", part);
    params[0] = oid;

    res = PQexecParams(pg->conn, "SELECT $1::oid::regclass::text", 1, NULL,
                       params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        return fail_res(pg, "partition_name", res);
    }

    len = sizeof(update_sql) + PQgetlength(res, 0, 0) + 16;
    sql = malloc(len);
    if (sql == NULL) {
        PQclear(res);
        set_error(pg, "update", "out of memory");
        return -1;
    }

    snprintf(sql, len, update_sql, PQgetvalue(res, 0, 0), part);
    PQclear(res);

    res = PQexec(pg->conn, sql);
    free(sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return fail_res(pg, "update", res);
    }

    *updated += strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);

    return 0;
}


/* A bigint or timestamptz column of a binary result: 0, or -1 if it is
 * NULL or not 8 bytes. */
static int
int8_field(const PGresult *res, int row, int col, uint64_t *v)
{
    int             i;
    const uint8_t  *p;

    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != 8) {
        return -1;
    }

    p = (const uint8_t *) PQgetvalue(res, row, col);

    for (i = 0, *v = 0; i < 8; i++) {
        *v = (*v << 8) | p[i];
    }

    return 0;
}


/* One ps_merged row (COPY binary) for the locked row i of res and the
 * delta entry e: the row's counters plus the delta's, its histogram
 * merged with the delta's (in *h), its HyperLogLog unioned with the
 * delta's (in *u; one that does not read as ours, say other parameters,
 * is left to hll_union() in the UPDATE).  0, or -1 with the error set. */
static int
merged_row(pg_sink_t *pg, const PGresult *res, int i,
    const ps_agg_entry_t *e, ps_hist_t *h, ps_hll_t *u)
{
    int        k, hll_sql;
    char      *o;
    size_t     n, hn;
    int64_t    first, last;
    uint64_t   v[L_LAT_MAX + 1], fs, ls, add;
    uint8_t    hll[PS_HLL_MAX_BYTES];
    ps_buf_t  *b = &pg->copy;

    for (k = L_REQUESTS; k <= L_LAT_MAX; k++) {
        if (int8_field(res, i, k, &v[k]) != 0) {
            set_error(pg, "lock_rows", "unexpected counter");
            return -1;
        }
    }

    for (k = L_REQUESTS; k < L_LAT_MAX; k++) {
        switch (k) {
        case L_REQUESTS: add = e->counts.requests; break;
        case L_ERRORS: add = e->counts.errors; break;
        case L_BYTES_IN: add = e->counts.bytes_in; break;
        case L_BYTES_OUT: add = e->counts.bytes_out; break;
        case L_LAT_SUM: add = e->counts.latency_sum_us; break;
        default: add = e->counts.status[k - L_STATUS]; break;
        }
        v[k] += add;
    }

    if (e->counts.latency_max_us > v[L_LAT_MAX]) {
        v[L_LAT_MAX] = e->counts.latency_max_us;
    }

    /* NULL (a row never counted) takes the delta's */
    first = (int64_t) e->first_seen_us - PG_EPOCH_US;
    last = (int64_t) e->last_seen_us - PG_EPOCH_US;

    if (int8_field(res, i, L_FIRST, &fs) == 0 && (int64_t) fs < first) {
        first = (int64_t) fs;
    }
    if (int8_field(res, i, L_LAST, &ls) == 0 && (int64_t) ls > last) {
        last = (int64_t) ls;
    }

    ps_hist_reset(h);

    if (!PQgetisnull(res, i, L_HIST)
        && ps_hist_decode(h, (const uint8_t *) PQgetvalue(res, i, L_HIST),
                          (size_t) PQgetlength(res, i, L_HIST)) != 0)
    {
        /* not ours to repair: keep counting from what we have */
        ps_log(PS_LOG_WARN, "event=bad_histogram sink=postgres "
               "action=replaced");
        ps_hist_reset(h);
    }

    if (ps_hist_merge(h, &e->latency) != 0) {
        set_error(pg, "merge_histograms", "out of memory");
        return -1;
    }

    hn = encode_hist(pg, h);

    hll_sql = 0;
    ps_hll_free(u);

    if (!PQgetisnull(res, i, L_HLL)
        && ps_hll_deserialize(u, (const uint8_t *) PQgetvalue(res, i, L_HLL),
                              (size_t) PQgetlength(res, i, L_HLL)) != 0)
    {
        hll_sql = 1;
    }

    if (ps_hll_merge(u, &e->clients) != 0) {
        set_error(pg, "merge_hll", "out of memory");
        return -1;
    }

    /* with hll_sql, u is the delta's alone */
    n = ps_hll_serialize(u, hll, sizeof(hll));

    if (hn == 0
        || ps_buf_reserve(b, 2 + MERGED_FIELDS * 4 + 4 + 6 + 13 * 8 + n + hn
                             + 1) != 0)
    {
        set_error(pg, "merge_histograms", "out of memory");
        return -1;
    }

    o = b->data + b->len;
    o = put_be(o, MERGED_FIELDS, 2);
    o = put_field(o, PQgetvalue(res, i, L_PART), 4);
    o = put_field(o, PQgetvalue(res, i, L_TID), 6);

    for (k = L_REQUESTS; k <= L_LAT_MAX; k++) {
        o = put_int8(o, v[k]);
    }

    o = put_field(o, hll, n);
    o = put_int8(o, (uint64_t) first);
    o = put_int8(o, (uint64_t) last);
    o = put_field(o, pg->enc, hn);
    o = put_be(o, 1, 4);
    *o++ = (char) hll_sql;

    b->len = (size_t) (o - b->data);

    return 0;
}


/* Steps 4 to 6 for the expected rows that existed before this
 * transaction (hours first to last): lock them, merge them with the
 * delta (pg->order) here, COPY the results into ps_merged, update them.
 * 0, -1, or 1 when fewer rows than expected exist. */
static int
merge_existing(pg_sink_t *pg, size_t expected, int64_t first, int64_t last)
{
    int            i, rows, rc;
    char           lo[PS_ISO8601_MAX], hi[PS_ISO8601_MAX];
    size_t         k, n, updated, nparts;
    uint32_t       idx, part, *parts, *p;
    ps_hll_t       u;
    PGresult      *res;
    ps_hist_t      h;
    const char    *params[2];

    ps_format_iso8601(first * PS_US_PER_SEC, lo);
    ps_format_iso8601(last * PS_US_PER_SEC, hi);
    params[0] = lo;
    params[1] = hi;

    res = PQexecParams(pg->conn, lock_rows_sql, 2, NULL, params, NULL, NULL,
                       1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail_res(pg, "lock_rows", res);
    }

    n = pg->norder;
    rows = PQntuples(res);

    if ((size_t) rows != expected) {
        PQclear(res);
        return 1;
    }

    if (PQnfields(res) != L_COLUMNS) {
        PQclear(res);
        set_error(pg, "lock_rows", "unexpected columns");
        return -1;
    }

    ps_buf_reset(&pg->copy);
    ps_hist_init(&h);
    ps_hll_init(&u);
    parts = NULL;
    nparts = 0;
    rc = -1;

    if (ps_buf_append(&pg->copy, copy_bin_header, sizeof(copy_bin_header))
        != 0)
    {
        set_error(pg, "merge_histograms", "out of memory");
        goto done;
    }

    for (i = 0; i < rows; i++) {
        if (PQgetlength(res, i, L_IDX) != 4
            || PQgetlength(res, i, L_PART) != 4
            || PQgetlength(res, i, L_TID) != 6)
        {
            set_error(pg, "lock_rows", "unexpected idx, tableoid or ctid");
            goto done;
        }

        idx = be_field(res, i, L_IDX);
        part = be_field(res, i, L_PART);

        if (idx >= n) {
            set_error(pg, "lock_rows", "idx out of range");
            goto done;
        }

        if (nparts == 0 || parts[nparts - 1] != part) {
            for (k = 0; k < nparts && parts[k] != part; k++) {
                /* void */
            }

            if (k == nparts) {
                p = realloc(parts, (nparts + 1) * sizeof(uint32_t));
                if (p == NULL) {
                    set_error(pg, "merge_histograms", "out of memory");
                    goto done;
                }
                parts = p;
                parts[nparts++] = part;
            }
        }

        if (merged_row(pg, res, i, pg->order[idx], &h, &u) != 0) {
            goto done;
        }
    }

    if (ps_buf_append(&pg->copy, copy_bin_trailer, sizeof(copy_bin_trailer))
        != 0)
    {
        set_error(pg, "merge_histograms", "out of memory");
        goto done;
    }

    rc = 0;

done:

    ps_hist_free(&h);
    ps_hll_free(&u);
    PQclear(res);

    if (rc == 0) {
        rc = copy_in(pg, "copy_merged",
                     "COPY ps_merged FROM STDIN (FORMAT binary)", &pg->copy);
    }

    /* a nested loop of TID scans, which does not read the partition */
    if (rc == 0) {
        rc = exec_cmd(pg, "join_settings", "SET LOCAL enable_mergejoin = off; "
                      "SET LOCAL enable_hashjoin = off");
    }

    updated = 0;

    for (k = 0; rc == 0 && k < nparts; k++) {
        rc = update_partition(pg, parts[k], &updated);
    }

    free(parts);

    if (rc == 0 && updated != expected) {
        set_error(pg, "update", "updated fewer rows than the delta has");
        rc = -1;
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
        if (sink->spooled) {
            /* SPOOL: the failed flush goes to the spool with its
             * positions, and the replay reads the watermarks before
             * applying it, so an applied flush is skipped there */
            ps_log(PS_LOG_WARN, "event=commit_outcome_unknown "
                   "sink=postgres action=spool reason=\"the connection "
                   "broke during COMMIT; the spool's replay checks the "
                   "watermarks\"");
            free(now);
            return -1;
        }

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
cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int  c;

    c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0) {
        return c;
    }

    return alen < blen ? -1 : alen > blen;
}


static int
cmp_key(const void *x, const void *y)
{
    int                    c;
    const ps_agg_entry_t  *a = *(const ps_agg_entry_t *const *) x;
    const ps_agg_entry_t  *b = *(const ps_agg_entry_t *const *) y;

    if (a->hour != b->hour) {
        return a->hour < b->hour ? -1 : 1;
    }

    c = cmp_bytes(a->host, a->host_len, b->host, b->host_len);
    if (c == 0) {
        c = cmp_bytes(a->method, a->method_len, b->method, b->method_len);
    }
    if (c == 0) {
        c = cmp_bytes(a->path, a->path_len, b->path, b->path_len);
    }

    return c;
}


/* pg->order: the delta's entries in key order (bytewise, as the C
 * collation sorts), so that the server's sorts find their input sorted
 * and the new rows go into the partition in index order; 0 or -1. */
static int
sort_delta(pg_sink_t *pg, const ps_agg_table_t *delta)
{
    size_t                  i, n;
    const ps_agg_entry_t  **o;

    n = ps_agg_count(delta);

    if (n > pg->order_cap) {
        o = realloc(pg->order, n * sizeof(*o));
        if (o == NULL) {
            return -1;
        }
        pg->order = o;
        pg->order_cap = n;
    }

    for (i = 0; i < n; i++) {
        pg->order[i] = ps_agg_entry_at(delta, i);
    }

    if (n > 1) {
        qsort(pg->order, n, sizeof(*pg->order), cmp_key);
    }
    pg->norder = n;

    return 0;
}


/* Steps 1 to 6 inside the open transaction; 0, -1 on error, or 1 when
 * a key taken as known has no row (roll back, forget, do it again). */
static int
apply_delta(pg_sink_t *pg, const ps_agg_table_t *delta)
{
    int                    fresh, rc;
    size_t                 i, n, nfresh, inserted;
    int64_t                first, last;
    PGresult              *res;
    const ps_agg_entry_t  *e;

    n = ps_agg_count(delta);

    if (ensure_partitions(pg, delta) != 0) {
        return -1;
    }

    if (sort_delta(pg, delta) != 0) {
        set_error(pg, "sort_delta", "out of memory");
        return -1;
    }

    ps_buf_reset(&pg->copy);
    first = INT64_MAX;
    last = INT64_MIN;
    nfresh = 0;

    if (ps_buf_append(&pg->copy, copy_bin_header, sizeof(copy_bin_header))
        != 0)
    {
        set_error(pg, "copy_delta", "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        e = pg->order[i];

        if (e->hour < first) {
            first = e->hour;
        }
        if (e->hour > last) {
            last = e->hour;
        }

        fresh = !ps_pg_known_has(pg->known, e);
        nfresh += fresh;

        if (copy_row(pg, i, e, fresh) != 0) {
            set_error(pg, "copy_delta", "out of memory");
            return -1;
        }
    }

    if (ps_buf_append(&pg->copy, copy_bin_trailer, sizeof(copy_bin_trailer))
        != 0)
    {
        set_error(pg, "copy_delta", "out of memory");
        return -1;
    }

    if (copy_in(pg, "copy_delta", "COPY ps_delta FROM STDIN (FORMAT binary)",
                &pg->copy) != 0)
    {
        return -1;
    }

    inserted = 0;
    pg->inserted = 0;

    if (nfresh) {
        res = PQexec(pg->conn, insert_rows_sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            return fail_res(pg, "insert_rows", res);
        }

        inserted = strtoull(PQcmdTuples(res), NULL, 10);
        pg->inserted = inserted;
        PQclear(res);
    }

    if (inserted == n) {
        return 0;
    }

    /* when the hours hold many more rows than the delta has keys, the
     * rows are found by index, one probe per key: the planner, misled by
     * the key columns' correlation, would rather read and sort every row
     * of those hours for a merge join (which is the better plan when the
     * delta has most of them, its input being sorted already) */
    if (ps_pg_known_in_hours(pg->known, first, last) > 2 * n
        && exec_cmd(pg, "join_settings", "SET LOCAL enable_mergejoin = off; "
                    "SET LOCAL enable_hashjoin = off") != 0)
    {
        return -1;
    }

    /* row counts for the planner: the temporary tables are never
     * analyzed otherwise */
    if (exec_cmd(pg, "analyze_delta", "ANALYZE ps_delta (idx)") != 0) {
        return -1;
    }

    rc = merge_existing(pg, n - inserted, first, last);

    if (rc == 1) {
        if (nfresh < n) {
            ps_log(PS_LOG_INFO, "event=known_keys_missing sink=postgres "
                   "action=retry_with_every_key");
            return 1;
        }

        set_error(pg, "lock_rows", "locked fewer rows than the delta has");
        return -1;
    }

    return rc;
}


static int
pg_flush(ps_sink_t *sink, uint64_t zone_id, const ps_agg_table_t *delta,
    const uint64_t *pos, uint32_t nrings)
{
    int         rc;
    size_t      n;
    uint64_t    start;
    PGresult   *res;
    pg_sink_t  *pg = sink->impl;

    if (pg_connect(sink) != 0) {
        return -1;
    }

    start = ps_mono_us();
    n = ps_agg_count(delta);
    pg->inserted = 0;

again:

    if (exec_cmd(pg, "begin", "BEGIN") != 0) {
        goto fail;
    }

    if (n) {
        rc = apply_delta(pg, delta);

        if (rc == 1) {
            if (exec_cmd(pg, "rollback", "ROLLBACK") != 0) {
                goto fail;
            }
            ps_pg_known_clear(pg->known);
            pg->ndays = 0;
            pg->next_day = 0;
            goto again;
        }

        if (rc != 0) {
            goto fail;
        }
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

    ps_pg_known_add(pg->known, pg->order, n);

    ps_log(PS_LOG_DEBUG, "event=sink_flush sink=postgres keys=%zu "
           "inserted=%zu merged=%zu duration_ms=%.1f", n, pg->inserted,
           n - pg->inserted, (double) (ps_mono_us() - start) / 1000.0);

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

    /* partitions created by the rolled back transaction are gone */
    pg->ndays = 0;
    pg->next_day = 0;

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
    ps_pg_known_destroy(pg->known);
    free(pg->enc);
    free(pg->order);
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
    NULL,
    pg_load_keys
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
    pg->known = ps_pg_known_create(KNOWN_MAX);

    if (pg->conninfo == NULL || pg->node_id == NULL || pg->known == NULL) {
        free(pg->conninfo);
        free(pg->node_id);
        ps_pg_known_destroy(pg->known);
        free(pg);
        return NULL;
    }

    pg->started_us = ps_now_us();
    pg->sink.ops = &pg_ops;
    pg->sink.impl = pg;
    pg->sink.durable = 1;

    return &pg->sink;
}
