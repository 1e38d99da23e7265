
/*
 * pathstats: per-path request statistics.
 *
 * The recorder half of the module.  The master creates (or reattaches) a
 * named zone file and maps it; every worker inherits the mapping, claims
 * one single-producer ring of it in init_process and, in the log phase,
 * copies one fixed-size record per request into that ring and publishes
 * it with a release store of the ring's tail.  The aggregator maps the
 * same file and drains the rings.  The layout is include/pathstats_shm.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "pathstats_shm.h"
#include "pathstats_snapshot.h"
#include "ngx_http_pathstats_dashboard.h"


#define NGX_HTTP_PATHSTATS_ADDR_FULL       0
#define NGX_HTTP_PATHSTATS_ADDR_TRUNCATED  1
#define NGX_HTTP_PATHSTATS_ADDR_OFF        2

#define NGX_HTTP_PATHSTATS_SIZE            (64 * 1024 * 1024)
#define NGX_HTTP_PATHSTATS_SNAPSHOT        (8 * 1024 * 1024)
#define NGX_HTTP_PATHSTATS_SNAPSHOT_MIN    (64 * 1024)
#define NGX_HTTP_PATHSTATS_RINGS_DEFAULT   8
#define NGX_HTTP_PATHSTATS_KEY_MIN         16

/* host names are stored with at most this many bytes */
#define NGX_HTTP_PATHSTATS_HOST_LEN        (PS_HOST_MAX - 1)

#define NGX_HTTP_PATHSTATS_STALE           10000
#define NGX_HTTP_PATHSTATS_SNAP_TRIES      3
#define NGX_HTTP_PATHSTATS_LIMIT_DEFAULT   50
#define NGX_HTTP_PATHSTATS_LIMIT_MAX       200
#define NGX_HTTP_PATHSTATS_FILTER_MAX      512
#define NGX_HTTP_PATHSTATS_PATH_SCAN       1024
#define NGX_HTTP_PATHSTATS_META_LEN        256
#define NGX_HTTP_PATHSTATS_REASON_LEN      256
#define NGX_HTTP_PATHSTATS_NONE            ((ngx_uint_t) -1)

#define ngx_http_pathstats_space(c)                                          \
    ((c) == ' ' || (c) == '\n' || (c) == '\t' || (c) == '\r')


typedef struct {
    ngx_str_t                    file;          /* zone file, full path */
    off_t                        size;          /* ring area budget */
    size_t                       snapshot;      /* snapshot area */
    ngx_uint_t                   rings;         /* 0: from workers */

    /* where pathstats_zone was declared, for errors found later */
    ngx_str_t                    zone_conf_file;
    ngx_uint_t                   zone_conf_line;

    /* the first "pathstats on", to report it if there is no zone */
    ngx_str_t                    on_conf_file;
    ngx_uint_t                   on_conf_line;

    ngx_cycle_t                 *cycle;
    u_char                      *base;          /* mapping of this cycle */
    size_t                       mapped;
} ngx_http_pathstats_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_flag_t                   normalize;
    ngx_http_complex_value_t    *key;           /* NULL: $uri */
    ngx_int_t                    key_max_length;
    ngx_uint_t                   client_address;
    ngx_flag_t                   admin;         /* pathstats_admin here */
    ngx_msec_t                   admin_stale;
} ngx_http_pathstats_loc_conf_t;


/*
 * What a worker knows about its own ring.  Cached once in init_process,
 * so that the log handler reads neither the zone header nor the
 * configuration to find its slots.
 */
typedef struct {
    ps_zone_header_t            *header;        /* NULL: no zone */
    ps_ring_desc_t              *desc;          /* NULL: no ring */
    ps_record_t                 *slots;         /* slot 0 of the ring */
    uint64_t                     capacity;
    uint64_t                     cached_head;
} ngx_http_pathstats_worker_t;


/* a worker's private copy of the latest snapshot */
typedef struct {
    u_char                      *buf;           /* 8-byte aligned */
    size_t                       size;
    u_char                      *scratch;       /* the next copy goes here */
    size_t                       scratch_size;
    uint64_t                     version;       /* of buf, 0: none */
    ps_snap_view_t               view;          /* into buf */
    const char                  *invalid;       /* why buf is unusable */
    uint64_t                     logged;        /* version logged invalid */
} ngx_http_pathstats_snap_cache_t;


/* what one admin request knows about the snapshot and the aggregator */
typedef struct {
    ps_zone_header_t            *header;        /* NULL: no zone */
    ps_snap_view_t              *view;          /* NULL: nothing to serve */
    const char                  *reason;        /* why view is NULL */
    ngx_uint_t                   invalid;       /* it failed validation */
    ngx_uint_t                   stale;
    uint64_t                     now_ms;
    uint64_t                     generated_ms;
    uint64_t                     age_ms;
    uint64_t                     heartbeat_us;
    ngx_msec_t                   stale_ms;
} ngx_http_pathstats_admin_ctx_t;


typedef ngx_int_t (*ngx_http_pathstats_endpoint_pt)(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);


typedef struct {
    ngx_str_t                        name;  /* after the location prefix */
    ngx_http_pathstats_endpoint_pt   handler;
} ngx_http_pathstats_endpoint_t;


static ngx_int_t ngx_http_pathstats_log_handler(ngx_http_request_t *r);
static size_t ngx_http_pathstats_normalize(u_char *dst, size_t size,
    u_char *src, size_t len, ngx_uint_t *flags);
static size_t ngx_http_pathstats_normalize_long(u_char *dst, size_t size,
    u_char *src, size_t len, ngx_uint_t *flags);
static ngx_inline void ngx_http_pathstats_copy(u_char *dst,
    const u_char *src, size_t n);
static ngx_inline const u_char *ngx_http_pathstats_placeholder(u_char *seg,
    size_t len, ngx_uint_t m, size_t *n);
static void ngx_http_pathstats_set_addr(ps_record_t *rec,
    struct sockaddr *sa, ngx_uint_t mode);

static ngx_int_t ngx_http_pathstats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_pathstats_create_file(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_fd_t fd, ngx_log_t *log,
    ps_zone_header_t *want);
static ngx_int_t ngx_http_pathstats_attach_file(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_fd_t fd, size_t size,
    ngx_log_t *log, ps_zone_header_t *want);
static void ngx_http_pathstats_unmap(void *data);
static uint32_t ngx_http_pathstats_ring_capacity(off_t size,
    ngx_uint_t rings);
static uint64_t ngx_http_pathstats_zone_id(uint64_t now);
static uint64_t ngx_http_pathstats_now_us(void);
static void ngx_http_pathstats_zone_error(ngx_uint_t level,
    ngx_http_pathstats_main_conf_t *pmcf, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...);

static ngx_int_t ngx_http_pathstats_init_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_pathstats_claim_ring(ngx_cycle_t *cycle,
    ps_zone_header_t *h);
static ngx_int_t ngx_http_pathstats_owner_dead(uint64_t owner);
static ngx_int_t ngx_http_pathstats_proc_stat(ngx_pid_t pid, u_char *state,
    uint64_t *start);

