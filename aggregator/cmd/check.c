/*
 * --check and --migrate: see cmd.h.
 */

#include <stdio.h>

#include "cmd/cmd.h"
#include "lib/log.h"
#include "store/pg/migrate.h"
#include "store/redis/sink_redis.h"


int
ps_cmd_check(const ps_config_t *cfg)
{
    int         rc, first;
    char        err[1024];
    ps_zone_t  *zone;

    first = 0;

    zone = ps_zone_open(cfg->zone, 1);
    if (zone == NULL) {
        printf("zone %s: FAILED (see the log line above)\n", cfg->zone);
        first = PS_EXIT_ZONE;
    } else {
        printf("zone %s: ok (%u rings of %u records)\n", cfg->zone,
               zone->geo.ring_count, zone->geo.ring_capacity);
        ps_zone_close(zone);
    }

    if (cfg->postgres) {
        rc = ps_schema_check(cfg, err, sizeof(err));

        if (rc == PS_SCHEMA_OK) {
            printf("postgres: ok (schema version %d)\n", PS_SCHEMA_VERSION);
        } else {
            printf("postgres: FAILED: %s%s\n",
                   rc == PS_SCHEMA_UNREACHABLE ? "cannot connect: " : "", err);
            first = first ? first : PS_EXIT_POSTGRES;
        }
    }

    if (cfg->redis) {
        if (ps_sink_redis_check(cfg, err, sizeof(err)) == 0) {
            printf("redis: ok%s%s%s\n", err[0] ? " (" : "", err,
                   err[0] ? ")" : "");
        } else {
            printf("redis: FAILED: %s\n", err);
            first = first ? first : PS_EXIT_REDIS;
        }
    }

    if (first == 0) {
        printf("configuration %s: ok\n", cfg->file ? cfg->file : "(flags)");
    }

    fflush(stdout);

    return first;
}


int
ps_cmd_migrate(const ps_config_t *cfg)
{
    if (cfg->postgres == NULL) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed error=\"no PostgreSQL "
               "configured: set postgres or pass --postgres\"");
        return PS_EXIT_CONFIG;
    }

    return ps_migrate_run(cfg) == 0 ? 0 : PS_EXIT_POSTGRES;
}
