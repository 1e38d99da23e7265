
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
#define NGX_HTTP_PATHSTATS_SNAP_SYNC       (4 * 1024 * 1024)
#define NGX_HTTP_PATHSTATS_SNAP_CHUNK      (256 * 1024)
#define NGX_HTTP_PATHSTATS_SNAP_RESTARTS   8
#define NGX_HTTP_PATHSTATS_SNAP_WAITS      100   /* of 10 ms */
#define NGX_HTTP_PATHSTATS_LIMIT_DEFAULT   50
#define NGX_HTTP_PATHSTATS_LIMIT_MAX       200
#define NGX_HTTP_PATHSTATS_Q_MAX           63   /* bytes: see search_init */
#define NGX_HTTP_PATHSTATS_PATH_SCAN       1024
#define NGX_HTTP_PATHSTATS_LANES           8
#define NGX_HTTP_PATHSTATS_NO_ROW          ((uint32_t) -1)
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

    /* the copy of a newer version into scratch, in slices between the
     * worker's other events (ngx_http_pathstats_admin_copy()) */
    ngx_event_t                  copy_ev;
    ngx_http_pathstats_main_conf_t  *copy_conf;
    uint64_t                     copy_version;  /* 0: none under way */
    uint64_t                     copy_seq;
    uint64_t                     copy_len;
    uint64_t                     copy_done;     /* bytes copied */
    ngx_uint_t                   copy_restarts;
    ngx_uint_t                   copy_waits;    /* for a write to end */
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


/* the parameters of /api/paths: ngx_http_pathstats_paths_params[] */
#define NGX_HTTP_PATHSTATS_P_WINDOW        0
#define NGX_HTTP_PATHSTATS_P_SORT          1
#define NGX_HTTP_PATHSTATS_P_ORDER         2
#define NGX_HTTP_PATHSTATS_P_PAGE          3
#define NGX_HTTP_PATHSTATS_P_LIMIT         4
#define NGX_HTTP_PATHSTATS_P_Q             5
#define NGX_HTTP_PATHSTATS_P_HOST          6
#define NGX_HTTP_PATHSTATS_P_METHOD        7
#define NGX_HTTP_PATHSTATS_P_COUNT         9   /* with the null entry */


/* the compiled q of one request: ngx_http_pathstats_admin_search() */
typedef struct {
    uint64_t                     mask[256];
    uint64_t                    *pair;          /* [65536] */
    uint64_t                     match;         /* bits |q| - 1 and up */
    u_char                       idle[NGX_HTTP_PATHSTATS_PATH_SCAN];
} ngx_http_pathstats_search_t;


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
static ngx_int_t ngx_http_pathstats_admin_copy_start(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_log_t *log);
static void ngx_http_pathstats_admin_copy(ngx_event_t *ev);
static void ngx_http_pathstats_admin_copy_stop(void);
static ngx_uint_t ngx_http_pathstats_admin_copy_slice(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_uint_t i, uint64_t seq,
    uint64_t from, size_t n);
static ngx_int_t ngx_http_pathstats_admin_scratch(size_t len, ngx_log_t *log);
static void ngx_http_pathstats_admin_adopt(uint64_t version, uint64_t len,
    ngx_log_t *log);
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
static u_char *ngx_http_pathstats_admin_filter(ngx_http_request_t *r,
    ps_snap_view_t *v, ngx_http_pathstats_paths_args_t *args);
static ngx_int_t ngx_http_pathstats_admin_search_init(
    ngx_http_pathstats_search_t *s, ngx_str_t *q, ngx_log_t *log);
static void ngx_http_pathstats_admin_search(ngx_http_pathstats_search_t *s,
    ps_snap_view_t *v, const ps_snap_row_t *rows, uint32_t *cand,
    uint32_t n, u_char *hit);
static ngx_int_t ngx_http_pathstats_admin_args(ngx_http_request_t *r,
    ngx_str_t *names, ngx_str_t *values, const char **invalid,
    const char **message);
static ngx_int_t ngx_http_pathstats_admin_decode(ngx_pool_t *pool,
    u_char *src, size_t len, ngx_str_t *out);
static ngx_uint_t ngx_http_pathstats_admin_lookup(ngx_str_t *value,
    ngx_str_t *names);
