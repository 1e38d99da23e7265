/*
 * pathstats-aggregator: argv, signals and the loops of its modes.
 *
 *   (default)  drain the rings, aggregate, flush to the sinks
 *   --tail     print each record as one JSON line (consumes them)
 *   --stats    print the zone's counters as JSON (consumes nothing)
 *   --check    validate the configuration and what it points at
 *   --migrate  apply the PostgreSQL schema migrations
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/clock.h"
#include "config/config.h"
#include "lib/log.h"
#include "store/pg/migrate.h"
#include "pipeline/pipeline.h"
#include "ring/record_json.h"
#include "ring/ring_reader.h"
#include "snapshot/snapshot.h"
#include "store/redis/sink_redis.h"
#include "ring/stats.h"
#include "lib/strbuf.h"
#include "agg/windows.h"
#include "ring/zone.h"

/* exit statuses */
#define EXIT_RUNTIME     1
#define EXIT_CONFIG      2     /* usage or configuration */
#define EXIT_ZONE        3
#define EXIT_POSTGRES    4
#define EXIT_REDIS       5

#define POLL_BATCH       4096  /* records per poll */
#define IDLE_SLEEP_MS    10    /* when the rings are empty */
#define REAP_INTERVAL_US 100000
#define DRAIN_TIMEOUT_US 5000000

typedef enum {
    MODE_DAEMON = 0,
    MODE_CHECK,
    MODE_MIGRATE,
    MODE_STATS,
    MODE_TAIL
} run_mode_t;

static volatile sig_atomic_t  stop_signal;
static volatile sig_atomic_t  reopen_logs;

enum {
    OPT_OVERRIDE = 256,        /* a config key: ps_config_override_t */
    OPT_CHECK,
    OPT_MIGRATE,
    OPT_STATS,
    OPT_TAIL,
    OPT_ONCE
};

/* Options that set a config key carry OPT_OVERRIDE; the key is the name
 * with '-' for '_'.  Adding such a flag is one line here. */
static const struct option  options[] = {
    { "config",         required_argument, NULL, 'c' },
    { "zone",           required_argument, NULL, OPT_OVERRIDE },
    { "redis",          required_argument, NULL, OPT_OVERRIDE },
    { "postgres",       required_argument, NULL, OPT_OVERRIDE },
    { "node-id",        required_argument, NULL, OPT_OVERRIDE },
    { "flush-interval", required_argument, NULL, OPT_OVERRIDE },
    { "log-level",      required_argument, NULL, OPT_OVERRIDE },
    { "log-file",       required_argument, NULL, OPT_OVERRIDE },
    { "check",          no_argument,       NULL, OPT_CHECK },
    { "migrate",        no_argument,       NULL, OPT_MIGRATE },
    { "stats",          no_argument,       NULL, OPT_STATS },
    { "tail",           no_argument,       NULL, OPT_TAIL },
    { "once",           no_argument,       NULL, OPT_ONCE },
    { "help",           no_argument,       NULL, 'h' },
    { "version",        no_argument,       NULL, 'V' },
    { NULL, 0, NULL, 0 }
};

#define MAX_OVERRIDES  64      /* config flags on one command line */


static void
usage(FILE *f)
{
    fprintf(f,
"usage: pathstats-aggregator -c FILE [options]\n"
"       pathstats-aggregator --zone FILE (--stats | --tail [--once])\n"
"\n"
"Drains the pathstats rings of an nginx zone file, aggregates per path\n"
"and publishes to PostgreSQL, Redis and the zone's snapshot area.\n"
"\n"
"modes (default: run as the daemon):\n"
"  --check              validate the configuration and the zone, then exit\n"
"  --migrate            apply the PostgreSQL schema migrations, then exit\n"
"  --stats              print the zone's counters as JSON (reads only)\n"
"  --tail [--once]      print each request as one JSON line, consuming it;\n"
"                       --once exits when the rings are empty\n"
"\n"
"options (override the file's keys):\n"
"  -c, --config FILE    configuration file (optional with --zone)\n"
"  --zone FILE          the zone file of pathstats_zone\n"
"  --redis URL          redis://HOST:PORT[/DB]\n"
"  --postgres CONNINFO  libpq conninfo, key=value or postgresql:// URI\n"
"  --node-id ID         this box's name in shared data (default: hostname)\n"
"  --flush-interval D   e.g. 500ms, 1s (default 1s)\n"
"  --log-level L        debug, info, warn or error (default info)\n"
"  --log-file FILE      default stderr; reopened on SIGHUP\n"
"  -h, --help           this text\n"
"  -V, --version        version and zone layout version\n"
"\n"
"exit status: 0 ok, 1 runtime error, 2 usage or configuration, 3 zone,\n"
"4 PostgreSQL, 5 Redis\n");
}


