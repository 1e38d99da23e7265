/*
 * Redis connections: one standalone server, or a Redis Cluster spoken to
 * natively (hiredis 0.14 has no cluster support), behind one pipeline.
 *
 * Cluster: the slot map comes from CLUSTER SLOTS of any node that
 * answers (the seeds first, then every node known); a key's slot is the
 * CRC16 (XMODEM) of its hash tag (the bytes between the first "{" and
 * the next "}", when not empty) or of the whole key, mod 16384.  One
 * connection per master, opened when a command needs it.  A command is
 * sent to the master of its slot; a MOVED answer updates that slot and
 * sends the command again to the new owner (and the whole map is read
 * again after the pipeline: the topology changed), an ASK answer sends
 * it once to the node named, after ASKING, and TRYAGAIN (a slot being
 * migrated) sends it again a little later; at most
 * PS_REDIS_REDIRECTS_MAX redirections a command.  A node that fails (I/O
 * error, timeout, refused) is disconnected, the commands it had are
 * given no reply (their outcome is unknown: the caller decides whether
 * to send them again), and the map is read again before the next
 * pipeline, so that a failover is followed as soon as the cluster has
 * promoted a replica.
 *
 * Pipelining: commands are queued with ps_redis_cluster_append() and
 * sent by ps_redis_cluster_exec(): every node's commands are written
 * before any reply is read, so the masters work in parallel, and each
 * node answers its commands in the order they were queued (a command
 * redirected to another node goes in a later round).
 *
 * Standalone: the same pipeline on one connection (SELECT db after
 * connecting); a MOVED answer (the server is a cluster node) is an error
 * that says to use redis-cluster://.  No hiredis type is visible to the
 * layers above store/redis/: replies are read here or by the Redis
 * sink's files.  Not thread-safe: one user at a time.
 */

#ifndef PS_REDIS_CLUSTER_H
#define PS_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define PS_REDIS_SLOTS           16384
#define PS_REDIS_NODES_MAX       64
#define PS_REDIS_REDIRECTS_MAX   5

typedef struct ps_redis_cluster_s  ps_redis_cluster_t;

/* A node's address. */
typedef struct {
    const char  *host;
    unsigned     port;
} ps_redis_addr_t;

/* The slot of a key (hash tag rule above). */
unsigned ps_redis_slot(const char *key, size_t len);

/* CRC16-XMODEM of p[0..len) (for tests). */
uint16_t ps_redis_crc16(const char *p, size_t len);

/* A client of a cluster (cluster != 0: seeds[0..n) are nodes of it) or
 * of the standalone server seeds[0] with database db; timeouts in ms.
 * Connects nothing yet; NULL if memory ran out. */
ps_redis_cluster_t *ps_redis_cluster_create(int cluster,
    const ps_redis_addr_t *seeds, size_t n, unsigned db,
    unsigned connect_ms, unsigned command_ms);

/* Closes every connection and frees c; NULL is allowed. */
void ps_redis_cluster_destroy(ps_redis_cluster_t *c);

/* Connects: the standalone server (PING, SELECT), or the slot map of the
 * cluster; 0, or -1 with the reason in err (never a secret). */
int ps_redis_cluster_connect(ps_redis_cluster_t *c, char *err,
    size_t errlen);

/* 1 after a successful connect and until a failure resets the client. */
int ps_redis_cluster_ready(const ps_redis_cluster_t *c);

/* Closes every connection and forgets the slot map; the next connect
 * starts afresh. */
void ps_redis_cluster_reset(ps_redis_cluster_t *c);

/* 1 for a cluster client. */
int ps_redis_cluster_is_cluster(const ps_redis_cluster_t *c);

/* Queues a command routed by key[0..klen) (ignored standalone); argv
 * and argvlen must stay valid until ps_redis_cluster_exec() returns.
 * Its index in the pipeline, or -1 if memory ran out. */
int ps_redis_cluster_append(ps_redis_cluster_t *c, const char *key,
    size_t klen, int argc, const char **argv, const size_t *argvlen);

/* Sends what is queued (see above).  Returns how many commands got no
 * reply (their node failed); their replies are NULL.  The replies stay
 * until ps_redis_cluster_clear(). */
size_t ps_redis_cluster_exec(ps_redis_cluster_t *c);

/* Command i's reply after exec (NULL: no reply, outcome unknown),
 * owned by c. */
redisReply *ps_redis_cluster_reply(const ps_redis_cluster_t *c, size_t i);

/* Number of commands queued. */
size_t ps_redis_cluster_queued(const ps_redis_cluster_t *c);

/* The address ("host:port") command i was last sent to, for logs. */
const char *ps_redis_cluster_node_of(const ps_redis_cluster_t *c,
    size_t i);

/* Number of replicas the master of key's slot had in the last map (0
 * standalone). */
unsigned ps_redis_cluster_replicas(const ps_redis_cluster_t *c,
    const char *key, size_t klen);

/* The address ("host:port") of the master of key's slot in the last
 * map (standalone: the server), or NULL; stable until the next
 * connect. */
const char *ps_redis_cluster_owner(const ps_redis_cluster_t *c,
    const char *key, size_t klen);

/* Frees the replies and empties the queue. */
void ps_redis_cluster_clear(ps_redis_cluster_t *c);

/* One command routed by key, sent at once; its reply (the caller frees
 * it with freeReplyObject()), or NULL (logged in err) when no node
 * answered. */
redisReply *ps_redis_cluster_command(ps_redis_cluster_t *c, const char *key,
    size_t klen, int argc, const char **argv, const size_t *argvlen);

/* The last I/O error, for the sink's status (empty if none). */
const char *ps_redis_cluster_error(const ps_redis_cluster_t *c);

/* The masters of the last map ("host:port" each, at most max), for
 * --check and the logs; returns how many. */
size_t ps_redis_cluster_masters(const ps_redis_cluster_t *c,
    const char **out, size_t max);

#endif /* PS_REDIS_CLUSTER_H */
