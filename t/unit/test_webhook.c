/*
 * Unit tests for aggregator/notify/webhook.c against a real HTTP
 * receiver on loopback (a thread of this test that answers each POST
 * with the status the test sets): bodies arrive in the order queued, as
 * application/json; a 503 is retried (retries times, with backoff) and
 * then counted as failed, a 400 is given up at once; and the queue is
 * bounded: with a receiver that never answers, PS_WEBHOOK_QUEUE_MAX
 * bodies wait (the one in flight included) and every further one is
 * dropped, counted.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"
#include "notify/webhook.h"
#include "tap.h"

#define MAX_BODIES  16

/* the receiver: answers each request with status, keeps the bodies */
typedef struct {
    int              fd;
    int              port;
    int              answer;        /* 0: accept nothing */
    pthread_t        thread;
    pthread_mutex_t  mu;
    unsigned         requests;
    char             bodies[MAX_BODIES][64];
    char             content_type[64];
} receiver_t;


/* Reads one request from c into buf (headers and body); its length, or
 * -1. */
static ssize_t
read_request(int c, char *buf, size_t size, const char **body)
{
    size_t       len = 0;
    ssize_t      n;
    const char  *end, *cl;
    size_t       want;

    for ( ;; ) {
        n = read(c, buf + len, size - 1 - len);
        if (n <= 0) {
            return -1;
        }
        len += (size_t) n;
        buf[len] = '\0';

        end = strstr(buf, "\r\n\r\n");
        if (end == NULL) {
            continue;
        }

        cl = strstr(buf, "Content-Length: ");
        want = cl ? strtoul(cl + 16, NULL, 10) : 0;
        if (len >= (size_t) (end + 4 - buf) + want) {
            *body = end + 4;
            return (ssize_t) len;
        }
    }
}


static void *
receiver_main(void *arg)
{
    receiver_t   *r = arg;
    char          buf[4096], resp[128];
    const char   *body, *ct;
    int           c;
    size_t        i;

    while ((c = accept(r->fd, NULL, NULL)) >= 0) {
        if (read_request(c, buf, sizeof(buf), &body) > 0) {
            pthread_mutex_lock(&r->mu);
            if (r->requests < MAX_BODIES) {
                snprintf(r->bodies[r->requests], sizeof(r->bodies[0]), "%s",
                         body);
            }
            r->requests++;
            ct = strstr(buf, "Content-Type: ");
            for (i = 0; ct && ct[14 + i] != '\r'
                        && i < sizeof(r->content_type) - 1; i++)
            {
                r->content_type[i] = ct[14 + i];
            }
            r->content_type[i] = '\0';
            snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: "
                     "0\r\nConnection: close\r\n\r\n", r->answer);
            pthread_mutex_unlock(&r->mu);

            if (write(c, resp, strlen(resp)) < 0) {
                /* the webhook counts what it did not get */
            }
        }
        close(c);
    }

    return NULL;
}


/* A listening socket on 127.0.0.1; a thread answers when answer != 0. */
static void
receiver_start(receiver_t *r, int answer)
{
    struct sockaddr_in  a;
    socklen_t           alen = sizeof(a);

    memset(r, 0, sizeof(*r));
    r->answer = answer;
    pthread_mutex_init(&r->mu, NULL);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *) &a, sizeof(a)) != 0
        || listen(r->fd, 16) != 0
        || getsockname(r->fd, (struct sockaddr *) &a, &alen) != 0)
    {
        bail_out("cannot listen on 127.0.0.1");
    }
    r->port = ntohs(a.sin_port);

    if (answer && pthread_create(&r->thread, NULL, receiver_main, r) != 0) {
        bail_out("cannot start the receiver");
    }
}


static void
receiver_stop(receiver_t *r)
{
    shutdown(r->fd, SHUT_RDWR);
    if (r->answer) {
        pthread_join(r->thread, NULL);
    }
    close(r->fd);
    pthread_mutex_destroy(&r->mu);
}


static unsigned
receiver_requests(receiver_t *r)
{
    unsigned  n;

    pthread_mutex_lock(&r->mu);
    n = r->requests;
    pthread_mutex_unlock(&r->mu);

    return n;
}


static ps_webhook_t *
start(const receiver_t *r, unsigned retries, uint64_t timeout_ms)
{
    ps_webhook_opts_t  o = { timeout_ms, retries, 20 };
    ps_webhook_t      *w;
    char               url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", r->port);
    w = ps_webhook_start(url, 1, &o);
    if (w == NULL) {
        bail_out("ps_webhook_start failed");
    }

    return w;
}


