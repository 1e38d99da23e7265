/*
 * Unit tests for aggregator/config/config.c: defaults, the file syntax, flags
 * overriding the file, every value parser, and errors that name the
 * file, the line and the key.  Prints TAP.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "lib/log.h"
#include "tap.h"

static char  conf_path[] = "/tmp/ps-test-config-XXXXXX";
static char  log_path[] = "/tmp/ps-test-config-log-XXXXXX";
static char  log_text[16384];


/* Loads text as a config file with the overrides; captures the log. */
static int
load(ps_config_t *cfg, const char *text, const ps_config_override_t *ov,
    size_t n)
{
    int     rc;
    FILE   *f;
    size_t  len;

    if (text) {
        f = fopen(conf_path, "w");
        fputs(text, f);
        fclose(f);
    }

    if (truncate(log_path, 0) != 0) {
        bail_out("truncate %s", log_path);
    }

    rc = ps_config_load(cfg, text ? conf_path : NULL, ov, n);

    f = fopen(log_path, "r");
    len = fread(log_text, 1, sizeof(log_text) - 1, f);
    log_text[len] = '\0';
    fclose(f);

    return rc;
}


/* The log has a line with every one of the fields (each "k=v"). */
static int
logged(const char *a, const char *b, const char *c)
{
    char  *line, *end, *copy;
    int    found;

    copy = strdup(log_text);
    found = 0;

    for (line = copy; line && *line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end) {
            *end = '\0';
        }
        if (strstr(line, a) && (!b || strstr(line, b))
            && (!c || strstr(line, c)))
        {
            found = 1;
        }
    }

    free(copy);

    if (!found) {
        diag("log was: %s", log_text);
    }

    return found;
}


static int
error_lines(void)
{
    int          n;
    const char  *p;

    n = 0;
    for (p = log_text; (p = strstr(p, "event=config_invalid")); p++) {
        n++;
    }

    return n;
}


static void
test_defaults(void)
{
    char         host[256];
    ps_config_t  cfg;

    is_int(ps_config_load(&cfg, NULL, NULL, 0), 0, "no file: defaults load");
    ok(cfg.zone == NULL && cfg.redis == NULL && cfg.postgres == NULL
       && cfg.log_file == NULL && cfg.spool_dir == NULL && cfg.file == NULL,
       "zone, redis, postgres, log_file, spool_dir unset");
    is_u64(cfg.flush_interval_ms, 1000, "flush_interval 1s");
    is_u64(cfg.snapshot_interval_ms, 500, "snapshot_interval 500ms");
    is_int(cfg.log_level, PS_LOG_INFO, "log_level info");
    is_u64(cfg.redis_ttl_ms, 48ULL * 3600 * 1000, "redis_ttl 48h");
    is_u64(cfg.spool_max_bytes, 1ULL << 30, "spool_max 1g");
    is_u64(cfg.max_keys_per_hour, 100000, "max_keys_per_hour 100000");
    is_int(cfg.client_address, PS_CLIENT_FULL, "client_address full");
    is_u64(cfg.top_n, 100, "top_n 100");
    is_u64(cfg.hourly_retention_ms, 35ULL * 86400000, "hourly_retention 35d");
    is_u64(cfg.daily_retention_ms, 400ULL * 86400000,
           "daily_retention 400d");
    ok(cfg.archive_dir == NULL, "archive_dir unset");
    is_int(cfg.lifecycle, 1, "lifecycle on");
    is_u64(cfg.lifecycle_at_ms, (3 * 60 + 30) * 60000ULL,
           "lifecycle_at 03:30");
    is_u64(cfg.lifecycle_grace_ms, 2 * 3600000ULL, "lifecycle_grace 2h");
    is_u64(cfg.lifecycle_stale_ms, 26 * 3600000ULL, "lifecycle_stale 26h");
    is_u64(cfg.archive_min_free_bytes, 1ULL << 30, "archive_min_free 1g");

    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    is_str(cfg.node_id, host, "node_id defaults to the host name");

    ps_config_free(&cfg);
}


