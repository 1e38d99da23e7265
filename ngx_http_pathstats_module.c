
/*
 * pathstats: per-path request statistics, the recorder.
 *
 * The master creates (or reattaches) a named zone file and maps it; every
 * worker inherits the mapping, claims one single-producer ring of it in
 * init_process and, in the log phase, copies one fixed-size record per
 * request into that ring and publishes it with a release store of the
 * ring's tail.  The aggregator maps the same file and drains the rings.
 * The layout is include/pathstats_shm.h; the admin location, which serves
 * what the aggregator publishes back, is ngx_http_pathstats_admin.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pathstats_module.h"
#include "ngx_http_pathstats_version.h"


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


/*
 * What a worker knows about its own ring.  Cached once in init_process,
 * so that the log handler reads neither the zone header nor the
 * configuration to find its slots.
 */
typedef struct {
    ps_zone_header_t            *header;        /* NULL: no zone */
    ps_ring_desc_t              *desc;          /* NULL: no ring */
    u_char                      *slots;         /* unit 0 of the ring */
    uint64_t                     capacity;      /* units */
    uint64_t                     cached_head;
    ngx_http_pathstats_main_conf_t  *pmcf;      /* of the worker's cycle */
    ngx_uint_t                   detached;      /* the zone was lost */
} ngx_http_pathstats_worker_t;


static ngx_int_t ngx_http_pathstats_log_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_pathstats_fill(ngx_http_request_t *r,
    ngx_http_pathstats_loc_conf_t *plcf, ps_record_t *rec);
static uint64_t ngx_http_pathstats_upstream_ms(ngx_http_request_t *r);
static ngx_uint_t ngx_http_pathstats_status(ngx_http_request_t *r);
static u_char *ngx_http_pathstats_set_host(ngx_http_request_t *r,
    ps_record_t *rec, u_char *p);
static u_char *ngx_http_pathstats_set_key(ngx_http_request_t *r,
    ngx_http_pathstats_loc_conf_t *plcf, ps_record_t *rec, u_char *p);
static size_t ngx_http_pathstats_normalize(u_char *dst, size_t size,
    u_char *src, size_t len, ngx_uint_t *flags);
static size_t ngx_http_pathstats_normalize_long(u_char *dst, size_t size,
    u_char *src, size_t len, ngx_uint_t *flags);
static ngx_inline void ngx_http_pathstats_copy(u_char *dst,
    const u_char *src, size_t n);
static ngx_inline const u_char *ngx_http_pathstats_placeholder(u_char *seg,
    size_t len, ngx_uint_t m, size_t *n);
static u_char *ngx_http_pathstats_set_addr(ps_record_t *rec, u_char *p,
    struct sockaddr *sa, ngx_uint_t mode);

static ngx_int_t ngx_http_pathstats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_pathstats_check_dir(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_log_t *log);
static ngx_fd_t ngx_http_pathstats_open_file(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_core_conf_t *ccf,
    ngx_log_t *log);
static ngx_int_t ngx_http_pathstats_check_file(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_core_conf_t *ccf,
    ngx_file_info_t *fi, ngx_log_t *log);
static ngx_int_t ngx_http_pathstats_create_file(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_fd_t fd, ngx_log_t *log,
    ps_zone_header_t *want);
