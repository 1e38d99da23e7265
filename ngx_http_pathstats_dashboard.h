
/*
 * pathstats: the dashboard's files, embedded into the module.
 *
 * The page (dashboard/index.html) and its scripts and style sheet are
 * ordinary files of the repository, assembled into the module's
 * read-only data at compile time (ngx_http_pathstats_dashboard.c), so
 * the admin location serves them with no file access and nothing to
 * install next to the module.
 */


#ifndef _NGX_HTTP_PATHSTATS_DASHBOARD_H_INCLUDED_
#define _NGX_HTTP_PATHSTATS_DASHBOARD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Serves the dashboard file named by name (the part of the URI after the
 * admin location; empty for the page itself) with its ETag and
 * Cache-Control, or 304 when If-None-Match names the ETag.  Returns
 * NGX_DECLINED when no file has that name.
 */
ngx_int_t ngx_http_pathstats_dashboard_handler(ngx_http_request_t *r,
    ngx_str_t *name);

/*
 * For a location without a prefix (regex, named): where the name of a
 * file starts if the URI p..last ends with "/" and a file's name, else
 * NULL.
 */
u_char *ngx_http_pathstats_dashboard_tail(u_char *p, u_char *last);


#endif /* _NGX_HTTP_PATHSTATS_DASHBOARD_H_INCLUDED_ */
