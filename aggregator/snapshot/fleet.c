/*
 * The fleet thread: see fleet.h.
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/hour.h"
#include "lib/json_escape.h"
#include "lib/log.h"
#include "lib/thread.h"
#include "snapshot/fleet.h"
#include "snapshot/prom_text.h"
#include "snapshot/render.h"
#include "snapshot/rows.h"
#include "snapshot/scope_pack.h"

#define CLOSED_RELOAD_US  (300 * 1000000ULL)   /* closed hours, at most */

enum { NODE_OK = 0, NODE_STALE, NODE_GONE };

static const char  *state_names[] = { "ok", "stale", "gone" };

struct ps_fleet_s {
    const ps_config_t  *cfg;
    pthread_t           thread;
    pthread_mutex_t     mu;
    pthread_cond_t      cv;
    int                 stop;

    /* from the writer, under mu */
    ps_buf_t            view;
    ps_fleet_beat_t     beat;
    ps_buf_t            trends[PS_SNAP_RANGES];
    int                 offered;
    uint64_t            next_due_us;
    size_t              budget;         /* bytes the scopes may take */

    /* for the writer, under mu */
    ps_buf_t            out_scopes, out_nodes, out_metrics;
    uint64_t            out_version, taken;

    /* the thread's own */
    ps_fleet_pg_t      *pg;
    ps_fleet_table_t   *table;
    int64_t             closed_hour;
    uint64_t            closed_at_us;
    int                 shrink_logged;
};


/* one node's state by its heartbeat's age */
static int
node_state(const ps_config_t *cfg, uint64_t age_ms)
{
    return age_ms >= cfg->node_gone_ms ? NODE_GONE
           : age_ms >= cfg->node_stale_ms ? NODE_STALE : NODE_OK;
}


/* /api/nodes and the metrics lines; counts per state in count[] */
static int
render_nodes(ps_fleet_t *f, const ps_fleet_node_t *nodes, size_t n,
    ps_buf_t *json, ps_buf_t *prom, size_t *count)
{
    const ps_fleet_node_t  *nd;
    size_t                  i;
    int                     st;

    count[NODE_OK] = count[NODE_STALE] = count[NODE_GONE] = 0;

    if (ps_buf_putc(json, '[') != 0
        || ps_buf_puts(prom, "# HELP pathstats_fleet_node_up 1 while the "
                       "node's heartbeat is fresh, 0 when it is stale or "
                       "gone.\n# TYPE pathstats_fleet_node_up gauge\n") != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        nd = &nodes[i];
        st = node_state(f->cfg, nd->age_ms);
        count[st]++;

        if ((i && ps_buf_putc(json, ',') != 0)
            || ps_buf_puts(json, "{\"node\":") != 0
            || ps_json_quote(json, nd->node_id, strlen(nd->node_id)) != 0
            || ps_buf_printf(json, ",\"self\":%s,\"state\":\"%s\","
                             "\"version\":",
                             strcmp(nd->node_id, f->cfg->node_id) == 0
                             ? "true" : "false", state_names[st]) != 0
            || ps_json_quote(json, nd->version, strlen(nd->version)) != 0
            || ps_buf_printf(json, ",\"zone_generation\":%llu,"
                             "\"heartbeat_at\":",
                             (unsigned long long) nd->zone_generation) != 0
            || ps_render_iso(json, nd->heartbeat_us) != 0
            || ps_buf_printf(json, ",\"heartbeat_age_seconds\":%llu.%03llu,"
                             "\"last_flush_at\":",
                             (unsigned long long) nd->age_ms / 1000,
                             (unsigned long long) nd->age_ms % 1000) != 0
            || ps_render_iso(json, nd->last_flush_us) != 0
            || ps_buf_printf(json, ",\"lag_records\":%llu,\"requests\":"
                             "{\"1m\":%llu,\"1h\":%llu,\"24h\":%llu}}",
                             (unsigned long long) nd->lag_records,
                             (unsigned long long) nd->requests[0],
                             (unsigned long long) nd->requests[1],
                             (unsigned long long) nd->requests[2]) != 0
            || ps_buf_puts(prom, "pathstats_fleet_node_up{node=\"") != 0
            || ps_metrics_label_escape(prom, nd->node_id,
                                       strlen(nd->node_id)) != 0
            || ps_buf_printf(prom, "\",state=\"%s\"} %d\n", state_names[st],
                             st == NODE_OK) != 0)
        {
            return -1;
        }
    }

    if (ps_buf_putc(json, ']') != 0
        || ps_buf_puts(prom, "# HELP pathstats_fleet_node_heartbeat_age_"
                       "seconds Age of each node's last heartbeat in "
                       "PostgreSQL.\n# TYPE pathstats_fleet_node_heartbeat_"
                       "age_seconds gauge\n") != 0)
    {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (ps_buf_puts(prom, "pathstats_fleet_node_heartbeat_age_seconds"
                        "{node=\"") != 0
            || ps_metrics_label_escape(prom, nodes[i].node_id,
                                       strlen(nodes[i].node_id)) != 0
            || ps_buf_printf(prom, "\"} %llu.%03llu\n",
                             (unsigned long long) nodes[i].age_ms / 1000,
                             (unsigned long long) nodes[i].age_ms % 1000)
               != 0)
        {
            return -1;
        }
    }

    return ps_buf_printf(prom, "# HELP pathstats_fleet_nodes Nodes by "
                         "state.\n# TYPE pathstats_fleet_nodes gauge\n"
                         "pathstats_fleet_nodes{state=\"ok\"} %zu\n"
                         "pathstats_fleet_nodes{state=\"stale\"} %zu\n"
                         "pathstats_fleet_nodes{state=\"gone\"} %zu\n",
                         count[NODE_OK], count[NODE_STALE],
                         count[NODE_GONE]);
}