static ngx_int_t ngx_http_pathstats_attach_file(
    ngx_http_pathstats_main_conf_t *pmcf, ngx_fd_t fd, ngx_file_info_t *fi,
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
static void ngx_http_pathstats_guard(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_log_t *log);
static void ngx_http_pathstats_sigbus(int signo, siginfo_t *si,
    void *ucontext);
static void ngx_http_pathstats_detach(ngx_log_t *log);
static ngx_int_t ngx_http_pathstats_claim_ring(ngx_cycle_t *cycle,
    ngx_http_pathstats_main_conf_t *pmcf);
static ngx_int_t ngx_http_pathstats_owner_dead(uint64_t owner);
static ngx_int_t ngx_http_pathstats_proc_stat(ngx_pid_t pid, u_char *state,
    uint64_t *start);

static void *ngx_http_pathstats_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_pathstats_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pathstats_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_pathstats_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pathstats_zone_param(ngx_conf_t *cf, ngx_str_t *param,
    off_t *size, ssize_t *snapshot, ngx_int_t *rings);
static char *ngx_http_pathstats(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_pathstats_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_pathstats_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_pathstats_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


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

      ngx_null_command
};


static ngx_http_variable_t  ngx_http_pathstats_vars[] = {

    /* the same version as pathstats-aggregator --version */
    { ngx_string("pathstats_version"), NULL,
      ngx_http_pathstats_version_variable, 0, 0, 0 },

      ngx_http_null_variable
};


static ngx_http_module_t  ngx_http_pathstats_module_ctx = {
    ngx_http_pathstats_add_variables,      /* preconfiguration */
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


/* the SIGBUS guard of a worker's mapping: ngx_http_pathstats_guard() */
static u_char                        *ngx_http_pathstats_guard_start;
static u_char                        *ngx_http_pathstats_guard_end;
static struct sigaction               ngx_http_pathstats_guard_old;
static volatile sig_atomic_t          ngx_http_pathstats_zone_faulted;


/* the recorder: log phase */

static ngx_int_t
ngx_http_pathstats_log_handler(ngx_http_request_t *r)
{
    u_char                         *slot;
    uint64_t                        tail, off, room, free, units, need;
    ps_record_t                    *rec;
    ps_ring_desc_t                 *desc;
    ngx_http_pathstats_worker_t    *w;
    ngx_http_pathstats_loc_conf_t  *plcf;
    uint64_t                        buf[PS_RECORD_MAX_UNITS
                                        * PS_RECORD_UNIT / 8];

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pathstats_module);

    if (!plcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    w = &ngx_http_pathstats_worker;

    if (ngx_http_pathstats_zone_faulted) {
        ngx_http_pathstats_detach(r->connection->log);
    }

    desc = w->desc;

    if (desc == NULL) {
        goto no_ring;
    }

    /* this worker is the ring's only producer: no atomic RMW needed */

    ps_store_relaxed(&desc->seen, ps_load_relaxed(&desc->seen) + 1);

    tail = ps_load_relaxed(&desc->tail);
    off = tail & (w->capacity - 1);
    room = w->capacity - off;             /* units before the ring's end */
    free = w->capacity - (tail - w->cached_head);

    if (free < PS_RECORD_MAX_UNITS) {
        w->cached_head = ps_load_acquire(&desc->head);
        free = w->capacity - (tail - w->cached_head);
    }

    slot = w->slots + off * PS_RECORD_UNIT;

    if (room >= PS_RECORD_MAX_UNITS && free >= PS_RECORD_MAX_UNITS) {

        /* room for any record: written in place, its size known after */

        units = ngx_http_pathstats_fill(r, plcf, (ps_record_t *) slot);

    } else {

        /*
         * Near the ring's end, or the ring nearly full: the record is made
         * aside, so that its exact size decides whether it fits, and
         * where.  A record that would run over the ring's end starts at
         * its first unit, after a skip marker that fills the end.
         */

        rec = (ps_record_t *) buf;
        units = ngx_http_pathstats_fill(r, plcf, rec);
        need = (room >= units) ? units : room + units;

        if (free < need) {
            ps_store_relaxed(&desc->dropped,
                             ps_load_relaxed(&desc->dropped) + 1);
            return NGX_DECLINED;
        }

        if (room < units) {
            ngx_memzero(slot, 8);
            ((ps_record_t *) slot)->flags = PS_REC_SKIP;
            tail += room;
            slot = w->slots;
        }

        ngx_memcpy(slot, buf, units * PS_RECORD_UNIT);
    }

    if (ngx_http_pathstats_zone_faulted) {
        /*
         * The record, or the ring's counters, went to a page that the
         * file no longer has: never publish it, count it as unrecorded.
         */
        ps_store_relaxed(&desc->seen, ps_load_relaxed(&desc->seen) - 1);
        ngx_http_pathstats_detach(r->connection->log);
        goto no_ring;
    }

    ps_store_relaxed(&desc->records, ps_load_relaxed(&desc->records) + 1);
    ps_store_release(&desc->tail, tail + units);

    return NGX_DECLINED;

no_ring:

    if (w->header) {
        (void) __atomic_fetch_add(&w->header->no_ring, 1, __ATOMIC_RELAXED);
    }

    return NGX_DECLINED;
}


/*
 * The record of one request, written from rec on: its header, then its
 * client address, upstream time and strings, packed (pathstats_shm.h);
 * returns the units it takes
 */

static ngx_uint_t
ngx_http_pathstats_fill(ngx_http_request_t *r,
    ngx_http_pathstats_loc_conf_t *plcf, ps_record_t *rec)
{
    size_t           n;
    u_char          *p;
    uint32_t         up;
    uint64_t         ums;
    ngx_uint_t       status, flags;
    ngx_time_t      *tp;
    ngx_msec_int_t   ms;

    tp = ngx_timeofday();

    rec->time_us = (uint64_t) tp->sec * 1000000 + tp->msec * 1000;

    /* $request_time */
    ms = (ngx_msec_int_t)
             ((tp->sec - r->start_sec) * 1000 + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);
    rec->request_us = (uint64_t) ms * 1000;

    rec->bytes_in = (uint64_t) ngx_max(r->request_length, 0);
    rec->bytes_out = (uint64_t) ngx_max(r->connection->sent, 0);

    status = ngx_http_pathstats_status(r);
    rec->status = (uint16_t) status;

    flags = 0;

    if (status == NGX_HTTP_SWITCHING_PROTOCOLS
        || (r->upstream && r->upstream->upgrade))
    {
        flags |= PS_REC_UPGRADED;
    }

    p = (u_char *) rec + sizeof(ps_record_t);

    p = ngx_http_pathstats_set_addr(rec, p, r->connection->sockaddr,
                                    plcf->client_address);

    ums = ngx_http_pathstats_upstream_ms(r);

    if (ums != PS_NO_UPSTREAM) {
        up = (uint32_t) ngx_min(ums, (uint64_t) UINT32_MAX);
        ngx_memcpy(p, &up, 4);
        p += 4;
        flags |= PS_REC_UPSTREAM;
    }

    /* data is NULL in a request refused before its method was parsed */
    n = ngx_min(r->method_name.len, PS_METHOD_MAX);
    ngx_http_pathstats_copy(p, r->method_name.data, n);
    rec->method_len = (uint8_t) n;
    p += n;

    p = ngx_http_pathstats_set_host(r, rec, p);
    p = ngx_http_pathstats_set_key(r, plcf, rec, p);

    rec->flags = (uint8_t) (flags | rec->flags);

    return (p - (u_char *) rec + PS_RECORD_UNIT - 1) / PS_RECORD_UNIT;
}


/*
 * $upstream_response_time in milliseconds, summed over all attempts;
 * the entries that separate internal redirects are zeroed and add
 * nothing
 */

static uint64_t
ngx_http_pathstats_upstream_ms(ngx_http_request_t *r)
{
    uint64_t                    sum;
    ngx_uint_t                  i;
    ngx_msec_int_t              ms;
    ngx_http_upstream_state_t  *state;

    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) {
        return PS_NO_UPSTREAM;
    }

    sum = 0;
    state = r->upstream_states->elts;

    for (i = 0; i < r->upstream_states->nelts; i++) {
        ms = (ngx_msec_int_t) state[i].response_time;

        /* -1: the attempt has no response time */
        if (ms != -1) {
            sum += (uint64_t) ngx_max(ms, 0);
        }
    }

    return sum;
}


/* $status */

static ngx_uint_t
ngx_http_pathstats_status(ngx_http_request_t *r)
{
    if (r->err_status) {
        return r->err_status;
    }

    if (r->headers_out.status) {
        return r->headers_out.status;
    }

    if (r->http_version == NGX_HTTP_VERSION_9) {
        return 9;
    }

    return 0;
}


/* the server that matched, never the client's Host header; its flags */

static u_char *
ngx_http_pathstats_set_host(ngx_http_request_t *r, ps_record_t *rec,
    u_char *p)
{
    size_t                     n;
    ngx_str_t                 *host;
    ngx_http_core_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    host = &cscf->server_name;

    /* the flags start here: set_key() ORs its own in */
    rec->flags = 0;

    if (host->len == 0) {
        p[0] = '_';
        n = 1;

    } else {
        n = host->len;

        if (n > NGX_HTTP_PATHSTATS_HOST_LEN) {
            n = NGX_HTTP_PATHSTATS_HOST_LEN;
            rec->flags = PS_REC_HOST_TRUNCATED;
        }

        ngx_http_pathstats_copy(p, host->data, n);
    }

    rec->host_len = (uint8_t) n;

    return p + n;
}


/* the key: pathstats_key or $uri, normalized or cut; its flags */

static u_char *
ngx_http_pathstats_set_key(ngx_http_request_t *r,
    ngx_http_pathstats_loc_conf_t *plcf, ps_record_t *rec, u_char *p)
{
    size_t      n;
    ngx_str_t   key;
    ngx_uint_t  flags;

    if (plcf->key == NULL
        || ngx_http_complex_value(r, plcf->key, &key) != NGX_OK)
    {
        key = r->uri;
    }

    flags = 0;

    if (plcf->normalize) {
        n = ngx_http_pathstats_normalize(p, plcf->key_max_length,
                                         key.data, key.len, &flags);

    } else {
        n = key.len;

        if (n > (size_t) plcf->key_max_length) {
            n = plcf->key_max_length;
            flags = PS_REC_KEY_TRUNCATED;
        }

        ngx_http_pathstats_copy(p, key.data, n);
    }

    rec->key_len = (uint16_t) n;
    rec->flags |= (uint8_t) flags;

    return p + n;
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


static u_char *
ngx_http_pathstats_set_addr(ps_record_t *rec, u_char *p, struct sockaddr *sa,
    ngx_uint_t mode)
{
    u_char               *a;
    size_t                n;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    rec->addr_family = PS_AF_NONE;

    if (mode == NGX_HTTP_PATHSTATS_ADDR_OFF) {
        return p;
    }

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        ngx_memcpy(p, &sin->sin_addr, 4);
        rec->addr_family = PS_AF_INET;
        n = 4;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        a = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            ngx_memcpy(p, a + 12, 4);
            rec->addr_family = PS_AF_INET;
            n = 4;

        } else {
            ngx_memcpy(p, a, 16);
            rec->addr_family = PS_AF_INET6;
            n = 16;
        }

        break;
#endif

    default:
        return p;
    }

    if (mode == NGX_HTTP_PATHSTATS_ADDR_TRUNCATED) {

        /* IPv4 keeps its /24, IPv6 its /48 */
        if (n == 4) {
            p[3] = 0;

        } else {
            ngx_memzero(p + 6, 10);
        }
    }

    return p + n;
}


