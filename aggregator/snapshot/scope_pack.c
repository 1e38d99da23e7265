/*
 * Scope packs: see scope_pack.h.
 */

#include <stdlib.h>
#include <string.h>

#include "snapshot/render.h"
#include "snapshot/scope_pack.h"
#include "store/pg/trend_paths.h"

/* at most: self, 3 x (info, rows, 6 orders), summary, health, 3 trends,
 * 3 path trends, scopes, nodes, blob */
#define MAX_SECTIONS  (1 + PS_SNAP_WINDOWS * (2 + PS_SNAP_SORTS) + 2 \
                       + 2 * PS_SNAP_RANGES + 2 + 1)

/* a section's body before it is laid out */
typedef struct {
    uint32_t     type;
    uint32_t     arg;
    const void  *body;
    size_t       len;
} pack_section_t;

typedef struct {
    ps_buf_t         blob;
    ps_snap_row_t   *rows[PS_SNAP_WINDOWS];
    uint32_t        *order[PS_SNAP_WINDOWS][PS_SNAP_SORTS];
    ps_snap_row_t   *ptrend[PS_SNAP_RANGES];
    ps_snap_ref_t    refs[PS_SNAP_WINDOWS + 3 + PS_SNAP_RANGES];
    ps_snap_scope_desc_t  desc;
    pack_section_t   sec[MAX_SECTIONS];
    size_t           nsec;
} pack_t;


static size_t
align8(size_t n)
{
    return (n + 7) & ~(size_t) 7;
}


/* The blob's bytes from start on as a ref; 0 or -1. */
static int
blob_ref(ps_buf_t *blob, size_t start, ps_snap_ref_t *ref)
{
    if (blob->len > UINT32_MAX) {
        return -1;
    }

    ref->off = (uint32_t) start;
    ref->len = (uint32_t) (blob->len - start);
    return 0;
}


static int
blob_bytes(ps_buf_t *blob, const void *p, size_t len, ps_snap_ref_t *ref)
{
    size_t  start = blob->len;

    return ps_buf_append(blob, p, len) != 0 ? -1
                                            : blob_ref(blob, start, ref);
}


static void
add_section(pack_t *pk, uint32_t type, uint32_t arg, const void *body,
    size_t len)
{
    pack_section_t  *s = &pk->sec[pk->nsec++];

    s->type = type;
    s->arg = arg;
    s->body = body;
    s->len = len;
}


/* Window w's first n rows, their orders and its info; 0 or -1. */
static int
pack_window(pack_t *pk, const ps_rowset_t *rs, int w, size_t n)
{
    ps_snap_row_t   *pr;
    const ps_row_t  *r;
    size_t           i, start;
    int              k;

    pk->rows[w] = calloc(n ? n : 1, sizeof(ps_snap_row_t));
    if (pk->rows[w] == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        pr = &pk->rows[w][i];
        r = &rs->rows[i];

        if (blob_bytes(&pk->blob, r->host, r->hlen, &pr->host) != 0
            || blob_bytes(&pk->blob, r->method, r->mlen, &pr->method) != 0
            || blob_bytes(&pk->blob, r->path, r->plen, &pr->path) != 0)
        {
            return -1;
        }

        start = pk->blob.len;
        if (ps_render_row(&pk->blob, r) != 0
            || blob_ref(&pk->blob, start, &pr->json) != 0)
        {
            return -1;
        }
    }

    for (k = 0; k < PS_SNAP_SORTS; k++) {
        pk->order[w][k] = malloc((n ? n : 1) * sizeof(uint32_t));
        if (pk->order[w][k] == NULL) {
            return -1;
        }
    }

    if (ps_rowset_orders(rs, n, pk->order[w]) != 0) {
        return -1;
    }

    start = pk->blob.len;
    if (ps_render_window_info(rs, w, n, &pk->blob) != 0
        || blob_ref(&pk->blob, start, &pk->refs[w]) != 0)
    {
        return -1;
    }

    add_section(pk, PS_SNAP_WINDOW_INFO, (uint32_t) w, &pk->refs[w],
                sizeof(ps_snap_ref_t));
    add_section(pk, PS_SNAP_ROWS, (uint32_t) w, pk->rows[w],
                n * sizeof(ps_snap_row_t));
    for (k = 0; k < PS_SNAP_SORTS; k++) {
        add_section(pk, PS_SNAP_ORDER, (uint32_t) (w * PS_SNAP_SORTS + k),
                    pk->order[w][k], n * sizeof(uint32_t));
    }

    return 0;
}


