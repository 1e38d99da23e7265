/*
 * PostgreSQL sink: see sink_pg.h.  One flush is one transaction of a few
 * bulk statements, whatever the number of keys:
 *
 *   1. daily partitions for the delta's hours (cached per connection; a
 *      partition that cannot be created leaves its rows to the DEFAULT
 *      partition rather than failing the flush);
 *   2. only for keys whose row this sink does not know (pg_rows.h: after
 *      a restart, in the hour it started in, or a late record's hour):
 *      COPY them into a temporary table and read their histograms back
 *      in one SELECT;
 *   3. COPY (binary) the delta, sorted by key, into a temporary table:
 *      each key's counters, first/last seen and clients as the delta's,
 *      its histogram whole (the row's, merged with the delta's here);
 *   4. one INSERT of the new rows, and one UPDATE of this node's
 *      existing ones (by index, in key order): SQL adds the counters,
 *      takes the greater maximum and the wider first/last seen, unions
 *      the HyperLogLogs (hll_union), and stores the histogram as sent.
 *      A new row that existed, or an existing one that did not, shows in
 *      the rows counted: a row changed behind the sink's back, and the
 *      flush is rolled back and done again with every row read (step 2
 *      for all);
 *   5. the node's watermarks and its pathstats_nodes row (one
 *      statement);
 *   6. COMMIT; then the memory of the rows takes the delta's
 *      histograms.
 *
 * A node writes only its own rows (node_id is in the key since schema
 * version 2): nodes never wait for each other's row locks, and nothing
 * is read back in the common case.  Any error rolls back everything, so
 * the pipeline's retry sends the same delta again.  If the connection
 * breaks during COMMIT the outcome is unknown: the watermarks, read back
 * after reconnecting, tell.
 *
 * Measured (bench/pg_flush.c, 10 000 keys, 2-core VM): see
 * bench/README.md; the flush before this design (insert the new rows,
 * lock and read the existing ones, merge in C, COPY the merged rows back
 * and UPDATE them by ctid) took 90-100 ms on an idle machine and
 * 0.3-1.4 s under load.
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
#include "lib/key_hash.h"
#include "lib/key_order.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "store/pg/migrate.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_hourly.h"
#include "store/pg/pg_rows.h"
#include "store/pg/sink_pg.h"

#define DAY_CACHE      64          /* partitions known to exist */
#define DAY_SECONDS    86400
/* rows are updated at every flush: room on each page keeps those updates
 * HOT (no index insert for the new row version).  At 50 every row's next
 * version fits on its page, the first update after the insert included
 * (the hour's second flush: with 70 its UPDATE took twice as long);
 * later ones reuse the space of the versions pruned since */
#define PARTITION_FILLFACTOR  "50"
/* the columns of a delta row, the node id not counted */
#define DELTA_FIELDS   19

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
    ps_buf_t    copy_new;          /* COPY data of the new rows */
    char        state[6];          /* SQLSTATE of the last COPY error */
    uint8_t    *enc;               /* histogram encoding scratch */
    size_t      enc_cap;
    const ps_agg_entry_t **order;  /* the delta in key order; idx is the
                                      position in it */
    const ps_hist_t      **base;   /* [idx]: the row's committed
                                      histogram, NULL for a new row */
    ps_hist_t  *read;              /* [idx]: histograms read in step 2 */
    size_t      order_cap;
    size_t      norder;
    size_t      nnew;              /* keys taken as new */
    size_t      nread;             /* keys read in step 2 */
    size_t      inserted;          /* last flush: rows inserted */
    ps_pg_rows_t  *rows;           /* the rows this sink knows */
} pg_sink_t;


