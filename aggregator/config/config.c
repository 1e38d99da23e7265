/*
 * Aggregator configuration: see config.h.  To add a key, add a field to
 * ps_config_t and a row to the table below; a command-line flag for it
 * is the key with '-' for '_' (main.c lists the flags it accepts).
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config/config.h"
#include "lib/log.h"

#define MS_PER_S     1000ULL
#define MS_PER_MIN   (60 * MS_PER_S)
#define MS_PER_HOUR  (60 * MS_PER_MIN)
#define MS_PER_DAY   (24 * MS_PER_HOUR)
#define KIB          1024ULL
#define MIB          (1024 * KIB)
#define GIB          (1024 * MIB)

#define NODE_ID_MAX  64

typedef enum {
    CFG_STRING,       /* char *; empty means unset (NULL) unless min = 1 */
    CFG_DURATION,     /* uint64_t ms in [min, max]; bare numbers in unit */
    CFG_SIZE,         /* uint64_t bytes in [min, max] */
    CFG_UINT,         /* uint64_t in [min, max] */
    CFG_ENUM,         /* int: index of the value in names */
    CFG_LOG_LEVEL,    /* int: ps_log_level_t */
    CFG_REDIS,        /* char * URL, and redis_host/port/db from it */
    CFG_CONNINFO,     /* char *: a libpq connection string; empty: unset */
    CFG_NODE_ID,      /* char *; empty means the host name */
    CFG_WEBHOOKS,     /* char ** + count: an http(s) URL per line, the
                         one key that may be repeated */
    CFG_RETENTION,    /* like CFG_DURATION, but 0 (forever) allowed too */
    CFG_TIME_OF_DAY   /* uint64_t ms after midnight, written "HH:MM" */
} cfg_type_t;

typedef struct {
    const char          *key;
    cfg_type_t           type;
    const char          *dflt;    /* the default, as it would be written in
                                     the file; NULL: unset */
    size_t               off;     /* of the field in ps_config_t */
    uint64_t             min, max;
    uint64_t             unit;    /* CFG_DURATION: ms of a bare number */
    const char *const   *names;   /* CFG_ENUM */
} cfg_key_t;

#define F(field)  offsetof(ps_config_t, field)

static const char *const  on_off[] = { "off", "on", NULL };

static const char *const  client_modes[] = {
    "full", "truncated", "hashed", "off", NULL   /* ps_client_mode_t */
};

static const char *const  webhook_formats[] = {
    "json", "slack", NULL                        /* ps_webhook_format_t */
};

static const char *const  log_formats[] = {
    "text", "json", NULL                         /* ps_log_format_t */
};

/* what the per-level cooldowns hold until the end of loading: not set,
 * so they take alert_cooldown's value */
#define COOLDOWN_UNSET  UINT64_MAX