/* the zone file: created or reattached by the master */

/*
 * Runs as the init callback of a small nginx shared memory zone that the
 * pathstats_zone directive registers only for this purpose: it is the one
 * hook that runs after the whole configuration, worker_processes included,
 * is final, that runs for "nginx -t" too, and whose failure rolls the new
 * cycle back (a failing init_module would make the master exit).
 *
 * The file is treated as hostile input: it is opened without following a
 * symbolic link, must be a regular file that only root or the workers'
 * user can write, fully allocated, exactly as long as its header says,
 * and its header is validated once into pmcf->geo, which is all that the
 * workers use afterwards.
 */

static ngx_int_t
ngx_http_pathstats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    uint32_t                         capacity;
    ngx_fd_t                         fd;
    ngx_int_t                        rc;
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
                      * PS_RECORD_UNIT);
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

    ngx_http_pathstats_check_dir(pmcf, log);

    fd = ngx_http_pathstats_open_file(pmcf, ccf, log);

    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    /* closed with the mapping, when the cycle goes */
    pmcf->fd = fd;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, ngx_errno,
                                      ngx_fd_info_n " \"%V\" failed",
                                      &pmcf->file);
        return NGX_ERROR;
    }

    if (ngx_http_pathstats_check_file(pmcf, ccf, &fi, log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_file_size(&fi) == 0) {
        rc = ngx_http_pathstats_create_file(pmcf, fd, log, &want);

    } else {
        rc = ngx_http_pathstats_attach_file(pmcf, fd, &fi, log, &want);
    }

    return rc;
}