static void
test_file(void)
{
    ps_config_t  cfg;

    is_int(load(&cfg,
                "# pathstats aggregator\n"
                "\n"
                "zone = /var/lib/pathstats/zone\n"
                "   redis=redis://127.0.0.1:6380/2   # a trailing comment\n"
                "postgres = \"host=127.0.0.1 port=5433 dbname=x "
                "password='a#b \\\"c\\\\\\\\'\"\n"
                "node_id = web-01.example\n"
                "flush_interval = 250ms\n"
                "snapshot_interval = 20\n"
                "log_level = debug\n"
                "log_file = /var/log/ps.log\n"
                "redis_ttl = 7d\n"
                "spool_dir = \"/var/spool/path stats\"\n"
                "spool_max = 512MB\n"
                "max_keys_per_hour = 5000\n"
                "client_address = hashed\n"
                "top_n = 25\r\n",
                NULL, 0), 0, "a file with every key loads");
    is_str(cfg.file, conf_path, "file is remembered");
    is_str(cfg.zone, "/var/lib/pathstats/zone", "zone");
    is_str(cfg.redis, "redis://127.0.0.1:6380/2", "redis URL");
    is_str(cfg.redis_host, "127.0.0.1", "redis host");
    is_int(cfg.redis_port, 6380, "redis port");
    is_int(cfg.redis_db, 2, "redis db");
    /* a conninfo libpq parses: its own \\ inside '...' is a backslash */
    is_str(cfg.postgres, "host=127.0.0.1 port=5433 dbname=x "
           "password='a#b \"c\\\\'", "quoted conninfo keeps spaces, # and "
           "unescapes \\\" and \\\\");
    is_str(cfg.node_id, "web-01.example", "node_id");
    is_u64(cfg.flush_interval_ms, 250, "flush_interval 250ms");
    is_u64(cfg.snapshot_interval_ms, 20, "a bare number of ms");
    is_int(cfg.log_level, PS_LOG_DEBUG, "log_level debug");
    is_str(cfg.log_file, "/var/log/ps.log", "log_file");
    is_u64(cfg.redis_ttl_ms, 7ULL * 86400 * 1000, "redis_ttl 7d");
    is_str(cfg.spool_dir, "/var/spool/path stats", "quoted spool_dir");
    is_u64(cfg.spool_max_bytes, 512ULL << 20, "spool_max 512MB");
    is_u64(cfg.max_keys_per_hour, 5000, "max_keys_per_hour");
    is_int(cfg.client_address, PS_CLIENT_HASHED, "client_address hashed");
    is_u64(cfg.top_n, 25, "top_n, CRLF line end");
    is_int(error_lines(), 0, "nothing logged");
    ps_config_free(&cfg);
    ok(cfg.zone == NULL && cfg.node_id == NULL, "free zeroes the struct");
}


static void
test_overrides(void)
{
    ps_config_t                  cfg;
    static const ps_config_override_t  ov[] = {
        { "flush-interval", "2s" },
        { "zone", "/tmp/other-zone" },
        { "redis", "" },
        { "log-level", "warn" },
        { "node-id", "n1" },
        { "zone", "/tmp/last-wins" },
    };

    is_int(load(&cfg, "zone = /a\nredis = redis://r\nflush_interval = 5s\n",
                ov, sizeof(ov) / sizeof(ov[0])), 0, "overrides apply");
    is_u64(cfg.flush_interval_ms, 2000, "--flush-interval beats the file");
    is_str(cfg.zone, "/tmp/last-wins", "the last --zone wins");
    ok(cfg.redis == NULL && cfg.redis_host == NULL,
       "--redis '' turns Redis off");
    is_int(cfg.log_level, PS_LOG_WARN, "--log-level warn");
    is_str(cfg.node_id, "n1", "--node-id");
    ps_config_free(&cfg);

    ps_config_override_t  bad[] = { { "flush-interval", "soon" } };
    is_int(load(&cfg, "zone = /a\n", bad, 1), -1, "a bad flag fails");
    ok(logged("option=--flush-interval", "key=flush_interval",
              "value=\"soon\""), "the error names the option and value");
}


