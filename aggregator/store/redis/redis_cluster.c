/*
 * Redis connections, standalone or Redis Cluster: see redis_cluster.h.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "store/redis/redis_cluster.h"

#define HOST_MAX          256
#define TRYAGAIN_SLEEP_MS 20
#define ROUNDS_MAX        (PS_REDIS_REDIRECTS_MAX + 2)

typedef struct {
    char           host[HOST_MAX];
    unsigned       port;
    char           name[HOST_MAX + 8];      /* host:port */
    redisContext  *ctx;
    unsigned       replicas;                /* of its slots, last map */
    int            master;                  /* owns slots in the map */
} rc_node_t;

enum { CMD_PENDING = 0, CMD_DONE, CMD_FAILED };

typedef struct {
    int            argc;
    const char   **argv;
    const size_t  *argvlen;
    unsigned       slot;
    int            node;                    /* sent to, or -1 */
    int            ask;                     /* ASKING first, to node */
    unsigned       redirects;
    int            sent;                    /* written in this round */
    int            state;
    redisReply    *reply;
} rc_cmd_t;

struct ps_redis_cluster_s {
    int            cluster;
    unsigned       db;
    unsigned       connect_ms;
    unsigned       command_ms;
    ps_redis_addr_t *seeds;                 /* copies */
    size_t         nseeds;

    rc_node_t      nodes[PS_REDIS_NODES_MAX];
    unsigned       nnodes;
    int16_t        slots[PS_REDIS_SLOTS];   /* master node, -1: unknown */
    int            ready;
    int            refresh;                 /* read the map again */

    rc_cmd_t      *cmds;
    size_t         ncmds;
    size_t         cap;

    char          *resp;                    /* a command in RESP */
    size_t         resp_cap;

    char           error[256];
};

static const uint16_t  crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0
};