static void
on_signal(int signo)
{
    if (signo == SIGHUP) {
        reopen_logs = 1;
    } else {
        stop_signal = signo;
    }
}


static int
install_signals(void)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);

    /* no SA_RESTART: a signal cuts the idle sleep short */
    sa.sa_handler = on_signal;

    if (sigaction(SIGTERM, &sa, NULL) == -1
        || sigaction(SIGINT, &sa, NULL) == -1
        || sigaction(SIGHUP, &sa, NULL) == -1)
    {
        ps_log(PS_LOG_ERROR, "event=signal_setup_failed error=\"%s\"",
               strerror(errno));
        return -1;
    }

    /* a closed stdout (--tail | head) must be an error we see, not death
     * before the records printed so far are released */
    sa.sa_handler = SIG_IGN;
    (void) sigaction(SIGPIPE, &sa, NULL);

    return 0;
}


/* Opens the configured zone for a consumer (read-write, locked) and a
 * reader on it; 0, or the exit status. */
static int
open_consumer(const ps_config_t *cfg, ps_zone_t **zone, ps_ring_reader_t **rr)
{
    *zone = ps_zone_open(cfg->zone, 1);

    if (*zone == NULL || ps_zone_lock_consumer(*zone) != 0) {
        ps_zone_close(*zone);
        return EXIT_ZONE;
    }

    *rr = ps_ring_reader_create(*zone);

    if (*rr == NULL) {
        ps_zone_close(*zone);
        return EXIT_RUNTIME;
    }

    return 0;
}


/* Checks the zone, PostgreSQL and Redis, printing one line each; 0, or
 * the exit status of the first that failed. */
static int
run_check(const ps_config_t *cfg)
{
    int         rc, first;
    char        err[1024];
    ps_zone_t  *zone;

    first = 0;

    zone = ps_zone_open(cfg->zone, 1);
    if (zone == NULL) {
        printf("zone %s: FAILED (see the log line above)\n", cfg->zone);
        first = EXIT_ZONE;
    } else {
        printf("zone %s: ok (%u rings of %u records)\n", cfg->zone,
               zone->header->ring_count, zone->header->ring_capacity);
        ps_zone_close(zone);
    }

    if (cfg->postgres) {
        rc = ps_schema_check(cfg, err, sizeof(err));

        if (rc == PS_SCHEMA_OK) {
            printf("postgres: ok (schema version %d)\n", PS_SCHEMA_VERSION);
        } else {
            printf("postgres: FAILED: %s%s\n",
                   rc == PS_SCHEMA_UNREACHABLE ? "cannot connect: " : "", err);
            first = first ? first : EXIT_POSTGRES;
        }
    }

    if (cfg->redis) {
        if (ps_sink_redis_check(cfg, err, sizeof(err)) == 0) {
            printf("redis: ok\n");
        } else {
            printf("redis: FAILED: %s\n", err);
            first = first ? first : EXIT_REDIS;
        }
    }

    if (first == 0) {
        printf("configuration %s: ok\n", cfg->file ? cfg->file : "(flags)");
    }

    fflush(stdout);

    return first;
}


static int
run_migrate(const ps_config_t *cfg)
{
    if (cfg->postgres == NULL) {
        ps_log(PS_LOG_ERROR, "event=migrate_failed error=\"no PostgreSQL "
               "configured: set postgres or pass --postgres\"");
        return EXIT_CONFIG;
    }

    return ps_migrate_run(cfg) == 0 ? 0 : EXIT_POSTGRES;
}


