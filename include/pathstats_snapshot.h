/*
 * pathstats snapshot format: what the aggregator writes into a snapshot
 * buffer of the zone (pathstats_shm.h, ps_snapshot_ctl_t) and what the
 * nginx admin handler serves from.
 *
 * The aggregator does the heavy lifting: every path row, the summary,
 * the trends and the Prometheus text are rendered ahead of time (JSON
 * strings already escaped and valid UTF-8), and each window carries row
 * orders pre-sorted by every sort key.  The admin handler only filters,
 * paginates and concatenates, and wraps answers in request-time
 * metadata.  It trusts nothing: ps_snap_validate() checks every offset,
 * length and index before a single byte is served, so a corrupt or
 * hostile buffer yields an error, never a crash or a hang.
 *
 * Layout of one buffer (little endian, offsets from the buffer start):
 *
 *   ps_snap_header_t
 *   ps_snap_section_t[section_count]
 *   section bodies, each 8-byte aligned
 *
 * Section bodies:
 *   PS_SNAP_BLOB      bytes (strings, JSON fragments, metrics text)
 *   PS_SNAP_ROWS      ps_snap_row_t[n] for one window
 *   PS_SNAP_ORDER     uint32_t[n] row indexes of one window, descending
 *                     by one sort key (ascending = read it backwards)
 *   PS_SNAP_PATH_TRENDS  ps_snap_row_t[n] for one range: a path's key
 *                     and its trend array (json), for the paths whose
 *                     trends the aggregator keeps
 *   PS_SNAP_DAY_ROWS, PS_SNAP_DAY_ORDER, PS_SNAP_DAY_WINDOW_INFO
 *                     the same as PS_SNAP_ROWS, _ORDER and _WINDOW_INFO
 *                     for the day windows (PS_SNAP_WIN_7D, _30D), kept
 *                     apart so that readers built before them skip them
 *   PS_SNAP_LONG_TRENDS  ref: the JSON array of one long trends range
 *                     (PS_SNAP_LONG_*), kept apart from PS_SNAP_TRENDS so
 *                     that readers built before it skip the section (an
 *                     arg beyond their PS_SNAP_RANGES would be an error)
 *   PS_SNAP_GRAMS     uint64_t[n] for one window (any, arg as for its
 *                     rows), parallel to its rows: each path's pairs of
 *                     bytes (ps_snap_grams()), so that a search for q
 *                     looks at the paths that have all of q's pairs
 *                     only; optional (a reader without it scans them all)
 *   PS_SNAP_SELF      ps_snap_scope_desc_t: whose view this is (scope
 *                     node: this node; scope fleet: every node)
 *   PS_SNAP_SCOPES    the other views this snapshot carries (the fleet,
 *                     other nodes): a ps_snap_scopes_t table, then each
 *                     view as a complete snapshot of its own (nested,
 *                     8-byte aligned, validated the same way; a nested
 *                     one's own SCOPES and NODES are ignored)
 *   the JSON/text sections are ps_snap_ref_t into the blob
 *
 * Scopes: the sections of the top level are this node's view (scope
 * node).  Readers that know scopes find the fleet's view and other
 * nodes' in PS_SNAP_SCOPES (ps_snap_validate_scopes()); older readers
 * skip those sections, and serve this node's view as before.
 */

#ifndef PATHSTATS_SNAPSHOT_H
#define PATHSTATS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>


#define PS_SNAP_MAGIC           0x504e5350u     /* "PSNP" LE */
#define PS_SNAP_VERSION         1
#define PS_SNAP_MAX_SECTIONS    64
#define PS_SNAP_MAX_ROWS        (1u << 20)

/* windows */
enum {
    PS_SNAP_WIN_1M = 0,
    PS_SNAP_WIN_1H,
    PS_SNAP_WIN_24H,
    PS_SNAP_WINDOWS
};

