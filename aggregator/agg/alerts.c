/*
 * Alerts on the live window: see alerts.h.
 */

#include <stdlib.h>
#include <string.h>

#include "agg/alerts.h"
#include "lib/hour.h"
#include "lib/json_escape.h"
#include "lib/log.h"

#define METRIC_ERROR_RATE  PS_ALERT_ERROR_RATE
#define METRIC_P95         PS_ALERT_P95
#define RESOLVE_FRACTION   0.9
#define INDEX_SIZE         4096    /* power of two >= 2 * PS_ALERTS_MAX */

_Static_assert(INDEX_SIZE >= 2 * PS_ALERTS_MAX, "alert index size");

static const char *const  metric_names[] = { "error_rate", "p95_ms" };
static const char *const  level_names[] = { "warning", "critical" };

typedef struct {
    uint64_t   id;
    uint64_t   hash;               /* alert_hash() of what identifies it */
    int        overall;
    char      *host;               /* one allocation; NULL when overall */
    char      *method;
    char      *path;
    size_t     hlen, mlen, plen;
    int        metric;
    int        level;
    int        active;
    int        held;               /* checked at >= 90 % this round */
    double     value;
    double     threshold;
    uint64_t   since_us;
    uint64_t   resolved_us;
    const char *notice;            /* ps_alerts_set_notice() */
} alert_t;

struct ps_alerts_s {
    ps_alert_limits_t  lim;
    uint64_t           fired[2][2][2];     /* overall, metric, level */
    alert_t           *al;
    size_t             n;
    size_t             cap;
    uint64_t           next_id;

    /* open addressing over al[]: position + 1, 0 = free; every path row
     * of every snapshot looks its alerts up here */
    uint16_t           index[INDEX_SIZE];
};


static uint64_t
alert_hash_bytes(uint64_t h, const char *p, size_t len)
{
    uint64_t  w;
    size_t    left;

    for (left = len; left >= 8; left -= 8, p += 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }

    w = 0;
    memcpy(&w, p, left);
    h = (h ^ w ^ ((uint64_t) len << 56)) * 0xbf58476d1ce4e5b9ULL;

    return h ^ (h >> 31);
}


static uint64_t
alert_hash(int overall, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, int metric, int level)
{
    uint64_t  h;

    h = 0x243f6a8885a308d3ULL ^ (uint64_t) (overall * 4 + metric * 2 + level);
    h *= 0xff51afd7ed558ccdULL;

    if (!overall) {
        h = alert_hash_bytes(h, host, hlen);
        h = alert_hash_bytes(h, method, mlen);
        h = alert_hash_bytes(h, path, plen);
    }

    return h ^ (h >> 33);
}


static void
index_insert(ps_alerts_t *a, uint64_t hash, size_t pos)
{
    size_t  i;

    for (i = hash & (INDEX_SIZE - 1); a->index[i] != 0;
         i = (i + 1) & (INDEX_SIZE - 1))
    {
        /* linear probing */
    }

    a->index[i] = (uint16_t) (pos + 1);
}


static void
index_rebuild(ps_alerts_t *a)
{
    size_t  i;

    memset(a->index, 0, sizeof(a->index));
    for (i = 0; i < a->n; i++) {
        index_insert(a, a->al[i].hash, i);
    }
}


void
ps_alert_limits_from_config(ps_alert_limits_t *lim, const ps_config_t *cfg)
{
    lim->error_rate[0] = (double) cfg->alert_error_rate_warning_bp / 10000;
    lim->error_rate[1] = (double) cfg->alert_error_rate_critical_bp / 10000;
    lim->p95_ms[0] = (double) cfg->alert_p95_warning_ms;
    lim->p95_ms[1] = (double) cfg->alert_p95_critical_ms;
    lim->min_requests = cfg->alert_min_requests;
    lim->cooldown_us[0] = cfg->alert_cooldown_warning_ms * 1000;
    lim->cooldown_us[1] = cfg->alert_cooldown_critical_ms * 1000;
}


ps_alerts_t *
ps_alerts_create(const ps_alert_limits_t *lim)
{
    ps_alerts_t  *a;

    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        ps_log(PS_LOG_ERROR, "event=alerts_create_failed reason=no_memory");
        return NULL;
    }

    a->lim = *lim;
    a->next_id = 1;

    return a;
}


void
ps_alerts_destroy(ps_alerts_t *a)
{
    size_t  i;

    if (a == NULL) {
        return;
    }

    for (i = 0; i < a->n; i++) {
        free(a->al[i].host);
    }

    free(a->al);
    free(a);
}