/* The per-path trends of each range, at most max paths; 0 or -1. */
static int
pack_path_trends(pack_t *pk, const ps_buf_t *packed, size_t max)
{
    ps_trend_path_json_t   pj;
    ps_snap_row_t         *row;
    ps_snap_ref_t          host, method, path;
    size_t                 pos = 0, n = 0, cap = 0;
    int                    r;

    while (n < max && ps_trend_paths_next(packed, &pos, &pj) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            for (r = 0; r < PS_SNAP_RANGES; r++) {
                row = realloc(pk->ptrend[r], cap * sizeof(ps_snap_row_t));
                if (row == NULL) {
                    return -1;
                }
                pk->ptrend[r] = row;
            }
        }

        if (blob_bytes(&pk->blob, pj.key.host, pj.key.hlen, &host) != 0
            || blob_bytes(&pk->blob, pj.key.method, pj.key.mlen, &method)
               != 0
            || blob_bytes(&pk->blob, pj.key.path, pj.key.plen, &path) != 0)
        {
            return -1;
        }

        for (r = 0; r < PS_SNAP_RANGES; r++) {
            row = &pk->ptrend[r][n];
            row->host = host;
            row->method = method;
            row->path = path;
            if (blob_bytes(&pk->blob, pj.json[r], pj.jlen[r], &row->json)
                != 0)
            {
                return -1;
            }
        }

        n++;
    }

    for (r = 0; r < PS_SNAP_RANGES; r++) {
        add_section(pk, PS_SNAP_PATH_TRENDS, (uint32_t) r, pk->ptrend[r],
                    n * sizeof(ps_snap_row_t));
    }

    return 0;
}


/* Header, section table and bodies into out; 0 or -1. */
static int
pack_layout(pack_t *pk, const ps_scope_pack_in_t *in, ps_buf_t *out)
{
    ps_snap_header_t   *h;
    ps_snap_section_t  *sec;
    size_t              off, total, i;
    char               *p;

    add_section(pk, PS_SNAP_BLOB, 0, pk->blob.data, pk->blob.len);

    off = align8(sizeof(ps_snap_header_t)
                 + pk->nsec * sizeof(ps_snap_section_t));
    total = off;
    for (i = 0; i < pk->nsec; i++) {
        total += align8(pk->sec[i].len);
    }

    ps_buf_reset(out);
    if (ps_buf_reserve(out, total) != 0) {
        return -1;
    }

    p = out->data;
    memset(p, 0, total);

    h = (ps_snap_header_t *) p;
    h->magic = PS_SNAP_MAGIC;
    h->version = PS_SNAP_VERSION;
    h->total_len = total;
    h->generated_us = in->generated_us;
    h->sequence = in->sequence;
    h->heartbeat_us = in->heartbeat_us ? in->heartbeat_us
                                       : in->generated_us;
    h->section_count = (uint32_t) pk->nsec;
    h->flags = in->ok ? PS_SNAP_F_AGGREGATOR_OK : 0;

    sec = (ps_snap_section_t *) (p + sizeof(ps_snap_header_t));

    for (i = 0; i < pk->nsec; i++) {
        sec[i].type = pk->sec[i].type;
        sec[i].arg = pk->sec[i].arg;
        sec[i].off = off;
        sec[i].len = pk->sec[i].len;
        if (pk->sec[i].len) {
            memcpy(p + off, pk->sec[i].body, pk->sec[i].len);
        }
        off += align8(pk->sec[i].len);
    }

    out->len = total;
    return 0;
}


static void
pack_free(pack_t *pk)
{
    int  w, k;

    ps_buf_free(&pk->blob);

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        free(pk->rows[w]);
        for (k = 0; k < PS_SNAP_SORTS; k++) {
            free(pk->order[w][k]);
        }
    }

    for (w = 0; w < PS_SNAP_RANGES; w++) {
        free(pk->ptrend[w]);
    }
}


