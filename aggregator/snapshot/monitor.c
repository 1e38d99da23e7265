/*
 * Monitoring: see monitor.h.
 */

#include <stdlib.h>

#include "lib/log.h"
#include "snapshot/monitor.h"
#include "store/pg/silences.h"

struct ps_monitor_s {
    ps_lifetime_t     *lifetime;
    ps_incidents_t    *incidents;
    ps_notifier_t     *notifier;
    ps_pg_silences_t  *reader;      /* NULL without postgres */
    ps_silences_t      silences;
    ps_lifetime_key_t *keys;        /* ps_monitor_rank()'s scratch */
    size_t             nkeys;
};


ps_monitor_t *
ps_monitor_create(const ps_config_t *cfg)
{
    ps_monitor_t  *m;

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        ps_log(PS_LOG_ERROR, "event=monitor_create_failed reason=no_memory");
        return NULL;
    }

    m->nkeys = cfg->top_n;
    m->keys = calloc(m->nkeys ? m->nkeys : 1, sizeof(ps_lifetime_key_t));
    m->lifetime = ps_lifetime_create(cfg->top_n);
    m->incidents = ps_incidents_create(cfg->alert_max_paths);
    m->notifier = ps_notifier_create(cfg);

    if (m->keys == NULL || m->lifetime == NULL || m->incidents == NULL
        || m->notifier == NULL)
    {
        goto fail;
    }

    if (cfg->postgres != NULL) {
        m->reader = ps_pg_silences_start(cfg->postgres);
        if (m->reader == NULL) {
            goto fail;
        }
    }

    return m;

fail:

    ps_monitor_destroy(m);
    return NULL;
}


void
ps_monitor_destroy(ps_monitor_t *m)
{
    if (m == NULL) {
        return;
    }

    ps_pg_silences_stop(m->reader);
    ps_notifier_destroy(m->notifier);
    ps_incidents_destroy(m->incidents);
    ps_lifetime_destroy(m->lifetime);
    ps_silences_free(&m->silences);
    free(m->keys);
    free(m);
}


void
ps_monitor_observe(void *ctx, const ps_rec_t *rec)
{
    ps_monitor_t  *m = ctx;

    ps_lifetime_add(m->lifetime, rec);
}


void
ps_monitor_rank(ps_monitor_t *m, const ps_rowset_t *rows24h, size_t top)
{
    const ps_row_t  *r;
    size_t           i, n;

    n = 0;

    for (i = 0; i < rows24h->n && n < top && n < m->nkeys; i++) {
        r = &rows24h->rows[i];
        if (ps_row_is_other(r)) {
            continue;
        }

        m->keys[n].host = r->host;
        m->keys[n].method = r->method;
        m->keys[n].path = r->path;
        m->keys[n].hlen = r->hlen;
        m->keys[n].mlen = r->mlen;
        m->keys[n].plen = r->plen;
        n++;
    }

    if (ps_lifetime_rank(m->lifetime, m->keys, n) != 0) {
        ps_log(PS_LOG_ERROR, "event=lifetime_rank_failed reason=no_memory");
    }
}


void
ps_monitor_alerts(ps_monitor_t *m, ps_alerts_t *a, uint64_t now_us)
{
    if (m->reader != NULL
        && ps_pg_silences_take(m->reader, &m->silences) < 0)
    {
        ps_log(PS_LOG_ERROR, "event=silences_failed reason=no_memory");
    }

    if (ps_incidents_update(m->incidents, a, &m->silences, now_us,
                            ps_notifier_event, m->notifier) != 0)
    {
        ps_log(PS_LOG_ERROR, "event=incidents_failed reason=no_memory");
    }
}


const ps_lifetime_t *
ps_monitor_lifetime(const ps_monitor_t *m)
{
    return m->lifetime;
}


const ps_silences_t *
ps_monitor_silences(const ps_monitor_t *m)
{
    return &m->silences;
}


const ps_notifier_t *
ps_monitor_notifier(const ps_monitor_t *m)
{
    return m->notifier;
}


void
ps_monitor_incidents(const ps_monitor_t *m, ps_incidents_stats_t *st)
{
    ps_incidents_stats(m->incidents, st);
}
