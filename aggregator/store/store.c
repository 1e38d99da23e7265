/*
 * The stores behind the sink interface: see store.h.
 */

#include "lib/log.h"
#include "store/pg/sink_pg.h"
#include "store/redis/sink_redis.h"
#include "store/store.h"


int
ps_store_create_sinks(const ps_config_t *cfg, ps_sink_t **sinks)
{
    int  n;

    n = 0;

    if (cfg->postgres) {
        sinks[n] = ps_sink_pg_create(cfg);
        if (sinks[n] == NULL) {
            goto fail;
        }
        n++;
    }

    if (cfg->redis) {
        sinks[n] = ps_sink_redis_create(cfg);
        if (sinks[n] == NULL) {
            goto fail;
        }
        n++;
    }

    return n;

fail:

    ps_log(PS_LOG_ERROR, "event=pipeline_create_failed error=\"cannot "
           "create a sink\"");

    while (n--) {
        sinks[n]->ops->destroy(sinks[n]);
    }

    return -1;
}