void
ps_alerts_begin(ps_alerts_t *a)
{
    size_t  i;

    for (i = 0; i < a->n; i++) {
        a->al[i].held = 0;
        a->al[i].notice = NULL;
    }
}


static alert_t *
alert_find(ps_alerts_t *a, int overall, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    int metric, int level)
{
    alert_t   *x;
    uint64_t   hash;
    size_t     i;

    hash = alert_hash(overall, host, hlen, method, mlen, path, plen, metric,
                      level);

    for (i = hash & (INDEX_SIZE - 1); a->index[i] != 0;
         i = (i + 1) & (INDEX_SIZE - 1))
    {
        x = &a->al[a->index[i] - 1];
        if (x->hash == hash && x->metric == metric && x->level == level
            && x->overall == overall
            && (overall
                || (x->hlen == hlen && x->mlen == mlen && x->plen == plen
                    && memcmp(x->host, host, hlen) == 0
                    && memcmp(x->method, method, mlen) == 0
                    && memcmp(x->path, path, plen) == 0)))
        {
            return x;
        }
    }

    return NULL;
}


static alert_t *
alert_new(ps_alerts_t *a, int overall, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    int metric, int level)
{
    alert_t  *x, *al;
    size_t    cap;
    char     *p = NULL;

    if (a->n >= PS_ALERTS_MAX) {
        return NULL;
    }

    if (a->n == a->cap) {
        cap = a->cap ? a->cap * 2 : 8;
        al = realloc(a->al, cap * sizeof(alert_t));
        if (al == NULL) {
            return NULL;
        }
        a->al = al;
        a->cap = cap;
    }

    if (!overall) {
        p = malloc(hlen + mlen + plen + 3);
        if (p == NULL) {
            return NULL;
        }
    }

    x = &a->al[a->n];
    memset(x, 0, sizeof(*x));
    x->hash = alert_hash(overall, host, hlen, method, mlen, path, plen,
                         metric, level);
    x->overall = overall;
    x->metric = metric;
    x->level = level;
    index_insert(a, x->hash, a->n);
    a->n++;

    if (p != NULL) {
        x->host = p;
        memcpy(p, host, hlen);
        p[hlen] = '\0';
        x->method = p + hlen + 1;
        memcpy(x->method, method, mlen);
        x->method[mlen] = '\0';
        x->path = x->method + mlen + 1;
        memcpy(x->path, path, plen);
        x->path[plen] = '\0';
        x->hlen = hlen;
        x->mlen = mlen;
        x->plen = plen;
    }

    return x;
}


static void
alert_log(const alert_t *x, const char *event)
{
    char  h[128], m[64], p[256];

    ps_log(PS_LOG_WARN, "event=%s id=%llu scope=%s metric=%s level=%s "
           "value=%.4g threshold=%.4g host=%s method=%s path=%s", event,
           (unsigned long long) x->id, x->overall ? "overall" : "path",
           metric_names[x->metric], level_names[x->level], x->value,
           x->threshold, ps_log_quote(h, sizeof(h), x->host ? x->host : ""),
           ps_log_quote(m, sizeof(m), x->method ? x->method : ""),
           ps_log_quote(p, sizeof(p), x->path ? x->path : ""));
}


static void
check_one(ps_alerts_t *a, int overall, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    int metric, int level, double value, double threshold, uint64_t now)
{
    alert_t  *x;

    if (value < threshold * RESOLVE_FRACTION) {
        return;     /* ps_alerts_end() resolves it if active */
    }

    x = alert_find(a, overall, host, hlen, method, mlen, path, plen, metric,
                   level);

    if (x != NULL && x->active) {
        x->held = 1;
        x->value = value;
        return;
    }

    if (value < threshold) {
        return;
    }

    if (x != NULL && now - x->resolved_us < a->lim.cooldown_us[level]) {
        return;     /* cooling down */
    }

    if (x == NULL) {
        x = alert_new(a, overall, host, hlen, method, mlen, path, plen,
                      metric, level);
        if (x == NULL) {
            return;
        }
    }

    x->id = a->next_id++;
    x->active = 1;
    x->held = 1;
    x->value = value;
    x->threshold = threshold;
    x->since_us = now;
    a->fired[overall][metric][level]++;
    alert_log(x, "alert_fired");
}


