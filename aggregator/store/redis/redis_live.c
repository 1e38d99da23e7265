/*
 * Reading an hour back from Redis for verify: HGETALL of every shard's
 * paths and totals hashes, in one pipeline (a cluster: each master
 * answers its shards in parallel).  An hour's hash holds at most
 * max_keys_per_hour / redis_shards fields per node, so HGETALL stays
 * bounded.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/redis/redis_cluster.h"
#include "store/redis/redis_live.h"
#include "store/redis/redis_shard.h"
#include "store/redis/sink_redis.h"

struct ps_redis_live_s {
    ps_redis_cluster_t  *rc;
    unsigned             shards;
    char                 where[300];       /* host:port, for errors */
};

const char *const  ps_live_path_names[PS_LIVE_PATH_COUNTERS] = {
    "requests", "errors", "bytes_in", "bytes_out", "latency_sum_us",
    "latency_max_us"
};

const char *const  ps_live_total_names[PS_LIVE_TOTALS] = {
    "requests", "errors", "status_1xx", "status_2xx", "status_3xx",
    "status_4xx", "status_5xx", "bytes_in", "bytes_out", "latency_sum_us",
    "latency_max_us"
};


ps_redis_live_t *
ps_redis_live_open(const ps_config_t *cfg, char *err, size_t errlen)
{
    ps_redis_live_t  *l;
    char              why[256];

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (cfg->redis_nseeds > 0) {
        snprintf(l->where, sizeof(l->where), "%s:%u",
                 cfg->redis_seed_hosts[0], cfg->redis_seed_ports[0]);
    } else {
        snprintf(l->where, sizeof(l->where), "%s:%u",
                 cfg->redis_host ? cfg->redis_host : "127.0.0.1",
                 cfg->redis_port ? cfg->redis_port : 6379);
    }

    l->shards = cfg->redis_shards ? (unsigned) cfg->redis_shards : 1;
    l->rc = ps_redis_client(cfg);

    if (l->rc == NULL) {
        snprintf(err, errlen, "out of memory");
        free(l);
        return NULL;
    }

    if (ps_redis_cluster_connect(l->rc, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "redis %s: %s", l->where, why);
        ps_redis_live_close(l);
        return NULL;
    }

    return l;
}


static int
ps_live_cmp(const void *a, const void *b)
{
    return strcmp(((const ps_live_path_t *) a)->field,
                  ((const ps_live_path_t *) b)->field);
}


/* Adds the fields of one HGETALL reply of a paths hash to h. */
static int
ps_live_add_paths(ps_live_hour_t *h, const redisReply *r, size_t *cap)
{
    size_t           i, k;
    ps_live_path_t  *p, *grown;
    const char      *s;
    char            *end;

    for (i = 0; i + 1 < r->elements; i += 2) {
        if (h->npaths == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            grown = realloc(h->paths, *cap * sizeof(*grown));
            if (grown == NULL) {
                return -1;
            }
            h->paths = grown;
        }
        p = &h->paths[h->npaths];
        p->field = strndup(r->element[i]->str, r->element[i]->len);
        if (p->field == NULL) {
            return -1;
        }
        h->npaths++;

        /* a malformed value reads as zeros past its end: a mismatch */
        s = r->element[i + 1]->str;
        for (k = 0; k < PS_LIVE_PATH_COUNTERS; k++) {
            p->v[k] = strtoull(s, &end, 10);
            s = end;
        }
    }

    return 0;
}


/* Adds one HGETALL reply of a totals hash to h. */
static void
ps_live_add_totals(ps_live_hour_t *h, const redisReply *r)
{
    size_t    i, k;
    uint64_t  v;

    for (i = 0; i + 1 < r->elements; i += 2) {
        for (k = 0; k < PS_LIVE_TOTALS; k++) {
            if (strcmp(r->element[i]->str, ps_live_total_names[k]) != 0) {
                continue;
            }
            v = strtoull(r->element[i + 1]->str, NULL, 10);
            if (k == PS_LIVE_TOTALS - 1) {
                h->totals[k] = v > h->totals[k] ? v : h->totals[k];
            } else {
                h->totals[k] += v;
            }
        }
    }
}


int
ps_redis_live_hour(ps_redis_live_t *l, int64_t hour, ps_live_hour_t *out,
    char *err, size_t errlen)
{
    unsigned      s, n;
    size_t        cap, i, c;
    char         *keys;
    const char  **argv;
    size_t       *argvlen;
    redisReply   *r;
    int           rc;

    memset(out, 0, sizeof(*out));
    cap = 0;
    rc = -1;

    /* the key texts and arguments stay put until exec: 2 commands of
     * 2 arguments a shard */
    keys = malloc((size_t) l->shards * 2 * 64);
    argv = malloc((size_t) l->shards * 4 * sizeof(*argv));
    argvlen = malloc((size_t) l->shards * 4 * sizeof(*argvlen));
    if (keys == NULL || argv == NULL || argvlen == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    ps_redis_cluster_clear(l->rc);

    for (s = 0; s < l->shards; s++) {
        char  prefix[64];

        ps_redis_key_prefix(prefix, sizeof(prefix), hour, s, l->shards);
        for (n = 0; n < 2; n++) {
            c = (size_t) s * 2 + n;
            argv[c * 2] = "HGETALL";
            argvlen[c * 2] = 7;
            argv[c * 2 + 1] = keys + c * 64;
            argvlen[c * 2 + 1] = (size_t) snprintf(keys + c * 64, 64,
                "%s%s", prefix, n == 0 ? "paths" : "totals");
            if (ps_redis_cluster_append(l->rc, argv[c * 2 + 1],
                                        argvlen[c * 2 + 1], 2, argv + c * 2,
                                        argvlen + c * 2) < 0)
            {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
        }
    }

    if (ps_redis_cluster_exec(l->rc) != 0) {
        snprintf(err, errlen, "redis %s: HGETALL: %s", l->where,
                 ps_redis_cluster_error(l->rc));
        goto done;
    }

    for (i = 0; i < (size_t) l->shards * 2; i++) {
        r = ps_redis_cluster_reply(l->rc, i);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "redis %s: HGETALL %.64s: %s", l->where,
                     keys + i * 64,
                     r && r->type == REDIS_REPLY_ERROR ? r->str
                                                        : "no answer");
            goto done;
        }
        if (r->elements > 0) {
            out->held = 1;
        }
        if (i % 2 == 0) {
            if (ps_live_add_paths(out, r, &cap) != 0) {
                snprintf(err, errlen, "out of memory");
                goto done;
            }
        } else {
            ps_live_add_totals(out, r);
        }
    }

    if (out->npaths > 1) {
        qsort(out->paths, out->npaths, sizeof(*out->paths), ps_live_cmp);
    }

    rc = 0;

done:

    ps_redis_cluster_clear(l->rc);
    free(keys);
    free(argv);
    free(argvlen);

    return rc;
}


void
ps_live_hour_free(ps_live_hour_t *h)
{
    size_t  i;

    for (i = 0; i < h->npaths; i++) {
        free(h->paths[i].field);
    }
    free(h->paths);
    memset(h, 0, sizeof(*h));
}


void
ps_redis_live_close(ps_redis_live_t *l)
{
    if (l == NULL) {
        return;
    }
    ps_redis_cluster_destroy(l->rc);
    free(l);
}
