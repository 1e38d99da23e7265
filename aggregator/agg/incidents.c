/*
 * Incidents: see incidents.h.
 */

#include <stdlib.h>
#include <string.h>

#include "agg/incidents.h"
#include "lib/key_hash.h"
#include "lib/log.h"

#define GROUP_INDEX  4096           /* power of two >= 2 * PS_ALERTS_MAX */

_Static_assert(GROUP_INDEX >= 2 * PS_ALERTS_MAX, "group index size");

/* the active alerts of one incident's scope and metric, this round */
typedef struct {
    uint64_t         hash;
    ps_alert_info_t  top;           /* its highest active level */
    size_t           lower;         /* index of the warning under it */
    int              has_lower;
    int              silenced;
    int              open;          /* an incident is open for it */
} group_t;

typedef struct {
    uint64_t   hash;
    int        overall;
    int        metric;
    char      *key;                 /* host, method, path, NUL after each */
    size_t     hlen, mlen, plen;
    uint64_t   id;
    int        level;               /* last notified */
    uint64_t   since_us;
    double     value;
    double     threshold;
} incident_t;

struct ps_incidents_s {
    size_t       max_paths;
    uint64_t     next_id;

    incident_t  *inc;               /* open incidents */
    size_t       ninc;
    size_t       cap;

    /* the grouped incident */
    int          group_open;
    uint64_t     group_id;
    int          group_level;
    uint64_t     group_since_us;
    size_t       group_paths;

    /* this round */
    group_t     *groups;
    size_t       ngroups;
    uint16_t     index[GROUP_INDEX];   /* group + 1, 0 = free */
    group_t    **fresh;                /* new per-path groups */

    ps_incidents_stats_t  st;
};


static uint64_t
scope_hash(int overall, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, int metric)
{
    uint64_t  h;

    h = ps_key_mix(0x452821e638d01377ULL, (uint64_t) (overall * 2 + metric));

    if (!overall) {
        h = ps_key_hash_part(h, host, hlen);
        h = ps_key_hash_part(h, method, mlen);
        h = ps_key_hash_part(h, path, plen);
    }

    return ps_key_avalanche(h);
}


static int
same_scope(int overall, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, int metric,
    const ps_alert_info_t *al)
{
    return al->overall == overall && al->metric == metric
           && (overall
               || (al->hlen == hlen && al->mlen == mlen && al->plen == plen
                   && memcmp(al->host, host, hlen) == 0
                   && memcmp(al->method, method, mlen) == 0
                   && memcmp(al->path, path, plen) == 0));
}


ps_incidents_t *
ps_incidents_create(size_t max_paths)
{
    ps_incidents_t  *in;

    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        goto fail;
    }

    in->max_paths = max_paths ? max_paths : 1;
    in->next_id = 1;
    in->groups = calloc(PS_ALERTS_MAX, sizeof(group_t));
    in->fresh = calloc(PS_ALERTS_MAX, sizeof(group_t *));

    if (in->groups == NULL || in->fresh == NULL) {
        goto fail;
    }

    return in;

fail:

    ps_log(PS_LOG_ERROR, "event=incidents_create_failed reason=no_memory");
    ps_incidents_destroy(in);
    return NULL;
}


void
ps_incidents_destroy(ps_incidents_t *in)
{
    size_t  i;

    if (in == NULL) {
        return;
    }

    for (i = 0; i < in->ninc; i++) {
        free(in->inc[i].key);
    }

    free(in->inc);
    free(in->groups);
    free(in->fresh);
    free(in);
}


static group_t *
group_find(ps_incidents_t *in, uint64_t hash, int overall, const char *host,
    size_t hlen, const char *method, size_t mlen, const char *path,
    size_t plen, int metric)
{
    group_t  *g;
    size_t    i;

    for (i = hash & (GROUP_INDEX - 1); in->index[i] != 0;
         i = (i + 1) & (GROUP_INDEX - 1))
    {
        g = &in->groups[in->index[i] - 1];
        if (g->hash == hash
            && same_scope(overall, host, hlen, method, mlen, path, plen,
                          metric, &g->top))
        {
            return g;
        }
    }

    return NULL;
}