static void
test_lifecycle(void)
{
    ps_config_t  cfg;

    is_int(load(&cfg,
                "hourly_retention = 7\n"
                "daily_retention = 0\n"
                "archive_dir = /var/lib/pathstats/archive\n"
                "lifecycle = off\n"
                "lifecycle_at = 23:59\n"
                "lifecycle_grace = 0\n"
                "lifecycle_stale = 0\n"
                "archive_min_free = 0\n", NULL, 0), 0,
           "the lifecycle keys load");
    is_u64(cfg.hourly_retention_ms, 7ULL * 86400000,
           "hourly_retention: a bare number counts days");
    is_u64(cfg.daily_retention_ms, 0, "daily_retention 0 (forever)");
    is_str(cfg.archive_dir, "/var/lib/pathstats/archive", "archive_dir");
    is_int(cfg.lifecycle, 0, "lifecycle off");
    is_u64(cfg.lifecycle_at_ms, (23 * 60 + 59) * 60000ULL,
           "lifecycle_at 23:59");
    is_u64(cfg.lifecycle_grace_ms, 0, "lifecycle_grace 0");
    is_u64(cfg.lifecycle_stale_ms, 0, "lifecycle_stale 0 (not checked)");
    is_u64(cfg.archive_min_free_bytes, 0, "archive_min_free 0");
    ps_config_free(&cfg);

    is_int(load(&cfg, "lifecycle_at = 00:00\ndaily_retention = 36600d\n",
                NULL, 0), 0, "lifecycle_at 00:00, daily_retention 36600d");
    is_u64(cfg.lifecycle_at_ms, 0, "  midnight is 0");
    ps_config_free(&cfg);
}


static void
test_redis_urls(void)
{
    ps_config_t   cfg;
    ps_config_override_t  ov[1] = { { "redis", NULL } };
    static const char  *bad[] = {
        "http://127.0.0.1:6379", "redis://", "redis://:6379", "redis://h:0",
        "redis://h:65536", "redis://h:12x", "redis://h:1/x",
        "redis://user@h:1", "redis://h:1/2?x=1", "redis://[::1",
        "redis://[]:1", "redis://[zz]:1", "redis://h h",
    };
    size_t  i;

    ov[0].value = "redis://cache.internal";
    is_int(load(&cfg, NULL, ov, 1), 0, "host alone");
    ok(cfg.redis_host && strcmp(cfg.redis_host, "cache.internal") == 0
       && cfg.redis_port == 6379 && cfg.redis_db == 0,
       "port 6379 and db 0 by default");
    ps_config_free(&cfg);

    ov[0].value = "redis://[::1]:7000/15";
    is_int(load(&cfg, NULL, ov, 1), 0, "IPv6 in brackets");
    ok(cfg.redis_host && strcmp(cfg.redis_host, "::1") == 0
       && cfg.redis_port == 7000 && cfg.redis_db == 15,
       "host ::1, port 7000, db 15");
    ps_config_free(&cfg);

    ov[0].value = "redis://127.0.0.1:6379/";
    is_int(load(&cfg, NULL, ov, 1), 0, "a trailing slash means db 0");
    ps_config_free(&cfg);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ov[0].value = bad[i];
        is_int(load(&cfg, NULL, ov, 1), -1, "redis %s is refused", bad[i]);
    }
}


