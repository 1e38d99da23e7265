/*
 * The aggregator's modes, one file each: main.c parses the command line,
 * installs the signal handlers and runs one of these.
 */

#ifndef PS_CMD_H
#define PS_CMD_H

#include <signal.h>

#include "config/config.h"
#include "ring/ring_reader.h"
#include "ring/zone.h"

/* exit statuses */
#define PS_EXIT_RUNTIME     1
#define PS_EXIT_CONFIG      2     /* usage or configuration */
#define PS_EXIT_ZONE        3
#define PS_EXIT_POSTGRES    4
#define PS_EXIT_REDIS       5

/* What the signal handlers set: a mode's loop polls them. */
typedef struct {
    volatile sig_atomic_t  *stop;           /* the signal that asks to stop */
    volatile sig_atomic_t  *reopen_logs;    /* SIGHUP */
} ps_signals_t;

/* The daemon: drains the rings into the sinks and the snapshot until
 * *sig->stop; 0 or an exit status. */
int ps_cmd_daemon(const ps_config_t *cfg, const ps_signals_t *sig);

/* --tail: prints each record as a JSON line, consuming it; with once,
 * stops when the rings are empty.  0 or an exit status. */
int ps_cmd_tail(const ps_config_t *cfg, int once, const ps_signals_t *sig);

/* --stats: prints the zone's counters as JSON. */
int ps_cmd_stats(const ps_config_t *cfg);

/* --check: the zone, PostgreSQL and Redis, one line each; 0 or the exit
 * status of the first that failed. */
int ps_cmd_check(const ps_config_t *cfg);

/* --migrate: applies the schema migrations. */
int ps_cmd_migrate(const ps_config_t *cfg);

/* --silence SCOPE --for DURATION: stores a silence of scope for the
 * duration text (0 ends the silences of scope) in PostgreSQL, where
 * every node reads it.  0 or an exit status. */
int ps_cmd_silence(const ps_config_t *cfg, const char *scope,
    const char *duration);

/* A subcommand (lifecycle, archive, restore, verify): argv[0] is its
 * name, the rest its arguments; 0 or an exit status. */
int ps_cmd_subcommand(const ps_config_t *cfg, int argc, char **argv);

/* 1 when name is a subcommand's. */
int ps_cmd_is_subcommand(const char *name);

/* Opens the configured zone for a consumer (read-write, locked) and a
 * reader on it; 0, or the exit status (logged). */
int ps_cmd_open_consumer(const ps_config_t *cfg, ps_zone_t **zone,
    ps_ring_reader_t **rr);

#endif /* PS_CMD_H */
