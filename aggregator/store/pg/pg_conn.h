/*
 * PostgreSQL connections: the one place that opens a libpq connection
 * from the user's conninfo (key=value or postgresql:// URI), adding a
 * connect timeout and an application name that the user's own settings
 * override, and that describes a server without ever showing a password.
 */

#ifndef PS_PG_CONN_H
#define PS_PG_CONN_H

#include <stddef.h>

#include <libpq-fe.h>

#define PS_PG_CONNECT_TIMEOUT   "5"         /* seconds, unless conninfo says */
#define PS_PG_STATEMENT_TIMEOUT "30s"

/* Connects with conninfo; on success sets statement_timeout and a UTC
 * session time zone and returns the connection.  NULL on failure, with
 * libpq's message (which names host and port, never the password) in
 * err. */
PGconn *ps_pg_connect(const char *conninfo, char *err, size_t errlen);

/* Keeps *conn when it is up; else finishes it and connects again
 * (ps_pg_connect()).  0 when *conn is up; -1 with *conn NULL and
 * libpq's message in err. */
int ps_pg_reconnect(PGconn **conn, const char *conninfo, char *err,
    size_t errlen);

/* libpq's message of conn (or of res when not NULL) on one line, with
 * its SQLSTATE when there is one, into buf; returns buf. */
const char *ps_pg_error(PGconn *conn, const PGresult *res, char *buf,
    size_t size);

/* Runs sql (no parameters) expecting status; 0, or -1 with the error
 * logged as event=pg_error with what. */
int ps_pg_exec(PGconn *conn, const char *sql, ExecStatusType status,
    const char *what);

/* Runs sql (no parameters) expecting status; 0, or -1 with the error
 * (one line, SQLSTATE) in err for the caller to report. */
int ps_pg_run(PGconn *conn, const char *sql, ExecStatusType status,
    char *err, size_t errlen);

#endif /* PS_PG_CONN_H */
