/*
 * Unit tests for aggregator/agg/incidents.c: which alerts notify.  One
 * notification per incident at its highest level (critical supersedes
 * warning), an escalation as one "fired" with previous_level, nothing
 * when the level goes down, one "resolved"; at most max_paths per-path
 * incidents with the rest folded into one grouped incident; silences
 * keep new incidents quiet but not the resolve of one already notified;
 * each alert's notice.
 */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agg/incidents.h"
#include "tap.h"

#define SEC  1000000ULL
#define T0   (1795000000ULL * SEC)

typedef struct {
    int       event;
    char      scope[16];
    char      path[32];
    int       metric;
    int       level;
    int       previous;
    double    value;
    uint64_t  id;
} got_t;

static ps_alerts_t     *a;
static ps_incidents_t  *in;
static got_t            got[64];
static size_t           ngot;
static uint64_t         t = T0;


static void
on_event(void *ctx, const ps_incident_event_t *ev)
{
    got_t  *g;

    if (ngot == 64) {
        bail_out("too many events");
    }

    g = &got[ngot++];
    g->event = ev->event;
    snprintf(g->scope, sizeof(g->scope), "%s", ev->scope);
    snprintf(g->path, sizeof(g->path), "%.*s", (int) ev->plen,
             ev->path ? ev->path : "");
    g->metric = ev->metric;
    g->level = ev->level;
    g->previous = ev->previous_level;
    g->value = ev->value;
    g->id = ev->id;
}


/* One round 1 s later: the overall traffic with oerr errors of 1000 and
 * n paths "/pN" (first the one named by `one`, if any) with perr errors
 * of 100 each. */
static void
round_(uint64_t oerr, const char *one, size_t n, uint64_t perr,
    const ps_silences_t *sil)
{
    char    path[32];
    size_t  i;

    t += SEC;
    ngot = 0;
    ps_alerts_begin(a);
    ps_alerts_check(a, NULL, 0, NULL, 0, NULL, 0, 1000, oerr, 1, t);

    if (one != NULL) {
        ps_alerts_check(a, "h", 1, "GET", 3, one, strlen(one), 100, perr, 1,
                        t);
    }

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/p%02zu", i);
        ps_alerts_check(a, "h", 1, "GET", 3, path, strlen(path), 100, perr,
                        1, t);
    }

    ps_alerts_end(a, t);

    if (ps_incidents_update(in, a, sil, t, on_event, NULL) != 0) {
        bail_out("update failed");
    }
}


static json_t *
alerts_json(void)
{
    ps_buf_t  b = PS_BUF_INIT;
    json_t   *j;

    if (ps_alerts_json(a, &b) != 0) {
        bail_out("ps_alerts_json");
    }
    j = json_loadb(b.data, b.len, 0, NULL);
    ps_buf_free(&b);
    return j;
}


/* the notice of the alert of path and level */
static const char *
notice(json_t *j, const char *path, const char *level)
{
    json_t      *x;
    size_t       i;
    const char  *p;

    json_array_foreach(j, i, x) {
        p = json_string_value(json_object_get(x, "path"));
        if (strcmp(p ? p : "", path) == 0
            && strcmp(json_string_value(json_object_get(x, "level")), level)
               == 0)
        {
            p = json_string_value(json_object_get(x, "notification"));
            return p ? p : "null";
        }
    }

    return "none";
}


static size_t
count(int event, const char *scope)
{
    size_t  i, n = 0;

    for (i = 0; i < ngot; i++) {
        n += got[i].event == event && strcmp(got[i].scope, scope) == 0;
    }

    return n;
}


