/*
 * Scope packs: one scope's view (a node's, or the fleet's) as a snapshot
 * of its own in the format of include/pathstats_snapshot.h: whose view
 * it is (PS_SNAP_SELF), the rows and orders of each window it offers,
 * window infos, the summary, health, trends and per-path trends.  A node
 * publishes its own view so (in PostgreSQL, for the other nodes), the
 * fleet thread builds the fleet's view so, and a snapshot nests them in
 * its PS_SNAP_SCOPES section, where the admin location validates each
 * like a snapshot (ps_snap_validate_scopes()).
 */

#ifndef PS_SCOPE_PACK_H
#define PS_SCOPE_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"
#include "pathstats_snapshot.h"
#include "snapshot/rows.h"

typedef struct {
    uint32_t            kind;           /* PS_SNAP_SCOPE_* */
    uint32_t            flags;          /* PS_SNAP_SCOPE_F_* */
    const char         *node;           /* the node's id, NULL: fleet */
    const char         *meta;           /* JSON members for the answers'
                                           metadata, NULL: none */
    const ps_rowset_t  *win[PS_SNAP_WINDOWS];   /* NULL: not offered */
    size_t              rows[PS_SNAP_WINDOWS];  /* rows shown, at most */
    const char         *summary;        /* JSON object, NULL: none */
    size_t              summary_len;
    const char         *health;         /* JSON array, NULL: none */
    size_t              health_len;
    const ps_buf_t     *trends;         /* [PS_SNAP_RANGES], NULL: none */
    const ps_buf_t     *path_trends;    /* packed (trend_paths.h), or
                                           NULL */
    size_t              path_trends_max;
    uint64_t            generated_us;
    uint64_t            heartbeat_us;
    uint64_t            sequence;
    int                 ok;             /* the aggregator sees no problem */
    const void         *scopes;         /* PS_SNAP_SCOPES body
                                           (ps_scope_pack_nest()), NULL:
                                           none */
    size_t              scopes_len;
    const char         *nodes;          /* JSON array, NULL: none */
    size_t              nodes_len;
} ps_scope_pack_in_t;

/* Builds in's view into out (reset first; 8-byte aligned as malloc
 * gives); 0, or -1 if memory ran out. */
int ps_scope_pack_build(const ps_scope_pack_in_t *in, ps_buf_t *out);

/* Lays n packs out as the body of a PS_SNAP_SCOPES section into out
 * (reset first): the head, the table, each pack 8-byte aligned; 0, or
 * -1 if memory ran out or n > PS_SNAP_MAX_SCOPES - 1. */
int ps_scope_pack_nest(const ps_buf_t *packs, size_t n, ps_buf_t *out);

/* Sets the flags of the PS_SNAP_SELF section of the snapshot buf[0..len)
 * (valid: ps_snap_validate() accepted it); 0, or -1 when it has none. */
int ps_scope_pack_set_flags(void *buf, size_t len, uint32_t flags);

#endif /* PS_SCOPE_PACK_H */