/* Every key, with its default: the one place they are written down. */
static const cfg_key_t  cfg_keys[] = {
    { "zone", CFG_STRING, NULL, F(zone), 1, 0, 0, NULL },
    { "redis", CFG_REDIS, NULL, F(redis), 0, 0, 0, NULL },
    { "redis_ttl", CFG_DURATION, "48h", F(redis_ttl_ms),
      MS_PER_S, 365 * MS_PER_DAY, MS_PER_S, NULL },
    { "redis_shards", CFG_UINT, "16", F(redis_shards), 1, 1024, 0, NULL },
    { "postgres", CFG_CONNINFO, NULL, F(postgres), 0, 0, 0, NULL },
    { "node_id", CFG_NODE_ID, "", F(node_id), 0, 0, 0, NULL },
    { "flush_interval", CFG_DURATION, "1s", F(flush_interval_ms),
      10, MS_PER_HOUR, 1, NULL },
    { "snapshot_interval", CFG_DURATION, "500ms", F(snapshot_interval_ms),
      10, MS_PER_HOUR, 1, NULL },
    { "log_level", CFG_LOG_LEVEL, "info", F(log_level), 0, 0, 0, NULL },
    { "log_file", CFG_STRING, NULL, F(log_file), 0, 0, 0, NULL },
    { "log_format", CFG_ENUM, "text", F(log_format), 0, 0, 0, log_formats },
    { "spool_dir", CFG_STRING, NULL, F(spool_dir), 0, 0, 0, NULL },
    { "spool_max", CFG_SIZE, "1g", F(spool_max_bytes),
      MIB, UINT64_MAX, 0, NULL },
    { "max_keys_per_hour", CFG_UINT, "100000", F(max_keys_per_hour),
      1, 100000000, 0, NULL },
    { "client_address", CFG_ENUM, "full", F(client_address), 0, 0, 0,
      client_modes },
    { "top_n", CFG_UINT, "100", F(top_n), 1, 10000, 0, NULL },
    { "snapshot_max_rows", CFG_UINT, "10000", F(snapshot_max_rows),
      1, 1000000, 0, NULL },
    { "alert_error_rate_warning_bp", CFG_UINT, "50",
      F(alert_error_rate_warning_bp), 1, 10000, 0, NULL },
    { "alert_error_rate_critical_bp", CFG_UINT, "100",
      F(alert_error_rate_critical_bp), 1, 10000, 0, NULL },
    { "alert_p95_warning", CFG_DURATION, "100ms", F(alert_p95_warning_ms),
      1, MS_PER_HOUR, 1, NULL },
    { "alert_p95_critical", CFG_DURATION, "200ms", F(alert_p95_critical_ms),
      1, MS_PER_HOUR, 1, NULL },
    { "alert_min_requests", CFG_UINT, "20", F(alert_min_requests),
      1, 1000000000, 0, NULL },
    { "alert_cooldown", CFG_DURATION, "5m", F(alert_cooldown_ms),
      0, 7 * MS_PER_DAY, MS_PER_S, NULL },
    { "alert_cooldown_warning", CFG_DURATION, NULL,
      F(alert_cooldown_warning_ms), 0, 7 * MS_PER_DAY, MS_PER_S, NULL },
    { "alert_cooldown_critical", CFG_DURATION, NULL,
      F(alert_cooldown_critical_ms), 0, 7 * MS_PER_DAY, MS_PER_S, NULL },
    { "alert_max_paths", CFG_UINT, "10", F(alert_max_paths), 1, 1000, 0,
      NULL },
    { "alert_webhook", CFG_WEBHOOKS, NULL, F(alert_webhooks), 0, 0, 0,
      NULL },
    { "alert_webhook_format", CFG_ENUM, "json", F(alert_webhook_format),
      0, 0, 0, webhook_formats },
    { "alert_webhook_timeout", CFG_DURATION, "5s",
      F(alert_webhook_timeout_ms), 100, 5 * MS_PER_MIN, MS_PER_S, NULL },
    { "alert_webhook_retries", CFG_UINT, "3", F(alert_webhook_retries),
      0, 20, 0, NULL },
    { "alert_webhook_backoff", CFG_DURATION, "1s",
      F(alert_webhook_backoff_ms), 10, 10 * MS_PER_MIN, MS_PER_S, NULL },
    { "trend_paths", CFG_UINT, "200", F(trend_paths), 0, 10000, 0, NULL },
    { "day_windows_interval", CFG_DURATION, "2m",
      F(day_windows_interval_ms), MS_PER_S, MS_PER_DAY, MS_PER_S, NULL },
    { "fleet_interval", CFG_DURATION, "2s", F(fleet_interval_ms),
      100, MS_PER_HOUR, MS_PER_S, NULL },
    { "node_stale", CFG_DURATION, "30s", F(node_stale_ms),
      MS_PER_S, 7 * MS_PER_DAY, MS_PER_S, NULL },
    { "node_gone", CFG_DURATION, "1h", F(node_gone_ms),
      MS_PER_S, 365 * MS_PER_DAY, MS_PER_S, NULL },
    { "fleet_rows", CFG_UINT, "5000", F(fleet_rows), 0, 1000000, 0, NULL },
    { "fleet_node_rows", CFG_UINT, "200", F(fleet_node_rows),
      0, 100000, 0, NULL },
    { "client_hash_key", CFG_STRING, NULL, F(client_hash_key), 0, 0, 0,
      NULL },
    { "schema_dir", CFG_STRING, PATHSTATS_SCHEMA_DIR, F(schema_dir), 0, 0, 0,
      NULL },
    { "hourly_retention", CFG_DURATION, "35d", F(hourly_retention_ms),
      2 * MS_PER_DAY, 3660 * MS_PER_DAY, MS_PER_DAY, NULL },
    { "daily_retention", CFG_RETENTION, "400d", F(daily_retention_ms),
      MS_PER_DAY, 36600 * MS_PER_DAY, MS_PER_DAY, NULL },
    { "archive_dir", CFG_STRING, NULL, F(archive_dir), 0, 0, 0, NULL },
    { "lifecycle", CFG_ENUM, "on", F(lifecycle), 0, 0, 0, on_off },
    { "lifecycle_at", CFG_TIME_OF_DAY, "03:30", F(lifecycle_at_ms),
      0, 0, 0, NULL },
    { "lifecycle_grace", CFG_DURATION, "2h", F(lifecycle_grace_ms),
      0, 7 * MS_PER_DAY, MS_PER_S, NULL },
    { "lifecycle_stale", CFG_RETENTION, "26h", F(lifecycle_stale_ms),
      MS_PER_HOUR, 366 * MS_PER_DAY, MS_PER_S, NULL },
    { "archive_min_free", CFG_SIZE, "1g", F(archive_min_free_bytes),
      0, UINT64_MAX, 0, NULL },
};

