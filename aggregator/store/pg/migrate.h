/*
 * Schema migrations: the numbered files schema/NNN_name.sql, applied in
 * order by --migrate, each in its own transaction together with its row
 * in pathstats_schema_version, under an advisory lock so that two nodes
 * migrating at once take turns.  The daemon and --check refuse a schema
 * that is older or newer than PS_SCHEMA_VERSION.
 */

#ifndef PS_MIGRATE_H
#define PS_MIGRATE_H

#include <stddef.h>

#include "config/config.h"

/* The schema version this build reads and writes. */
#define PS_SCHEMA_VERSION  6

/* ps_schema_check() results */
#define PS_SCHEMA_OK           0
#define PS_SCHEMA_UNREACHABLE  1    /* could not connect */
#define PS_SCHEMA_MISMATCH     2    /* older, missing or newer */

/* Applies the migrations of cfg->schema_dir up to PS_SCHEMA_VERSION that
 * the database lacks, printing each to stdout; 0, or -1 (logged). */
int ps_migrate_run(const ps_config_t *cfg);

/* Connects to cfg->postgres and compares its schema version with this
 * build's; PS_SCHEMA_* with the reason in err. */
int ps_schema_check(const ps_config_t *cfg, char *err, size_t errlen);

/* The schema version check on an open connection (a PGconn *); same
 * results as ps_schema_check() but never PS_SCHEMA_UNREACHABLE. */
int ps_schema_check_conn(void *conn, char *err, size_t errlen);

#endif /* PS_MIGRATE_H */