static void rc_set_error(ps_redis_cluster_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


/* Writes "<prefix><n>\r\n" at p; the end. */
static char *
rc_resp_len(char *p, char prefix, size_t n)
{
    *p++ = prefix;
    p = ps_u64_text(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}


/* Appends a command to ctx's output buffer, in RESP written here:
 * redisAppendCommandArgv() formats each argument's header with
 * sdscatfmt(), a sixth of a flush's time in this process (a flush of
 * 10 000 fields has 70 000 arguments).  REDIS_OK or REDIS_ERR. */
static int
rc_append_argv(ps_redis_cluster_t *c, redisContext *ctx, int argc,
    const char **argv, const size_t *argvlen)
{
    size_t  need, ncap;
    char   *p, *np;
    int     i;

    need = 24;
    for (i = 0; i < argc; i++) {
        need += argvlen[i] + 26;
    }
    if (need > c->resp_cap) {
        ncap = c->resp_cap ? c->resp_cap : 4096;
        while (ncap < need) {
            ncap *= 2;
        }
        np = realloc(c->resp, ncap);
        if (np == NULL) {
            return REDIS_ERR;
        }
        c->resp = np;
        c->resp_cap = ncap;
    }

    p = rc_resp_len(c->resp, '*', (size_t) argc);
    for (i = 0; i < argc; i++) {
        p = rc_resp_len(p, '$', argvlen[i]);
        memcpy(p, argv[i], argvlen[i]);
        p += argvlen[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    return redisAppendFormattedCommand(ctx, c->resp, (size_t) (p - c->resp));
}


uint16_t
ps_redis_crc16(const char *p, size_t len)
{
    uint16_t  crc = 0;
    size_t    i;

    for (i = 0; i < len; i++) {
        crc = (uint16_t) ((crc << 8)
                          ^ crc16_table[((crc >> 8) ^ (uint8_t) p[i])
                                        & 0xff]);
    }

    return crc;
}


unsigned
ps_redis_slot(const char *key, size_t len)
{
    size_t  s, e;

    for (s = 0; s < len && key[s] != '{'; s++) {
        /* void */
    }

    if (s < len) {
        for (e = s + 1; e < len && key[e] != '}'; e++) {
            /* void */
        }
        if (e < len && e > s + 1) {
            key += s + 1;
            len = e - s - 1;
        }
    }

    return ps_redis_crc16(key, len) & (PS_REDIS_SLOTS - 1);
}


static void
rc_set_error(ps_redis_cluster_t *c, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
}


static struct timeval
rc_tv(unsigned ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}


ps_redis_cluster_t *
ps_redis_cluster_create(int cluster, const ps_redis_addr_t *seeds, size_t n,
    unsigned db, unsigned connect_ms, unsigned command_ms)
{
    ps_redis_cluster_t  *c;
    size_t               i;

    c = calloc(1, sizeof(*c));
    if (c == NULL || n == 0) {
        free(c);
        return NULL;
    }

    c->seeds = calloc(n, sizeof(*c->seeds));
    if (c->seeds == NULL) {
        free(c);
        return NULL;
    }

    for (i = 0; i < n; i++) {
        c->seeds[i].host = strdup(seeds[i].host);
        c->seeds[i].port = seeds[i].port;
        c->nseeds++;
        if (c->seeds[i].host == NULL) {
            ps_redis_cluster_destroy(c);
            return NULL;
        }
    }

    c->cluster = cluster;
    c->db = db;
    c->connect_ms = connect_ms;
    c->command_ms = command_ms;
    memset(c->slots, 0xff, sizeof(c->slots));

    return c;
}


static void
rc_node_close(rc_node_t *nd)
{
    if (nd->ctx != NULL) {
        redisFree(nd->ctx);
        nd->ctx = NULL;
    }
}


void
ps_redis_cluster_reset(ps_redis_cluster_t *c)
{
    unsigned  i;

    for (i = 0; i < c->nnodes; i++) {
        rc_node_close(&c->nodes[i]);
    }

    c->nnodes = 0;
    c->ready = 0;
    c->refresh = 0;
    memset(c->slots, 0xff, sizeof(c->slots));
}


void
ps_redis_cluster_destroy(ps_redis_cluster_t *c)
{
    size_t  i;

    if (c == NULL) {
        return;
    }

    ps_redis_cluster_clear(c);
    ps_redis_cluster_reset(c);

    for (i = 0; i < c->nseeds; i++) {
        free((char *) c->seeds[i].host);
    }

    free(c->seeds);
    free(c->cmds);
    free(c->resp);
    free(c);
}


int
ps_redis_cluster_ready(const ps_redis_cluster_t *c)
{
    return c->ready;
}


int
ps_redis_cluster_is_cluster(const ps_redis_cluster_t *c)
{
    return c->cluster;
}


const char *
ps_redis_cluster_error(const ps_redis_cluster_t *c)
{
    return c->error;
}


/* The node host:port, added if new; its index, or -1 when the table is
 * full or the host too long. */
static int
rc_node(ps_redis_cluster_t *c, const char *host, size_t hlen, unsigned port)
{
    unsigned    i;
    rc_node_t  *nd;

    for (i = 0; i < c->nnodes; i++) {
        nd = &c->nodes[i];
        if (nd->port == port && strlen(nd->host) == hlen
            && memcmp(nd->host, host, hlen) == 0)
        {
            return (int) i;
        }
    }

    if (c->nnodes == PS_REDIS_NODES_MAX || hlen == 0 || hlen >= HOST_MAX) {
        return -1;
    }

    nd = &c->nodes[c->nnodes];
    memset(nd, 0, sizeof(*nd));
    memcpy(nd->host, host, hlen);
    nd->host[hlen] = '\0';
    nd->port = port;
    memcpy(nd->name, host, hlen);
    snprintf(nd->name + hlen, sizeof(nd->name) - hlen, ":%u", port);

    return (int) c->nnodes++;
}


/* Opens node i's connection (and SELECTs the database of a standalone
 * server) unless it is open; 0, or -1 with the reason in c->error. */
static int
rc_node_connect(ps_redis_cluster_t *c, int i)
{
    rc_node_t     *nd = &c->nodes[i];
    redisContext  *ctx;
    redisReply    *reply;
    char           dbs[16];

    if (nd->ctx != NULL) {
        return 0;
    }

    ctx = redisConnectWithTimeout(nd->host, (int) nd->port,
                                  rc_tv(c->connect_ms));
    if (ctx == NULL) {
        rc_set_error(c, "connect to %s: out of memory", nd->name);
        return -1;
    }

    if (ctx->err) {
        rc_set_error(c, "connect to %s: %s", nd->name, ctx->errstr);
        redisFree(ctx);
        return -1;
    }

    if (redisSetTimeout(ctx, rc_tv(c->command_ms)) != REDIS_OK) {
        rc_set_error(c, "set timeout on %s: %s", nd->name, ctx->errstr);
        redisFree(ctx);
        return -1;
    }

    if (!c->cluster && c->db != 0) {
        snprintf(dbs, sizeof(dbs), "%u", c->db);
        reply = redisCommand(ctx, "SELECT %s", dbs);
        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            rc_set_error(c, "SELECT %u on %s: %s", c->db, nd->name,
                         reply ? reply->str : ctx->errstr);
            if (reply != NULL) {
                freeReplyObject(reply);
            }
            redisFree(ctx);
            return -1;
        }
        freeReplyObject(reply);
    }

    nd->ctx = ctx;
    return 0;
}


/* After an I/O error on node i: it is closed, and the cluster's map is
 * read again before the next pipeline. */
static void
rc_node_failed(ps_redis_cluster_t *c, int i, const char *what)
{
    rc_node_t  *nd = &c->nodes[i];

    rc_set_error(c, "%s on %s: %s", what, nd->name,
                 nd->ctx && nd->ctx->errstr[0] ? nd->ctx->errstr
                                               : "connection lost");
    ps_log(PS_LOG_WARN, "event=redis_node_failed node=%s error=\"%s\"",
           nd->name, c->error);
    rc_node_close(nd);
    c->refresh = c->cluster;
}


/* An integer element of a CLUSTER SLOTS entry. */
static int
rc_int(const redisReply *r, long long *v)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return 0;
    }
    return -1;
}


/* Reads the slot map from node i's CLUSTER SLOTS into map[] and the
 * node table; 0, or -1 (c->error says why). */
static int
rc_read_slots(ps_redis_cluster_t *c, int i, int16_t *map)
{
    redisReply        *reply, *e, *m;
    long long          lo, hi, port;
    size_t             k, r;
    unsigned           s, replicas;
    const char        *host;
    size_t             hlen;
    int                n, rc = -1;
    char               asked[HOST_MAX];

    if (rc_node_connect(c, i) != 0) {
        return -1;
    }

    snprintf(asked, sizeof(asked), "%s", c->nodes[i].host);

    reply = redisCommand(c->nodes[i].ctx, "CLUSTER SLOTS");
    if (reply == NULL) {
        rc_node_failed(c, i, "CLUSTER SLOTS");
        return -1;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        rc_set_error(c, "CLUSTER SLOTS on %s: %s", c->nodes[i].name,
                     reply->type == REDIS_REPLY_ERROR ? reply->str
                                                      : "not an array");
        goto done;
    }

    for (k = 0; k < reply->elements; k++) {
        e = reply->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || rc_int(e->element[0], &lo) != 0
            || rc_int(e->element[1], &hi) != 0
            || lo < 0 || hi >= PS_REDIS_SLOTS || lo > hi)
        {
            rc_set_error(c, "CLUSTER SLOTS on %s: malformed entry",
                         c->nodes[i].name);
            goto done;
        }

        m = e->element[2];
        if (m->type != REDIS_REPLY_ARRAY || m->elements < 2
            || m->element[0]->type != REDIS_REPLY_STRING
            || rc_int(m->element[1], &port) != 0
            || port <= 0 || port > 65535)
        {
            rc_set_error(c, "CLUSTER SLOTS on %s: malformed master",
                         c->nodes[i].name);
            goto done;
        }

        /* an empty (or "?") host: the address the node was asked at */
        host = m->element[0]->str;
        hlen = m->element[0]->len;
        if (hlen == 0 || (hlen == 1 && host[0] == '?')) {
            host = asked;
            hlen = strlen(asked);
        }

        n = rc_node(c, host, hlen, (unsigned) port);
        if (n < 0) {
            rc_set_error(c, "CLUSTER SLOTS on %s: too many nodes",
                         c->nodes[i].name);
            goto done;
        }

        replicas = 0;
        for (r = 3; r < e->elements; r++) {
            if (e->element[r]->type == REDIS_REPLY_ARRAY) {
                replicas++;
            }
        }

        c->nodes[n].master = 1;
        if (c->nodes[n].replicas < replicas) {
            c->nodes[n].replicas = replicas;
        }

        for (s = (unsigned) lo; s <= (unsigned) hi; s++) {
            map[s] = (int16_t) n;
        }
    }

    rc = 0;

done:

    freeReplyObject(reply);
    return rc;
}