#define NKEYS  (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* where a value came from, for error messages */
typedef struct {
    const char  *file;       /* NULL for a command-line option */
    unsigned     line;
    const char  *option;
} cfg_source_t;


const char *
ps_client_mode_name(int mode)
{
    if (mode < 0 || mode >= (int) (sizeof(client_modes) / sizeof(char *)) - 1)
    {
        return "unknown";
    }

    return client_modes[mode];
}


/* Parses digits and the suffix after them; NULL or the reason. */
static const char *
parse_number(const char *s, uint64_t *n, const char **suffix)
{
    uint64_t  v;

    if (!isdigit((unsigned char) *s)) {
        return "expected a number";
    }

    for (v = 0; isdigit((unsigned char) *s); s++) {
        if (v > (UINT64_MAX - 9) / 10) {
            return "number too large";
        }
        v = v * 10 + (uint64_t) (*s - '0');
    }

    *n = v;
    *suffix = s;

    return NULL;
}


static const char *
scale(uint64_t v, uint64_t unit, uint64_t *out)
{
    if (unit && v > UINT64_MAX / unit) {
        return "number too large";
    }

    *out = v * unit;

    return NULL;
}


const char *
ps_parse_duration_ms(const char *s, uint64_t bare_unit_ms, uint64_t *ms)
{
    uint64_t     v, unit;
    const char  *err, *sfx;

    err = parse_number(s, &v, &sfx);
    if (err) {
        return "expected a duration such as 500ms, 10s, 5m, 48h or 7d";
    }

    if (*sfx == '\0') {
        unit = bare_unit_ms;
    } else if (strcmp(sfx, "ms") == 0) {
        unit = 1;
    } else if (strcmp(sfx, "s") == 0) {
        unit = MS_PER_S;
    } else if (strcmp(sfx, "m") == 0) {
        unit = MS_PER_MIN;
    } else if (strcmp(sfx, "h") == 0) {
        unit = MS_PER_HOUR;
    } else if (strcmp(sfx, "d") == 0) {
        unit = MS_PER_DAY;
    } else {
        return "unknown duration unit (use ms, s, m, h or d)";
    }

    return scale(v, unit, ms);
}


const char *
ps_parse_size(const char *s, uint64_t *bytes)
{
    uint64_t     v, unit;
    const char  *err, *sfx;

    err = parse_number(s, &v, &sfx);
    if (err) {
        return "expected a size such as 4096, 64k, 512m or 1g";
    }

    switch (tolower((unsigned char) *sfx)) {
    case '\0': unit = 1; break;
    case 'k':  unit = KIB; sfx++; break;
    case 'm':  unit = MIB; sfx++; break;
    case 'g':  unit = GIB; sfx++; break;
    case 't':  unit = 1024 * GIB; sfx++; break;
    default:   unit = 0;
    }

    if (unit > 1 && tolower((unsigned char) *sfx) == 'b') {
        sfx++;
    }

    if (unit == 0 || *sfx != '\0') {
        return "unknown size unit (use k, m, g or t)";
    }

    return scale(v, unit, bytes);
}


/* ms in the largest unit that divides it: "1h", "10ms" */
static const char *
format_duration(uint64_t ms, char *buf, size_t size)
{
    size_t  i;
    static const struct { uint64_t ms; const char *unit; } units[] = {
        { MS_PER_DAY, "d" }, { MS_PER_HOUR, "h" }, { MS_PER_MIN, "m" },
        { MS_PER_S, "s" }, { 1, "ms" }
    };

    for (i = 0; ms && units[i].ms > 1 && ms % units[i].ms != 0; i++) {
        /* void */
    }

    (void) snprintf(buf, size, "%llu%s",
                    (unsigned long long) (ms ? ms / units[i].ms : 0),
                    ms ? units[i].unit : "ms");

    return buf;
}


/* bytes in the largest unit that divides it: "1m", "4096" */
static const char *
format_size(uint64_t bytes, char *buf, size_t size)
{
    const char  *unit;

    unit = "";

    if (bytes && bytes % GIB == 0) {
        bytes /= GIB;
        unit = "g";
    } else if (bytes && bytes % MIB == 0) {
        bytes /= MIB;
        unit = "m";
    } else if (bytes && bytes % KIB == 0) {
        bytes /= KIB;
        unit = "k";
    }

    (void) snprintf(buf, size, "%llu%s", (unsigned long long) bytes, unit);

    return buf;
}