/* the day windows, from daily rollups and this node's hourly rows: their
 * sections are PS_SNAP_DAY_*, with the arg PS_SNAP_ROWS etc. would have;
 * a view's arrays hold every window */
#define PS_SNAP_WIN_7D          PS_SNAP_WINDOWS
#define PS_SNAP_WIN_30D         (PS_SNAP_WINDOWS + 1)
#define PS_SNAP_ALL_WINDOWS     (PS_SNAP_WINDOWS + 2)

/* sort keys, in the order of ps_snap_sort_names */
enum {
    PS_SNAP_SORT_REQUESTS = 0,
    PS_SNAP_SORT_ERRORS,
    PS_SNAP_SORT_ERROR_RATE,
    PS_SNAP_SORT_P95,
    PS_SNAP_SORT_BYTES,
    PS_SNAP_SORT_LAST_SEEN,
    PS_SNAP_SORTS
};

/* trends ranges */
enum {
    PS_SNAP_RANGE_24H = 0,
    PS_SNAP_RANGE_7D,
    PS_SNAP_RANGE_30D,
    PS_SNAP_RANGES
};

/* long trends ranges (PS_SNAP_LONG_TRENDS), from daily rollups: 90d
 * daily, 1y weekly (weeks from Monday 00:00 UTC) */
enum {
    PS_SNAP_LONG_90D = 0,
    PS_SNAP_LONG_1Y,
    PS_SNAP_LONG_RANGES
};

/* section types; window/sort/range go in ps_snap_section_t.arg */
enum {
    PS_SNAP_BLOB = 1,       /* the one blob all refs point into */
    PS_SNAP_ROWS,           /* arg = window */
    PS_SNAP_ORDER,          /* arg = window * PS_SNAP_SORTS + sort */
    PS_SNAP_SUMMARY,        /* ref: a JSON object */
    PS_SNAP_TRENDS,         /* arg = range; ref: a JSON value */
    PS_SNAP_METRICS,        /* ref: Prometheus text 0.0.4 */
    PS_SNAP_HEALTH,         /* ref: JSON array of problem strings */
    PS_SNAP_WINDOW_INFO,    /* arg = window; ref: JSON object of extra
                               window fields, e.g. rows left out */
    PS_SNAP_PATH_TRENDS,    /* arg = range; rows: key + JSON array */
    PS_SNAP_SELF,           /* ps_snap_scope_desc_t */
    PS_SNAP_SCOPES,         /* ps_snap_scopes_t + nested snapshots */
    PS_SNAP_NODES,          /* ref: JSON array, /api/nodes */
    PS_SNAP_LONG_TRENDS,    /* arg = long range; ref: a JSON value */
    PS_SNAP_DAY_ROWS,       /* arg = day window (PS_SNAP_WIN_7D, _30D) */
    PS_SNAP_DAY_ORDER,      /* arg = day window * PS_SNAP_SORTS + sort */
    PS_SNAP_DAY_WINDOW_INFO, /* arg = day window; as PS_SNAP_WINDOW_INFO */
    PS_SNAP_GRAMS           /* arg = window (any); uint64_t a row */
};

/* 1 if window w fits a rows, order or window info section of type t */
#define ps_snap_window_of(t, w)                                              \
    ((t) == PS_SNAP_ROWS || (t) == PS_SNAP_ORDER                             \
     || (t) == PS_SNAP_WINDOW_INFO                                           \
     ? (w) < PS_SNAP_WINDOWS                                                 \
     : (w) >= PS_SNAP_WINDOWS && (w) < PS_SNAP_ALL_WINDOWS)

/* scopes (ps_snap_scope_desc_t.kind) */
enum {
    PS_SNAP_SCOPE_NODE = 1,     /* one node's own traffic */
    PS_SNAP_SCOPE_FLEET = 2     /* the sum over every node */
};

#define PS_SNAP_SCOPE_F_STALE  0x1  /* a node view whose node is stale or
                                       gone (its heartbeat stopped) */