static ngx_int_t ngx_http_pathstats_admin_summary(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_trends(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_wrap(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx, ps_snap_ref_t *ref,
    ngx_str_t *range);
static ngx_int_t ngx_http_pathstats_admin_wrap_from(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx, ps_snap_view_t *from,
    ps_snap_ref_t *ref, ngx_str_t *range, ngx_uint_t list_ranges);
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
static u_char *ngx_http_pathstats_admin_escape_json(u_char *dst,
    const char *src);
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


/* PS_SNAP_WIN_*, then the day windows PS_SNAP_WIN_7D, _30D */
static ngx_str_t  ngx_http_pathstats_windows[] = {
    ngx_string("1m"),
    ngx_string("1h"),
    ngx_string("24h"),
    ngx_string("7d"),
    ngx_string("30d"),
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


/* PS_SNAP_RANGE_*, then PS_SNAP_LONG_* (PS_SNAP_RANGES + long range) */
static ngx_str_t  ngx_http_pathstats_ranges[] = {
    ngx_string("24h"),
    ngx_string("7d"),
    ngx_string("30d"),
    ngx_string("90d"),
    ngx_string("1y"),
    ngx_null_string
};


/* names are NUL-terminated too: they name a bad one in the answer */

static ngx_str_t  ngx_http_pathstats_paths_params[] = {
    ngx_string("window"),                /* NGX_HTTP_PATHSTATS_P_WINDOW */
    ngx_string("sort"),
    ngx_string("order"),
    ngx_string("page"),
    ngx_string("limit"),
    ngx_string("q"),
    ngx_string("host"),
    ngx_string("method"),
    ngx_null_string
};


static ngx_str_t  ngx_http_pathstats_trends_params[] = {
    ngx_string("range"),
    ngx_string("host"),                  /* host, method, path: one key */
    ngx_string("method"),
    ngx_string("path"),
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

    if (ngx_http_pathstats_zone_lost()) {
        ctx->reason = "the zone file shrank under nginx: remove it and "
                      "restart nginx";
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
 *
 * A newer snapshot larger than NGX_HTTP_PATHSTATS_SNAP_SYNC is copied in
 * slices between the worker's other events (ngx_http_pathstats_admin_
 * copy()), and the worker's current copy is served until it is done: a
 * snapshot of 100 000 rows (122 MB) copied in one go held up the request
 * that found it for 10-80 ms.  The first copy, and a small one, are made
 * at once.
 */

static ps_snap_view_t *
ngx_http_pathstats_admin_snapshot(ngx_http_request_t *r,
    ngx_http_pathstats_main_conf_t *pmcf, ngx_http_pathstats_admin_ctx_t *ctx)
{
    uint64_t                          version, seq, size, len;
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

    if (c->version != 0
        && ps_load_relaxed(&ctl->buf_len[version % 2])
           > NGX_HTTP_PATHSTATS_SNAP_SYNC)
    {
        if (c->copy_version == 0) {
            (void) ngx_http_pathstats_admin_copy_start(pmcf,
                                                       r->connection->log);
        }

        goto done;
    }

    ngx_http_pathstats_admin_copy_stop();

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

        /*
         * Where the buffers are and how long they may be comes from the
         * geometry the master validated, never from the header: whoever
         * writes the file could point them anywhere.
         */

        size = pmcf->geo.snap_buf_size;

        seq = ps_load_acquire(&ctl->buf_seq[i]);

        if (seq & 1) {
            continue;
        }

        len = ngx_min(ps_load_relaxed(&ctl->buf_len[i]), size);

        if (ngx_http_pathstats_admin_scratch((size_t) len,
                                             r->connection->log)
            != NGX_OK)
        {
            ctx->reason = "out of memory for the snapshot copy";
            return NULL;
        }

        if (!ngx_http_pathstats_admin_copy_slice(pmcf, i, seq, 0,
                                                 (size_t) len))
        {
            continue;
        }

        ngx_http_pathstats_admin_adopt(version, len, r->connection->log);

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


/*
 * Copies bytes [from, from + n) of snapshot buffer i into the same place
 * in scratch under the buffer's sequence lock: 1 when the sequence is
 * still seq (read before, even) once the bytes are copied, so that they
 * are whole; 0 when the writer has begun rewriting the buffer since.
 */

static ngx_uint_t
ngx_http_pathstats_admin_copy_slice(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_uint_t i, uint64_t seq, uint64_t from, size_t n)
{
    ps_snapshot_ctl_t  *ctl;

    ctl = &((ps_zone_header_t *) pmcf->base)->snapshot;

    /* the buffer's place from the validated geometry (see above) */
    ngx_memcpy(ngx_http_pathstats_snap.scratch + from,
               pmcf->base + pmcf->geo.snap_buf_off[i] + from, n);

    /* the copy must be complete before the sequence is read again */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);

    return ps_load_acquire(&ctl->buf_seq[i]) == seq;
}


/* Makes room for a copy of len bytes in scratch; NGX_OK or NGX_ERROR. */

static ngx_int_t
ngx_http_pathstats_admin_scratch(size_t len, ngx_log_t *log)
{
    u_char                           *tmp;
    size_t                            tmp_size;
    ngx_http_pathstats_snap_cache_t  *c;

    c = &ngx_http_pathstats_snap;

    if (c->scratch != NULL && c->scratch_size >= len) {
        return NGX_OK;
    }

    /* room to grow: a snapshot that is a little larger than the last
     * one does not allocate (and fault in) a new copy */
    tmp_size = ngx_max(len + len / 8, (size_t) 4096);

    /* malloc() memory is aligned enough for the validator */
    tmp = ngx_alloc(tmp_size, log);
    if (tmp == NULL) {
        return NGX_ERROR;
    }

    if (c->scratch) {
        ngx_free(c->scratch);
    }

    c->scratch = tmp;
    c->scratch_size = tmp_size;

    return NGX_OK;
}


/* Serves the complete copy of version in scratch (len bytes) from now
 * on, once validated; the previous copy's memory becomes scratch. */

static void
ngx_http_pathstats_admin_adopt(uint64_t version, uint64_t len,
    ngx_log_t *log)
{
    u_char                           *tmp;
    size_t                            tmp_size;
    ngx_http_pathstats_snap_cache_t  *c;

    c = &ngx_http_pathstats_snap;

    tmp = c->scratch;
    tmp_size = c->scratch_size;
    c->scratch = c->buf;
    c->scratch_size = c->size;
    c->buf = tmp;
    c->size = tmp_size;

    c->version = version;
    c->invalid = ps_snap_validate_scopes(c->buf, len, c->views,
                                         PS_SNAP_MAX_SCOPES, &c->nviews);

    if (c->invalid && c->logged != version) {
        c->logged = version;
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "pathstats: snapshot version %uL is invalid: %s",
                      version, c->invalid);
    }
}


/*
 * Starts (or restarts) the copy of the newest snapshot into scratch, in
 * slices of NGX_HTTP_PATHSTATS_SNAP_CHUNK bytes: each slice is one run of
 * ngx_http_pathstats_admin_copy(), posted for the next turn of the event
 * loop, so that the worker's requests are served in between.  The
 * buffer's sequence is checked after every slice: a write begun since
 * the copy began restarts it from the newest version.
 */

static ngx_int_t
ngx_http_pathstats_admin_copy_start(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_log_t *log)
{
    uint64_t                          version, seq;
    ngx_uint_t                        i;
    ps_snapshot_ctl_t                *ctl;
    ngx_http_pathstats_snap_cache_t  *c;

    c = &ngx_http_pathstats_snap;
    ctl = &((ps_zone_header_t *) pmcf->base)->snapshot;

    if (c->copy_ev.handler == NULL) {
        c->copy_ev.handler = ngx_http_pathstats_admin_copy;
        c->copy_ev.data = c;
        c->copy_ev.log = ngx_cycle->log;
        c->copy_ev.cancelable = 1;
    }

    if (c->copy_version == 0) {
        c->copy_restarts = 0;
        c->copy_waits = 0;
    }

    c->copy_conf = pmcf;
    c->copy_version = 0;

    version = ps_load_acquire(&ctl->version);

    if (version == 0 || version == c->version) {
        return NGX_OK;
    }

    i = version % 2;
    seq = ps_load_acquire(&ctl->buf_seq[i]);

    c->copy_version = version;
    c->copy_seq = seq;
    c->copy_len = ngx_min(ps_load_relaxed(&ctl->buf_len[i]),
                          pmcf->geo.snap_buf_size);
    c->copy_done = 0;

    if (seq & 1) {
        /* being written: look again soon, for a while (an aggregator
         * killed in the middle of a write leaves it odd) */
        if (++c->copy_waits > NGX_HTTP_PATHSTATS_SNAP_WAITS) {
            c->copy_version = 0;
            return NGX_DECLINED;
        }

        ngx_add_timer(&c->copy_ev, 10);
        return NGX_AGAIN;
    }

    if (ngx_http_pathstats_admin_scratch((size_t) c->copy_len, log)
        != NGX_OK)
    {
        c->copy_version = 0;
        return NGX_ERROR;
    }

    ngx_post_event(&c->copy_ev, &ngx_posted_next_events);

    return NGX_OK;
}


static void
ngx_http_pathstats_admin_copy(ngx_event_t *ev)
{
    size_t                            n;
    uint64_t                          version;
    ngx_uint_t                        i;
    ps_snapshot_ctl_t                *ctl;
    ngx_http_pathstats_main_conf_t   *pmcf;
    ngx_http_pathstats_snap_cache_t  *c;

    c = ev->data;
    pmcf = c->copy_conf;

    if (c->copy_version == 0 || ngx_http_pathstats_zone_lost()) {
        c->copy_version = 0;
        return;
    }

    if (c->copy_seq & 1) {
        /* it was being written: begin again */
        (void) ngx_http_pathstats_admin_copy_start(pmcf, ev->log);
        return;
    }

    ctl = &((ps_zone_header_t *) pmcf->base)->snapshot;
    i = c->copy_version % 2;

    if (ps_load_acquire(&ctl->buf_seq[i]) != c->copy_seq) {
        goto restart;
    }

    n = (size_t) ngx_min(c->copy_len - c->copy_done,
                         NGX_HTTP_PATHSTATS_SNAP_CHUNK);

    if (!ngx_http_pathstats_admin_copy_slice(pmcf, i, c->copy_seq,
                                             c->copy_done, n))
    {
        goto restart;
    }

    c->copy_done += n;

    if (c->copy_done < c->copy_len) {
        ngx_post_event(ev, &ngx_posted_next_events);
        return;
    }

    version = c->copy_version;
    c->copy_version = 0;

    ngx_http_pathstats_admin_adopt(version, c->copy_len, ev->log);

    return;

restart:

    if (++c->copy_restarts > NGX_HTTP_PATHSTATS_SNAP_RESTARTS) {
        /* the aggregator rewrites faster than this worker copies: the
         * next request starts again */
        c->copy_version = 0;
        return;
    }

    (void) ngx_http_pathstats_admin_copy_start(pmcf, ev->log);
}


/* Abandons a copy under way: scratch is about to be written at once. */

static void
ngx_http_pathstats_admin_copy_stop(void)
{
    ngx_http_pathstats_snap_cache_t  *c;

    c = &ngx_http_pathstats_snap;

    c->copy_version = 0;

    if (c->copy_ev.posted) {
        ngx_delete_posted_event(&c->copy_ev);
    }

    if (c->copy_ev.timer_set) {
        ngx_del_timer(&c->copy_ev);
    }
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

    if (args.window >= PS_SNAP_WINDOWS && ctx->nviews
        && v != &ctx->views[0])
    {
        /* the day windows are this node's own rows */
        return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                 "window not available in this scope",
                                 "window",
                                 "7d and 30d are this node's own rows, "
                                 "without scope or node");
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
    ngx_int_t   rc;
    ngx_str_t  *value;
    ngx_str_t   values[NGX_HTTP_PATHSTATS_P_COUNT];

    args->window = PS_SNAP_WIN_24H;
    args->sort = PS_SNAP_SORT_REQUESTS;
    args->asc = 0;
    args->page = 1;
    args->limit = NGX_HTTP_PATHSTATS_LIMIT_DEFAULT;

    rc = ngx_http_pathstats_admin_args(r, ngx_http_pathstats_paths_params,
                                       values, &args->invalid,
                                       &args->message);
    if (rc != NGX_OK) {
        return rc;
    }

    value = &values[NGX_HTTP_PATHSTATS_P_WINDOW];

    if (value->data) {
        args->window = ngx_http_pathstats_admin_lookup(value,
                                                ngx_http_pathstats_windows);
        if (args->window == NGX_HTTP_PATHSTATS_NONE) {
            args->invalid = "window";
            args->message = "window must be 1m, 1h, 24h, 7d or 30d";
            return NGX_DECLINED;
        }
    }

    value = &values[NGX_HTTP_PATHSTATS_P_SORT];

    if (value->data) {
        args->sort = ngx_http_pathstats_admin_lookup(value,
                                                ngx_http_pathstats_sorts);
        if (args->sort == NGX_HTTP_PATHSTATS_NONE) {
            args->invalid = "sort";
            args->message = "sort must be requests, errors, "
                            "error_rate, p95, bytes or last_seen";
            return NGX_DECLINED;
        }
    }

    value = &values[NGX_HTTP_PATHSTATS_P_ORDER];

    if (value->data) {
        if (value->len == 3 && ngx_strncasecmp(value->data,
                                               (u_char *) "asc", 3) == 0)
        {
            args->asc = 1;

        } else if (!(value->len == 4
                     && ngx_strncasecmp(value->data, (u_char *) "desc", 4)
                        == 0))
        {
            args->invalid = "order";
            args->message = "order must be desc or asc";
            return NGX_DECLINED;
        }
    }

    value = &values[NGX_HTTP_PATHSTATS_P_PAGE];

    if (value->data) {
        args->page = ngx_atoi(value->data, value->len);
        if (args->page == NGX_ERROR || args->page < 1) {
            args->invalid = "page";
            args->message = "page must be an integer >= 1";
            return NGX_DECLINED;
        }
    }

    value = &values[NGX_HTTP_PATHSTATS_P_LIMIT];

    if (value->data) {
        args->limit = ngx_atoi(value->data, value->len);
        if (args->limit == NGX_ERROR || args->limit < 1
            || args->limit > NGX_HTTP_PATHSTATS_LIMIT_MAX)
        {
            args->invalid = "limit";
            args->message = "limit must be an integer from 1 to 200";
            return NGX_DECLINED;
        }
    }

    /* an absent or empty filter is no filter */

    args->q = values[NGX_HTTP_PATHSTATS_P_Q];
    args->host = values[NGX_HTTP_PATHSTATS_P_HOST];
    args->method = values[NGX_HTTP_PATHSTATS_P_METHOD];

    if (args->q.len > NGX_HTTP_PATHSTATS_Q_MAX) {
        args->invalid = "q";
        args->message = "q is longer than 63 bytes";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The rows of the requested page, in the requested order.  With a
 * filter, which rows match is found first, in one pass over the window's
 * rows (ngx_http_pathstats_admin_search), and the ordered walk only
 * looks the answer up.
 */

static ngx_int_t
ngx_http_pathstats_admin_select(ngx_http_request_t *r, ps_snap_view_t *v,
    ngx_http_pathstats_paths_args_t *args,
    ngx_http_pathstats_paths_page_t *page)
{
    u_char               *hit;
    uint32_t              n, i, idx;
    uint64_t              start;
    const ps_snap_row_t  *row;

    page->rows = ngx_palloc(r->pool, args->limit * sizeof(uint32_t));
    if (page->rows == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = v->row_count[args->window];
    hit = NULL;

    if (args->q.len || args->host.len || args->method.len) {
        hit = ngx_http_pathstats_admin_filter(r, v, args);
        if (hit == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    start = ((uint64_t) args->page - 1 > 0xffffffff)
            ? UINT64_MAX : ((uint64_t) args->page - 1) * args->limit;

    page->total = 0;
    page->found = 0;
    page->len = 0;

    for (i = 0; i < n; i++) {
        idx = ps_snap_row_index(v, args->window, args->sort, args->asc, i);

        if (hit && !hit[idx]) {
            continue;
        }

        if (page->total >= start && page->found < (uint32_t) args->limit) {
            row = &v->rows[args->window][idx];
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
    ngx_uint_t            w, k, n;
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
          + ngx_http_pathstats_scope_meta_len(v)
          + sizeof(",\"windows\":[]") - 1
          + PS_SNAP_ALL_WINDOWS * sizeof("\"30d\",");

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

    /* the windows this view has: a client offers those */
    p = ngx_cpymem(p, ",\"windows\":[", sizeof(",\"windows\":[") - 1);

    for (k = 0, n = 0; k < PS_SNAP_ALL_WINDOWS; k++) {
        if (v->rows[k] != NULL) {
            p = ngx_sprintf(p, "%s\"%V\"", n++ ? "," : "",
                            &ngx_http_pathstats_windows[k]);
        }
    }

    *p++ = ']';

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


/*
 * Which rows of the window match the filters: hit[row] is 1 for each.
 * host and method match the whole value, q a substring of the path; all
 * three ignore ASCII case.  NULL when memory ran out.
 */

static u_char *
ngx_http_pathstats_admin_filter(ngx_http_request_t *r, ps_snap_view_t *v,
    ngx_http_pathstats_paths_args_t *args)
{
    u_char                       *hit;
    uint32_t                      n, i, *cand, ncand;
    uint64_t                      qg;
    ngx_str_t                    *host, *method;
    const uint64_t               *grams;
    const ps_snap_row_t          *rows, *row;
    ngx_http_pathstats_search_t  *s;

    n = v->row_count[args->window];
    rows = v->rows[args->window];
    grams = v->grams[args->window];
    host = &args->host;
    method = &args->method;

    hit = ngx_pcalloc(r->pool, n ? n : 1);
    if (hit == NULL) {
        return NULL;
    }

    cand = NULL;
    s = NULL;
    qg = 0;

    if (args->q.len) {
        /* the rows whose paths lack a pair of bytes of q are not
         * candidates: most of them, for most q */
        qg = ps_snap_grams(args->q.data, args->q.len);

        cand = ngx_palloc(r->pool, (n ? n : 1) * sizeof(uint32_t));
        s = ngx_palloc(r->pool, sizeof(ngx_http_pathstats_search_t));

        if (cand == NULL || s == NULL
            || ngx_http_pathstats_admin_search_init(s, &args->q,
                                                    r->connection->log)
               != NGX_OK)
        {
            return NULL;
        }
    }

    ncand = 0;

    for (i = 0; i < n; i++) {
        row = &rows[i];

        if (host->len
            && (row->host.len != host->len
                || ngx_strncasecmp((u_char *) v->blob + row->host.off,
                                   host->data, host->len) != 0))
        {
            continue;
        }

        if (method->len
            && (row->method.len != method->len
                || ngx_strncasecmp((u_char *) v->blob + row->method.off,
                                   method->data, method->len) != 0))
        {
            continue;
        }

        if (s == NULL) {
            hit[i] = 1;

        } else if (row->path.len >= args->q.len
                   && (grams == NULL || (grams[i] & qg) == qg))
        {
            cand[ncand++] = i;
        }
    }

    if (s) {
        ngx_http_pathstats_admin_search(s, v, rows, cand, ncand, hit);
    }

    return hit;
}


/*
 * The substring search of q, for ngx_http_pathstats_admin_search(): the
 * Shift-And automaton of the needle, case-insensitive for ASCII letters,
 * taken two bytes at a time.  Bit j of mask[c] is set when byte c may
 * stand at position j of q; so are all the bits above q, so that a match
 * (bit |q| - 1) is never lost in a two-byte step but carried upwards,
 * which is why q has one bit less than the 64-bit word.  pair[a | b << 8]
 * is the step over byte a then byte b: starting from state d, the state
 * after both is ((d << 2) | 3) & pair[a | b << 8].  NGX_ERROR when memory
 * ran out.
 */

static ngx_int_t
ngx_http_pathstats_admin_search_init(ngx_http_pathstats_search_t *s,
    ngx_str_t *q, ngx_log_t *log)
{
    u_char         c;
    size_t         j;
    uint64_t       sticky, hi, *pair;
    ngx_uint_t     a, b;
    static uint64_t  *pairs;

    /* 512 KiB, made once per worker, and rewritten by each search */

    if (pairs == NULL) {
        pairs = ngx_alloc(65536 * sizeof(uint64_t), log);
        if (pairs == NULL) {
            return NGX_ERROR;
        }
    }

    s->pair = pairs;

    sticky = ~(((uint64_t) 1 << q->len) - 1);

    for (a = 0; a < 256; a++) {
        s->mask[a] = sticky;
    }

    for (j = 0; j < q->len; j++) {
        c = q->data[j];
        s->mask[c] |= (uint64_t) 1 << j;

        if (c >= 'a' && c <= 'z') {
            s->mask[c - 'a' + 'A'] |= (uint64_t) 1 << j;

        } else if (c >= 'A' && c <= 'Z') {
            s->mask[c - 'A' + 'a'] |= (uint64_t) 1 << j;
        }
    }

    /* bits |q| - 1 and up: a match, now or in the step before */
    s->match = ~(((uint64_t) 1 << (q->len - 1)) - 1);

    for (b = 0; b < 256; b++) {
        hi = s->mask[b];
        pair = &pairs[b << 8];

        for (a = 0; a < 256; a++) {
            pair[a] = ((s->mask[a] << 1) | 1) & hi;
        }
    }

    /*
     * Lanes without a row read a byte that occurs nowhere in q (there is
     * one: q has at most 63 bytes, 126 with their other case): their
     * state stays 0 and never looks like a match.
     */

    for (a = 0; a < 256 && (s->mask[a] & ~sticky); a++) { /* void */ }

    ngx_memset(s->idle, (u_char) a, NGX_HTTP_PATHSTATS_PATH_SCAN);

    return NGX_OK;
}


/*
 * Sets hit[] for the candidate rows whose path (its first
 * NGX_HTTP_PATHSTATS_PATH_SCAN bytes) contains q.
 *
 * Each two bytes of a path cost one table lookup, a shift and an AND,
 * whatever q and the paths hold (Shift-And, or bitap): the work is
 * linear in the bytes of the window's paths, so that no crafted q or path
 * can hold a worker (a naive search costs rows x path x |q|).  One row's
 * steps depend on each other, so eight rows are scanned side by side, in
 * lanes, for the CPU to overlap them: 10 000 paths of 368 bytes take
 * under a millisecond.  A lane whose row ends or matches takes the next
 * candidate.
 */

#define NGX_HTTP_PATHSTATS_STEP(d, p)                                         \
    ngx_memcpy(&two, p + i, 2);                                               \
    d = ((d << 2) | 3) & pair[two]

static void
ngx_http_pathstats_admin_search(ngx_http_pathstats_search_t *s,
    ps_snap_view_t *v, const ps_snap_row_t *rows, uint32_t *cand,
    uint32_t n, u_char *hit)
{
    u_char          *p[NGX_HTTP_PATHSTATS_LANES];
    u_char          *p0, *p1, *p2, *p3, *p4, *p5, *p6, *p7, *f;
    size_t           i, steps, left[NGX_HTTP_PATHSTATS_LANES];
    uint16_t         two;
    uint32_t         next, row[NGX_HTTP_PATHSTATS_LANES];
    uint64_t         d0, d1, d2, d3, d4, d5, d6, d7, match, *pair;
    uint64_t         d[NGX_HTTP_PATHSTATS_LANES];
    ngx_uint_t       k, busy;

    pair = s->pair;
    match = s->match;
    next = 0;

    for (k = 0; k < NGX_HTTP_PATHSTATS_LANES; k++) {
        row[k] = NGX_HTTP_PATHSTATS_NO_ROW;
        d[k] = 0;
    }

    for ( ;; ) {

        /* each idle lane takes the next candidate, or the idle bytes */

        busy = 0;
        steps = NGX_HTTP_PATHSTATS_PATH_SCAN / 2;

        for (k = 0; k < NGX_HTTP_PATHSTATS_LANES; k++) {

            for ( ;; ) {

                if (row[k] == NGX_HTTP_PATHSTATS_NO_ROW && next < n) {

                    /*
                     * The paths lie apart in the blob: ask for the one
                     * that a lane takes after this one, so that it is in
                     * the cache by then.
                     */
                    if (next + NGX_HTTP_PATHSTATS_LANES < n) {
                        f = (u_char *) v->blob
                            + rows[cand[next + NGX_HTTP_PATHSTATS_LANES]]
                              .path.off;
                        __builtin_prefetch(f);
                        __builtin_prefetch(f + 64);
                        __builtin_prefetch(f + 128);
                        __builtin_prefetch(f + 192);
                    }

                    row[k] = cand[next++];
                    p[k] = (u_char *) v->blob + rows[row[k]].path.off;
                    left[k] = ngx_min(rows[row[k]].path.len,
                                      NGX_HTTP_PATHSTATS_PATH_SCAN);
                    d[k] = 0;
                }

                if (row[k] == NGX_HTTP_PATHSTATS_NO_ROW || left[k] >= 2) {
                    break;
                }

                /* the last, odd byte of a row, alone */

                if (left[k] == 1) {
                    d[k] = ((d[k] << 1) | 1) & s->mask[p[k][0]];
                }

                if (d[k] & match) {
                    hit[row[k]] = 1;
                }

                row[k] = NGX_HTTP_PATHSTATS_NO_ROW;
            }

            if (row[k] == NGX_HTTP_PATHSTATS_NO_ROW) {
                p[k] = s->idle;
                d[k] = 0;
                continue;
            }

            busy++;
            steps = ngx_min(steps, left[k] / 2);
        }

        if (busy == 0) {
            return;
        }

        /* locals, so that the compiler keeps what it can in registers */

        d0 = d[0]; d1 = d[1]; d2 = d[2]; d3 = d[3];
        d4 = d[4]; d5 = d[5]; d6 = d[6]; d7 = d[7];
        p0 = p[0]; p1 = p[1]; p2 = p[2]; p3 = p[3];
        p4 = p[4]; p5 = p[5]; p6 = p[6]; p7 = p[7];

        for (i = 0; i < 2 * steps; /* void */ ) {
            NGX_HTTP_PATHSTATS_STEP(d0, p0);
            NGX_HTTP_PATHSTATS_STEP(d1, p1);
            NGX_HTTP_PATHSTATS_STEP(d2, p2);
            NGX_HTTP_PATHSTATS_STEP(d3, p3);
            NGX_HTTP_PATHSTATS_STEP(d4, p4);
            NGX_HTTP_PATHSTATS_STEP(d5, p5);
            NGX_HTTP_PATHSTATS_STEP(d6, p6);
            NGX_HTTP_PATHSTATS_STEP(d7, p7);

            i += 2;

            if ((d0 | d1 | d2 | d3 | d4 | d5 | d6 | d7) & match) {
                break;
            }
        }

        d[0] = d0; d[1] = d1; d[2] = d2; d[3] = d3;
        d[4] = d4; d[5] = d5; d[6] = d6; d[7] = d7;

        /* a lane whose row matched or ended is free for the next one */

        for (k = 0; k < NGX_HTTP_PATHSTATS_LANES; k++) {

            if (row[k] == NGX_HTTP_PATHSTATS_NO_ROW) {
                continue;
            }

            p[k] += i;
            left[k] -= i;

            if (d[k] & match) {
                hit[row[k]] = 1;
                row[k] = NGX_HTTP_PATHSTATS_NO_ROW;

            } else if (left[k] == 0) {
                row[k] = NGX_HTTP_PATHSTATS_NO_ROW;
            }

            /* one byte left: the refill above takes it alone */
        }
    }
}

#undef NGX_HTTP_PATHSTATS_STEP


/*
 * Splits the query string into the arguments named in names (compared
 * without case, once decoded) and decodes each value like a form field:
 * "+" is a space and "%XX" a byte.  values[i].data is NULL for an
 * argument that is not there.  Arguments of other names are skipped.
 * NGX_OK; NGX_DECLINED with *invalid and *message set for a malformed
 * escape (anywhere) or an argument given twice; NGX_ERROR when memory
 * ran out.
 */

static ngx_int_t
ngx_http_pathstats_admin_args(ngx_http_request_t *r, ngx_str_t *names,
    ngx_str_t *values, const char **invalid, const char **message)
{
    u_char      *p, *last, *amp, *eq;
    ngx_int_t    rc;
    ngx_str_t    name, value;
    ngx_uint_t   i;

    for (i = 0; names[i].len; i++) {
        values[i].len = 0;
        values[i].data = NULL;
    }

    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        rc = ngx_http_pathstats_admin_decode(r->pool, p, (eq ? eq : amp) - p,
                                             &name);
        if (rc != NGX_OK) {
            if (rc == NGX_DECLINED) {
                *invalid = NULL;
                *message = "a parameter name has an invalid "
                           "percent-encoding";
            }

            return rc;
        }

        rc = ngx_http_pathstats_admin_decode(r->pool, eq ? eq + 1 : amp,
                                             eq ? amp - eq - 1 : 0, &value);

        for (i = 0; names[i].len; i++) {
            if (name.len == names[i].len
                && ngx_strncasecmp(name.data, names[i].data, name.len) == 0)
            {
                break;
            }
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            *invalid = names[i].len ? (char *) names[i].data : NULL;
            *message = "invalid percent-encoding: \"%\" must be followed "
                       "by two hexadecimal digits";
            return NGX_DECLINED;
        }

        if (names[i].len == 0) {
            continue;
        }

        /* which of two values was meant cannot be told */

        if (values[i].data) {
            *invalid = (char *) names[i].data;
            *message = "the parameter is given more than once";
            return NGX_DECLINED;
        }

        values[i] = value;
    }

    return NGX_OK;
}


/*
 * len bytes of a query string, "+" as a space and "%XX" as a byte, into
 * the pool; out->data is never NULL.  NGX_DECLINED for a "%" that is not
 * followed by two hexadecimal digits.
 */

static ngx_int_t
ngx_http_pathstats_admin_decode(ngx_pool_t *pool, u_char *src, size_t len,
    ngx_str_t *out)
{
    u_char      *dst, c;
    size_t       i;
    ngx_int_t    hi, lo;

    dst = ngx_pnalloc(pool, len ? len : 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c == '+') {
            *dst++ = ' ';
            continue;
        }

        if (c != '%') {
            *dst++ = c;
            continue;
        }

        if (len - i < 3) {
            return NGX_DECLINED;
        }

        hi = ngx_hextoi(&src[i + 1], 1);
        lo = ngx_hextoi(&src[i + 2], 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_DECLINED;
        }

        *dst++ = (u_char) (hi * 16 + lo);
        i += 2;
    }

    out->len = dst - out->data;

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
    ngx_int_t             rc;
    ngx_str_t             values[4], *key;
    ngx_uint_t            range, i, n, given;
    const char           *invalid, *message, *missing;
    ps_snap_view_t       *v;
    const ps_snap_row_t  *row;

    range = PS_SNAP_RANGE_24H;

    rc = ngx_http_pathstats_admin_args(r, ngx_http_pathstats_trends_params,
                                       values, &invalid, &message);

    if (rc == NGX_DECLINED) {
        return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                              "invalid parameter", invalid,
                                              message);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (values[0].data) {
        range = ngx_http_pathstats_admin_lookup(&values[0],
                                                ngx_http_pathstats_ranges);
        if (range == NGX_HTTP_PATHSTATS_NONE) {
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "range",
                                     "range must be 24h, 7d, 30d, 90d "
                                     "or 1y");
        }
    }

    /* one path's trend: host, method and path name its key together */

    key = &values[1];
    given = 0;
    missing = NULL;

    for (i = 0; i < 3; i++) {
        if (key[i].data) {
            given++;

        } else if (missing == NULL) {
            missing = (char *) ngx_http_pathstats_trends_params[1 + i].data;
        }
    }

    if (given && missing) {
        return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                 "invalid parameter", missing,
                                 "host, method and path go together");
    }

    if (given && range >= PS_SNAP_RANGES) {
        return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                 "invalid parameter", "range",
                                 "a path's trend has the ranges 24h, 7d "
                                 "and 30d; 90d and 1y are the overall "
                                 "trend's");
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

    if (range >= PS_SNAP_RANGES) {
        /* fleet-wide in every scope, as the other ranges: the long ones
         * are in this node's view only, their bytes in its blob */
        v = ctx->nviews ? &ctx->views[0] : v;

        if (!v->has_long_trends[range - PS_SNAP_RANGES]) {
            return ngx_http_pathstats_admin_error(r,
                                     NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "trends not in the snapshot", NULL,
                                     NULL);
        }

        return ngx_http_pathstats_admin_wrap_from(r, ctx, v,
                                     &v->long_trends[range - PS_SNAP_RANGES],
                                     &ngx_http_pathstats_ranges[range], 1);
    }

    if (given == 0) {
        if (!v->has_trends[range]) {
            return ngx_http_pathstats_admin_error(r,
                                     NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "trends not in the snapshot", NULL,
                                     NULL);
        }

        return ngx_http_pathstats_admin_wrap_from(r, ctx, v,
                                     &v->trends[range],
                                     &ngx_http_pathstats_ranges[range], 1);
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
    return ngx_http_pathstats_admin_wrap_from(r, ctx, ctx->view, ref, range,
                                              0);
}


/*
 * The same with ref into from's blob, and with list_ranges the ranges of
 * the overall trend the snapshot has ("ranges":["24h",...]), so that a
 * client offers only those.
 */

static ngx_int_t
ngx_http_pathstats_admin_wrap_from(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx, ps_snap_view_t *from,
    ps_snap_ref_t *ref, ngx_str_t *range, ngx_uint_t list_ranges)
{
    u_char           *p;
    size_t            len;
    ngx_buf_t        *b;
    ngx_uint_t        k, n;
    ps_snap_view_t   *top;

    len = sizeof("{\"data\":,\"metadata\":{,\"range\":\"\"}}") - 1
          + ref->len + NGX_HTTP_PATHSTATS_META_LEN + (range ? range->len : 0)
          + ngx_http_pathstats_scope_meta_len(ctx->view)
          + sizeof(",\"ranges\":[]") - 1
          + (PS_SNAP_RANGES + PS_SNAP_LONG_RANGES) * sizeof("\"30d\",");

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"data\":", sizeof("{\"data\":") - 1);
    p = ngx_cpymem(p, from->blob + ref->off, ref->len);
    p = ngx_cpymem(p, ",\"metadata\":{", sizeof(",\"metadata\":{") - 1);
    p = ngx_http_pathstats_admin_meta(p, ctx);

    if (range) {
        p = ngx_sprintf(p, ",\"range\":\"%V\"", range);
    }

    if (list_ranges) {
        top = ctx->nviews ? &ctx->views[0] : ctx->view;
        p = ngx_cpymem(p, ",\"ranges\":[", sizeof(",\"ranges\":[") - 1);

        for (k = 0, n = 0; k < PS_SNAP_RANGES + PS_SNAP_LONG_RANGES; k++) {
            if (k < PS_SNAP_RANGES ? !ctx->view->has_trends[k]
                : !top->has_long_trends[k - PS_SNAP_RANGES])
            {
                continue;
            }
            p = ngx_sprintf(p, "%s\"%V\"", n++ ? "," : "",
                            &ngx_http_pathstats_ranges[k]);
        }

        *p++ = ']';
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
        p = ngx_http_pathstats_admin_escape_json(p, ctx->reason);
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
    p = ngx_http_pathstats_admin_escape_json(p, error);
    *p++ = '"';

    if (parameter) {
        p = ngx_cpymem(p, ",\"parameter\":\"",
                       sizeof(",\"parameter\":\"") - 1);
        p = ngx_http_pathstats_admin_escape_json(p, parameter);
        *p++ = '"';
    }

    if (message) {
        p = ngx_cpymem(p, ",\"message\":\"", sizeof(",\"message\":\"") - 1);
        p = ngx_http_pathstats_admin_escape_json(p, message);
        *p++ = '"';
    }

    *p++ = '}';

    b->last = p;

    return ngx_http_pathstats_admin_send(r, status,
                                         &ngx_http_pathstats_type_json, b);
}


/*
 * A JSON string's inside, at most 6 bytes for each of src: ngx_escape_json()
 * and also "<" as \u003c, so that no answer holds "</script>" or "<!--"
 * for a browser that takes it for HTML.
 */

static u_char *
ngx_http_pathstats_admin_escape_json(u_char *dst, const char *src)
{
    u_char  *s, *last, *lt;

    s = (u_char *) src;
    last = s + ngx_strlen(src);

    while (s < last) {
        lt = ngx_strlchr(s, last, '<');

        if (lt == NULL) {
            lt = last;
        }

        dst = (u_char *) ngx_escape_json(dst, s, lt - s);

        if (lt < last) {
            dst = ngx_cpymem(dst, "\\u003c", sizeof("\\u003c") - 1);
            lt++;
        }

        s = lt;
    }

    return dst;
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
    ngx_table_elt_t  *cc, *nosniff;

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

    /* a browser must take JSON for JSON, never sniff HTML in it */

    nosniff = ngx_list_push(&r->headers_out.headers);
    if (nosniff == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nosniff->hash = 1;
    ngx_str_set(&nosniff->key, "X-Content-Type-Options");
    ngx_str_set(&nosniff->value, "nosniff");

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