static void
test_redis_cluster_urls(void)
{
    ps_config_t   cfg;
    ps_config_override_t  ov[1] = { { "redis", NULL } };
    static const char  *bad[] = {
        "redis-cluster://", "redis-cluster://h:1,", "redis-cluster://,h:1",
        "redis-cluster://h:1/2", "redis-cluster://h:1;h:2",
        "redis-cluster://h:0", "redis-cluster://h:1,h:70000",
        "redis-cluster://h:1,,h:2",
    };
    size_t  i;

    ov[0].value = "redis-cluster://10.0.0.1:7000,cache-2:7001,[::1]:7002";
    is_int(load(&cfg, NULL, ov, 1), 0, "three cluster nodes");
    ok(cfg.redis_cluster == 1 && cfg.redis_nseeds == 3, "a cluster of 3 seeds");
    ok(cfg.redis_nseeds == 3
       && strcmp(cfg.redis_seed_hosts[0], "10.0.0.1") == 0
       && cfg.redis_seed_ports[0] == 7000
       && strcmp(cfg.redis_seed_hosts[1], "cache-2") == 0
       && cfg.redis_seed_ports[1] == 7001
       && strcmp(cfg.redis_seed_hosts[2], "::1") == 0
       && cfg.redis_seed_ports[2] == 7002, "each host and port");
    ok(cfg.redis_host && strcmp(cfg.redis_host, "10.0.0.1") == 0
       && cfg.redis_port == 7000, "redis_host/port: the first node");
    ps_config_free(&cfg);

    ov[0].value = "redis-cluster://one";
    is_int(load(&cfg, NULL, ov, 1), 0, "one node, default port");
    ok(cfg.redis_cluster == 1 && cfg.redis_nseeds == 1
       && cfg.redis_seed_ports[0] == 6379, "port 6379");
    ps_config_free(&cfg);

    ov[0].value = "redis://h:1";
    is_int(load(&cfg, NULL, ov, 1), 0, "standalone");
    ok(cfg.redis_cluster == 0 && cfg.redis_nseeds == 1, "not a cluster");
    ps_config_free(&cfg);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ov[0].value = bad[i];
        is_int(load(&cfg, NULL, ov, 1), -1, "redis %s is refused", bad[i]);
    }
}


static void
test_fleet_keys(void)
{
    ps_config_t  cfg;

    is_int(load(&cfg, "zone = /z\n", NULL, 0), 0, "fleet defaults");
    ok(cfg.fleet_interval_ms == 2000 && cfg.node_stale_ms == 30000
       && cfg.node_gone_ms == 3600000 && cfg.fleet_rows == 5000
       && cfg.fleet_node_rows == 200,
       "fleet_interval 2s, node_stale 30s, node_gone 1h, fleet_rows "
       "5000, fleet_node_rows 200");
    ps_config_free(&cfg);

    is_int(load(&cfg, "zone = /z\nnode_stale = 2s\nnode_gone = 1s\n", NULL,
                0), -1, "node_gone shorter than node_stale is refused");
    ok(logged("key=node_gone", "must be longer than node_stale", NULL),
       "and the error says why");
}


static void
test_parsers(void)
{
    uint64_t  v;

    ok(ps_parse_duration_ms("1500", 1, &v) == NULL && v == 1500,
       "bare duration in the given unit (ms)");
    ok(ps_parse_duration_ms("60", 1000, &v) == NULL && v == 60000,
       "bare duration in the given unit (s)");
    ok(ps_parse_duration_ms("250ms", 1000, &v) == NULL && v == 250, "250ms");
    ok(ps_parse_duration_ms("3s", 1, &v) == NULL && v == 3000, "3s");
    ok(ps_parse_duration_ms("5m", 1, &v) == NULL && v == 300000, "5m");
    ok(ps_parse_duration_ms("2h", 1, &v) == NULL && v == 7200000, "2h");
    ok(ps_parse_duration_ms("1d", 1, &v) == NULL && v == 86400000, "1d");
    ok(ps_parse_duration_ms("", 1, &v) != NULL, "empty duration refused");
    ok(ps_parse_duration_ms("1.5s", 1, &v) != NULL, "1.5s refused");
    ok(ps_parse_duration_ms("-1s", 1, &v) != NULL, "-1s refused");
    ok(ps_parse_duration_ms("1w", 1, &v) != NULL, "unknown unit refused");
    ok(ps_parse_duration_ms("1 s", 1, &v) != NULL, "inner space refused");
    ok(ps_parse_duration_ms("99999999999999999999", 1, &v) != NULL,
       "overflowing number refused");
    ok(ps_parse_duration_ms("999999999999999999d", 1, &v) != NULL,
       "overflowing product refused");

    ok(ps_parse_size("4096", &v) == NULL && v == 4096, "bare size in bytes");
    ok(ps_parse_size("64k", &v) == NULL && v == 65536, "64k");
    ok(ps_parse_size("64K", &v) == NULL && v == 65536, "64K");
    ok(ps_parse_size("3m", &v) == NULL && v == 3ULL << 20, "3m");
    ok(ps_parse_size("1g", &v) == NULL && v == 1ULL << 30, "1g");
    ok(ps_parse_size("1GB", &v) == NULL && v == 1ULL << 30, "1GB");
    ok(ps_parse_size("2t", &v) == NULL && v == 2ULL << 40, "2t");
    ok(ps_parse_size("1b", &v) != NULL, "a bare b is refused");
    ok(ps_parse_size("1kk", &v) != NULL, "1kk refused");
    ok(ps_parse_size("k", &v) != NULL, "no number refused");
    ok(ps_parse_size("99999999999t", &v) != NULL, "overflow refused");
}