/*
 * Checks that libpq can parse a connection string, as PQconnectdbParams()
 * will (with expand_dbname: a value with '=' or a postgresql:// prefix is
 * a connection string, anything else a database name).  Checked here,
 * when the configuration is loaded, so that a malformed one never reaches
 * a connection attempt: libpq's message quotes the text around the error
 * ("invalid percent-encoded token: \"hunt%zzer2\""), which may be the
 * password, and would then be logged and published in /health and
 * /api/summary.  The reasons returned name no part of the value.
 */
static const char *
check_conninfo(const char *value)
{
    char              *err;
    const char        *reason;
    PQconninfoOption  *opts, *o;

    if (strncmp(value, "postgresql://", 13) != 0
        && strncmp(value, "postgres://", 11) != 0
        && strchr(value, '=') == NULL)
    {
        return NULL;
    }

    err = NULL;
    opts = PQconninfoParse(value, &err);

    if (opts == NULL) {
        if (err != NULL) {
            /* it may hold a piece of the password: wipe it first */
            memset(err, 0, strlen(err));
            PQfreemem(err);
        }

        return "not a connection string libpq can parse (its message is "
               "not shown: it may quote the password); quote a key=value "
               "value that has spaces ('...'), and percent-encode "
               "reserved characters in a postgresql:// URI (%XX)";
    }

    reason = NULL;

    for (o = opts; o->keyword != NULL; o++) {
        /* "postgresql://u:p@ss@host" parses with host "ss@host" */
        if (o->val != NULL
            && (strcmp(o->keyword, "host") == 0
                || strcmp(o->keyword, "hostaddr") == 0)
            && strchr(o->val, '@') != NULL)
        {
            reason = "a host with '@' in a postgresql:// URI (its value is "
                     "not shown: it may be part of the password); "
                     "percent-encode '@' in the password as %40";
        }
    }

    PQconninfoFree(opts);

    return reason;
}


/* Parses HOST[:PORT] (an IPv6 address in brackets) at *pp, up to a
 * character of stop or the end, into a new string *host and *port;
 * moves *pp past it.  NULL or the reason. */
static const char *
parse_redis_addr(const char **pp, const char *stop, char **host,
    uint64_t *port)
{
    size_t       hlen;
    const char  *p = *pp, *h, *end;

    if (*p == '[') {
        /* an IPv6 address */
        h = p + 1;
        end = strchr(h, ']');
        if (end == NULL || end == h
            || strspn(h, "0123456789abcdefABCDEF:.") != (size_t) (end - h))
        {
            return "bad IPv6 address in brackets";
        }
        hlen = (size_t) (end - h);
        p = end + 1;

    } else {
        h = p;
        hlen = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789.-_");
        if (hlen == 0) {
            return "missing host";
        }
        p = h + hlen;
    }

    *port = 6379;

    if (*p == ':') {
        if (parse_number(p + 1, port, &p) != NULL || *port < 1
            || *port > 65535)
        {
            return "bad port (1-65535)";
        }
    }

    if (*p != '\0' && strchr(stop, *p) == NULL) {
        return "unexpected text after an address";
    }

    *host = strndup(h, hlen);
    if (*host == NULL) {
        return "out of memory";
    }

    *pp = p;
    return NULL;
}


/* Forgets the Redis addresses parsed before. */
static void
free_redis_addrs(ps_config_t *cfg)
{
    size_t  i;

    for (i = 0; i < cfg->redis_nseeds; i++) {
        free(cfg->redis_seed_hosts[i]);
    }
    free(cfg->redis_seed_hosts);
    free(cfg->redis_seed_ports);
    cfg->redis_seed_hosts = NULL;
    cfg->redis_seed_ports = NULL;
    cfg->redis_nseeds = 0;
    cfg->redis_cluster = 0;
    free(cfg->redis_host);
    cfg->redis_host = NULL;
}


/* Parses redis://HOST[:PORT][/DB] or redis-cluster://HOST:PORT[,HOST:PORT
 * ...] (nodes of one Redis Cluster: any of them gives the slot map) into
 * the config; NULL or the reason. */
