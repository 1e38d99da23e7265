/*
 * The fleet in PostgreSQL: see fleet_pg.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "lib/log.h"
#include "lib/strbuf.h"
#include "store/pg/fleet_pg.h"
#include "store/pg/pg_conn.h"
#include "store/pg/pg_hourly.h"

struct ps_fleet_pg_s {
    char     *conninfo;
    PGconn   *conn;
    int       down;             /* the outage was logged */
    int       leader;           /* conn holds the fleet view's lock */
};

/* The session advisory lock of the fleet view's builder (hex). */
#define FLEET_VIEW_LOCK  "7065746873746176"

static const char  beat_sql[] =
    "INSERT INTO pathstats_fleet_nodes AS f (node_id, version,"
    " zone_generation, heartbeat_at, last_flush_at, lag_records,"
    " requests_1m, requests_1h, requests_24h, view)"
    " VALUES ($1, $2, $3::bigint, now(),"
    " CASE WHEN $4::bigint = 0 THEN NULL"
    " ELSE to_timestamp($4::bigint / 1e6) END,"
    " $5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::bytea)"
    " ON CONFLICT (node_id) DO UPDATE SET version = EXCLUDED.version,"
    " zone_generation = EXCLUDED.zone_generation,"
    " heartbeat_at = EXCLUDED.heartbeat_at,"
    " last_flush_at = EXCLUDED.last_flush_at,"
    " lag_records = EXCLUDED.lag_records,"
    " requests_1m = EXCLUDED.requests_1m,"
    " requests_1h = EXCLUDED.requests_1h,"
    " requests_24h = EXCLUDED.requests_24h, view = EXCLUDED.view";

static const char  nodes_sql[] =
    "SELECT node_id, version, zone_generation,"
    " (extract(epoch FROM heartbeat_at) * 1000000)::bigint,"
    " coalesce((extract(epoch FROM last_flush_at) * 1000000)::bigint, 0),"
    " greatest(0, (extract(epoch FROM now() - heartbeat_at) * 1000)"
    "::bigint),"
    " lag_records, requests_1m, requests_1h, requests_24h,"
    " CASE WHEN node_id <> $1 AND now() - heartbeat_at"
    " < make_interval(secs => $2::bigint / 1000.0) THEN view END"
    " FROM pathstats_fleet_nodes ORDER BY node_id";

static const char  put_view_sql[] =
    "INSERT INTO pathstats_fleet_view AS v (id, node_id, built_at, rows,"
    " view) VALUES (1, $1, now(), $2::int, $3::bytea)"
    " ON CONFLICT (id) DO UPDATE SET node_id = EXCLUDED.node_id,"
    " built_at = EXCLUDED.built_at, rows = EXCLUDED.rows,"
    " view = EXCLUDED.view";

static const char  get_view_sql[] =
    "SELECT node_id, view FROM pathstats_fleet_view"
    " WHERE id = 1 AND node_id <> $1"
    " AND now() - built_at < make_interval(secs => $2::bigint / 1000.0)";

static const char  rows_sql[] =
    "SELECT host, method, path, "
    PS_PG_HOURLY_STATS
    " FROM pathstats_hourly WHERE hour >= to_timestamp($1::bigint)"
    " AND ($2::bigint = 0 OR hour < to_timestamp($2::bigint))";


ps_fleet_pg_t *
ps_fleet_pg_create(const char *conninfo)
{
    ps_fleet_pg_t  *f;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }

    f->conninfo = strdup(conninfo);
    if (f->conninfo == NULL) {
        free(f);
        return NULL;
    }

    return f;
}


void
ps_fleet_pg_destroy(ps_fleet_pg_t *f)
{
    if (f == NULL) {
        return;
    }

    if (f->conn != NULL) {
        PQfinish(f->conn);
    }
    free(f->conninfo);
    free(f);
}


/* The connection, made when there is none; NULL (logged once). */
static PGconn *
fleet_conn(ps_fleet_pg_t *f)
{
    char  msg[256], err[300];

    if (f->conn != NULL) {
        return f->conn;
    }

    f->conn = ps_pg_connect(f->conninfo, msg, sizeof(msg));
    if (f->conn == NULL && !f->down) {
        f->down = 1;
        ps_log(PS_LOG_WARN, "event=fleet_failed reason=connect error=%s",
               ps_log_quote(err, sizeof(err), msg));
    }

    return f->conn;
}


