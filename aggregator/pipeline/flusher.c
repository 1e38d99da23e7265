/*
 * Flusher: see flusher.h.  One mutex and one condition variable: the
 * thread waits for a job, runs it without the lock, and marks it done.
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "pipeline/flusher.h"

enum { IDLE, QUEUED, RUNNING, DONE };

struct ps_flusher_s {
    pthread_t        thread;
    pthread_mutex_t  mu;
    pthread_cond_t   cv;
    int              state;
    int              stop;
    int              rc;
    ps_flusher_fn    fn;
    void            *ctx;
};


static void *
flusher_main(void *arg)
{
    int            rc;
    ps_flusher_t  *f = arg;

    pthread_mutex_lock(&f->mu);

    for ( ;; ) {
        while (f->state != QUEUED && !f->stop) {
            pthread_cond_wait(&f->cv, &f->mu);
        }

        if (f->state != QUEUED) {
            break;
        }

        f->state = RUNNING;
        pthread_mutex_unlock(&f->mu);

        rc = f->fn(f->ctx);

        pthread_mutex_lock(&f->mu);
        f->rc = rc;
        f->state = DONE;
        pthread_cond_broadcast(&f->cv);
    }

    pthread_mutex_unlock(&f->mu);

    return NULL;
}


ps_flusher_t *
ps_flusher_start(const char *name)
{
    ps_flusher_t  *f;

    f = calloc(1, sizeof(ps_flusher_t));
    if (f == NULL) {
        goto fail;
    }

    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->state = IDLE;

    if (pthread_create(&f->thread, NULL, flusher_main, f) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
        goto fail;
    }

    (void) pthread_setname_np(f->thread, name);

    return f;

fail:

    ps_log(PS_LOG_ERROR, "event=thread_start_failed thread=%s", name);

    return NULL;
}


void
ps_flusher_stop(ps_flusher_t *f)
{
    if (f == NULL) {
        return;
    }

    pthread_mutex_lock(&f->mu);
    while (f->state == QUEUED || f->state == RUNNING) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);

    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}


int
ps_flusher_submit(ps_flusher_t *f, ps_flusher_fn fn, void *ctx)
{
    int  rc = -1;

    pthread_mutex_lock(&f->mu);

    if (f->state == IDLE) {
        f->fn = fn;
        f->ctx = ctx;
        f->state = QUEUED;
        pthread_cond_broadcast(&f->cv);
        rc = 0;
    }

    pthread_mutex_unlock(&f->mu);

    return rc;
}


int
ps_flusher_done(ps_flusher_t *f, int *rc)
{
    int  r;

    pthread_mutex_lock(&f->mu);

    if (f->state == DONE) {
        *rc = f->rc;
        f->state = IDLE;
        r = 1;
    } else {
        r = f->state == IDLE ? -1 : 0;
    }

    pthread_mutex_unlock(&f->mu);

    return r;
}


void
ps_flusher_wait(ps_flusher_t *f)
{
    pthread_mutex_lock(&f->mu);

    while (f->state == QUEUED || f->state == RUNNING) {
        pthread_cond_wait(&f->cv, &f->mu);
    }

    pthread_mutex_unlock(&f->mu);
}


int
ps_flusher_busy(ps_flusher_t *f)
{
    int  busy;

    pthread_mutex_lock(&f->mu);
    busy = f->state != IDLE;
    pthread_mutex_unlock(&f->mu);

    return busy;
}