/* Waits (5 s at most) until n bodies are sent or failed; the stats. */
static ps_webhook_stats_t
settled(ps_webhook_t *w, uint64_t n)
{
    ps_webhook_stats_t  st;
    uint64_t            until = ps_mono_us() + 5000000;

    for ( ;; ) {
        ps_webhook_stats(w, &st);
        if (st.sent + st.failed >= n || ps_mono_us() > until) {
            return st;
        }
        ps_sleep_ms(10);
    }
}


static void
post(ps_webhook_t *w, const char *s)
{
    if (ps_webhook_post(w, s, strlen(s)) != 0) {
        bail_out("post refused");
    }
}


static void
test_in_order(void)
{
    receiver_t          r;
    ps_webhook_t       *w;
    ps_webhook_stats_t  st;
    char                host[32];

    receiver_start(&r, 200);
    w = start(&r, 2, 2000);

    post(w, "{\"n\":1}");
    post(w, "{\"n\":2}");
    post(w, "{\"n\":3}");
    st = settled(w, 3);

    is_u64(st.sent, 3, "200: 3 sent");
    is_u64(st.failed + st.retries + st.dropped + st.queued, 0,
           "  none failed, retried, dropped or waiting");
    is_int(receiver_requests(&r), 3, "  the receiver got 3 requests");
    ok(strcmp(r.bodies[0], "{\"n\":1}") == 0
       && strcmp(r.bodies[1], "{\"n\":2}") == 0
       && strcmp(r.bodies[2], "{\"n\":3}") == 0, "  in the order queued");
    is_str(r.content_type, "application/json", "  as application/json");
    snprintf(host, sizeof(host), "127.0.0.1:%d", r.port);
    is_str(st.host, host, "  named by host:port, not by URL");
    is_str(st.last_error, "", "  no error");

    ps_webhook_stop(w, 1000);
    receiver_stop(&r);
}


static void
test_retries(void)
{
    receiver_t          r;
    ps_webhook_t       *w;
    ps_webhook_stats_t  st;
    uint64_t            t0;

    receiver_start(&r, 503);
    w = start(&r, 2, 2000);

    t0 = ps_mono_us();
    post(w, "{\"n\":1}");
    st = settled(w, 1);

    is_u64(st.failed, 1, "503: counted as failed");
    is_u64(st.retries, 2, "  after 2 retries");
    is_int(receiver_requests(&r), 3, "  3 attempts reached the receiver");
    ok(ps_mono_us() - t0 >= (20 + 40) * 1000,
       "  with backoff (20 ms, then 40 ms)");
    is_str(st.last_error, "HTTP status 503", "  last_error");
    ok(st.last_failure_us > 0, "  last_failure set");

    /* a 4xx other than 408 and 429 is not retried */
    pthread_mutex_lock(&r.mu);
    r.answer = 400;
    pthread_mutex_unlock(&r.mu);
    post(w, "{\"n\":2}");
    st = settled(w, 2);

    is_u64(st.failed, 2, "400: failed");
    is_u64(st.retries, 2, "  not retried");
    is_int(receiver_requests(&r), 4, "  one attempt");
    is_str(st.last_error, "HTTP status 400", "  last_error");
    is_u64(st.sent + st.dropped, 0, "  nothing sent or dropped");

    ps_webhook_stop(w, 1000);
    receiver_stop(&r);
}


static void
test_bounded_queue(void)
{
    receiver_t          r;
    ps_webhook_t       *w;
    ps_webhook_stats_t  st;
    unsigned            i, refused = 0;
    uint64_t            t0;

    /* connections wait in the backlog: the first body hangs in flight */
    receiver_start(&r, 0);
    w = start(&r, 0, 5000);

    t0 = ps_mono_us();
    for (i = 0; i < PS_WEBHOOK_QUEUE_MAX + 5; i++) {
        refused += ps_webhook_post(w, "{}", 2) != 0;
    }
    ok(ps_mono_us() - t0 < 1000000, "posting never waits for the receiver");

    ps_webhook_stats(w, &st);
    is_int(refused, 5, "%u posts: the last 5 refused",
           PS_WEBHOOK_QUEUE_MAX + 5);
    is_u64(st.queued, PS_WEBHOOK_QUEUE_MAX, "  %u waiting (the queue's bound)",
           PS_WEBHOOK_QUEUE_MAX);
    is_u64(st.dropped, 5, "  5 counted as dropped");
    is_u64(st.sent + st.failed, 0, "  none sent or failed yet");

    /* a stop with no time left abandons the one in flight too */
    ps_sleep_ms(300);
    t0 = ps_mono_us();
    ps_webhook_stop(w, 0);
    ok(ps_mono_us() - t0 < 3000000,
       "the stop ends the hanging attempt (well before its 5 s timeout)");
    receiver_stop(&r);
}


int
main(void)
{
    if (ps_webhook_global_init() != 0) {
        bail_out("libcurl");
    }

    test_in_order();
    test_retries();
    test_bounded_queue();

    ps_webhook_global_cleanup();

    return done_testing();
}