/* Logs res's error once per outage and drops the connection; -1. */
static int
fleet_failed(ps_fleet_pg_t *f, PGresult *res, const char *what)
{
    char  msg[256], err[300];

    if (!f->down) {
        f->down = 1;
        ps_log(PS_LOG_WARN, "event=fleet_failed reason=%s error=%s", what,
               ps_log_quote(err, sizeof(err),
                            ps_pg_error(f->conn, res, msg, sizeof(msg))));
    }

    PQclear(res);
    PQfinish(f->conn);
    f->conn = NULL;
    f->leader = 0;              /* the lock went with the session */

    return -1;
}


static void
fleet_up(ps_fleet_pg_t *f)
{
    if (f->down) {
        f->down = 0;
        ps_log(PS_LOG_INFO, "event=fleet_recovered");
    }
}


int
ps_fleet_pg_beat(ps_fleet_pg_t *f, const ps_fleet_beat_t *b)
{
    PGconn      *conn;
    PGresult    *res;
    const char  *params[9];
    int          lengths[9], formats[9], i;
    char         num[7][24];
    uint64_t     v[7];

    conn = fleet_conn(f);
    if (conn == NULL) {
        return -1;
    }

    v[0] = b->zone_generation;
    v[1] = b->last_flush_us;
    v[2] = b->lag_records;
    v[3] = b->requests[0];
    v[4] = b->requests[1];
    v[5] = b->requests[2];

    memset(lengths, 0, sizeof(lengths));
    memset(formats, 0, sizeof(formats));

    params[0] = b->node_id;
    params[1] = b->version;

    for (i = 0; i < 6; i++) {
        /* bigint: zone ids use all 64 bits */
        snprintf(num[i], sizeof(num[i]), "%lld", (long long) v[i]);
        params[2 + i] = num[i];
    }

    params[8] = b->view;
    lengths[8] = (int) b->view_len;
    formats[8] = 1;

    res = PQexecParams(conn, beat_sql, 9, NULL, params, lengths, formats, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return fleet_failed(f, res, "beat");
    }

    PQclear(res);
    fleet_up(f);

    return 0;
}


/* a bigint of a binary result (pg_hourly.h), as unsigned */
static uint64_t
col_u64(const PGresult *res, int row, int col)
{
    return (uint64_t) ps_pg_bin_int8(res, row, col);
}


void
ps_fleet_pg_free_nodes(ps_fleet_node_t *nodes, size_t n)
{
    size_t  i;

    for (i = 0; nodes != NULL && i < n; i++) {
        free(nodes[i].view);
    }
    free(nodes);
}


int
ps_fleet_pg_nodes(ps_fleet_pg_t *f, const char *self, uint64_t view_ms,
    ps_fleet_node_t **nodes, size_t *n)
{
    PGconn           *conn;
    PGresult         *res;
    ps_fleet_node_t  *out, *nd;
    const char       *params[2];
    size_t            blen;
    char              ms[24];
    int               i, rows;

    *nodes = NULL;
    *n = 0;

    conn = fleet_conn(f);
    if (conn == NULL) {
        return -1;
    }

    snprintf(ms, sizeof(ms), "%llu", (unsigned long long) view_ms);
    params[0] = self;
    params[1] = ms;

    /* binary results: every node's view as stored, no hex (K nodes
     * read K - 1 views each, every fleet_interval) */
    res = PQexecParams(conn, nodes_sql, 2, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fleet_failed(f, res, "nodes");
    }

    rows = PQntuples(res);
    out = calloc(rows ? (size_t) rows : 1, sizeof(*out));
    if (out == NULL) {
        PQclear(res);
        return -1;
    }

    for (i = 0; i < rows; i++) {
        nd = &out[i];
        snprintf(nd->node_id, sizeof(nd->node_id), "%.*s",
                 PQgetlength(res, i, 0), PQgetvalue(res, i, 0));
        snprintf(nd->version, sizeof(nd->version), "%.*s",
                 PQgetlength(res, i, 1), PQgetvalue(res, i, 1));
        nd->zone_generation = col_u64(res, i, 2);
        nd->heartbeat_us = col_u64(res, i, 3);
        nd->last_flush_us = col_u64(res, i, 4);
        nd->age_ms = col_u64(res, i, 5);
        nd->lag_records = col_u64(res, i, 6);
        nd->requests[0] = col_u64(res, i, 7);
        nd->requests[1] = col_u64(res, i, 8);
        nd->requests[2] = col_u64(res, i, 9);

        if (!PQgetisnull(res, i, 10)) {
            blen = (size_t) PQgetlength(res, i, 10);
            /* 8-byte aligned, as the snapshot's readers want */
            nd->view = malloc(blen ? blen : 1);
            if (nd->view != NULL) {
                memcpy(nd->view, PQgetvalue(res, i, 10), blen);
                nd->view_len = blen;
            }
        }
    }

    PQclear(res);
    fleet_up(f);

    *nodes = out;
    *n = (size_t) rows;

    return 0;
}