/* the fleet's health array: every stale node */
static int
render_health(ps_fleet_t *f, const ps_fleet_node_t *nodes, size_t n,
    ps_buf_t *b)
{
    ps_buf_t  msg = PS_BUF_INIT;
    size_t    i, k = 0;
    int       rc = 0;

    rc |= ps_buf_putc(b, '[');

    for (i = 0; i < n && rc == 0; i++) {
        if (node_state(f->cfg, nodes[i].age_ms) != NODE_STALE) {
            continue;
        }
        ps_buf_reset(&msg);
        rc |= ps_buf_printf(&msg, "node %s is stale: no heartbeat for "
                            "%llu.%03llu s", nodes[i].node_id,
                            (unsigned long long) nodes[i].age_ms / 1000,
                            (unsigned long long) nodes[i].age_ms % 1000);
        rc |= (k++ ? ps_buf_putc(b, ',') : 0);
        rc |= ps_json_quote(b, msg.data, msg.len);
    }

    rc |= ps_buf_putc(b, ']');
    ps_buf_free(&msg);

    return rc ? -1 : 0;
}


/* the fleet's summary: 24h from the rows, 1m and 1h from the beats */
static int
render_summary(const ps_rowset_t *rs, const ps_fleet_node_t *nodes,
    size_t n, const size_t *count, const ps_buf_t *health, uint64_t now_us,
    const char *self, ps_buf_t *b)
{
    uint64_t  req[2] = { 0, 0 };
    size_t    i;

    for (i = 0; i < n; i++) {
        req[0] += nodes[i].requests[0];
        req[1] += nodes[i].requests[1];
    }

    return ps_buf_puts(b, "{\"scope\":\"fleet\",\"generated_at\":") != 0
           || ps_render_iso(b, now_us) != 0
           || ps_buf_puts(b, ",\"built_by\":") != 0
           || ps_json_quote(b, self, strlen(self)) != 0
           || ps_buf_printf(b, ",\"nodes\":{\"total\":%zu,\"ok\":%zu,"
                            "\"stale\":%zu,\"gone\":%zu},\"windows\":{"
                            "\"1m\":{\"requests\":%llu,\"source\":"
                            "\"heartbeats\"},\"1h\":{\"requests\":%llu,"
                            "\"source\":\"heartbeats\"},", n,
                            count[NODE_OK], count[NODE_STALE],
                            count[NODE_GONE], (unsigned long long) req[0],
                            (unsigned long long) req[1]) != 0
           || ps_render_window_summary(&rs->total, (int64_t) rs->total_rows,
                                       PS_SNAP_WIN_24H, b) != 0
           || ps_buf_puts(b, "},\"health\":") != 0
           || ps_buf_append(b, health->data, health->len) != 0
           || ps_buf_putc(b, '}') != 0 ? -1 : 0;
}