/* views a reader keeps: this node's and up to 63 nested ones */
#define PS_SNAP_MAX_SCOPES     64


typedef struct {
    uint32_t  off;          /* into the blob section */
    uint32_t  len;
} ps_snap_ref_t;


typedef struct {
    uint32_t  magic;
    uint32_t  version;
    uint64_t  total_len;    /* bytes of this snapshot, <= buffer length */
    uint64_t  generated_us;
    uint64_t  sequence;     /* aggregator's snapshot counter */
    uint64_t  heartbeat_us; /* aggregator loop time when generated */
    uint32_t  section_count;
    uint32_t  flags;        /* PS_SNAP_F_* */
} ps_snap_header_t;

#define PS_SNAP_F_AGGREGATOR_OK  0x1   /* the aggregator sees no problem */


typedef struct {
    uint32_t  type;
    uint32_t  arg;
    uint64_t  off;          /* body: from the buffer start */
    uint64_t  len;          /* body length in bytes */
} ps_snap_section_t;


/*
 * One path row of a window.  Strings are refs into the blob: host,
 * method, path as raw (already sanitised) text for filtering, json as
 * the complete pre-rendered JSON object served by /api/paths.
 */
typedef struct {
    ps_snap_ref_t  host;
    ps_snap_ref_t  method;
    ps_snap_ref_t  path;
    ps_snap_ref_t  json;
} ps_snap_row_t;


/* Whose view a snapshot (or a nested one) is. */
typedef struct {
    uint32_t       kind;        /* PS_SNAP_SCOPE_* */
    uint32_t       flags;       /* PS_SNAP_SCOPE_F_* */
    ps_snap_ref_t  node;        /* node id (scope node), empty for the
                                   fleet */
    ps_snap_ref_t  meta;        /* JSON members (no braces) the answers'
                                   metadata get, e.g. "scope":"node",
                                   "node":"a" */
} ps_snap_scope_desc_t;

/* One nested snapshot of PS_SNAP_SCOPES: its offset from the start of
 * the section's body, and its length. */
typedef struct {
    uint64_t  off;
    uint64_t  len;
} ps_snap_nested_t;

/* The head of PS_SNAP_SCOPES' body; count ps_snap_nested_t follow. */
typedef struct {
    uint32_t  count;
    uint32_t  reserved;
} ps_snap_scopes_t;


_Static_assert(sizeof(ps_snap_ref_t) == 8, "ref is 8 bytes");
_Static_assert(sizeof(ps_snap_scope_desc_t) == 24, "scope is 24 bytes");
_Static_assert(sizeof(ps_snap_nested_t) == 16, "nested is 16 bytes");
_Static_assert(sizeof(ps_snap_scopes_t) == 8, "scopes head is 8 bytes");
_Static_assert(sizeof(ps_snap_header_t) == 48, "header is 48 bytes");
_Static_assert(sizeof(ps_snap_section_t) == 24, "section is 24 bytes");
_Static_assert(sizeof(ps_snap_row_t) == 32, "row is 32 bytes");


/*
 * What a reader needs after validation: pointers into the buffer, every
 * one of them checked.  A missing optional section leaves its pointer
 * NULL (the reader answers 503 for what it needs and does not have).
 */