static ngx_int_t ngx_http_pathstats_admin_handler(ngx_http_request_t *r);
static u_char *ngx_http_pathstats_admin_tail(u_char *p, u_char *last);
static void ngx_http_pathstats_admin_ctx_init(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ps_snap_view_t *ngx_http_pathstats_admin_snapshot(
    ngx_http_request_t *r, ngx_http_pathstats_main_conf_t *pmcf,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_int_t ngx_http_pathstats_admin_paths(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx);
static ngx_uint_t ngx_http_pathstats_admin_match(ps_snap_view_t *v,
    const ps_snap_row_t *row, ngx_str_t *q, ngx_str_t *host,
    ngx_str_t *method);
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

static void *ngx_http_pathstats_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_pathstats_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pathstats_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_pathstats_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pathstats(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pathstats_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_pathstats_init(ngx_conf_t *cf);


static ngx_conf_num_bounds_t  ngx_http_pathstats_key_max_length_bounds = {
    ngx_conf_check_num_bounds, NGX_HTTP_PATHSTATS_KEY_MIN, PS_KEY_MAX
};


static ngx_conf_enum_t  ngx_http_pathstats_client_address[] = {
    { ngx_string("full"), NGX_HTTP_PATHSTATS_ADDR_FULL },
    { ngx_string("truncated"), NGX_HTTP_PATHSTATS_ADDR_TRUNCATED },
    { ngx_string("off"), NGX_HTTP_PATHSTATS_ADDR_OFF },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_pathstats_commands[] = {

    { ngx_string("pathstats_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1234,
      ngx_http_pathstats_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pathstats"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_pathstats,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pathstats_loc_conf_t, enable),
      NULL },

    { ngx_string("pathstats_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pathstats_loc_conf_t, key),
      NULL },

    { ngx_string("pathstats_normalize"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pathstats_loc_conf_t, normalize),
      NULL },

    { ngx_string("pathstats_key_max_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pathstats_loc_conf_t, key_max_length),
      &ngx_http_pathstats_key_max_length_bounds },

    { ngx_string("pathstats_client_address"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pathstats_loc_conf_t, client_address),
      &ngx_http_pathstats_client_address },

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
      offsetof(ngx_http_pathstats_loc_conf_t, admin_stale),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pathstats_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_pathstats_init,               /* postconfiguration */

    ngx_http_pathstats_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pathstats_create_loc_conf,    /* create location configuration */
    ngx_http_pathstats_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_pathstats_module = {
    NGX_MODULE_V1,
    &ngx_http_pathstats_module_ctx,        /* module context */
    ngx_http_pathstats_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_pathstats_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * Worker-local; zero in the master, which never records.  Deliberately
 * no exit_process: the ring stays claimed until the aggregator sees the
 * owner dead, since a worker that is stopped, not gone, may resume.
 */
static ngx_http_pathstats_worker_t  ngx_http_pathstats_worker;


/* the admin location */

static ngx_http_pathstats_endpoint_t  ngx_http_pathstats_endpoints[] = {
    { ngx_string("api/paths"), ngx_http_pathstats_admin_paths },
    { ngx_string("api/summary"), ngx_http_pathstats_admin_summary },
    { ngx_string("api/trends"), ngx_http_pathstats_admin_trends },
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


/* worker-local, like ngx_http_pathstats_worker */
static ngx_http_pathstats_snap_cache_t  ngx_http_pathstats_snap;


/* the recorder: log phase */

static ngx_int_t
ngx_http_pathstats_log_handler(ngx_http_request_t *r)
{
    size_t                          n;
    uint64_t                        tail, upstream_us;
    ngx_str_t                       key, *host;
    ngx_uint_t                      i, status, flags;
    ngx_time_t                     *tp;
    ps_record_t                    *rec;
    ngx_msec_int_t                  ms;
    ps_ring_desc_t                 *desc;
    ngx_http_upstream_state_t      *state;
    ngx_http_pathstats_worker_t    *w;
    ngx_http_core_srv_conf_t       *cscf;
    ngx_http_pathstats_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pathstats_module);

    if (!plcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    w = &ngx_http_pathstats_worker;
    desc = w->desc;

    if (desc == NULL) {
        if (w->header) {
            (void) __atomic_fetch_add(&w->header->no_ring, 1,
                                      __ATOMIC_RELAXED);
        }

        return NGX_DECLINED;
    }

    /* this worker is the ring's only producer: no atomic RMW needed */

    ps_store_relaxed(&desc->seen, ps_load_relaxed(&desc->seen) + 1);

    tail = ps_load_relaxed(&desc->tail);

    if (tail - w->cached_head >= w->capacity) {
        w->cached_head = ps_load_acquire(&desc->head);

        if (tail - w->cached_head >= w->capacity) {
            ps_store_relaxed(&desc->dropped,
                             ps_load_relaxed(&desc->dropped) + 1);
            return NGX_DECLINED;
        }
    }

    rec = &w->slots[tail & (w->capacity - 1)];

    tp = ngx_timeofday();

    rec->time_us = (uint64_t) tp->sec * 1000000 + tp->msec * 1000;

    /* $request_time */
    ms = (ngx_msec_int_t)
             ((tp->sec - r->start_sec) * 1000 + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);
    rec->request_us = (uint64_t) ms * 1000;

    /*
     * $upstream_response_time, summed over all attempts; the entries
     * that separate internal redirects are zeroed and add nothing
     */
    if (r->upstream_states && r->upstream_states->nelts) {
        upstream_us = 0;
        state = r->upstream_states->elts;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            ms = (ngx_msec_int_t) state[i].response_time;

            /* -1: the attempt has no response time */
            if (ms != -1) {
                upstream_us += (uint64_t) ngx_max(ms, 0) * 1000;
            }
        }

    } else {
        upstream_us = PS_NO_UPSTREAM;
    }

    rec->upstream_us = upstream_us;

    rec->bytes_in = (uint64_t) ngx_max(r->request_length, 0);
    rec->bytes_out = (uint64_t) ngx_max(r->connection->sent, 0);

    /* $status */
    if (r->err_status) {
        status = r->err_status;

    } else if (r->headers_out.status) {
        status = r->headers_out.status;

    } else if (r->http_version == NGX_HTTP_VERSION_9) {
        status = 9;

    } else {
        status = 0;
    }

    rec->status = (uint16_t) status;

    flags = 0;

    if (status == NGX_HTTP_SWITCHING_PROTOCOLS
        || (r->upstream && r->upstream->upgrade))
    {
        flags |= PS_REC_UPGRADED;
    }

    ngx_http_pathstats_set_addr(rec, r->connection->sockaddr,
                                plcf->client_address);

    /* data is NULL in a request refused before its method was parsed */
    n = ngx_min(r->method_name.len, PS_METHOD_MAX);
    ngx_http_pathstats_copy((u_char *) rec->method, r->method_name.data, n);
    rec->method_len = (uint8_t) n;

    /* the server that matched, never the client's Host header */

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    host = &cscf->server_name;

    if (host->len == 0) {
        rec->host[0] = '_';
        n = 1;

    } else {
        n = host->len;

        if (n > NGX_HTTP_PATHSTATS_HOST_LEN) {
            n = NGX_HTTP_PATHSTATS_HOST_LEN;
            flags |= PS_REC_HOST_TRUNCATED;
        }

        ngx_memcpy(rec->host, host->data, n);
    }

    rec->host_len = (uint8_t) n;

    if (plcf->key == NULL
        || ngx_http_complex_value(r, plcf->key, &key) != NGX_OK)
    {
        key = r->uri;
    }

    if (plcf->normalize) {
        n = ngx_http_pathstats_normalize((u_char *) rec->key,
                                         plcf->key_max_length,
                                         key.data, key.len, &flags);

    } else {
        n = key.len;

        if (n > (size_t) plcf->key_max_length) {
            n = plcf->key_max_length;
            flags |= PS_REC_KEY_TRUNCATED;
        }

        ngx_http_pathstats_copy((u_char *) rec->key, key.data, n);
    }

    rec->key_len = (uint16_t) n;
    rec->flags = (uint8_t) flags;

    ps_store_release(&desc->tail, tail + 1);

    return NGX_DECLINED;
}


/*
 * Normalization, per '/'-separated segment of the key; the first row that
 * matches a whole segment wins, anything else is kept as it is:
 *
 *   segment                                                placeholder
 *   -----------------------------------------------------  -----------
 *   decimal digits only                  /users/123        {id}
 *   UUID, 8-4-4-4-12 hex digits, any case                   {uuid}
 *   16 or more hex digits, at least one 0-9                 {hex}
 *   20 or more of [A-Za-z0-9_-], a letter and a digit       {token}
 *
 * "/users/42/files/9f86d081884c7d65" becomes "/users/{id}/files/{hex}".
 * Empty segments, "v2", "page-1.html" and the like stay.
 *
 * Pure: writes at most size bytes to dst and returns how many it wrote;
 * ORs PS_REC_NORMALIZED into flags if a segment was replaced and
 * PS_REC_KEY_TRUNCATED if the result did not fit.
 *
 * It runs for every request, so it is one pass over the key: each byte
 * is classified by a table lookup and copied in the same loop, and a
 * segment's placeholder follows from the OR of its bytes' classes and
 * its length alone (only a UUID candidate is looked at again).
 */

#define NGX_HTTP_PATHSTATS_C_DIGIT   0x01      /* 0-9 */
#define NGX_HTTP_PATHSTATS_C_HEX     0x02      /* a-f A-F */
#define NGX_HTTP_PATHSTATS_C_ALPHA   0x04      /* g-z G-Z */
#define NGX_HTTP_PATHSTATS_C_DASH    0x08      /* - _ */
#define NGX_HTTP_PATHSTATS_C_OTHER   0x10      /* anything else but '/' */
#define NGX_HTTP_PATHSTATS_C_SLASH   0x20

/* the longest placeholder, and how many bytes one is copied as */
#define NGX_HTTP_PATHSTATS_PH_COPY   8


static const u_char  ngx_http_pathstats_class[256] = {

#define D  NGX_HTTP_PATHSTATS_C_DIGIT
#define H  NGX_HTTP_PATHSTATS_C_HEX
#define A  NGX_HTTP_PATHSTATS_C_ALPHA
#define T  NGX_HTTP_PATHSTATS_C_DASH
#define O  NGX_HTTP_PATHSTATS_C_OTHER
#define S  NGX_HTTP_PATHSTATS_C_SLASH

    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,     /* 0x00 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,     /* 0x10 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, T, O, S,     /*  !"#$%&'()*+,-./ */
    D, D, D, D, D, D, D, D, D, D, O, O, O, O, O, O,     /* 0123456789:;<=>? */
    O, H, H, H, H, H, H, A, A, A, A, A, A, A, A, A,     /* @ABCDEFGHIJKLMNO */
    A, A, A, A, A, A, A, A, A, A, A, O, O, O, O, T,     /* PQRSTUVWXYZ[\]^_ */
    O, H, H, H, H, H, H, A, A, A, A, A, A, A, A, A,     /* `abcdefghijklmno */
    A, A, A, A, A, A, A, A, A, A, A, O, O, O, O, O,     /* pqrstuvwxyz{|}~  */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,     /* 0x80 */
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
    O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O

#undef D
#undef H
#undef A
#undef T
#undef O
#undef S
};


/* NUL-padded to NGX_HTTP_PATHSTATS_PH_COPY bytes: copied as one word */
static const u_char  ngx_http_pathstats_ph_id[NGX_HTTP_PATHSTATS_PH_COPY] =
    "{id}";
static const u_char  ngx_http_pathstats_ph_uuid[NGX_HTTP_PATHSTATS_PH_COPY] =
    "{uuid}";
static const u_char  ngx_http_pathstats_ph_hex[NGX_HTTP_PATHSTATS_PH_COPY] =
    "{hex}";
static const u_char  ngx_http_pathstats_ph_token[NGX_HTTP_PATHSTATS_PH_COPY] =
    "{token}";


static size_t
ngx_http_pathstats_normalize(u_char *dst, size_t size, u_char *src,
    size_t len, ngx_uint_t *flags)
{
    u_char         k, m;
    size_t         i, n, o, seg;
    ngx_uint_t     copied;
    const u_char  *ph;

    if (len > size) {
        return ngx_http_pathstats_normalize_long(dst, size, src, len, flags);
    }

    /*
     * The key fits: copy it whole, then only rewrite what changes.  Until
     * the first placeholder, a kept segment is already in place.
     */

    ngx_http_pathstats_copy(dst, src, len);

    i = 0;
    o = 0;
    copied = 1;

    for ( ;; ) {

        seg = i;
        m = 0;

        while (i < len) {
            k = ngx_http_pathstats_class[src[i]];

            if (k & NGX_HTTP_PATHSTATS_C_SLASH) {
                break;
            }

            m |= k;
            i++;
        }

        /* the segment src[seg .. i), empty before a '/' or at the end */

        if (i > seg) {
            ph = ngx_http_pathstats_placeholder(src + seg, i - seg, m, &n);

            if (ph) {
                *flags |= PS_REC_NORMALIZED;

                /* the copied key after the placeholder is overwritten */
                copied = 0;

                if (size - o >= NGX_HTTP_PATHSTATS_PH_COPY) {
                    ngx_memcpy(dst + o, ph, NGX_HTTP_PATHSTATS_PH_COPY);
                    o += n;
                    goto slash;
                }

            } else if (copied) {
                o = i;
                goto slash;

            } else {
                ph = src + seg;
                n = i - seg;
            }

            if (n > size - o) {
                ngx_memcpy(dst + o, ph, size - o);
                *flags |= PS_REC_KEY_TRUNCATED;
                return size;
            }

            ngx_http_pathstats_copy(dst + o, ph, n);
            o += n;
        }

    slash:

        if (i == len) {
            return o;
        }

        if (o == size) {
            *flags |= PS_REC_KEY_TRUNCATED;
            return o;
        }

        dst[o++] = '/';
        i++;
    }
}


/*
 * memcpy() for the short, non-overlapping copies of the log handler,
 * inline: word-sized loads and stores, the last ones overlapping, never
 * touching a byte outside src[0 .. n) or dst[0 .. n); src may be NULL
 * if n is 0
 */

static ngx_inline void
ngx_http_pathstats_copy(u_char *dst, const u_char *src, size_t n)
{
    size_t    i;
    uint16_t  h;
    uint32_t  v;
    uint64_t  w;

    if (n >= 8) {
        for (i = 0; i < n - 8; i += 8) {
            ngx_memcpy(&w, src + i, 8);
            ngx_memcpy(dst + i, &w, 8);
        }

        ngx_memcpy(&w, src + n - 8, 8);
        ngx_memcpy(dst + n - 8, &w, 8);

    } else if (n >= 4) {
        ngx_memcpy(&v, src, 4);
        ngx_memcpy(dst, &v, 4);
        ngx_memcpy(&v, src + n - 4, 4);
        ngx_memcpy(dst + n - 4, &v, 4);

    } else if (n >= 2) {
        ngx_memcpy(&h, src, 2);
        ngx_memcpy(dst, &h, 2);
        ngx_memcpy(&h, src + n - 2, 2);
        ngx_memcpy(dst + n - 2, &h, 2);

    } else if (n) {
        dst[0] = src[0];
    }
}


/* the general case: the key is longer than size */

static size_t
ngx_http_pathstats_normalize_long(u_char *dst, size_t size, u_char *src,
    size_t len, ngx_uint_t *flags)
{
    u_char        c, k, m, *p, *q, *last, *s, *end, *seg;
    size_t        i, n, room, rest;
    const u_char  *ph;

    p = dst;
    last = dst + size;
    s = src;
    end = src + len;

    while (s < end) {

        if (*s == '/') {
            if (p == last) {
                *flags |= PS_REC_KEY_TRUNCATED;
                break;
            }

            *p++ = *s++;
            continue;
        }

        seg = s;
        m = 0;
        room = last - p;
        rest = end - s;

        if (rest <= room) {

            /* the rest of the key fits: classify and copy in one loop */

            i = 0;

            do {
                c = seg[i];
                k = ngx_http_pathstats_class[c];

                if (k & NGX_HTTP_PATHSTATS_C_SLASH) {
                    break;
                }

                m |= k;
                p[i] = c;

            } while (++i < rest);

            s = seg + i;
            q = p + i;

        } else {
            q = NULL;

            do {
                k = ngx_http_pathstats_class[*s];

                if (k & NGX_HTTP_PATHSTATS_C_SLASH) {
                    break;
                }

                m |= k;

            } while (++s < end);
        }

        n = s - seg;
        ph = ngx_http_pathstats_placeholder(seg, n, m, &n);

        if (ph) {
            *flags |= PS_REC_NORMALIZED;

            if (room >= NGX_HTTP_PATHSTATS_PH_COPY) {
                ngx_memcpy(p, ph, NGX_HTTP_PATHSTATS_PH_COPY);
                p += n;
                continue;
            }

        } else if (q) {
            p = q;
            continue;

        } else {
            ph = seg;
        }

        if (n > room) {
            p = ngx_cpymem(p, ph, room);
            *flags |= PS_REC_KEY_TRUNCATED;
            break;
        }

        p = ngx_cpymem(p, ph, n);
    }

    return p - dst;
}


/*
 * The placeholder for a segment of len bytes whose classes OR to m, or
 * NULL; *n is set to the placeholder's length.
 */

static ngx_inline const u_char *
ngx_http_pathstats_placeholder(u_char *seg, size_t len, ngx_uint_t m,
    size_t *n)
{
    size_t  i;

    if (m == NGX_HTTP_PATHSTATS_C_DIGIT) {
        *n = sizeof("{id}") - 1;
        return ngx_http_pathstats_ph_id;
    }

    if (len < 16 || (m & NGX_HTTP_PATHSTATS_C_OTHER)) {
        return NULL;
    }

    if (len == 36
        && (m & (NGX_HTTP_PATHSTATS_C_ALPHA | NGX_HTTP_PATHSTATS_C_DASH))
           == NGX_HTTP_PATHSTATS_C_DASH
        && seg[8] == '-' && seg[13] == '-' && seg[18] == '-' && seg[23] == '-')
    {
        for (i = 0; i < 36; i++) {
            if (i != 8 && i != 13 && i != 18 && i != 23
                && (ngx_http_pathstats_class[seg[i]]
                    & (NGX_HTTP_PATHSTATS_C_DIGIT | NGX_HTTP_PATHSTATS_C_HEX))
                   == 0)
            {
                break;
            }
        }

        if (i == 36) {
            *n = sizeof("{uuid}") - 1;
            return ngx_http_pathstats_ph_uuid;
        }
    }

    if (!(m & NGX_HTTP_PATHSTATS_C_DIGIT)) {
        return NULL;
    }

    if ((m & ~(NGX_HTTP_PATHSTATS_C_DIGIT | NGX_HTTP_PATHSTATS_C_HEX)) == 0) {
        *n = sizeof("{hex}") - 1;
        return ngx_http_pathstats_ph_hex;
    }

    if (len >= 20
        && (m & (NGX_HTTP_PATHSTATS_C_HEX | NGX_HTTP_PATHSTATS_C_ALPHA)))
    {
        *n = sizeof("{token}") - 1;
        return ngx_http_pathstats_ph_token;
    }

    return NULL;
}


static void
ngx_http_pathstats_set_addr(ps_record_t *rec, struct sockaddr *sa,
    ngx_uint_t mode)
{
    u_char               *a;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    ngx_memzero(rec->addr, sizeof(rec->addr));
    rec->addr_family = PS_AF_NONE;

    if (mode == NGX_HTTP_PATHSTATS_ADDR_OFF) {
        return;
    }

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        ngx_memcpy(rec->addr, &sin->sin_addr, 4);
        rec->addr_family = PS_AF_INET;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        a = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            ngx_memcpy(rec->addr, a + 12, 4);
            rec->addr_family = PS_AF_INET;

        } else {
            ngx_memcpy(rec->addr, a, 16);
            rec->addr_family = PS_AF_INET6;
        }

        break;
#endif

    default:
        return;
    }

    if (mode == NGX_HTTP_PATHSTATS_ADDR_TRUNCATED) {
        a = rec->addr;

        /* IPv4 keeps its /24, IPv6 its /48 */
        if (rec->addr_family == PS_AF_INET) {
            a[3] = 0;

        } else {
            ngx_memzero(a + 6, 10);
        }
    }
}


/* the zone file: created or reattached by the master */

/*
 * Runs as the init callback of a small nginx shared memory zone that the
 * pathstats_zone directive registers only for this purpose: it is the one
 * hook that runs after the whole configuration, worker_processes included,
 * is final, that runs for "nginx -t" too, and whose failure rolls the new
 * cycle back (a failing init_module would make the master exit).
 */

static ngx_int_t
ngx_http_pathstats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    uint32_t                         capacity;
    ngx_fd_t                         fd;
    ngx_int_t                        rc;
    ngx_err_t                        err;
    ngx_uint_t                       rings;
    ngx_log_t                       *log;
    ngx_file_info_t                  fi;
    ngx_core_conf_t                 *ccf;
    ps_zone_header_t                 want;
    ngx_pool_cleanup_t              *cln;
    ngx_http_pathstats_main_conf_t  *pmcf;

    pmcf = shm_zone->data;
    log = shm_zone->shm.log;

    ccf = (ngx_core_conf_t *) ngx_get_conf(pmcf->cycle->conf_ctx,
                                           ngx_core_module);

    rings = pmcf->rings;

    if (rings == 0) {
        /* room for two generations of workers during a reload */
        rings = ngx_max(NGX_HTTP_PATHSTATS_RINGS_DEFAULT,
                        4 * (ngx_uint_t) ccf->worker_processes);
        rings = ngx_min(rings, PS_RINGS_MAX);
    }

    capacity = ngx_http_pathstats_ring_capacity(pmcf->size, rings);

    if (capacity == 0) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                      "pathstats_zone size=%O is too small for %ui rings "
                      "(4 x worker_processes), it needs at least size=%uL",
                      pmcf->size, rings,
                      (uint64_t) rings * PS_RING_CAPACITY_MIN
                      * PS_RECORD_SIZE);
        return NGX_ERROR;
    }

    ngx_memzero(&want, sizeof(ps_zone_header_t));
    (void) ps_zone_layout(&want, rings, capacity, pmcf->snapshot);

    cln = ngx_pool_cleanup_add(pmcf->cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_pathstats_unmap;
    cln->data = pmcf;

    /*
     * Created with O_EXCL so that only a file this master made itself
     * gets its mode and owner changed: an operator's own file is kept.
     */

    fd = open((char *) pmcf->file.data, O_RDWR);

    if (fd == NGX_INVALID_FILE && ngx_errno == NGX_ENOENT) {
        fd = open((char *) pmcf->file.data, O_RDWR|O_CREAT|O_EXCL, 0660);

        if (fd != NGX_INVALID_FILE) {

            /* the umask must not take the group's access away */
            if (fchmod(fd, 0660) == -1) {
                ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log,
                                              ngx_errno,
                                              "fchmod(\"%V\") failed",
                                              &pmcf->file);
                goto failed;
            }

            /*
             * Workers write through the inherited mapping whoever owns
             * the file; giving it to the worker user and group lets an
             * aggregator running in that group open it too.
             */
            if (geteuid() == 0
                && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
                && fchown(fd, ccf->user, ccf->group) == -1)
            {
                ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log,
                                              ngx_errno,
                                              "fchown(\"%V\", %s) failed",
                                              &pmcf->file, ccf->username);
                goto failed;
            }
        }

    }

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, err,
                                      "open() \"%V\" failed", &pmcf->file);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, ngx_errno,
                                      ngx_fd_info_n " \"%V\" failed",
                                      &pmcf->file);
        goto failed;
    }

    if (ngx_file_size(&fi) == 0) {
        rc = ngx_http_pathstats_create_file(pmcf, fd, log, &want);

    } else {
        rc = ngx_http_pathstats_attach_file(pmcf, fd,
                                            (size_t) ngx_file_size(&fi),
                                            log, &want);
    }

    if (rc != NGX_OK) {
        goto failed;
    }

    /* the mapping outlives the descriptor */
    (void) ngx_close_file(fd);

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_pathstats_create_file(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_fd_t fd, ngx_log_t *log, ps_zone_header_t *want)
{
    u_char            *base;
    ps_zone_header_t  *h;

    /* an empty file is in nobody's use, so it may be sized */

    if (ftruncate(fd, (off_t) want->file_size) == -1) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, ngx_errno,
                                      "ftruncate(\"%V\", %uL) failed",
                                      &pmcf->file, want->file_size);
        return NGX_ERROR;
    }

    base = mmap(NULL, (size_t) want->file_size, PROT_READ|PROT_WRITE,
                MAP_SHARED, fd, 0);

    if (base == MAP_FAILED) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, ngx_errno,
                                      "mmap(\"%V\", %uL) failed",
                                      &pmcf->file, want->file_size);
        return NGX_ERROR;
    }

    pmcf->base = base;
    pmcf->mapped = (size_t) want->file_size;

    /*
     * The file reads as zeros: every ring is PS_OWNER_FREE with all its
     * counters at 0.  The magic goes in last, so that a reader that sees
     * it also sees the rest of the header.
     */

    h = (ps_zone_header_t *) base;

    want->zone_id = ngx_http_pathstats_zone_id(ngx_http_pathstats_now_us());
    want->created_us = ngx_http_pathstats_now_us();
    want->master_pid = ngx_test_config ? 0 : (uint64_t) ngx_pid;
    want->attach_count = ngx_test_config ? 0 : 1;
    want->magic = 0;

    ngx_memcpy(h, want, sizeof(ps_zone_header_t));

    ps_store_release(&h->magic, PS_ZONE_MAGIC);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "pathstats: created zone file \"%V\": %uD rings of %uD "
                  "records, snapshot %uL bytes, %uL bytes in all",
                  &pmcf->file, want->ring_count, want->ring_capacity,
                  want->snapshot_size, want->file_size);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pathstats_attach_file(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_fd_t fd, size_t size, ngx_log_t *log, ps_zone_header_t *want)
{
    u_char            *base;
    const char        *reason;
    ps_zone_header_t  *h;

    base = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);

    if (base == MAP_FAILED) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, ngx_errno,
                                      "mmap(\"%V\", %uz) failed",
                                      &pmcf->file, size);
        return NGX_ERROR;
    }

    pmcf->base = base;
    pmcf->mapped = size;

    reason = ps_zone_header_check(base, size);

    if (reason) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                                      "pathstats zone file \"%V\" "
                                      "is unusable: %s", &pmcf->file,
                                      reason);
        return NGX_ERROR;
    }

    h = (ps_zone_header_t *) base;

    /*
     * Counters must survive reloads and binary upgrades, so a file that
     * is in use is never resized or rewritten: a changed geometry waits
     * for a restart with a new file.
     */

    if (h->ring_count != want->ring_count
        || h->ring_capacity != want->ring_capacity
        || h->snapshot_size != want->snapshot_size)
    {
        ngx_http_pathstats_zone_error(NGX_LOG_WARN, pmcf, log, 0,
                      "pathstats zone file \"%V\" has %uD rings of %uD "
                      "records and a %uL byte snapshot area, the "
                      "configuration asks for %uD rings of %uD records "
                      "and %uL bytes; using the file as it is, restart "
                      "with a new file to apply",
                      &pmcf->file, h->ring_count, h->ring_capacity,
                      h->snapshot_size, want->ring_count,
                      want->ring_capacity, want->snapshot_size);
    }

    if (!ngx_test_config) {
        (void) __atomic_fetch_add(&h->attach_count, 1, __ATOMIC_RELAXED);
        ps_store_relaxed(&h->master_pid, (uint64_t) ngx_pid);
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "pathstats: attached zone file \"%V\": %uD rings of %uD "
                  "records", &pmcf->file, h->ring_count, h->ring_capacity);

    return NGX_OK;
}