/* Reads the slot map from the first node that answers: the seeds, then
 * every node known; 0 or -1. */
static int
rc_refresh(ps_redis_cluster_t *c)
{
    int16_t   *map;
    unsigned   i, covered, known;
    size_t     k;
    int        n, ok = 0;
    int       *order;

    map = malloc(sizeof(c->slots));
    order = malloc((c->nseeds + PS_REDIS_NODES_MAX) * sizeof(int));
    if (map == NULL || order == NULL) {
        free(map);
        free(order);
        rc_set_error(c, "slot map: out of memory");
        return -1;
    }

    /* connected nodes first (cheapest), then the seeds, then the rest */
    known = 0;
    for (i = 0; i < c->nnodes; i++) {
        if (c->nodes[i].ctx != NULL) {
            order[known++] = (int) i;
        }
    }
    for (k = 0; k < c->nseeds; k++) {
        n = rc_node(c, c->seeds[k].host, strlen(c->seeds[k].host),
                    c->seeds[k].port);
        if (n >= 0 && c->nodes[n].ctx == NULL) {
            order[known++] = n;
        }
    }
    for (i = 0; i < c->nnodes; i++) {
        if (c->nodes[i].ctx == NULL) {
            for (k = 0; k < known && order[k] != (int) i; k++) {
                /* void */
            }
            if (k == known) {
                order[known++] = (int) i;
            }
        }
    }

    for (k = 0; k < known && !ok; k++) {
        for (i = 0; i < c->nnodes; i++) {
            c->nodes[i].master = 0;
            c->nodes[i].replicas = 0;
        }
        memset(map, 0xff, sizeof(c->slots));
        if (rc_read_slots(c, order[k], map) != 0) {
            continue;
        }
        covered = 0;
        for (i = 0; i < PS_REDIS_SLOTS; i++) {
            covered += map[i] >= 0;
        }
        if (covered == 0) {
            rc_set_error(c, "CLUSTER SLOTS on %s: no slot is served",
                         c->nodes[order[k]].name);
            continue;
        }
        ok = 1;
    }

    if (ok) {
        memcpy(c->slots, map, sizeof(c->slots));
        c->refresh = 0;
        /* connections to nodes that serve no slot any more are closed */
        for (i = 0; i < c->nnodes; i++) {
            if (!c->nodes[i].master) {
                rc_node_close(&c->nodes[i]);
            }
        }
    }

    free(map);
    free(order);
    return ok ? 0 : -1;
}


