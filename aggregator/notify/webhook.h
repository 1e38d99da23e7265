/*
 * One alert_webhook: a thread of its own that POSTs the bodies queued for
 * it, in order, with libcurl, so that a slow or dead receiver never holds
 * up the thread that drains the rings.
 *
 * ps_webhook_post() copies the body into a bounded queue and returns at
 * once; a full queue drops it (counted, logged).  The thread sends one
 * body at a time (so a receiver sees them in the order queued): each
 * attempt has the timeout, a failure (no connection, a timeout, HTTP 408,
 * 429 or 5xx) is retried up to `retries` times after backoff, 2 x backoff,
 * 4 x backoff ...; a body that still fails, or gets another 4xx, is
 * counted as failed and logged (event=webhook_failed).  Bodies go out as
 * application/json.  The URL may hold a secret (a Slack webhook's token):
 * logs and the statistics name the webhook by its number and host only.
 * No libcurl type leaves notify/.
 */

#ifndef PS_WEBHOOK_H
#define PS_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define PS_WEBHOOK_QUEUE_MAX  1000
#define PS_WEBHOOK_HOST_MAX   128

typedef struct ps_webhook_s  ps_webhook_t;

typedef struct {
    uint64_t  timeout_ms;           /* one attempt */
    unsigned  retries;              /* after the first attempt */
    uint64_t  backoff_ms;           /* before the first retry */
} ps_webhook_opts_t;

typedef struct {
    unsigned  number;               /* 1.. in configuration order */
    char      host[PS_WEBHOOK_HOST_MAX];   /* host[:port] of the URL */
    uint64_t  sent;                 /* bodies delivered (2xx) */
    uint64_t  failed;               /* bodies given up after retries */
    uint64_t  retries;              /* attempts after a first one */
    uint64_t  dropped;              /* bodies refused: queue full, stop */
    size_t    queued;               /* waiting, the one in flight too */
    uint64_t  last_failure_us;      /* 0: none */
    char      last_error[160];      /* "" when none */
} ps_webhook_stats_t;

/* Starts webhook number (1..) for url; NULL with the reason logged when
 * the URL is unusable or the thread cannot start. */
ps_webhook_t *ps_webhook_start(const char *url, unsigned number,
    const ps_webhook_opts_t *opts);

/* Queues a copy of body (len bytes); never blocks.  0, or -1 when it was
 * dropped (queue full, no memory), counted and logged. */
int ps_webhook_post(ps_webhook_t *w, const char *body, size_t len);

/* A copy of the statistics. */
void ps_webhook_stats(ps_webhook_t *w, ps_webhook_stats_t *st);

/* Gives the queue until wait_ms to go out, then abandons what is left
 * (counted as dropped, logged), stops the thread and frees w.  NULL is
 * allowed. */
void ps_webhook_stop(ps_webhook_t *w, uint64_t wait_ms);

/* libcurl's process-wide setup and teardown, once, before the first
 * ps_webhook_start() and after the last ps_webhook_stop(); 0 or -1. */
int ps_webhook_global_init(void);
void ps_webhook_global_cleanup(void);

#endif /* PS_WEBHOOK_H */