static const char  create_temp_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS ps_delta ("
    " hour timestamptz, host text, method text, path text,"
    " requests bigint, status_1xx bigint, status_2xx bigint,"
    " status_3xx bigint, status_4xx bigint, status_5xx bigint,"
    " errors bigint, bytes_in bigint, bytes_out bigint,"
    " latency_sum_us bigint, latency_max_us bigint, unique_clients hll,"
    " first_seen timestamptz, last_seen timestamptz, latency_hist bytea,"
    " node_id text"
    ") ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS ps_keys ("
    " idx integer, hour timestamptz, host text, method text, path text,"
    " node_id text"
    ") ON COMMIT DELETE ROWS";

/* step 2: the histograms of this node's rows of the keys in ps_keys; a
 * nested loop of index lookups (the keys are a few of the rows).  The
 * node id is a column of ps_keys (and of ps_delta), joined like the rest
 * of the key, not a constant: the planner's estimate of "node_id = $1"
 * comes from the partition's statistics, and for a node they do not know
 * yet (a node new to the fleet, an ANALYZE from before it wrote) it is
 * about one row; with hash and merge joins off it then chose a nested
 * loop that compared every key with every row of that node, taken by an
 * index scan on node_id alone (seen: 25 s for 10 000 keys).
 *
 * $1 and $2 are the delta's first and last hours, constants when the
 * statement is planned: the partitions of other days (and the DEFAULT
 * one, unless an hour of the delta falls in it) are pruned, so a flush
 * neither plans nor locks them.  Without them it held ACCESS SHARE on
 * every partition from this SELECT to the COMMIT, and a lifecycle drop
 * (SHARE on an old day's partition, then ACCESS EXCLUSIVE on the
 * parent) deadlocked with it: the UPDATE's ROW EXCLUSIVE on that old
 * partition waited for the drop, the drop for the flush */
static const char  read_rows_sql[] =
    "SELECT k.idx, h.latency_hist FROM ps_keys k "
    "JOIN pathstats_hourly h ON h.hour = k.hour AND h.host = k.host"
    " AND h.method = k.method AND h.path = k.path"
    " AND h.node_id = k.node_id"
    " AND h.hour BETWEEN to_timestamp($1::bigint)"
    " AND to_timestamp($2::bigint)";

/* step 4: the new rows straight into their partitions (a row that
 * exists already fails the COPY: a row written behind the sink's back),
 * and (a nested loop of index lookups: the delta is a few of the rows;
 * the node id joined, as in step 2; its hours bounded by $1 and $2, as
 * there) the existing ones, whose count tells a row deleted behind its
 * back */
#define COPY_NEW_SQL \
    "COPY pathstats_hourly (hour, host, method, path, requests,"            \
    " status_1xx, status_2xx, status_3xx, status_4xx, status_5xx, errors,"  \
    " bytes_in, bytes_out, latency_sum_us, latency_max_us, unique_clients," \
    " first_seen, last_seen, latency_hist, node_id) "                       \
    "FROM STDIN (FORMAT binary)"

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
    " latency_max_us = greatest(h.latency_max_us, d.latency_max_us),"
    " latency_hist = d.latency_hist,"
    " unique_clients = hll_union(coalesce(h.unique_clients, hll_empty()),"
    "                            d.unique_clients),"
    " first_seen = least(h.first_seen, d.first_seen),"
    " last_seen = greatest(h.last_seen, d.last_seen),"
    " updated_at = now() "
    "FROM ps_delta d "
    "WHERE h.hour = d.hour AND h.host = d.host"
    " AND h.method = d.method AND h.path = d.path"
    " AND h.node_id = d.node_id"
    " AND h.hour BETWEEN to_timestamp($1::bigint)"
    " AND to_timestamp($2::bigint)";

/* step 5 */
static const char  watermark_sql[] =
    "WITH w AS ("
    "INSERT INTO pathstats_watermark AS w"
    " (node_id, zone_id, ring, committed_pos, flushes, flushed_at) "
    "SELECT $1, $2::bigint, r, p, 1, now()"
    " FROM unnest($3::integer[], $4::bigint[]) AS u(r, p) "
    "ON CONFLICT (node_id, zone_id, ring) DO UPDATE SET"
    " committed_pos = EXCLUDED.committed_pos,"
    " flushes = w.flushes + 1, flushed_at = now()) "
    "INSERT INTO pathstats_nodes AS n"
    " (node_id, zone_id, version, started_at, last_flush_at) "
    "VALUES ($1, $2::bigint, $5, to_timestamp($6::double precision), now()) "
    "ON CONFLICT (node_id) DO UPDATE SET zone_id = EXCLUDED.zone_id,"
    " version = EXCLUDED.version, started_at = EXCLUDED.started_at,"
    " last_flush_at = now()";

static const char  load_sql[] =
    "SELECT ring, committed_pos FROM pathstats_watermark "
    "WHERE node_id = $1 AND zone_id = $2::bigint";

/* step 2: this node's rows of an hour, read whole */
static const char  read_hour_sql[] =
    "SELECT host, method, path, latency_hist FROM pathstats_hourly "
    "WHERE hour = to_timestamp($1::bigint) AND node_id = $2";

/* this node's keys of an hour (its key limit is its own) */
static const char  load_keys_sql[] =
    "SELECT host, method, path FROM pathstats_hourly "
    "WHERE hour = to_timestamp($1::bigint) AND node_id = $3 "
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
     * with the partitions) takes longer than running them; the staging
     * tables, emptied at every COMMIT, stay in memory (temp_buffers can
     * only be set before the session's first temporary table) */
    if (exec_cmd(pg, "session_setup", "SET jit = off; "
                 "SET temp_buffers = '64MB'") != 0
        || exec_cmd(pg, "create_temp", create_temp_sql) != 0)
    {
        drop_conn(pg);
        return -1;
    }

    ps_log(PS_LOG_INFO, "event=sink_up sink=postgres host=%s port=%s "
           "dbname=%s", PQhost(pg->conn), PQport(pg->conn), PQdb(pg->conn));

    sink->last_error[0] = '\0';

    return 0;
}