/*
 * The fleet's own view, built here from every node's rows: the closed
 * hours now and then, the last two always; in->rows[24H] fleet_rows.
 * in and rs stay in use by the caller (a cut rebuilds from them).  0 or
 * -1.
 */
static int
build_fleet(ps_fleet_t *f, const ps_fleet_node_t *nodes, size_t n,
    const size_t *count, const ps_buf_t *trends, uint64_t seq,
    uint64_t now_us, ps_rowset_t *rs, ps_scope_pack_in_t *in,
    ps_buf_t *health, ps_buf_t *summary, ps_buf_t *fleet)
{
    int64_t  hour;

    hour = ps_hour_of((int64_t) now_us);

    if (hour != f->closed_hour || now_us - f->closed_at_us
                                  > CLOSED_RELOAD_US)
    {
        ps_fleet_table_reset(f->table, PS_FLEET_CLOSED);
        if (ps_fleet_pg_rows(f->pg, f->table, PS_FLEET_CLOSED,
                             hour - 23 * 3600, hour - 3600) != 0)
        {
            f->closed_hour = 0;
            return -1;
        }
        f->closed_hour = hour;
        f->closed_at_us = now_us;
    }

    ps_fleet_table_reset(f->table, PS_FLEET_LIVE);
    if (ps_fleet_pg_rows(f->pg, f->table, PS_FLEET_LIVE, hour - 3600, 0)
        != 0)
    {
        return -1;
    }

    if (ps_rowset_collect_from(rs, ps_fleet_table_foreach, f->table,
                               f->cfg->fleet_rows, NULL, NULL) != 0
        || render_summary(rs, nodes, n, count, health, now_us,
                          f->cfg->node_id, summary) != 0)
    {
        return -1;
    }

    memset(in, 0, sizeof(*in));
    in->kind = PS_SNAP_SCOPE_FLEET;
    in->meta = "\"scope\":\"fleet\"";
    in->win[PS_SNAP_WIN_24H] = rs;
    in->rows[PS_SNAP_WIN_24H] = f->cfg->fleet_rows;
    in->summary = summary->data;
    in->summary_len = summary->len;
    in->health = health->data;
    in->health_len = health->len;
    in->trends = trends;
    in->generated_us = now_us;
    in->heartbeat_us = now_us;
    in->sequence = seq;
    in->ok = count[NODE_STALE] == 0;

    return ps_scope_pack_build(in, fleet);
}


/* 1 when buf[0..len) is a fleet's scope pack, as the admin location will
 * check it; sv is scratch. */
static int
is_pack_of(const void *buf, size_t len, uint32_t kind, const char *node,
    ps_snap_view_t *sv)
{
    return ps_snap_validate(buf, len, sv) == NULL && sv->has_scope
           && sv->scope.kind == kind
           && (node == NULL
               || (sv->scope.node.len == strlen(node)
                   && memcmp(sv->blob + sv->scope.node.off, node,
                             sv->scope.node.len) == 0));
}


/*
 * One round; the result goes to f->out_*.  The fleet's view comes from
 * the node that builds it (ps_fleet_pg_lead()) when it is young and fits
 * this node's budget; else, and on the builder itself, it is built here
 * from the rows.
 */
