
/*
 * pathstats: the admin location.
 *
 * "pathstats_admin" serves the JSON API, the Prometheus metrics, the
 * health check and the page from the snapshot that the aggregator
 * publishes into the zone file (include/pathstats_snapshot.h).  A worker
 * copies the snapshot into private memory under its sequence lock,
 * validates the copy, and answers from it: it never waits on the
 * aggregator and never trusts an offset it has not checked.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pathstats_dashboard.h"
#include "ngx_http_pathstats_module.h"
#include "pathstats_snapshot.h"


#define NGX_HTTP_PATHSTATS_STALE           10000
#define NGX_HTTP_PATHSTATS_SNAP_TRIES      3
#define NGX_HTTP_PATHSTATS_LIMIT_DEFAULT   50
#define NGX_HTTP_PATHSTATS_LIMIT_MAX       200
#define NGX_HTTP_PATHSTATS_FILTER_MAX      512
#define NGX_HTTP_PATHSTATS_PATH_SCAN       1024
#define NGX_HTTP_PATHSTATS_META_LEN        256
#define NGX_HTTP_PATHSTATS_REASON_LEN      256
#define NGX_HTTP_PATHSTATS_NONE            ((ngx_uint_t) -1)
#define NGX_HTTP_PATHSTATS_NODE_MAX        64

#define ngx_http_pathstats_space(c)                                          \
    ((c) == ' ' || (c) == '\n' || (c) == '\t' || (c) == '\r')


typedef struct {
    ngx_msec_t                   stale;         /* pathstats_admin_stale */
} ngx_http_pathstats_admin_loc_conf_t;


/* a worker's private copy of the latest snapshot */
typedef struct {
    u_char                      *buf;           /* 8-byte aligned */
    size_t                       size;
    u_char                      *scratch;       /* the next copy goes here */
    size_t                       scratch_size;
    uint64_t                     version;       /* of buf, 0: none */
    ps_snap_view_t               views[PS_SNAP_MAX_SCOPES];
                                                /* into buf: this node's
                                                   view, then the fleet's
                                                   and other nodes' */
    uint32_t                     nviews;
    const char                  *invalid;       /* why buf is unusable */
    uint64_t                     logged;        /* version logged invalid */
} ngx_http_pathstats_snap_cache_t;


/* what one admin request knows about the snapshot and the aggregator */
typedef struct {
    ps_zone_header_t            *header;        /* NULL: no zone */
    ps_snap_view_t              *view;          /* NULL: nothing to serve;
                                                   the scope asked for */
    ps_snap_view_t              *views;         /* every scope's view */
    uint32_t                     nviews;
    const char                  *reason;        /* why view is NULL */
    ngx_uint_t                   scope_status;  /* a bad scope or node: */
    const char                  *scope_error;   /* the error answer */
    const char                  *scope_param;
    const char                  *scope_message;
    ngx_uint_t                   invalid;       /* it failed validation */
    ngx_uint_t                   stale;
    uint64_t                     now_ms;
    uint64_t                     generated_ms;
    uint64_t                     age_ms;
    uint64_t                     heartbeat_us;
    ngx_msec_t                   stale_ms;
} ngx_http_pathstats_admin_ctx_t;


/* the arguments of /api/paths, checked */
typedef struct {
    ngx_uint_t                   window;        /* PS_SNAP_WIN_* */
    ngx_uint_t                   sort;          /* PS_SNAP_SORT_* */
    ngx_uint_t                   asc;
    ngx_int_t                    page;
    ngx_int_t                    limit;
    ngx_str_t                    q;
    ngx_str_t                    host;
    ngx_str_t                    method;
    const char                  *invalid;       /* the bad one's name */
    const char                  *message;       /* and what is wrong */
} ngx_http_pathstats_paths_args_t;


/* one page of /api/paths: row indexes into the window's rows */
typedef struct {
    uint32_t                    *rows;
    uint32_t                     found;         /* rows on the page */
    uint64_t                     total;         /* rows that match */
    size_t                       len;           /* JSON bytes of the page */
} ngx_http_pathstats_paths_page_t;


typedef ngx_int_t (*ngx_http_pathstats_endpoint_pt)(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);


typedef struct {
    ngx_str_t                        name;  /* after the location prefix */
    ngx_http_pathstats_endpoint_pt   handler;
} ngx_http_pathstats_endpoint_t;


/* the bytes a view's scope adds to the metadata: a comma and its JSON */
#define ngx_http_pathstats_scope_meta_len(v)                                 \
    ((v)->has_scope ? (size_t) (v)->scope.meta.len + 1 : 0)