int
ps_redis_cluster_connect(ps_redis_cluster_t *c, char *err, size_t errlen)
{
    redisReply  *reply;
    int          n;

    c->error[0] = '\0';

    if (c->cluster) {
        if (rc_refresh(c) != 0) {
            snprintf(err, errlen, "%s", c->error);
            return -1;
        }
        c->ready = 1;
        return 0;
    }

    n = rc_node(c, c->seeds[0].host, strlen(c->seeds[0].host),
                c->seeds[0].port);
    if (n < 0 || rc_node_connect(c, n) != 0) {
        snprintf(err, errlen, "%s", n < 0 ? "bad address" : c->error);
        return -1;
    }

    reply = redisCommand(c->nodes[n].ctx, "PING");
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "PING %s: %s", c->nodes[n].name,
                 reply ? reply->str : c->nodes[n].ctx->errstr);
        if (reply != NULL) {
            freeReplyObject(reply);
        }
        rc_node_close(&c->nodes[n]);
        return -1;
    }
    freeReplyObject(reply);

    c->nodes[n].master = 1;
    c->ready = 1;
    return 0;
}


size_t
ps_redis_cluster_masters(const ps_redis_cluster_t *c, const char **out,
    size_t max)
{
    unsigned  i;
    size_t    n = 0;

    for (i = 0; i < c->nnodes && n < max; i++) {
        if (c->nodes[i].master) {
            out[n++] = c->nodes[i].name;
        }
    }
    return n;
}


