
/*
 * pathstats: what the two halves of the module share, and nothing else.
 *
 * ngx_http_pathstats_module.c is the recorder (the zone file, the ring
 * claim, the log-phase handler, normalization); ngx_http_pathstats_admin.c
 * is the admin location (the snapshot copy, the endpoints, the page).
 * The admin half reads the zone mapping the recorder's master made, and
 * marks its location so that the recorder leaves it alone unless told.
 */


#ifndef _NGX_HTTP_PATHSTATS_MODULE_H_INCLUDED_
#define _NGX_HTTP_PATHSTATS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "pathstats_shm.h"


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
    ngx_fd_t                     fd;            /* the file, O_CLOEXEC */

    /* the layout as validated once by the master, inherited by workers */
    ps_zone_geometry_t           geo;
} ngx_http_pathstats_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_flag_t                   normalize;
    ngx_http_complex_value_t    *key;           /* NULL: $uri */
    ngx_int_t                    key_max_length;
    ngx_uint_t                   client_address;
    ngx_flag_t                   admin;         /* pathstats_admin here */
} ngx_http_pathstats_loc_conf_t;


extern ngx_module_t  ngx_http_pathstats_module;
extern ngx_module_t  ngx_http_pathstats_admin_module;


/*
 * Non-zero once this worker touched a page of the zone that the file no
 * longer has (it was truncated, or a hole could not be allocated): the
 * page was replaced with private memory, and the zone is not used again.
 */
ngx_int_t ngx_http_pathstats_zone_lost(void);


#endif /* _NGX_HTTP_PATHSTATS_MODULE_H_INCLUDED_ */