int
ps_scope_pack_build(const ps_scope_pack_in_t *in, ps_buf_t *out)
{
    pack_t   *pk;
    size_t    n;
    int       w, rc = -1;
    ps_snap_ref_t  *ref;

    pk = calloc(1, sizeof(*pk));
    if (pk == NULL) {
        return -1;
    }

    /* whose view */
    pk->desc.kind = in->kind;
    pk->desc.flags = in->flags;
    if ((in->node != NULL
         && blob_bytes(&pk->blob, in->node, strlen(in->node),
                       &pk->desc.node) != 0)
        || (in->meta != NULL
            && blob_bytes(&pk->blob, in->meta, strlen(in->meta),
                          &pk->desc.meta) != 0))
    {
        goto done;
    }
    add_section(pk, PS_SNAP_SELF, 0, &pk->desc, sizeof(pk->desc));

    for (w = 0; w < PS_SNAP_WINDOWS; w++) {
        if (in->win[w] == NULL) {
            continue;
        }
        n = in->win[w]->n < in->rows[w] ? in->win[w]->n : in->rows[w];
        if (pack_window(pk, in->win[w], w, n) != 0) {
            goto done;
        }
    }

    ref = &pk->refs[PS_SNAP_WINDOWS];

    if (in->summary != NULL) {
        if (blob_bytes(&pk->blob, in->summary, in->summary_len, ref) != 0) {
            goto done;
        }
        add_section(pk, PS_SNAP_SUMMARY, 0, ref, sizeof(*ref));
    }
    ref++;

    if (in->health != NULL) {
        if (blob_bytes(&pk->blob, in->health, in->health_len, ref) != 0) {
            goto done;
        }
        add_section(pk, PS_SNAP_HEALTH, 0, ref, sizeof(*ref));
    }
    ref++;

    for (w = 0; in->trends != NULL && w < PS_SNAP_RANGES; w++, ref++) {
        if (blob_bytes(&pk->blob, in->trends[w].data, in->trends[w].len,
                       ref) != 0)
        {
            goto done;
        }
        add_section(pk, PS_SNAP_TRENDS, (uint32_t) w, ref, sizeof(*ref));
    }

    if (in->path_trends != NULL
        && pack_path_trends(pk, in->path_trends, in->path_trends_max) != 0)
    {
        goto done;
    }

    if (in->nodes != NULL) {
        ref = &pk->refs[PS_SNAP_WINDOWS + 2 + PS_SNAP_RANGES];
        if (blob_bytes(&pk->blob, in->nodes, in->nodes_len, ref) != 0) {
            goto done;
        }
        add_section(pk, PS_SNAP_NODES, 0, ref, sizeof(*ref));
    }

    if (in->scopes != NULL) {
        add_section(pk, PS_SNAP_SCOPES, 0, in->scopes, in->scopes_len);
    }

    rc = pack_layout(pk, in, out);

done:

    pack_free(pk);
    free(pk);
    return rc;
}


int
ps_scope_pack_nest(const ps_buf_t *packs, size_t n, ps_buf_t *out)
{
    ps_snap_scopes_t   head;
    ps_snap_nested_t  *nested;
    size_t             i, off, total;

    if (n > PS_SNAP_MAX_SCOPES - 1) {
        return -1;
    }

    off = sizeof(head) + n * sizeof(ps_snap_nested_t);
    total = align8(off);
    for (i = 0; i < n; i++) {
        total += align8(packs[i].len);
    }

    ps_buf_reset(out);
    if (ps_buf_reserve(out, total) != 0) {
        return -1;
    }

    memset(out->data, 0, total);
    head.count = (uint32_t) n;
    head.reserved = 0;
    memcpy(out->data, &head, sizeof(head));

    nested = (ps_snap_nested_t *) (out->data + sizeof(head));
    off = align8(off);

    for (i = 0; i < n; i++) {
        nested[i].off = off;
        nested[i].len = packs[i].len;
        memcpy(out->data + off, packs[i].data, packs[i].len);
        off += align8(packs[i].len);
    }

    out->len = total;
    return 0;
}


int
ps_scope_pack_set_flags(void *buf, size_t len, uint32_t flags)
{
    ps_snap_header_t      *h = buf;
    ps_snap_section_t     *sec;
    ps_snap_scope_desc_t  *d;
    uint32_t               i;

    if (len < sizeof(*h)
        || h->section_count > (len - sizeof(*h)) / sizeof(*sec))
    {
        return -1;
    }

    sec = (ps_snap_section_t *) ((char *) buf + sizeof(*h));

    for (i = 0; i < h->section_count; i++) {
        if (sec[i].type == PS_SNAP_SELF && sec[i].off <= len
            && sec[i].len == sizeof(*d) && len - sec[i].off >= sizeof(*d))
        {
            d = (ps_snap_scope_desc_t *) ((char *) buf + sec[i].off);
            d->flags = flags;
            return 0;
        }
    }

    return -1;
}