int
ps_redis_cluster_append(ps_redis_cluster_t *c, const char *key,
    size_t klen, int argc, const char **argv, const size_t *argvlen)
{
    rc_cmd_t  *cmds, *cmd;
    size_t     cap;

    if (c->ncmds == c->cap) {
        cap = c->cap ? 2 * c->cap : 64;
        cmds = realloc(c->cmds, cap * sizeof(*cmds));
        if (cmds == NULL) {
            return -1;
        }
        c->cmds = cmds;
        c->cap = cap;
    }

    cmd = &c->cmds[c->ncmds];
    memset(cmd, 0, sizeof(*cmd));
    cmd->argc = argc;
    cmd->argv = argv;
    cmd->argvlen = argvlen;
    cmd->slot = c->cluster ? ps_redis_slot(key, klen) : 0;
    cmd->node = -1;

    return (int) c->ncmds++;
}


size_t
ps_redis_cluster_queued(const ps_redis_cluster_t *c)
{
    return c->ncmds;
}


redisReply *
ps_redis_cluster_reply(const ps_redis_cluster_t *c, size_t i)
{
    return i < c->ncmds ? c->cmds[i].reply : NULL;
}


const char *
ps_redis_cluster_node_of(const ps_redis_cluster_t *c, size_t i)
{
    if (i >= c->ncmds || c->cmds[i].node < 0) {
        return "-";
    }
    return c->nodes[c->cmds[i].node].name;
}


unsigned
ps_redis_cluster_replicas(const ps_redis_cluster_t *c, const char *key,
    size_t klen)
{
    int  n;

    if (!c->cluster) {
        return 0;
    }
    n = c->slots[ps_redis_slot(key, klen)];
    return n >= 0 ? c->nodes[n].replicas : 0;
}


const char *
ps_redis_cluster_owner(const ps_redis_cluster_t *c, const char *key,
    size_t klen)
{
    int  n;

    n = c->cluster ? c->slots[ps_redis_slot(key, klen)] : 0;
    return n >= 0 && n < (int) c->nnodes ? c->nodes[n].name : NULL;
}


void
ps_redis_cluster_clear(ps_redis_cluster_t *c)
{
    size_t  i;

    for (i = 0; i < c->ncmds; i++) {
        if (c->cmds[i].reply != NULL) {
            freeReplyObject(c->cmds[i].reply);
        }
    }
    c->ncmds = 0;
}


/* The "host:port" at the end of a MOVED or ASK error into *node; 0 or
 * -1. */
static int
rc_redirect_target(ps_redis_cluster_t *c, const char *msg, int *node)
{
    const char  *sp, *colon;
    char        *end;
    unsigned long port;

    sp = strrchr(msg, ' ');
    if (sp == NULL) {
        return -1;
    }
    sp++;
    colon = strrchr(sp, ':');
    if (colon == NULL) {
        return -1;
    }
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535) {
        return -1;
    }

    *node = rc_node(c, sp, (size_t) (colon - sp), (unsigned) port);
    return *node >= 0 ? 0 : -1;
}


