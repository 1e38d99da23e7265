/*
 * --silence SCOPE --for DURATION: see cmd.h.
 */

#include <stdio.h>
#include <stdlib.h>

#include "agg/silence.h"
#include "cmd/cmd.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "store/pg/silences.h"

#define SILENCE_MAX_MS  (366ULL * 24 * 3600 * 1000)


int
ps_cmd_silence(const ps_config_t *cfg, const char *scope, const char *dur)
{
    uint64_t     ms, ends_us;
    int64_t      id;
    char         by[160], err[1024], q[1100], iso[PS_ISO8601_MAX];
    const char  *why, *user;

    if (cfg->postgres == NULL) {
        ps_log(PS_LOG_ERROR, "event=silence_failed error=\"silences are "
               "stored in PostgreSQL, where every node reads them: set "
               "postgres or pass --postgres\"");
        return PS_EXIT_CONFIG;
    }

    why = ps_silence_scope_check(scope);
    if (why != NULL) {
        ps_log(PS_LOG_ERROR, "event=silence_failed option=--silence "
               "error=%s", ps_log_quote(q, sizeof(q), why));
        return PS_EXIT_CONFIG;
    }

    why = ps_parse_duration_ms(dur, 1000, &ms);
    if (why == NULL && ms > SILENCE_MAX_MS) {
        why = "at most 366d";
    }
    if (why != NULL) {
        ps_log(PS_LOG_ERROR, "event=silence_failed option=--for error=%s",
               ps_log_quote(q, sizeof(q), why));
        return PS_EXIT_CONFIG;
    }

    /* who, as far as the environment says */
    user = getenv("SUDO_USER") ? getenv("SUDO_USER") : getenv("USER");
    snprintf(by, sizeof(by), "%.64s%s%s", user ? user : "",
             user ? "@" : "", cfg->node_id);

    if (ps_pg_silence_store(cfg->postgres, scope, ms, by, &id, &ends_us, err,
                            sizeof(err)) != 0)
    {
        ps_log(PS_LOG_ERROR, "event=silence_failed error=%s",
               ps_log_quote(q, sizeof(q), err));
        return PS_EXIT_POSTGRES;
    }

    if (ms == 0) {
        printf("ended %lld silence%s of %s\n", (long long) id,
               id == 1 ? "" : "s", scope);
    } else {
        printf("silenced %s until %s (silence %lld)\n", scope,
               ps_format_iso8601((int64_t) ends_us, iso), (long long) id);
    }

    ps_log(PS_LOG_INFO, "event=silence_set scope=%s for_ms=%llu id=%lld "
           "by=%s", ps_log_quote(q, sizeof(q), scope),
           (unsigned long long) ms, (long long) id, by);

    return 0;
}
