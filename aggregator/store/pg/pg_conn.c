/*
 * PostgreSQL connections: see pg_conn.h.
 */

#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "store/pg/pg_conn.h"


/* Copies msg into buf on one line (newlines become "; "). */
static void
one_line(char *buf, size_t size, const char *msg)
{
    size_t  o;

    for (o = 0; *msg && o + 3 < size; msg++) {
        if (*msg == '\n') {
            if (msg[1] == '\0') {
                break;
            }
            buf[o++] = ';';
            buf[o++] = ' ';
            while (msg[1] == ' ' || msg[1] == '\t') {
                msg++;
            }
            continue;
        }
        buf[o++] = *msg;
    }

    buf[o] = '\0';
}


const char *
ps_pg_error(PGconn *conn, const PGresult *res, char *buf, size_t size)
{
    char         msg[1024];
    const char  *state;

    one_line(msg, sizeof(msg),
             res ? PQresultErrorMessage(res) : PQerrorMessage(conn));

    if (msg[0] == '\0' && res) {
        one_line(msg, sizeof(msg), PQerrorMessage(conn));
    }

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (state) {
        snprintf(buf, size, "%s (SQLSTATE %s)", msg, state);
    } else {
        snprintf(buf, size, "%s", msg);
    }

    return buf;
}


PGconn *
ps_pg_connect(const char *conninfo, char *err, size_t errlen)
{
    PGconn       *conn;
    const char   *keys[4], *vals[4];

    /* expanded in order, so the user's own connect_timeout or
     * application_name in conninfo wins over these */
    keys[0] = "connect_timeout";
    vals[0] = PS_PG_CONNECT_TIMEOUT;
    keys[1] = "application_name";
    vals[1] = "pathstats-aggregator";
    keys[2] = "dbname";
    vals[2] = conninfo;
    keys[3] = NULL;
    vals[3] = NULL;

    conn = PQconnectdbParams(keys, vals, 1);

    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (PQstatus(conn) != CONNECTION_OK) {
        ps_pg_error(conn, NULL, err, errlen);
        PQfinish(conn);
        return NULL;
    }

    if (ps_pg_exec(conn, "SET statement_timeout = '"
                   PS_PG_STATEMENT_TIMEOUT "'; SET timezone = 'UTC'; "
                   "SET client_encoding = 'UTF8'",
                   PGRES_COMMAND_OK, "session_setup") != 0)
    {
        ps_pg_error(conn, NULL, err, errlen);
        PQfinish(conn);
        return NULL;
    }

    return conn;
}


int
ps_pg_exec(PGconn *conn, const char *sql, ExecStatusType status,
    const char *what)
{
    char       msg[1024], q[1200];
    PGresult  *res;

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != status) {
        ps_log(PS_LOG_ERROR, "event=pg_error sink=postgres step=%s error=%s",
               what, ps_log_quote(q, sizeof(q),
                                  ps_pg_error(conn, res, msg, sizeof(msg))));
        PQclear(res);
        return -1;
    }

    PQclear(res);

    return 0;
}


int
ps_pg_run(PGconn *conn, const char *sql, ExecStatusType status, char *err,
    size_t errlen)
{
    PGresult  *res;

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != status) {
        ps_pg_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);

    return 0;
}


int
ps_pg_reconnect(PGconn **conn, const char *conninfo, char *err,
    size_t errlen)
{
    if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK) {
        return 0;
    }

    if (*conn != NULL) {
        PQfinish(*conn);
    }

    *conn = ps_pg_connect(conninfo, err, errlen);

    return *conn != NULL ? 0 : -1;
}
