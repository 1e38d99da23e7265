/*
 * Unit tests for aggregator/snapshot/scope_pack.c and agg/fleet_table.c:
 * the fleet table sums nodes' hourly rows per key (closed and live
 * parts), a scope pack of rows collected from it validates as a
 * snapshot of its own, packs nested in PS_SNAP_SCOPES come back through
 * ps_snap_validate_scopes() with their scope, node id, rows and exact
 * numbers, and damaged nesting is refused as a whole.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agg/fleet_table.h"
#include "pathstats_snapshot.h"
#include "snapshot/rows.h"
#include "snapshot/scope_pack.h"
#include "tap.h"

#define SEC  1000000ULL
#define T0   (1795000000ULL / 3600 * 3600 * SEC + 1800 * SEC)


static void
stats(ps_win_stats_t *st, uint64_t requests, uint64_t errors,
    uint64_t bytes_out, uint64_t lat_us)
{
    uint64_t  i;

    ps_win_stats_reset(st);
    st->counts.requests = requests;
    st->counts.errors = errors;
    st->counts.status[1] = requests - errors;
    st->counts.status[4] = errors;
    st->counts.bytes_out = bytes_out;
    st->counts.latency_sum_us = requests * lat_us;
    st->counts.latency_max_us = lat_us;
    st->first_seen_us = T0 - 3600 * SEC;
    st->last_seen_us = T0;
    for (i = 0; i < requests; i++) {
        ps_hist_add(&st->latency, lat_us);
    }
}


static json_t *
ref_json(const ps_snap_view_t *v, ps_snap_ref_t ref)
{
    return json_loadb(v->blob + ref.off, ref.len, JSON_DECODE_ANY, NULL);
}


/* the requests of window w's row of path in v, -1 when it has none */
static long long
row_requests(const ps_snap_view_t *v, int w, const char *path)
{
    const ps_snap_row_t  *r;
    json_t               *j;
    long long             n;
    uint32_t              i;

    for (i = 0; i < v->row_count[w]; i++) {
        r = &v->rows[w][i];
        if (r->path.len == strlen(path)
            && memcmp(v->blob + r->path.off, path, r->path.len) == 0)
        {
            j = ref_json(v, r->json);
            n = (long long) json_integer_value(json_object_get(j,
                                                              "requests"));
            json_decref(j);
            return n;
        }
    }

    return -1;
}


static size_t  keys_seen;


static int
count_key(void *ctx, const char *host, size_t hlen, const char *method,
    size_t mlen, const char *path, size_t plen, const ps_win_stats_t *st)
{
    keys_seen++;
    return 0;
}


