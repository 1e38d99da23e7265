/*
 * Aggregator configuration: one hand-writable file plus command-line
 * overrides, parsed and validated in one place into one struct.
 *
 * File syntax: one "key = value" per line; blank lines and lines starting
 * with '#' are ignored, and so is the rest of a line after " #".  A value
 * may be double-quoted to keep spaces or '#' (inside quotes, \" and \\
 * stand for " and \).  Every key at most once.  Durations are integers
 * with a suffix ms, s, m, h or d; sizes integers with k, m, g or t
 * (powers of 1024, an optional trailing b).  The keys, their defaults and
 * limits are in the table in config.c, the only place they are written.
 */

#ifndef PS_CONFIG_H
#define PS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define PS_CONFIG_WEBHOOKS_MAX  16    /* alert_webhook lines */

/* alert_webhook_format: the body of a webhook notification */
typedef enum {
    PS_WEBHOOK_JSON = 0,        /* the documented JSON object */
    PS_WEBHOOK_SLACK            /* a Slack incoming-webhook message */
} ps_webhook_format_t;

/* log_format */
typedef enum {
    PS_LOG_FORMAT_TEXT = 0,     /* key=value */
    PS_LOG_FORMAT_JSON          /* one JSON object per line */
} ps_log_format_t;

/* client_address: what the aggregator keeps of a client address */
typedef enum {
    PS_CLIENT_FULL = 0,
    PS_CLIENT_TRUNCATED,        /* IPv4 /24, IPv6 /48 */
    PS_CLIENT_HASHED,
    PS_CLIENT_OFF
} ps_client_mode_t;

typedef struct {
    char      *file;                  /* the file loaded; NULL if none */
    char      *zone;                  /* zone file; NULL if not given */

    char      *redis;                 /* URL as given; NULL: no Redis */
    char      *redis_host;            /* parsed from it (the first node) */
    unsigned   redis_port;
    unsigned   redis_db;
    int        redis_cluster;         /* redis-cluster:// */
    char     **redis_seed_hosts;      /* every address of the URL */
    unsigned  *redis_seed_ports;
    size_t     redis_nseeds;
    uint64_t   redis_ttl_ms;
    uint64_t   redis_shards;          /* hash tags an hour is spread on */

    char      *postgres;              /* libpq conninfo or URI; NULL: none */

    char      *node_id;               /* [A-Za-z0-9._-]{1,64} */
    uint64_t   flush_interval_ms;
    uint64_t   snapshot_interval_ms;

    int        log_level;             /* ps_log_level_t */
    char      *log_file;              /* NULL: stderr */
    int        log_format;            /* ps_log_format_t */

    char      *spool_dir;             /* NULL: no spool */
    uint64_t   spool_max_bytes;

    uint64_t   max_keys_per_hour;
    int        client_address;        /* ps_client_mode_t */
    uint64_t   top_n;
    char      *client_hash_key;       /* secret of client_address = hashed;
                                         NULL: random per process */
    char      *schema_dir;            /* migrations for --migrate */

    /* snapshot and alerts (snapshot.c, alerts.c) */
    uint64_t   snapshot_max_rows;     /* per window; the rest summarised */
    uint64_t   alert_error_rate_warning_bp;   /* basis points: 50 = 0.5 % */
    uint64_t   alert_error_rate_critical_bp;
    uint64_t   alert_p95_warning_ms;
    uint64_t   alert_p95_critical_ms;
    uint64_t   alert_min_requests;    /* per path, in the 1m window */
    uint64_t   alert_cooldown_ms;
    uint64_t   alert_cooldown_warning_ms;    /* alert_cooldown unless set */
    uint64_t   alert_cooldown_critical_ms;

    /* alert notifications (incidents.c, notify/) */
    uint64_t   alert_max_paths;       /* per-path incidents notified at
                                         once; the rest are grouped */
    char     **alert_webhooks;        /* URLs (repeatable key); may hold
                                         a secret: never logged */
    size_t     alert_webhook_count;
    int        alert_webhook_format;  /* ps_webhook_format_t */
    uint64_t   alert_webhook_timeout_ms;     /* one attempt */
    uint64_t   alert_webhook_retries;        /* after the first attempt */
    uint64_t   alert_webhook_backoff_ms;     /* before the first retry,
                                                doubled for each next */

    /* per-path trends (trends.c): the most requested paths of the 24h
     * window; 0: none */
    uint64_t   trend_paths;

    /* how often /api/paths' 7d and 30d windows are read again from
     * PostgreSQL (day_windows.c) */
    uint64_t   day_windows_interval_ms;

    /* the history lifecycle (store/pg/pg_lifecycle*.c, cmd/lifecycle.c) */
    uint64_t   hourly_retention_ms;   /* pathstats_hourly days kept */
    uint64_t   daily_retention_ms;    /* pathstats_daily days; 0: forever */
    char      *archive_dir;           /* NULL: no archives, nothing dropped */
    int        lifecycle;             /* 1: the daemon runs it */
    uint64_t   lifecycle_at_ms;       /* UTC time of day, ms after 00:00 */
    uint64_t   lifecycle_grace_ms;    /* a day is closed this long after */
    uint64_t   lifecycle_stale_ms;    /* /health: last success older; 0 off */
    uint64_t   archive_min_free_bytes; /* /health: archive_dir fuller */

    /* the fleet (snapshot/fleet.c): how often a node beats its heartbeat
     * and reads the other nodes', when a silent node is stale and gone,
     * the rows of the fleet's view and of each other node's */
    uint64_t   fleet_interval_ms;
    uint64_t   node_stale_ms;
    uint64_t   node_gone_ms;
    uint64_t   fleet_rows;
    uint64_t   fleet_node_rows;
} ps_config_t;

/* A command-line value; option is the long name, "flush-interval" for the
 * key flush_interval. */
typedef struct {
    const char  *option;
    const char  *value;
} ps_config_override_t;

/* Fills cfg with the defaults, then path's keys (path may be NULL), then
 * the overrides in order.  0, or -1 after logging each error with the
 * file, line and key (or the option) and freeing cfg. */
int ps_config_load(ps_config_t *cfg, const char *path,
    const ps_config_override_t *overrides, size_t n);

/* Frees what ps_config_load() allocated; cfg is then zeroed. */
void ps_config_free(ps_config_t *cfg);

/* Parses a duration ("250ms", "1s", "48h"; a bare number counts in units
 * of bare_unit_ms) into milliseconds; NULL, or the reason it is invalid. */
const char *ps_parse_duration_ms(const char *s, uint64_t bare_unit_ms,
    uint64_t *ms);

/* Parses a size ("4096", "64k", "1g", "512MB") into bytes; NULL, or the
 * reason it is invalid. */
const char *ps_parse_size(const char *s, uint64_t *bytes);

/* Name of a client_address mode ("hashed"). */
const char *ps_client_mode_name(int mode);

#endif /* PS_CONFIG_H */