static void
ngx_http_pathstats_unmap(void *data)
{
    ngx_http_pathstats_main_conf_t  *pmcf = data;

    if (pmcf->base == NULL) {
        return;
    }

    if (munmap(pmcf->base, pmcf->mapped) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "munmap(\"%V\") failed", &pmcf->file);
    }

    pmcf->base = NULL;
}


/* the largest power of two with rings x capacity x record <= size */

static uint32_t
ngx_http_pathstats_ring_capacity(off_t size, ngx_uint_t rings)
{
    uint64_t  per, cap;

    if (size <= 0 || rings == 0) {
        return 0;
    }

    per = (uint64_t) size / ((uint64_t) rings * PS_RECORD_SIZE);

    if (per < PS_RING_CAPACITY_MIN) {
        return 0;
    }

    cap = PS_RING_CAPACITY_MIN;

    while (cap * 2 <= per && cap < 0x80000000ULL) {
        cap *= 2;
    }

    return (uint32_t) cap;
}


/*
 * The zone id tells the aggregator that a file was recreated, so that it
 * does not apply ring positions of an older file: it must not repeat.
 */

static uint64_t
ngx_http_pathstats_zone_id(uint64_t now)
{
    ssize_t   n;
    uint64_t  id;
    ngx_fd_t  fd;

    id = 0;

    fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = read(fd, &id, sizeof(uint64_t));

        if (n != sizeof(uint64_t)) {
            id = 0;
        }

        (void) ngx_close_file(fd);
    }

    if (id == 0) {
        id = ((uint64_t) ngx_random() << 33) ^ ((uint64_t) ngx_random() << 2)
             ^ now ^ ((uint64_t) ngx_pid << 48);
    }

    return id ? id : 1;
}