typedef struct {
    const ps_snap_header_t  *header;
    const char              *blob;
    uint32_t                 blob_len;
    const ps_snap_row_t     *rows[PS_SNAP_ALL_WINDOWS];
    uint32_t                 row_count[PS_SNAP_ALL_WINDOWS];
    const uint64_t          *grams[PS_SNAP_ALL_WINDOWS];   /* or NULL */
    const uint32_t          *order[PS_SNAP_ALL_WINDOWS][PS_SNAP_SORTS];
    ps_snap_ref_t            window_info[PS_SNAP_ALL_WINDOWS];
    ps_snap_ref_t            summary;
    ps_snap_ref_t            trends[PS_SNAP_RANGES];
    const ps_snap_row_t     *path_trends[PS_SNAP_RANGES];
    uint32_t                 path_trend_count[PS_SNAP_RANGES];
    ps_snap_ref_t            metrics;
    ps_snap_ref_t            health;
    uint8_t                  has_window_info[PS_SNAP_ALL_WINDOWS];
    uint8_t                  has_summary;
    uint8_t                  has_trends[PS_SNAP_RANGES];
    ps_snap_ref_t            long_trends[PS_SNAP_LONG_RANGES];
    uint8_t                  has_long_trends[PS_SNAP_LONG_RANGES];
    uint8_t                  has_metrics;
    uint8_t                  has_health;

    /* scopes: whose view this is, the other views (raw, checked by
     * ps_snap_validate_scopes()), the nodes' list */
    ps_snap_scope_desc_t     scope;
    uint8_t                  has_scope;
    uint8_t                  has_nodes;
    ps_snap_ref_t            nodes;
    const char              *scopes;
    uint64_t                 scopes_len;
} ps_snap_view_t;


/*
 * Pairs of bytes, for the path search: bit ps_snap_gram(a, b) stands for
 * the pair a, b (ASCII letters folded to lower case, as the search
 * matches them).  A path's grams have the bit of each of its adjacent
 * pairs; a path that contains q has every bit of q's grams, so a row
 * whose grams lack one of them cannot match and is not scanned.
 */
static inline unsigned
ps_snap_gram(unsigned char a, unsigned char b)
{
    uint32_t  x;

    a = (unsigned char) (a >= 'A' && a <= 'Z' ? a | 0x20 : a);
    b = (unsigned char) (b >= 'A' && b <= 'Z' ? b | 0x20 : b);
    x = ((uint32_t) a << 8 | b) * 0x9E3779B1u;

    return x >> 26;
}


static inline uint64_t
ps_snap_grams(const unsigned char *p, size_t len)
{
    size_t    i;
    uint64_t  g = 0;

    for (i = 0; i + 1 < len; i++) {
        g |= (uint64_t) 1 << ps_snap_gram(p[i], p[i + 1]);
    }

    return g;
}


static inline int
ps_snap_ref_ok(ps_snap_ref_t ref, uint32_t blob_len)
{
    return ref.off <= blob_len && ref.len <= blob_len - ref.off;
}


static inline int
ps_snap_ref_section(const char *buf, const ps_snap_section_t *s,
    uint32_t blob_len, ps_snap_ref_t *out)
{
    const ps_snap_ref_t  *ref;

    if (s->len != sizeof(ps_snap_ref_t)) {
        return -1;
    }

    ref = (const ps_snap_ref_t *) (buf + s->off);

    if (!ps_snap_ref_ok(*ref, blob_len)) {
        return -1;
    }

    *out = *ref;

    return 0;
}


/*
 * Validates buf[0..len) and fills view.  Returns NULL when the snapshot
 * is usable, otherwise a static reason.  Checks: magic, version, sizes,
 * every section inside the buffer and aligned, one blob, every ref
 * inside the blob, every order array a list of in-range row indexes of
 * the right length.  Runs in time linear in len; never reads outside
 * buf.  buf must be 8-byte aligned.
 */
