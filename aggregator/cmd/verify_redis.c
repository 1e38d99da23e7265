/*
 * verify: Redis' live hours against PostgreSQL.  Redis holds the fleet's
 * sums per hour (every node adds into the same fields), pathstats_hourly
 * a row per node: per key, Redis' requests, errors, bytes_in, bytes_out
 * and latency_sum_us must equal the sums over the nodes, latency_max_us
 * their maximum; the hour's totals (with the status classes) the sums
 * of all its rows.  Only closed hours are compared (see the header), so
 * that a flush written to one store and not yet to the other is not a
 * mismatch.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/verify_redis.h"
#include "lib/hour.h"
#include "lib/log.h"
#include "lib/progress.h"
#include "store/pg/pg_conn.h"
#include "store/redis/redis_live.h"

/* Columns of the query below after the key: the six path counters,
 * then the totals' status classes. */
#define PG_STATUS_COL  (1 + PS_LIVE_PATH_COUNTERS)


/* Where a path counter goes in the totals (ps_live_total_names). */
static const size_t  total_of[PS_LIVE_PATH_COUNTERS] = { 0, 1, 7, 8, 9, 10 };


/* The field "host\tmethod\tpath" printed with spaces. */
static const char *
key_text(const char *field, char *buf, size_t size)
{
    size_t  i;

    snprintf(buf, size, "%s", field);
    for (i = 0; buf[i] != '\0'; i++) {
        if (buf[i] == '\t') {
            buf[i] = ' ';
        }
    }

    return buf;
}


/* Compares hour h of Redis with PostgreSQL's rows res (sorted like
 * h's paths); the first difference in why, or "" when all match. */
static void
compare_hour(const ps_live_hour_t *h, PGresult *res, char *why,
    size_t size, int64_t *differ)
{
    int         j, cmp, n;
    size_t      i, k, t;
    uint64_t    pg[PS_LIVE_PATH_COUNTERS], tot[PS_LIVE_TOTALS];
    char        key[1024];
    const char  *field;

    why[0] = '\0';
    *differ = 0;
    memset(tot, 0, sizeof(tot));
    n = PQntuples(res);
    i = 0;
    j = 0;

    while (i < h->npaths || j < n) {
        field = j < n ? PQgetvalue(res, j, 0) : NULL;
        cmp = i == h->npaths ? 1 : field == NULL ? -1
              : strcmp(h->paths[i].field, field);

        if (cmp < 0) {
            (*differ)++;
            if (why[0] == '\0') {
                snprintf(why, size, "key \"%s\" only in redis",
                         key_text(h->paths[i].field, key, sizeof(key)));
            }
            i++;
            continue;
        }

        for (k = 0; k < PS_LIVE_PATH_COUNTERS; k++) {
            pg[k] = strtoull(PQgetvalue(res, j, 1 + (int) k), NULL, 10);
            t = total_of[k];
            if (k == PS_LIVE_PATH_COUNTERS - 1) {
                tot[t] = pg[k] > tot[t] ? pg[k] : tot[t];
            } else {
                tot[t] += pg[k];
            }
        }
        for (k = 0; k < 5; k++) {
            tot[2 + k] += strtoull(PQgetvalue(res, j, PG_STATUS_COL
                                               + (int) k), NULL, 10);
        }

        if (cmp > 0) {
            (*differ)++;
            if (why[0] == '\0') {
                snprintf(why, size, "key \"%s\" only in postgres",
                         key_text(field, key, sizeof(key)));
            }
            j++;
            continue;
        }

        for (k = 0; k < PS_LIVE_PATH_COUNTERS; k++) {
            if (h->paths[i].v[k] != pg[k]) {
                break;
            }
        }
        if (k < PS_LIVE_PATH_COUNTERS) {
            (*differ)++;
            if (why[0] == '\0') {
                snprintf(why, size, "key \"%s\": %s redis=%llu "
                         "postgres=%llu",
                         key_text(field, key, sizeof(key)),
                         ps_live_path_names[k],
                         (unsigned long long) h->paths[i].v[k],
                         (unsigned long long) pg[k]);
            }
        }
        i++;
        j++;
    }

    if (why[0] != '\0') {
        return;
    }

    for (k = 0; k < PS_LIVE_TOTALS; k++) {
        if (h->totals[k] != tot[k]) {
            (*differ)++;
            snprintf(why, size, "totals: %s redis=%llu postgres=%llu",
                     ps_live_total_names[k],
                     (unsigned long long) h->totals[k],
                     (unsigned long long) tot[k]);
            return;
        }
    }
}