static uint64_t
ngx_http_pathstats_now_us(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000000 + tp->msec * 1000;
}


/*
 * Errors found after parsing (the file, the worker count) are reported
 * like ngx_conf_log_error() would, naming the pathstats_zone line.
 */

static void
ngx_http_pathstats_zone_error(ngx_uint_t level,
    ngx_http_pathstats_main_conf_t *pmcf, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p, *last;
    u_char    errstr[NGX_MAX_CONF_ERRSTR];
    va_list   args;

    last = errstr + NGX_MAX_CONF_ERRSTR;

    va_start(args, fmt);
    p = ngx_vslprintf(errstr, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_log_errno(p, last, err);
    }

    ngx_log_error(level, log, 0, "%*s in %V:%ui", p - errstr, errstr,
                  &pmcf->zone_conf_file, pmcf->zone_conf_line);
}


/* workers: claiming a ring */

static ngx_int_t
ngx_http_pathstats_init_process(ngx_cycle_t *cycle)
{
    ps_zone_header_t                *h;
    ngx_http_pathstats_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_pathstats_module);

    if (pmcf == NULL || pmcf->base == NULL) {
        return NGX_OK;
    }

    h = (ps_zone_header_t *) pmcf->base;

    /*
     * The master wrote its pid before it daemonized; its workers know
     * the final one.
     */
    ps_store_relaxed(&h->master_pid,
                     (uint64_t) (ngx_process == NGX_PROCESS_WORKER
                                 ? ngx_parent : ngx_pid));

    ngx_http_pathstats_worker.header = h;

    /* a worker without a ring still serves; it only counts no_ring */
    (void) ngx_http_pathstats_claim_ring(cycle, h);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pathstats_claim_ring(ngx_cycle_t *cycle, ps_zone_header_t *h)
{
    u_char                        state;
    uint64_t                      me, start, owner, expected, lost;
    uint32_t                      i, pass;
    ps_ring_desc_t               *desc;
    ngx_http_pathstats_worker_t  *w;

    w = &ngx_http_pathstats_worker;

    if (ngx_http_pathstats_proc_stat(ngx_pid, &state, &start) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "pathstats: cannot read the start time of "
                      "worker %P, the aggregator will not free its ring "
                      "after a restart", ngx_pid);
        start = 0;
    }

    me = ps_owner_make(ngx_pid, start);

    /*
     * Pass 0 takes a free ring; pass 1 adopts the ring of a worker that
     * is proven gone, which the aggregator has not freed yet (it may be
     * stopped, or slow).
     */

    for (pass = 0; pass < 2; pass++) {

        for (i = 0; i < h->ring_count; i++) {
            desc = ps_zone_ring_desc(h, i);
            owner = ps_load_acquire(&desc->owner);

            if (pass == 0) {
                if (owner != PS_OWNER_FREE) {
                    continue;
                }

            } else if (owner == PS_OWNER_FREE
                       || ngx_http_pathstats_owner_dead(owner) != NGX_OK)
            {
                continue;
            }

            expected = owner;

            if (!ps_cas(&desc->owner, &expected, me)) {
                continue;
            }

            if (pass == 1) {
                /*
                 * A producer that died mid-request has counted a request
                 * in seen that it never published: account for it.
                 * Records it did publish stay in the ring, consumable.
                 */
                lost = ps_load_relaxed(&desc->seen)
                       - ps_load_relaxed(&desc->dropped)
                       - ps_load_relaxed(&desc->tail);

                ps_store_relaxed(&desc->lost, lost);
            }

            ps_store_relaxed(&desc->claimed_at_us,
                             ngx_http_pathstats_now_us());
            (void) __atomic_fetch_add(&desc->claims, 1, __ATOMIC_RELAXED);

            w->desc = desc;
            w->slots = ps_zone_ring_slot(h, i, 0);
            w->capacity = h->ring_capacity;
            w->cached_head = ps_load_acquire(&desc->head);

            if (pass == 0) {
                ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                              "pathstats: worker %P claimed ring %uD",
                              ngx_pid, i);

            } else {
                ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                              "pathstats: worker %P claimed ring %uD "
                              "of dead pid %D", ngx_pid, i,
                              ps_owner_pid(owner));
            }

            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                  "pathstats: no free ring among %uD for worker %P, its "
                  "requests are only counted in no_ring; raise "
                  "pathstats_zone rings= and restart with a new file",
                  h->ring_count, ngx_pid);

    return NGX_DECLINED;
}


