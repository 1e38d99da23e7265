/*
 * Unit tests for aggregator/trend_paths.c without PostgreSQL: the packed
 * lists of keys and of rendered paths round-trip any bytes and refuse a
 * cut list; a set follows the list it is given (order, paths leaving,
 * a malformed list changing nothing); each path renders the three
 * ranges of ps_trends_render(), zeros before any hour is loaded.
 */

#include <string.h>

#include "tap.h"
#include "store/pg/trend_paths.h"
#include "store/pg/trends.h"
#include "pathstats_snapshot.h"

static ps_trend_key_t
key(const char *host, const char *method, const char *path)
{
    ps_trend_key_t  k;

    k.host = host;
    k.method = method;
    k.path = path;
    k.hlen = (uint32_t) strlen(host);
    k.mlen = (uint32_t) strlen(method);
    k.plen = (uint32_t) strlen(path);

    return k;
}


static ps_buf_t
keys(const char *const *paths, size_t n)
{
    ps_buf_t        b = PS_BUF_INIT;
    ps_trend_key_t  k;
    size_t          i;

    for (i = 0; i < n; i++) {
        k = key("h.test", "GET", paths[i]);
        if (ps_trend_keys_add(&b, &k) != 0) {
            bail_out("no memory");
        }
    }

    return b;
}


/* The paths of a render output, joined by spaces. */
static void
rendered(ps_trend_paths_t *p, char *out, size_t cap, int *points24,
    int *bad)
{
    ps_buf_t              b = PS_BUF_INIT;
    ps_trend_path_json_t  pj;
    size_t                pos = 0, len = 0;
    const char           *s;
    int                   r;

    out[0] = '\0';
    *bad = 0;

    if (ps_trend_paths_render(p, 1700000000 / 3600 * 3600, 48, &b) != 0) {
        bail_out("render failed");
    }

    while ((r = ps_trend_paths_next(&b, &pos, &pj)) == 1) {
        if (len + pj.key.plen + 2 < cap) {
            memcpy(out + len, pj.key.path, pj.key.plen);
            len += pj.key.plen;
            out[len++] = ' ';
            out[len] = '\0';
        }

        /* 24 hourly points of zero requests, as a JSON array */
        *points24 = 0;
        for (s = pj.json[PS_SNAP_RANGE_24H];
             s < pj.json[PS_SNAP_RANGE_24H] + pj.jlen[PS_SNAP_RANGE_24H];
             s++)
        {
            if (strncmp(s, "\"requests\":0,", 13) == 0) {
                (*points24)++;
            }
        }

        if (pj.jlen[0] < 2 || pj.json[0][0] != '['
            || pj.json[0][pj.jlen[0] - 1] != ']')
        {
            *bad = 1;
        }
    }

    if (r != 0) {
        *bad = 1;
    }

    ps_buf_free(&b);
}


int
main(void)
{
    static const char *const  ab[] = { "/a", "/b" };
    static const char *const  bc[] = { "/c", "/b" };
    ps_trend_paths_t         *p;
    ps_trend_key_t            k, got;
    ps_buf_t                  b = PS_BUF_INIT, cut;
    size_t                    pos;
    char                      list[256];
    int                       points, bad;

    /* packed keys: any bytes, empty strings */

    k = key("", "POST", "/q\"\\\x01\xff");
    ok(ps_trend_keys_add(&b, &k) == 0, "a key with quotes, a backslash, a "
       "control byte and 0xff packs");
    k = key("h", "", "");
    ps_trend_keys_add(&b, &k);
    pos = 0;
    is_int(ps_trend_keys_next(&b, &pos, &got), 1, "the first key reads");
    is_mem(got.path, got.plen, "/q\"\\\x01\xff", 6, "its path byte for byte");
    is_mem(got.method, got.mlen, "POST", 4, "its method");
    is_int(got.hlen, 0, "its empty host");
    is_int(ps_trend_keys_next(&b, &pos, &got), 1, "the second key reads");
    is_int(got.plen + got.mlen, 0, "empty path and method");
    is_int(ps_trend_keys_next(&b, &pos, &got), 0, "then the end");

    cut = b;
    cut.len -= 1;
    pos = 0;
    ps_trend_keys_next(&cut, &pos, &got);
    is_int(ps_trend_keys_next(&cut, &pos, &got), -1, "a cut list: -1");
    ps_buf_free(&b);

    /* a set following its list */

    p = ps_trend_paths_create();
    ok(p != NULL, "an empty set");
    rendered(p, list, sizeof(list), &points, &bad);
    is_str(list, "", "renders nothing");

    b = keys(ab, 2);
    is_int(ps_trend_paths_apply(p, &b), 0, "apply /a /b");
    ps_buf_free(&b);
    is_int(ps_trend_paths_pending(p), 1, "both wait for their history");
    rendered(p, list, sizeof(list), &points, &bad);
    is_str(list, "/a /b ", "rendered in the list's order");
    is_int(points, 24, "24 hourly points of zero before any load");
    is_int(bad, 0, "each range a JSON array");

    b = keys(bc, 2);
    is_int(ps_trend_paths_apply(p, &b), 0, "apply /c /b");
    rendered(p, list, sizeof(list), &points, &bad);
    is_str(list, "/c /b ", "/a left, /c came, the new order");

    cut = b;
    cut.len -= 3;
    is_int(ps_trend_paths_apply(p, &cut), -1, "a malformed list: -1");
    rendered(p, list, sizeof(list), &points, &bad);
    is_str(list, "/c /b ", "and the set is unchanged");
    ps_buf_free(&b);

    b = keys(ab, 0);
    is_int(ps_trend_paths_apply(p, &b), 0, "an empty list");
    rendered(p, list, sizeof(list), &points, &bad);
    is_str(list, "", "empties the set");
    is_int(ps_trend_paths_pending(p), 0, "nothing pending");

    ps_trend_paths_destroy(p);
    ps_trend_paths_destroy(NULL);
    ok(1, "destroy, and destroy(NULL)");

    return done_testing();
}