int
ps_verify_redis(const ps_config_t *cfg, PGconn *conn, int64_t now_us,
    int *checked, int *bad, int64_t *keys)
{
    int64_t           hour, first, last, closed_us, differ;
    char              err[1024], why[1400], sql[1024], subject[64];
    char              iso[PS_ISO8601_MAX];
    ps_redis_live_t  *l;
    ps_live_hour_t    h;
    PGresult         *res;
    int               rc;

    *keys = 0;

    if (cfg->redis == NULL) {
        ps_progress_clear();
        printf("%-8s %-52s %s\n", "redis", "live hours",
               "skipped: no redis configured");
        return 0;
    }

    l = ps_redis_live_open(cfg, err, sizeof(err));
    if (l == NULL) {
        ps_progress_clear();
        fprintf(stderr, "verify: %s\n", err);
        ps_log(PS_LOG_ERROR, "event=lifecycle_verify_failed error=\"%s\"",
               err);
        return PS_EXIT_REDIS;
    }

    closed_us = (int64_t) cfg->flush_interval_ms * 1000
                * PS_VERIFY_CLOSED_FLUSHES;
    if (closed_us < PS_VERIFY_CLOSED_MIN_S * PS_US_PER_SEC) {
        closed_us = PS_VERIFY_CLOSED_MIN_S * PS_US_PER_SEC;
    }

    /* a key lives until redis_ttl after the end of its hour */
    first = ps_hour_of(now_us - (int64_t) cfg->redis_ttl_ms * 1000
                       - PS_US_PER_HOUR);
    last = ps_hour_of(now_us - closed_us) - 3600;
    rc = 0;

    for (hour = first; hour <= last; hour += 3600) {
        if (ps_redis_live_hour(l, hour, &h, err, sizeof(err)) != 0) {
            ps_progress_clear();
        fprintf(stderr, "verify: %s\n", err);
            ps_live_hour_free(&h);
            rc = PS_EXIT_REDIS;
            break;
        }
        if (!h.held) {
            ps_live_hour_free(&h);
            continue;
        }

        /* the sums over the nodes, in the order of Redis' fields
         * (sorted here by strcmp, not by a collation) */
        snprintf(sql, sizeof(sql),
                 "SELECT host || E'\\t' || method || E'\\t' || path,"
                 " sum(requests), sum(errors), sum(bytes_in),"
                 " sum(bytes_out), sum(latency_sum_us), max(latency_max_us),"
                 " sum(status_1xx), sum(status_2xx), sum(status_3xx),"
                 " sum(status_4xx), sum(status_5xx)"
                 " FROM pathstats_hourly WHERE hour = to_timestamp(%lld)"
                 " GROUP BY host, method, path"
                 " ORDER BY (host || E'\\t' || method || E'\\t' || path)"
                 " COLLATE \"C\"",
                 (long long) hour);
        res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "verify: pathstats_hourly: %s\n",
                    ps_pg_error(conn, res, err, sizeof(err)));
            PQclear(res);
            ps_live_hour_free(&h);
            rc = PS_EXIT_POSTGRES;
            break;
        }

        ps_format_iso8601(hour * PS_US_PER_SEC, iso);
        snprintf(subject, sizeof(subject), "hour %s", iso);
        compare_hour(&h, res, why, sizeof(why), &differ);

        (*checked)++;
        ps_progress_rows((int64_t) h.npaths);
        *keys += (int64_t) (h.npaths > (size_t) PQntuples(res)
                            ? h.npaths : (size_t) PQntuples(res));

        if (why[0] == '\0') {
            ps_progress_clear();
            printf("%-8s %-52s ok (%zu keys)\n", "redis", subject,
                   h.npaths);
        } else {
            (*bad)++;
            ps_progress_clear();
            printf("%-8s %-52s MISMATCH: %lld keys differ, first %s\n",
                   "redis", subject, (long long) differ, why);
        }

        PQclear(res);
        ps_live_hour_free(&h);
    }

    ps_redis_live_close(l);

    return rc;
}