/*
 * NGX_OK only when the owner is proven gone: its pid is missing or a
 * zombie, or belongs to a process started at another time (pid reuse).
 */

static ngx_int_t
ngx_http_pathstats_owner_dead(uint64_t owner)
{
    u_char     state;
    uint64_t   start;
    ngx_int_t  rc;

    rc = ngx_http_pathstats_proc_stat(ps_owner_pid(owner), &state, &start);

    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    if (state == 'Z' || state == 'X'
        || (uint32_t) start != ps_owner_start(owner))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * Reads the state (field 3) and start time (field 22) of /proc/<pid>/stat.
 * NGX_DECLINED when there is no such process.
 */

static ngx_int_t
ngx_http_pathstats_proc_stat(ngx_pid_t pid, u_char *state, uint64_t *start)
{
    u_char      *p, *last;
    ssize_t      n;
    ngx_fd_t     fd;
    ngx_err_t    err;
    ngx_uint_t   field;
    u_char       name[64], buf[1024];

    if (pid <= 0) {
        return NGX_DECLINED;
    }

    ngx_sprintf(name, "/proc/%P/stat%Z", pid);

    fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        return (err == NGX_ENOENT || err == ESRCH) ? NGX_DECLINED
                                                  : NGX_ERROR;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    err = ngx_errno;

    (void) ngx_close_file(fd);

    if (n <= 0) {
        /* the process went away between open() and read() */
        return (n == -1 && err != ESRCH) ? NGX_ERROR : NGX_DECLINED;
    }

    last = buf + n;

    /* the command name may hold spaces and ')': skip to the last ')' */

    for (p = last; p > buf && p[-1] != ')'; p--) { /* void */ }

    if (p == buf || last - p < 3) {
        return NGX_ERROR;
    }

    *state = p[1];

    /* p[0] is the space before field 3 */

    field = 2;

    for ( /* void */ ; p < last; p++) {
        if (*p == ' ' && ++field == 22) {
            p++;
            break;
        }
    }

    if (field != 22 || p >= last || *p < '0' || *p > '9') {
        return NGX_ERROR;
    }

    *start = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        *start = *start * 10 + (*p++ - '0');
    }

    return NGX_OK;
}


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
    ngx_time_t                      *tp;
    ngx_http_pathstats_loc_conf_t   *plcf;
    ngx_http_pathstats_main_conf_t  *pmcf;

    ngx_memzero(ctx, sizeof(ngx_http_pathstats_admin_ctx_t));

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pathstats_module);
    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pathstats_module);

    tp = ngx_timeofday();

    ctx->now_ms = (uint64_t) tp->sec * 1000 + tp->msec;
    ctx->stale_ms = plcf->admin_stale;

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

    ctx->generated_ms = ctx->view->header->generated_us / 1000;
    ctx->age_ms = ctx->now_ms > ctx->generated_ms
                  ? ctx->now_ms - ctx->generated_ms : 0;
    ctx->stale = (ctx->age_ms > ctx->stale_ms);
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
        c->invalid = ps_snap_validate(c->buf, len, &c->view);

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

    return &c->view;
}