/* each bad file: the error names the file, the line and the key */
static void
test_errors(void)
{
    size_t       i;
    ps_config_t  cfg;
    char         want_file[128];
    static const struct {
        const char  *text;
        const char  *line;
        const char  *key;
        const char  *why;
    } bad[] = {
        { "zone = /z\nbogus = 1\n", "line=2", "key=bogus", "unknown key" },
        { "flush_interval = 0ms\n", "line=1", "key=flush_interval",
          "out of range" },
        { "\n\nflush_interval = fast\n", "line=3", "key=flush_interval",
          "expected a duration" },
        { "redis_ttl = 10x\n", "line=1", "key=redis_ttl", "unit" },
        { "spool_max = 10\n", "line=1", "key=spool_max", "too small" },
        { "top_n = 0\n", "line=1", "key=top_n", "out of range (1 to 10000)" },
        { "top_n = 12abc\n", "line=1", "key=top_n", "whole number" },
        { "max_keys_per_hour = -5\n", "line=1", "key=max_keys_per_hour",
          "expected a number" },
        { "client_address = partial\n", "line=1", "key=client_address",
          "full truncated hashed off" },
        { "log_level = verbose\n", "line=1", "key=log_level",
          "debug, info, warn or error" },
        { "node_id = \"web 01\"\n", "line=1", "key=node_id", "1 to 64" },
        { "node_id = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaa\n", "line=1", "key=node_id", "1 to 64" },
        { "zone = /a\nzone = /b\n", "line=2", "key=zone",
          "already set on line 1" },
        { "zone /a\n", "line=1", "key=zone", "expected '='" },
        { "= /a\n", "line=1", "key=-", "expected key = value" },
        { "Zone = /a\n", "line=1", "key=-", "expected key = value" },
        { "zone =\n", "line=1", "key=zone", "missing value" },
        { "zone = \"\"\n", "line=1", "key=zone", "must not be empty" },
        { "postgres = \"host=x\n", "line=1", "key=postgres",
          "missing closing quote" },
        { "postgres = \"host=x\" junk\n", "line=1", "key=postgres",
          "after the closing quote" },
        { "postgres = \"a\\nb\"\n", "line=1", "key=postgres", "backslash" },
        { "redis = localhost:6379\n", "line=1", "key=redis",
          "expected redis://" },
        { "hourly_retention = 1d\n", "line=1", "key=hourly_retention",
          "out of range (2d to 3660d)" },
        { "hourly_retention = 0\n", "line=1", "key=hourly_retention",
          "out of range" },
        { "daily_retention = 12h\n", "line=1", "key=daily_retention",
          "0 for forever, or 1d to 36600d" },
        { "daily_retention = 36601d\n", "line=1", "key=daily_retention",
          "out of range" },
        { "daily_retention = long\n", "line=1", "key=daily_retention",
          "expected a duration" },
        { "lifecycle = maybe\n", "line=1", "key=lifecycle", "off on" },
        { "lifecycle_at = 24:00\n", "line=1", "key=lifecycle_at",
          "HH:MM" },
        { "lifecycle_at = 3:30\n", "line=1", "key=lifecycle_at", "HH:MM" },
        { "lifecycle_at = 03:60\n", "line=1", "key=lifecycle_at",
          "00:00 to 23:59" },
        { "lifecycle_grace = 8d\n", "line=1", "key=lifecycle_grace",
          "out of range" },
        { "lifecycle_stale = 30m\n", "line=1", "key=lifecycle_stale",
          "0 for forever, or 1h to 366d" },
        { "archive_min_free = 5x\n", "line=1", "key=archive_min_free",
          "unit" },
    };

    snprintf(want_file, sizeof(want_file), "file=\"%s\"", conf_path);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&cfg, 0xff, sizeof(cfg));
        is_int(load(&cfg, bad[i].text, NULL, 0), -1, "refused: %s",
               bad[i].why);
        ok(logged(want_file, bad[i].line, bad[i].key)
           && logged(bad[i].line, bad[i].why, NULL),
           "  error names the file, %s, %s and says '%s'", bad[i].line,
           bad[i].key, bad[i].why);
        ok(cfg.zone == NULL && cfg.node_id == NULL, "  config left empty");
    }

    /* every bad line is reported, not only the first */
    is_int(load(&cfg, "top_n = x\nzone = /z\nfoo = 1\ntop_n = 5\n", NULL, 0),
           -1, "a file with three errors fails");
    is_int(error_lines(), 3, "all three are reported");
    ok(logged("line=1", "key=top_n", NULL)
       && logged("line=3", "key=foo", NULL)
       && logged("line=4", "key=top_n", "already set on line 1"),
       "each on its own line");

    is_int(ps_config_load(&cfg, "/nonexistent/ps.conf", NULL, 0), -1,
           "a missing file fails");
}