static const char *
parse_redis(ps_config_t *cfg, const char *url)
{
    char        *host, **hosts;
    unsigned    *ports;
    uint64_t     port, db;
    const char  *p, *err;
    int          cluster;
    size_t       n;

    if (strncmp(url, "redis://", 8) == 0) {
        cluster = 0;
        p = url + 8;
    } else if (strncmp(url, "redis-cluster://", 16) == 0) {
        cluster = 1;
        p = url + 16;
    } else {
        return "expected redis://HOST:PORT[/DB] or "
               "redis-cluster://HOST:PORT[,HOST:PORT...]";
    }

    free_redis_addrs(cfg);
    db = 0;

    for (n = 0; ; n++) {
        if (n == 64) {
            return "at most 64 cluster nodes";
        }
        err = parse_redis_addr(&p, cluster ? "," : "/", &host, &port);
        if (err != NULL) {
            return cluster ? err : "expected redis://HOST:PORT[/DB]";
        }
        hosts = realloc(cfg->redis_seed_hosts, (n + 1) * sizeof(*hosts));
        ports = realloc(cfg->redis_seed_ports, (n + 1) * sizeof(*ports));
        if (hosts != NULL) {
            cfg->redis_seed_hosts = hosts;
        }
        if (ports != NULL) {
            cfg->redis_seed_ports = ports;
        }
        if (hosts == NULL || ports == NULL) {
            free(host);
            return "out of memory";
        }
        hosts[n] = host;
        ports[n] = (unsigned) port;
        cfg->redis_nseeds = n + 1;

        if (!cluster || *p != ',') {
            break;
        }
        p++;
    }

    if (!cluster && *p == '/' && p[1] != '\0') {
        if (parse_number(p + 1, &db, &p) != NULL || db > 1000000) {
            return "bad database number";
        }
    } else if (!cluster && *p == '/') {
        p++;
    }

    if (*p != '\0') {
        return cluster ? "unexpected text after the addresses "
                         "(expected redis-cluster://HOST:PORT[,HOST:PORT...])"
                       : "unexpected text after the address "
                         "(expected redis://HOST:PORT[/DB])";
    }

    cfg->redis_host = strdup(cfg->redis_seed_hosts[0]);
    if (cfg->redis_host == NULL) {
        return "out of memory";
    }
    cfg->redis_port = cfg->redis_seed_ports[0];
    cfg->redis_db = (unsigned) db;
    cfg->redis_cluster = cluster;

    return NULL;
}


static const char *
check_node_id(const char *s)
{
    size_t  n;

    n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789._-");

    if (n == 0 || s[n] != '\0' || n > NODE_ID_MAX) {
        return "must be 1 to 64 of A-Z a-z 0-9 . _ -";
    }

    /* the rows schema 002 kept from before nodes had rows of their own */
    if (strcmp(s, "legacy") == 0) {
        return "\"legacy\" is reserved for rows kept from before schema "
               "version 2";
    }

    return NULL;
}


/* Adds one alert_webhook URL: http:// or https://, a host, no blanks;
 * NULL or the reason (the URL itself is never part of it). */
static const char *
add_webhook(ps_config_t *cfg, const char *url)
{
    char        **list, *copy;
    size_t        skip;

    skip = strncmp(url, "http://", 7) == 0 ? 7
         : strncmp(url, "https://", 8) == 0 ? 8 : 0;

    if (skip == 0) {
        return "expected an http:// or https:// URL";
    }

    if (url[skip] == '\0' || url[skip] == '/'
        || url[strcspn(url, " \t\r\n")] != '\0')
    {
        return "expected a URL with a host and no blanks";
    }

    if (cfg->alert_webhook_count >= PS_CONFIG_WEBHOOKS_MAX) {
        return "too many alert_webhook lines (at most 16)";
    }

    list = realloc(cfg->alert_webhooks,
                   (cfg->alert_webhook_count + 1) * sizeof(char *));
    if (list == NULL) {
        return "out of memory";
    }
    cfg->alert_webhooks = list;

    copy = strdup(url);
    if (copy == NULL) {
        return "out of memory";
    }

    list[cfg->alert_webhook_count++] = copy;

    return NULL;
}


static const char *
set_string(char **field, const char *value)
{
    char  *copy;

    copy = NULL;

    if (value && (copy = strdup(value)) == NULL) {
        return "out of memory";
    }

    free(*field);
    *field = copy;

    return NULL;
}


/* Sets key k of cfg from its text; NULL or the reason it is invalid (in
 * buf, size bytes, when it needs formatting). */