static ngx_int_t
ngx_http_pathstats_admin_paths(ngx_http_request_t *r,
    ngx_http_pathstats_admin_ctx_t *ctx)
{
    size_t                  len;
    u_char                 *p;
    uint32_t                n, i, idx, *page_rows, found;
    uint64_t                start, total, pages;
    ngx_buf_t              *b;
    ngx_int_t               page, limit;
    ngx_str_t               q, host, method, value;
    ngx_uint_t              asc, w, k;
    ps_snap_view_t         *v;
    const ps_snap_row_t    *row;

    /* parameters first: a bad one is the client's error, whatever else */

    w = PS_SNAP_WIN_24H;
    k = PS_SNAP_SORT_REQUESTS;
    asc = 0;
    page = 1;
    limit = NGX_HTTP_PATHSTATS_LIMIT_DEFAULT;

    if (ngx_http_arg(r, (u_char *) "window", 6, &value) == NGX_OK) {
        w = ngx_http_pathstats_admin_lookup(&value,
                                            ngx_http_pathstats_windows);
        if (w == NGX_HTTP_PATHSTATS_NONE) {
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "window",
                                     "window must be 1m, 1h or 24h");
        }
    }

    if (ngx_http_arg(r, (u_char *) "sort", 4, &value) == NGX_OK) {
        k = ngx_http_pathstats_admin_lookup(&value, ngx_http_pathstats_sorts);
        if (k == NGX_HTTP_PATHSTATS_NONE) {
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "sort",
                                     "sort must be requests, errors, "
                                     "error_rate, p95, bytes or last_seen");
        }
    }

    if (ngx_http_arg(r, (u_char *) "order", 5, &value) == NGX_OK) {
        if (value.len == 3 && ngx_strncasecmp(value.data,
                                              (u_char *) "asc", 3) == 0)
        {
            asc = 1;

        } else if (!(value.len == 4
                     && ngx_strncasecmp(value.data, (u_char *) "desc", 4)
                        == 0))
        {
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "order",
                                     "order must be desc or asc");
        }
    }

    if (ngx_http_arg(r, (u_char *) "page", 4, &value) == NGX_OK) {
        page = ngx_atoi(value.data, value.len);
        if (page == NGX_ERROR || page < 1) {
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "page",
                                     "page must be an integer >= 1");
        }
    }

    if (ngx_http_arg(r, (u_char *) "limit", 5, &value) == NGX_OK) {
        limit = ngx_atoi(value.data, value.len);
        if (limit == NGX_ERROR || limit < 1
            || limit > NGX_HTTP_PATHSTATS_LIMIT_MAX)
        {
            return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "invalid parameter", "limit",
                                     "limit must be an integer from 1 "
                                     "to 200");
        }
    }

    if (ngx_http_pathstats_admin_arg(r, "q", &q) != NGX_OK
        || ngx_http_pathstats_admin_arg(r, "host", &host) != NGX_OK
        || ngx_http_pathstats_admin_arg(r, "method", &method) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q.len > NGX_HTTP_PATHSTATS_FILTER_MAX) {
        return ngx_http_pathstats_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                 "invalid parameter", "q",
                                 "q is longer than 512 bytes");
    }

    v = ctx->view;

    if (v == NULL) {
        return ngx_http_pathstats_admin_unavailable(r, ctx);
    }

    if (v->rows[w] == NULL) {
        return ngx_http_pathstats_admin_error(r,
                                 NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "window not in the snapshot", NULL, NULL);
    }

    n = v->row_count[w];

    page_rows = ngx_palloc(r->pool, limit * sizeof(uint32_t));
    if (page_rows == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    start = ((uint64_t) page - 1 > 0xffffffff)
            ? UINT64_MAX : ((uint64_t) page - 1) * (uint64_t) limit;

    total = 0;
    found = 0;
    len = 0;

    for (i = 0; i < n; i++) {
        idx = ps_snap_row_index(v, w, k, asc, i);
        row = &v->rows[w][idx];

        if (!ngx_http_pathstats_admin_match(v, row, &q, &host, &method)) {
            continue;
        }

        if (total >= start && found < (uint32_t) limit) {
            page_rows[found++] = idx;
            len += row->json.len + 1;
        }

        total++;
    }

    /* a page of distinct rows cannot be larger than the blob */

    if (len > (size_t) v->blob_len + found) {
        return ngx_http_pathstats_admin_error(r,
                                 NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "snapshot invalid: rows overlap",
                                 NULL, NULL);
    }

    pages = (total + limit - 1) / limit;

    len += sizeof("{\"data\":[],\"pagination\":{\"page\":,\"limit\":,"
                  "\"total\":,\"total_pages\":,\"has_next\":false,"
                  "\"has_prev\":false},\"metadata\":{,\"window\":\"24h\""
                  ",\"window_info\":}}") - 1
           + 4 * NGX_INT64_LEN + NGX_HTTP_PATHSTATS_META_LEN;

    if (v->has_window_info[w]) {
        len += v->window_info[w].len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"data\":[", sizeof("{\"data\":[") - 1);

    for (i = 0; i < found; i++) {
        row = &v->rows[w][page_rows[i]];

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, v->blob + row->json.off, row->json.len);
    }

    p = ngx_sprintf(p, "],\"pagination\":{\"page\":%i,\"limit\":%i,"
                    "\"total\":%uL,\"total_pages\":%uL,\"has_next\":%s,"
                    "\"has_prev\":%s},\"metadata\":{",
                    page, limit, total, pages,
                    (uint64_t) page < pages ? "true" : "false",
                    page > 1 ? "true" : "false");

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
    ngx_str_t *q, ngx_str_t *host, ngx_str_t *method)
{
    u_char  *s, *last;
    size_t   len;

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
          + ref->len + NGX_HTTP_PATHSTATS_META_LEN + (range ? range->len : 0);

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
    p = ngx_sprintf(p, "\"source\":\"snapshot\",\"version\":%uL,"
                    "\"generated_at\":\"",
                    ctx->view->header->sequence);

    p = ngx_http_pathstats_admin_iso(p, ctx->generated_ms);

    return ngx_sprintf(p, "\",\"age_seconds\":%uL.%03uL,\"stale\":%s",
                       ctx->age_ms / 1000, ctx->age_ms % 1000,
                       ctx->stale ? "true" : "false");
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
          + (p - reasons) + NGX_HTTP_PATHSTATS_META_LEN + 4 * NGX_INT64_LEN;

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


static char *
ngx_http_pathstats_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pathstats_loc_conf_t  *plcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (plcf->admin) {
        return "is duplicate";
    }

    plcf->admin = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pathstats_admin_handler;

    return NGX_CONF_OK;
}