static void
fleet_round(ps_fleet_t *f, ps_buf_t *view, ps_fleet_beat_t *beat,
    int offered, ps_buf_t *trends, uint64_t seq, size_t budget)
{
    ps_fleet_node_t  *nodes = NULL;
    ps_rowset_t       rs;
    ps_scope_pack_in_t  in;
    ps_snap_view_t   *sv = NULL;
    ps_buf_t          packs[PS_SNAP_MAX_SCOPES];
    ps_buf_t          json = PS_BUF_INIT, prom = PS_BUF_INIT;
    ps_buf_t          health = PS_BUF_INIT, summary = PS_BUF_INIT;
    ps_buf_t          fleet = PS_BUF_INIT, scopes = PS_BUF_INIT;
    size_t            n = 0, i, np, count[3], rows, want;
    int               cut, lead, got;
    uint64_t          now_us;
    int               st;
    char              by[PS_FLEET_NODE_ID_MAX + 1];

    ps_rowset_init(&rs);
    memset(packs, 0, sizeof(packs));
    memset(&in, 0, sizeof(in));
    now_us = ps_now_us();

    if (offered) {
        beat->view = view->data;
        beat->view_len = view->len;
        (void) ps_fleet_pg_beat(f->pg, beat);
    }

    if (ps_fleet_pg_nodes(f->pg, f->cfg->node_id, f->cfg->node_gone_ms,
                          &nodes, &n) != 0)
    {
        goto done;
    }

    sv = malloc(sizeof(*sv));
    if (sv == NULL
        || render_nodes(f, nodes, n, &json, &prom, count) != 0
        || render_health(f, nodes, n, &health) != 0)
    {
        goto done;
    }

    /* the builder's view, if another node builds it */
    lead = ps_fleet_pg_lead(f->pg, f->cfg->node_id);
    if (lead < 0) {
        goto done;
    }

    got = 0;
    if (lead == 0) {
        got = ps_fleet_pg_get_view(f->pg, f->cfg->node_id,
                                   f->cfg->node_stale_ms, &fleet, by,
                                   sizeof(by));
        if (got < 0) {
            goto done;
        }
        if (got == 1
            && !is_pack_of(fleet.data, fleet.len, PS_SNAP_SCOPE_FLEET, NULL,
                           sv))
        {
            got = 0;
        }
    }

    if (!got) {
        if (build_fleet(f, nodes, n, count, trends, seq, now_us, &rs, &in,
                        &health, &summary, &fleet) != 0)
        {
            goto done;
        }
    }

    /* the other nodes' own views, checked as the admin location will */
    np = 1;
    for (i = 0; i < n && np < PS_SNAP_MAX_SCOPES - 1; i++) {
        st = node_state(f->cfg, nodes[i].age_ms);
        if (nodes[i].view == NULL || st == NODE_GONE
            || !is_pack_of(nodes[i].view, nodes[i].view_len,
                           PS_SNAP_SCOPE_NODE, nodes[i].node_id, sv))
        {
            continue;
        }
        (void) ps_scope_pack_set_flags(nodes[i].view, nodes[i].view_len,
                                       st == NODE_STALE
                                       ? PS_SNAP_SCOPE_F_STALE : 0);
        packs[np].data = nodes[i].view;
        packs[np].len = nodes[i].view_len;
        np++;
    }

    /*
     * The scopes ride in this node's snapshot, whose buffer is fixed by
     * the zone: past the budget the fleet's rows are cut (the least
     * requested first) until they fit, then the other nodes' views go.
     * The builder's view cannot be cut here: the other nodes' views go
     * first (the builder cut its view to fit its own budget with them),
     * and one that does not fit alone is built here instead.
     */
    packs[0] = fleet;
    if (ps_scope_pack_nest(packs, np, &scopes) != 0) {
        goto done;
    }

    while (got && budget != 0 && scopes.len > budget && np > 1) {
        np--;
        if (ps_scope_pack_nest(packs, np, &scopes) != 0) {
            goto done;
        }
        if (scopes.len <= budget && !f->shrink_logged) {
            ps_log(PS_LOG_WARN, "event=fleet_view_shrunk size=%zu "
                   "budget=%zu node_views=%zu built_by=%s",
                   scopes.len, budget, np - 1, by);
            f->shrink_logged = 1;
        }
    }

    if (got && budget != 0 && scopes.len > budget) {
        if (build_fleet(f, nodes, n, count, trends, seq, now_us, &rs, &in,
                        &health, &summary, &fleet) != 0)
        {
            goto done;
        }
        got = 0;
    }

    rows = in.rows[PS_SNAP_WIN_24H];
    cut = 0;

    while (!got && budget != 0) {
        packs[0] = fleet;
        if (ps_scope_pack_nest(packs, np, &scopes) != 0) {
            goto done;
        }
        if (scopes.len <= budget) {
            break;
        }
        cut = 1;
        if (rows == 0) {
            if (np == 1) {
                break;                  /* the snapshot omits them */
            }
            np = 1;
            continue;
        }
        want = (size_t) ((double) rows * 0.9 * (double) budget
                         / (double) scopes.len);
        rows = want < rows ? want : rows / 2;
        in.rows[PS_SNAP_WIN_24H] = rows;
        if (ps_scope_pack_build(&in, &fleet) != 0) {
            goto done;
        }
    }

    /* the builder stores its view as it fits its own snapshot: another
     * node with the same budget (the same zone size) takes it whole */
    if (lead == 1 && !got) {
        (void) ps_fleet_pg_put_view(f->pg, f->cfg->node_id,
                                    rs.n < rows ? rs.n : rows,
                                    fleet.data, fleet.len);
    }

    if (cut && !f->shrink_logged) {
        ps_log(PS_LOG_WARN, "event=fleet_view_shrunk size=%zu budget=%zu "
               "fleet_rows=%zu node_views=%zu", scopes.len, budget, rows,
               np - 1);
        f->shrink_logged = 1;
    }

    pthread_mutex_lock(&f->mu);
    ps_buf_reset(&f->out_scopes);
    ps_buf_reset(&f->out_nodes);
    ps_buf_reset(&f->out_metrics);
    if (ps_buf_append(&f->out_scopes, scopes.data, scopes.len) == 0
        && ps_buf_append(&f->out_nodes, json.data, json.len) == 0
        && ps_buf_append(&f->out_metrics, prom.data, prom.len) == 0)
    {
        f->out_version++;
    }
    pthread_mutex_unlock(&f->mu);

done:

    free(sv);
    ps_fleet_pg_free_nodes(nodes, n);
    ps_rowset_free(&rs);
    ps_buf_free(&json);
    ps_buf_free(&prom);
    ps_buf_free(&health);
    ps_buf_free(&summary);
    ps_buf_free(&fleet);
    ps_buf_free(&scopes);
}