int
ps_fleet_pg_rows(ps_fleet_pg_t *f, ps_fleet_table_t *t, int part,
    int64_t from_hour, int64_t to_hour)
{
    PGconn          *conn;
    PGresult        *res;
    ps_win_stats_t   st;
    const char      *params[2];
    char             from[24], to[24];
    int              i, rows, rc = 0;

    conn = fleet_conn(f);
    if (conn == NULL) {
        return -1;
    }

    snprintf(from, sizeof(from), "%lld", (long long) from_hour);
    snprintf(to, sizeof(to), "%lld", (long long) to_hour);
    params[0] = from;
    params[1] = to;

    res = PQexecParams(conn, rows_sql, 2, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fleet_failed(f, res, "rows");
    }

    ps_win_stats_init(&st);
    rows = PQntuples(res);

    for (i = 0; i < rows && rc == 0; i++) {
        ps_pg_hourly_stats(res, i, 3, &st);

        if (st.counts.requests == 0) {
            continue;
        }

        rc = ps_fleet_table_add(t, part, PQgetvalue(res, i, 0),
                                (size_t) PQgetlength(res, i, 0),
                                PQgetvalue(res, i, 1),
                                (size_t) PQgetlength(res, i, 1),
                                PQgetvalue(res, i, 2),
                                (size_t) PQgetlength(res, i, 2), &st);
    }

    ps_win_stats_free(&st);
    PQclear(res);

    if (rc != 0) {
        ps_log(PS_LOG_WARN, "event=fleet_failed reason=no_memory");
        return -1;
    }

    fleet_up(f);
    return 0;
}


int
ps_fleet_pg_lead(ps_fleet_pg_t *f, const char *self)
{
    PGconn    *conn;
    PGresult  *res;

    conn = fleet_conn(f);
    if (conn == NULL) {
        return -1;
    }

    if (f->leader) {
        return 1;
    }

    res = PQexec(conn, "SELECT pg_try_advisory_lock(x'" FLEET_VIEW_LOCK
                 "'::bigint)");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fleet_failed(f, res, "lead");
    }

    f->leader = (PQgetvalue(res, 0, 0)[0] == 't');
    PQclear(res);
    fleet_up(f);

    if (f->leader) {
        ps_log(PS_LOG_INFO, "event=fleet_view_builder node_id=%s", self);
    }

    return f->leader;
}


int
ps_fleet_pg_put_view(ps_fleet_pg_t *f, const char *self, size_t rows,
    const void *view, size_t len)
{
    PGconn      *conn;
    PGresult    *res;
    const char  *params[3];
    int          lengths[3], formats[3];
    char         num[24];

    conn = fleet_conn(f);
    if (conn == NULL) {
        return -1;
    }

    snprintf(num, sizeof(num), "%zu", rows);
    params[0] = self;
    params[1] = num;
    params[2] = view;
    lengths[0] = lengths[1] = 0;
    lengths[2] = (int) len;
    formats[0] = formats[1] = 0;
    formats[2] = 1;

    res = PQexecParams(conn, put_view_sql, 3, NULL, params, lengths,
                       formats, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        return fleet_failed(f, res, "put_view");
    }

    PQclear(res);
    fleet_up(f);

    return 0;
}


int
ps_fleet_pg_get_view(ps_fleet_pg_t *f, const char *self, uint64_t max_ms,
    ps_buf_t *view, char *by, size_t by_len)
{
    PGconn         *conn;
    PGresult       *res;
    const char     *params[2];
    unsigned char  *bytes;
    size_t          blen;
    char            ms[24];
    int             rc;

    conn = fleet_conn(f);
    if (conn == NULL) {
        return -1;
    }

    snprintf(ms, sizeof(ms), "%llu", (unsigned long long) max_ms);
    params[0] = self;
    params[1] = ms;

    /* binary results: the view comes as it was stored, no hex */
    res = PQexecParams(conn, get_view_sql, 2, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        return fleet_failed(f, res, "get_view");
    }

    rc = 0;

    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1)) {
        bytes = (unsigned char *) PQgetvalue(res, 0, 1);
        blen = (size_t) PQgetlength(res, 0, 1);
        ps_buf_reset(view);
        if (ps_buf_append(view, bytes, blen) == 0) {
            snprintf(by, by_len, "%.*s", PQgetlength(res, 0, 0),
                     PQgetvalue(res, 0, 0));
            rc = 1;
        }
    }

    PQclear(res);
    fleet_up(f);

    return rc;
}