/* configuration */

static void *
ngx_http_pathstats_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_pathstats_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pathstats_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pmcf->file = { 0, NULL };
     *     pmcf->rings = 0;
     *     pmcf->on_conf_file = { 0, NULL };
     *     pmcf->base = NULL;
     */

    return pmcf;
}


static void *
ngx_http_pathstats_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pathstats_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pathstats_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->key = NULL;
     *     conf->admin = 0;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->normalize = NGX_CONF_UNSET;
    conf->key_max_length = NGX_CONF_UNSET;
    conf->client_address = NGX_CONF_UNSET_UINT;
    conf->admin_stale = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_pathstats_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_pathstats_loc_conf_t  *prev = parent;
    ngx_http_pathstats_loc_conf_t  *conf = child;

    /*
     * The admin location records only when it says so itself: its own
     * polling must not flood the statistics it serves.
     */
    if (conf->admin && conf->enable == NGX_CONF_UNSET) {
        conf->enable = 0;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->normalize, prev->normalize, 1);
    ngx_conf_merge_value(conf->key_max_length, prev->key_max_length,
                         PS_KEY_MAX);
    ngx_conf_merge_uint_value(conf->client_address, prev->client_address,
                              NGX_HTTP_PATHSTATS_ADDR_FULL);
    ngx_conf_merge_msec_value(conf->admin_stale, prev->admin_stale,
                              NGX_HTTP_PATHSTATS_STALE);

    if (conf->key == NULL) {
        conf->key = prev->key;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_pathstats_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pathstats_main_conf_t  *pmcf = conf;

    off_t            size;
    ssize_t          snapshot;
    ngx_int_t        rings;
    ngx_str_t       *value, s, name;
    ngx_uint_t       i, n;
    ngx_shm_zone_t  *shm_zone;

    if (pmcf->file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = NGX_HTTP_PATHSTATS_SIZE;
    snapshot = NGX_HTTP_PATHSTATS_SNAPSHOT;
    rings = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {

            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            size = ngx_parse_offset(&s);

            if (size == NGX_ERROR || size == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "snapshot=", 9) == 0) {

            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            snapshot = ngx_parse_size(&s);

            if (snapshot == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid snapshot size \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (snapshot < NGX_HTTP_PATHSTATS_SNAPSHOT_MIN) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "snapshot size \"%V\" is too small, "
                                   "the minimum is %uz", &value[i],
                                   (size_t) NGX_HTTP_PATHSTATS_SNAPSHOT_MIN);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rings=", 6) == 0) {

            rings = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (rings == NGX_ERROR
                || rings < PS_RINGS_MIN || rings > PS_RINGS_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rings \"%V\", it must be "
                                   "between %d and %d", &value[i],
                                   PS_RINGS_MIN, PS_RINGS_MAX);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    /*
     * With the default ring count the final check waits for
     * worker_processes; its lower bound is known now.
     */

    n = rings ? (ngx_uint_t) rings : NGX_HTTP_PATHSTATS_RINGS_DEFAULT;

    if (ngx_http_pathstats_ring_capacity(size, n) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "size=%O is too small for %ui rings of %d "
                           "records, it needs at least size=%O",
                           size, n, PS_RING_CAPACITY_MIN,
                           (off_t) (n * PS_RING_CAPACITY_MIN
                                    * PS_RECORD_SIZE));
        return NGX_CONF_ERROR;
    }

    pmcf->file = value[1];

    if (pmcf->file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone file \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &pmcf->file, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    pmcf->size = size;
    pmcf->snapshot = (size_t) snapshot;
    pmcf->rings = (ngx_uint_t) rings;
    pmcf->cycle = cf->cycle;
    pmcf->zone_conf_file = cf->conf_file->file.name;
    pmcf->zone_conf_line = cf->conf_file->line;

    /* see ngx_http_pathstats_init_zone() for why a shm zone */

    ngx_str_set(&name, "pathstats_zone");

    shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                     &ngx_http_pathstats_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_pathstats_init_zone;
    shm_zone->data = pmcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_pathstats(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pathstats_loc_conf_t  *plcf = conf;

    char                            *rv;
    ngx_http_pathstats_main_conf_t  *pmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* remembered to name this line if no pathstats_zone follows */

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pathstats_module);

    if (plcf->enable && pmcf->on_conf_file.data == NULL) {
        pmcf->on_conf_file = cf->conf_file->file.name;
        pmcf->on_conf_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_pathstats_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_pathstats_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_pathstats_module);

    if (pmcf->file.data == NULL) {

        if (pmcf->on_conf_file.data) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"pathstats on\" needs a \"pathstats_zone\" "
                          "in the http block in %V:%ui",
                          &pmcf->on_conf_file, pmcf->on_conf_line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_pathstats_log_handler;

    return NGX_OK;
}