/*
 * A world-writable directory (/dev/shm, /tmp) lets any local user take
 * the file's name first: nginx then refuses the file, which is safe, but
 * it does not start.  Only a warning: the directory is the operator's.
 */

static void
ngx_http_pathstats_check_dir(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_log_t *log)
{
    u_char           *p, *last, *slash;
    size_t            len;
    ngx_file_info_t   fi;
    u_char            dir[NGX_MAX_PATH];

    last = pmcf->file.data + pmcf->file.len;
    slash = NULL;

    for (p = pmcf->file.data; p < last; p++) {
        if (*p == '/') {
            slash = p;
        }
    }

    if (slash == NULL) {
        return;
    }

    len = (slash == pmcf->file.data) ? 1 : (size_t) (slash - pmcf->file.data);

    if (len >= NGX_MAX_PATH) {
        return;
    }

    ngx_cpystrn(dir, pmcf->file.data, len + 1);

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR) {
        return;
    }

    if (fi.st_mode & S_IWOTH) {
        ngx_http_pathstats_zone_error(NGX_LOG_WARN, pmcf, log, 0,
                      "pathstats zone file \"%V\" is in \"%s\", which "
                      "every local user may write: another user can "
                      "create the file first and keep nginx from "
                      "starting; use a private directory such as "
                      "/run/pathstats (mode 0750)", &pmcf->file, dir);
    }
}