static ngx_int_t ngx_http_pathstats_admin_handler(ngx_http_request_t *r);
static u_char *ngx_http_pathstats_admin_tail(u_char *p, u_char *last);
static void ngx_http_pathstats_admin_ctx_init(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ps_snap_view_t *ngx_http_pathstats_admin_snapshot(
    ngx_http_request_t *r, ngx_http_pathstats_main_conf_t *pmcf,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_scope(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static void ngx_http_pathstats_admin_use(ngx_http_pathstats_admin_ctx_t *ctx,
    ps_snap_view_t *v);
static ngx_int_t ngx_http_pathstats_admin_nodes(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_paths(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_paths_args(ngx_http_request_t *r,
    ngx_http_pathstats_paths_args_t *args);
static ngx_int_t ngx_http_pathstats_admin_select(ngx_http_request_t *r,
    ps_snap_view_t *v, ngx_http_pathstats_paths_args_t *args,
    ngx_http_pathstats_paths_page_t *page);
static ngx_int_t ngx_http_pathstats_admin_render_page(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx,
    ngx_http_pathstats_paths_args_t *args,
    ngx_http_pathstats_paths_page_t *page);
static ngx_uint_t ngx_http_pathstats_admin_match(ps_snap_view_t *v,
    const ps_snap_row_t *row, ngx_http_pathstats_paths_args_t *args);
static ngx_int_t ngx_http_pathstats_admin_arg(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_uint_t ngx_http_pathstats_admin_lookup(ngx_str_t *value,
    ngx_str_t *names);
static ngx_int_t ngx_http_pathstats_admin_summary(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_trends(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_wrap(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx, ps_snap_ref_t *ref,
    ngx_str_t *range);
static u_char *ngx_http_pathstats_admin_meta(u_char *p,
    ngx_http_pathstats_admin_ctx_t *ctx);
static u_char *ngx_http_pathstats_admin_iso(u_char *p, uint64_t ms);
static ngx_int_t ngx_http_pathstats_admin_metrics(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_health(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_unavailable(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *parameter,
    const char *message);
static ngx_int_t ngx_http_pathstats_admin_redirect(ngx_http_request_t *r);
static ngx_int_t ngx_http_pathstats_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_buf_t *b);

static void *ngx_http_pathstats_admin_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pathstats_admin_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_pathstats_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_pathstats_admin_commands[] = {

    { ngx_string("pathstats_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pathstats_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pathstats_admin_stale"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pathstats_admin_loc_conf_t, stale),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pathstats_admin_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pathstats_admin_create_loc_conf, /* create location
                                                 configuration */
    ngx_http_pathstats_admin_merge_loc_conf   /* merge location
                                                 configuration */
};


ngx_module_t  ngx_http_pathstats_admin_module = {
    NGX_MODULE_V1,
    &ngx_http_pathstats_admin_module_ctx,  /* module context */
    ngx_http_pathstats_admin_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_pathstats_endpoint_t  ngx_http_pathstats_endpoints[] = {
    { ngx_string("api/paths"), ngx_http_pathstats_admin_paths },
    { ngx_string("api/summary"), ngx_http_pathstats_admin_summary },
    { ngx_string("api/trends"), ngx_http_pathstats_admin_trends },
    { ngx_string("api/nodes"), ngx_http_pathstats_admin_nodes },
    { ngx_string("metrics"), ngx_http_pathstats_admin_metrics },
    { ngx_string("health"), ngx_http_pathstats_admin_health },
    { ngx_null_string, NULL }
};


static ngx_str_t  ngx_http_pathstats_windows[] = {   /* PS_SNAP_WIN_* */
    ngx_string("1m"),
    ngx_string("1h"),
    ngx_string("24h"),
    ngx_null_string
};


static ngx_str_t  ngx_http_pathstats_sorts[] = {     /* PS_SNAP_SORT_* */
    ngx_string("requests"),
    ngx_string("errors"),
    ngx_string("error_rate"),
    ngx_string("p95"),
    ngx_string("bytes"),
    ngx_string("last_seen"),
    ngx_null_string
};


static ngx_str_t  ngx_http_pathstats_ranges[] = {    /* PS_SNAP_RANGE_* */
    ngx_string("24h"),
    ngx_string("7d"),
    ngx_string("30d"),
    ngx_null_string
};


static ngx_str_t  ngx_http_pathstats_type_json =
    ngx_string("application/json");
static ngx_str_t  ngx_http_pathstats_type_metrics =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


/* what the module adds to the aggregator's metrics */

static char  ngx_http_pathstats_own_metrics[] =
    "# HELP pathstats_snapshot_age_seconds Age of the snapshot served "
    "by this nginx worker.\n"
    "# TYPE pathstats_snapshot_age_seconds gauge\n"
    "pathstats_snapshot_age_seconds %uL.%03uL\n"
    "# HELP pathstats_snapshot_stale 1 when the snapshot is older than "
    "pathstats_admin_stale.\n"
    "# TYPE pathstats_snapshot_stale gauge\n"
    "pathstats_snapshot_stale %ui\n"
    "# HELP pathstats_aggregator_heartbeat_age_seconds Time since the "
    "aggregator's last loop iteration.\n"
    "# TYPE pathstats_aggregator_heartbeat_age_seconds gauge\n"
    "pathstats_aggregator_heartbeat_age_seconds %uL.%03uL\n";


/* worker-local: every worker keeps its own copy */
static ngx_http_pathstats_snap_cache_t  ngx_http_pathstats_snap;


/*
 * The admin location.  Every answer is built from a worker-private copy
 * of the latest snapshot: the shared buffer is read only by the copy,
 * under its sequence lock, and the copy is validated before anything is
 * served from it (include/pathstats_snapshot.h).  A request never waits
 * for the aggregator: a buffer that is being rewritten is retried a few
 * times, then the previous copy is served.
 */

static ngx_int_t
ngx_http_pathstats_admin_handler(ngx_http_request_t *r)
{
    u_char                          *p, *last;
    ngx_int_t                        rc;
    ngx_str_t                        rest;
    ngx_table_elt_t                 *allow;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_pathstats_endpoint_t   *ep;
    ngx_http_pathstats_admin_ctx_t   ctx;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        allow = ngx_list_push(&r->headers_out.headers);
        if (allow == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        allow->hash = 1;
        ngx_str_set(&allow->key, "Allow");
        ngx_str_set(&allow->value, "GET, HEAD");

        return ngx_http_pathstats_admin_error(r, NGX_HTTP_NOT_ALLOWED,
                                              "method not allowed", NULL,
                                              NULL);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the part of the URI after the location's prefix */

    p = r->uri.data;
    last = r->uri.data + r->uri.len;

#if (NGX_PCRE)
    if (clcf->regex == NULL
        && r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
#else
    if (r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
#endif
    {
        p += clcf->name.len;

    } else {
        /* a regex or named location: the endpoint is the URI's tail */
        p = ngx_http_pathstats_admin_tail(p, last);
    }

    while (p < last && *p == '/') {
        p++;
    }

    rest.data = p;
    rest.len = last - p;

    if (rest.len == 0) {

        if (r->uri.len == 0 || r->uri.data[r->uri.len - 1] != '/') {
            /* relative links of the page need the trailing slash */
            return ngx_http_pathstats_admin_redirect(r);
        }

        return ngx_http_pathstats_dashboard_handler(r, &rest);
    }

    for (ep = ngx_http_pathstats_endpoints; ep->name.len; ep++) {
        if (rest.len == ep->name.len
            && ngx_strncmp(rest.data, ep->name.data, rest.len) == 0)
        {
            ngx_http_pathstats_admin_ctx_init(r, &ctx);
            return ep->handler(r, &ctx);
        }
    }

    /* the dashboard's scripts and style sheet */

    rc = ngx_http_pathstats_dashboard_handler(r, &rest);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_pathstats_admin_error(r, NGX_HTTP_NOT_FOUND,
                                          "not found", NULL, NULL);
}


/* the URI's tail that names an endpoint, for locations without a prefix */

static u_char *
ngx_http_pathstats_admin_tail(u_char *p, u_char *last)
{
    size_t                          len;
    ngx_http_pathstats_endpoint_t  *ep;

    len = last - p;

    for (ep = ngx_http_pathstats_endpoints; ep->name.len; ep++) {
        if (len > ep->name.len
            && *(last - ep->name.len - 1) == '/'
            && ngx_strncmp(last - ep->name.len, ep->name.data,
                           ep->name.len) == 0)
        {
            return last - ep->name.len;
        }
    }

    p = ngx_http_pathstats_dashboard_tail(p, last);

    if (p != NULL) {
        return p;
    }

    p = last - len;

    /* anything else is the page, if it ends with a slash */

    if (len && last[-1] == '/') {
        return last;
    }

    return p;
}


static void
ngx_http_pathstats_admin_ctx_init(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    ngx_time_t                           *tp;
    ngx_http_pathstats_main_conf_t       *pmcf;
    ngx_http_pathstats_admin_loc_conf_t  *alcf;

    ngx_memzero(ctx, sizeof(ngx_http_pathstats_admin_ctx_t));

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pathstats_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_pathstats_admin_module);

    tp = ngx_timeofday();

    ctx->now_ms = (uint64_t) tp->sec * 1000 + tp->msec;
    ctx->stale_ms = alcf->stale;

    if (pmcf->base == NULL) {
        ctx->reason = "pathstats_zone is not configured";
        return;
    }

    ctx->header = (ps_zone_header_t *) pmcf->base;
    ctx->heartbeat_us = ps_load_acquire(&ctx->header->aggregator_heartbeat_us);

    ctx->view = ngx_http_pathstats_admin_snapshot(r, pmcf, ctx);

    if (ctx->view == NULL) {
        return;
    }

    ctx->views = ngx_http_pathstats_snap.views;
    ctx->nviews = ngx_http_pathstats_snap.nviews;

    ngx_http_pathstats_admin_use(ctx, ctx->view);
}


/* serve the view v: its age and staleness are the answer's */

static void
ngx_http_pathstats_admin_use(ngx_http_pathstats_admin_ctx_t *ctx,
    ps_snap_view_t *v)
{
    ctx->view = v;
    ctx->generated_ms = v->header->generated_us / 1000;
    ctx->age_ms = ctx->now_ms > ctx->generated_ms
                  ? ctx->now_ms - ctx->generated_ms : 0;
    ctx->stale = (ctx->age_ms > ctx->stale_ms);

    /* another node's view whose heartbeat stopped: stale, however young
     * the copy the fleet kept */
    if (v->has_scope && (v->scope.flags & PS_SNAP_SCOPE_F_STALE)) {
        ctx->stale = 1;
    }
}


/* notes the error answer of a bad scope or node; NGX_DECLINED */

static ngx_int_t
ngx_http_pathstats_scope_fail(ngx_http_pathstats_admin_ctx_t *ctx,
    ngx_uint_t status, const char *error, const char *param,
    const char *message)
{
    ctx->scope_status = status;
    ctx->scope_error = error;
    ctx->scope_param = param;
    ctx->scope_message = message;

    return NGX_DECLINED;
}


/*
 * "scope" (node, the default, or fleet) and "node" (a node's id): picks
 * the view an answer is made of, among those of the snapshot.  NGX_OK
 * (ctx->view is the view asked for, or NULL when there is no snapshot),
 * or NGX_DECLINED with the error answer to send noted in ctx.
 */

static ngx_int_t
ngx_http_pathstats_admin_scope(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    size_t           n;
    ngx_str_t        scope, node;
    ngx_uint_t       fleet, i;
    ps_snap_view_t  *v;

    fleet = 0;

    if (ngx_http_arg(r, (u_char *) "scope", 5, &scope) == NGX_OK) {
        if (scope.len == 5
            && ngx_strncmp(scope.data, "fleet", 5) == 0)
        {
            fleet = 1;

        } else if (!(scope.len == 4
                     && ngx_strncmp(scope.data, "node", 4) == 0))
        {
            return ngx_http_pathstats_scope_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "scope",
                                     "scope must be node or fleet");
        }
    }

    if (ngx_http_arg(r, (u_char *) "node", 4, &node) != NGX_OK) {
        node.len = 0;
    }

    if (node.len) {
        n = 0;

        while (n < node.len
               && ((node.data[n] >= 'a' && node.data[n] <= 'z')
                   || (node.data[n] >= 'A' && node.data[n] <= 'Z')
                   || (node.data[n] >= '0' && node.data[n] <= '9')
                   || node.data[n] == '.' || node.data[n] == '_'
                   || node.data[n] == '-'))
        {
            n++;
        }

        if (n != node.len || n > NGX_HTTP_PATHSTATS_NODE_MAX) {
            return ngx_http_pathstats_scope_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "node",
                                     "node must be 1 to 64 of "
                                     "A-Z a-z 0-9 . _ -");
        }

        if (fleet) {
            return ngx_http_pathstats_scope_fail(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "node",
                                     "node names one node: scope=node "
                                     "(the default), not fleet");
        }
    }

    if (ctx->view == NULL || (!fleet && node.len == 0)) {
        return NGX_OK;
    }

    for (i = 0; i < ctx->nviews; i++) {
        v = &ctx->views[i];

        if (!v->has_scope) {
            continue;
        }

        if (fleet) {
            if (v->scope.kind == PS_SNAP_SCOPE_FLEET) {
                ngx_http_pathstats_admin_use(ctx, v);
                return NGX_OK;
            }
            continue;
        }

        if (v->scope.kind == PS_SNAP_SCOPE_NODE
            && v->scope.node.len == node.len
            && ngx_strncmp(v->blob + v->scope.node.off, node.data,
                           node.len) == 0)
        {
            ngx_http_pathstats_admin_use(ctx, v);
            return NGX_OK;
        }
    }

    if (fleet) {
        return ngx_http_pathstats_scope_fail(ctx,
                                 NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "no fleet view in the snapshot", "scope",
                                 "the fleet's view needs the aggregator's "
                                 "PostgreSQL, and comes a few seconds "
                                 "after it starts");
    }

    return ngx_http_pathstats_scope_fail(ctx, NGX_HTTP_NOT_FOUND,
                             "unknown node", "node",
                             "no node of this id has a heartbeat in "
                             "PostgreSQL that is not gone (see "
                             "/api/nodes)");
}


/*
 * Returns the validated view of this worker's copy of the latest
 * snapshot, refreshing the copy if the aggregator published a newer one,
 * or NULL with a reason.
 */

static ps_snap_view_t *
ngx_http_pathstats_admin_snapshot(ngx_http_request_t *r,
    ngx_http_pathstats_main_conf_t *pmcf, ngx_http_pathstats_admin_ctx_t *ctx)
{
    u_char                           *tmp;
    size_t                            tmp_size;
    uint64_t                          version, seq, off, size, len;
    ngx_uint_t                        i, try;
    ps_snapshot_ctl_t                *ctl;
    ngx_http_pathstats_snap_cache_t  *c;

    c = &ngx_http_pathstats_snap;
    ctl = &((ps_zone_header_t *) pmcf->base)->snapshot;

    version = ps_load_acquire(&ctl->version);

    if (version == 0) {
        ctx->reason = "the aggregator has not published a snapshot";
        return NULL;
    }

    if (version == c->version) {
        goto done;
    }

    for (try = 0; try < NGX_HTTP_PATHSTATS_SNAP_TRIES; try++) {

        if (try) {
            /*
             * The newest version's buffer is the one the writer left
             * last, so it is the one least likely to be rewritten now.
             */
            version = ps_load_acquire(&ctl->version);

            if (version == c->version) {
                goto done;
            }
        }

        i = version % 2;

        /* the geometry is the aggregator's to write: checked too */

        off = ps_load_relaxed(&ctl->buf_off[i]);
        size = ps_load_relaxed(&ctl->buf_size);

        if (off > pmcf->mapped || size > pmcf->mapped - off) {
            ctx->reason = "buffer outside the zone file";
            ctx->invalid = 1;
            return NULL;
        }

        seq = ps_load_acquire(&ctl->buf_seq[i]);

        if (seq & 1) {
            continue;
        }

        len = ngx_min(ps_load_relaxed(&ctl->buf_len[i]), size);

        if (c->scratch_size < len || c->scratch == NULL) {
            tmp_size = ngx_max((size_t) len, (size_t) 4096);

            /* malloc() memory is aligned enough for the validator */
            tmp = ngx_alloc(tmp_size, r->connection->log);
            if (tmp == NULL) {
                ctx->reason = "out of memory for the snapshot copy";
                return NULL;
            }

            if (c->scratch) {
                ngx_free(c->scratch);
            }

            c->scratch = tmp;
            c->scratch_size = tmp_size;
        }

        ngx_memcpy(c->scratch, pmcf->base + off, (size_t) len);

        /* the copy must be complete before the sequence is read again */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);

        if (ps_load_acquire(&ctl->buf_seq[i]) != seq) {
            continue;
        }

        tmp = c->scratch;
        tmp_size = c->scratch_size;
        c->scratch = c->buf;
        c->scratch_size = c->size;
        c->buf = tmp;
        c->size = tmp_size;

        c->version = version;
        c->invalid = ps_snap_validate_scopes(c->buf, len, c->views,
                                             PS_SNAP_MAX_SCOPES,
                                             &c->nviews);

        if (c->invalid && c->logged != version) {
            c->logged = version;
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "pathstats: snapshot version %uL is invalid: %s",
                          version, c->invalid);
        }

        goto done;
    }

    /* the aggregator kept rewriting the buffer: keep the previous copy */

    if (c->version == 0) {
        ctx->reason = "the snapshot is being written";
        return NULL;
    }

done:

    if (c->invalid) {
        ctx->reason = c->invalid;
        ctx->invalid = 1;
        return NULL;
    }

    return &c->views[0];
}


static ngx_int_t
ngx_http_pathstats_admin_paths(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ps_snap_view_t                   *v;
    ngx_http_pathstats_paths_args_t   args;
    ngx_http_pathstats_paths_page_t   page;

    /* parameters first: a bad one is the client's error, whatever else */

    rc = ngx_http_pathstats_admin_paths_args(r, &args);

    if (rc == NGX_DECLINED) {
        return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                              "invalid parameter",
                                              args.invalid, args.message);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_pathstats_admin_scope(r, ctx) != NGX_OK) {
        return ngx_http_pathstats_admin_error(r, ctx->scope_status,
                                              ctx->scope_error,
                                              ctx->scope_param,
                                              ctx->scope_message);
    }

    v = ctx->view;

    if (v == NULL) {
        return ngx_http_pathstats_admin_unavailable(r, ctx);
    }

    if (v->rows[args.window] == NULL) {
        if (v->has_scope && v->scope.kind == PS_SNAP_SCOPE_FLEET) {
            /* per-path data of other nodes is hourly (PostgreSQL) */
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "window not available in this scope",
                                     "window",
                                     "scope fleet has the 24h window: "
                                     "the fleet's per-path data is "
                                     "hourly; 1m and 1h totals are in "
                                     "/api/summary?scope=fleet");
        }

        return ngx_http_pathstats_admin_error(r,
                                 NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "window not in the snapshot", NULL, NULL);
    }

    rc = ngx_http_pathstats_admin_select(r, v, &args, &page);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_pathstats_admin_render_page(r, ctx, &args, &page);
}


/*
 * NGX_OK; NGX_DECLINED for a bad argument, named with why in args;
 * NGX_ERROR when memory ran out
 */

static ngx_int_t
ngx_http_pathstats_admin_paths_args(ngx_http_request_t *r,
    ngx_http_pathstats_paths_args_t *args)
{
    ngx_str_t  value;

    args->window = PS_SNAP_WIN_24H;
    args->sort = PS_SNAP_SORT_REQUESTS;
    args->asc = 0;
    args->page = 1;
    args->limit = NGX_HTTP_PATHSTATS_LIMIT_DEFAULT;

    if (ngx_http_arg(r, (u_char *) "window", 6, &value) == NGX_OK) {
        args->window = ngx_http_pathstats_admin_lookup(&value,
                                                ngx_http_pathstats_windows);
        if (args->window == NGX_HTTP_PATHSTATS_NONE) {
            args->invalid = "window";
            args->message = "window must be 1m, 1h or 24h";
            return NGX_DECLINED;
        }
    }

    if (ngx_http_arg(r, (u_char *) "sort", 4, &value) == NGX_OK) {
        args->sort = ngx_http_pathstats_admin_lookup(&value,
                                                ngx_http_pathstats_sorts);
        if (args->sort == NGX_HTTP_PATHSTATS_NONE) {
            args->invalid = "sort";
            args->message = "sort must be requests, errors, "
                            "error_rate, p95, bytes or last_seen";
            return NGX_DECLINED;
        }
    }

    if (ngx_http_arg(r, (u_char *) "order", 5, &value) == NGX_OK) {
        if (value.len == 3 && ngx_strncasecmp(value.data,
                                              (u_char *) "asc", 3) == 0)
        {
            args->asc = 1;

        } else if (!(value.len == 4
                     && ngx_strncasecmp(value.data, (u_char *) "desc", 4)
                        == 0))
        {
            args->invalid = "order";
            args->message = "order must be desc or asc";
            return NGX_DECLINED;
        }
    }

    if (ngx_http_arg(r, (u_char *) "page", 4, &value) == NGX_OK) {
        args->page = ngx_atoi(value.data, value.len);
        if (args->page == NGX_ERROR || args->page < 1) {
            args->invalid = "page";
            args->message = "page must be an integer >= 1";
            return NGX_DECLINED;
        }
    }

    if (ngx_http_arg(r, (u_char *) "limit", 5, &value) == NGX_OK) {
        args->limit = ngx_atoi(value.data, value.len);
        if (args->limit == NGX_ERROR || args->limit < 1
            || args->limit > NGX_HTTP_PATHSTATS_LIMIT_MAX)
        {
            args->invalid = "limit";
            args->message = "limit must be an integer from 1 to 200";
            return NGX_DECLINED;
        }
    }

    if (ngx_http_pathstats_admin_arg(r, "q", &args->q) != NGX_OK
        || ngx_http_pathstats_admin_arg(r, "host", &args->host) != NGX_OK
        || ngx_http_pathstats_admin_arg(r, "method", &args->method)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (args->q.len > NGX_HTTP_PATHSTATS_FILTER_MAX) {
        args->invalid = "q";
        args->message = "q is longer than 512 bytes";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the rows of the requested page, in the requested order */

static ngx_int_t
ngx_http_pathstats_admin_select(ngx_http_request_t *r, ps_snap_view_t *v,
    ngx_http_pathstats_paths_args_t *args,
    ngx_http_pathstats_paths_page_t *page)
{
    uint32_t              n, i, idx;
    uint64_t              start;
    const ps_snap_row_t  *row;

    page->rows = ngx_palloc(r->pool, args->limit * sizeof(uint32_t));
    if (page->rows == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = v->row_count[args->window];

    start = ((uint64_t) args->page - 1 > 0xffffffff)
            ? UINT64_MAX : ((uint64_t) args->page - 1) * args->limit;

    page->total = 0;
    page->found = 0;
    page->len = 0;

    for (i = 0; i < n; i++) {
        idx = ps_snap_row_index(v, args->window, args->sort, args->asc, i);
        row = &v->rows[args->window][idx];

        if (!ngx_http_pathstats_admin_match(v, row, args)) {
            continue;
        }

        if (page->total >= start && page->found < (uint32_t) args->limit) {
            page->rows[page->found++] = idx;
            page->len += row->json.len + 1;
        }

        page->total++;
    }

    /* a page of distinct rows cannot be larger than the blob */

    if (page->len > (size_t) v->blob_len + page->found) {
        return ngx_http_pathstats_admin_error(r,
                                 NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "snapshot invalid: rows overlap",
                                 NULL, NULL);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_pathstats_admin_render_page(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx,
    ngx_http_pathstats_paths_args_t *args,
    ngx_http_pathstats_paths_page_t *page)
{
    size_t                len;
    u_char               *p;
    uint32_t              i;
    uint64_t              pages;
    ngx_buf_t            *b;
    ngx_uint_t            w;
    ps_snap_view_t       *v;
    const ps_snap_row_t  *row;

    v = ctx->view;
    w = args->window;

    pages = (page->total + args->limit - 1) / args->limit;

    len = page->len
          + sizeof("{\"data\":[],\"pagination\":{\"page\":,\"limit\":,"
                   "\"total\":,\"total_pages\":,\"has_next\":false,"
                   "\"has_prev\":false},\"metadata\":{,\"window\":\"24h\""
                   ",\"window_info\":}}") - 1
          + 4 * NGX_INT64_LEN + NGX_HTTP_PATHSTATS_META_LEN
          + ngx_http_pathstats_scope_meta_len(v);

    if (v->has_window_info[w]) {
        len += v->window_info[w].len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"data\":[", sizeof("{\"data\":[") - 1);

    for (i = 0; i < page->found; i++) {
        row = &v->rows[w][page->rows[i]];

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, v->blob + row->json.off, row->json.len);
    }

    p = ngx_sprintf(p, "],\"pagination\":{\"page\":%i,\"limit\":%i,"
                    "\"total\":%uL,\"total_pages\":%uL,\"has_next\":%s,"
                    "\"has_prev\":%s},\"metadata\":{",
                    args->page, args->limit, page->total, pages,
                    (uint64_t) args->page < pages ? "true" : "false",
                    args->page > 1 ? "true" : "false");

    p = ngx_http_pathstats_admin_meta(p, ctx);

    p = ngx_sprintf(p, ",\"window\":\"%V\"", &ngx_http_pathstats_windows[w]);

    if (v->has_window_info[w]) {
        p = ngx_cpymem(p, ",\"window_info\":",
                       sizeof(",\"window_info\":") - 1);
        p = ngx_cpymem(p, v->blob + v->window_info[w].off,
                       v->window_info[w].len);
    }

    *p++ = '}';
    *p++ = '}';

    b->last = p;

    return ngx_http_pathstats_admin_send(r, NGX_HTTP_OK,
                                         &ngx_http_pathstats_type_json, b);
}


/* a filter matches the whole value (host, method) or a substring (q) */

static ngx_uint_t
ngx_http_pathstats_admin_match(ps_snap_view_t *v, const ps_snap_row_t *row,
    ngx_http_pathstats_paths_args_t *args)
{
    u_char     *s, *last;
    size_t      len;
    ngx_str_t  *q, *host, *method;

    q = &args->q;
    host = &args->host;
    method = &args->method;

    if (host->len) {
        if (row->host.len != host->len
            || ngx_strncasecmp((u_char *) v->blob + row->host.off,
                               host->data, host->len) != 0)
        {
            return 0;
        }
    }

    if (method->len) {
        if (row->method.len != method->len
            || ngx_strncasecmp((u_char *) v->blob + row->method.off,
                               method->data, method->len) != 0)
        {
            return 0;
        }
    }

    if (q->len == 0) {
        return 1;
    }

    /* bounded, so that a hostile snapshot cannot make this quadratic */

    len = ngx_min(row->path.len, NGX_HTTP_PATHSTATS_PATH_SCAN);

    if (len < q->len) {
        return 0;
    }

    s = (u_char *) v->blob + row->path.off;
    last = s + len - q->len;

    for ( /* void */ ; s <= last; s++) {
        if (ngx_tolower(*s) == ngx_tolower(q->data[0])
            && ngx_strncasecmp(s, q->data, q->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * A query argument, URL-decoded ("+" is a space, as in forms) into the
 * request pool; an absent argument is the empty string.
 */

static ngx_int_t
ngx_http_pathstats_admin_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;
    ngx_uint_t  i;

    value->len = 0;
    value->data = NULL;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        return NGX_OK;
    }

    src = ngx_pnalloc(r->pool, raw.len);
    if (src == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < raw.len; i++) {
        src[i] = (raw.data[i] == '+') ? ' ' : raw.data[i];
    }

    value->data = src;
    dst = src;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_pathstats_admin_lookup(ngx_str_t *value, ngx_str_t *names)
{
    ngx_uint_t  i;

    for (i = 0; names[i].len; i++) {
        if (value->len == names[i].len
            && ngx_strncasecmp(value->data, names[i].data, value->len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_PATHSTATS_NONE;
}


static ngx_int_t
ngx_http_pathstats_admin_summary(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    if (ngx_http_pathstats_admin_scope(r, ctx) != NGX_OK) {
        return ngx_http_pathstats_admin_error(r, ctx->scope_status,
                                              ctx->scope_error,
                                              ctx->scope_param,
                                              ctx->scope_message);
    }

    if (ctx->view == NULL) {
        return ngx_http_pathstats_admin_unavailable(r, ctx);
    }

    if (!ctx->view->has_summary) {
        return ngx_http_pathstats_admin_error(r,
                                 NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "summary not in the snapshot", NULL, NULL);
    }

    return ngx_http_pathstats_admin_wrap(r, ctx, &ctx->view->summary, NULL);
}


static ngx_int_t
ngx_http_pathstats_admin_trends(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    char                 *missing;
    ngx_str_t             value, key[3];
    ngx_uint_t            range, i, n, given;
    ps_snap_view_t       *v;
    const ps_snap_row_t  *row;

    static char          *names[] = { "host", "method", "path" };

    range = PS_SNAP_RANGE_24H;

    if (ngx_http_arg(r, (u_char *) "range", 5, &value) == NGX_OK) {
        range = ngx_http_pathstats_admin_lookup(&value,
                                                ngx_http_pathstats_ranges);
        if (range == NGX_HTTP_PATHSTATS_NONE) {
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "range",
                                     "range must be 24h, 7d or 30d");
        }
    }

    /* one path's trend: host, method and path name its key together */

    given = 0;
    missing = NULL;

    for (i = 0; i < 3; i++) {
        if (ngx_http_arg(r, (u_char *) names[i], ngx_strlen(names[i]),
                         &value)
            == NGX_OK)
        {
            given++;

        } else if (missing == NULL) {
            missing = names[i];
        }

        if (ngx_http_pathstats_admin_arg(r, names[i], &key[i]) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (given && missing) {
        return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                 "invalid parameter", missing,
                                 "host, method and path go together");
    }

    if (ngx_http_pathstats_admin_scope(r, ctx) != NGX_OK) {
        return ngx_http_pathstats_admin_error(r, ctx->scope_status,
                                              ctx->scope_error,
                                              ctx->scope_param,
                                              ctx->scope_message);
    }

    if (ctx->view == NULL) {
        return ngx_http_pathstats_admin_unavailable(r, ctx);
    }

    v = ctx->view;

    if (given == 0) {
        if (!v->has_trends[range]) {
            return ngx_http_pathstats_admin_error(r,
                                     NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "trends not in the snapshot", NULL,
                                     NULL);
        }

        return ngx_http_pathstats_admin_wrap(r, ctx, &v->trends[range],
                                     &ngx_http_pathstats_ranges[range]);
    }

    n = v->path_trends[range] ? v->path_trend_count[range] : 0;

    for (i = 0; i < n; i++) {
        row = &v->path_trends[range][i];

        if (row->path.len == key[2].len
            && row->host.len == key[0].len
            && row->method.len == key[1].len
            && ngx_memcmp(v->blob + row->path.off, key[2].data, key[2].len)
               == 0
            && ngx_strncasecmp((u_char *) v->blob + row->host.off,
                               key[0].data, key[0].len) == 0
            && ngx_strncasecmp((u_char *) v->blob + row->method.off,
                               key[1].data, key[1].len) == 0)
        {
            return ngx_http_pathstats_admin_wrap(r, ctx,
                                     (ps_snap_ref_t *) &row->json,
                                     &ngx_http_pathstats_ranges[range]);
        }
    }

    return ngx_http_pathstats_admin_error(r, NGX_HTTP_NOT_FOUND,
                             "no trend for this path", "path",
                             "trends are kept for the most requested paths "
                             "of the last 24 hours (the aggregator's "
                             "trend_paths, with PostgreSQL)");
}


/* {"data":<ref>,"metadata":{...[,"range":"..."]}} */

static ngx_int_t
ngx_http_pathstats_admin_wrap(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx, ps_snap_ref_t *ref,
    ngx_str_t *range)
{
    u_char      *p;
    size_t       len;
    ngx_buf_t   *b;

    len = sizeof("{\"data\":,\"metadata\":{,\"range\":\"\"}}") - 1
          + ref->len + NGX_HTTP_PATHSTATS_META_LEN + (range ? range->len : 0)
          + ngx_http_pathstats_scope_meta_len(ctx->view);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"data\":", sizeof("{\"data\":") - 1);
    p = ngx_cpymem(p, ctx->view->blob + ref->off, ref->len);
    p = ngx_cpymem(p, ",\"metadata\":{", sizeof(",\"metadata\":{") - 1);
    p = ngx_http_pathstats_admin_meta(p, ctx);

    if (range) {
        p = ngx_sprintf(p, ",\"range\":\"%V\"", range);
    }

    *p++ = '}';
    *p++ = '}';

    b->last = p;

    return ngx_http_pathstats_admin_send(r, NGX_HTTP_OK,
                                         &ngx_http_pathstats_type_json, b);
}


/* the common metadata fields, without braces; NGX_HTTP_PATHSTATS_META_LEN */

static u_char *
ngx_http_pathstats_admin_meta(u_char *p, ngx_http_pathstats_admin_ctx_t *ctx)
{
    ps_snap_view_t  *v;

    v = ctx->view;

    p = ngx_sprintf(p, "\"source\":\"snapshot\",\"version\":%uL,"
                    "\"generated_at\":\"",
                    v->header->sequence);

    p = ngx_http_pathstats_admin_iso(p, ctx->generated_ms);

    p = ngx_sprintf(p, "\",\"age_seconds\":%uL.%03uL,\"stale\":%s",
                    ctx->age_ms / 1000, ctx->age_ms % 1000,
                    ctx->stale ? "true" : "false");

    /* whose numbers these are (the aggregator wrote them as JSON) */
    if (v->has_scope && v->scope.meta.len) {
        *p++ = ',';
        p = ngx_cpymem(p, v->blob + v->scope.meta.off, v->scope.meta.len);
    }

    return p;
}


static u_char *
ngx_http_pathstats_admin_iso(u_char *p, uint64_t ms)
{
    ngx_tm_t  tm;

    /* a hostile time must not overflow time_t arithmetic */
    ngx_gmtime((time_t) ngx_min(ms / 1000, (uint64_t) 253402300799ULL), &tm);

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


static ngx_int_t
ngx_http_pathstats_admin_metrics(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    u_char           *p;
    size_t            len;
    uint64_t          hb_ms;
    ngx_buf_t        *b;
    ps_snap_view_t   *v;

    v = ctx->view;

    if (v == NULL || !v->has_metrics) {
        b = ngx_create_temp_buf(r->pool, NGX_HTTP_PATHSTATS_REASON_LEN);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->last = ngx_snprintf(b->last, NGX_HTTP_PATHSTATS_REASON_LEN,
                               "# pathstats: no metrics: %s%s\n",
                               ctx->invalid ? "snapshot invalid: " : "",
                               v ? "metrics not in the snapshot"
                                 : ctx->reason);

        return ngx_http_pathstats_admin_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                             &ngx_http_pathstats_type_metrics,
                                             b);
    }

    len = v->metrics.len + 1 + sizeof(ngx_http_pathstats_own_metrics)
          + 5 * NGX_INT64_LEN;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, v->blob + v->metrics.off, v->metrics.len);

    if (v->metrics.len && p[-1] != '\n') {
        *p++ = '\n';
    }

    hb_ms = ctx->heartbeat_us / 1000;
    hb_ms = ctx->now_ms > hb_ms ? ctx->now_ms - hb_ms : 0;

    p = ngx_sprintf(p, ngx_http_pathstats_own_metrics,
                    ctx->age_ms / 1000, ctx->age_ms % 1000,
                    (ngx_uint_t) (ctx->stale ? 1 : 0),
                    hb_ms / 1000, hb_ms % 1000);

    b->last = p;

    return ngx_http_pathstats_admin_send(r, NGX_HTTP_OK,
                                         &ngx_http_pathstats_type_metrics, b);
}


static ngx_int_t
ngx_http_pathstats_admin_health(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    u_char           *p, *s, *e, *reasons, *last;
    size_t            len;
    uint64_t          hb_ms, hb_age;
    ngx_buf_t        *b;
    ngx_uint_t        n;
    ps_snap_view_t   *v;

    if (ngx_http_pathstats_admin_scope(r, ctx) != NGX_OK) {
        return ngx_http_pathstats_admin_error(r, ctx->scope_status,
                                              ctx->scope_error,
                                              ctx->scope_param,
                                              ctx->scope_message);
    }

    v = ctx->view;

    hb_ms = ctx->heartbeat_us / 1000;
    hb_age = ctx->now_ms > hb_ms ? ctx->now_ms - hb_ms : 0;

    /* the aggregator's own problems: the inside of its JSON array */

    s = NULL;
    e = NULL;

    if (v && v->has_health) {
        s = (u_char *) v->blob + v->health.off;
        e = s + v->health.len;

        while (s < e && ngx_http_pathstats_space(*s)) {
            s++;
        }

        while (e > s && ngx_http_pathstats_space(e[-1])) {
            e--;
        }

        if (e - s >= 2 && *s == '[' && e[-1] == ']') {
            s++;
            e--;

            while (s < e && ngx_http_pathstats_space(*s)) {
                s++;
            }

        } else {
            s = (u_char *) "\"aggregator health is not a JSON array\"";
            e = s + ngx_strlen(s);
        }
    }

    /* the reasons first: they decide the status */

    len = 3 * NGX_HTTP_PATHSTATS_REASON_LEN + (e - s);

    if (ctx->reason) {
        len += 6 * ngx_strlen(ctx->reason);
    }

    reasons = ngx_pnalloc(r->pool, len);
    if (reasons == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = reasons;
    last = reasons + len;
    n = 0;

    if (v == NULL) {
        p = ngx_slprintf(p, last, "\"%s", ctx->invalid
                                          ? "snapshot invalid: " : "");
        p = (u_char *) ngx_escape_json(p, (u_char *) ctx->reason,
                                       ngx_strlen(ctx->reason));
        *p++ = '"';
        n++;

    } else if (ctx->stale) {
        p = ngx_slprintf(p, last, "\"snapshot is stale: %uL.%03uL s old, "
                         "the limit is %M ms\"",
                         ctx->age_ms / 1000, ctx->age_ms % 1000,
                         ctx->stale_ms);
        n++;
    }

    if (ctx->header) {
        if (ctx->heartbeat_us == 0) {
            p = ngx_slprintf(p, last, "%s\"the aggregator has never run\"",
                             n++ ? "," : "");

        } else if (hb_age > ctx->stale_ms) {
            p = ngx_slprintf(p, last, "%s\"aggregator heartbeat is stale: "
                             "%uL.%03uL s old, the limit is %M ms\"",
                             n++ ? "," : "", hb_age / 1000, hb_age % 1000,
                             ctx->stale_ms);
        }
    }

    if (s < e) {
        if (n++) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, s, e - s);
    }

    len = sizeof("{\"status\":\"unhealthy\",\"reasons\":[],"
                 "\"stale_after_seconds\":.,"
                 "\"aggregator_heartbeat_age_seconds\":.}") - 1
          + (p - reasons) + NGX_HTTP_PATHSTATS_META_LEN + 4 * NGX_INT64_LEN
          + (v ? ngx_http_pathstats_scope_meta_len(v) : 0);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"status\":\"%s\",\"reasons\":[",
                          n ? "unhealthy" : "ok");
    b->last = ngx_cpymem(b->last, reasons, p - reasons);
    *b->last++ = ']';

    if (v) {
        *b->last++ = ',';
        b->last = ngx_http_pathstats_admin_meta(b->last, ctx);
    }

    b->last = ngx_sprintf(b->last, ",\"stale_after_seconds\":%M.%03M",
                          ctx->stale_ms / 1000, ctx->stale_ms % 1000);

    if (ctx->heartbeat_us) {
        b->last = ngx_sprintf(b->last,
                              ",\"aggregator_heartbeat_age_seconds\":"
                              "%uL.%03uL", hb_age / 1000, hb_age % 1000);
    }

    *b->last++ = '}';

    return ngx_http_pathstats_admin_send(r, n ? NGX_HTTP_SERVICE_UNAVAILABLE
                                              : NGX_HTTP_OK,
                                         &ngx_http_pathstats_type_json, b);
}


/* the nodes of the fleet: their heartbeats, as the aggregator read them */

static ngx_int_t
ngx_http_pathstats_admin_nodes(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    if (ctx->view == NULL) {
        return ngx_http_pathstats_admin_unavailable(r, ctx);
    }

    if (!ctx->view->has_nodes) {
        return ngx_http_pathstats_admin_error(r,
                                 NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "nodes not in the snapshot", NULL,
                                 "the nodes' heartbeats are read from the "
                                 "aggregator's PostgreSQL, a few seconds "
                                 "after it starts");
    }

    return ngx_http_pathstats_admin_wrap(r, ctx, &ctx->view->nodes, NULL);
}


/* 503: no usable snapshot; the message or the error says why */

static ngx_int_t
ngx_http_pathstats_admin_unavailable(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    u_char  *error;
    size_t   len;

    if (!ctx->invalid) {
        return ngx_http_pathstats_admin_error(r,
                                              NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "no snapshot yet", NULL,
                                              ctx->reason);
    }

    len = sizeof("snapshot invalid: ") + ngx_strlen(ctx->reason);

    error = ngx_pnalloc(r->pool, len);
    if (error == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_sprintf(error, "snapshot invalid: %s%Z", ctx->reason);

    return ngx_http_pathstats_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          (char *) error, NULL, NULL);
}


/* {"error":"..."[,"parameter":"..."][,"message":"..."]} */

static ngx_int_t
ngx_http_pathstats_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *parameter, const char *message)
{
    u_char      *p;
    size_t       len;
    ngx_buf_t   *b;

    len = sizeof("{\"error\":\"\",\"parameter\":\"\",\"message\":\"\"}")
          + 6 * (ngx_strlen(error)
                 + (parameter ? ngx_strlen(parameter) : 0)
                 + (message ? ngx_strlen(message) : 0));

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) error, ngx_strlen(error));
    *p++ = '"';

    if (parameter) {
        p = ngx_cpymem(p, ",\"parameter\":\"",
                       sizeof(",\"parameter\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, (u_char *) parameter,
                                       ngx_strlen(parameter));
        *p++ = '"';
    }

    if (message) {
        p = ngx_cpymem(p, ",\"message\":\"", sizeof(",\"message\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, (u_char *) message,
                                       ngx_strlen(message));
        *p++ = '"';
    }

    *p++ = '}';

    b->last = p;

    return ngx_http_pathstats_admin_send(r, status,
                                         &ngx_http_pathstats_type_json, b);
}


static ngx_int_t
ngx_http_pathstats_admin_redirect(ngx_http_request_t *r)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *location;

    len = r->uri.len + 1 + (r->args.len ? r->args.len + 1 : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    location = ngx_list_push(&r->headers_out.headers);
    if (location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    location->hash = 1;
    ngx_str_set(&location->key, "Location");
    location->value.data = p;

    p = ngx_cpymem(p, r->uri.data, r->uri.len);
    *p++ = '/';

    if (r->args.len) {
        *p++ = '?';
        p = ngx_cpymem(p, r->args.data, r->args.len);
    }

    location->value.len = p - location->value.data;

    ngx_http_clear_location(r);
    r->headers_out.location = location;

    return NGX_HTTP_MOVED_PERMANENTLY;
}


/* one buffer, through the whole filter chain (gzip included) */

static ngx_int_t
ngx_http_pathstats_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b)
{
    u_char           *semi;
    ngx_int_t         rc;
    ngx_chain_t       out;
    ngx_table_elt_t  *cc;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;

    semi = ngx_strlchr(type->data, type->data + type->len, ';');
    r->headers_out.content_type_len = semi ? (size_t) (semi - type->data)
                                           : type->len;
    r->headers_out.content_type_lowcase = NULL;

    r->headers_out.content_length_n = b->last - b->pos;

    /* every answer describes a moment */

    cc = ngx_list_push(&r->headers_out.headers);
    if (cc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cc->hash = 1;
    ngx_str_set(&cc->key, "Cache-Control");
    ngx_str_set(&cc->value, "no-store");

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


/* configuration */

static void *
ngx_http_pathstats_admin_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pathstats_admin_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pathstats_admin_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->stale = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_pathstats_admin_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_pathstats_admin_loc_conf_t  *prev = parent;
    ngx_http_pathstats_admin_loc_conf_t  *conf = child;

    ngx_conf_merge_msec_value(conf->stale, prev->stale,
                              NGX_HTTP_PATHSTATS_STALE);

    return NGX_CONF_OK;
}


static char *
ngx_http_pathstats_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_pathstats_loc_conf_t  *plcf;

    /*
     * The mark lives in the recorder's configuration: its merge keeps
     * an admin location from recording its own polling unless asked.
     */

    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_pathstats_module);

    if (plcf->admin) {
        return "is duplicate";
    }

    plcf->admin = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pathstats_admin_handler;

    return NGX_CONF_OK;
}