static int
run_stats(const ps_config_t *cfg)
{
    int         rc;
    json_t     *stats;
    ps_zone_t  *zone;

    zone = ps_zone_open(cfg->zone, 0);
    if (zone == NULL) {
        return EXIT_ZONE;
    }

    stats = ps_stats_json(zone, ps_now_us());
    rc = EXIT_RUNTIME;

    if (stats && json_dumpf(stats, stdout, JSON_INDENT(2)) == 0
        && fputc('\n', stdout) != EOF && fflush(stdout) == 0)
    {
        rc = 0;
    }

    json_decref(stats);
    ps_zone_close(zone);

    return rc;
}


/* --tail: the lines of one batch */
typedef struct {
    ps_buf_t  out;
    int       failed;         /* out of memory: print and release nothing */
} tail_batch_t;


static void
tail_record(void *ctx, uint32_t ring, uint64_t pos, const ps_record_t *rec)
{
    tail_batch_t  *batch = ctx;

    if (ps_record_json(&batch->out, ring, pos, rec) != 0
        || ps_buf_putc(&batch->out, '\n') != 0)
    {
        batch->failed = 1;
    }
}


static int
run_tail(const ps_config_t *cfg, int once)
{
    int                rc;
    size_t             n;
    uint64_t           next_reap;
    ps_zone_t         *zone;
    tail_batch_t       batch = { PS_BUF_INIT, 0 };
    ps_ring_reader_t  *rr;

    rc = open_consumer(cfg, &zone, &rr);
    if (rc != 0) {
        return rc;
    }

    next_reap = 0;

    while (stop_signal == 0) {
        n = ps_ring_reader_poll(rr, POLL_BATCH, tail_record, &batch);

        if (batch.failed) {
            rc = EXIT_RUNTIME;
            break;
        }

        if (n) {
            /* printed, then released: an interrupted write re-reads */
            if (fwrite(batch.out.data, 1, batch.out.len, stdout)
                != batch.out.len || fflush(stdout) != 0)
            {
                ps_log(PS_LOG_ERROR, "event=tail_write_failed error=\"%s\"",
                       strerror(errno));
                rc = EXIT_RUNTIME;
                break;
            }

            ps_buf_reset(&batch.out);
            ps_ring_reader_release_all(rr);
        }

        if (ps_mono_us() >= next_reap || (n == 0 && once)) {
            (void) ps_ring_reader_reap(rr);
            next_reap = ps_mono_us() + REAP_INTERVAL_US;
        }

        if (n == 0) {
            if (once) {
                break;
            }
            ps_sleep_ms(IDLE_SLEEP_MS);
        }
    }

    ps_buf_free(&batch.out);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);

    return rc;
}


/* Publishes a snapshot of the windows with the sinks' status. */
static void
publish_snapshot(ps_snapshot_t *snap, ps_zone_t *zone, ps_pipeline_t *pipe)
{
    ps_sink_status_t  st[8];
    unsigned          i, n;

    n = ps_pipeline_sink_count(pipe);
    n = (n < 8) ? n : 8;

    for (i = 0; i < n; i++) {
        ps_pipeline_sink_status(pipe, i, &st[i]);
    }

    (void) ps_snapshot_publish(snap, zone, st, n, ps_pipeline_records(pipe),
                               ps_now_us());
}