/* the keys of alerts, notifications and logs */
static void
test_monitoring(void)
{
    ps_config_t  cfg;

    is_int(load(&cfg, "zone = /z\n", NULL, 0), 0, "monitoring defaults");
    ok(cfg.alert_webhook_count == 0 && cfg.alert_webhooks == NULL,
       "  no webhook");
    is_int(cfg.alert_webhook_format, PS_WEBHOOK_JSON, "  format json");
    is_u64(cfg.alert_webhook_timeout_ms, 5000, "  timeout 5s");
    is_u64(cfg.alert_webhook_retries, 3, "  3 retries");
    is_u64(cfg.alert_webhook_backoff_ms, 1000, "  backoff 1s");
    is_u64(cfg.alert_max_paths, 10, "  alert_max_paths 10");
    ok(cfg.alert_cooldown_warning_ms == 300000
       && cfg.alert_cooldown_critical_ms == 300000,
       "  both cooldowns are alert_cooldown's 5m");
    is_int(cfg.log_format, PS_LOG_FORMAT_TEXT, "  log_format text");
    ps_config_free(&cfg);

    is_int(load(&cfg, "alert_webhook = https://hooks.example/T1/secret\n"
                      "alert_webhook = http://127.0.0.1:9000/a?b=c\n"
                      "alert_webhook_format = slack\n"
                      "alert_cooldown = 1m\n"
                      "alert_cooldown_critical = 10m\n"
                      "alert_max_paths = 3\n"
                      "log_format = json\n", NULL, 0), 0,
           "two webhooks and the rest");
    ok(cfg.alert_webhook_count == 2
       && strcmp(cfg.alert_webhooks[0], "https://hooks.example/T1/secret")
          == 0
       && strcmp(cfg.alert_webhooks[1], "http://127.0.0.1:9000/a?b=c") == 0,
       "  alert_webhook repeats, in order");
    is_int(cfg.alert_webhook_format, PS_WEBHOOK_SLACK, "  format slack");
    ok(cfg.alert_cooldown_warning_ms == 60000
       && cfg.alert_cooldown_critical_ms == 600000,
       "  warning takes alert_cooldown (1m), critical its own (10m)");
    is_u64(cfg.alert_max_paths, 3, "  alert_max_paths 3");
    is_int(cfg.log_format, PS_LOG_FORMAT_JSON, "  log_format json");
    ps_config_free(&cfg);

    is_int(load(&cfg, "alert_webhook = ftp://x/very-secret-token\n", NULL,
                0), -1, "an ftp:// webhook is refused");
    ok(logged("line=1", "key=alert_webhook", "http:// or https://"),
       "  naming the line and key");
    ok(strstr(log_text, "very-secret-token") == NULL,
       "  never showing the URL (it may hold a token)");
    is_int(load(&cfg, "alert_webhook = https:///x\n", NULL, 0), -1,
           "a webhook without a host is refused");
    is_int(load(&cfg, "alert_webhook_format = xml\n", NULL, 0), -1,
           "alert_webhook_format xml is refused");
    ok(logged("key=alert_webhook_format", "json slack", NULL),
       "  listing json and slack");
    is_int(load(&cfg, "log_format = yaml\n", NULL, 0), -1,
           "log_format yaml is refused");
    is_int(load(&cfg, "alert_max_paths = 0\n", NULL, 0), -1,
           "alert_max_paths 0 is refused");
}