static const char *
apply(ps_config_t *cfg, const cfg_key_t *k, const char *value, char *buf,
    size_t size)
{
    int          i;
    size_t       n;
    char         host[256], lo[32], hi[32];
    void        *field;
    uint64_t     v;
    const char  *err, *rest;

    field = (char *) cfg + k->off;

    switch (k->type) {

    case CFG_STRING:
        if (value[0] == '\0') {
            if (k->min) {
                return "must not be empty";
            }
            value = NULL;
        }
        return set_string(field, value);

    case CFG_CONNINFO:
        if (value[0] == '\0') {
            return set_string(field, NULL);
        }
        err = check_conninfo(value);
        return err ? err : set_string(field, value);

    case CFG_REDIS:
        if (value[0] == '\0') {
            free_redis_addrs(cfg);
            return set_string(field, NULL);
        }
        err = parse_redis(cfg, value);
        return err ? err : set_string(field, value);

    case CFG_NODE_ID:
        if (value[0] == '\0') {
            if (gethostname(host, sizeof(host)) != 0) {
                return "cannot read the host name; set node_id";
            }
            host[sizeof(host) - 1] = '\0';
            if (check_node_id(host) != NULL) {
                return "the host name is not a valid node_id (1 to 64 of "
                       "A-Z a-z 0-9 . _ -); set node_id";
            }
            value = host;
        }
        err = check_node_id(value);
        return err ? err : set_string(field, value);

    case CFG_TIME_OF_DAY:
        if (strlen(value) != 5 || !isdigit((unsigned char) value[0])
            || !isdigit((unsigned char) value[1]) || value[2] != ':'
            || !isdigit((unsigned char) value[3])
            || !isdigit((unsigned char) value[4])
            || (value[0] - '0') * 10 + (value[1] - '0') > 23
            || (value[3] - '0') * 10 + (value[4] - '0') > 59)
        {
            return "expected a UTC time of day HH:MM (00:00 to 23:59)";
        }
        *(uint64_t *) field =
            ((uint64_t) ((value[0] - '0') * 10 + (value[1] - '0'))
             * MS_PER_HOUR)
            + (uint64_t) ((value[3] - '0') * 10 + (value[4] - '0'))
              * MS_PER_MIN;
        return NULL;

    case CFG_RETENTION:
        err = ps_parse_duration_ms(value, k->unit, &v);
        if (err) {
            return err;
        }
        if (v != 0 && (v < k->min || v > k->max)) {
            (void) snprintf(buf, size, "out of range (0 for forever, or "
                            "%s to %s)",
                            format_duration(k->min, lo, sizeof(lo)),
                            format_duration(k->max, hi, sizeof(hi)));
            return buf;
        }
        *(uint64_t *) field = v;
        return NULL;

    case CFG_DURATION:
    case CFG_SIZE:
    case CFG_UINT:
        if (k->type == CFG_DURATION) {
            err = ps_parse_duration_ms(value, k->unit, &v);
        } else if (k->type == CFG_SIZE) {
            err = ps_parse_size(value, &v);
        } else {
            err = parse_number(value, &v, &rest);
            if (err == NULL && *rest != '\0') {
                err = "expected a whole number";
            }
        }

        if (err) {
            return err;
        }

        if (v < k->min || v > k->max) {
            if (k->type == CFG_DURATION) {
                (void) snprintf(buf, size, "out of range (%s to %s)",
                                format_duration(k->min, lo, sizeof(lo)),
                                format_duration(k->max, hi, sizeof(hi)));
            } else if (k->type == CFG_SIZE) {
                (void) snprintf(buf, size, "too small (at least %s)",
                                format_size(k->min, lo, sizeof(lo)));
            } else {
                (void) snprintf(buf, size, "out of range (%llu to %llu)",
                                (unsigned long long) k->min,
                                (unsigned long long) k->max);
            }
            return buf;
        }

        *(uint64_t *) field = v;
        return NULL;

    case CFG_ENUM:
        for (i = 0; k->names[i]; i++) {
            if (strcmp(value, k->names[i]) == 0) {
                *(int *) field = i;
                return NULL;
            }
        }
        n = (size_t) snprintf(buf, size, "expected one of:");
        for (i = 0; k->names[i] && n < size; i++) {
            n += (size_t) snprintf(buf + n, size - n, " %s", k->names[i]);
        }
        return buf;

    case CFG_WEBHOOKS:
        return add_webhook(cfg, value);

    case CFG_LOG_LEVEL:
        i = ps_log_level_parse(value);
        if (i < 0) {
            return "expected debug, info, warn or error";
        }
        *(int *) field = i;
        return NULL;
    }

    return "bad key type";
}


/* 1 when a value of key may be logged: not for the keys that may carry
 * a password or a secret, nor for an unknown key (a misspelt one of
 * those). */