static inline const char *
ps_snap_validate(const void *buf, uint64_t len, ps_snap_view_t *view)
{
    const char               *p = (const char *) buf;
    const ps_snap_header_t   *h;
    const ps_snap_section_t  *sec, *s;
    const ps_snap_row_t      *rows;
    const uint32_t           *order;
    uint64_t                  table_end;
    uint32_t                  i, j, n, w, k, blob_len;

    if (((uintptr_t) buf & 7) != 0) {
        return "snapshot buffer misaligned";
    }

    if (len < sizeof(ps_snap_header_t)) {
        return "snapshot shorter than its header";
    }

    h = (const ps_snap_header_t *) p;

    if (h->magic != PS_SNAP_MAGIC) {
        return "bad snapshot magic";
    }

    if (h->version != PS_SNAP_VERSION) {
        return "unknown snapshot version";
    }

    if (h->total_len < sizeof(ps_snap_header_t) || h->total_len > len) {
        return "snapshot length out of bounds";
    }

    len = h->total_len;

    if (h->section_count > PS_SNAP_MAX_SECTIONS) {
        return "too many snapshot sections";
    }

    table_end = sizeof(ps_snap_header_t)
                + (uint64_t) h->section_count * sizeof(ps_snap_section_t);
    if (table_end > len) {
        return "snapshot section table out of bounds";
    }

    sec = (const ps_snap_section_t *) (p + sizeof(ps_snap_header_t));

    {
        ps_snap_view_t  zero = { 0 };
        *view = zero;
    }

    view->header = h;

    /* pass 1: bounds of every section, find the blob and the rows */

    for (i = 0; i < h->section_count; i++) {
        s = &sec[i];

        if (s->off < table_end || s->off > len || s->len > len - s->off
            || (s->off & 7) != 0)
        {
            return "snapshot section out of bounds";
        }

        switch (s->type) {

        case PS_SNAP_BLOB:
            if (view->blob != NULL || s->len > UINT32_MAX) {
                return "bad snapshot blob";
            }
            view->blob = p + s->off;
            view->blob_len = (uint32_t) s->len;
            break;

        case PS_SNAP_ROWS:
        case PS_SNAP_DAY_ROWS:
            if (!ps_snap_window_of(s->type, s->arg)
                || view->rows[s->arg] != NULL
                || s->len % sizeof(ps_snap_row_t) != 0
                || s->len / sizeof(ps_snap_row_t) > PS_SNAP_MAX_ROWS)
            {
                return "bad snapshot rows section";
            }
            view->rows[s->arg] = (const ps_snap_row_t *) (p + s->off);
            view->row_count[s->arg] =
                (uint32_t) (s->len / sizeof(ps_snap_row_t));
            break;

        case PS_SNAP_PATH_TRENDS:
            if (s->arg >= PS_SNAP_RANGES || view->path_trends[s->arg] != NULL
                || s->len % sizeof(ps_snap_row_t) != 0
                || s->len / sizeof(ps_snap_row_t) > PS_SNAP_MAX_ROWS)
            {
                return "bad snapshot path trends section";
            }
            view->path_trends[s->arg] = (const ps_snap_row_t *) (p + s->off);
            view->path_trend_count[s->arg] =
                (uint32_t) (s->len / sizeof(ps_snap_row_t));
            break;

        default:
            break;
        }
    }

    if (view->blob == NULL) {
        return "snapshot has no blob";
    }

    blob_len = view->blob_len;

    /* pass 2: refs and orders, now that the blob and rows are known */

    for (i = 0; i < h->section_count; i++) {
        s = &sec[i];

        switch (s->type) {

        case PS_SNAP_BLOB:
        case PS_SNAP_ROWS:
        case PS_SNAP_DAY_ROWS:
        case PS_SNAP_PATH_TRENDS:
            break;

        case PS_SNAP_GRAMS:
            if (s->arg >= PS_SNAP_ALL_WINDOWS || view->rows[s->arg] == NULL
                || view->grams[s->arg] != NULL
                || s->len != (uint64_t) view->row_count[s->arg]
                             * sizeof(uint64_t))
            {
                return "bad snapshot grams section";
            }
            view->grams[s->arg] = (const uint64_t *) (p + s->off);
            break;

        case PS_SNAP_ORDER:
        case PS_SNAP_DAY_ORDER:
            w = s->arg / PS_SNAP_SORTS;
            k = s->arg % PS_SNAP_SORTS;

            if (!ps_snap_window_of(s->type, w) || view->rows[w] == NULL
                || view->order[w][k] != NULL
                || s->len != (uint64_t) view->row_count[w]
                             * sizeof(uint32_t))
            {
                return "bad snapshot order section";
            }

            order = (const uint32_t *) (p + s->off);
            n = view->row_count[w];

            for (j = 0; j < n; j++) {
                if (order[j] >= n) {
                    return "snapshot order index out of range";
                }
            }

            view->order[w][k] = order;
            break;

        case PS_SNAP_SUMMARY:
            if (view->has_summary
                || ps_snap_ref_section(p, s, blob_len, &view->summary) != 0)
            {
                return "bad snapshot summary";
            }
            view->has_summary = 1;
            break;

        case PS_SNAP_TRENDS:
            if (s->arg >= PS_SNAP_RANGES || view->has_trends[s->arg]
                || ps_snap_ref_section(p, s, blob_len,
                                       &view->trends[s->arg]) != 0)
            {
                return "bad snapshot trends";
            }
            view->has_trends[s->arg] = 1;
            break;

        case PS_SNAP_LONG_TRENDS:
            if (s->arg >= PS_SNAP_LONG_RANGES
                || view->has_long_trends[s->arg]
                || ps_snap_ref_section(p, s, blob_len,
                                       &view->long_trends[s->arg]) != 0)
            {
                return "bad snapshot long trends";
            }
            view->has_long_trends[s->arg] = 1;
            break;

        case PS_SNAP_METRICS:
            if (view->has_metrics
                || ps_snap_ref_section(p, s, blob_len, &view->metrics) != 0)
            {
                return "bad snapshot metrics";
            }
            view->has_metrics = 1;
            break;

        case PS_SNAP_HEALTH:
            if (view->has_health
                || ps_snap_ref_section(p, s, blob_len, &view->health) != 0)
            {
                return "bad snapshot health";
            }
            view->has_health = 1;
            break;

        case PS_SNAP_WINDOW_INFO:
        case PS_SNAP_DAY_WINDOW_INFO:
            if (!ps_snap_window_of(s->type, s->arg)
                || view->has_window_info[s->arg]
                || ps_snap_ref_section(p, s, blob_len,
                                       &view->window_info[s->arg]) != 0)
            {
                return "bad snapshot window info";
            }
            view->has_window_info[s->arg] = 1;
            break;

        case PS_SNAP_SELF:
            if (view->has_scope || s->len != sizeof(ps_snap_scope_desc_t)) {
                return "bad snapshot scope";
            }
            view->scope = *(const ps_snap_scope_desc_t *) (p + s->off);
            if (!ps_snap_ref_ok(view->scope.node, blob_len)
                || !ps_snap_ref_ok(view->scope.meta, blob_len)
                || (view->scope.kind != PS_SNAP_SCOPE_NODE
                    && view->scope.kind != PS_SNAP_SCOPE_FLEET))
            {
                return "bad snapshot scope";
            }
            view->has_scope = 1;
            break;

        case PS_SNAP_SCOPES:
            if (view->scopes != NULL) {
                return "bad snapshot scopes";
            }
            view->scopes = p + s->off;
            view->scopes_len = s->len;
            break;

        case PS_SNAP_NODES:
            if (view->has_nodes
                || ps_snap_ref_section(p, s, blob_len, &view->nodes) != 0)
            {
                return "bad snapshot nodes";
            }
            view->has_nodes = 1;
            break;

        default:
            /* unknown sections of a newer writer are skipped */
            break;
        }
    }

    /* every row's refs inside the blob */

    for (w = 0; w < PS_SNAP_ALL_WINDOWS; w++) {
        rows = view->rows[w];

        for (j = 0; j < view->row_count[w]; j++) {
            if (!ps_snap_ref_ok(rows[j].host, blob_len)
                || !ps_snap_ref_ok(rows[j].method, blob_len)
                || !ps_snap_ref_ok(rows[j].path, blob_len)
                || !ps_snap_ref_ok(rows[j].json, blob_len))
            {
                return "snapshot row reference out of bounds";
            }
        }

        if (rows != NULL) {
            for (k = 0; k < PS_SNAP_SORTS; k++) {
                if (view->order[w][k] == NULL) {
                    return "snapshot window lacks a sort order";
                }
            }
        }
    }

    for (w = 0; w < PS_SNAP_RANGES; w++) {
        rows = view->path_trends[w];

        for (j = 0; j < view->path_trend_count[w]; j++) {
            if (!ps_snap_ref_ok(rows[j].host, blob_len)
                || !ps_snap_ref_ok(rows[j].method, blob_len)
                || !ps_snap_ref_ok(rows[j].path, blob_len)
                || !ps_snap_ref_ok(rows[j].json, blob_len))
            {
                return "snapshot path trend reference out of bounds";
            }
        }
    }

    return NULL;
}