/*
 * Opens the file, or creates it with O_EXCL so that only a file this
 * master made itself gets its mode and owner changed: an operator's own
 * file is kept.  A symbolic link is never followed: nginx runs as root
 * and must not be led to resize or map another file.
 */

static ngx_fd_t
ngx_http_pathstats_open_file(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_core_conf_t *ccf, ngx_log_t *log)
{
    ngx_fd_t   fd;
    ngx_err_t  err;

    fd = open((char *) pmcf->file.data, O_RDWR|O_NOFOLLOW|O_CLOEXEC);

    if (fd == NGX_INVALID_FILE && ngx_errno == NGX_ENOENT) {
        fd = open((char *) pmcf->file.data,
                  O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0660);

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

        if (err == NGX_ELOOP) {
            ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                          "pathstats zone file \"%V\" is a symbolic link, "
                          "which nginx does not follow: name the file "
                          "itself, in a directory only root can write",
                          &pmcf->file);

        } else {
            ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, err,
                                          "open() \"%V\" failed",
                                          &pmcf->file);
        }
    }

    return fd;

failed:

    (void) ngx_close_file(fd);

    return NGX_INVALID_FILE;
}


/*
 * Whoever can write the file can read every request of the rings and
 * rewrite them: it must be a regular file owned by root or by the
 * workers' user, that no other user can write.
 */

