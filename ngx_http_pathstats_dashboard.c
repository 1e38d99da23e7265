
/*
 * pathstats: the dashboard's files (see ngx_http_pathstats_dashboard.h).
 *
 * The page, its style sheet and icon (dashboard/) and its script (the
 * ES modules of dashboard/ bundled into one file in the build directory
 * by scripts/bundle-dashboard.pl: one request instead of one a module)
 * are pulled into the module's read-only data by the assembler's .incbin
 * at compile time; the addon script lists them as dependencies of this
 * object, so changing one rebuilds it.  Their paths come from
 * ngx_http_pathstats_dashboard_path.h, which the addon script writes
 * into the build directory.  The ETag is the MD5 of every file, computed
 * once per worker: it changes exactly when the embedded build does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_md5.h>

#include "ngx_http_pathstats_dashboard.h"
#include "ngx_http_pathstats_dashboard_path.h"


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    type;
    const u_char                *start;
    const u_char                *end;
} ngx_http_pathstats_file_t;


#define ngx_http_pathstats_embed(sym, path)                                  \
    __asm__(".section .rodata\n"                                             \
            ".balign 16\n"                                                   \
            ".globl " #sym "\n"                                              \
            ".hidden " #sym "\n"                                             \
            #sym ":\n"                                                       \
            ".incbin \"" path "\"\n"                                         \
            ".globl " #sym "_end\n"                                          \
            ".hidden " #sym "_end\n"                                         \
            #sym "_end:\n"                                                   \
            ".byte 0\n"                                                      \
            ".previous\n");                                                  \
    extern const u_char sym[] __attribute__((visibility("hidden")));         \
    extern const u_char sym##_end[] __attribute__((visibility("hidden")))


#define ngx_http_pathstats_source(file)                                      \
    NGX_HTTP_PATHSTATS_DASHBOARD_DIR "/" file

ngx_http_pathstats_embed(ngx_http_pathstats_file_index,
                         ngx_http_pathstats_source("index.html"));
ngx_http_pathstats_embed(ngx_http_pathstats_file_css,
                         ngx_http_pathstats_source("style.css"));
ngx_http_pathstats_embed(ngx_http_pathstats_file_icon,
                         ngx_http_pathstats_source("favicon.svg"));
ngx_http_pathstats_embed(ngx_http_pathstats_file_js,
                         NGX_HTTP_PATHSTATS_DASHBOARD_JS);


#define ngx_http_pathstats_js  "text/javascript; charset=utf-8"

#define ngx_http_pathstats_file(name, type, sym)                             \
    { ngx_string(name), ngx_string(type), sym, sym##_end }


/* the page first: an empty name serves it */

static ngx_http_pathstats_file_t  ngx_http_pathstats_files[] = {
    ngx_http_pathstats_file("index.html", "text/html; charset=utf-8",
                            ngx_http_pathstats_file_index),
    ngx_http_pathstats_file("style.css", "text/css; charset=utf-8",
                            ngx_http_pathstats_file_css),
    ngx_http_pathstats_file("dashboard.js", ngx_http_pathstats_js,
                            ngx_http_pathstats_file_js),
    ngx_http_pathstats_file("favicon.svg", "image/svg+xml",
                            ngx_http_pathstats_file_icon),
    { ngx_null_string, ngx_null_string, NULL, NULL }
};


/* "\"" 16 hex digits "\"", worker-local */
static u_char  ngx_http_pathstats_etag[18];


static ngx_http_pathstats_file_t *ngx_http_pathstats_dashboard_find(
    u_char *name, size_t len);
static void ngx_http_pathstats_dashboard_etag(void);
static ngx_int_t ngx_http_pathstats_dashboard_header(ngx_http_request_t *r,
    char *name, char *value);


ngx_int_t
ngx_http_pathstats_dashboard_handler(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_chain_t                 out;
    ngx_table_elt_t            *etag;
    ngx_http_pathstats_file_t  *f;

    f = name->len ? ngx_http_pathstats_dashboard_find(name->data, name->len)
                  : &ngx_http_pathstats_files[0];

    if (f == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_pathstats_etag[0] == '\0') {
        ngx_http_pathstats_dashboard_etag();
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) f->start;
    b->last = (u_char *) f->end;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = f->type;
    r->headers_out.content_type_len = ngx_strlchr(f->type.data,
                                                  f->type.data + f->type.len,
                                                  ';')
                                      - f->type.data;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = f->end - f->start;

    /* the not-modified filter answers 304 to a matching If-None-Match */

    etag = ngx_list_push(&r->headers_out.headers);
    if (etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    etag->hash = 1;
    ngx_str_set(&etag->key, "ETag");
    etag->value.data = ngx_http_pathstats_etag;
    etag->value.len = sizeof(ngx_http_pathstats_etag);

    r->headers_out.etag = etag;

    /*
     * The names are not versioned: a browser revalidates every file on
     * each load and gets a 304 of a few bytes while the build is the same.
     */

    if (ngx_http_pathstats_dashboard_header(r, "Cache-Control", "no-cache")
        != NGX_OK
        || ngx_http_pathstats_dashboard_header(r, "X-Content-Type-Options",
                                               "nosniff")
           != NGX_OK
        || ngx_http_pathstats_dashboard_header(r, "Content-Security-Policy",
                                               "default-src 'self'; "
                                               "frame-ancestors 'none'")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


u_char *
ngx_http_pathstats_dashboard_tail(u_char *p, u_char *last)
{
    size_t                      len;
    ngx_http_pathstats_file_t  *f;

    len = last - p;

    for (f = ngx_http_pathstats_files; f->name.len; f++) {
        if (len > f->name.len
            && *(last - f->name.len - 1) == '/'
            && ngx_strncmp(last - f->name.len, f->name.data, f->name.len)
               == 0)
        {
            return last - f->name.len;
        }
    }

    return NULL;
}


static ngx_http_pathstats_file_t *
ngx_http_pathstats_dashboard_find(u_char *name, size_t len)
{
    ngx_http_pathstats_file_t  *f;

    for (f = ngx_http_pathstats_files; f->name.len; f++) {
        if (len == f->name.len && ngx_strncmp(name, f->name.data, len) == 0) {
            return f;
        }
    }

    return NULL;
}


static void
ngx_http_pathstats_dashboard_etag(void)
{
    u_char                      digest[16];
    ngx_md5_t                   md5;
    ngx_http_pathstats_file_t  *f;

    ngx_md5_init(&md5);

    for (f = ngx_http_pathstats_files; f->name.len; f++) {
        ngx_md5_update(&md5, f->name.data, f->name.len + 1);
        ngx_md5_update(&md5, f->start, f->end - f->start);
    }

    ngx_md5_final(digest, &md5);

    ngx_http_pathstats_etag[0] = '"';
    (void) ngx_hex_dump(ngx_http_pathstats_etag + 1, digest, 8);
    ngx_http_pathstats_etag[17] = '"';
}


static ngx_int_t
ngx_http_pathstats_dashboard_header(ngx_http_request_t *r, char *name,
    char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}