static int
value_loggable(const char *key)
{
    size_t  i;

    if (key == NULL) {
        return 1;
    }

    if (strcmp(key, "postgres") == 0 || strcmp(key, "redis") == 0
        || strcmp(key, "client_hash_key") == 0
        || strcmp(key, "alert_webhook") == 0)
    {
        return 0;
    }

    for (i = 0; i < NKEYS; i++) {
        if (strcmp(key, cfg_keys[i].key) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
report(const cfg_source_t *src, const char *key, const char *value,
    const char *reason)
{
    char  qfile[512], qvalue[256], qreason[256];

    ps_log_quote(qreason, sizeof(qreason), reason);
    if (value != NULL && !value_loggable(key)) {
        value = "(not shown: may hold a secret)";
    }

    ps_log_quote(qvalue, sizeof(qvalue), value ? value : "");

    if (src->file) {
        ps_log(PS_LOG_ERROR, "event=config_invalid file=%s line=%u key=%s "
               "value=%s error=%s",
               ps_log_quote(qfile, sizeof(qfile), src->file), src->line,
               key ? key : "-", qvalue, qreason);
    } else {
        ps_log(PS_LOG_ERROR, "event=config_invalid option=--%s key=%s "
               "value=%s error=%s", src->option, key ? key : "-", qvalue,
               qreason);
    }
}


static const cfg_key_t *
find_key(const char *name)
{
    size_t  i;

    for (i = 0; i < NKEYS; i++) {
        if (strcmp(cfg_keys[i].key, name) == 0) {
            return &cfg_keys[i];
        }
    }

    return NULL;
}


/*
 * Splits one line in place into key and value.  Returns 0 for a blank or
 * comment line, 1 for a pair, -1 with *err set for a syntax error (then
 * *key may name the key).
 */
static int
split_line(char *line, char **key, char **value, const char **err)
{
    char  *p, *q, *end;

    *key = NULL;

    for (p = line; *p == ' ' || *p == '\t'; p++) { /* void */ }

    end = p + strlen(p);
    while (end > p && (end[-1] == '\n' || end[-1] == '\r')) {
        *--end = '\0';
    }

    if (*p == '\0' || *p == '#') {
        return 0;
    }

    *key = p;
    p += strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");

    if (p == *key) {
        *key = NULL;
        *err = "expected key = value";
        return -1;
    }

    q = p;
    for ( /* void */ ; *p == ' ' || *p == '\t'; p++) { /* void */ }

    if (*p != '=') {
        *q = '\0';
        *err = "expected '=' after the key";
        return -1;
    }

    *q = '\0';
    for (p++; *p == ' ' || *p == '\t'; p++) { /* void */ }

    if (*p == '"') {
        /* unescape in place up to the closing quote */
        *value = q = ++p;

        for ( /* void */ ; *p && *p != '"'; p++) {
            if (*p == '\\') {
                p++;
                if (*p != '"' && *p != '\\') {
                    *err = "only \\\" and \\\\ may follow a backslash in "
                           "quotes";
                    return -1;
                }
            }
            *q++ = *p;
        }

        if (*p != '"') {
            *err = "missing closing quote";
            return -1;
        }

        *q = '\0';
        for (p++; *p == ' ' || *p == '\t'; p++) { /* void */ }

        if (*p != '\0' && *p != '#') {
            *err = "unexpected text after the closing quote";
            return -1;
        }

        return 1;
    }

    /* unquoted: up to a " #" comment, trailing blanks cut */
    *value = p;

    for (q = p; *q; q++) {
        if (*q == '#' && q > p && (q[-1] == ' ' || q[-1] == '\t')) {
            *q = '\0';
            break;
        }
    }

    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        *--end = '\0';
    }

    if (*p == '\0') {
        *err = "missing value (write \"\" for an empty one)";
        return -1;
    }

    return 1;
}


/* Reads path into cfg; 0, or -1 after reporting every bad line. */
static int
load_file(ps_config_t *cfg, const char *path)
{
    int               rc;
    char             *line, *key, *value, q[512], ebuf[128];
    FILE             *f;
    size_t            cap, i;
    ssize_t           n;
    unsigned          first[NKEYS];
    const char       *err;
    cfg_source_t      src;
    const cfg_key_t  *k;

    f = fopen(path, "re");
    if (f == NULL) {
        ps_log(PS_LOG_ERROR, "event=config_invalid file=%s error=\"%s\"",
               ps_log_quote(q, sizeof(q), path), strerror(errno));
        return -1;
    }

    memset(first, 0, sizeof(first));
    src.file = path;
    src.line = 0;
    src.option = NULL;
    line = NULL;
    cap = 0;
    rc = 0;

    while ((n = getline(&line, &cap, f)) != -1) {
        src.line++;

        if (memchr(line, '\0', (size_t) n) != NULL) {
            report(&src, NULL, NULL, "NUL byte in the line");
            rc = -1;
            continue;
        }

        switch (split_line(line, &key, &value, &err)) {
        case 0:
            continue;
        case -1:
            report(&src, key, NULL, err);
            rc = -1;
            continue;
        }

        k = find_key(key);
        if (k == NULL) {
            report(&src, key, value, "unknown key");
            rc = -1;
            continue;
        }

        i = (size_t) (k - cfg_keys);
        if (first[i] && k->type != CFG_WEBHOOKS) {
            char  msg[64];

            (void) snprintf(msg, sizeof(msg), "key already set on line %u",
                            first[i]);
            report(&src, key, value, msg);
            rc = -1;
            continue;
        }
        first[i] = src.line;

        err = apply(cfg, k, value, ebuf, sizeof(ebuf));
        if (err) {
            report(&src, key, value, err);
            rc = -1;
        }
    }

    if (ferror(f)) {
        ps_log(PS_LOG_ERROR, "event=config_invalid file=%s error=\"%s\"",
               ps_log_quote(q, sizeof(q), path), strerror(errno));
        rc = -1;
    }

    free(line);
    (void) fclose(f);

    return rc;
}


int
ps_config_load(ps_config_t *cfg, const char *path,
    const ps_config_override_t *overrides, size_t n)
{
    int               rc;
    char              key[64], ebuf[128];
    size_t            i, j;
    const char       *err;
    cfg_source_t      src;
    const cfg_key_t  *k;

    memset(cfg, 0, sizeof(ps_config_t));
    rc = 0;

    src.file = "(built-in default)";
    src.line = 0;
    src.option = NULL;

    for (i = 0; i < NKEYS; i++) {
        k = &cfg_keys[i];
        if (k->dflt
            && (err = apply(cfg, k, k->dflt, ebuf, sizeof(ebuf))) != NULL)
        {
            report(&src, k->key, k->dflt, err);
            rc = -1;
        }
    }

    cfg->alert_cooldown_warning_ms = COOLDOWN_UNSET;
    cfg->alert_cooldown_critical_ms = COOLDOWN_UNSET;

    if (path) {
        if (set_string(&cfg->file, path) != NULL) {
            rc = -1;
        } else if (load_file(cfg, path) != 0) {
            rc = -1;
        }
    }

    for (i = 0; i < n; i++) {
        src.file = NULL;
        src.option = overrides[i].option;

        for (j = 0; overrides[i].option[j] && j < sizeof(key) - 1; j++) {
            key[j] = overrides[i].option[j] == '-' ? '_'
                                                   : overrides[i].option[j];
        }
        key[j] = '\0';

        k = find_key(key);
        err = k ? apply(cfg, k, overrides[i].value, ebuf, sizeof(ebuf))
                : "unknown key";
        if (err) {
            report(&src, key, overrides[i].value, err);
            rc = -1;
        }
    }

    /* a level's own cooldown, else alert_cooldown */
    if (cfg->alert_cooldown_warning_ms == COOLDOWN_UNSET) {
        cfg->alert_cooldown_warning_ms = cfg->alert_cooldown_ms;
    }

    if (cfg->alert_cooldown_critical_ms == COOLDOWN_UNSET) {
        cfg->alert_cooldown_critical_ms = cfg->alert_cooldown_ms;
    }

    /* a node is stale before it is gone */
    if (rc == 0 && cfg->node_gone_ms <= cfg->node_stale_ms) {
        char  qfile[512];

        ps_log(PS_LOG_ERROR, "event=config_invalid file=%s key=node_gone "
               "error=\"must be longer than node_stale\"",
               ps_log_quote(qfile, sizeof(qfile),
                            cfg->file ? cfg->file : "(options)"));
        rc = -1;
    }

    if (rc != 0) {
        ps_config_free(cfg);
    }

    return rc;
}


void
ps_config_free(ps_config_t *cfg)
{
    size_t  i;

    for (i = 0; i < NKEYS; i++) {
        switch (cfg_keys[i].type) {
        case CFG_STRING:
        case CFG_CONNINFO:
        case CFG_REDIS:
        case CFG_NODE_ID:
            free(*(char **) ((char *) cfg + cfg_keys[i].off));
            break;
        default:
            break;
        }
    }

    for (i = 0; i < cfg->alert_webhook_count; i++) {
        free(cfg->alert_webhooks[i]);
    }

    free(cfg->alert_webhooks);
    free_redis_addrs(cfg);
    free(cfg->file);
    memset(cfg, 0, sizeof(ps_config_t));
}