/* What a reply means for its command: done, or sent again (redirected
 * or TRYAGAIN: *again). */
static void
rc_classify(ps_redis_cluster_t *c, rc_cmd_t *cmd, redisReply *reply,
    int *again, int *tryagain)
{
    int            node;
    unsigned long  slot;

    if (reply->type == REDIS_REPLY_ERROR && c->cluster
        && cmd->redirects < PS_REDIS_REDIRECTS_MAX)
    {
        if (strncmp(reply->str, "MOVED ", 6) == 0
            && rc_redirect_target(c, reply->str, &node) == 0)
        {
            slot = strtoul(reply->str + 6, NULL, 10);
            if (slot < PS_REDIS_SLOTS) {
                c->slots[slot] = (int16_t) node;
                c->nodes[node].master = 1;
            }
            cmd->ask = 0;
            cmd->redirects++;
            c->refresh = 1;
            freeReplyObject(reply);
            *again = 1;
            return;
        }

        if (strncmp(reply->str, "ASK ", 4) == 0
            && rc_redirect_target(c, reply->str, &node) == 0)
        {
            cmd->node = node;
            cmd->ask = 1;
            cmd->redirects++;
            freeReplyObject(reply);
            *again = 1;
            return;
        }

        if (strncmp(reply->str, "TRYAGAIN", 8) == 0) {
            cmd->ask = 0;
            cmd->redirects++;
            freeReplyObject(reply);
            *again = 1;
            *tryagain = 1;
            return;
        }

        if (strncmp(reply->str, "CLUSTERDOWN", 11) == 0) {
            c->refresh = 1;
        }
    }

    if (reply->type == REDIS_REPLY_ERROR && !c->cluster
        && strncmp(reply->str, "MOVED ", 6) == 0)
    {
        rc_set_error(c, "the server is a Redis Cluster node: configure "
                     "redis = redis-cluster://HOST:PORT");
    }

    cmd->reply = reply;
    cmd->state = CMD_DONE;
}


/* Gives every pending command of node n no reply. */
static void
rc_fail_node_cmds(ps_redis_cluster_t *c, int n)
{
    size_t  i;

    for (i = 0; i < c->ncmds; i++) {
        if (c->cmds[i].state == CMD_PENDING && c->cmds[i].node == n) {
            c->cmds[i].state = CMD_FAILED;
            c->cmds[i].sent = 0;
        }
    }
}


/* One round: every pending command to its node, every node written
 * before any is read; 1 when a command is to be sent again, else 0. */
