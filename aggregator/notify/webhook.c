/*
 * One alert_webhook: see webhook.h.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "notify/webhook.h"

#ifndef PATHSTATS_VERSION
#define PATHSTATS_VERSION  "unknown"
#endif

#define BACKOFF_MAX_MS  60000

typedef struct item_s  item_t;

struct item_s {
    item_t  *next;
    size_t   len;
    char     body[];
};

/* what one attempt came to */
enum { SENT = 0, RETRY, GIVE_UP };

struct ps_webhook_s {
    char                *url;
    ps_webhook_opts_t    opts;
    pthread_t            thread;
    int                  started;

    pthread_mutex_t      mu;        /* everything below */
    pthread_cond_t       cv;
    item_t              *head;
    item_t              *tail;
    int                  stopping;
    uint64_t             stop_at;   /* ps_mono_us(): abandon from then */
    ps_webhook_stats_t   st;
};


int
ps_webhook_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ps_log(PS_LOG_ERROR, "event=webhook_init_failed error=\"libcurl "
               "could not be initialised\"");
        return -1;
    }

    return 0;
}


void
ps_webhook_global_cleanup(void)
{
    curl_global_cleanup();
}


/* host[:port] of url into host; 0, or -1 if libcurl cannot parse it */
static int
url_host(const char *url, char *host, size_t size)
{
    CURLU  *u;
    char   *h = NULL, *port = NULL;
    int     rc = -1;

    u = curl_url();
    if (u == NULL) {
        return -1;
    }

    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK)
    {
        (void) curl_url_get(u, CURLUPART_PORT, &port, 0);
        snprintf(host, size, "%s%s%s", h, port ? ":" : "", port ? port : "");
        rc = 0;
    }

    curl_free(h);
    curl_free(port);
    curl_url_cleanup(u);

    return rc;
}


static int
stopped_now(ps_webhook_t *w)
{
    int  stop;

    pthread_mutex_lock(&w->mu);
    stop = w->stopping && ps_mono_us() >= w->stop_at;
    pthread_mutex_unlock(&w->mu);

    return stop;
}


/* CURLOPT_XFERINFOFUNCTION: ends a transfer the stop gave up on. */
static int
on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
    return stopped_now(ctx);
}


/* CURLOPT_WRITEFUNCTION: the receiver's answer is not needed. */
static size_t
discard(char *p, size_t size, size_t n, void *ctx)
{
    return size * n;
}


/* One POST of item; SENT, RETRY or GIVE_UP with the reason in err. */
static int
attempt(ps_webhook_t *w, CURL *curl, struct curl_slist *headers,
    const item_t *item, char *err, size_t errlen)
{
    CURLcode  rc;
    long      code = 0;
    char      cerr[CURL_ERROR_SIZE];

    cerr[0] = '\0';

    curl_easy_setopt(curl, CURLOPT_URL, w->url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *) item->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) item->len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) w->opts.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) w->opts.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT,
                     "pathstats-aggregator/" PATHSTATS_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, w);

    rc = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);

    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        return rc == CURLE_ABORTED_BY_CALLBACK ? GIVE_UP : RETRY;
    }

    (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);

    if (code >= 200 && code <= 299) {
        return SENT;
    }

    snprintf(err, errlen, "HTTP status %ld", code);

    return (code == 408 || code == 429 || code >= 500) ? RETRY : GIVE_UP;
}


/* Waits ms, or less when a stop gives up first; 0, or -1 when stopped.
 * Called with w->mu held. */