/* Runs a SELECT of n text parameters outside a flush, connecting first
 * if needed: its rows, or NULL (logged, and the connection dropped if it
 * broke). */
static PGresult *
select_rows(ps_sink_t *sink, const char *step, const char *sql, int n,
    const char *const *params)
{
    PGresult    *res;
    pg_sink_t   *pg = sink->impl;

    if (pg_connect(sink) != 0) {
        return NULL;
    }

    res = PQexecParams(pg->conn, sql, n, NULL, params, NULL, NULL, 0);

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
    const char  *params[2];

    snprintf(zid, sizeof(zid), "%lld", (long long) (int64_t) zone_id);
    params[0] = pg->node_id;
    params[1] = zid;

    res = select_rows(sink, "load_watermarks", load_sql, 2, params);
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


static int read_hour(pg_sink_t *pg, int64_t hour, size_t max,
    ps_sink_key_fn fn, void *ctx);


static int
pg_load_keys(ps_sink_t *sink, int64_t hour, size_t max, ps_sink_key_fn fn,
    void *ctx)
{
    int          i, n;
    char         h[32], m[32];
    PGresult    *res;
    pg_sink_t   *pg = sink->impl;
    const char  *params[3];

    /* an hour this sink keeps and does not know yet: its rows whole,
     * histograms too, so that its first flush of the hour (which holds
     * the rings) does not read them (at 100 000 rows, 60 ms of
     * PostgreSQL and as much here, a flush of 10 000 keys' half) */
    if (ps_pg_rows_kept(pg->rows, hour)
        && !ps_pg_rows_complete(pg->rows, hour))
    {
        if (pg_connect(sink) != 0) {
            return -1;
        }
        if (read_hour(pg, hour, max, fn, ctx) != 0) {
            if (PQstatus(pg->conn) != CONNECTION_OK) {
                drop_conn(pg);
            }
            return -1;
        }
        return 0;
    }

    snprintf(h, sizeof(h), "%lld", (long long) hour);
    snprintf(m, sizeof(m), "%llu", (unsigned long long) max);
    params[0] = h;
    params[1] = m;
    params[2] = pg->node_id;

    res = select_rows(sink, "load_keys", load_keys_sql, 3, params);
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

#define KEYS_FIELDS   6


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


/* One ps_keys row (COPY binary): the key of delta entry idx. */
static int
copy_key_row(pg_sink_t *pg, size_t idx, const ps_agg_entry_t *e)
{
    char      *o;
    size_t     nlen = strlen(pg->node_id);
    ps_buf_t  *b = &pg->copy;

    if (ps_buf_reserve(b, 2 + KEYS_FIELDS * 4 + 4 + 8 + e->host_len
                          + e->method_len + e->path_len + nlen) != 0)
    {
        return -1;
    }

    o = b->data + b->len;
    o = put_be(o, KEYS_FIELDS, 2);
    o = put_be(o, 4, 4);
    o = put_be(o, idx, 4);
    o = put_int8(o, (uint64_t) (e->hour * PS_US_PER_SEC - PS_PG_EPOCH_US));
    o = put_field(o, e->host, e->host_len);
    o = put_field(o, e->method, e->method_len);
    o = put_field(o, e->path, e->path_len);
    o = put_field(o, pg->node_id, nlen);

    b->len = (size_t) (o - b->data);

    return 0;
}


/* The row (COPY binary) of delta entry e with the histogram the row
 * will hold: base (its committed one) merged with e's, the node id last.
 * A new row (base NULL) goes to pg->copy_new, an existing one to
 * pg->copy (ps_delta); 0 or -1. */
static int
delta_row(pg_sink_t *pg, const ps_agg_entry_t *e, const ps_hist_t *base,
    ps_hist_t *scratch)
{
    int        i;
    char      *o;
    size_t     n, hn, nlen;
    uint8_t    hll[PS_HLL_MAX_BYTES];
    ps_buf_t  *b = base ? &pg->copy : &pg->copy_new;

    n = ps_hll_serialize(&e->clients, hll, sizeof(hll));

    if (base == NULL) {
        hn = encode_hist(pg, &e->latency);

    } else {
        ps_hist_reset(scratch);
        if (ps_hist_merge(scratch, base) != 0
            || ps_hist_merge(scratch, &e->latency) != 0)
        {
            return -1;
        }
        hn = encode_hist(pg, scratch);
    }

    nlen = strlen(pg->node_id);

    if (hn == 0
        || ps_buf_reserve(b, 2 + (DELTA_FIELDS + 1) * 4 + 3 * 8 + 11 * 8
                             + e->host_len + e->method_len + e->path_len
                             + n + hn + nlen) != 0)
    {
        return -1;
    }

    o = b->data + b->len;
    o = put_be(o, DELTA_FIELDS + 1, 2);
    o = put_int8(o, (uint64_t) (e->hour * PS_US_PER_SEC - PS_PG_EPOCH_US));
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
    o = put_int8(o, (uint64_t) ((int64_t) e->first_seen_us
                                - PS_PG_EPOCH_US));
    o = put_int8(o, (uint64_t) ((int64_t) e->last_seen_us
                                - PS_PG_EPOCH_US));
    o = put_field(o, pg->enc, hn);
    o = put_field(o, pg->node_id, nlen);

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
        snprintf(pg->state, sizeof(pg->state), "%s",
                 PQresultErrorField(res, PG_DIAG_SQLSTATE)
                 ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : "");
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


/* A big-endian unsigned of up to 4 bytes from a binary result field. */
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


/* Grows the per-key arrays to n keys; 0 or -1. */
static int
order_reserve(pg_sink_t *pg, size_t n)
{
    size_t                  i;
    ps_hist_t              *r;
    const ps_hist_t       **b;
    const ps_agg_entry_t  **o;

    if (n <= pg->order_cap) {
        return 0;
    }

    o = realloc(pg->order, n * sizeof(*o));
    if (o != NULL) {
        pg->order = o;
    }
    b = realloc(pg->base, n * sizeof(*b));
    if (b != NULL) {
        pg->base = b;
    }
    r = realloc(pg->read, n * sizeof(*r));
    if (r != NULL) {
        pg->read = r;
        for (i = pg->order_cap; i < n; i++) {
            ps_hist_init(&pg->read[i]);
        }
    }

    if (o == NULL || b == NULL || r == NULL) {
        return -1;
    }

    pg->order_cap = n;

    return 0;
}


/* Step 2 for a kept hour this sink does not know whole (the hour it
 * started in): reads every row of this node in it; 0 or -1.  With fn,
 * also hands it the keys of the first max rows (the row of the folded
 * keys not counted), as pg_load_keys() does. */
static int
read_hour(pg_sink_t *pg, int64_t hour, size_t max, ps_sink_key_fn fn,
    void *ctx)
{
    int             i, rows, bad;
    char            h[32];
    size_t          keys;
    PGresult       *res;
    const char     *params[2];
    ps_agg_entry_t  e;

    snprintf(h, sizeof(h), "%lld", (long long) hour);
    params[0] = h;
    params[1] = pg->node_id;

    res = PQexecParams(pg->conn, read_hour_sql, 2, NULL, params, NULL, NULL,
                       1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail_res(pg, "read_hour", res);
    }

    rows = PQntuples(res);
    bad = 0;
    keys = 0;
    memset(&e, 0, sizeof(e));
    e.hour = hour;

    for (i = 0; i < rows; i++) {
        e.host = PQgetvalue(res, i, 0);
        e.host_len = (uint32_t) PQgetlength(res, i, 0);
        e.method = PQgetvalue(res, i, 1);
        e.method_len = (uint32_t) PQgetlength(res, i, 1);
        e.path = PQgetvalue(res, i, 2);
        e.path_len = (uint32_t) PQgetlength(res, i, 2);

        if (fn != NULL && keys < max
            && !ps_agg_is_other(e.host, e.host_len, e.method, e.method_len,
                                e.path, e.path_len))
        {
            fn(ctx, e.host, e.host_len, e.method, e.method_len, e.path,
               e.path_len);
            keys++;
        }

        if (bad) {
            continue;
        }

        e.hash = ps_key_hash_hour(ps_key_hash(e.host, e.host_len, e.method,
                                              e.method_len, e.path,
                                              e.path_len), hour);

        bad = ps_pg_rows_put(pg->rows, &e, PQgetisnull(res, i, 3) ? NULL
                             : (const uint8_t *) PQgetvalue(res, i, 3),
                             (size_t) PQgetlength(res, i, 3)) != 0;
    }

    PQclear(res);

    /* out of memory: the hour's keys are read one by one instead */
    if (!bad) {
        ps_pg_rows_set_complete(pg->rows, hour);
        pg->nread += (size_t) rows;
    }

    return 0;
}


/* Into text and params, the parameters $1 and $2 of read_rows_sql and
 * update_sql: the first and the last hour of the delta (in hour order),
 * seconds since the epoch. */
static void
hour_bounds(const pg_sink_t *pg, char text[2][24], const char *params[2])
{
    int64_t  first, last;

    first = pg->norder ? pg->order[0]->hour : 0;
    last = pg->norder ? pg->order[pg->norder - 1]->hour : 0;

    snprintf(text[0], sizeof(text[0]), "%lld", (long long) first);
    snprintf(text[1], sizeof(text[1]), "%lld", (long long) last);
    params[0] = text[0];
    params[1] = text[1];
}


/* Step 2: pg->base[i] for every key: the histogram of its row as this
 * sink remembers it, or as read now from the database for the keys of
 * hours it does not know whole (into pg->read, and remembered); NULL
 * for a key without a row.  0 or -1. */
static int
read_rows(pg_sink_t *pg)
{
    int                    i, rows;
    char                   bounds[2][24];
    size_t                 k, n, miss;
    uint32_t               idx;
    PGresult              *res;
    const char            *params[2];
    const ps_agg_entry_t  *e;

    n = pg->norder;
    miss = 0;
    pg->nnew = 0;
    pg->nread = 0;

    /* the delta is in hour order */
    for (k = 0; k < n; k++) {
        e = pg->order[k];
        if ((k == 0 || e->hour != pg->order[k - 1]->hour)
            && !ps_pg_rows_complete(pg->rows, e->hour)
            && ps_pg_rows_kept(pg->rows, e->hour)
            && read_hour(pg, e->hour, 0, NULL, NULL) != 0)
        {
            return -1;
        }
    }

    ps_buf_reset(&pg->copy);

    if (ps_buf_append(&pg->copy, copy_bin_header, sizeof(copy_bin_header))
        != 0)
    {
        set_error(pg, "read_rows", "out of memory");
        return -1;
    }

    for (k = 0; k < n; k++) {
        e = pg->order[k];
        pg->base[k] = ps_pg_rows_find(pg->rows, e);

        if (pg->base[k] != NULL) {
            continue;
        }

        if (ps_pg_rows_complete(pg->rows, e->hour)) {
            pg->nnew++;
            continue;
        }

        if (copy_key_row(pg, k, e) != 0) {
            set_error(pg, "read_rows", "out of memory");
            return -1;
        }
        miss++;
    }

    pg->nread += miss;

    if (miss == 0) {
        return 0;
    }

    if (ps_buf_append(&pg->copy, copy_bin_trailer, sizeof(copy_bin_trailer))
        != 0)
    {
        set_error(pg, "read_rows", "out of memory");
        return -1;
    }

    if (copy_in(pg, "copy_keys", "COPY ps_keys FROM STDIN (FORMAT binary)",
                &pg->copy) != 0
        || exec_cmd(pg, "join_settings", "SET LOCAL enable_mergejoin = off; "
                    "SET LOCAL enable_hashjoin = off") != 0)
    {
        return -1;
    }

    hour_bounds(pg, bounds, params);
    res = PQexecParams(pg->conn, read_rows_sql, 2, NULL, params, NULL, NULL,
                       1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fail_res(pg, "read_rows", res);
    }

    rows = PQntuples(res);

    for (i = 0; i < rows; i++) {
        if (PQgetlength(res, i, 0) != 4) {
            PQclear(res);
            set_error(pg, "read_rows", "unexpected idx");
            return -1;
        }

        idx = be_field(res, i, 0);
        if (idx >= n || pg->base[idx] != NULL) {
            PQclear(res);
            set_error(pg, "read_rows", "idx out of range");
            return -1;
        }

        e = pg->order[idx];
        ps_hist_reset(&pg->read[idx]);

        if (!PQgetisnull(res, i, 1)
            && ps_hist_decode(&pg->read[idx],
                              (const uint8_t *) PQgetvalue(res, i, 1),
                              (size_t) PQgetlength(res, i, 1)) != 0)
        {
            /* not ours to repair: the row counts on from here */
            ps_log(PS_LOG_WARN, "event=bad_histogram sink=postgres "
                   "action=replaced");
            ps_hist_reset(&pg->read[idx]);
        }

        pg->base[idx] = &pg->read[idx];

        /* committed state: true whatever becomes of this flush (an hour
         * not kept is simply read again next time) */
        (void) ps_pg_rows_put(pg->rows, e, PQgetisnull(res, i, 1) ? NULL
                              : (const uint8_t *) PQgetvalue(res, i, 1),
                              (size_t) PQgetlength(res, i, 1));
    }

    PQclear(res);

    pg->nnew += miss - (size_t) rows;

    return 0;
}


/* Step 4 for the existing rows: COPY them into ps_delta, then the one
 * UPDATE; the rows it updated, or -1. */
static int64_t
update_rows(pg_sink_t *pg)
{
    char         bounds[2][24];
    int64_t      updated;
    PGresult    *res;
    const char  *params[2];

    if (copy_in(pg, "copy_delta", "COPY ps_delta FROM STDIN (FORMAT binary)",
                &pg->copy) != 0
        || exec_cmd(pg, "join_settings", "SET LOCAL enable_mergejoin = off; "
                    "SET LOCAL enable_hashjoin = off") != 0)
    {
        return -1;
    }

    hour_bounds(pg, bounds, params);
    res = PQexecParams(pg->conn, update_sql, 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return fail_res(pg, "update_rows", res);
    }

    updated = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);

    return updated;
}


/* Steps 3 and 4: the new rows by COPY, the existing ones by one UPDATE,
 * each with its whole histogram; 0, -1 on error, or 1 when a row
 * changed behind the sink's back (roll back, forget, read every row). */
static int
upsert_delta(pg_sink_t *pg)
{
    size_t       k;
    int64_t      updated;
    ps_hist_t    scratch;

    ps_buf_reset(&pg->copy);
    ps_buf_reset(&pg->copy_new);
    ps_hist_init(&scratch);

    if (ps_buf_append(&pg->copy, copy_bin_header, sizeof(copy_bin_header))
        != 0
        || ps_buf_append(&pg->copy_new, copy_bin_header,
                         sizeof(copy_bin_header)) != 0)
    {
        goto nomem;
    }

    for (k = 0; k < pg->norder; k++) {
        if (delta_row(pg, pg->order[k], pg->base[k], &scratch) != 0) {
            goto nomem;
        }
    }

    ps_hist_free(&scratch);

    if (ps_buf_append(&pg->copy, copy_bin_trailer, sizeof(copy_bin_trailer))
        != 0
        || ps_buf_append(&pg->copy_new, copy_bin_trailer,
                         sizeof(copy_bin_trailer)) != 0)
    {
        set_error(pg, "copy_delta", "out of memory");
        return -1;
    }

    pg->inserted = 0;
    updated = 0;
    pg->state[0] = '\0';

    if (pg->nnew) {
        if (copy_in(pg, "copy_new_rows", COPY_NEW_SQL, &pg->copy_new) != 0) {
            /* unique_violation: a row taken as new exists */
            return strcmp(pg->state, "23505") == 0 ? 1 : -1;
        }
        pg->inserted = pg->nnew;
    }

    if (pg->nnew < pg->norder) {
        updated = update_rows(pg);
        if (updated < 0) {
            return -1;
        }
    }

    if ((size_t) updated != pg->norder - pg->nnew) {
        ps_log(PS_LOG_WARN, "event=rows_changed_behind sink=postgres "
               "updated=%lld of %zu action=retry_reading_rows",
               (long long) updated, pg->norder - pg->nnew);
        return 1;
    }

    return 0;

nomem:

    ps_hist_free(&scratch);
    set_error(pg, "delta_rows", "out of memory");

    return -1;
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


/* Step 5: the watermarks and the node's row, in one statement. */
static int
write_watermarks(pg_sink_t *pg, uint64_t zone_id, const uint64_t *pos,
    uint32_t nrings)
{
    int          rc;
    char         zid[32], started[32];
    ps_buf_t     rings = PS_BUF_INIT, poss = PS_BUF_INIT;
    PGresult    *res;
    const char  *params[6];

    snprintf(zid, sizeof(zid), "%lld", (long long) (int64_t) zone_id);
    snprintf(started, sizeof(started), "%.6f",
             (double) pg->started_us / 1e6);

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
    params[4] = PATHSTATS_VERSION;
    params[5] = started;

    res = PQexecParams(pg->conn, watermark_sql, 6, NULL, params, NULL, NULL,
                       0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail_res(pg, "watermark", res);
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
cmp_key(const void *x, const void *y)
{
    int                    c;
    const ps_agg_entry_t  *a = *(const ps_agg_entry_t *const *) x;
    const ps_agg_entry_t  *b = *(const ps_agg_entry_t *const *) y;

    if (a->hour != b->hour) {
        return a->hour < b->hour ? -1 : 1;
    }

    c = ps_bytes_cmp(a->host, a->host_len, b->host, b->host_len);
    if (c == 0) {
        c = ps_bytes_cmp(a->method, a->method_len, b->method, b->method_len);
    }
    if (c == 0) {
        c = ps_bytes_cmp(a->path, a->path_len, b->path, b->path_len);
    }

    return c;
}


/* pg->order: the delta's entries in key order (bytewise, as the C
 * collation sorts), so that the server's sorts find their input sorted
 * and the new rows go into the partition in index order; 0 or -1. */
static int
sort_delta(pg_sink_t *pg, const ps_agg_table_t *delta)
{
    size_t  i, n;

    n = ps_agg_count(delta);

    if (order_reserve(pg, n) != 0) {
        return -1;
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


/* Steps 1 to 4 inside the open transaction; 0, -1 on error, or 1 when
 * a row changed behind the sink's back (roll back, forget, again). */
static int
apply_delta(pg_sink_t *pg, const ps_agg_table_t *delta)
{
    if (ensure_partitions(pg, delta) != 0) {
        return -1;
    }

    if (sort_delta(pg, delta) != 0) {
        set_error(pg, "sort_delta", "out of memory");
        return -1;
    }

    if (read_rows(pg) != 0) {
        return -1;
    }

    return upsert_delta(pg);
}


/* Step 6, after the COMMIT: the memory of the rows takes the delta. */
static void
remember_rows(pg_sink_t *pg)
{
    size_t  k;

    for (k = 0; k < pg->norder; k++) {
        if (ps_pg_rows_commit(pg->rows, pg->order[k]) != 0) {
            ps_log(PS_LOG_WARN, "event=rows_forgotten sink=postgres "
                   "reason=no_memory");
            return;
        }
    }
}


static int
pg_flush(ps_sink_t *sink, uint64_t zone_id, const ps_agg_table_t *delta,
    const uint64_t *pos, uint32_t nrings)
{
    int         rc, again;
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
    pg->nread = 0;
    pg->norder = 0;
    again = 0;

    /* the live hour and the one before: late records of older hours
     * read their rows */
    ps_pg_rows_keep_from(pg->rows, ps_hour_of((int64_t) ps_now_us())
                                   - 3600);

retry:

    if (exec_cmd(pg, "begin", "BEGIN") != 0) {
        goto fail;
    }

    if (n) {
        rc = apply_delta(pg, delta);

        if (rc == 1 && !again) {
            if (exec_cmd(pg, "rollback", "ROLLBACK") != 0) {
                goto fail;
            }
            ps_pg_rows_clear(pg->rows);
            pg->ndays = 0;
            pg->next_day = 0;
            again = 1;
            goto retry;
        }

        if (rc != 0) {
            if (rc == 1) {
                set_error(pg, "upsert", "rows changed during the flush");
            }
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
            rc = commit_outcome(sink, zone_id, pos, nrings);
            if (rc == 0) {
                remember_rows(pg);
            } else {
                /* applied or not, the memory cannot tell: read again */
                ps_pg_rows_clear(pg->rows);
            }
            return rc;
        }

        goto fail;
    }

    PQclear(res);

    remember_rows(pg);

    ps_log(PS_LOG_DEBUG, "event=sink_flush sink=postgres keys=%zu "
           "inserted=%zu read=%zu duration_ms=%.1f", n, pg->inserted,
           pg->nread, (double) (ps_mono_us() - start) / 1000.0);

    /* a large delta's COPY buffers are not kept between flushes */
    if (pg->copy.cap > 16 * 1024 * 1024) {
        ps_buf_free(&pg->copy);
    }
    if (pg->copy_new.cap > 16 * 1024 * 1024) {
        ps_buf_free(&pg->copy_new);
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
    size_t      i;
    pg_sink_t  *pg;

    if (sink == NULL) {
        return;
    }

    pg = sink->impl;

    drop_conn(pg);
    ps_buf_free(&pg->copy);
    ps_buf_free(&pg->copy_new);

    ps_pg_rows_destroy(pg->rows);

    for (i = 0; pg->read && i < pg->order_cap; i++) {
        ps_hist_free(&pg->read[i]);
    }

    free(pg->read);
    free(pg->base);
    free(pg->enc);
    free(pg->order);
    free(pg->conninfo);
    free(pg->node_id);
    free(pg);
}


static const ps_sink_ops_t  pg_ops = {
    .name = "postgres",
    .connect = pg_connect,
    .load_watermarks = pg_load_watermarks,
    .flush = pg_flush,
    .destroy = pg_destroy,
    .load_keys = pg_load_keys,
};


ps_sink_t *
ps_sink_pg_create(const ps_config_t *cfg)
{
    pg_sink_t  *pg;

    pg = calloc(1, sizeof(pg_sink_t));
    if (pg == NULL) {
        return NULL;
    }

    pg->started_us = ps_now_us();
    pg->conninfo = strdup(cfg->postgres);
    pg->node_id = strdup(cfg->node_id);
    pg->rows = ps_pg_rows_create(ps_hour_of((int64_t) pg->started_us));

    if (pg->conninfo == NULL || pg->node_id == NULL || pg->rows == NULL) {
        free(pg->conninfo);
        free(pg->node_id);
        ps_pg_rows_destroy(pg->rows);
        free(pg);
        return NULL;
    }

    pg->sink.ops = &pg_ops;
    pg->sink.impl = pg;
    pg->sink.durable = 1;

    return &pg->sink;
}