/*
 * The time from one round's end to the next's start: fleet_interval, or
 * four times the round when that is longer (with very many keys the
 * builder reads every row of the live hour back, which costs PostgreSQL
 * and this process a core for a while: at most a fifth of it, as the
 * snapshot), but at most a third of node_stale, so that the heartbeat
 * keeps the node fresh.
 */
uint64_t
ps_fleet_wait_us(const ps_config_t *cfg, uint64_t took_us)
{
    uint64_t  interval, wait, most;

    interval = cfg->fleet_interval_ms * 1000;
    most = cfg->node_stale_ms * 1000 / 3;
    if (most < interval) {
        most = interval;
    }

    wait = took_us > interval / 4 ? 4 * took_us : interval;

    return wait < most ? wait : most;
}


static void *
fleet_main(void *arg)
{
    ps_fleet_t       *f = arg;
    ps_buf_t          view = PS_BUF_INIT;
    ps_buf_t          trends[PS_SNAP_RANGES];
    ps_fleet_beat_t   beat;
    struct timespec   ts;
    uint64_t          seq = 0, wait_us, t0, took;
    size_t            budget;
    int               offered, r;

    ps_thread_background("ps-fleet");

    memset(trends, 0, sizeof(trends));
    memset(&beat, 0, sizeof(beat));

    pthread_mutex_lock(&f->mu);

    while (!f->stop) {
        /* what the writer offered, copied out of the lock */
        offered = f->offered;
        ps_buf_reset(&view);
        (void) ps_buf_append(&view, f->view.data, f->view.len);
        beat = f->beat;
        budget = f->budget;
        for (r = 0; r < PS_SNAP_RANGES; r++) {
            ps_buf_reset(&trends[r]);
            if (f->trends[r].len) {
                (void) ps_buf_append(&trends[r], f->trends[r].data,
                                     f->trends[r].len);
            } else {
                (void) ps_buf_puts(&trends[r], "[]");
            }
        }
        pthread_mutex_unlock(&f->mu);

        t0 = ps_mono_us();
        fleet_round(f, &view, &beat, offered, trends, ++seq, budget);
        took = ps_mono_us() - t0;

        pthread_mutex_lock(&f->mu);
        if (f->stop) {
            break;
        }

        wait_us = ps_fleet_wait_us(f->cfg, took);
        ps_log(PS_LOG_DEBUG, "event=fleet_round took_ms=%.1f "
               "next_in_ms=%llu", (double) took / 1000.0,
               (unsigned long long) wait_us / 1000);
        ps_clock_after(CLOCK_REALTIME, wait_us, &ts);
        (void) pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }

    pthread_mutex_unlock(&f->mu);

    ps_buf_free(&view);
    for (r = 0; r < PS_SNAP_RANGES; r++) {
        ps_buf_free(&trends[r]);
    }

    return NULL;
}