static int
run_daemon(const ps_config_t *cfg)
{
    int                rc;
    size_t             n;
    uint64_t           now, next_reap, next_snapshot, took, deadline;
    ps_windows_t      *win;
    ps_snapshot_t     *snap;
    ps_trends_t       *trends;
    char               qzone[512], err[1024], qerr[1100];
    ps_zone_t         *zone;
    ps_pipeline_t     *pipe;
    ps_ring_reader_t  *rr;

    if (cfg->postgres) {
        /* a schema this build cannot write is fatal; an unreachable
         * server is not: the pipeline waits for it */
        rc = ps_schema_check(cfg, err, sizeof(err));

        if (rc == PS_SCHEMA_MISMATCH) {
            ps_log(PS_LOG_ERROR, "event=schema_refused error=%s",
                   ps_log_quote(qerr, sizeof(qerr), err));
            return EXIT_POSTGRES;
        }

        if (rc == PS_SCHEMA_UNREACHABLE) {
            ps_log(PS_LOG_WARN, "event=sink_down sink=postgres error=%s",
                   ps_log_quote(qerr, sizeof(qerr), err));
        }
    }

    rc = open_consumer(cfg, &zone, &rr);
    if (rc != 0) {
        return rc;
    }

    ps_zone_set_aggregator(zone, ps_now_us());

    ps_log(PS_LOG_INFO, "event=start version=%s pid=%d zone=%s "
           "node_id=%s rings=%u flush_interval_ms=%lu redis=%s postgres=%s",
           PATHSTATS_VERSION, (int) getpid(),
           ps_log_quote(qzone, sizeof(qzone), cfg->zone), cfg->node_id,
           zone->header->ring_count, (unsigned long) cfg->flush_interval_ms,
           cfg->redis ? "on" : "off", cfg->postgres ? "on" : "off");

    pipe = ps_pipeline_create(cfg, zone, rr);
    if (pipe == NULL) {
        ps_ring_reader_destroy(rr);
        ps_zone_close(zone);
        return EXIT_RUNTIME;
    }

    /* snapshot: live windows fed by the pipeline (snapshot.c) */
    win = ps_windows_create(cfg->max_keys_per_hour);
    snap = (win != NULL) ? ps_snapshot_create(cfg, win) : NULL;
    if (snap == NULL) {
        ps_windows_destroy(win);
        ps_pipeline_destroy(pipe);
        ps_ring_reader_destroy(rr);
        ps_zone_close(zone);
        return EXIT_RUNTIME;
    }

    if (cfg->postgres) {
        (void) ps_windows_load_pg(win, cfg->postgres, ps_now_us());
    }

    ps_pipeline_set_observer(pipe, ps_windows_observe, win);
    trends = cfg->postgres ? ps_trends_start(cfg->postgres, 60000) : NULL;
    ps_snapshot_use_trends(snap, trends);
    next_snapshot = 0;

    next_reap = 0;

    while (stop_signal == 0) {

        if (reopen_logs) {
            reopen_logs = 0;
            if (ps_log_reopen() == 0) {
                ps_log(PS_LOG_INFO, "event=log_reopened");
            }
        }

        n = ps_pipeline_poll(pipe, POLL_BATCH);
        now = ps_mono_us();

        /* flushes the sinks that are due, releases what they hold; at
         * once when a ring is half full of read records, so that a burst
         * beyond capacity per flush interval is not dropped */
        ps_pipeline_flush(pipe, now, ps_ring_reader_half_full(rr)
                                     ? PS_PIPELINE_FLUSH_EARLY : 0);

        if (now >= next_snapshot) {
            /* a slow snapshot (very many keys) takes at most a fifth of
             * the loop, so that draining keeps up */
            publish_snapshot(snap, zone, pipe);
            took = ps_mono_us() - now;
            next_snapshot = now + (cfg->snapshot_interval_ms * 1000 > 4 * took
                                   ? cfg->snapshot_interval_ms * 1000
                                   : 4 * took);
        }

        if (now >= next_reap) {
            (void) ps_ring_reader_reap(rr);
            next_reap = now + REAP_INTERVAL_US;
        }

        ps_zone_heartbeat(zone, ps_now_us());

        if (n < POLL_BATCH) {
            ps_sleep_ms(IDLE_SLEEP_MS);
        }
    }

    /* drain what the workers published before the signal, then flush */

    deadline = ps_mono_us() + DRAIN_TIMEOUT_US;

    while (ps_pipeline_poll(pipe, POLL_BATCH) > 0
           && ps_mono_us() < deadline)
    {
        /* void */
    }

    ps_pipeline_flush(pipe, ps_mono_us(), 1);

    publish_snapshot(snap, zone, pipe);

    (void) ps_ring_reader_reap(rr);

    ps_log(PS_LOG_INFO, "event=stop signal=%d records=%llu",
           (int) stop_signal,
           (unsigned long long) ps_pipeline_records(pipe));

    ps_trends_stop(trends);
    ps_snapshot_destroy(snap);
    ps_windows_destroy(win);
    ps_pipeline_destroy(pipe);
    ps_ring_reader_destroy(rr);
    ps_zone_close(zone);

    return 0;
}