/* ps_alert_fn: sorts each active alert into its group. */
static int
group_alert(void *ctx, const ps_alert_info_t *al)
{
    ps_incidents_t  *in = ctx;
    group_t         *g;
    uint64_t         hash;
    size_t           i;

    hash = scope_hash(al->overall, al->host, al->hlen, al->method, al->mlen,
                      al->path, al->plen, al->metric);
    g = group_find(in, hash, al->overall, al->host, al->hlen, al->method,
                   al->mlen, al->path, al->plen, al->metric);

    if (g == NULL) {
        if (in->ngroups >= PS_ALERTS_MAX) {
            return 0;
        }

        g = &in->groups[in->ngroups++];
        memset(g, 0, sizeof(*g));
        g->hash = hash;
        g->top = *al;

        for (i = hash & (GROUP_INDEX - 1); in->index[i] != 0;
             i = (i + 1) & (GROUP_INDEX - 1))
        {
            /* linear probing */
        }
        in->index[i] = (uint16_t) in->ngroups;

        return 0;
    }

    /* two levels of one scope: the higher one leads */
    if (al->level > g->top.level) {
        g->lower = g->top.index;
        g->top = *al;
    } else {
        g->lower = al->index;
    }
    g->has_lower = 1;

    return 0;
}


static void
emit(ps_incident_fn fn, void *ctx, ps_incident_event_t *ev)
{
    if (fn != NULL) {
        fn(ctx, ev);
    }
}


static void
event_of(ps_incident_event_t *ev, const incident_t *x, int event,
    uint64_t now_us)
{
    memset(ev, 0, sizeof(*ev));
    ev->event = event;
    ev->id = x->id;
    ev->scope = x->overall ? "overall" : "path";

    if (!x->overall) {
        ev->host = x->key;
        ev->method = x->key + x->hlen + 1;
        ev->path = ev->method + x->mlen + 1;
        ev->hlen = x->hlen;
        ev->mlen = x->mlen;
        ev->plen = x->plen;
    }

    ev->metric = x->metric;
    ev->level = x->level;
    ev->previous_level = -1;
    ev->value = x->value;
    ev->threshold = x->threshold;
    ev->since_us = x->since_us;
    ev->at_us = now_us;
}


/* Opens an incident for group g; 0 or -1. */
static int
incident_open(ps_incidents_t *in, group_t *g)
{
    const ps_alert_info_t  *al = &g->top;
    incident_t             *x;
    size_t                  cap;
    char                   *key = NULL;

    if (in->ninc == in->cap) {
        cap = in->cap ? 2 * in->cap : 16;
        x = realloc(in->inc, cap * sizeof(incident_t));
        if (x == NULL) {
            return -1;
        }
        in->inc = x;
        in->cap = cap;
    }

    if (!al->overall) {
        key = malloc(al->hlen + al->mlen + al->plen + 3);
        if (key == NULL) {
            return -1;
        }
        memcpy(key, al->host, al->hlen + 1);
        memcpy(key + al->hlen + 1, al->method, al->mlen + 1);
        memcpy(key + al->hlen + al->mlen + 2, al->path, al->plen + 1);
    }

    x = &in->inc[in->ninc++];
    memset(x, 0, sizeof(*x));
    x->hash = g->hash;
    x->overall = al->overall;
    x->metric = al->metric;
    x->key = key;
    x->hlen = al->hlen;
    x->mlen = al->mlen;
    x->plen = al->plen;
    x->id = in->next_id++;
    x->level = al->level;
    x->since_us = al->since_us;
    x->value = al->value;
    x->threshold = al->threshold;
    g->open = 1;

    return 0;
}


/* Order of new per-path incidents for the free slots: critical first,
 * then furthest above its threshold, then by path, host and method. */
static int
fresh_cmp(const void *pa, const void *pb)
{
    const ps_alert_info_t  *a = &(*(group_t *const *) pa)->top;
    const ps_alert_info_t  *b = &(*(group_t *const *) pb)->top;
    double                  ra, rb;
    int                     c;

    if (a->level != b->level) {
        return b->level - a->level;
    }

    ra = a->threshold > 0 ? a->value / a->threshold : a->value;
    rb = b->threshold > 0 ? b->value / b->threshold : b->value;
    if (ra != rb) {
        return ra < rb ? 1 : -1;
    }

    c = strcmp(a->path, b->path);
    c = c ? c : strcmp(a->host, b->host);
    return c ? c : strcmp(a->method, b->method);
}


/* The open incidents against this round's groups: resolves and level
 * changes. */