void
ps_alerts_check(ps_alerts_t *a, const char *host, size_t hlen,
    const char *method, size_t mlen, const char *path, size_t plen,
    uint64_t requests, uint64_t errors, double p95_ms, uint64_t now_us)
{
    double  rate;
    int     overall = (path == NULL), level;

    if (requests == 0 || (!overall && requests < a->lim.min_requests)) {
        return;
    }

    rate = (double) errors / (double) requests;

    for (level = 0; level < 2; level++) {
        check_one(a, overall, host, hlen, method, mlen, path, plen,
                  METRIC_ERROR_RATE, level, rate, a->lim.error_rate[level],
                  now_us);
        check_one(a, overall, host, hlen, method, mlen, path, plen,
                  METRIC_P95, level, p95_ms, a->lim.p95_ms[level], now_us);
    }
}


void
ps_alerts_end(ps_alerts_t *a, uint64_t now_us)
{
    alert_t  *x;
    size_t    i;
    int       removed = 0;

    for (i = 0; i < a->n; /* void */) {
        x = &a->al[i];

        if (x->active && !x->held) {
            x->active = 0;
            x->resolved_us = now_us;
            alert_log(x, "alert_resolved");
        }

        if (!x->active
            && now_us - x->resolved_us >= a->lim.cooldown_us[x->level])
        {
            free(x->host);
            memmove(x, x + 1, (a->n - i - 1) * sizeof(alert_t));
            a->n--;
            removed = 1;
            continue;
        }

        i++;
    }

    if (removed) {
        index_rebuild(a);
    }
}


size_t
ps_alerts_active(const ps_alerts_t *a)
{
    size_t  i, n = 0;

    for (i = 0; i < a->n; i++) {
        n += a->al[i].active;
    }

    return n;
}


int
ps_alerts_foreach(const ps_alerts_t *a, ps_alert_fn fn, void *ctx)
{
    const alert_t    *x;
    ps_alert_info_t   info;
    size_t            i;
    int               rc;

    for (i = 0; i < a->n; i++) {
        x = &a->al[i];
        if (!x->active) {
            continue;
        }

        info.index = i;
        info.id = x->id;
        info.overall = x->overall;
        info.host = x->host;
        info.method = x->method;
        info.path = x->path;
        info.hlen = x->hlen;
        info.mlen = x->mlen;
        info.plen = x->plen;
        info.metric = x->metric;
        info.level = x->level;
        info.value = x->value;
        info.threshold = x->threshold;
        info.since_us = x->since_us;

        rc = fn(ctx, &info);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


void
ps_alerts_set_notice(ps_alerts_t *a, size_t index, const char *notice)
{
    if (index < a->n) {
        a->al[index].notice = notice;
    }
}


uint64_t
ps_alerts_fired(const ps_alerts_t *a, int overall, int metric, int level)
{
    return a->fired[overall != 0][metric & 1][level & 1];
}


const char *
ps_alert_metric_name(int metric)
{
    return metric_names[metric & 1];
}


const char *
ps_alert_level_name(int level)
{
    return level_names[level & 1];
}


static int
json_str_or_null(ps_buf_t *b, const char *s, size_t len)
{
    return s ? ps_json_quote(b, s, len) : ps_buf_puts(b, "null");
}


int
ps_alerts_json(const ps_alerts_t *a, ps_buf_t *b)
{
    const alert_t  *x;
    char            iso[PS_ISO8601_MAX];
    size_t          i;
    int             first = 1;

    if (ps_buf_putc(b, '[') != 0) {
        return -1;
    }

    for (i = 0; i < a->n; i++) {
        x = &a->al[i];
        if (!x->active) {
            continue;
        }

        if (ps_buf_printf(b, "%s{\"id\":%llu,\"scope\":\"%s\",\"host\":",
                          first ? "" : ",", (unsigned long long) x->id,
                          x->overall ? "overall" : "path") != 0
            || json_str_or_null(b, x->host, x->hlen) != 0
            || ps_buf_puts(b, ",\"method\":") != 0
            || json_str_or_null(b, x->method, x->mlen) != 0
            || ps_buf_puts(b, ",\"path\":") != 0
            || json_str_or_null(b, x->path, x->plen) != 0
            || ps_buf_printf(b, ",\"metric\":\"%s\",\"level\":\"%s\","
                             "\"value\":%.6g,\"threshold\":%.6g,"
                             "\"since\":\"%s\",\"notification\":%s%s%s}",
                             metric_names[x->metric], level_names[x->level],
                             x->value, x->threshold,
                             ps_format_iso8601((int64_t) x->since_us, iso),
                             x->notice ? "\"" : "",
                             x->notice ? x->notice : "null",
                             x->notice ? "\"" : "")
               != 0)
        {
            return -1;
        }

        first = 0;
    }

    return ps_buf_putc(b, ']');
}