static int
backoff_wait(ps_webhook_t *w, uint64_t ms)
{
    struct timespec  ts;
    uint64_t         now, until, target;

    until = ps_mono_us() + ms * 1000;

    for ( ;; ) {
        now = ps_mono_us();

        if (w->stopping && now >= w->stop_at) {
            return -1;
        }

        if (now >= until) {
            return 0;
        }

        target = (w->stopping && w->stop_at < until) ? w->stop_at : until;

        /* ps_mono_us() is CLOCK_MONOTONIC, the condition's clock */
        ts.tv_sec = (time_t) (target / 1000000);
        ts.tv_nsec = (long) (target % 1000000) * 1000;
        (void) pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
}


/* Sends item with its retries and counts the outcome. */
static void
deliver(ps_webhook_t *w, CURL *curl, struct curl_slist *headers,
    const item_t *item)
{
    char      err[160], qerr[200];
    unsigned  n;
    uint64_t  delay;
    int       r;

    for (n = 0; /* void */; n++) {
        r = attempt(w, curl, headers, item, err, sizeof(err));

        if (r == SENT) {
            pthread_mutex_lock(&w->mu);
            w->st.sent++;
            pthread_mutex_unlock(&w->mu);
            return;
        }

        if (r == GIVE_UP || n >= w->opts.retries) {
            break;
        }

        delay = w->opts.backoff_ms << (n < 16 ? n : 16);
        delay = delay < BACKOFF_MAX_MS ? delay : BACKOFF_MAX_MS;

        ps_log(PS_LOG_INFO, "event=webhook_retry webhook=%u host=%s "
               "attempt=%u delay_ms=%llu error=%s", w->st.number, w->st.host,
               n + 1, (unsigned long long) delay,
               ps_log_quote(qerr, sizeof(qerr), err));

        pthread_mutex_lock(&w->mu);
        w->st.retries++;
        r = backoff_wait(w, delay);
        pthread_mutex_unlock(&w->mu);

        if (r != 0) {
            snprintf(err, sizeof(err), "stopped while retrying");
            break;
        }
    }

    pthread_mutex_lock(&w->mu);
    w->st.failed++;
    w->st.last_failure_us = ps_now_us();
    snprintf(w->st.last_error, sizeof(w->st.last_error), "%s", err);
    pthread_mutex_unlock(&w->mu);

    ps_log(PS_LOG_WARN, "event=webhook_failed webhook=%u host=%s "
           "attempts=%u error=%s", w->st.number, w->st.host, n + 1,
           ps_log_quote(qerr, sizeof(qerr), err));
}


static void *
webhook_thread(void *arg)
{
    ps_webhook_t       *w = arg;
    CURL               *curl;
    struct curl_slist  *headers, *h;
    item_t             *item;
    size_t              left;

    curl = curl_easy_init();
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    h = headers ? curl_slist_append(headers, "Expect:") : NULL;
    headers = h ? h : headers;

    pthread_mutex_lock(&w->mu);

    for ( ;; ) {
        while (w->head == NULL && !w->stopping) {
            pthread_cond_wait(&w->cv, &w->mu);
        }

        if (w->head == NULL) {
            break;
        }

        if ((w->stopping && ps_mono_us() >= w->stop_at) || curl == NULL
            || headers == NULL)
        {
            /* what the stop abandons, or what cannot be sent at all */
            left = w->st.queued;
            while ((item = w->head) != NULL) {
                w->head = item->next;
                free(item);
            }
            w->tail = NULL;
            w->st.queued = 0;
            w->st.dropped += left;

            ps_log(PS_LOG_WARN, "event=webhook_dropped webhook=%u host=%s "
                   "bodies=%zu reason=%s", w->st.number, w->st.host, left,
                   curl ? "stopping" : "no_memory");

            if (w->stopping) {
                break;
            }
            continue;
        }

        /* the body stays queued (and counted) while it is in flight */
        item = w->head;
        pthread_mutex_unlock(&w->mu);

        deliver(w, curl, headers, item);

        pthread_mutex_lock(&w->mu);
        w->head = item->next;
        if (w->head == NULL) {
            w->tail = NULL;
        }
        w->st.queued--;
        free(item);
    }

    pthread_mutex_unlock(&w->mu);

    curl_slist_free_all(headers);
    if (curl != NULL) {
        curl_easy_cleanup(curl);
    }

    return NULL;
}


ps_webhook_t *
ps_webhook_start(const char *url, unsigned number,
    const ps_webhook_opts_t *opts)
{
    ps_webhook_t        *w;
    pthread_condattr_t   ca;
    int                  err;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        ps_log(PS_LOG_ERROR, "event=webhook_start_failed webhook=%u "
               "reason=no_memory", number);
        return NULL;
    }

    w->opts = *opts;
    w->st.number = number;

    if (url_host(url, w->st.host, sizeof(w->st.host)) != 0) {
        /* the URL may hold a secret: not shown */
        ps_log(PS_LOG_ERROR, "event=webhook_invalid webhook=%u "
               "error=\"libcurl cannot parse the URL of alert_webhook "
               "number %u\"", number, number);
        free(w);
        return NULL;
    }

    w->url = strdup(url);
    if (w->url == NULL) {
        free(w);
        return NULL;
    }

    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);

    err = pthread_create(&w->thread, NULL, webhook_thread, w);
    if (err != 0) {
        ps_log(PS_LOG_ERROR, "event=webhook_start_failed webhook=%u "
               "error=\"%s\"", number, strerror(err));
        ps_webhook_stop(w, 0);
        return NULL;
    }

    w->started = 1;

    ps_log(PS_LOG_INFO, "event=webhook_started webhook=%u host=%s "
           "timeout_ms=%llu retries=%u", number, w->st.host,
           (unsigned long long) opts->timeout_ms, opts->retries);

    return w;
}


int
ps_webhook_post(ps_webhook_t *w, const char *body, size_t len)
{
    item_t  *item = NULL;
    int      full;

    pthread_mutex_lock(&w->mu);
    full = w->stopping || w->st.queued >= PS_WEBHOOK_QUEUE_MAX;

    if (!full) {
        item = malloc(sizeof(item_t) + len + 1);
    }

    if (item == NULL) {
        w->st.dropped++;
        pthread_mutex_unlock(&w->mu);
        ps_log(PS_LOG_WARN, "event=webhook_dropped webhook=%u host=%s "
               "bodies=1 reason=%s", w->st.number, w->st.host,
               full ? "queue_full" : "no_memory");
        return -1;
    }

    item->next = NULL;
    item->len = len;
    memcpy(item->body, body, len);
    item->body[len] = '\0';

    if (w->tail) {
        w->tail->next = item;
    } else {
        w->head = item;
    }
    w->tail = item;
    w->st.queued++;

    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);

    return 0;
}


void
ps_webhook_stats(ps_webhook_t *w, ps_webhook_stats_t *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    pthread_mutex_unlock(&w->mu);
}


void
ps_webhook_stop(ps_webhook_t *w, uint64_t wait_ms)
{
    item_t  *item;

    if (w == NULL) {
        return;
    }

    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stopping = 1;
        w->stop_at = ps_mono_us() + wait_ms * 1000;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);

        pthread_join(w->thread, NULL);
    }

    while ((item = w->head) != NULL) {
        w->head = item->next;
        free(item);
    }

    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->url);
    free(w);
}