/* A malformed PostgreSQL conninfo is refused when the configuration is
 * loaded, from the file or --postgres, with a message that holds no part
 * of the value: libpq's own quotes the password around the error. */
static void
test_conninfo(void)
{
    size_t                i;
    ps_config_t           cfg;
    char                  text[256];
    ps_config_override_t  ov;

    static const struct {
        const char  *conninfo;
        const char  *secret;       /* in no log line */
        const char  *why;
    } bad[] = {
        { "postgresql://ps:hunt%zzer2@127.0.0.1:5432/db", "zzer2",
          "not a connection string libpq can parse" },
        { "host=127.0.0.1 password=hunter 2", "hunter",
          "not a connection string libpq can parse" },
        { "host=127.0.0.1 password='hunter2", "hunter2",
          "not a connection string libpq can parse" },
        { "postgresql://ps:pa@ss@127.0.0.1/db", "ss@",
          "percent-encode '@' in the password as %40" },
    };

    static const char  *good[] = {
        "pathstats",                                  /* a database name */
        "host=127.0.0.1 port=5433 password='hunter 2'",
        "postgresql://ps:hunt%40er2@127.0.0.1:5433/db?sslmode=disable",
        "postgres://127.0.0.1/db",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "postgres = \"%s\"\n",
                 bad[i].conninfo);
        is_int(load(&cfg, text, NULL, 0), -1, "conninfo %zu refused at load",
               i);
        ok(logged("key=postgres", bad[i].why, "not shown"),
           "  naming the key, saying why, not showing the value");
        ok(strstr(log_text, bad[i].secret) == NULL,
           "  '%s' is in no log line", bad[i].secret);

        ov.option = "postgres";
        ov.value = bad[i].conninfo;
        is_int(load(&cfg, NULL, &ov, 1), -1, "  also as --postgres");
        ok(logged("option=--postgres", bad[i].why, NULL)
           && strstr(log_text, bad[i].secret) == NULL,
           "  the same message, no '%s'", bad[i].secret);
    }

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "postgres = \"%s\"\n", good[i]);
        is_int(load(&cfg, text, NULL, 0), 0, "conninfo accepted: %s",
               good[i]);
        is_str(cfg.postgres, good[i], "  unchanged");
        ps_config_free(&cfg);
    }
}


int
main(void)
{
    int  fd;

    fd = mkstemp(conf_path);
    close(fd);
    fd = mkstemp(log_path);
    close(fd);

    if (ps_log_open(log_path) != 0) {
        bail_out("cannot log to %s", log_path);
    }

    test_defaults();
    test_file();
    test_overrides();
    test_lifecycle();
    test_redis_urls();
    test_redis_cluster_urls();
    test_fleet_keys();
    test_parsers();
    test_errors();
    test_conninfo();
    test_monitoring();

    ps_log_open(NULL);
    unlink(conf_path);
    unlink(log_path);

    return done_testing();
}