static void
update_open(ps_incidents_t *in, ps_incident_fn fn, void *ctx,
    uint64_t now_us, size_t *open_paths)
{
    ps_incident_event_t   ev;
    incident_t           *x;
    group_t              *g;
    size_t                i;
    int                   prev;

    *open_paths = 0;

    for (i = 0; i < in->ninc; /* void */) {
        x = &in->inc[i];
        g = group_find(in, x->hash, x->overall, x->key, x->hlen,
                       x->key ? x->key + x->hlen + 1 : NULL, x->mlen,
                       x->key ? x->key + x->hlen + x->mlen + 2 : NULL,
                       x->plen, x->metric);

        if (g == NULL) {
            event_of(&ev, x, PS_INCIDENT_RESOLVED, now_us);
            emit(fn, ctx, &ev);
            in->st.resolved++;
            free(x->key);
            *x = in->inc[--in->ninc];
            continue;
        }

        g->open = 1;
        x->value = g->top.value;
        prev = x->level;

        /* only an escalation is news; when the level goes down again the
         * incident stays as notified until it resolves */
        if (g->top.level > prev && !g->silenced) {
            x->level = g->top.level;
            x->threshold = g->top.threshold;
            event_of(&ev, x, PS_INCIDENT_FIRED, now_us);
            ev.previous_level = prev;
            emit(fn, ctx, &ev);
            in->st.fired++;
        }

        *open_paths += !x->overall;
        i++;
    }
}


int
ps_incidents_update(ps_incidents_t *in, ps_alerts_t *a,
    const ps_silences_t *silences, uint64_t now_us, ps_incident_fn fn,
    void *ctx)
{
    ps_incident_event_t   ev;
    group_t              *g;
    size_t                i, nfresh, open_paths, folded;
    int                   folded_level, rc = 0;

    memset(in->index, 0, sizeof(in->index));
    in->ngroups = 0;
    (void) ps_alerts_foreach(a, group_alert, in);

    in->st.silenced = 0;

    for (i = 0; i < in->ngroups; i++) {
        g = &in->groups[i];
        g->silenced = silences != NULL
                      && ps_silences_match(silences, now_us, g->top.overall,
                                           g->top.path, g->top.plen);
        in->st.silenced += g->silenced;
    }

    update_open(in, fn, ctx, now_us, &open_paths);

    /* new incidents: the overall ones, then paths while slots are free */
    nfresh = 0;

    for (i = 0; i < in->ngroups; i++) {
        g = &in->groups[i];

        if (g->open || g->silenced) {
            continue;
        }

        if (!g->top.overall) {
            in->fresh[nfresh++] = g;
            continue;
        }

        if (incident_open(in, g) != 0) {
            rc = -1;
            continue;
        }

        event_of(&ev, &in->inc[in->ninc - 1], PS_INCIDENT_FIRED, now_us);
        emit(fn, ctx, &ev);
        in->st.fired++;
    }

    qsort(in->fresh, nfresh, sizeof(group_t *), fresh_cmp);

    folded = 0;
    folded_level = PS_ALERT_WARNING;

    for (i = 0; i < nfresh; i++) {
        g = in->fresh[i];

        /* while some are grouped, every new one joins them: slots that
         * free up as paths recover are not refilled one by one */
        if (open_paths >= in->max_paths || in->group_open) {
            folded++;
            folded_level = g->top.level > folded_level ? g->top.level
                                                       : folded_level;
            continue;
        }

        if (incident_open(in, g) != 0) {
            rc = -1;
            continue;
        }

        open_paths++;
        event_of(&ev, &in->inc[in->ninc - 1], PS_INCIDENT_FIRED, now_us);
        emit(fn, ctx, &ev);
        in->st.fired++;
    }

    /* the grouped incident */
    if (folded > 0 && !in->group_open) {
        in->group_open = 1;
        in->group_id = in->next_id++;
        in->group_level = folded_level;
        in->group_since_us = now_us;
    }

    if ((folded > 0 && in->group_paths == 0)
        || (folded == 0 && in->group_open))
    {
        memset(&ev, 0, sizeof(ev));
        ev.event = folded ? PS_INCIDENT_FIRED : PS_INCIDENT_RESOLVED;
        ev.id = in->group_id;
        ev.scope = "paths";
        ev.metric = -1;
        ev.level = in->group_level;
        ev.previous_level = -1;
        ev.value = (double) (folded ? folded : in->group_paths);
        ev.since_us = in->group_since_us;
        ev.at_us = now_us;
        emit(fn, ctx, &ev);

        if (folded) {
            in->st.fired++;
        } else {
            in->st.resolved++;
            in->group_open = 0;
        }
    }

    in->group_paths = folded;

    /* what became of each alert */
    for (i = 0; i < in->ngroups; i++) {
        g = &in->groups[i];
        ps_alerts_set_notice(a, g->top.index,
                             g->silenced ? "silenced"
                             : g->open ? "sent" : "grouped");
        if (g->has_lower) {
            ps_alerts_set_notice(a, g->lower, "superseded");
        }
    }

    in->st.open = in->ninc + (in->group_open ? 1 : 0);
    in->st.grouped = folded;

    return rc;
}


void
ps_incidents_stats(const ps_incidents_t *in, ps_incidents_stats_t *st)
{
    *st = in->st;
}