ps_fleet_t *
ps_fleet_start(const ps_config_t *cfg)
{
    ps_fleet_t  *f;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        goto fail;
    }

    f->cfg = cfg;
    f->pg = ps_fleet_pg_create(cfg->postgres);
    f->table = ps_fleet_table_create();
    if (f->pg == NULL || f->table == NULL) {
        goto fail;
    }

    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);

    if (pthread_create(&f->thread, NULL, fleet_main, f) != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        goto fail;
    }

    return f;

fail:

    ps_log(PS_LOG_ERROR, "event=fleet_start_failed");
    if (f != NULL) {
        ps_fleet_pg_destroy(f->pg);
        ps_fleet_table_destroy(f->table);
        free(f);
    }
    return NULL;
}


void
ps_fleet_stop(ps_fleet_t *f)
{
    int  r;

    if (f == NULL) {
        return;
    }

    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);

    pthread_join(f->thread, NULL);

    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);

    ps_fleet_pg_destroy(f->pg);
    ps_fleet_table_destroy(f->table);
    ps_buf_free(&f->view);
    for (r = 0; r < PS_SNAP_RANGES; r++) {
        ps_buf_free(&f->trends[r]);
    }
    ps_buf_free(&f->out_scopes);
    ps_buf_free(&f->out_nodes);
    ps_buf_free(&f->out_metrics);
    free(f);
}


int
ps_fleet_due(ps_fleet_t *f, uint64_t now_us)
{
    if (now_us < f->next_due_us) {
        return 0;
    }

    /* the writer's own clock: only it reads and sets next_due_us */
    f->next_due_us = now_us + f->cfg->fleet_interval_ms * 1000;
    return 1;
}


int
ps_fleet_offer(ps_fleet_t *f, const ps_buf_t *view,
    const ps_fleet_beat_t *beat, const ps_buf_t *trends, size_t budget)
{
    int  r, rc = 0;

    pthread_mutex_lock(&f->mu);

    ps_buf_reset(&f->view);
    rc |= ps_buf_append(&f->view, view->data, view->len);
    f->beat = *beat;
    f->beat.view = NULL;
    f->beat.view_len = 0;
    f->budget = budget;

    for (r = 0; r < PS_SNAP_RANGES; r++) {
        ps_buf_reset(&f->trends[r]);
        rc |= ps_buf_append(&f->trends[r], trends[r].data, trends[r].len);
    }

    f->offered = (rc == 0);
    pthread_mutex_unlock(&f->mu);

    return rc ? -1 : 0;
}


int
ps_fleet_take(ps_fleet_t *f, ps_buf_t *scopes, ps_buf_t *nodes,
    ps_buf_t *metrics)
{
    int  rc = 0;

    pthread_mutex_lock(&f->mu);

    if (f->out_version != f->taken) {
        ps_buf_reset(scopes);
        ps_buf_reset(nodes);
        ps_buf_reset(metrics);
        if (ps_buf_append(scopes, f->out_scopes.data, f->out_scopes.len) != 0
            || ps_buf_append(nodes, f->out_nodes.data, f->out_nodes.len)
               != 0
            || ps_buf_append(metrics, f->out_metrics.data,
                             f->out_metrics.len) != 0)
        {
            rc = -1;
        } else {
            f->taken = f->out_version;
            rc = 1;
        }
    }

    pthread_mutex_unlock(&f->mu);

    return rc;
}