static ngx_int_t
ngx_http_pathstats_check_file(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_core_conf_t *ccf, ngx_file_info_t *fi, ngx_log_t *log)
{
    u_char          *p, *last;
    ngx_uid_t        uid;
    ngx_gid_t        gid;
    ngx_uint_t       mode;
    struct group    *gr;
    struct passwd   *pw;
    u_char           owner[NGX_MAX_ERROR_STR];

    if (!ngx_is_file(fi)) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                                      "pathstats zone file \"%V\" is not "
                                      "a regular file", &pmcf->file);
        return NGX_ERROR;
    }

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        uid = ccf->user;
        gid = ccf->group;

    } else {
        uid = geteuid();
        gid = getegid();
    }

    mode = fi->st_mode & 07777;

    if ((fi->st_uid == 0 || fi->st_uid == uid)
        && !(mode & S_IWOTH)
        && (!(mode & S_IWGRP) || fi->st_gid == 0 || fi->st_gid == gid))
    {
        return NGX_OK;
    }

    p = owner;
    last = owner + sizeof(owner);

    pw = getpwuid(fi->st_uid);
    gr = getgrgid(fi->st_gid);

    p = ngx_slprintf(p, last, "owned by %s (uid %uD), group %s (gid %uD), "
                     "mode %ui%ui%ui%ui", pw ? pw->pw_name : "no user",
                     (uint32_t) fi->st_uid, gr ? gr->gr_name : "no group",
                     (uint32_t) fi->st_gid, (mode >> 9) & 7,
                     (mode >> 6) & 7, (mode >> 3) & 7, mode & 7);

    pw = getpwuid(uid);
    gr = getgrgid(gid);

    ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                  "pathstats zone file \"%V\" is %*s: it must be owned by "
                  "root or %s (uid %uD), and writable by no other user "
                  "or group than root and %s (gid %uD); another local "
                  "user may have created it: remove it, keep the zone in "
                  "a private directory such as /run/pathstats, and "
                  "restart nginx",
                  &pmcf->file, p - owner, owner,
                  pw ? pw->pw_name : "the workers' user", (uint32_t) uid,
                  gr ? gr->gr_name : "the workers' group", (uint32_t) gid);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_pathstats_create_file(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_fd_t fd, ngx_log_t *log, ps_zone_header_t *want)
{
    int                err;
    u_char            *base;
    const char        *reason;
    ngx_file_info_t    fi;
    ps_zone_header_t  *h;

    /*
     * An empty file is in nobody's use, so it may be sized.  Every page
     * is allocated now: a page of a sparse file that is first written
     * when its file system is full kills the writer with SIGBUS, and the
     * file system of the zone is usually a tmpfs that every process of
     * the box shares.
     */

    err = posix_fallocate(fd, 0, (off_t) want->file_size);

    if (err != 0) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, err,
                                      "posix_fallocate(\"%V\", %uL) failed",
                                      &pmcf->file, want->file_size);

        /* empty again, so that the next start tries anew */
        if (ftruncate(fd, 0) == -1) {
            ngx_http_pathstats_zone_error(NGX_LOG_ALERT, pmcf, log,
                                          ngx_errno,
                                          "ftruncate(\"%V\", 0) failed",
                                          &pmcf->file);
        }

        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, ngx_errno,
                                      ngx_fd_info_n " \"%V\" failed",
                                      &pmcf->file);
        return NGX_ERROR;
    }

    if ((uint64_t) ngx_file_size(&fi) != want->file_size) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                                      "pathstats zone file \"%V\" changed "
                                      "size while it was created",
                                      &pmcf->file);
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

    /* what was written passes the check every reader makes */

    reason = ps_zone_validate(base, want->file_size,
                              (uint64_t) fi.st_blocks * 512, &pmcf->geo);

    if (reason) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                                      "pathstats zone file \"%V\" is "
                                      "unusable after its creation: %s",
                                      &pmcf->file, reason);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "pathstats: created zone file \"%V\": %uD rings of %uD "
                  "32-byte units, snapshot %uL bytes, %uL bytes in all",
                  &pmcf->file, want->ring_count, want->ring_capacity,
                  want->snapshot_size, want->file_size);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pathstats_attach_file(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_fd_t fd, ngx_file_info_t *fi, ngx_log_t *log, ps_zone_header_t *want)
{
    off_t                size, allocated;
    u_char              *base;
    const char          *reason;
    ps_zone_header_t    *h;
    ps_zone_geometry_t  *geo;

    size = ngx_file_size(fi);
    allocated = (off_t) fi->st_blocks * 512;
    geo = &pmcf->geo;

    /* the validator reads nothing of a file shorter than a header */

    base = NULL;

    if (size >= PS_HEADER_SIZE) {
        base = mmap(NULL, (size_t) size, PROT_READ|PROT_WRITE, MAP_SHARED,
                    fd, 0);

        if (base == MAP_FAILED) {
            ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log,
                                          ngx_errno,
                                          "mmap(\"%V\", %O) failed",
                                          &pmcf->file, size);
            return NGX_ERROR;
        }

        pmcf->base = base;
        pmcf->mapped = (size_t) size;
    }

    reason = ps_zone_validate(base, (uint64_t) size, (uint64_t) allocated,
                              geo);

    if (reason) {
        ngx_http_pathstats_zone_error(NGX_LOG_EMERG, pmcf, log, 0,
                                      "pathstats zone file \"%V\" "
                                      "is unusable: %s (%O bytes, %O of "
                                      "them allocated); remove it and "
                                      "restart nginx", &pmcf->file, reason,
                                      size, allocated);
        return NGX_ERROR;
    }

    h = (ps_zone_header_t *) base;

    /*
     * Counters must survive reloads and binary upgrades, so a file that
     * is in use is never resized or rewritten: a changed geometry waits
     * for a restart with a new file.
     */

    if (geo->ring_count != want->ring_count
        || geo->ring_capacity != want->ring_capacity
        || geo->snapshot_size != want->snapshot_size)
    {
        ngx_http_pathstats_zone_error(NGX_LOG_WARN, pmcf, log, 0,
                      "pathstats zone file \"%V\" has %uD rings of %uD "
                      "units and a %uL byte snapshot area, the "
                      "configuration asks for %uD rings of %uD units "
                      "and %uL bytes; using the file as it is, restart "
                      "with a new file to apply",
                      &pmcf->file, geo->ring_count, geo->ring_capacity,
                      geo->snapshot_size, want->ring_count,
                      want->ring_capacity, want->snapshot_size);
    }

    if (!ngx_test_config) {
        (void) __atomic_fetch_add(&h->attach_count, 1, __ATOMIC_RELAXED);
        ps_store_relaxed(&h->master_pid, (uint64_t) ngx_pid);
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "pathstats: attached zone file \"%V\": %uD rings of %uD "
                  "units", &pmcf->file, geo->ring_count,
                  geo->ring_capacity);

    return NGX_OK;
}


static void
ngx_http_pathstats_unmap(void *data)
{
    ngx_http_pathstats_main_conf_t  *pmcf = data;

    if (pmcf->base) {
        if (munmap(pmcf->base, pmcf->mapped) == -1) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                          "munmap(\"%V\") failed", &pmcf->file);
        }

        pmcf->base = NULL;
    }

    if (pmcf->fd != NGX_INVALID_FILE) {
        if (ngx_close_file(pmcf->fd) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                          ngx_close_file_n " \"%V\" failed", &pmcf->file);
        }

        pmcf->fd = NGX_INVALID_FILE;
    }
}


/* the largest power of two with rings x capacity x unit <= size */