int
main(void)
{
    ps_alert_limits_t     lim;
    ps_incidents_stats_t  st;
    ps_silences_t         sil = PS_SILENCES_INIT;
    json_t               *j;
    uint64_t              first_id;

    lim.error_rate[0] = 0.05;       /* 5 % */
    lim.error_rate[1] = 0.20;       /* 20 % */
    lim.p95_ms[0] = 1000;
    lim.p95_ms[1] = 2000;
    lim.min_requests = 20;
    lim.cooldown_us[0] = 0;
    lim.cooldown_us[1] = 0;

    a = ps_alerts_create(&lim);
    in = ps_incidents_create(3);
    ok(a != NULL && in != NULL, "create, max_paths 3");

    /* one path at 100 %: warning and critical fire at once, one
     * notification */
    round_(0, "/a", 0, 100, NULL);
    is_u64(ps_alerts_active(a), 2, "/a: two alerts active");
    is_u64(ngot, 1, "one notification, not two");
    ok(got[0].event == PS_INCIDENT_FIRED && got[0].level == PS_ALERT_CRITICAL
       && got[0].previous == -1 && strcmp(got[0].path, "/a") == 0
       && strcmp(got[0].scope, "path") == 0
       && got[0].metric == PS_ALERT_ERROR_RATE && got[0].value == 1.0,
       "fired: /a, error_rate, critical, value 1");
    first_id = got[0].id;
    j = alerts_json();
    is_str(notice(j, "/a", "critical"), "sent", "critical: sent");
    is_str(notice(j, "/a", "warning"), "superseded", "warning: superseded");
    json_decref(j);

    round_(0, "/a", 0, 100, NULL);
    is_u64(ngot, 0, "still failing: nothing more");

    /* back to 10 %: critical resolves, warning stays: nothing to say */
    round_(0, "/a", 0, 10, NULL);
    is_u64(ngot, 0, "de-escalation: no notification");
    j = alerts_json();
    is_str(notice(j, "/a", "warning"), "sent",
           "the warning left: its incident was sent");
    json_decref(j);

    round_(0, "/a", 0, 0, NULL);
    is_u64(ngot, 1, "recovered: one notification");
    ok(got[0].event == PS_INCIDENT_RESOLVED && got[0].id == first_id
       && got[0].level == PS_ALERT_CRITICAL,
       "resolved: the same incident, at the level notified");

    /* escalation: warning first, then critical */
    round_(0, "/b", 0, 10, NULL);
    ok(ngot == 1 && got[0].level == PS_ALERT_WARNING
       && got[0].previous == -1, "/b at 10 %%: fired warning");
    round_(0, "/b", 0, 50, NULL);
    ok(ngot == 1 && got[0].level == PS_ALERT_CRITICAL
       && got[0].previous == PS_ALERT_WARNING,
       "/b at 50 %%: fired critical, previous warning");
    round_(0, NULL, 0, 0, NULL);
    ok(ngot == 1 && got[0].event == PS_INCIDENT_RESOLVED,
       "/b gone: resolved once");

    /* the overall scope: its own incident, never folded */
    round_(300, NULL, 0, 0, NULL);
    ok(ngot == 1 && strcmp(got[0].scope, "overall") == 0
       && got[0].level == PS_ALERT_CRITICAL, "overall 30 %%: one fired");
    round_(0, NULL, 0, 0, NULL);
    ok(ngot == 1 && got[0].event == PS_INCIDENT_RESOLVED
       && strcmp(got[0].scope, "overall") == 0, "overall: resolved");

    /* a storm: 10 paths at once, 3 notified one by one, 7 folded */
    round_(0, NULL, 10, 100, NULL);
    is_u64(ngot, 4, "10 paths failing: 4 notifications");
    is_u64(count(PS_INCIDENT_FIRED, "path"), 3, "3 per path");
    is_u64(count(PS_INCIDENT_FIRED, "paths"), 1, "1 grouped");
    ok(strcmp(got[3].scope, "paths") == 0 && got[3].value == 7
       && got[3].level == PS_ALERT_CRITICAL && got[3].metric == -1,
       "the grouped one last: 7 more paths, critical");
    ok(strcmp(got[0].path, "/p00") == 0 && strcmp(got[2].path, "/p02") == 0,
       "ties in order of path: /p00 .. /p02 each their own");
    j = alerts_json();
    is_str(notice(j, "/p09", "critical"), "grouped", "/p09: grouped");
    is_str(notice(j, "/p01", "critical"), "sent", "/p01: sent");
    json_decref(j);
    ps_incidents_stats(in, &st);
    ok(st.open == 4 && st.grouped == 7, "stats: 4 open, 7 grouped");

    round_(0, NULL, 12, 100, NULL);
    is_u64(ngot, 0, "12 paths failing next round: nothing new");

    /* /p00 recovers: its slot is not handed to a grouped path */
    t += SEC;
    ngot = 0;
    ps_alerts_begin(a);
    ps_alerts_check(a, NULL, 0, NULL, 0, NULL, 0, 1000, 0, 1, t);
    {
        char    path[8];
        size_t  i;

        for (i = 1; i < 12; i++) {
            snprintf(path, sizeof(path), "/p%02zu", i);
            ps_alerts_check(a, "h", 1, "GET", 3, path, strlen(path), 100,
                            100, 1, t);
        }
    }
    ps_alerts_end(a, t);
    (void) ps_incidents_update(in, a, NULL, t, on_event, NULL);
    ok(ngot == 1 && got[0].event == PS_INCIDENT_RESOLVED
       && strcmp(got[0].path, "/p00") == 0,
       "/p00 recovered: resolved, and no grouped path takes its slot");
    ps_incidents_stats(in, &st);
    ok(st.open == 3 && st.grouped == 9, "stats: 3 open (2 + the group), "
       "9 grouped");

    round_(0, NULL, 0, 0, NULL);
    is_u64(ngot, 3, "all recovered: 3 notifications");
    is_u64(count(PS_INCIDENT_RESOLVED, "path"), 2, "2 per-path resolved");
    is_u64(count(PS_INCIDENT_RESOLVED, "paths"), 1, "1 grouped resolved");

    /* silences */
    ok(ps_silence_scope_check("/s*") == NULL
       && ps_silence_scope_check("overall") == NULL
       && ps_silence_scope_check("all") == NULL
       && ps_silence_scope_check("api") != NULL
       && ps_silence_scope_check("/a b") != NULL
       && ps_silence_scope_check("") != NULL, "scope syntax");
    ok(ps_silence_covers("/s*", 0, "/s1", 3)
       && !ps_silence_covers("/s*", 0, "/t", 2)
       && !ps_silence_covers("/s*", 1, NULL, 0)
       && ps_silence_covers("/s1", 0, "/s1", 3)
       && !ps_silence_covers("/s1", 0, "/s10", 4)
       && ps_silence_covers("overall", 1, NULL, 0)
       && !ps_silence_covers("overall", 0, "/x", 2)
       && ps_silence_covers("all", 0, "/x", 2), "what scopes cover");

    ps_silences_add(&sil, 1, "/s*", "node-1", t, t + 60 * SEC);
    round_(0, "/s1", 0, 100, &sil);
    is_u64(ngot, 0, "a silenced path notifies nobody");
    j = alerts_json();
    is_str(notice(j, "/s1", "critical"), "silenced", "notice: silenced");
    json_decref(j);
    ps_incidents_stats(in, &st);
    is_u64(st.silenced, 1, "stats: 1 silenced");

    t += 60 * SEC;
    round_(0, "/s1", 0, 100, &sil);
    ok(ngot == 1 && got[0].event == PS_INCIDENT_FIRED,
       "the silence over, the alert still on: fired");

    ps_silences_free(&sil);
    ps_silences_add(&sil, 2, "all", NULL, t, t + 600 * SEC);
    round_(0, "/s1", 0, 0, &sil);
    ok(ngot == 1 && got[0].event == PS_INCIDENT_RESOLVED,
       "silenced after it was sent: its resolve still goes out");

    round_(500, "/s2", 5, 100, &sil);
    is_u64(ngot, 0, "everything silenced: a storm notifies nobody");
    ps_incidents_stats(in, &st);
    is_u64(st.grouped, 0, "silenced paths are not grouped");

    ps_silences_free(&sil);
    ps_incidents_destroy(in);
    ps_alerts_destroy(a);

    return done_testing();
}