int
main(void)
{
    ps_fleet_table_t     *ft;
    ps_win_stats_t        st;
    ps_rowset_t           rs;
    ps_scope_pack_in_t    in;
    ps_buf_t              packs[2] = { PS_BUF_INIT, PS_BUF_INIT };
    ps_buf_t              nest = PS_BUF_INIT, outer = PS_BUF_INIT;
    ps_buf_t              bad = PS_BUF_INIT;
    ps_snap_view_t       *views;
    ps_snap_scopes_t     *head;
    ps_snap_nested_t     *nested;
    const char           *why;
    json_t               *j;
    uint32_t              n, i;
    uint64_t              sum;
    static const char     nodes[] = "[{\"node\":\"a\",\"state\":\"ok\"}]";
    static const char     summary[] = "{\"scope\":\"fleet\"}";

    views = calloc(PS_SNAP_MAX_SCOPES, sizeof(*views));
    ft = ps_fleet_table_create();
    ok(views != NULL && ft != NULL, "create");
    ps_win_stats_init(&st);

    /* node a: /x 10, /y 5 (closed hour) and /x 3 live; node b: /x 7,
     * /z 4 live */
    stats(&st, 10, 1, 1000, 2000);
    ps_fleet_table_add(ft, PS_FLEET_CLOSED, "h", 1, "GET", 3, "/x", 2, &st);
    stats(&st, 5, 0, 500, 1000);
    ps_fleet_table_add(ft, PS_FLEET_CLOSED, "h", 1, "GET", 3, "/y", 2, &st);
    stats(&st, 3, 0, 300, 4000);
    ps_fleet_table_add(ft, PS_FLEET_LIVE, "h", 1, "GET", 3, "/x", 2, &st);
    stats(&st, 7, 2, 700, 8000);
    ps_fleet_table_add(ft, PS_FLEET_LIVE, "h", 1, "GET", 3, "/x", 2, &st);
    stats(&st, 4, 0, 400, 1000);
    ps_fleet_table_add(ft, PS_FLEET_LIVE, "h", 1, "POST", 4, "/z", 2, &st);
    is_u64(ps_fleet_table_keys(ft), 3, "three keys");

    ps_rowset_init(&rs);
    ok(ps_rowset_collect_from(&rs, ps_fleet_table_foreach, ft, 10, NULL,
                              NULL) == 0, "rows from the fleet table");
    is_u64(rs.n, 3, "three rows");
    is_u64(rs.total.counts.requests, 29, "fleet total 10+5+3+7+4");
    ok(rs.n == 3 && rs.rows[0].counts.requests == 20
       && rs.rows[0].plen == 2 && memcmp(rs.rows[0].path, "/x", 2) == 0,
       "/x first with 10+3+7");
    ok(rs.n == 3 && rs.rows[0].counts.errors == 3, "/x errors 1+2");

    /* the fleet's view: 24h only */
    memset(&in, 0, sizeof(in));
    in.kind = PS_SNAP_SCOPE_FLEET;
    in.meta = "\"scope\":\"fleet\"";
    in.win[PS_SNAP_WIN_24H] = &rs;
    in.rows[PS_SNAP_WIN_24H] = 2;
    in.summary = summary;
    in.summary_len = sizeof(summary) - 1;
    in.generated_us = T0;
    in.sequence = 7;
    in.ok = 1;
    ok(ps_scope_pack_build(&in, &packs[0]) == 0, "fleet pack built");

    why = ps_snap_validate(packs[0].data, packs[0].len, &views[0]);
    ok(why == NULL, "fleet pack valid: %s", why ? why : "yes");
    ok(views[0].has_scope && views[0].scope.kind == PS_SNAP_SCOPE_FLEET
       && views[0].scope.node.len == 0, "fleet pack says fleet");
    is_int(views[0].row_count[PS_SNAP_WIN_24H], 2, "rows shown: 2 of 3");
    ok(views[0].rows[PS_SNAP_WIN_1M] == NULL, "no 1m window");
    is_int(row_requests(&views[0], PS_SNAP_WIN_24H, "/x"), 20, "/x 20");
    j = ref_json(&views[0], views[0].window_info[PS_SNAP_WIN_24H]);
    is_int(json_integer_value(json_object_get(json_object_get(j, "other"),
                                              "requests")), 4,
           "the row left out: /z 4 in other");
    json_decref(j);

    /* node b's view */
    in.kind = PS_SNAP_SCOPE_NODE;
    in.flags = PS_SNAP_SCOPE_F_STALE;
    in.node = "b";
    in.meta = "\"scope\":\"node\",\"node\":\"b\"";
    in.win[PS_SNAP_WIN_1M] = &rs;
    in.rows[PS_SNAP_WIN_1M] = 3;
    ok(ps_scope_pack_build(&in, &packs[1]) == 0, "node pack built");

    ok(ps_scope_pack_nest(packs, 2, &nest) == 0, "nested");

    /* this node's view, with the others nested and the nodes list */
    memset(&in, 0, sizeof(in));
    in.kind = PS_SNAP_SCOPE_NODE;
    in.node = "a";
    in.meta = "\"scope\":\"node\",\"node\":\"a\"";
    in.scopes = nest.data;
    in.scopes_len = nest.len;
    in.nodes = nodes;
    in.nodes_len = sizeof(nodes) - 1;
    in.generated_us = T0;
    ok(ps_scope_pack_build(&in, &outer) == 0, "outer built");

    why = ps_snap_validate_scopes(outer.data, outer.len, views,
                                  PS_SNAP_MAX_SCOPES, &n);
    ok(why == NULL, "outer valid: %s", why ? why : "yes");
    is_int(n, 3, "three views");
    ok(views[0].has_nodes && views[0].nodes.len == sizeof(nodes) - 1
       && memcmp(views[0].blob + views[0].nodes.off, nodes,
                 views[0].nodes.len) == 0, "nodes list kept");
    ok(views[1].scope.kind == PS_SNAP_SCOPE_FLEET
       && views[1].header->sequence == 7, "view 1: the fleet's");
    ok(views[2].scope.kind == PS_SNAP_SCOPE_NODE
       && views[2].scope.node.len == 1
       && views[2].blob[views[2].scope.node.off] == 'b'
       && (views[2].scope.flags & PS_SNAP_SCOPE_F_STALE),
       "view 2: node b, stale");
    is_int(row_requests(&views[2], PS_SNAP_WIN_1M, "/z"), 4,
           "node b's 1m row /z");
    ok(views[2].scopes == NULL && !views[2].has_nodes,
       "nested views carry no scopes of their own");

    sum = 0;
    for (i = 0; i < views[1].row_count[PS_SNAP_WIN_24H]; i++) {
        j = ref_json(&views[1], views[1].rows[PS_SNAP_WIN_24H][i].json);
        sum += json_integer_value(json_object_get(j, "requests"));
        json_decref(j);
    }
    is_u64(sum, 25, "fleet rows shown: 20 + 5");

    ok(ps_scope_pack_set_flags(packs[0].data, packs[0].len, 0) == 0
       && ps_snap_validate(packs[0].data, packs[0].len, &views[0]) == NULL
       && views[0].scope.flags == 0, "flags set in place");

    /* too little room: refused, not truncated */
    why = ps_snap_validate_scopes(outer.data, outer.len, views, 2, &n);
    ok(why != NULL, "more views than room: refused");

    /* a nested offset out of bounds */
    ps_buf_append(&bad, outer.data, outer.len);
    ok(ps_snap_validate_scopes(bad.data, bad.len, views,
                               PS_SNAP_MAX_SCOPES, &n) == NULL
       && views[0].scopes != NULL, "copy valid");
    head = (ps_snap_scopes_t *) (bad.data
                                 + (views[0].scopes - bad.data));
    nested = (ps_snap_nested_t *) ((char *) head + sizeof(*head));
    nested[1].off += 8;
    why = ps_snap_validate_scopes(bad.data, bad.len, views,
                                  PS_SNAP_MAX_SCOPES, &n);
    ok(why != NULL, "nested view moved: refused (%s)", why ? why : "-");
    nested[1].off -= 8;
    nested[0].len = (uint64_t) -1;
    why = ps_snap_validate_scopes(bad.data, bad.len, views,
                                  PS_SNAP_MAX_SCOPES, &n);
    ok(why != NULL, "nested length huge: refused");
    nested[0].len = packs[0].len;
    head->count = PS_SNAP_MAX_SCOPES;
    why = ps_snap_validate_scopes(bad.data, bad.len, views,
                                  PS_SNAP_MAX_SCOPES, &n);
    ok(why != NULL, "count beyond the table: refused");

    /* a fresh live part (the rows pointed into the table: after them):
     * the closed one stays */
    ps_rowset_free(&rs);
    ps_fleet_table_reset(ft, PS_FLEET_LIVE);
    keys_seen = 0;
    ok(ps_fleet_table_foreach(ft, count_key, NULL) == 0 && keys_seen == 2,
       "/z empty with the live part: in no foreach (%zu keys seen)",
       keys_seen);
    is_u64(ps_fleet_table_keys(ft), 3, "  its memory kept for the next "
           "read");
    ps_fleet_table_reset(ft, PS_FLEET_LIVE);
    is_u64(ps_fleet_table_keys(ft), 2, "  dropped at the next reset, still "
           "empty");

    ps_win_stats_free(&st);
    ps_fleet_table_destroy(ft);
    ps_buf_free(&packs[0]);
    ps_buf_free(&packs[1]);
    ps_buf_free(&nest);
    ps_buf_free(&outer);
    ps_buf_free(&bad);
    free(views);

    return done_testing();
}