static uint32_t
ngx_http_pathstats_ring_capacity(off_t size, ngx_uint_t rings)
{
    uint64_t  per, cap;

    if (size <= 0 || rings == 0) {
        return 0;
    }

    per = (uint64_t) size / ((uint64_t) rings * PS_RECORD_UNIT);

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
    ngx_file_info_t                  fi;
    ps_zone_header_t                *h;
    ngx_http_pathstats_worker_t     *w;
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

    w = &ngx_http_pathstats_worker;
    w->pmcf = pmcf;

    ngx_http_pathstats_guard(pmcf, cycle->log);

    /*
     * The file may have been truncated, or had a hole punched, since the
     * master validated it: a worker that touched a missing page would die
     * with SIGBUS in init_process, and so would every worker respawned in
     * its place.  The master's descriptor tells what the file is now.
     */

    if (ngx_fd_info(pmcf->fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &pmcf->file);
        return NGX_OK;
    }

    if ((uint64_t) ngx_file_size(&fi) < pmcf->geo.file_size
        || (uint64_t) fi.st_blocks * 512 < pmcf->geo.file_size)
    {
        ngx_http_pathstats_zone_faulted = 1;
        ngx_http_pathstats_detach(cycle->log);
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

    w->header = h;

    /* a worker without a ring still serves; it only counts no_ring */
    (void) ngx_http_pathstats_claim_ring(cycle, pmcf);

    return NGX_OK;
}


/*
 * A zone file that shrinks, or whose hole cannot be allocated on a full
 * file system, raises SIGBUS in whichever process touches the missing
 * page: nginx workers would die on their next request, and every worker
 * respawned for them too.  The checks at start-up cannot prevent a file
 * from shrinking later, so each worker catches a SIGBUS inside its own
 * mapping of the zone, puts a private zero page where the file's page
 * was, so that the interrupted copy completes harmlessly, and marks the
 * zone lost: the log handler then stops recording and counts requests in
 * no_ring where the header is still there.  A SIGBUS anywhere else gets
 * the previous disposition back and happens again, as if this handler
 * had never been installed.
 */

static void
ngx_http_pathstats_guard(ngx_http_pathstats_main_conf_t *pmcf,
    ngx_log_t *log)
{
    struct sigaction  sa;

    ngx_http_pathstats_guard_start = pmcf->base;
    ngx_http_pathstats_guard_end = pmcf->base + pmcf->mapped;

    ngx_memzero(&sa, sizeof(struct sigaction));
    sa.sa_sigaction = ngx_http_pathstats_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);

    if (sigaction(SIGBUS, &sa, &ngx_http_pathstats_guard_old) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "sigaction(SIGBUS) failed: a zone file that shrinks "
                      "will kill this worker");
    }
}


static void
ngx_http_pathstats_sigbus(int signo, siginfo_t *si, void *ucontext)
{
    int       err;
    u_char   *addr, *page;

    /* only async-signal-safe calls here; errno belongs to the code */

    err = errno;
    addr = si->si_addr;

    if (addr >= ngx_http_pathstats_guard_start
        && addr < ngx_http_pathstats_guard_end)
    {
        page = (u_char *) ((uintptr_t) addr
                           & ~((uintptr_t) ngx_pagesize - 1));

        if (mmap(page, ngx_pagesize, PROT_READ|PROT_WRITE,
                 MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0)
            != MAP_FAILED)
        {
            ngx_http_pathstats_zone_faulted = 1;
            errno = err;
            return;
        }
    }

    (void) sigaction(SIGBUS, &ngx_http_pathstats_guard_old, NULL);

    errno = err;
}


ngx_int_t
ngx_http_pathstats_zone_lost(void)
{
    return ngx_http_pathstats_zone_faulted;
}


/*
 * Stops recording after the zone was found lost, once: the ring may lie
 * in pages the file no longer has.  The header page is kept for the
 * no_ring counter when the file still holds it; where it does not, the
 * counter lands in the private page that replaced it, which is harmless.
 */

static void
ngx_http_pathstats_detach(ngx_log_t *log)
{
    off_t                            size, allocated;
    ngx_file_info_t                  fi;
    ngx_http_pathstats_worker_t     *w;
    ngx_http_pathstats_main_conf_t  *pmcf;

    w = &ngx_http_pathstats_worker;

    if (w->detached) {
        return;
    }

    w->detached = 1;
    w->desc = NULL;

    pmcf = w->pmcf;
    size = -1;
    allocated = -1;

    if (ngx_fd_info(pmcf->fd, &fi) != NGX_FILE_ERROR) {
        size = ngx_file_size(&fi);
        allocated = (off_t) fi.st_blocks * 512;
    }

    w->header = (size >= PS_HEADER_SIZE) ? (ps_zone_header_t *) pmcf->base
                                         : NULL;

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "pathstats: zone file \"%V\" is now %O bytes, %O of them "
                  "allocated, where %uL were validated (it was truncated "
                  "or a hole could not be allocated): worker %P records "
                  "nothing more and counts its requests in no_ring; "
                  "remove the file and restart nginx",
                  &pmcf->file, size, allocated, pmcf->geo.file_size,
                  ngx_pid);
}