/*
 * Validates buf[0..len) as ps_snap_validate() does into views[0], then
 * each nested view of its PS_SNAP_SCOPES section (at most max - 1) into
 * views[1..]; *n gets the number of views filled.  NULL when all are
 * usable, else a static reason (the whole snapshot is refused: the
 * aggregator checked what it nested).  A nested view must say whose it
 * is (PS_SNAP_SELF); its own SCOPES and NODES are ignored.
 */
static inline const char *
ps_snap_validate_scopes(const void *buf, uint64_t len, ps_snap_view_t *views,
    uint32_t max, uint32_t *n)
{
    const char              *reason, *body;
    const ps_snap_scopes_t  *head;
    const ps_snap_nested_t  *nested;
    uint64_t                 blen, table_end;
    uint32_t                 i;

    *n = 0;

    if (max == 0) {
        return "no room for a view";
    }

    reason = ps_snap_validate(buf, len, &views[0]);
    if (reason != NULL) {
        return reason;
    }

    *n = 1;

    if (views[0].scopes == NULL) {
        return NULL;
    }

    body = views[0].scopes;
    blen = views[0].scopes_len;

    if (blen < sizeof(ps_snap_scopes_t)) {
        return "snapshot scopes shorter than their head";
    }

    head = (const ps_snap_scopes_t *) body;

    if (head->count > max - 1 || head->count > PS_SNAP_MAX_SCOPES) {
        return "too many snapshot scopes";
    }

    table_end = sizeof(ps_snap_scopes_t)
                + (uint64_t) head->count * sizeof(ps_snap_nested_t);
    if (table_end > blen) {
        return "snapshot scopes table out of bounds";
    }

    nested = (const ps_snap_nested_t *) (body + sizeof(ps_snap_scopes_t));

    for (i = 0; i < head->count; i++) {
        if (nested[i].off < table_end || nested[i].off > blen
            || nested[i].len > blen - nested[i].off
            || (nested[i].off & 7) != 0)
        {
            return "snapshot scope out of bounds";
        }

        reason = ps_snap_validate(body + nested[i].off, nested[i].len,
                                  &views[1 + i]);
        if (reason != NULL) {
            return "a nested snapshot scope is invalid";
        }

        if (!views[1 + i].has_scope) {
            return "a nested snapshot scope says not whose it is";
        }

        views[1 + i].scopes = NULL;
        views[1 + i].scopes_len = 0;
        views[1 + i].has_nodes = 0;
        (*n)++;
    }

    return NULL;
}


/*
 * The index into view->rows[w] of the i-th row (from 0) of window w in
 * sort k, descending, or ascending when asc (the order read backwards).
 * The view must come from ps_snap_validate(), with rows[w] != NULL and
 * i < row_count[w]: then the index is < row_count[w].
 */
static inline uint32_t
ps_snap_row_index(const ps_snap_view_t *view, uint32_t w, uint32_t k,
    int asc, uint32_t i)
{
    uint32_t  n = view->row_count[w];

    return view->order[w][k][asc ? n - 1 - i : i];
}


#endif /* PATHSTATS_SNAPSHOT_H */