int
main(int argc, char **argv)
{
    int                   c, idx, rc, once;
    size_t                noverrides;
    const char           *config_path;
    run_mode_t            mode;
    ps_config_t           cfg;
    ps_config_override_t  overrides[MAX_OVERRIDES];
    int                   have_zone, have_postgres;

    mode = MODE_DAEMON;
    once = 0;
    config_path = NULL;
    noverrides = 0;
    have_zone = 0;
    have_postgres = 0;

    while ((c = getopt_long(argc, argv, "c:hV", options, &idx)) != -1) {
        switch (c) {

        case 'c':
            config_path = optarg;
            break;

        case OPT_OVERRIDE:
            if (noverrides == MAX_OVERRIDES) {
                fprintf(stderr, "pathstats-aggregator: too many options\n");
                return EXIT_CONFIG;
            }
            overrides[noverrides].option = options[idx].name;
            overrides[noverrides].value = optarg;
            noverrides++;
            have_zone |= strcmp(options[idx].name, "zone") == 0;
            have_postgres |= strcmp(options[idx].name, "postgres") == 0;
            break;

        case OPT_CHECK:
        case OPT_MIGRATE:
        case OPT_STATS:
        case OPT_TAIL:
            if (mode != MODE_DAEMON) {
                fprintf(stderr, "pathstats-aggregator: --check, --migrate, "
                        "--stats and --tail exclude each other\n");
                return EXIT_CONFIG;
            }
            mode = (c == OPT_CHECK) ? MODE_CHECK
                 : (c == OPT_MIGRATE) ? MODE_MIGRATE
                 : (c == OPT_STATS) ? MODE_STATS : MODE_TAIL;
            break;

        case OPT_ONCE:
            once = 1;
            break;

        case 'h':
            usage(stdout);
            return 0;

        case 'V':
            printf("pathstats-aggregator %s (layout %d)\n", PATHSTATS_VERSION,
                   PS_LAYOUT_VERSION);
            return 0;

        default:
            usage(stderr);
            return EXIT_CONFIG;
        }
    }

    if (optind < argc) {
        fprintf(stderr, "pathstats-aggregator: unexpected argument \"%s\"\n",
                argv[optind]);
        return EXIT_CONFIG;
    }

    if (once && mode != MODE_TAIL) {
        fprintf(stderr, "pathstats-aggregator: --once goes with --tail\n");
        return EXIT_CONFIG;
    }

    if (config_path == NULL && !have_zone
        && !(mode == MODE_MIGRATE && have_postgres))
    {
        fprintf(stderr, "pathstats-aggregator: pass -c FILE or --zone FILE "
                "(see --help)\n");
        return EXIT_CONFIG;
    }

    if (ps_config_load(&cfg, config_path, overrides, noverrides) != 0) {
        return EXIT_CONFIG;
    }

    ps_log_set_level(cfg.log_level);

    if (mode != MODE_MIGRATE && cfg.zone == NULL) {
        ps_log(PS_LOG_ERROR, "event=config_invalid key=zone error=\"no zone "
               "file: set zone in the configuration or pass --zone\"");
        ps_config_free(&cfg);
        return EXIT_CONFIG;
    }

    /* the one-shot modes report to the terminal; the daemon to log_file */
    if (mode == MODE_DAEMON && ps_log_open(cfg.log_file) != 0) {
        ps_config_free(&cfg);
        return EXIT_CONFIG;
    }

    if (install_signals() != 0) {
        ps_config_free(&cfg);
        return EXIT_RUNTIME;
    }

    switch (mode) {
    case MODE_CHECK:
        rc = run_check(&cfg);
        break;
    case MODE_MIGRATE:
        rc = run_migrate(&cfg);
        break;
    case MODE_STATS:
        rc = run_stats(&cfg);
        break;
    case MODE_TAIL:
        rc = run_tail(&cfg, once);
        break;
    default:
        rc = run_daemon(&cfg);
        break;
    }

    (void) ps_log_open(NULL);
    ps_config_free(&cfg);

    return rc;
}
