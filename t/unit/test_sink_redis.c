/*
 * Unit tests for aggregator/sink_redis.c without a Redis server: what the
 * pipeline sees when Redis is unreachable (every call fails quickly, says
 * why, and takes nothing from the delta), and that the client buffer
 * copes with more distinct clients than it keeps.  t/aggregator-redis.t
 * covers the sink against a real Redis.  Prints TAP.
 */

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agg_table.h"
#include "hour.h"
#include "log.h"
#include "sink_redis.h"
#include "tap.h"

/* A loopback port nobody listens on (bound, then closed). */
static unsigned
closed_port(void)
{
    int                 fd;
    struct sockaddr_in  sa;
    socklen_t           len = sizeof(sa);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        bail_out("socket");
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0)
    {
        bail_out("bind");
    }
    close(fd);
    return ntohs(sa.sin_port);
}


int
main(void)
{
    ps_config_t      cfg;
    ps_sink_t       *sink;
    ps_agg_table_t  *delta;
    ps_rec_t         rec;
    uint64_t         pos[4] = { 7, 7, 7, 7 };
    char             err[256], client[32];
    char             url[] = "redis://127.0.0.1:1";
    char             host[] = "127.0.0.1";
    char             node[] = "unit";
    int64_t          hour;
    int              i;

    ps_log_set_level(PS_LOG_ERROR);

    memset(&cfg, 0, sizeof(cfg));
    ok(ps_sink_redis_create(&cfg) == NULL, "no redis configured: no sink");

    cfg.redis = url;
    cfg.redis_host = host;
    cfg.redis_port = closed_port();
    cfg.redis_ttl_ms = 48ULL * 3600 * 1000;
    cfg.node_id = node;
    cfg.top_n = 100;

    err[0] = '\0';
    is_int(ps_sink_redis_check(&cfg, err, sizeof(err)), -1,
           "check fails when nothing listens");
    ok(strstr(err, "refused") != NULL, "and says why: %s", err);

    sink = ps_sink_redis_create(&cfg);
    ok(sink != NULL, "sink created");
    if (sink == NULL) {
        return done_testing();
    }
    is_str(sink->ops->name, "redis", "named redis");
    is_int(sink->durable, 0, "not durable: never holds the rings back");
    ok(sink->ops->observe != NULL, "observes records (client texts)");

    is_int(sink->ops->load_watermarks(sink, 1, pos, 4), -1,
           "load_watermarks fails");
    ok(pos[0] == 0 && pos[3] == 0, "and leaves zero positions");
    ok(sink->last_error[0] != '\0', "last_error says why: %s",
       sink->last_error);

    /* more distinct clients than the buffer keeps: folded, no crash */
    hour = ps_hour_of(1795000000LL * PS_US_PER_SEC);
    delta = ps_agg_table_create(100);
    memset(&rec, 0, sizeof(rec));
    rec.hour = hour;
    for (i = 0; i < 40000; i++) {
        snprintf(client, sizeof(client), "10.%d.%d.%d", i >> 16,
                 (i >> 8) & 255, i & 255);
        rec.client = client;
        sink->ops->observe(sink, &rec);
        (void) ps_agg_add(delta, hour, "h", 1, "GET", 3, "/", 1, 200, 1,
                          1, 1, NULL, 0);
    }
    is_int(sink->ops->flush(sink, 1, delta, pos, 4), -1,
           "flush fails while Redis is down");
    is_int(sink->ops->flush(sink, 1, delta, pos, 4), -1,
           "and again on the retry");
    is_u64(ps_agg_find(delta, hour, "h", 1, "GET", 3, "/", 1)->requests,
           40000, "the delta is left to the pipeline");

    sink->ops->destroy(sink);
    ps_agg_table_destroy(delta);
    return done_testing();
}