static ngx_int_t
ngx_http_pathstats_claim_ring(ngx_cycle_t *cycle,
    ngx_http_pathstats_main_conf_t *pmcf)
{
    u_char                        state;
    uint64_t                      me, start, owner, expected, lost;
    uint32_t                      i, pass;
    ps_ring_desc_t               *desc;
    ps_zone_geometry_t           *geo;
    ngx_http_pathstats_worker_t  *w;

    w = &ngx_http_pathstats_worker;
    geo = &pmcf->geo;

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
     * stopped, or slow).  Every address comes from the geometry the
     * master validated, never from the header in the file.
     */

    for (pass = 0; pass < 2; pass++) {

        for (i = 0; i < geo->ring_count; i++) {
            desc = ps_zone_ring_desc(pmcf->base, geo, i);
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
                       - ps_load_relaxed(&desc->records);

                ps_store_relaxed(&desc->lost, lost);
            }

            ps_store_relaxed(&desc->claimed_at_us,
                             ngx_http_pathstats_now_us());
            (void) __atomic_fetch_add(&desc->claims, 1, __ATOMIC_RELAXED);

            w->desc = desc;
            w->slots = (u_char *) ps_zone_ring_slot(pmcf->base, geo, i, 0);
            w->capacity = geo->ring_capacity;
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
                  geo->ring_count, ngx_pid);

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

    pmcf->fd = NGX_INVALID_FILE;

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
    ngx_str_t       *value, name;
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
        if (ngx_http_pathstats_zone_param(cf, &value[i], &size, &snapshot,
                                          &rings)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    /*
     * With the default ring count the final check waits for
     * worker_processes; its lower bound is known now.
     */

    n = rings ? (ngx_uint_t) rings : NGX_HTTP_PATHSTATS_RINGS_DEFAULT;

    if (ngx_http_pathstats_ring_capacity(size, n) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "size=%O is too small for %ui rings of %d "
                           "bytes, it needs at least size=%O",
                           size, n, PS_RING_CAPACITY_MIN * PS_RECORD_UNIT,
                           (off_t) (n * PS_RING_CAPACITY_MIN
                                    * PS_RECORD_UNIT));
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


/* one "name=value" parameter of pathstats_zone */

static char *
ngx_http_pathstats_zone_param(ngx_conf_t *cf, ngx_str_t *param,
    off_t *size, ssize_t *snapshot, ngx_int_t *rings)
{
    ngx_str_t  s;

    if (ngx_strncmp(param->data, "size=", 5) == 0) {

        s.len = param->len - 5;
        s.data = param->data + 5;

        *size = ngx_parse_offset(&s);

        if (*size == NGX_ERROR || *size == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid size \"%V\"", param);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(param->data, "snapshot=", 9) == 0) {

        s.len = param->len - 9;
        s.data = param->data + 9;

        *snapshot = ngx_parse_size(&s);

        if (*snapshot == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid snapshot size \"%V\"", param);
            return NGX_CONF_ERROR;
        }

        if (*snapshot < NGX_HTTP_PATHSTATS_SNAPSHOT_MIN) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "snapshot size \"%V\" is too small, "
                               "the minimum is %uz", param,
                               (size_t) NGX_HTTP_PATHSTATS_SNAPSHOT_MIN);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(param->data, "rings=", 6) == 0) {

        *rings = ngx_atoi(param->data + 6, param->len - 6);

        if (*rings == NGX_ERROR
            || *rings < PS_RINGS_MIN || *rings > PS_RINGS_MAX)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid rings \"%V\", it must be "
                               "between %d and %d", param,
                               PS_RINGS_MIN, PS_RINGS_MAX);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", param);

    return NGX_CONF_ERROR;
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


static ngx_int_t
ngx_http_pathstats_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_pathstats_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_pathstats_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->len = sizeof(NGX_HTTP_PATHSTATS_VERSION) - 1;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) NGX_HTTP_PATHSTATS_VERSION;

    return NGX_OK;
}