static int
rc_round(ps_redis_cluster_t *c)
{
    static const char  *asking[] = { "ASKING" };
    static const size_t asking_len[] = { 6 };

    uint8_t      used[PS_REDIS_NODES_MAX], dead[PS_REDIS_NODES_MAX];
    rc_cmd_t    *cmd;
    redisReply  *reply;
    size_t       i;
    int          n, done, again = 0, tryagain = 0;
    unsigned     k;

    memset(used, 0, sizeof(used));
    memset(dead, 0, sizeof(dead));

    /* route and append */
    for (i = 0; i < c->ncmds; i++) {
        cmd = &c->cmds[i];
        if (cmd->state != CMD_PENDING) {
            continue;
        }
        if (!cmd->ask) {
            cmd->node = c->cluster ? c->slots[cmd->slot] : 0;
        }
        n = cmd->node;
        if (n < 0 || n >= (int) c->nnodes) {
            rc_set_error(c, "slot %u is not served by any known node",
                         cmd->slot);
            cmd->state = CMD_FAILED;
            c->refresh = c->cluster;
            continue;
        }
        if (dead[n]) {
            cmd->state = CMD_FAILED;
            continue;
        }
        if (c->nodes[n].ctx == NULL && rc_node_connect(c, n) != 0) {
            ps_log(PS_LOG_WARN, "event=redis_node_failed node=%s "
                   "error=\"%s\"", c->nodes[n].name, c->error);
            c->refresh = c->cluster;
            dead[n] = 1;
            cmd->state = CMD_FAILED;
            continue;
        }
        if ((cmd->ask
             && redisAppendCommandArgv(c->nodes[n].ctx, 1, asking,
                                       asking_len) != REDIS_OK)
            || rc_append_argv(c, c->nodes[n].ctx, cmd->argc, cmd->argv,
                              cmd->argvlen) != REDIS_OK)
        {
            rc_node_failed(c, n, "append");
            rc_fail_node_cmds(c, n);
            dead[n] = 1;
            cmd->state = CMD_FAILED;
            used[n] = 0;
            continue;
        }
        used[n] = 1;
        cmd->sent = 1;
    }

    /* write every node's pipeline before reading any */
    for (k = 0; k < c->nnodes; k++) {
        if (!used[k]) {
            continue;
        }
        do {
            if (redisBufferWrite(c->nodes[k].ctx, &done) != REDIS_OK) {
                rc_node_failed(c, (int) k, "write");
                rc_fail_node_cmds(c, (int) k);
                used[k] = 0;
                break;
            }
        } while (!done);
    }

    /* read in the order written */
    for (k = 0; k < c->nnodes; k++) {
        if (!used[k]) {
            continue;
        }
        for (i = 0; i < c->ncmds; i++) {
            cmd = &c->cmds[i];
            if (cmd->state != CMD_PENDING || cmd->node != (int) k
                || !cmd->sent)
            {
                continue;
            }
            cmd->sent = 0;
            if (cmd->ask) {
                if (redisGetReply(c->nodes[k].ctx, (void **) &reply)
                    != REDIS_OK || reply == NULL)
                {
                    rc_node_failed(c, (int) k, "read");
                    rc_fail_node_cmds(c, (int) k);
                    break;
                }
                freeReplyObject(reply);
                cmd->ask = 0;
            }
            if (redisGetReply(c->nodes[k].ctx, (void **) &reply) != REDIS_OK
                || reply == NULL)
            {
                rc_node_failed(c, (int) k, "read");
                rc_fail_node_cmds(c, (int) k);
                break;
            }
            rc_classify(c, cmd, reply, &again, &tryagain);
            if (cmd->state == CMD_PENDING && !cmd->ask) {
                cmd->node = -1;
            }
        }
    }

    if (tryagain) {
        ps_sleep_ms(TRYAGAIN_SLEEP_MS);
    }

    return again;
}


size_t
ps_redis_cluster_exec(ps_redis_cluster_t *c)
{
    size_t    i, failed = 0;
    unsigned  round;

    if (c->refresh) {
        (void) rc_refresh(c);
    }

    for (round = 0; round < ROUNDS_MAX; round++) {
        if (!rc_round(c)) {
            break;
        }
        if (c->refresh) {
            /* the owner a MOVED named is in the map already; the
             * rest of it may have moved too */
            (void) rc_refresh(c);
        }
    }

    for (i = 0; i < c->ncmds; i++) {
        if (c->cmds[i].state == CMD_PENDING) {
            rc_set_error(c, "too many redirections for slot %u",
                         c->cmds[i].slot);
            c->cmds[i].state = CMD_FAILED;
        }
        failed += c->cmds[i].state == CMD_FAILED;
    }

    if (c->refresh) {
        (void) rc_refresh(c);
    }

    return failed;
}


redisReply *
ps_redis_cluster_command(ps_redis_cluster_t *c, const char *key, size_t klen,
    int argc, const char **argv, const size_t *argvlen)
{
    redisReply  *reply;

    ps_redis_cluster_clear(c);

    if (ps_redis_cluster_append(c, key, klen, argc, argv, argvlen) < 0) {
        rc_set_error(c, "out of memory");
        return NULL;
    }

    (void) ps_redis_cluster_exec(c);

    reply = c->cmds[0].reply;
    c->cmds[0].reply = NULL;
    ps_redis_cluster_clear(c);

    return reply;
}
